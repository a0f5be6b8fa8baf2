//! Asynchronous answers: the callback router in-process (signatures, replay window, repeats,
//! unknown and late correlation ids, handler failures) and end to end with the local registry.

mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use kyc_flow_core::RegistryStatus;
use kyc_flow_core::ports::{PortError, PortErrorKind, RegistryClient, RegistryReply};
use kyc_flow_registry::local::Behaviour;
use kyc_flow_registry::signing::{Signer, unix_now};
use kyc_flow_registry::wire::{GatewayAnswer, RawAnswer, TYPE_ANSWER};
use kyc_flow_registry::{CALLBACK_PATH, CallbackKeys, KeyRing, Secret, callback_router};
use std::sync::Arc;
use tower::ServiceExt;

fn answer(correlation: &str, label: &str) -> Vec<u8> {
    serde_json::to_vec(&GatewayAnswer {
        kind: TYPE_ANSWER.into(),
        correlation_id: correlation.into(),
        registry: "co-registraduria".into(),
        raw: RawAnswer {
            found: true,
            label: Some(label.into()),
            matched_fields: vec!["nuip".into()],
            ..RawAnswer::default()
        },
        source: "test-gateway".into(),
        requested_at: Some(1_790_000_000_000),
        answered_at: Some(1_790_000_004_000),
    })
    .unwrap()
}

fn signed_request(signer: &Signer, ts: i64, body: Vec<u8>) -> Request<Body> {
    let sig = signer.sign(ts, &body);
    let mut req = Request::post(CALLBACK_PATH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    sig.apply(req.headers_mut());
    req
}

fn signer() -> Signer {
    Signer::new(KEY_ID, Secret::new(SECRET)).unwrap()
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_signed_callback_is_mapped_and_handed_on_once() {
    let rec = Arc::new(Recorder::default());
    rec.expect("corr-1");
    let app = callback_router(callback_keys(), rec.clone());
    let (s, body) = send(
        &app,
        signed_request(
            &signer(),
            unix_now(),
            answer("corr-1", "Cancelada por Muerte"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The gateway retries (lost ack): acknowledged, not handed on again.
    let (s, body) = send(
        &app,
        signed_request(
            &signer(),
            unix_now(),
            answer("corr-1", "Cancelada por Muerte"),
        ),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, r#"{"status":"duplicate"}"#)
    );
    let results = rec.results();
    assert_eq!(results.len(), 1);
    let (corr, r) = &results[0];
    assert_eq!(corr, "corr-1");
    assert_eq!(r.status, RegistryStatus::Deceased);
    assert_eq!(r.raw_label.as_deref(), Some("Cancelada por Muerte"));
    assert_eq!(r.source, "test-gateway");
    assert_eq!(r.requested_at.0, 1_790_000_000_000);
    assert_eq!(r.answered_at.0, 1_790_000_004_000);
}

#[tokio::test]
async fn tampered_stale_future_and_unknown_key_callbacks_are_refused() {
    let rec = Arc::new(Recorder::default());
    rec.expect("corr-2");
    let app = callback_router(callback_keys(), rec.clone());
    let now = unix_now();

    // Tampered: signed over one label, delivered with another.
    let mut req = signed_request(&signer(), now, answer("corr-2", "Cancelada por Muerte"));
    *req.body_mut() = Body::from(answer("corr-2", "Vigente"));
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    // Stale: a captured callback replayed ten minutes later.
    let stale = signed_request(&signer(), now - 600, answer("corr-2", "Vigente"));
    assert_eq!(send(&app, stale).await.0, StatusCode::UNAUTHORIZED);
    // From the future beyond the window.
    let future = signed_request(&signer(), now + 600, answer("corr-2", "Vigente"));
    assert_eq!(send(&app, future).await.0, StatusCode::UNAUTHORIZED);
    // Unknown key id.
    let other = Signer::new("someone-else", Secret::new(SECRET)).unwrap();
    assert_eq!(
        send(
            &app,
            signed_request(&other, now, answer("corr-2", "Vigente"))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // No signature at all.
    let bare = Request::post(CALLBACK_PATH)
        .body(Body::from(answer("corr-2", "Vigente")))
        .unwrap();
    assert_eq!(send(&app, bare).await.0, StatusCode::UNAUTHORIZED);
    assert!(rec.results().is_empty());
    // Refusals did not consume the correlation: the genuine callback still goes through.
    let (s, _) = send(
        &app,
        signed_request(&signer(), now, answer("corr-2", "Vigente")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rec.results()[0].1.status, RegistryStatus::Valid);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_alongside_the_old_one() {
    let mut ring = KeyRing::single(KEY_ID, Secret::new(SECRET)).unwrap();
    ring.insert("gw-2027", Secret::new("new-secret")).unwrap();
    let rec = Arc::new(Recorder::default());
    rec.expect("a");
    rec.expect("b");
    let app = callback_router(CallbackKeys::new(ring), rec.clone());
    let new = Signer::new("gw-2027", Secret::new("new-secret")).unwrap();
    assert_eq!(
        send(
            &app,
            signed_request(&signer(), unix_now(), answer("a", "Vigente"))
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &app,
            signed_request(&new, unix_now(), answer("b", "Vigente"))
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(rec.results().len(), 2);
}

#[tokio::test]
async fn unknown_and_late_correlations_get_404_and_malformed_bodies_400() {
    let rec = Arc::new(Recorder::default());
    let app = callback_router(callback_keys(), rec.clone());
    // Never asked (or the session already decided/expired: the runtime no longer waits for it).
    let (s, body) = send(
        &app,
        signed_request(&signer(), unix_now(), answer("nobody", "Vigente")),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::NOT_FOUND, r#"{"error":"unknown_correlation"}"#)
    );
    // Signed but not an answer.
    let (s, _) = send(
        &app,
        signed_request(&signer(), unix_now(), br#"{"hello":1}"#.to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Oversized bodies never reach the signature check.
    let big = vec![b' '; 128 * 1024];
    let (s, _) = send(&app, signed_request(&signer(), unix_now(), big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(rec.results().is_empty());
}

#[tokio::test]
async fn a_handler_that_cannot_hand_on_gets_the_callback_again() {
    let rec = Arc::new(Recorder::default());
    rec.expect("retry-me");
    rec.fail_next(PortError::new(PortErrorKind::Full, "queue full"));
    let app = callback_router(callback_keys(), rec.clone());
    let req = || signed_request(&signer(), unix_now(), answer("retry-me", "Vigente"));
    let resp = app.clone().oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    // The mark was taken back, so the gateway's retry is processed, not dropped as a repeat.
    assert_eq!(send(&app, req()).await.0, StatusCode::OK);
    assert_eq!(rec.results().len(), 1);
}

#[tokio::test]
async fn end_to_end_pending_then_callback_delivered_twice_is_handed_on_once() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        duplicate_callbacks: true,
        ..Behaviour::default()
    });
    let rec = Arc::new(Recorder::default());
    let url = serve_callbacks(rec.clone()).await;
    let mut e = fast_endpoint(&reg, "co-registraduria");
    e.callback_url = Some(url);
    let c = client(vec![e]);
    rec.expect("e2e-1");
    // This fixture identity answers by callback after 1.5 s.
    let reply = c
        .query(&query(
            "co-registraduria",
            "CO",
            &[("nuip", "1000000003")],
            "e2e-1",
        ))
        .await
        .unwrap();
    assert_eq!(reply, RegistryReply::Pending);
    let results = rec.wait_for(1).await;
    assert_eq!(results[0].0, "e2e-1");
    assert_eq!(results[0].1.status, RegistryStatus::Valid);
    assert_eq!(results[0].1.source, "local-fixtures");
    // Both deliveries were acknowledged (the second as a duplicate), one result handed on.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while reg.stats().callbacks_delivered < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reg.stats().callbacks_delivered, 2);
    assert_eq!(rec.results().len(), 1);
}

#[tokio::test]
async fn a_callback_for_a_session_that_gave_up_is_refused_by_the_runtime_not_applied() {
    // The runtime stopped waiting (its registry timer fired) and forgot the correlation id;
    // the late callback is answered 404 and the local gateway stops retrying.
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        mode: kyc_flow_registry::local::AnswerMode::Callback,
        delay: std::time::Duration::from_millis(300),
        ..Behaviour::default()
    });
    let rec = Arc::new(Recorder::default());
    let url = serve_callbacks(rec.clone()).await;
    let mut e = fast_endpoint(&reg, "pe-reniec");
    e.callback_url = Some(url);
    let c = client(vec![e]);
    // Not `expect`ed: the session is gone.
    let reply = c
        .query(&query(
            "pe-reniec",
            "PE",
            &[("document_number", "45678912")],
            "late-1",
        ))
        .await
        .unwrap();
    assert_eq!(reply, RegistryReply::Pending);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while reg.stats().callbacks_delivered < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reg.stats().callbacks_delivered, 1);
    assert_eq!(reg.stats().callbacks_failed, 0);
    assert!(rec.results().is_empty());
}
