//! The Redis [`ReviewQueue`]: a sorted set of case ids by filing time (`{review}:order`) and a
//! hash of sealed cases (`{review}:cases`), changed together by scripts. Both keys share the
//! `{review}` hash tag, so the scripts stay on one slot of a Redis Cluster.

use crate::Shared;
use crate::error::RedisStoreError;
use async_trait::async_trait;
use kyc_flow_core::ports::{PortResult, ReviewCase, ReviewQueue};
use redis::Script;
use std::sync::{Arc, LazyLock};

/// KEYS: order, cases; ARGV: id, score (ms), sealed case.
static OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
",
    )
});

/// KEYS: order, cases; ARGV: id. Returns how many cases were removed (0 or 1).
static CLOSE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
",
    )
});

/// Review cases in Redis. Obtain from [`crate::RedisStorage::reviews`].
#[derive(Clone)]
pub struct RedisReviewQueue {
    shared: Arc<Shared>,
}

impl RedisReviewQueue {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn seal(&self, case: &ReviewCase) -> Result<Vec<u8>, RedisStoreError> {
        let json = serde_json::to_vec(case)
            .map_err(|e| RedisStoreError::Encoding(format!("review case: {e}")))?;
        self.shared.sealer.seal(&json, &context(&case.id))
    }

    fn open_sealed(&self, id: &str, sealed: &[u8]) -> Result<ReviewCase, RedisStoreError> {
        let json = self.shared.sealer.open(sealed, &context(id))?;
        serde_json::from_slice(&json)
            .map_err(|e| RedisStoreError::Encoding(format!("stored review case: {e}")))
    }
}

/// A sealed case is bound to its id: a value copied under another id does not open.
fn context(id: &str) -> Vec<u8> {
    format!("review|{id}").into_bytes()
}

impl std::fmt::Debug for RedisReviewQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReviewQueue").finish_non_exhaustive()
    }
}

#[async_trait]
impl ReviewQueue for RedisReviewQueue {
    async fn open(&self, case: &ReviewCase) -> PortResult<()> {
        let sealed = self.seal(case)?;
        let keys = &self.shared.keys;
        let mut conn = self.shared.conn.clone();
        OPEN.key(&keys.review_order)
            .key(&keys.review_cases)
            .arg(&case.id)
            .arg(case.queued_at.0)
            .arg(sealed)
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(())
    }

    async fn close(&self, id: &str) -> PortResult<bool> {
        let keys = &self.shared.keys;
        let mut conn = self.shared.conn.clone();
        let n: i64 = CLOSE
            .key(&keys.review_order)
            .key(&keys.review_cases)
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n > 0)
    }

    async fn get(&self, id: &str) -> PortResult<Option<ReviewCase>> {
        let mut conn = self.shared.conn.clone();
        let sealed: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(&self.shared.keys.review_cases)
            .arg(id)
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(match sealed {
            Some(s) => Some(self.open_sealed(id, &s)?),
            None => None,
        })
    }

    async fn list(&self, offset: usize, limit: usize) -> PortResult<Vec<ReviewCase>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = &self.shared.keys;
        let mut conn = self.shared.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&keys.review_order)
            .arg(offset)
            .arg(offset.saturating_add(limit - 1))
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sealed: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&keys.review_cases)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        let mut out = Vec::with_capacity(ids.len());
        // A case closed between the two reads is simply not listed.
        for (id, s) in ids.iter().zip(sealed) {
            if let Some(s) = s {
                out.push(self.open_sealed(id, &s)?);
            }
        }
        Ok(out)
    }

    async fn count(&self) -> PortResult<usize> {
        let mut conn = self.shared.conn.clone();
        let n: usize = redis::cmd("HLEN")
            .arg(&self.shared.keys.review_cases)
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n)
    }
}
