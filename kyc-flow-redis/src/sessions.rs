//! The Redis [`SessionStore`]: one hash per session (`v` version, `d` sealed JSON), written by
//! a compare-and-set script, expiring with `PEXPIRE`.

use crate::error::RedisStoreError;
use crate::{Shared, ttl_ms};
use async_trait::async_trait;
use kyc_flow_core::SessionKey;
use kyc_flow_core::ports::{PortError, PortResult, SessionStore, Versioned};
use kyc_flow_core::session::Session;
use redis::Script;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// KEYS[1] session hash; ARGV: expected version ('' = must be absent), new version, sealed
/// value, TTL in ms. Returns 1, or -1 when the stored version is not the expected one.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if cur then return -1 end
elseif cur ~= ARGV[1] then
  return -1
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
",
    )
});

/// Sessions in Redis. Obtain from [`crate::RedisStorage::sessions`].
#[derive(Clone)]
pub struct RedisSessionStore {
    shared: Arc<Shared>,
}

impl RedisSessionStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The Redis key of a session: a keyed hash of its canonical form, never the number.
    pub fn redis_key(&self, key: &SessionKey) -> String {
        let hash = self
            .shared
            .hasher
            .hash("session", key.canonical().as_bytes());
        self.shared.keys.item("s", &hash)
    }
}

impl RedisSessionStore {
    /// Every session stored under this prefix, read with `SCAN` (no blocking `KEYS`) in batches
    /// of `batch`, opened and handed to `each`: for reports ([`kyc_flow_core::funnel`]), not for
    /// the request path. A session written meanwhile may be seen in either version; one that
    /// no longer opens (a key rotated out) is counted in the returned number of skipped ones.
    pub async fn scan(
        &self,
        batch: usize,
        mut each: impl FnMut(Session) + Send,
    ) -> PortResult<u64> {
        let mut conn = self.shared.conn.clone();
        let pattern = format!("{}*", self.shared.keys.item("s", ""));
        let mut cursor: u64 = 0;
        let mut skipped = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(batch.max(1))
                .query_async(&mut conn)
                .await
                .map_err(RedisStoreError::from)?;
            for rkey in keys {
                let (version, sealed): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
                    .arg(&rkey)
                    .arg("v")
                    .arg("d")
                    .query_async(&mut conn)
                    .await
                    .map_err(RedisStoreError::from)?;
                let (Some(version), Some(sealed)) = (version, sealed) else {
                    continue; // expired between SCAN and HMGET
                };
                let opened = self
                    .shared
                    .sealer
                    .open(&sealed, &context(&rkey, version))
                    .ok()
                    .and_then(|json| serde_json::from_slice::<Session>(&json).ok());
                match opened {
                    Some(session) => each(session),
                    None => skipped += 1,
                }
            }
            if next == 0 {
                return Ok(skipped);
            }
            cursor = next;
        }
    }
}

/// The sealed value is bound to its key and version, so a value restored from another key or
/// an older write does not open.
fn context(redis_key: &str, version: u64) -> Vec<u8> {
    format!("session|{redis_key}|{version}").into_bytes()
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn load(&self, key: &SessionKey) -> PortResult<Option<Versioned<Session>>> {
        let rkey = self.redis_key(key);
        let mut conn = self.shared.conn.clone();
        let (version, sealed): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(&rkey)
            .arg("v")
            .arg("d")
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        let (Some(version), Some(sealed)) = (version, sealed) else {
            return Ok(None);
        };
        let json = self.shared.sealer.open(&sealed, &context(&rkey, version))?;
        let value = serde_json::from_slice(&json).map_err(|e| {
            RedisStoreError::Encoding(format!("stored session does not deserialize: {e}"))
        })?;
        Ok(Some(Versioned { value, version }))
    }

    async fn save(
        &self,
        key: &SessionKey,
        session: &Session,
        expected: Option<u64>,
        ttl: Duration,
    ) -> PortResult<u64> {
        let rkey = self.redis_key(key);
        // The script only swaps versions; computing the next one here lets the value be sealed
        // for exactly the version it will be stored under.
        let version = match expected {
            None => 1,
            Some(v) => v
                .checked_add(1)
                .ok_or_else(|| PortError::conflict("version space exhausted"))?,
        };
        let json = serde_json::to_vec(session)
            .map_err(|e| RedisStoreError::Encoding(format!("session does not serialize: {e}")))?;
        let sealed = self.shared.sealer.seal(&json, &context(&rkey, version))?;
        let mut conn = self.shared.conn.clone();
        let outcome: i64 = SAVE
            .key(&rkey)
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(version)
            .arg(sealed)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        if outcome == 1 {
            Ok(version)
        } else {
            Err(PortError::conflict(match expected {
                None => "session already exists",
                Some(_) => "session version changed",
            }))
        }
    }

    async fn delete(&self, key: &SessionKey) -> PortResult<bool> {
        let mut conn = self.shared.conn.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n > 0)
    }
}
