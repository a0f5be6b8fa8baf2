//! The Redis adapters on a real Redis Cluster: three masters on loopback ports, started by the
//! test from `/usr/bin/redis-server` (`kyc-flow-redis-testkit`), joined with `redis-cli
//! --cluster create`, killed when the last test of this binary is done. Skipped with a banner
//! when `redis-server` is not installed, unless `CI` is set, where it fails.
//!
//! The same conformance suites as against a single Redis (`tests/conformance.rs`), plus what
//! only a cluster can get wrong: keys spread over every master while each script, transaction
//! and pipeline stays on one slot, the report's session scan visiting every master, lanes and
//! dead letters sharing the queue's hash tag, blocked reads routed to the stream's master.

mod common;

use common::RedisHarness;
use kyc_flow_core::conformance::storage;
use kyc_flow_core::ports::{JobQueue, NewJob, SessionStore};
use kyc_flow_redis::{RedisConfig, RedisStorage, RedisStoreError, Redriven};
use std::time::Duration;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(h) = RedisHarness::on_cluster(stringify!($name)).await else { return };
            storage::$name(&h).await;
            drop(h);
        }
    )*};
}

suite!(sessions, evidence, queue, timers, dedup, leases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews() {
    let Some(h) = RedisHarness::on_cluster("reviews").await else {
        return;
    };
    kyc_flow_core::conformance::review::run_all(&h).await;
    drop(h);
}

fn job(kind: &str, payload: &[u8]) -> NewJob {
    NewJob {
        kind: kind.into(),
        partition: Some("p1".into()),
        payload: payload.to_vec(),
    }
}

/// Sessions land on every master, and the report's scan finds every one of them: a `SCAN` on
/// one node would see about a third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_every_master_and_the_scan_visits_them_all() {
    let Some(h) = RedisHarness::on_cluster("sessions_spread_over_every_master").await else {
        return;
    };
    let storage = h.storage(100).await;
    let sessions = storage.sessions();
    let n = 60u32;
    for i in 0..n {
        let key = storage::sample_key(i);
        sessions
            .save(
                &key,
                &storage::sample_session(&key, u64::from(i)),
                None,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
    }
    let per_node = h.keys_by_node();
    assert_eq!(per_node.len(), 3);
    for (node, keys) in &per_node {
        assert!(
            !keys.is_empty(),
            "no session on {node}: keys are not spread ({per_node:?})"
        );
    }
    let mut seen = Vec::new();
    let skipped = sessions
        .scan(7, |s| seen.push(s.seq))
        .await
        .expect("scan every master");
    seen.sort_unstable();
    assert_eq!(skipped, 0);
    assert_eq!(seen, (0..u64::from(n)).collect::<Vec<_>>());
}

/// A lane's stream and the main queue's dead-letter stream share the `{jobs}` tag: a lane's
/// job dead-lettered, listed and re-driven into the main queue, every step one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_job_is_dead_lettered_listed_and_redriven_on_a_cluster() {
    let Some(h) = RedisHarness::on_cluster("a_lane_job_is_dead_lettered").await else {
        return;
    };
    let storage = h.storage(100).await;
    let lane = storage.lane("analyses").await.unwrap();
    let main = storage.queue();
    lane.enqueue(vec![job("vision.analyse", b"photo-1")])
        .await
        .unwrap();
    let d = lane
        .reserve("w", 1, Duration::from_secs(2))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.job.payload, b"photo-1");
    // The lane's lag (the `/metrics` gauge) reads on a cluster too: the job is in flight.
    assert!(lane.oldest_age().await.unwrap().is_some());
    // Retry with a delay goes through the lane's delayed set and comes back.
    lane.retry(&d, Duration::from_millis(50)).await.unwrap();
    let d = lane
        .reserve("w", 1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempt, 2);
    lane.dead_letter(&d, "engine gave up").await.unwrap();
    let letters = main.dead_letters(usize::MAX).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].reason, "engine gave up");
    let got = main
        .redrive_dead_letter(&letters[0].id, |_| {})
        .await
        .unwrap();
    assert!(matches!(got, Redriven::Requeued(_)), "{got:?}");
    let again = main
        .reserve("w", 1, Duration::from_secs(2))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.job.payload, b"photo-1");
    assert_eq!(again.attempt, 1);
    main.ack(&again.id).await.unwrap();
    assert_eq!(main.backlog().await.unwrap(), 0);
    assert_eq!(lane.backlog().await.unwrap(), 0);
    assert_eq!(lane.oldest_age().await.unwrap(), None);
}

/// Readers blocked on dedicated cluster connections wake for entries enqueued on the shared
/// one, and share them without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_readers_on_a_cluster_share_entries_without_duplicates() {
    let Some(h) = RedisHarness::on_cluster("blocked_readers_on_a_cluster").await else {
        return;
    };
    let storage = h.storage(1000).await;
    let mut readers = Vec::new();
    for r in 0..4 {
        let q = storage.queue();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                let batch = q
                    .reserve(&format!("r{r}"), 5, Duration::from_millis(500))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    idle += 1;
                }
                for d in batch {
                    q.ack(&d.id).await.unwrap();
                    got.push(String::from_utf8(d.job.payload).unwrap());
                }
            }
            got
        }));
    }
    // Let the readers block first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let q = storage.queue();
    for chunk in 0..10 {
        let jobs = (0..10)
            .map(|i| job("t", format!("{}", chunk * 10 + i).as_bytes()))
            .collect();
        q.enqueue(jobs).await.unwrap();
    }
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await.unwrap());
    }
    all.sort_by_key(|p| p.parse::<u32>().unwrap());
    assert_eq!(all, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// Readiness pings every node; the shared connection answers commands routed anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reaches_the_cluster() {
    let Some(h) = RedisHarness::on_cluster("ping_reaches_the_cluster").await else {
        return;
    };
    let storage = h.storage(10).await;
    storage.ping().await.unwrap();
    assert!(storage.connection().is_cluster());
}

/// Cluster settings that cannot work are refused before connecting, naming the key.
#[tokio::test]
async fn cluster_misconfiguration_names_the_key() {
    let base = RedisConfig {
        cluster: vec![
            "redis://127.0.0.1:1".into(),
            "not a url".into(),
            "redis://127.0.0.1:3".into(),
        ],
        ..RedisConfig::with_random_secrets().unwrap()
    };
    let err = RedisStorage::connect(base.clone()).await.unwrap_err();
    assert!(
        matches!(&err, RedisStoreError::Config(m) if m.contains("`cluster[1]`")),
        "{err}"
    );
    let with_db = RedisConfig {
        cluster: vec!["redis://:pw-3c1d@127.0.0.1:1/2".into()],
        ..base
    };
    let err = RedisStorage::connect(with_db).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, RedisStoreError::Config(m) if m.contains("`cluster[0]`")),
        "{text}"
    );
    assert!(!text.contains("pw-3c1d"), "{text}");
}
