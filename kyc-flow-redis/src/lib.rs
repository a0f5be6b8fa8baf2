//! Redis adapters for kyc-flow: session store, job queue on streams, timers, de-duplication,
//! leases, PII encryption at rest.
//!
//! Why it looks the way it does:
//! - **One [`RedisStorage`] handle, many ports.** It owns the connection (a
//!   [`RedisConnection`]: a [`redis::aio::ConnectionManager`] that reconnects by itself, or a
//!   Redis Cluster connection when [`RedisConfig::cluster`] lists seed nodes), the encryption
//!   keys and the key layout; [`RedisStorage::sessions`], [`RedisStorage::queue`], … hand out
//!   cheap adapters that share it, so a process opens one multiplexed connection, not five.
//! - **Nothing in Redis is readable PII.** Session values, evidence, job payloads and timer
//!   entries are sealed with XChaCha20-Poly1305 ([`Sealer`]); key names are keyed hashes
//!   ([`KeyHasher`]), never phone numbers.
//! - **Every multi-step change is one Lua script**, so compare-and-set, all-or-nothing
//!   enqueue, retry, dead-lettering and timer claims are atomic without WATCH loops.
//! - **Blocking queue reads use their own connections** (a small pool), because a `BLOCK`ed
//!   command on the shared multiplexed connection would stall every other caller behind it —
//!   on a cluster too (a cluster connection of their own each).
//! - **Cluster-safe by construction.** Every script, transaction and pipeline touches keys of
//!   one hash tag (`{jobs}`, `{timers}`, `{review}`, `{faces}`) or a single key, so it runs on
//!   one slot; the one keyspace-wide read (the session scan of reports) visits every master.
//!
//! Key layout, queue semantics and scaling notes: `docs/STORAGE.md`.

mod config;
mod connection;
mod crypto;
mod dedup;
mod error;
mod evidence;
mod face_index;
mod inbox;
mod leases;
mod queue;
mod reply;
mod review;
mod sessions;
mod timers;

pub use config::{
    DEDUP_RETENTION, DEFAULT_REDIS_URL, EncryptionKey, InvalidSetting, REDIS_URL_ENV, RedisConfig,
};
pub use connection::{RedisConnection, ScanTarget};
pub use crypto::{KeyHasher, Sealer};
pub use dedup::RedisDeduplicator;
pub use error::RedisStoreError;
pub use evidence::RedisEvidenceStore;
pub use face_index::RedisFaceIndex;
pub use leases::RedisLeaseStore;
pub use queue::{DeadLetter, RedisJobQueue, Redriven};
pub use review::RedisReviewQueue;
pub use sessions::RedisSessionStore;
pub use timers::RedisTimerStore;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection to Redis plus everything the adapters share. Cheap to clone.
#[derive(Clone)]
pub struct RedisStorage {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) conn: RedisConnection,
    /// Where blocking reads open their own connections.
    pub(crate) endpoint: Endpoint,
    pub(crate) sealer: Sealer,
    pub(crate) hasher: KeyHasher,
    pub(crate) keys: Keys,
    pub(crate) config: RedisConfig,
    /// Idle connections for blocking stream reads (see the crate docs).
    pub(crate) blocking: Mutex<Vec<RedisConnection>>,
    /// The main job queue's keys and hints (see `RedisJobQueue`).
    pub(crate) main_queue: Arc<QueueState>,
    /// Lanes opened so far by name ([`RedisStorage::lane`]), so every handle on one lane
    /// shares its hints.
    pub(crate) lanes: Mutex<HashMap<String, Arc<QueueState>>>,
}

/// What blocking reads connect to: the single endpoint, or the cluster through a client
/// without a response timeout (the caller bounds a blocked read itself).
pub(crate) enum Endpoint {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// One queue's keys and the hints its handles share.
pub(crate) struct QueueState {
    pub(crate) stream: String,
    pub(crate) delayed: String,
    pub(crate) delayed_jobs: String,
    /// Shared by the main queue and every lane: operators look in one place.
    pub(crate) dead: String,
    /// When the queue should next look for due delayed retries (see `RedisJobQueue`).
    pub(crate) promote_at: Mutex<std::time::Instant>,
    /// When `reclaim` should next look for consumers of dead processes (see `RedisJobQueue`).
    pub(crate) prune_at: Mutex<std::time::Instant>,
}

impl QueueState {
    fn new(stream: String, dead: String) -> Self {
        Self {
            delayed: format!("{stream}:delayed"),
            delayed_jobs: format!("{stream}:delayed-jobs"),
            stream,
            dead,
            promote_at: Mutex::new(std::time::Instant::now()),
            prune_at: Mutex::new(std::time::Instant::now()),
        }
    }
}

/// Key names under the configured prefix. Queue and timer keys share a hash tag each, so the
/// scripts that touch several of them stay on one slot of a Redis Cluster.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    pub(crate) stream: String,
    pub(crate) delayed: String,
    pub(crate) delayed_jobs: String,
    pub(crate) dead: String,
    pub(crate) timers_due: String,
    pub(crate) timers_entries: String,
    pub(crate) review_order: String,
    pub(crate) review_cases: String,
}

impl Keys {
    fn new(prefix: &str, stream: &str) -> Self {
        let q = format!("{prefix}{{{stream}}}");
        let t = format!("{prefix}{{timers}}");
        let r = format!("{prefix}{{review}}");
        Self {
            prefix: prefix.to_owned(),
            stream: q.clone(),
            delayed: format!("{q}:delayed"),
            delayed_jobs: format!("{q}:delayed-jobs"),
            dead: format!("{q}:dead"),
            timers_due: format!("{t}:due"),
            timers_entries: format!("{t}:entries"),
            review_order: format!("{r}:order"),
            review_cases: format!("{r}:cases"),
        }
    }

    /// A lane's stream: `{prefix}{stream}:lane:{name}`, in the main queue's hash slot (its
    /// scripts also touch the shared dead-letter stream).
    pub(crate) fn lane_stream(&self, name: &str) -> String {
        format!("{}:lane:{name}", self.stream)
    }

    /// A de-duplication mark: `{prefix}{stream}:d:{hash}`, in the queue's hash slot, so the
    /// script that marks and enqueues in one step ([`RedisJobQueue`]'s `Inbox`) touches one
    /// slot of a Redis Cluster.
    pub(crate) fn dedup_mark(&self, hash: &str) -> String {
        format!("{}:d:{hash}", self.stream)
    }

    /// `{prefix}{kind}:{hash}` for per-item keys (sessions `s`, evidence `e`, leases `l`).
    pub(crate) fn item(&self, kind: &str, hash: &str) -> String {
        format!("{}{kind}:{hash}", self.prefix)
    }
}

impl RedisStorage {
    /// Check the configuration, connect, and make sure the consumer group exists.
    pub async fn connect(config: RedisConfig) -> Result<Self, RedisStoreError> {
        let sealer = Sealer::new(&config.encryption_keys, config.active_key_id)?;
        let hasher = KeyHasher::new(&config.key_hash_secret)?;
        if config.stream.is_empty() || config.group.is_empty() {
            return Err(RedisStoreError::Config(
                "stream and group names must not be empty".into(),
            ));
        }
        let (conn, endpoint) = connect_to(&config).await?;
        let keys = Keys::new(&config.key_prefix, &config.stream);
        let main_queue = Arc::new(QueueState {
            delayed: keys.delayed.clone(),
            delayed_jobs: keys.delayed_jobs.clone(),
            ..QueueState::new(keys.stream.clone(), keys.dead.clone())
        });
        let storage = Self {
            shared: Arc::new(Shared {
                conn,
                endpoint,
                sealer,
                hasher,
                keys,
                config,
                blocking: Mutex::new(Vec::new()),
                main_queue,
                lanes: Mutex::new(HashMap::new()),
            }),
        };
        storage.queue().ensure_group().await?;
        Ok(storage)
    }

    /// The session store.
    pub fn sessions(&self) -> RedisSessionStore {
        RedisSessionStore::new(self.shared.clone())
    }

    /// The evidence store.
    pub fn evidence(&self) -> RedisEvidenceStore {
        RedisEvidenceStore::new(self.shared.clone())
    }

    /// The job queue (stream and group from the configuration).
    pub fn queue(&self) -> RedisJobQueue {
        RedisJobQueue::new(self.shared.clone(), self.shared.main_queue.clone())
    }

    /// A lane: a job queue of its own (stream `{stream}:lane:{name}`, same consumer group
    /// name, capacity and encryption as the main queue) whose workers are separate, so slow
    /// jobs enqueued there never wait ahead of the main queue's. Its dead letters go to the
    /// main queue's dead-letter stream, where `kyc-flow dlq` lists them; a re-driven one
    /// returns to the main queue (every worker runs every job kind). Creates the stream and
    /// group on first use. `name`: ASCII letters, digits, `-` and `_`.
    pub async fn lane(&self, name: &str) -> Result<RedisJobQueue, RedisStoreError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(RedisStoreError::Config(format!(
                "lane name `{name}`: use ASCII letters, digits, `-` and `_`"
            )));
        }
        let state = lock(&self.shared.lanes)
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(QueueState::new(
                    self.shared.keys.lane_stream(name),
                    self.shared.keys.dead.clone(),
                ))
            })
            .clone();
        let queue = RedisJobQueue::new(self.shared.clone(), state);
        queue.ensure_group().await?;
        Ok(queue)
    }

    /// The timer store.
    pub fn timers(&self) -> RedisTimerStore {
        RedisTimerStore::new(self.shared.clone())
    }

    /// The de-duplicator.
    pub fn dedup(&self) -> RedisDeduplicator {
        RedisDeduplicator::new(self.shared.clone())
    }

    /// The cases awaiting manual review.
    pub fn reviews(&self) -> RedisReviewQueue {
        RedisReviewQueue::new(self.shared.clone())
    }

    /// The per-conversation lease store.
    pub fn leases(&self) -> RedisLeaseStore {
        RedisLeaseStore::new(self.shared.clone())
    }

    /// The configuration in use.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }

    /// A handle on the shared connection (single endpoint or cluster), for commands of an
    /// operator's own; cheap to clone.
    pub fn connection(&self) -> RedisConnection {
        self.shared.conn.clone()
    }

    /// Round trip to Redis (for readiness probes); on a cluster, to every node.
    pub async fn ping(&self) -> Result<(), RedisStoreError> {
        let mut conn = self.shared.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

impl std::fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// The shared connection and the endpoint of blocking reads, as the configuration asks:
/// a single Redis at `url`, or the cluster seeded by `cluster`.
async fn connect_to(config: &RedisConfig) -> Result<(RedisConnection, Endpoint), RedisStoreError> {
    let response = Duration::from_millis(config.response_timeout_ms);
    let connect = Duration::from_millis(config.connect_timeout_ms);
    config
        .check()
        .map_err(|e| RedisStoreError::Config(e.to_string()))?;
    if config.cluster.is_empty() {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|_| RedisStoreError::Config("`url`: does not parse".into()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response))
            .set_connection_timeout(Some(connect))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config).await?;
        return Ok((RedisConnection::Single(conn), Endpoint::Single(client)));
    }
    let builder = || {
        ClusterClientBuilder::new(config.cluster.clone())
            .connection_timeout(connect)
            .retries(3)
    };
    let invalid = |e: redis::RedisError| {
        RedisStoreError::Config(format!(
            "`cluster`: the seed nodes do not make one client ({})",
            e.category()
        ))
    };
    let shared = builder()
        .response_timeout(response)
        .build()
        .map_err(invalid)?;
    // Blocking reads: no response timeout at all (`overall_response_timeout` would otherwise
    // follow `response_timeout`); `reserve` bounds each blocked read itself.
    let blocking = builder()
        .overall_response_timeout(None)
        .build()
        .map_err(invalid)?;
    let conn = shared.get_async_connection().await?;
    Ok((
        RedisConnection::Cluster(conn),
        Endpoint::Cluster(Box::new(blocking)),
    ))
}

/// Lock a mutex, recovering from poisoning (the pool holds no invariant a panic could break).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds for Redis, at least 1: `PX 0` is an error and `PEXPIRE 0` deletes.
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_core::{EvidenceKey, SessionKey, UserRef};

    /// Key names are a storage contract: a change here orphans every stored value, so it must
    /// be deliberate (and come with a migration).
    #[test]
    fn key_layout_is_stable() {
        let keys = Keys::new("kyc-flow:", "jobs");
        let hasher = KeyHasher::new(&"5a".repeat(32)).unwrap();
        let session = SessionKey::new(
            "bank-a",
            "100200300",
            UserRef::Phone("5215512345678".into()),
        );
        let layout = [
            (
                "session",
                keys.item("s", &hasher.hash("session", session.canonical().as_bytes())),
            ),
            (
                "evidence",
                keys.item(
                    "e",
                    &hasher.hash(
                        "evidence",
                        EvidenceKey::portrait(&session.storage_id()).0.as_bytes(),
                    ),
                ),
            ),
            (
                "dedup",
                keys.dedup_mark(&hasher.hash("dedup", b"wamid.HBgM")),
            ),
            (
                "timer member",
                format!(
                    "{}:reminder",
                    hasher.hash("timer", session.canonical().as_bytes())
                ),
            ),
            ("stream", keys.stream.clone()),
            ("delayed", keys.delayed.clone()),
            ("delayed jobs", keys.delayed_jobs.clone()),
            ("dead letters", keys.dead.clone()),
            ("lane stream", keys.lane_stream("analyses")),
            ("timers due", keys.timers_due.clone()),
            ("timer entries", keys.timers_entries.clone()),
            ("review order", keys.review_order.clone()),
            ("review cases", keys.review_cases.clone()),
        ];
        insta::assert_debug_snapshot!(layout);
    }
}
