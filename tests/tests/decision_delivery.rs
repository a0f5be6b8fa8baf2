//! The decision notice reaches the bank on a delivery of its own: retried with backoff through
//! the queue's delayed redelivery while the bank is down (one idempotency key, accepted once),
//! never held up by the user's WhatsApp messages, `Retry-After` honoured, and dead-lettered
//! with a clear reason only after the delivery horizon.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kyc_flow::decisions::{DecisionWebhookConfig, IDEMPOTENCY_KEY, WebhookDecisionSink};
use kyc_flow::engine::EngineConfig;
use kyc_flow::notice::{DecisionDelivery, JOB_DECISION, NextAttempt};
use kyc_flow::registry::Secret;
use kyc_flow::registry::signing::{
    DEFAULT_REPLAY_WINDOW, KeyRing, SignatureHeaders, Verifier, unix_now,
};
use kyc_flow::{Engine, EngineBuilder, Ports};
use kyc_flow_core::command::MessageSpec;
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::ports::{
    DecisionNotice, DecisionSink, MessageTransport, OutboundBody, OutboundMessage, PortError,
    PortErrorKind, PortResult, SentMessage,
};
use kyc_flow_core::session::Decision;
use kyc_flow_core::{PhoneNumberId, Side};
use kyc_flow_tests::Harness;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY_ID: &str = "bank-test";
const SECRET: &str = "bank-test-secret";

/// A bank that answers 503 (with an optional `Retry-After`) to its first `fail` requests and
/// then 200, verifying every signature and recording what it saw.
struct Bank {
    verifier: Verifier,
    fail: AtomicU32,
    retry_after: Option<u64>,
    /// (Idempotency-Key header, body's idempotency_key, status answered) per request.
    seen: Mutex<Vec<(String, String, u16)>>,
}

async fn receive(State(bank): State<Arc<Bank>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(signed) = SignatureHeaders::from_header_map(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if bank.verifier.verify(&signed, &body, unix_now()).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let notice: DecisionNotice = serde_json::from_slice(&body).expect("a decision notice");
    let header = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let failing = bank
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing { 503 } else { 200 };
    bank.seen
        .lock()
        .unwrap()
        .push((header, notice.idempotency_key, status));
    if failing {
        let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
        if let Some(secs) = bank.retry_after {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        response
    } else {
        StatusCode::OK.into_response()
    }
}

/// A local bank on a free port of 127.0.0.1; returns it and the sink that delivers to it.
async fn start_bank(fail: u32, retry_after: Option<u64>) -> (Arc<Bank>, WebhookDecisionSink) {
    let ring = KeyRing::single(KEY_ID, Secret::new(SECRET)).unwrap();
    let bank = Arc::new(Bank {
        verifier: Verifier::new(ring, DEFAULT_REPLAY_WINDOW),
        fail: AtomicU32::new(fail),
        retry_after,
        seen: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/decisions", axum::routing::post(receive))
        .with_state(bank.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sink = WebhookDecisionSink::new(DecisionWebhookConfig {
        url: format!("http://{addr}/decisions"),
        key_id: KEY_ID.into(),
        secret: Secret::new(SECRET),
        timeout_secs: 5,
    })
    .unwrap();
    (bank, sink)
}

/// Decision notices retried within milliseconds, so the test runs through many attempts fast.
fn quick_retries() -> EngineConfig {
    EngineConfig {
        decision_retry_base: Duration::from_millis(2),
        decision_retry_max: Duration::from_millis(10),
        ..EngineConfig::default()
    }
}

fn engine_with(h: &Harness, ports: Ports, config: EngineConfig) -> Engine {
    let mut flows = FlowSet::new();
    flows.insert(h.flow.clone());
    EngineBuilder::new(ports, flows, Harness::routing(&h.flow))
        .clock(h.clock.clone())
        .config(config)
        .build()
        .unwrap()
}

/// Work the queue until `done` holds (each `work_once` waits for the next delayed retry).
async fn work_until(engine: &Engine, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        engine
            .work_once("test", Duration::from_millis(50))
            .await
            .unwrap();
    }
    assert!(done(), "gave up waiting");
}

#[tokio::test]
async fn a_bank_answering_503_then_200_records_the_notice_once_under_one_key() {
    let failures = 5;
    let (bank, sink) = start_bank(failures, None).await;
    let mut h = Harness::new("mx-ine");
    let mut ports = h.sim.ports();
    ports.decisions = Arc::new(sink);
    h.engine = engine_with(&h, ports, quick_retries());
    h.onboard(&[], &[], true).await;
    let accepted = || bank.seen.lock().unwrap().iter().any(|(_, _, s)| *s == 200);
    work_until(&h.engine, accepted).await;
    // Nothing else arrives after the acceptance.
    h.engine.run_until_idle("test").await.unwrap();

    let seen = bank.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), failures as usize + 1, "{seen:?}");
    assert_eq!(seen.iter().filter(|(_, _, s)| *s == 200).count(), 1);
    let key = &seen[0].0;
    assert!(!key.is_empty(), "an Idempotency-Key header");
    for (header, body, _) in &seen {
        assert_eq!(header, key, "the same key on every attempt");
        assert_eq!(body, key, "the body carries the same key");
    }
    assert!(h.sim.queue.dead_letters().is_empty());
    assert!(h.sim.queue.is_empty(), "nothing left to deliver");
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    assert!(matches!(session.decision, Some(Decision::Approved { .. })));
    assert!(session.outbox.pending.is_empty());
}

/// Refuses the user's decision message (the bank's notice must not wait for it).
struct RefusingTransport {
    inner: Arc<dyn MessageTransport>,
    refuse: OutboundBody,
    refused: AtomicU32,
}

#[async_trait]
impl MessageTransport for RefusingTransport {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        if message.body == self.refuse {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(PortError::unavailable("graph api down"));
        }
        self.inner.send(message).await
    }
    async fn mark_read(&self, from: &PhoneNumberId, id: &str, typing: bool) -> PortResult<()> {
        self.inner.mark_read(from, id, typing).await
    }
}

#[tokio::test]
async fn a_failing_whatsapp_send_does_not_hold_up_the_notice() {
    let mut h = Harness::new("mx-ine");
    let hello = h.text("hola");
    h.send(hello).await;
    let locale = h.engine.session(&h.key).await.unwrap().unwrap().locale;
    let refuse = h
        .engine
        .catalog()
        .render(&MessageSpec::text("decision.approved"), locale)
        .unwrap();
    let transport = Arc::new(RefusingTransport {
        inner: h.sim.transport.clone(),
        refuse: refuse.clone(),
        refused: AtomicU32::new(0),
    });
    let t = transport.clone();
    h.rewire(|p| p.transport = t);
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    for side in [Side::Front, Side::Back] {
        let photo = h.document_photo(side);
        h.send(photo).await;
    }
    let selfie = h.selfie(true);
    h.send(selfie).await;

    assert!(
        transport.refused.load(Ordering::SeqCst) >= 1,
        "the decision message was attempted and failed"
    );
    assert!(
        !h.sim
            .transport
            .sent()
            .iter()
            .any(|s| s.message.body == refuse),
        "the user has not got the decision message"
    );
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    assert!(
        !session.outbox.pending.is_empty(),
        "the send is still pending"
    );
    let delivered = h.sim.decisions.delivered();
    assert_eq!(delivered.len(), 1, "the bank got its notice all the same");
    assert!(matches!(delivered[0].decision, Decision::Approved { .. }));
}

#[tokio::test]
async fn retry_after_from_the_bank_sets_the_next_attempt() {
    let (bank, sink) = start_bank(1, Some(7)).await;
    let mut h = Harness::new("mx-ine");
    h.onboard(&[], &[], true).await;
    let notice = h.sim.decisions.delivered().remove(0);
    let e = sink.deliver(&notice).await.unwrap_err();
    assert_eq!(e.kind, PortErrorKind::Unavailable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    // The engine's policy takes the hint over its own 5 s, 10 s, … schedule.
    assert_eq!(
        DecisionDelivery::DEFAULT.next(3, &e, Duration::from_secs(60)),
        NextAttempt::After(Duration::from_secs(7))
    );
    assert_eq!(bank.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_notice_still_refused_at_the_horizon_is_dead_lettered_with_a_reason() {
    let (bank, sink) = start_bank(u32::MAX, None).await;
    let mut h = Harness::new("mx-ine");
    let mut ports = h.sim.ports();
    ports.decisions = Arc::new(sink);
    let config = EngineConfig {
        decision_horizon: Duration::from_secs(3600),
        ..quick_retries()
    };
    h.engine = engine_with(&h, ports, config);
    h.onboard(&[], &[], true).await;
    let attempts = || bank.seen.lock().unwrap().len();
    work_until(&h.engine, || attempts() >= 3).await;
    assert!(
        h.sim.queue.dead_letters().is_empty(),
        "still inside the horizon"
    );
    // The engine's clock passes the horizon; the next failure is the last.
    h.clock.advance(Duration::from_secs(3601));
    work_until(&h.engine, || !h.sim.queue.dead_letters().is_empty()).await;
    let dead = h.sim.queue.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].delivery.job.kind, JOB_DECISION);
    assert!(
        dead[0].reason.contains("delivery horizon of 1h"),
        "{}",
        dead[0].reason
    );
    assert!(dead[0].reason.contains("503"), "{}", dead[0].reason);
    assert!(h.sim.queue.is_empty(), "no further attempt is scheduled");
}
