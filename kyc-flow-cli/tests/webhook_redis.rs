//! The webhook endpoint on the Redis adapters `serve` runs: when the queue cannot take the
//! events it answers 503 (so Meta retries) and takes its de-duplication marks back, so the
//! retry is enqueued instead of being dropped as "already seen" (issue 15 measured 1,185
//! accepted messages lost that way). Skips loudly without Redis unless `CI` is set; touches only
//! keys under its own random prefix. Run on both routers: the split one (a de-duplicator and a
//! queue) and `serve`'s (the queue as an inbox: marks and enqueue in one script).

use axum::body::Body;
use http::{Request, StatusCode};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_redis_testkit::OwnPrefix;
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{WebhookConfig, webhook_router, webhook_router_with_inbox};
use std::sync::Arc;
use tower::ServiceExt;

const SECRET: &str = "app-secret-for-tests";

/// The Redis adapters under a prefix of this test's own (deleted after it).
async fn storage() -> Option<(RedisStorage, OwnPrefix)> {
    let own = OwnPrefix::reserve_or_skip("webhook_redis")?;
    let config = RedisConfig {
        url: own.url().to_owned(),
        key_prefix: own.prefix().to_owned(),
        ..RedisConfig::with_random_secrets().unwrap()
    };
    let connect = RedisStorage::connect(config);
    let storage = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
        .await
        .expect("Redis answered PING but the adapters did not connect in time")
        .expect("Redis adapters");
    Some((storage, own))
}

fn connection(own: &OwnPrefix) -> redis::Connection {
    redis::Client::open(own.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

async fn post(app: &axum::Router, payload: &serde_json::Value) -> StatusCode {
    let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), payload);
    app.clone()
        .oneshot(
            Request::post("/webhook")
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

fn config() -> WebhookConfig {
    WebhookConfig {
        verify_token: "verify-me".into(),
        app_secret: SECRET.into(),
        tenant: "bank-a".into(),
        ..WebhookConfig::default()
    }
}

#[tokio::test]
async fn a_failed_enqueue_is_503_and_the_retry_is_not_lost_as_a_duplicate() {
    let Some((storage, own)) = storage().await else {
        return;
    };
    let queue = storage.queue();
    let app = webhook_router(config(), Arc::new(queue.clone()), Arc::new(storage.dedup()));
    failed_enqueue_then_retry(&app, &queue, &own).await;
}

#[tokio::test]
async fn on_the_one_step_inbox_a_failed_enqueue_is_503_and_the_retry_is_not_lost() {
    let Some((storage, own)) = storage().await else {
        return;
    };
    let queue = storage.queue();
    let app = webhook_router_with_inbox(config(), Arc::new(queue.clone()));
    failed_enqueue_then_retry(&app, &queue, &own).await;
    // The inbox and the de-duplicator share their marks: one per message.
    use kyc_flow_core::ports::Deduplicator as _;
    assert!(
        !storage
            .dedup()
            .first_seen("bank-a:wa:msg:wamid.R1", std::time::Duration::from_secs(60))
            .await
            .unwrap(),
        "the inbox's mark is the de-duplicator's"
    );
    let marks = own
        .keys()
        .expect("redis-cli --scan")
        .into_iter()
        .filter(|k| k.starts_with(&format!("{}{{jobs}}:d:", own.prefix())))
        .count();
    assert_eq!(marks, 1, "one de-duplication mark for one message");
}

/// At the queue's cap the webhook answers 503 and marks nothing, so Meta's retry is enqueued
/// once there is room.
#[tokio::test]
async fn on_the_one_step_inbox_a_full_queue_is_503_and_leaves_no_mark() {
    let Some((storage, own)) = storage().await else {
        return;
    };
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let small = RedisStorage::connect(RedisConfig {
        url,
        key_prefix: own.prefix().to_owned(),
        capacity: 1,
        ..storage.config().clone()
    })
    .await
    .unwrap();
    let queue = small.queue();
    let app = webhook_router_with_inbox(config(), Arc::new(queue.clone()));
    let user = FakeUser::phone("5215512345678");
    let first = fake::text_message("106540352242922", &user, "wamid.F1", 1, "hola");
    let second = fake::text_message("106540352242922", &user, "wamid.F2", 2, "otra");
    assert_eq!(post(&app, &first).await, StatusCode::OK);
    assert_eq!(post(&app, &second).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        queue.backlog().await.unwrap(),
        1,
        "the refused one is not in"
    );
    use kyc_flow_core::ports::JobQueue as _;
    let got = queue
        .reserve("t", 10, std::time::Duration::from_millis(50))
        .await
        .unwrap();
    for d in got {
        queue.ack(&d.id).await.unwrap();
    }
    assert_eq!(
        post(&app, &second).await,
        StatusCode::OK,
        "Meta's retry once there is room"
    );
    assert_eq!(
        queue.backlog().await.unwrap(),
        1,
        "enqueued, not taken for a duplicate"
    );
}

async fn failed_enqueue_then_retry(
    app: &axum::Router,
    queue: &kyc_flow_redis::RedisJobQueue,
    own: &OwnPrefix,
) {
    let payload = fake::text_message(
        "106540352242922",
        &FakeUser::phone("5215512345678"),
        "wamid.R1",
        1,
        "hola",
    );
    // The stream key holds a value of the wrong type: every enqueue fails (WRONGTYPE).
    let stream = format!("{}{{jobs}}", own.prefix());
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query(&mut connection(own))
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&stream)
        .arg("not a stream")
        .query(&mut connection(own))
        .unwrap();
    assert_eq!(post(app, &payload).await, StatusCode::SERVICE_UNAVAILABLE);
    // The queue is back; Meta's retry of the same delivery is enqueued, not skipped.
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query(&mut connection(own))
        .unwrap();
    assert_eq!(post(app, &payload).await, StatusCode::OK);
    assert_eq!(queue.backlog().await.unwrap(), 1, "the retry was enqueued");
    // And a second retry now is a duplicate: nothing more is enqueued.
    assert_eq!(post(app, &payload).await, StatusCode::OK);
    assert_eq!(queue.backlog().await.unwrap(), 1);
}
