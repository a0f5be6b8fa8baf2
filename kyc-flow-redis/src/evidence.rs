//! The Redis [`EvidenceStore`]: sealed blobs under hashed keys, expiring with `PX`.

use crate::error::RedisStoreError;
use crate::{Shared, ttl_ms};
use async_trait::async_trait;
use kyc_flow_core::EvidenceKey;
use kyc_flow_core::ports::{EvidenceStore, PortResult};
use std::sync::Arc;
use std::time::Duration;

/// Evidence blobs in Redis. Obtain from [`crate::RedisStorage::evidence`].
#[derive(Clone)]
pub struct RedisEvidenceStore {
    shared: Arc<Shared>,
}

impl RedisEvidenceStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The Redis key of an evidence item. Evidence keys embed a session's storage id, an
    /// unkeyed hash a dictionary of phone numbers could reverse, so it is hashed again with
    /// the secret.
    pub fn redis_key(&self, key: &EvidenceKey) -> String {
        let hash = self.shared.hasher.hash("evidence", key.0.as_bytes());
        self.shared.keys.item("e", &hash)
    }
}

fn context(redis_key: &str) -> Vec<u8> {
    format!("evidence|{redis_key}").into_bytes()
}

impl std::fmt::Debug for RedisEvidenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEvidenceStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl EvidenceStore for RedisEvidenceStore {
    async fn put(&self, key: &EvidenceKey, bytes: &[u8], ttl: Duration) -> PortResult<()> {
        let rkey = self.redis_key(key);
        let sealed = self.shared.sealer.seal(bytes, &context(&rkey))?;
        let mut conn = self.shared.conn.clone();
        redis::cmd("SET")
            .arg(&rkey)
            .arg(sealed)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(())
    }

    async fn get(&self, key: &EvidenceKey) -> PortResult<Option<Vec<u8>>> {
        let rkey = self.redis_key(key);
        let mut conn = self.shared.conn.clone();
        let sealed: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&rkey)
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        match sealed {
            Some(s) => Ok(Some(self.shared.sealer.open(&s, &context(&rkey))?)),
            None => Ok(None),
        }
    }

    async fn delete(&self, key: &EvidenceKey) -> PortResult<bool> {
        let mut conn = self.shared.conn.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n > 0)
    }
}
