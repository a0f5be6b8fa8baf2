//! `serve`'s webhook inbox — the Redis queue's one-script inbox behind a [`CoalescingInbox`]
//! (concurrent deliveries share a call) — against the storage conformance suite's inbox checks.
//! (Its unit tests check the grouping itself over an inbox in memory, with a property test.)

mod support;

use async_trait::async_trait;
use kyc_flow_core::conformance::storage::{self, StorageHarness};
use kyc_flow_core::ports::{
    Deduplicator, EvidenceStore, Inbox, JobQueue, LeaseStore, SessionStore, TimerStore,
};
use kyc_flow_redis::RedisStorage;
use kyc_flow_redis_testkit::OwnPrefix;
use kyc_flow_whatsapp::{CoalesceConfig, CoalescingInbox};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Two calls in flight and small calls, so the suite's concurrent callers are grouped and split.
const GROUPING: CoalesceConfig = CoalesceConfig {
    in_flight: 2,
    max_items: 8,
};

/// Fresh Redis adapters per instance, each under a prefix of its own (kept until the end).
struct Redis {
    prefixes: Mutex<Vec<OwnPrefix>>,
}

impl Redis {
    async fn storage(&self) -> RedisStorage {
        self.storage_holding(100).await
    }

    async fn storage_holding(&self, capacity: usize) -> RedisStorage {
        let (storage, own) = support::redis_storage_with_capacity("inbox_grouped", Some(capacity))
            .await
            .expect("Redis was reachable when the test started");
        self.prefixes.lock().unwrap().push(own);
        storage
    }
}

#[async_trait]
impl StorageHarness for Redis {
    async fn session_store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.storage().await.sessions())
    }
    async fn evidence_store(&self) -> Arc<dyn EvidenceStore> {
        Arc::new(self.storage().await.evidence())
    }
    async fn job_queue(&self, capacity: usize) -> Arc<dyn JobQueue> {
        Arc::new(self.storage_holding(capacity).await.queue())
    }
    async fn timer_store(&self) -> Arc<dyn TimerStore> {
        Arc::new(self.storage().await.timers())
    }
    async fn deduplicator(&self) -> Arc<dyn Deduplicator> {
        Arc::new(self.storage().await.dedup())
    }
    async fn lease_store(&self) -> Arc<dyn LeaseStore> {
        Arc::new(self.storage().await.leases())
    }
    async fn inbox(&self, capacity: usize) -> (Arc<dyn Inbox>, Arc<dyn JobQueue>) {
        let queue = Arc::new(self.storage_holding(capacity).await.queue());
        (
            Arc::new(CoalescingInbox::new(queue.clone(), GROUPING)),
            queue,
        )
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_redis_inbox_passes_the_inbox_checks() {
    if support::redis_storage("inbox_grouped").await.is_none() {
        return;
    }
    storage::inbox(&Redis {
        prefixes: Mutex::new(Vec::new()),
    })
    .await;
}
