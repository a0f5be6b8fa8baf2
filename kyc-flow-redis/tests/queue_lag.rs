//! The queue's lag (`RedisJobQueue::oldest_age`, the `kyc_flow_queue_lag_seconds` gauge) on a
//! real Redis (needs Redis at `REDIS_URL`; skipped loudly without it unless `CI` is set).

mod common;

use common::RedisHarness;
use kyc_flow_core::ports::{JobQueue, NewJob};
use std::time::Duration;

fn job(n: u8) -> NewJob {
    NewJob {
        kind: "engine.event".into(),
        partition: Some(format!("p{n}")),
        payload: vec![n],
    }
}

#[tokio::test]
async fn the_lag_is_the_age_of_the_oldest_job_not_yet_done() {
    let Some(h) = RedisHarness::new("the_lag_is_the_age_of_the_oldest_job_not_yet_done").await
    else {
        return;
    };
    let q = h.storage(100).await.queue();
    assert_eq!(q.oldest_age().await.unwrap(), None, "empty: no lag");

    q.enqueue(vec![job(1)]).await.unwrap();
    let first = q.oldest_age().await.unwrap().expect("one job waiting");
    tokio::time::sleep(Duration::from_millis(30)).await;
    q.enqueue(vec![job(2)]).await.unwrap();
    let later = q.oldest_age().await.unwrap().expect("two jobs waiting");
    // Still the first job's age (it keeps growing), not the newer one's.
    assert!(
        later >= first + Duration::from_millis(25),
        "{first:?} then {later:?}"
    );

    // In flight still counts; done does not.
    let taken = q.reserve("w", 1, Duration::from_secs(1)).await.unwrap();
    assert!(q.oldest_age().await.unwrap().is_some());
    q.ack(&taken[0].id).await.unwrap();
    let rest = q.oldest_age().await.unwrap().expect("the second job");
    assert!(rest < later + Duration::from_secs(3600));
    let taken = q.reserve("w", 1, Duration::from_secs(1)).await.unwrap();
    q.ack(&taken[0].id).await.unwrap();
    assert_eq!(q.oldest_age().await.unwrap(), None, "all done");
}
