//! The Redis [`Deduplicator`]: `SET key 1 NX PX ttl`; forgetting is `DEL`.

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
        let hash = self.shared.hasher.hash("dedup", key.as_bytes());
        self.shared.keys.item("d", &hash)
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
