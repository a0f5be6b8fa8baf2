//! The webhook router in-process (`oneshot`): verification, signatures, batching,
//! de-duplication, body limit, and 503 when the queue cannot take the events.

mod support;

use axum::body::Body;
use futures::StreamExt as _;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{JOB_KIND, WebhookConfig, WebhookEvent, sign, webhook_router};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::{MemDedup, MemQueue};
use tower::ServiceExt;

const SECRET: &str = "app-secret-for-tests";
const PNID: &str = "106540352242922";

fn config() -> WebhookConfig {
    WebhookConfig {
        verify_token: "verify-me".into(),
        app_secret: SECRET.into(),
        body_limit: 64 * 1024,
        tenant: "bank-a".into(),
        ..WebhookConfig::default()
    }
}

struct Harness {
    queue: Arc<MemQueue>,
    dedup: Arc<MemDedup>,
    app: axum::Router,
}

fn harness_with(config: WebhookConfig, capacity: usize) -> Harness {
    let queue = Arc::new(MemQueue::new(capacity));
    let dedup = Arc::new(MemDedup::default());
    let app = webhook_router(config, queue.clone(), dedup.clone());
    Harness { queue, dedup, app }
}

fn harness() -> Harness {
    harness_with(config(), 10_000)
}

async fn post(app: &axum::Router, body: Vec<u8>, signature: Option<&str>) -> StatusCode {
    let mut req = Request::post("/webhook").header("content-type", "application/json");
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    app.clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap()
        .status()
}

async fn post_signed(app: &axum::Router, payload: &serde_json::Value) -> StatusCode {
    let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), payload);
    post(app, body, Some(&sig)).await
}

fn user() -> FakeUser {
    FakeUser::phone("5215512345678")
}

fn events(q: &MemQueue) -> Vec<WebhookEvent> {
    q.jobs()
        .iter()
        .map(|j| {
            assert_eq!(j.kind, JOB_KIND);
            serde_json::from_slice(&j.payload).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn get_verification_answers_the_challenge() {
    let h = harness();
    let resp = h
        .app
        .clone()
        .oneshot(
            Request::get(
                "/webhook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"1158201444");
}

#[tokio::test]
async fn get_verification_refuses_wrong_token_mode_or_missing_challenge() {
    let h = harness();
    for uri in [
        "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "/webhook?hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "/webhook?hub.mode=subscribe&hub.verify_token=verify-me",
        "/webhook",
    ] {
        let resp = h
            .app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{uri}");
    }
}

#[tokio::test]
async fn get_verification_never_matches_an_empty_configured_token() {
    let h = harness_with(
        WebhookConfig {
            verify_token: String::new(),
            ..config()
        },
        10,
    );
    let resp = h
        .app
        .clone()
        .oneshot(
            Request::get("/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn good_signature_enqueues_the_event_with_a_pii_free_partition() {
    let h = harness();
    let payload = fake::text_message(PNID, &user(), "wamid.A1", 1_760_000_000, "hola");
    assert_eq!(post_signed(&h.app, &payload).await, StatusCode::OK);
    let jobs = h.queue.jobs();
    assert_eq!(jobs.len(), 1);
    let partition = jobs[0].partition.clone().expect("messages are partitioned");
    assert!(
        !partition.contains("5215512345678"),
        "no phone number in the partition"
    );
    assert_eq!(partition.len(), 16);
    let evs = events(&h.queue);
    let WebhookEvent::Message(m) = &evs[0] else {
        panic!("a message")
    };
    assert_eq!(m.id, "wamid.A1");
    assert_eq!(
        *h.dedup.last_ttl.lock().unwrap(),
        Some(std::time::Duration::from_secs(7 * 24 * 3600))
    );
}

#[tokio::test]
async fn same_user_same_partition_other_user_other_partition() {
    let h = harness();
    let other = FakeUser::phone("5215599999999");
    for (u, id) in [(user(), "w1"), (user(), "w2"), (other, "w3")] {
        let p = fake::text_message(PNID, &u, id, 1, "x");
        assert_eq!(post_signed(&h.app, &p).await, StatusCode::OK);
    }
    let jobs = h.queue.jobs();
    assert_eq!(jobs[0].partition, jobs[1].partition);
    assert_ne!(jobs[0].partition, jobs[2].partition);
}

#[tokio::test]
async fn missing_signature_is_401_and_bad_signature_403() {
    let h = harness();
    let payload = fake::text_message(PNID, &user(), "wamid.A2", 1, "hola");
    let (body, _) = fake::signed_webhook_body(SECRET.as_bytes(), &payload);
    assert_eq!(
        post(&h.app, body.clone(), None).await,
        StatusCode::UNAUTHORIZED
    );
    let wrong = sign(b"another-secret", &body);
    assert_eq!(
        post(&h.app, body.clone(), Some(&wrong)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&h.app, body, Some("sha256=nothex")).await,
        StatusCode::FORBIDDEN
    );
    assert!(
        h.queue.jobs().is_empty(),
        "nothing unauthenticated is enqueued"
    );
}

#[tokio::test]
async fn body_altered_by_one_byte_is_rejected() {
    let h = harness();
    let payload = fake::text_message(PNID, &user(), "wamid.A3", 1, "hola");
    let (mut body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), &payload);
    let i = body.iter().position(|&b| b == b'h').unwrap();
    body[i] = b'H';
    assert_eq!(post(&h.app, body, Some(&sig)).await, StatusCode::FORBIDDEN);
    assert!(h.queue.jobs().is_empty());
}

#[tokio::test]
async fn non_ascii_body_verifies_over_the_exact_bytes() {
    let h = harness();
    // Meta escapes non-ASCII as \uXXXX; a proxy may not. Both byte forms must verify as sent.
    let raw = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"{PNID}"}},"messages":[{{"from":"5215512345678","id":"wamid.U1","timestamp":"1","type":"text","text":{{"body":"Señora Núñez 🪪 ¿listo?"}}}}]}}}}]}}]}}"#
    );
    let escaped = raw
        .replace("ñ", "\\u00f1")
        .replace("Ñ", "\\u00d1")
        .replace("ú", "\\u00fa");
    for (i, body) in [raw, escaped].into_iter().enumerate() {
        let body = body.replace("wamid.U1", &format!("wamid.U1-{i}"));
        let sig = sign(SECRET.as_bytes(), body.as_bytes());
        assert_eq!(
            post(&h.app, body.into_bytes(), Some(&sig)).await,
            StatusCode::OK
        );
    }
    let evs = events(&h.queue);
    assert_eq!(evs.len(), 2);
    for e in evs {
        let WebhookEvent::Message(m) = e else {
            panic!()
        };
        assert!(matches!(
            m.content,
            kyc_flow_whatsapp::webhook::parse::MessageContent::Text { ref body } if body == "Señora Núñez 🪪 ¿listo?"
        ));
    }
}

#[tokio::test]
async fn a_batch_is_enqueued_in_payload_order_in_one_call() {
    let h = harness();
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [
            { "id": "1", "changes": [
                { "field": "messages", "value": {
                    "metadata": { "phone_number_id": PNID },
                    "contacts": [{ "wa_id": "5215500000001", "profile": { "name": "A" } }],
                    "messages": [
                        { "from": "5215500000001", "id": "m1", "timestamp": "1", "type": "text", "text": { "body": "1" } },
                        { "from": "5215500000001", "id": "m2", "timestamp": "2", "type": "text", "text": { "body": "2" } }
                    ]
                }},
                { "field": "messages", "value": {
                    "metadata": { "phone_number_id": PNID },
                    "statuses": [{ "id": "s1", "status": "delivered", "timestamp": "3", "recipient_id": "5215500000001" }]
                }}
            ]},
            { "id": "2", "changes": [
                { "field": "messages", "value": {
                    "metadata": { "phone_number_id": "other" },
                    "messages": [{ "from": "5215500000002", "id": "m3", "timestamp": "4", "type": "text", "text": { "body": "3" } }],
                    "errors": [{ "code": 131051, "title": "Unsupported message type" }]
                }}
            ]}
        ]
    });
    assert_eq!(post_signed(&h.app, &payload).await, StatusCode::OK);
    assert_eq!(h.queue.enqueue_calls.load(Ordering::SeqCst), 1);
    let kinds: Vec<String> = events(&h.queue)
        .iter()
        .map(|e| match e {
            WebhookEvent::Message(m) => format!("message:{}", m.id),
            WebhookEvent::Status(s) => format!("status:{}", s.id),
            WebhookEvent::Error(e) => format!("error:{}", e.error.code),
            WebhookEvent::Unknown(_) => "unknown".into(),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message:m1",
            "message:m2",
            "status:s1",
            "message:m3",
            "error:131051"
        ]
    );
}

#[tokio::test]
async fn meta_retries_are_acknowledged_but_not_enqueued_again() {
    let h = harness();
    let payload = fake::text_message(PNID, &user(), "wamid.D1", 1, "hola");
    assert_eq!(post_signed(&h.app, &payload).await, StatusCode::OK);
    assert_eq!(post_signed(&h.app, &payload).await, StatusCode::OK);
    assert_eq!(h.queue.jobs().len(), 1, "the retry is a duplicate");
    // A batch with one old and one new message enqueues only the new one.
    let mut batch = fake::text_message(PNID, &user(), "wamid.D1", 1, "hola");
    let second = fake::text_message(PNID, &user(), "wamid.D2", 2, "otra")["entry"][0]["changes"][0]
        ["value"]["messages"][0]
        .clone();
    batch["entry"][0]["changes"][0]["value"]["messages"]
        .as_array_mut()
        .unwrap()
        .push(second);
    assert_eq!(post_signed(&h.app, &batch).await, StatusCode::OK);
    let ids: Vec<String> = events(&h.queue)
        .into_iter()
        .map(|e| match e {
            WebhookEvent::Message(m) => m.id,
            _ => panic!(),
        })
        .collect();
    assert_eq!(ids, ["wamid.D1", "wamid.D2"]);
}

/// `sent`/`delivered`/`read` are only logged downstream: a retried one is enqueued again and
/// costs no de-duplication mark. A failed status (the runtime acts on a closed window) is
/// de-duplicated by id and status.
#[tokio::test]
async fn only_failed_statuses_take_a_deduplication_mark() {
    let h = harness();
    let u = user();
    for status in ["sent", "delivered", "delivered", "read"] {
        let p = fake::status_update(PNID, "wamid.OUT1", status, &u, 1, None);
        assert_eq!(post_signed(&h.app, &p).await, StatusCode::OK);
    }
    assert!(
        h.dedup.seen.lock().unwrap().is_empty(),
        "no marks for statuses"
    );
    for _ in 0..2 {
        let p = fake::status_update(PNID, "wamid.OUT2", "failed", &u, 2, Some(131047));
        assert_eq!(post_signed(&h.app, &p).await, StatusCode::OK);
    }
    assert_eq!(
        h.dedup.seen.lock().unwrap().len(),
        1,
        "one mark for the failure"
    );
    let statuses: Vec<String> = events(&h.queue)
        .into_iter()
        .map(|e| match e {
            WebhookEvent::Status(s) => s.status,
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        statuses,
        ["sent", "delivered", "delivered", "read", "failed"]
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let h = harness_with(
        WebhookConfig {
            body_limit: 1024,
            ..config()
        },
        10,
    );
    let big = fake::text_message(PNID, &user(), "wamid.BIG", 1, &"x".repeat(2000));
    let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), &big);
    assert_eq!(
        post(&h.app, body.clone(), Some(&sig)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Streamed in chunks with no Content-Length: the limit applies while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let req = Request::post("/webhook")
        .header("x-hub-signature-256", sig)
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.queue.jobs().is_empty());
}

#[tokio::test]
async fn full_queue_is_503_and_the_marks_are_taken_back() {
    let h = harness_with(config(), 0);
    let payload = fake::text_message(PNID, &user(), "wamid.F1", 1, "hola");
    let resp = {
        let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), &payload);
        h.app
            .clone()
            .oneshot(
                Request::post("/webhook")
                    .header("x-hub-signature-256", sig)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap()
    };
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(h.dedup.seen.lock().unwrap().is_empty(), "marks forgotten");
    // Meta retries once the queue has room: the event is not lost as a "duplicate".
    h.queue.capacity.store(10, Ordering::SeqCst);
    assert_eq!(post_signed(&h.app, &payload).await, StatusCode::OK);
    assert_eq!(h.queue.jobs().len(), 1);
}

#[tokio::test]
async fn dedup_store_down_is_503() {
    let h = harness();
    h.dedup.failing.store(true, Ordering::SeqCst);
    let payload = fake::text_message(PNID, &user(), "wamid.X1", 1, "hola");
    assert_eq!(
        post_signed(&h.app, &payload).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(h.queue.jobs().is_empty());
}

#[tokio::test]
async fn signed_content_not_understood_is_acknowledged_and_kept() {
    let h = harness();
    let odd = json!({ "object": "page", "entry": [{ "id": "1", "changes": [{ "field": "feed", "value": { "x": 1 } }] }] });
    assert_eq!(post_signed(&h.app, &odd).await, StatusCode::OK);
    let not_json = b"this is not json".to_vec();
    let sig = sign(SECRET.as_bytes(), &not_json);
    assert_eq!(post(&h.app, not_json, Some(&sig)).await, StatusCode::OK);
    let evs = events(&h.queue);
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| matches!(e, WebhookEvent::Unknown(_))));
}

#[test]
fn config_debug_hides_secrets() {
    let d = format!("{:?}", config());
    assert!(!d.contains("app-secret-for-tests"), "{d}");
    assert!(!d.contains("verify-me"), "{d}");
}

/// A body that sends `first` and then never finishes (a slow or hostile sender).
fn stalled_body(first: Vec<u8>) -> Body {
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(first) });
    Body::from_stream(head.chain(futures::stream::pending()))
}

#[tokio::test(start_paused = true)]
async fn unsigned_bodies_in_flight_are_capped_before_any_signature_check() {
    // Room for two unverified bodies of the declared size at once.
    let h = harness_with(
        WebhookConfig {
            body_limit: 4 * 1024,
            max_buffered_bytes: 8 * 1024,
            ..config()
        },
        10,
    );
    let slow = |len: usize| {
        Request::post("/webhook")
            .header("content-length", len.to_string())
            .header("x-hub-signature-256", "sha256=00")
            .body(stalled_body(vec![b'{'; 10]))
            .unwrap()
    };
    // Two trickling senders take the whole budget and wait on their bodies...
    let first = tokio::spawn(h.app.clone().oneshot(slow(4 * 1024)));
    let second = tokio::spawn(h.app.clone().oneshot(slow(4 * 1024)));
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    // ...so a third is refused at once, before its body is read.
    let third = h.app.clone().oneshot(slow(1024)).await.unwrap();
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(third.headers().contains_key("retry-after"));
    // The trickling ones are cut off by the body timeout (408), which frees the budget.
    assert_eq!(
        first.await.unwrap().unwrap().status(),
        StatusCode::REQUEST_TIMEOUT
    );
    assert_eq!(
        second.await.unwrap().unwrap().status(),
        StatusCode::REQUEST_TIMEOUT
    );
    let msg = fake::text_message(PNID, &user(), "wamid.AFTER", 1, "hola");
    assert_eq!(post_signed(&h.app, &msg).await, StatusCode::OK);
    assert_eq!(h.queue.jobs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_body_without_length_reserves_the_whole_limit() {
    let h = harness_with(
        WebhookConfig {
            body_limit: 4 * 1024,
            max_buffered_bytes: 6 * 1024,
            ..config()
        },
        10,
    );
    let chunked = || {
        Request::post("/webhook")
            .header("x-hub-signature-256", "sha256=00")
            .body(stalled_body(vec![b'{'; 10]))
            .unwrap()
    };
    let first = tokio::spawn(h.app.clone().oneshot(chunked()));
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    // 4 KiB of 6 are reserved: a second length-less body does not fit.
    let second = h.app.clone().oneshot(chunked()).await.unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        first.await.unwrap().unwrap().status(),
        StatusCode::REQUEST_TIMEOUT
    );
}
