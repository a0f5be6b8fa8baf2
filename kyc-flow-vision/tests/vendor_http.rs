//! The vendor HTTP adapters against a fake vendor on 127.0.0.1: the protocol, retries for
//! retryable failures only, timeouts, error classes, honest certification, and the vision
//! conformance suite.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kyc_flow_core::conformance::vision::{
    DocumentCase, FaceSamples, LivenessSamples, run_document_reader, run_face_matcher, run_liveness,
};
use kyc_flow_core::evidence::{DocumentKind, DocumentOutcome, RetakeReason, Side};
use kyc_flow_core::ports::{
    DocumentImage, DocumentReader, FaceMatchOutcome, FaceMatcher, LivenessChecker, LivenessOutcome,
    PortErrorKind,
};
use kyc_flow_vision::vendor::{
    VendorClient, VendorConfig, VendorDocumentReader, VendorFaceMatcher, VendorLiveness,
};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "test-key-123";

/// A scripted failure the fake serves before answering normally.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16, Option<&'static str>),
    Sleep(Duration),
    Body(&'static str),
}

#[derive(Default)]
struct Fake {
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<Vec<(String, Option<String>)>>,
    certified: Mutex<bool>,
}

type Shared = Arc<Fake>;

/// Images the fake "recognises": `IMG:<person>:<n>:` padded with dots and ending in `:END`, so
/// that any truncation is not an image.
fn sample(person: &str, n: u32) -> Vec<u8> {
    let mut s = format!("IMG:{person}:{n}:");
    while s.len() < 120 {
        s.push('.');
    }
    s.push_str(":END");
    s.into_bytes()
}

enum Seen {
    Person(String),
    NoFace,
    NotImage,
}

fn look(b64: &str) -> Seen {
    let Ok(bytes) = B64.decode(b64) else {
        return Seen::NotImage;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Seen::NotImage;
    };
    if !(text.starts_with("IMG:") && text.ends_with(":END")) {
        return Seen::NotImage;
    }
    match text.split(':').nth(1) {
        Some("noface") => Seen::NoFace,
        Some(p) => Seen::Person(p.to_owned()),
        None => Seen::NotImage,
    }
}

fn retake(reason: &str) -> Value {
    json!({"status": "retake", "reason": reason, "detail": "fake vendor"})
}

async fn gate(state: &Shared, headers: &HeaderMap, path: &str) -> Option<Response> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.calls.lock().unwrap().push((path.to_owned(), key));
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {API_KEY}"))
    {
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    let fault = state.faults.lock().unwrap().pop_front();
    match fault {
        None => None,
        Some(Fault::Status(code, retry_after)) => {
            let mut r = StatusCode::from_u16(code).unwrap().into_response();
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            Some(r)
        }
        Some(Fault::Sleep(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Fault::Body(b)) => Some(([("content-type", "application/json")], b).into_response()),
    }
}

async fn compare(State(s): State<Shared>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(&s, &h, "compare").await {
        return r;
    }
    let a = look(body["selfie"].as_str().unwrap_or(""));
    let b = look(body["portrait"].as_str().unwrap_or(""));
    let answer = match (a, b) {
        (Seen::NotImage, _) | (_, Seen::NotImage) => retake("unsupported_media"),
        (Seen::NoFace, _) | (_, Seen::NoFace) => retake("no_face"),
        (Seen::Person(x), Seen::Person(y)) => {
            let score = if x == y { 0.93 } else { 0.04 };
            json!({"status": "compared", "score": score, "threshold": 0.8, "match": score >= 0.8})
        }
    };
    Json(answer).into_response()
}

async fn liveness(State(s): State<Shared>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(&s, &h, "liveness").await {
        return r;
    }
    let certified = *s.certified.lock().unwrap();
    let answer = match look(body["selfie"].as_str().unwrap_or("")) {
        Seen::NotImage => retake("unsupported_media"),
        Seen::NoFace => retake("no_face"),
        Seen::Person(p) if p == "mask" => json!({"status": "judged", "live": false,
            "score": 0.02, "certified": certified, "certification": "iBeta PAD Level 2"}),
        Seen::Person(_) => json!({"status": "judged", "live": true, "score": 0.99,
            "certified": certified, "certification": "iBeta PAD Level 2"}),
    };
    Json(answer).into_response()
}

async fn read(State(s): State<Shared>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(&s, &h, "read").await {
        return r;
    }
    if body["document"] != "mx-ine" || body["side"] != "front" {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let answer = match look(body["image"].as_str().unwrap_or("")) {
        Seen::NotImage => retake("unsupported_media"),
        Seen::NoFace => retake("glare"),
        Seen::Person(_) => json!({
            "status": "accepted",
            "fields": {
                "curp": {"value": "GOMC800101HDFRRL09", "confidence": 0.97, "source": "printed"},
                "surnames": {"value": "GÓMEZ PEÑA", "confidence": 0.91, "source": "printed"}
            },
            "checks": [{"name": "curp_check_digit", "passed": true, "detail": "ok"}],
            "portrait": B64.encode(sample("a", 9)),
        }),
    };
    Json(answer).into_response()
}

async fn serve() -> (String, Shared) {
    let state: Shared = Arc::new(Fake::default());
    let app = Router::new()
        .route("/v1/faces/compare", post(compare))
        .route("/v1/liveness", post(liveness))
        .route("/v1/documents/read", post(read))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn config(base_url: &str) -> VendorConfig {
    VendorConfig {
        name: "acme".into(),
        base_url: base_url.into(),
        api_key: API_KEY.into(),
        timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        max_attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        documents: vec![(DocumentKind::MxIne, Side::Front)],
        ..VendorConfig::default()
    }
}

fn matcher(cfg: VendorConfig) -> VendorFaceMatcher {
    VendorFaceMatcher::new(VendorClient::new(cfg).unwrap())
}

fn calls(state: &Shared) -> Vec<(String, Option<String>)> {
    state.calls.lock().unwrap().clone()
}

fn fault(state: &Shared, faults: &[Fault]) {
    state.faults.lock().unwrap().extend(faults.iter().cloned());
}

#[tokio::test]
async fn face_matcher_passes_conformance() {
    let (url, _) = serve().await;
    let m = matcher(config(&url));
    run_face_matcher(
        &m,
        &FaceSamples {
            person_a: sample("a", 1),
            person_a_again: sample("a", 2),
            person_b: sample("b", 1),
            no_face: sample("noface", 1),
        },
    )
    .await;
}

#[tokio::test]
async fn liveness_passes_conformance_certified_or_not() {
    let (url, state) = serve().await;
    let samples = LivenessSamples {
        live: sample("a", 1),
        no_face: sample("noface", 1),
    };
    // The vendor claims certification but the operator did not declare it: uncertified.
    *state.certified.lock().unwrap() = true;
    let l = VendorLiveness::new(VendorClient::new(config(&url)).unwrap());
    assert!(!l.capabilities().liveness_certified);
    run_liveness(&l, &samples).await;
    match l.check(&sample("a", 1)).await.unwrap() {
        LivenessOutcome::Judged(v) => {
            assert!(!v.certified);
            assert_eq!(v.certification, None);
            assert_eq!(v.engine, "vendor:acme");
        }
        other => panic!("{other:?}"),
    }
    // Declared and claimed: certified, with the vendor's level.
    let certified = VendorLiveness::new(
        VendorClient::new(VendorConfig {
            liveness_certification: Some("iBeta PAD Level 2".into()),
            ..config(&url)
        })
        .unwrap(),
    );
    assert!(certified.capabilities().liveness_certified);
    run_liveness(&certified, &samples).await;
    match certified.check(&sample("mask", 1)).await.unwrap() {
        LivenessOutcome::Judged(v) => {
            assert!(v.certified && !v.live);
            assert_eq!(v.certification.as_deref(), Some("iBeta PAD Level 2"));
        }
        other => panic!("{other:?}"),
    }
    // Declared but the vendor does not claim it for this answer: uncertified.
    *state.certified.lock().unwrap() = false;
    match certified.check(&sample("a", 1)).await.unwrap() {
        LivenessOutcome::Judged(v) => assert!(!v.certified && v.certification.is_none()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn document_reader_passes_conformance_and_carries_the_portrait() {
    let (url, _) = serve().await;
    let r = VendorDocumentReader::new(VendorClient::new(config(&url)).unwrap());
    run_document_reader(
        &r,
        &[DocumentCase {
            document: DocumentKind::MxIne,
            side: Side::Front,
            image: sample("a", 1),
            expected_fields: vec![
                ("curp".into(), "GOMC800101HDFRRL09".into()),
                ("surnames".into(), "GÓMEZ PEÑA".into()),
            ],
        }],
    )
    .await;
    let reading = r
        .read(DocumentImage {
            document: DocumentKind::MxIne,
            side: Side::Front,
            image: &sample("a", 1),
        })
        .await
        .unwrap();
    assert_eq!(reading.portrait, Some(sample("a", 9)));
    match reading.outcome {
        DocumentOutcome::Accepted { data } => assert!(data.portrait_found && data.checks[0].passed),
        other => panic!("{other:?}"),
    }
    let retake = r
        .read(DocumentImage {
            document: DocumentKind::MxIne,
            side: Side::Front,
            image: &sample("noface", 1),
        })
        .await
        .unwrap();
    assert!(matches!(
        retake.outcome,
        DocumentOutcome::Retake {
            reason: RetakeReason::Glare,
            ..
        }
    ));
    // A document the vendor was not declared for fails before any request.
    let err = r
        .read(DocumentImage {
            document: DocumentKind::PeDni,
            side: Side::Back,
            image: &sample("a", 1),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unsupported);
}

#[tokio::test]
async fn retries_5xx_with_one_idempotency_key_then_succeeds() {
    let (url, state) = serve().await;
    fault(
        &state,
        &[Fault::Status(503, None), Fault::Status(502, None)],
    );
    let out = matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 2))
        .await
        .unwrap();
    assert!(matches!(out, FaceMatchOutcome::Compared(c) if c.matched));
    let calls = calls(&state);
    assert_eq!(calls.len(), 3);
    let key = calls[0].1.clone().expect("idempotency key sent");
    assert!(calls.iter().all(|(_, k)| k.as_ref() == Some(&key)));
    // The same call again (a redelivered job after a crash) carries the same key, so the
    // vendor can de-duplicate it; a different request gets another.
    matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 2))
        .await
        .unwrap();
    assert_eq!(self::calls(&state)[3].1.as_ref(), Some(&key));
    matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 3))
        .await
        .unwrap();
    assert_ne!(self::calls(&state)[4].1.as_ref(), Some(&key));
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_a_retryable_error() {
    let (url, state) = serve().await;
    fault(&state, &[Fault::Status(500, None); 5]);
    let err = matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert_eq!(calls(&state).len(), 3);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    for (status, kind) in [
        (400, PortErrorKind::Invalid),
        (413, PortErrorKind::Invalid),
        (422, PortErrorKind::Invalid),
        (403, PortErrorKind::Unauthorized),
        (404, PortErrorKind::Unsupported),
    ] {
        let (url, state) = serve().await;
        fault(&state, &[Fault::Status(status, None)]);
        let err = matcher(config(&url))
            .compare(&sample("a", 1), &sample("a", 2))
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{status}");
        assert!(!err.is_retryable());
        assert_eq!(calls(&state).len(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn wrong_api_key_is_unauthorized() {
    let (url, state) = serve().await;
    let err = matcher(VendorConfig {
        api_key: "wrong".into(),
        ..config(&url)
    })
    .compare(&sample("a", 1), &sample("a", 2))
    .await
    .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unauthorized);
    assert_eq!(calls(&state).len(), 1);
    // The key is in neither the error nor the client's Debug output.
    assert!(!err.to_string().contains("wrong"));
    let client = VendorClient::new(config(&url)).unwrap();
    assert!(!format!("{client:?}").contains(API_KEY));
}

#[tokio::test]
async fn rate_limit_honours_retry_after_and_returns_long_ones() {
    let (url, state) = serve().await;
    // A short Retry-After is waited in-process.
    fault(&state, &[Fault::Status(429, Some("0"))]);
    matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 2))
        .await
        .unwrap();
    assert_eq!(calls(&state).len(), 2);
    // A long one goes back to the caller with the delay.
    fault(&state, &[Fault::Status(429, Some("30"))]);
    let err = matcher(config(&url))
        .compare(&sample("a", 1), &sample("a", 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(calls(&state).len(), 3);
}

#[tokio::test]
async fn slow_vendor_times_out_and_is_retried() {
    let (url, state) = serve().await;
    fault(&state, &[Fault::Sleep(Duration::from_secs(2))]);
    // First attempt times out, the second answers.
    let out = matcher(config(&url))
        .compare(&sample("a", 1), &sample("b", 2))
        .await
        .unwrap();
    assert!(matches!(out, FaceMatchOutcome::Compared(c) if !c.matched));
    assert_eq!(calls(&state).len(), 2);
    // Always slow: a timeout error, retryable.
    fault(&state, &[Fault::Sleep(Duration::from_secs(2)); 3]);
    let err = matcher(config(&url))
        .compare(&sample("a", 1), &sample("b", 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Timeout);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn unreachable_vendor_is_unavailable() {
    // Bind then drop, so the port is (almost certainly) closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = matcher(VendorConfig {
        max_attempts: 2,
        ..config(&format!("http://{addr}"))
    })
    .compare(&sample("a", 1), &sample("a", 2))
    .await
    .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
}

#[tokio::test]
async fn protocol_violations_are_permanent_and_not_retried() {
    for body in [
        "not json",
        r#"{"status": "compared", "score": 0.9}"#,
        r#"{"status": "teleported"}"#,
        r#"{"status": "compared", "score": 0.9, "threshold": 0.8, "match": false}"#,
    ] {
        let (url, state) = serve().await;
        fault(&state, &[Fault::Body(body)]);
        let err = matcher(config(&url))
            .compare(&sample("a", 1), &sample("a", 2))
            .await
            .unwrap_err();
        assert_eq!(err.kind, PortErrorKind::Internal, "{body}");
        assert_eq!(calls(&state).len(), 1, "{body} was retried");
    }
    // A liveness score outside [0, 1] is a protocol violation too.
    let (url, state) = serve().await;
    fault(
        &state,
        &[Fault::Body(
            r#"{"status": "judged", "live": true, "score": 7.0}"#,
        )],
    );
    let err = VendorLiveness::new(VendorClient::new(config(&url)).unwrap())
        .check(&sample("a", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Internal);
}
