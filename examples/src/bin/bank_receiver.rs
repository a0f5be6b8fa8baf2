//! What a bank runs to receive kyc-flow's decisions: an HTTP endpoint that verifies the
//! decision webhook's signature (HMAC-SHA256 over the timestamp and the exact body, with a key
//! id so keys rotate, and a replay window), deduplicates deliveries by their idempotency key, and
//! answers 2xx only for what it accepted.
//!
//! ```sh
//! # Receive on 127.0.0.1:9090 with the shared secret from the environment:
//! KYC_DECISION_KEY_ID=bank-2026 KYC_DECISION_SECRET=change-me \
//!   cargo run -p kyc-flow-examples --bin bank_receiver
//! # Or check the whole round trip in one command (a decision signed and sent by kyc-flow's
//! # own decision sink to this receiver on a free port, then a forged one):
//! cargo run -p kyc-flow-examples --bin bank_receiver -- --self-test
//! ```

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
// The header a delivery's idempotency key travels in: the same decision redelivered after a
// timeout carries the same key.
use kyc_flow::decisions::{DecisionWebhookConfig, IDEMPOTENCY_KEY, WebhookDecisionSink};
use kyc_flow::registry::Secret;
use kyc_flow::registry::signing::{
    DEFAULT_REPLAY_WINDOW, KeyRing, SignatureHeaders, Verifier, unix_now,
};
use kyc_flow_core::ports::{DecisionNotice, DecisionSink};
use kyc_flow_core::{Decision, SessionKey, Timestamp, UserRef};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

struct Receiver {
    verifier: Verifier,
    seen: Mutex<HashSet<String>>,
}

async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    // 1. The signature, over the exact bytes received, before anything is parsed.
    let signed = match SignatureHeaders::from_header_map(&headers) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bank: refused (signature headers: {e})");
            return StatusCode::UNAUTHORIZED;
        }
    };
    let key_id = match rx.verifier.verify(&signed, &body, unix_now()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bank: refused ({e})");
            return StatusCode::UNAUTHORIZED;
        }
    };
    // 2. Only now parse it.
    let Ok(notice) = serde_json::from_slice::<DecisionNotice>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    // 3. Once per decision: a redelivery is acknowledged and not processed again.
    let dedupe = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| notice.session_id.clone(), str::to_owned);
    if !rx.seen.lock().unwrap().insert(dedupe) {
        eprintln!("bank: duplicate delivery acknowledged");
        return StatusCode::OK;
    }
    // The bank's own processing goes here (store it, open an account, queue a review, …).
    println!(
        "bank: verified decision from key `{key_id}` for session {}: {}",
        notice.session_id,
        serde_json::to_string(&notice.decision).unwrap_or_default()
    );
    StatusCode::OK
}

fn receiver(key_id: &str, secret: Secret) -> anyhow::Result<axum::Router> {
    let ring = KeyRing::single(key_id, secret).map_err(|_| anyhow::anyhow!("invalid key id"))?;
    let state = Arc::new(Receiver {
        verifier: Verifier::new(ring, DEFAULT_REPLAY_WINDOW),
        seen: Mutex::new(HashSet::new()),
    });
    Ok(axum::Router::new()
        .route("/kyc/decisions", post(receive))
        .with_state(state))
}

fn sample_notice() -> DecisionNotice {
    DecisionNotice {
        session_id: "s-example".into(),
        key: SessionKey::new(
            "bank-a",
            "106540352242922",
            UserRef::Bsuid("MX.example".into()),
        ),
        flow_id: "mx-ine".into(),
        flow_version: 1,
        decision: Decision::ManualReview {
            reasons: vec![kyc_flow_core::DecisionReason::LivenessNotCertified],
        },
        decided_at: Timestamp::from_secs(1_780_000_000),
        evidence: serde_json::json!({}),
        idempotency_key: "s-example:decision".into(),
    }
}

async fn self_test() -> anyhow::Result<()> {
    let (key_id, secret) = ("bank-2026", Secret::new("example-shared-secret"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/kyc/decisions", listener.local_addr()?);
    let app = receiver(key_id, secret.clone())?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // kyc-flow's own decision sink, configured as `serve`'s `[decisions]` section would be.
    let sink = WebhookDecisionSink::new(DecisionWebhookConfig {
        url: url.clone(),
        key_id: key_id.into(),
        secret,
        timeout_secs: 5,
    })?;
    sink.deliver(&sample_notice()).await?;
    println!("self-test: a decision signed by kyc-flow was accepted");

    // The same decision signed with the wrong secret is refused.
    let forged = WebhookDecisionSink::new(DecisionWebhookConfig {
        url,
        key_id: key_id.into(),
        secret: Secret::new("not-the-shared-secret"),
        timeout_secs: 5,
    })?;
    match forged.deliver(&sample_notice()).await {
        Err(e) => println!("self-test: a forged decision was refused ({e})"),
        Ok(()) => anyhow::bail!("a forged decision was accepted"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--self-test") {
        return self_test().await;
    }
    let key_id = std::env::var("KYC_DECISION_KEY_ID").unwrap_or_else(|_| "bank-2026".into());
    let secret = Secret::new(
        std::env::var("KYC_DECISION_SECRET")
            .map_err(|_| anyhow::anyhow!("set KYC_DECISION_SECRET to the shared secret"))?,
    );
    let addr = std::env::var("BANK_LISTEN").unwrap_or_else(|_| "127.0.0.1:9090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bank: receiving decisions on http://{addr}/kyc/decisions");
    axum::serve(listener, receiver(&key_id, secret)?).await?;
    Ok(())
}
