//! Shared test support: a Redis harness with a unique key prefix per test, cleaned up on drop.

#![allow(dead_code)]

use async_trait::async_trait;
use kyc_flow_core::conformance::storage::StorageHarness;
use kyc_flow_core::ports::{
    Deduplicator, EvidenceStore, JobQueue, LeaseStore, SessionStore, TimerStore,
};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_redis_testkit::LocalCluster;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The local cluster the tests of one binary share while any of them runs: started by the
/// first, killed when the last one drops it.
static CLUSTER: Mutex<Weak<LocalCluster>> = Mutex::new(Weak::new());

fn shared_cluster(test: &str) -> Option<Arc<LocalCluster>> {
    let mut slot = CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(c) = slot.upgrade() {
        return Some(c);
    }
    let c = Arc::new(LocalCluster::start_or_skip(test)?);
    *slot = Arc::downgrade(&c);
    Some(c)
}

/// One test's slice of Redis: every storage it hands out lives under
/// `kyc-flow-test:{random}:{n}:`, and everything under `kyc-flow-test:{random}:` is deleted
/// when the harness is dropped (also when the test panicked).
pub struct RedisHarness {
    pub url: String,
    /// The local Redis Cluster the harness runs on ([`RedisHarness::on_cluster`]).
    pub cluster: Option<Arc<LocalCluster>>,
    run: String,
    next: AtomicU32,
    secrets: RedisConfig,
}

impl RedisHarness {
    /// `None` (after a loud message) when Redis is unreachable and `CI` is not set; under
    /// `CI=true` an unreachable Redis fails the test.
    pub async fn new(test: &str) -> Option<Self> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let reachable = async {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<()>(&mut conn).await.ok()
        };
        let up = tokio::time::timeout(Duration::from_secs(3), reachable)
            .await
            .ok()
            .flatten()
            .is_some();
        if !up {
            let url = RedisConfig {
                url: url.clone(),
                ..RedisConfig::default()
            }
            .redacted_url();
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("Redis at {url} is unreachable and CI is set: failing {test}");
            }
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests,
            // which would make the skip silent.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING {test}: Redis at {url} is unreachable \
                 (set REDIS_URL, or CI=true to fail) !!!!!!!!\n"
            );
            return None;
        }
        Some(Self::with(url, None))
    }

    /// A harness on a local three-master Redis Cluster (shared by the tests of this binary
    /// that run at the same time). `None` after a banner when `redis-server` is not installed
    /// and `CI` is not set.
    pub async fn on_cluster(test: &str) -> Option<Self> {
        let cluster = tokio::task::block_in_place(|| shared_cluster(test))?;
        let url = cluster.urls()[0].clone();
        Some(Self::with(url, Some(cluster)))
    }

    fn with(url: String, cluster: Option<Arc<LocalCluster>>) -> Self {
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).unwrap();
        Self {
            url,
            cluster,
            run: format!("kyc-flow-test:{}:", hex::encode(id)),
            next: AtomicU32::new(0),
            secrets: RedisConfig::with_random_secrets().unwrap(),
        }
    }

    /// A configuration under a fresh prefix, sharing this harness's secrets.
    pub fn config(&self, capacity: usize) -> RedisConfig {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RedisConfig {
            url: self.url.clone(),
            cluster: self.cluster.as_ref().map(|c| c.urls()).unwrap_or_default(),
            key_prefix: format!("{}{n}:", self.run),
            capacity,
            ..self.secrets.clone()
        }
    }

    /// Connected storage under a fresh prefix.
    pub async fn storage(&self, capacity: usize) -> RedisStorage {
        RedisStorage::connect(self.config(capacity))
            .await
            .expect("connect to redis")
    }

    /// The prefix every key of this harness starts with.
    pub fn run_prefix(&self) -> &str {
        &self.run
    }

    /// The endpoints to look at directly: the one Redis, or every node of the cluster.
    fn node_urls(&self) -> Vec<String> {
        match &self.cluster {
            Some(c) => c.urls(),
            None => vec![self.url.clone()],
        }
    }

    /// All keys of this harness (synchronous: also used from `Drop`), on every node.
    pub fn keys(&self) -> Vec<String> {
        self.keys_by_node()
            .into_iter()
            .flat_map(|(_, k)| k)
            .collect()
    }

    /// The keys of this harness per node URL (one entry on a single Redis).
    pub fn keys_by_node(&self) -> Vec<(String, Vec<String>)> {
        self.node_urls()
            .into_iter()
            .map(|url| {
                let client = redis::Client::open(url.as_str()).unwrap();
                let mut conn = client.get_connection().unwrap();
                let iter: redis::Iter<String> = redis::cmd("SCAN")
                    .cursor_arg(0)
                    .arg("MATCH")
                    .arg(format!("{}*", self.run))
                    .arg("COUNT")
                    .arg(1000)
                    .clone()
                    .iter(&mut conn)
                    .unwrap();
                let keys = iter.map(|k| k.unwrap()).collect();
                (url, keys)
            })
            .collect()
    }
}

impl RedisHarness {
    /// Deletes every key of this harness (what a Redis that lost its data looks like to it);
    /// returns how many there were.
    pub fn delete_all(&self) -> usize {
        let mut n = 0;
        for (url, keys) in self.keys_by_node() {
            if keys.is_empty() {
                continue;
            }
            n += keys.len();
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_connection().unwrap();
            if self.cluster.is_some() {
                // Keys of different slots cannot go in one DEL on a cluster node.
                for key in keys {
                    let _: () = redis::cmd("DEL").arg(key).query(&mut conn).unwrap();
                }
            } else {
                for chunk in keys.chunks(500) {
                    let _: () = redis::cmd("DEL").arg(chunk).query(&mut conn).unwrap();
                }
            }
        }
        n
    }
}

impl Drop for RedisHarness {
    fn drop(&mut self) {
        self.delete_all();
    }
}

#[async_trait]
impl StorageHarness for RedisHarness {
    async fn session_store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.storage(100).await.sessions())
    }
    async fn evidence_store(&self) -> Arc<dyn EvidenceStore> {
        Arc::new(self.storage(100).await.evidence())
    }
    async fn job_queue(&self, capacity: usize) -> Arc<dyn JobQueue> {
        Arc::new(self.storage(capacity).await.queue())
    }
    async fn timer_store(&self) -> Arc<dyn TimerStore> {
        Arc::new(self.storage(100).await.timers())
    }
    async fn deduplicator(&self) -> Arc<dyn Deduplicator> {
        Arc::new(self.storage(100).await.dedup())
    }
    async fn lease_store(&self) -> Arc<dyn LeaseStore> {
        Arc::new(self.storage(100).await.leases())
    }
    /// The queue itself is the inbox (marks and enqueue in one script).
    async fn inbox(
        &self,
        capacity: usize,
    ) -> (Arc<dyn kyc_flow_core::ports::Inbox>, Arc<dyn JobQueue>) {
        let queue = self.storage(capacity).await.queue();
        (Arc::new(queue.clone()), Arc::new(queue))
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

#[async_trait]
impl kyc_flow_core::conformance::review::ReviewHarness for RedisHarness {
    async fn review_queue(&self) -> Arc<dyn kyc_flow_core::ports::ReviewQueue> {
        Arc::new(self.storage(100).await.reviews())
    }
}

/// Runs each `async fn name(h: RedisHarness)` of the calling test file twice: as
/// `single::name` against the Redis at `REDIS_URL`, and as `on_cluster::name` against a local
/// three-master Redis Cluster ([`RedisHarness::on_cluster`]).
#[allow(unused_macros)]
macro_rules! on_single_and_cluster {
    ($($name:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) = crate::common::RedisHarness::new(stringify!($name)).await {
                        super::$name(h).await;
                    }
                }
            )*
        }
        mod on_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) =
                        crate::common::RedisHarness::on_cluster(stringify!($name)).await
                    {
                        super::$name(h).await;
                    }
                }
            )*
        }
    };
}
