//! A Redis that lost its data (flushed, restarted without persistence, failed over to an empty
//! replica) is recovered from on the error itself: the consumer group is recreated by the first
//! worker call that finds it missing (`tests/script_flush.rs`: Lua scripts are loaded again
//! after `SCRIPT FLUSH`).
//! Regression for issue 15: workers failed on `NOGROUP` in their first call of every poll
//! (`reclaim`), never reached the code that recreated the group, and 1,185 of 1,185 accepted
//! messages went unanswered until a restart.
//!
//! Only this test's own keys are deleted (never `FLUSHALL`: other tests share the server).
//! Each test runs again on a local Redis Cluster (`on_cluster::…`; needs
//! `/usr/bin/redis-server`).

#[macro_use]
mod common;

use common::RedisHarness;
use kyc_flow_core::ports::{JobQueue, NewJob};
use kyc_flow_redis::RedisJobQueue;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn job(payload: &str) -> NewJob {
    NewJob {
        kind: "test".into(),
        partition: None,
        payload: payload.as_bytes().to_vec(),
    }
}

/// What the engine's worker loop does each poll (`Engine::work_once`): reclaim idle deliveries,
/// else reserve new ones; ack what it took; on an error back off and poll again.
fn spawn_worker(
    queue: RedisJobQueue,
    done: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
) -> tokio::sync::watch::Sender<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while !*stopped.borrow() {
            let taken = match queue.reclaim("worker-1", Duration::from_secs(60), 10).await {
                Ok(d) if !d.is_empty() => Ok(d),
                Ok(_) => {
                    queue
                        .reserve("worker-1", 10, Duration::from_millis(100))
                        .await
                }
                Err(e) => Err(e),
            };
            match taken {
                Ok(deliveries) => {
                    for d in deliveries {
                        queue.ack(&d.id).await.unwrap();
                        done.lock()
                            .unwrap()
                            .push(String::from_utf8(d.job.payload).unwrap());
                    }
                }
                Err(e) => {
                    errors.lock().unwrap().push(e.to_string());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    stop
}

async fn wait_for(done: &Mutex<Vec<String>>, payload: &str) -> bool {
    for _ in 0..200 {
        if done.lock().unwrap().iter().any(|p| p == payload) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn delete_own_keys(h: &RedisHarness) -> usize {
    h.delete_all()
}

async fn workers_recreate_the_consumer_group_after_redis_lost_its_data(h: RedisHarness) {
    let storage = h.storage(1000).await;
    let queue = storage.queue();
    let done = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let stop = spawn_worker(queue.clone(), done.clone(), errors.clone());

    queue.enqueue(vec![job("before")]).await.unwrap();
    assert!(wait_for(&done, "before").await, "processed before the loss");

    // Redis loses everything of ours, mid-run: stream, group, pending entries.
    assert!(delete_own_keys(&h) > 0);
    // The webhook side keeps enqueueing (XADD recreates the stream, without the group)...
    queue.enqueue(vec![job("after-1")]).await.unwrap();
    queue.enqueue(vec![job("after-2")]).await.unwrap();
    // ...and the running worker recovers by itself: no restart, nothing lost.
    let recovered = wait_for(&done, "after-1").await && wait_for(&done, "after-2").await;
    let _ = stop.send(true);
    assert!(
        recovered,
        "jobs enqueued after the loss were not processed; worker errors: {:?}",
        errors.lock().unwrap()
    );
    // Each job processed once.
    let done = done.lock().unwrap().clone();
    assert_eq!(done, ["before", "after-1", "after-2"]);
}

async fn a_reclaim_on_a_missing_group_recreates_it_instead_of_failing(h: RedisHarness) {
    let storage = h.storage(1000).await;
    let queue = storage.queue();
    delete_own_keys(&h);
    // Before the fix: `NOGROUP` here, on every poll.
    let reclaimed = queue
        .reclaim("worker-1", Duration::from_secs(60), 10)
        .await
        .expect("reclaim recreates the group");
    assert!(reclaimed.is_empty());
    queue.enqueue(vec![job("next")]).await.unwrap();
    let got = queue
        .reserve("worker-1", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.payload, b"next");
}

on_single_and_cluster!(
    workers_recreate_the_consumer_group_after_redis_lost_its_data,
    a_reclaim_on_a_missing_group_recreates_it_instead_of_failing
);
