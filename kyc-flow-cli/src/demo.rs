//! `kyc-flow demo`: the whole product on embedded defaults, with a WhatsApp simulator page.
//!
//! Nothing is mocked inside the engine's path. The simulator page plays the user's phone: what
//! the user types or photographs becomes a Cloud API webhook body, signed with the demo's app
//! secret and POSTed over HTTP to the same webhook endpoint `serve` exposes. The engine answers
//! through the Graph API client, which talks to a local fake Graph API; the page shows what the
//! fake received. Registries are the local registry service with its fixtures, over the signed
//! protocol; vision is the local engines; the 1:N face index is the in-memory one.

use anyhow::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use kyc_flow::engine::{Engine, EngineBuilder, Ports, Routing};
use kyc_flow::memory::{
    MemoryDeduplicator, MemoryEvidenceStore, MemoryJobQueue, MemorySessionStore, MemoryTimerStore,
};
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::session::State as SessionState;
use kyc_flow_core::{SessionKey, TenantId, UserRef};
use kyc_flow_testkit::engines::Samples;
use kyc_flow_testkit::sim::RecordingDecisionSink;
use kyc_flow_testkit::simulate::SampleSource as _;
use kyc_flow_whatsapp::fake::{self, FakeGraph, FakeUser};
use kyc_flow_whatsapp::{GraphClient, GraphConfig, WebhookConfig, webhook_router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const APP_SECRET: &str = "demo-app-secret";
const TENANT: &str = "demo";
/// Worker loops of the demo.
const DEMO_WORKERS: usize = 2;

/// Business phone number ids of the demo, one per country flow.
const NUMBERS: [(&str, &str, &str); 3] = [
    ("mx", "100000000000052", "mx-ine"),
    ("co", "100000000000057", "co-cedula"),
    ("pe", "100000000000051", "pe-dni"),
];

/// Run the demo on `host:port` (`host` is 127.0.0.1 unless the user asks otherwise) until
/// Ctrl-C or SIGTERM.
pub fn run(host: std::net::IpAddr, port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve_demo(host, port))
}

struct Demo {
    graph: FakeGraph,
    engine: Engine,
    http: reqwest::Client,
    webhook_url: String,
    next_id: AtomicU64,
    samples: Option<Samples>,
}

async fn serve_demo(host: std::net::IpAddr, port: u16) -> anyhow::Result<()> {
    let graph = FakeGraph::start().await;
    let vision = kyc_flow::local_engines::local_vision()
        .context("the local vision engines need their models: run `scripts/setup.sh` first")?;
    let samples = Samples::new(vision.assets.clone());
    let extra = samples.demo_fixtures();
    tracing::info!(
        identities = extra.len(),
        "demo registry fixtures for the SPECIMEN cards"
    );
    let registry = kyc_flow_testkit::engines::start_local_registry(extra).await?;

    let metrics = crate::metrics::install()?;
    let queue = Arc::new(MemoryJobQueue::new(100_000));
    let dedup = Arc::new(MemoryDeduplicator::new());
    let client = Arc::new(GraphClient::new(GraphConfig {
        base_url: graph.base_url(),
        access_token: fake::FAKE_TOKEN.to_owned(),
        ..GraphConfig::default()
    })?);
    let sessions = Arc::new(MemorySessionStore::new());
    let analyses = Arc::new(MemoryJobQueue::new(100_000));
    let ports = Ports::builder()
        .sessions(sessions.clone())
        .evidence(Arc::new(MemoryEvidenceStore::new()))
        .queue(queue.clone())
        // Analyses (seconds of CPU each with the local engines) in a lane of their own, so the
        // simulator's text replies never wait behind a photo.
        .analyses_lane(analyses.clone())
        .timers(Arc::new(MemoryTimerStore::new()))
        .leases(Arc::new(kyc_flow::memory::MemoryLeaseStore::new()))
        .reviews(Arc::new(kyc_flow::memory::MemoryReviewQueue::new()))
        .transport(client.clone())
        .media(client)
        .documents(vision.documents.clone())
        .faces(vision.faces.clone())
        .liveness(vision.liveness.clone())
        .video(vision.video.clone())
        .registry(registry.client.clone())
        .decisions(Arc::new(RecordingDecisionSink::default()))
        // The 1:N repeat check in memory: a second onboarding with the same selfie under
        // another card carries `face_seen_under_other_identity` (and `image_resubmitted`).
        .repeats(
            Arc::new(kyc_flow_core::face_index::InMemoryFaceIndex::default()),
            vision.repeat_features.clone(),
        )
        .build()?;
    let routing = Routing {
        tenant: TENANT.to_owned(),
        default_flow: "mx-ine".to_owned(),
        per_number: NUMBERS
            .iter()
            .map(|(_, number, flow)| ((*number).to_owned(), (*flow).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    };
    // One process, sessions in memory: a random secret per run is enough (nothing outlives it).
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let engine = EngineBuilder::new(ports, FlowSet::presets(), routing)
        .config(kyc_flow::EngineConfig {
            session_id_secret: Some(kyc_flow_core::SessionIdSecret::new(&secret)?),
            ..kyc_flow::EngineConfig::default()
        })
        .build()?;

    if !host.is_loopback() {
        tracing::warn!(%host, "the demo listens beyond loopback: anyone who reaches it sees every simulated conversation");
    }
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    let demo = Arc::new(Demo {
        graph,
        engine: engine.clone(),
        http: reqwest::Client::new(),
        webhook_url: format!("http://{addr}{}", kyc_flow_whatsapp::WEBHOOK_PATH),
        next_id: AtomicU64::new(1),
        samples: Some(samples),
    });
    let webhook = webhook_router(
        WebhookConfig {
            verify_token: "demo-verify-token".to_owned(),
            app_secret: APP_SECRET.to_owned(),
            tenant: TENANT.to_owned(),
            ..WebhookConfig::default()
        },
        queue.clone(),
        dedup,
    )
    .layer(axum::middleware::from_fn(crate::metrics::count_webhooks));
    // The review page and API: anonymous on loopback (the demo's default), otherwise behind a
    // token generated for this run and printed below.
    let review_token = if host.is_loopback() {
        None
    } else {
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    };
    let review_auth = crate::review::ReviewAuth::new(
        review_token
            .iter()
            .map(|t| ("demo-reviewer".to_owned(), t.clone())),
        review_token.is_none(),
    );
    let app = Router::new()
        .route("/", get(page))
        .route("/sim/api/send", post(send))
        .route("/sim/api/messages", get(messages))
        .route("/sim/api/session", get(session))
        .with_state(demo)
        .merge(webhook)
        .merge(crate::metrics::router(
            metrics,
            vec![
                crate::metrics::QueueGauge::Memory {
                    queue,
                    stream: "memory".into(),
                },
                crate::metrics::QueueGauge::Memory {
                    queue: analyses,
                    stream: "memory:lane:analyses".into(),
                },
            ],
        ))
        .merge(kyc_flow_registry::callback_router(
            registry.callback_keys.clone(),
            Arc::new(engine.clone()),
        ))
        .merge(crate::http::probes(Arc::new(readiness(&engine))))
        .merge(crate::review::router(engine.clone(), review_auth))
        // The review token of the run when the demo listens beyond loopback; none on loopback.
        .merge(crate::report::router(crate::report::Dashboard {
            sessions: crate::report::memory_source(sessions),
            flows: FlowSet::presets(),
            prices: kyc_flow_core::funnel::PriceTable::meta_2026_10(),
            token: review_token.clone(),
        }));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for i in 0..DEMO_WORKERS {
        let e = engine.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { e.run_worker(format!("demo-worker-{i}"), rx).await });
        let e = engine.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            e.run_lane_worker(kyc_flow::Lane::Analyses, format!("demo-analyses-{i}"), rx)
                .await
        });
    }
    {
        let e = engine.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { e.run_timers(rx).await });
    }
    eprintln!("kyc-flow demo: WhatsApp simulator at http://{addr}/  (Ctrl-C to stop)");
    match &review_token {
        None => {
            eprintln!("kyc-flow demo: manual review at http://{addr}/review (loopback: no token)")
        }
        Some(t) => eprintln!(
            "kyc-flow demo: manual review at http://{addr}/review with the token {t} (this run only)"
        ),
    }
    println!("http://{addr}/");
    let limits = crate::http::HttpLimits::default();
    crate::http::serve(listener, app, &limits, async move {
        crate::http::shutdown_signal().await;
        let _ = stop_tx.send(true);
    })
    .await?;
    drop(registry);
    Ok(())
}

/// The demo's `/readyz`: its in-memory store through the adapter (a session load), its worker
/// loops (two per lane), the local engines.
fn readiness(engine: &Engine) -> crate::http::Readiness {
    let probe = engine.clone();
    crate::http::Readiness {
        store: Arc::new(move || {
            let e = probe.clone();
            Box::pin(async move {
                let key = SessionKey::new(TENANT, "readyz", UserRef::Bsuid("probe".to_owned()));
                e.ports()
                    .sessions
                    .load(&key)
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string())
            })
        }),
        engine: engine.clone(),
        workers: 2 * DEMO_WORKERS,
        worker_stale_after: std::time::Duration::from_secs(
            crate::http::HttpLimits::default().worker_stale_secs,
        ),
        models: Some("local".to_owned()),
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("demo/simulator.html"))
}

#[derive(Debug, Deserialize)]
struct SendRequest {
    /// `mx`, `co` or `pe`.
    country: String,
    /// The simulated user's phone number.
    user: String,
    /// `text`, `reply`, `image` or `sample`.
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reply_id: String,
    /// Base64 of an uploaded photo.
    #[serde(default)]
    image_b64: String,
    /// For `sample`: `front`, `back` or `selfie`.
    #[serde(default)]
    side: String,
    /// For `sample`: `clean`, `glare`, `blur`, `dark`, …
    #[serde(default)]
    perturbation: String,
}

fn number_for(country: &str) -> Option<&'static str> {
    NUMBERS
        .iter()
        .find(|(c, _, _)| *c == country)
        .map(|(_, n, _)| *n)
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        http::StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

async fn send(State(demo): State<Arc<Demo>>, axum::Json(req): axum::Json<SendRequest>) -> Response {
    let Some(number) = number_for(&req.country) else {
        return bad_request("country must be mx, co or pe");
    };
    if req.user.is_empty() || req.user.len() > 20 || !req.user.chars().all(|c| c.is_ascii_digit()) {
        return bad_request("user must be a phone number (digits)");
    }
    let user = FakeUser::phone(&req.user);
    let id = format!("wamid.demo.{}", demo.next_id.fetch_add(1, Ordering::SeqCst));
    let ts = demo.engine.now().as_secs();
    let payload = match req.kind.as_str() {
        "text" => fake::text_message(number, &user, &id, ts, &req.text),
        "reply" => fake::button_reply_message(number, &user, &id, ts, &req.reply_id, &req.text),
        "image" | "sample" => {
            let bytes = if req.kind == "image" {
                match base64::engine::general_purpose::STANDARD.decode(req.image_b64.as_bytes()) {
                    Ok(b) if !b.is_empty() => b,
                    _ => return bad_request("image_b64 is not base64 image data"),
                }
            } else {
                let Some(samples) = &demo.samples else {
                    return bad_request("this build has no sample generator");
                };
                match samples.generate(&req.country, &req.side, &req.perturbation) {
                    Ok(b) => b,
                    Err(e) => return bad_request(e),
                }
            };
            let mime = kyc_flow_testkit::sim::sniff_mime(&bytes);
            let media_id = demo.graph.add_media(bytes, mime);
            fake::image_message(&demo.graph, number, &user, &id, ts, &media_id, None)
        }
        other => return bad_request(format!("unknown kind `{other}`")),
    };
    let (body, signature) = fake::signed_webhook_body(APP_SECRET.as_bytes(), &payload);
    let posted = demo
        .http
        .post(&demo.webhook_url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await;
    match posted {
        Ok(r) if r.status().is_success() => {
            axum::Json(json!({ "ok": true, "id": id })).into_response()
        }
        Ok(r) => bad_request(format!("webhook answered {}", r.status())),
        Err(e) => bad_request(format!("webhook unreachable: {e}")),
    }
}

#[derive(Debug, Deserialize)]
struct MessagesQuery {
    user: String,
    #[serde(default)]
    since: usize,
}

/// Messages the engine sent to `user`, as the fake Graph API received them.
async fn messages(
    State(demo): State<Arc<Demo>>,
    Query(q): Query<MessagesQuery>,
) -> axum::Json<Value> {
    let mine: Vec<Value> = demo
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.get("to").and_then(Value::as_str) == Some(q.user.as_str()))
        .collect();
    let total = mine.len();
    let items: Vec<Value> = mine
        .into_iter()
        .skip(q.since)
        .map(|m| simplify(&m))
        .collect();
    axum::Json(json!({ "total": total, "messages": items }))
}

/// The Graph API send body reduced to what the page draws: text and buttons.
fn simplify(m: &Value) -> Value {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("text");
    match kind {
        "interactive" => {
            let i = &m["interactive"];
            let buttons: Vec<Value> = i["action"]["buttons"]
                .as_array()
                .map(|bs| {
                    bs.iter()
                        .map(|b| json!({ "id": b["reply"]["id"], "title": b["reply"]["title"] }))
                        .collect()
                })
                .unwrap_or_default();
            json!({ "text": i["body"]["text"], "buttons": buttons })
        }
        "template" => json!({
            "text": format!("(template {})", m["template"]["name"].as_str().unwrap_or("?")),
            "buttons": [],
        }),
        _ => json!({ "text": m["text"]["body"], "buttons": [] }),
    }
}

#[derive(Debug, Deserialize)]
struct SessionQuery {
    country: String,
    user: String,
}

/// The session's step and decision, for the page's side panel (no field values).
async fn session(State(demo): State<Arc<Demo>>, Query(q): Query<SessionQuery>) -> Response {
    let Some(number) = number_for(&q.country) else {
        return bad_request("country must be mx, co or pe");
    };
    let key = SessionKey {
        tenant: TenantId(TENANT.to_owned()),
        phone_number_id: kyc_flow_core::PhoneNumberId(number.to_owned()),
        user: UserRef::Phone(q.user.clone()),
    };
    match demo.engine.session(&key).await {
        Ok(Some(s)) => {
            let step = match s.state {
                SessionState::New => "new".to_owned(),
                SessionState::Decided => "decided".to_owned(),
                SessionState::Step { index, phase } => {
                    let name = demo
                        .engine
                        .flows()
                        .get(&s.flow_id, s.flow_version)
                        .and_then(|f| f.steps.get(usize::from(index)))
                        .map_or("?", |st| st.name());
                    format!("{name} ({phase:?})").to_lowercase()
                }
            };
            // `pending`: commands of the last transitions not yet carried out (its messages
            // among them), so a client can wait for a step's prompt as well as its state.
            axum::Json(json!({
                "flow": s.flow_id,
                "state": step,
                "decision": s.decision,
                "pending": s.outbox.pending.len(),
            }))
            .into_response()
        }
        Ok(None) => axum::Json(json!({ "state": null })).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}
