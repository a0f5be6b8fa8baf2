//! `/metrics` for `serve` and `demo`: the Prometheus recorder behind the runtime's `metrics`
//! calls (`kyc_flow::metrics` lists them), queue gauges read at scrape time, and the webhook
//! endpoint's answers counted by outcome.
//!
//! `metrics-exporter-prometheus` is built without its default features: it only renders text,
//! and our own HTTP server serves it (no second listener, no push gateway, no TLS stack).

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kyc_flow::memory::MemoryJobQueue;
use kyc_flow_redis::RedisJobQueue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// Counter: webhook requests answered, by `outcome` (`accepted`, `verified`, `bad_signature`,
/// `malformed`, `unavailable`, `other`).
pub const WEBHOOKS: &str = "kyc_flow_webhooks_total";
/// Gauge: jobs not yet done (ready, in flight, awaiting a delayed retry), by `stream`.
pub const QUEUE_DEPTH: &str = "kyc_flow_queue_depth";
/// Gauge (seconds): the queue's lag, by `stream` — how long the oldest job not yet done
/// (waiting or in flight; not a delayed retry) has been in it; 0 when there is none.
pub const QUEUE_LAG: &str = "kyc_flow_queue_lag_seconds";
/// Gauge: dead letters waiting for an operator, by `stream`.
pub const DEAD_LETTERS: &str = "kyc_flow_dead_letters";

/// Bucket bounds (seconds) of the latency histograms: a text message takes milliseconds, an
/// OCR pass seconds, a registry answer up to a minute.
const SECONDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Bucket bounds (USD) of the per-session WhatsApp cost: a happy path costs cents (from under
/// one cent in Colombia to about a dime in Peru), reminders and retakes add to it.
const USD: [f64; 10] = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];

/// A recorder with this project's histogram buckets (not installed).
pub fn recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
        .expect("bucket bounds are not empty")
        .set_buckets_for_metric(Matcher::Suffix("_usd".into()), &USD)
        .expect("bucket bounds are not empty")
        .build_recorder()
}

/// Install the process-wide recorder once; later calls get the same handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The queue whose depth `/metrics` reports.
#[derive(Debug, Clone)]
pub enum QueueGauge {
    Memory {
        queue: Arc<MemoryJobQueue>,
        stream: String,
    },
    Redis {
        queue: RedisJobQueue,
        stream: String,
    },
}

impl QueueGauge {
    async fn record(&self) {
        match self {
            Self::Memory { queue, stream } => {
                metrics::gauge!(QUEUE_DEPTH, "stream" => stream.clone()).set(queue.len() as f64);
                let lag = queue.oldest_age().unwrap_or_default();
                metrics::gauge!(QUEUE_LAG, "stream" => stream.clone()).set(lag.as_secs_f64());
                metrics::gauge!(DEAD_LETTERS, "stream" => stream.clone())
                    .set(queue.dead_letters().len() as f64);
            }
            Self::Redis { queue, stream } => {
                match queue.backlog().await {
                    Ok(n) => metrics::gauge!(QUEUE_DEPTH, "stream" => stream.clone()).set(n as f64),
                    Err(e) => tracing::warn!(error = %e, "queue depth unavailable"),
                }
                match queue.oldest_age().await {
                    Ok(lag) => metrics::gauge!(QUEUE_LAG, "stream" => stream.clone())
                        .set(lag.unwrap_or_default().as_secs_f64()),
                    Err(e) => tracing::warn!(error = %e, "queue lag unavailable"),
                }
                match queue.dead_letter_count().await {
                    Ok(n) => {
                        metrics::gauge!(DEAD_LETTERS, "stream" => stream.clone()).set(n as f64)
                    }
                    Err(e) => tracing::warn!(error = %e, "dead letters unavailable"),
                }
            }
        }
    }
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    queues: Vec<QueueGauge>,
}

/// `GET /metrics` in the Prometheus text format.
/// `queues`: the main queue and each lane's, every one under its own `stream` label.
pub fn router(handle: PrometheusHandle, queues: Vec<QueueGauge>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(Scrape { handle, queues })
}

async fn render(State(scrape): State<Scrape>) -> Response {
    for queue in &scrape.queues {
        queue.record().await;
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
        .into_response()
}

/// Middleware for the webhook router: count each answer by what it means.
pub async fn count_webhooks(request: Request, next: Next) -> Response {
    let get = request.method() == http::Method::GET;
    let response = next.run(request).await;
    let outcome = match response.status().as_u16() {
        200..=299 if get => "verified",
        200..=299 => "accepted",
        401 | 403 => "bad_signature",
        400 | 413 | 415 | 422 => "malformed",
        503 => "unavailable",
        _ => "other",
    };
    metrics::counter!(WEBHOOKS, "outcome" => outcome).increment(1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_testkit::simulate::Simulation;
    use tower::ServiceExt as _;

    /// The value of the first sample line of `series` whose labels contain all of `labels`.
    fn value(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(series))
            .filter(|l| labels.iter().all(|x| l.contains(x)))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn an_onboarding_shows_up_in_the_rendered_metrics() {
        let recorder = recorder();
        let handle = recorder.handle();
        // The recorder of this thread only: a current-thread runtime keeps every task on it.
        let _local = metrics::set_default_local_recorder(&recorder);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let text = runtime.block_on(async {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/scripts/co-cedula-glare-then-success.toml");
            let sim = Simulation::from_toml(
                &std::fs::read_to_string(&script).unwrap(),
                None,
                script.parent().unwrap(),
            )
            .unwrap();
            let outcome = sim.run().await.unwrap();
            assert!(
                outcome.to_text().contains("approved"),
                "{}",
                outcome.to_text()
            );

            let queue = Arc::new(MemoryJobQueue::new(10));
            let webhook = kyc_flow_whatsapp::webhook_router(
                kyc_flow_whatsapp::WebhookConfig {
                    verify_token: "t".into(),
                    app_secret: "s".into(),
                    ..Default::default()
                },
                queue.clone(),
                Arc::new(kyc_flow::memory::MemoryDeduplicator::new()),
            )
            .layer(axum::middleware::from_fn(count_webhooks));
            let app = webhook.merge(router(
                handle.clone(),
                vec![QueueGauge::Memory {
                    queue,
                    stream: "memory".into(),
                }],
            ));
            let unsigned = Request::post(kyc_flow_whatsapp::WEBHOOK_PATH)
                .body(axum::body::Body::from("{}"))
                .unwrap();
            let answer = app.clone().oneshot(unsigned).await.unwrap();
            assert_eq!(answer.status(), 401);
            let scrape = Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap();
            let answer = app.oneshot(scrape).await.unwrap();
            assert_eq!(answer.status(), 200);
            let body = http_body_util::BodyExt::collect(answer.into_body())
                .await
                .unwrap()
                .to_bytes();
            String::from_utf8(body.to_vec()).unwrap()
        });
        let positive = |series: &str, labels: &[&str]| {
            let v = value(&text, series, labels);
            assert!(
                v.is_some_and(|v| v > 0.0),
                "{series} {labels:?} = {v:?} in\n{text}"
            );
        };
        positive("kyc_flow_webhooks_total", &["outcome=\"bad_signature\""]);
        positive(
            "kyc_flow_jobs_total",
            &["kind=\"engine.event\"", "outcome=\"ok\""],
        );
        positive(
            "kyc_flow_job_duration_seconds_count",
            &["kind=\"engine.command\""],
        );
        positive(
            "kyc_flow_retakes_total",
            &["step=\"document_front\"", "reason=\"glare\""],
        );
        positive(
            "kyc_flow_decisions_total",
            &["outcome=\"approved\"", "reason=\"all_checks_passed\""],
        );
        positive(
            "kyc_flow_decision_notices_total",
            &["outcome=\"delivered\""],
        );
        positive(
            "kyc_flow_port_duration_seconds_bucket",
            &["port=\"registry\"", "outcome=\"ok\"", "le=\"+Inf\""],
        );
        positive(
            "kyc_flow_port_duration_seconds_count",
            &["port=\"documents\""],
        );
        positive(
            "kyc_flow_port_duration_seconds_count",
            &["port=\"liveness\""],
        );
        positive("kyc_flow_whatsapp_sends_total", &["delivery=\"session\""]);
        // The approved Colombian onboarding's estimated cost, at the built-in rates.
        positive(
            "kyc_flow_whatsapp_session_cost_usd_bucket",
            &["country=\"CO\"", "outcome=\"approved\"", "le=\"+Inf\""],
        );
        positive(
            "kyc_flow_whatsapp_session_cost_usd_sum",
            &["country=\"CO\"", "outcome=\"approved\""],
        );
        assert!(
            value(&text, "kyc_flow_queue_depth", &["stream=\"memory\""]).is_some(),
            "{text}"
        );
        assert!(
            value(&text, "kyc_flow_queue_lag_seconds", &["stream=\"memory\""]).is_some(),
            "{text}"
        );
        // No label carries the script's phone number.
        assert!(!text.contains("573001112233"), "{text}");
    }
}
