//! The Redis [`Deduplicator`]: `SET key 1 NX PX ttl`; forgetting is `DEL`. The marks are the
//! same keys the queue's one-step inbox (`RedisJobQueue` as an `Inbox`) sets, so a message is
//! marked once whichever path saw it.

use crate::error::RedisStoreError;
use crate::{Shared, ttl_ms};
use async_trait::async_trait;
use kyc_flow_core::ports::{Deduplicator, PortResult};
use redis::Value;
use std::sync::Arc;
use std::time::Duration;

/// De-duplication marks in Redis. Obtain from [`crate::RedisStorage::dedup`]; use
/// [`crate::DEDUP_RETENTION`] (7 days) as the TTL for webhook deliveries.
#[derive(Clone)]
pub struct RedisDeduplicator {
    shared: Arc<Shared>,
}

impl RedisDeduplicator {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Marks are hashed: callers' keys may embed identifiers, and hashing bounds their length.
    fn redis_key(&self, key: &str) -> String {
        mark_key(&self.shared, key)
    }
}

impl std::fmt::Debug for RedisDeduplicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDeduplicator").finish_non_exhaustive()
    }
}

#[async_trait]
impl Deduplicator for RedisDeduplicator {
    async fn first_seen(&self, key: &str, ttl: Duration) -> PortResult<bool> {
        let mut conn = self.shared.conn.clone();
        let reply: Value = redis::cmd("SET")
            .arg(self.redis_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(reply != Value::Nil)
    }

    async fn forget(&self, key: &str) -> PortResult<()> {
        let mut conn = self.shared.conn.clone();
        redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async::<()>(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(())
    }
}

/// The Redis key of the mark for `key`: a keyed hash under the main queue's hash tag.
pub(crate) fn mark_key(shared: &Shared, key: &str) -> String {
    let hash = shared.hasher.hash("dedup", key.as_bytes());
    shared.keys.dedup_mark(&hash)
}
