//! Consumers of dead processes are removed from the stream's group: every worker start adds a
//! consumer name (host, pid, index), and 57 of them had piled up in a measured run. Their
//! pending entries are claimed first; a consumer is never deleted while entries of its own are
//! left unclaimed. Each test runs again on a local Redis Cluster (`on_cluster::…`; needs
//! `/usr/bin/redis-server`).

#[macro_use]
mod common;

use common::RedisHarness;
use kyc_flow_core::ports::{JobQueue, NewJob};
use kyc_flow_redis::{RedisJobQueue, RedisStorage};
use std::collections::BTreeMap;
use std::time::Duration;

fn job(payload: &str) -> NewJob {
    NewJob {
        kind: "test".into(),
        partition: None,
        payload: payload.as_bytes().to_vec(),
    }
}

/// Consumer name → pending entries, as Redis reports them.
async fn consumers(storage: &RedisStorage) -> BTreeMap<String, i64> {
    let config = storage.config();
    let stream = format!("{}{{{}}}", config.key_prefix, config.stream);
    let mut conn = storage.connection();
    let rows: Vec<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(&stream)
        .arg(&config.group)
        .query_async(&mut conn)
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let name: String = redis::from_redis_value(r["name"].clone()).unwrap();
            let pending: i64 = redis::from_redis_value(r["pending"].clone()).unwrap();
            (name, pending)
        })
        .collect()
}

async fn queue_with_limit(h: &RedisHarness, dead_after: Duration) -> (RedisStorage, RedisJobQueue) {
    let config = kyc_flow_redis::RedisConfig {
        dead_consumer_after_ms: u64::try_from(dead_after.as_millis()).unwrap(),
        ..h.config(1000)
    };
    let storage = RedisStorage::connect(config).await.unwrap();
    let queue = storage.queue();
    (storage, queue)
}

async fn a_starting_worker_claims_the_entries_of_dead_consumers_and_deletes_them(h: RedisHarness) {
    let (storage, queue) = queue_with_limit(&h, Duration::from_millis(200)).await;
    queue
        .enqueue(vec![job("a"), job("b"), job("c")])
        .await
        .unwrap();
    // A process that died holding two jobs, and one that died with nothing pending.
    let held = queue
        .reserve("dead-1", 2, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    let done = queue
        .reserve("dead-2", 1, Duration::from_secs(1))
        .await
        .unwrap();
    queue.ack(&done[0].id).await.unwrap();
    assert_eq!(
        consumers(&storage).await,
        BTreeMap::from([("dead-1".into(), 2), ("dead-2".into(), 0)])
    );
    tokio::time::sleep(Duration::from_millis(400)).await;

    // A new worker's first poll: the dead consumers' jobs come back to it as redeliveries,
    // and only the live consumer is left in the group.
    let reclaimed = queue
        .reclaim("live", Duration::from_millis(100), 10)
        .await
        .unwrap();
    let mut payloads: Vec<_> = reclaimed
        .iter()
        .map(|d| (String::from_utf8(d.job.payload.clone()).unwrap(), d.attempt))
        .collect();
    payloads.sort();
    assert_eq!(payloads, [("a".to_owned(), 2), ("b".to_owned(), 2)]);
    assert_eq!(
        consumers(&storage).await,
        BTreeMap::from([("live".into(), 2)])
    );
}

async fn a_dead_consumer_keeps_its_name_while_entries_of_its_own_are_unclaimed(h: RedisHarness) {
    let (storage, queue) = queue_with_limit(&h, Duration::from_secs(3600)).await;
    queue
        .enqueue(vec![job("a"), job("b"), job("c")])
        .await
        .unwrap();
    queue
        .reserve("dead-1", 2, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A live worker that just took a job: far from idle.
    let took = queue
        .reserve("young", 1, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(took.len(), 1);
    // One entry claimed per pass: after the first the consumer still has one and stays.
    let pass = |max| queue.remove_dead_consumers("live", Duration::from_millis(200), max);
    assert_eq!(pass(1).await.unwrap(), (0, 1));
    let now = consumers(&storage).await;
    assert_eq!(now.get("dead-1"), Some(&1), "{now:?}");
    assert_eq!(now.get("live"), Some(&1), "{now:?}");
    assert_eq!(pass(1).await.unwrap(), (1, 1));
    // The dead consumer is gone; the young one and its job are left alone, and the claimer
    // never removes itself.
    assert_eq!(
        consumers(&storage).await,
        BTreeMap::from([("live".into(), 2), ("young".into(), 1)])
    );
}

on_single_and_cluster!(
    a_starting_worker_claims_the_entries_of_dead_consumers_and_deletes_them,
    a_dead_consumer_keeps_its_name_while_entries_of_its_own_are_unclaimed
);
