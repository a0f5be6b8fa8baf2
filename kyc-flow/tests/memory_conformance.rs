//! The in-memory storage adapters against the storage conformance suite.

use async_trait::async_trait;
use kyc_flow::memory::{
    MemoryDeduplicator, MemoryEvidenceStore, MemoryJobQueue, MemoryLeaseStore, MemorySessionStore,
    MemoryTimerStore,
};
use kyc_flow_core::conformance::storage::{self, StorageHarness};
use kyc_flow_core::ports::{
    Deduplicator, EvidenceStore, JobQueue, LeaseStore, NewJob, SessionStore, TimerStore,
};
use std::sync::Arc;
use std::time::Duration;

struct Memory;

#[async_trait]
impl StorageHarness for Memory {
    async fn session_store(&self) -> Arc<dyn SessionStore> {
        Arc::new(MemorySessionStore::new())
    }
    async fn evidence_store(&self) -> Arc<dyn EvidenceStore> {
        Arc::new(MemoryEvidenceStore::new())
    }
    async fn job_queue(&self, capacity: usize) -> Arc<dyn JobQueue> {
        Arc::new(MemoryJobQueue::new(capacity))
    }
    async fn timer_store(&self) -> Arc<dyn TimerStore> {
        Arc::new(MemoryTimerStore::new())
    }
    async fn deduplicator(&self) -> Arc<dyn Deduplicator> {
        Arc::new(MemoryDeduplicator::new())
    }
    async fn lease_store(&self) -> Arc<dyn LeaseStore> {
        Arc::new(MemoryLeaseStore::new())
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test]
async fn sessions() {
    storage::sessions(&Memory).await;
}

#[tokio::test]
async fn evidence() {
    storage::evidence(&Memory).await;
}

#[tokio::test]
async fn queue() {
    storage::queue(&Memory).await;
}

#[tokio::test]
async fn timers() {
    storage::timers(&Memory).await;
}

#[tokio::test]
async fn dedup() {
    storage::dedup(&Memory).await;
}

#[tokio::test]
async fn inbox() {
    storage::inbox(&Memory).await;
}

#[tokio::test]
async fn leases() {
    storage::leases(&Memory).await;
}

/// Dead letters are kept with their reason for an operator (not visible through the port).
#[tokio::test]
async fn dead_letters_are_inspectable() {
    let q = MemoryJobQueue::new(10);
    q.enqueue(vec![NewJob {
        kind: "k".into(),
        partition: None,
        payload: b"p".to_vec(),
    }])
    .await
    .unwrap();
    let d = q.reserve("w", 1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!(q.in_flight_for("w"), 1);
    q.dead_letter(&d, "unparseable").await.unwrap();
    let dead = q.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].delivery, d);
    assert_eq!(dead[0].reason, "unparseable");
    assert!(
        q.is_empty(),
        "a dead letter no longer counts against capacity"
    );
}

/// Blocked reservers on several threads share jobs without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservers_share_without_duplicates() {
    let q = Arc::new(MemoryJobQueue::new(1_000));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let q = q.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = q
                        .reserve(&format!("w{w}"), 7, Duration::from_millis(200))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    for d in batch {
                        q.ack(&d.id).await.unwrap();
                        got.push(d.job.payload);
                    }
                }
            })
        })
        .collect();
    for chunk in 0..20u8 {
        let jobs = (0..10u8)
            .map(|i| NewJob {
                kind: "k".into(),
                partition: None,
                payload: vec![chunk, i],
            })
            .collect();
        q.enqueue(jobs).await.unwrap();
        tokio::task::yield_now().await;
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "no job delivered twice");
    assert_eq!(all.len(), 200, "every job delivered");
}

#[tokio::test]
async fn debug_output_has_no_keys() {
    let store = MemorySessionStore::new();
    let key = storage::sample_key(42);
    store
        .save(
            &key,
            &storage::sample_session(&key, 1),
            None,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let dbg = format!("{store:?}");
    assert!(!dbg.contains(key.user.raw()), "{dbg}");
    assert_eq!(store.len(), 1);
}

struct MemoryReviews;

#[async_trait]
impl kyc_flow_core::conformance::review::ReviewHarness for MemoryReviews {
    async fn review_queue(&self) -> Arc<dyn kyc_flow_core::ports::ReviewQueue> {
        Arc::new(kyc_flow::memory::MemoryReviewQueue::new())
    }
}

#[tokio::test]
async fn reviews() {
    kyc_flow_core::conformance::review::run_all(&MemoryReviews).await;
}
