//! The Redis [`LeaseStore`]: `SET name owner NX PX ttl`, with renewal and release as scripts
//! that check the owner first (so a holder whose lease expired cannot touch its successor's).

use crate::error::RedisStoreError;
use crate::{Shared, ttl_ms};
use async_trait::async_trait;
use kyc_flow_core::ports::{LeaseStore, PortResult};
use redis::Script;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// KEYS[1] lease; ARGV: owner, TTL ms. 1 when `owner` holds it afterwards.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
",
    )
});

/// KEYS[1] lease; ARGV: owner, TTL ms. 1 when renewed.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// KEYS[1] lease; ARGV: owner.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
",
    )
});

/// Leases in Redis. Obtain from [`crate::RedisStorage::leases`].
#[derive(Clone)]
pub struct RedisLeaseStore {
    shared: Arc<Shared>,
}

impl RedisLeaseStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Names are hashed like every other key (callers' names may embed identifiers).
    fn redis_key(&self, name: &str) -> String {
        let hash = self.shared.hasher.hash("lease", name.as_bytes());
        self.shared.keys.item("l", &hash)
    }

    async fn run(
        &self,
        script: &Script,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> PortResult<bool> {
        let mut conn = self.shared.conn.clone();
        let n: i64 = script
            .key(self.redis_key(name))
            .arg(owner)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n == 1)
    }
}

impl std::fmt::Debug for RedisLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLeaseStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl LeaseStore for RedisLeaseStore {
    async fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        self.run(&ACQUIRE, name, owner, ttl).await
    }

    async fn renew(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        self.run(&RENEW, name, owner, ttl).await
    }

    async fn release(&self, name: &str, owner: &str) -> PortResult<()> {
        self.run(&RELEASE, name, owner, Duration::ZERO)
            .await
            .map(|_| ())
    }
}
