//! The Redis [`SessionStore`]: one hash per session (`v` version, `d` sealed session), written
//! by a compare-and-set script, expiring with `PEXPIRE`.
//!
//! The sealed plaintext is the session's JSON deflated behind a one-byte tag ([`DEFLATED`]):
//! a mid-flow session's JSON is about 2 KB of repeated field names and ids, and what Redis
//! holds per user is what bounds how many conversations one node serves. Values written
//! before (plain JSON, whose first byte is `{`) still load.

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

/// The tag of a deflated session (raw DEFLATE of its JSON follows). Plain JSON starts with `{`.
const DEFLATED: u8 = 1;
/// Compression level. A session is compressed on every save (several per event). On a
/// 2,606-byte mid-flow session (2026-12-04, release build, thread CPU time): level 1 gives
/// 952 bytes in 17.7 µs, level 6 gives 881 bytes in 30.7 µs; inflating takes 7.7 µs.
const DEFLATE_LEVEL: u8 = 1;
/// Largest inflated session accepted: far above any real one, and a bound on what a corrupt
/// or hostile value can make a worker allocate.
const MAX_SESSION_JSON: usize = 4 * 1024 * 1024;

/// The plaintext stored for a session's JSON.
fn encode_session(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() / 2);
    out.push(DEFLATED);
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(json, DEFLATE_LEVEL));
    out
}

/// A stored plaintext back to the session's JSON: deflated, or plain JSON as written before.
fn decode_session(plain: Vec<u8>) -> Result<Vec<u8>, RedisStoreError> {
    match plain.split_first() {
        Some((&DEFLATED, rest)) => {
            miniz_oxide::inflate::decompress_to_vec_with_limit(rest, MAX_SESSION_JSON).map_err(
                |e| RedisStoreError::Encoding(format!("stored session does not inflate: {e}")),
            )
        }
        _ => Ok(plain),
    }
}

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
    /// the request path. On a Redis Cluster every master is scanned in turn (a `SCAN` sees only
    /// the node it runs on; sessions spread over all slots). A session written meanwhile may
    /// be seen in either version, and one moved between masters by a resharding during the scan
    /// may be missed or seen twice; one that no longer opens (a key rotated out) is counted in
    /// the returned number of skipped ones.
    pub async fn scan(
        &self,
        batch: usize,
        mut each: impl FnMut(Session) + Send,
    ) -> PortResult<u64> {
        let mut conn = self.shared.conn.clone();
        let pattern = format!("{}*", self.shared.keys.item("s", ""));
        let mut skipped = 0u64;
        for target in conn.scan_targets().await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = conn
                    .query_on(
                        &target,
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(batch.max(1)),
                    )
                    .await?;
                for rkey in keys {
                    match self.read(&mut conn, &rkey).await {
                        Ok(Some(stored)) => each(stored.value),
                        Ok(None) => {} // expired between SCAN and HMGET
                        Err(e @ RedisStoreError::Redis(_)) => return Err(e.into()),
                        Err(_) => skipped += 1,
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(skipped)
    }
}

impl RedisSessionStore {
    /// One stored session by its Redis key: read, opened (key- and version-bound), inflated and
    /// parsed; `None` when there is none.
    async fn read(
        &self,
        conn: &mut crate::connection::RedisConnection,
        rkey: &str,
    ) -> Result<Option<Versioned<Session>>, RedisStoreError> {
        let (version, sealed): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(rkey)
            .arg("v")
            .arg("d")
            .query_async(conn)
            .await?;
        let (Some(version), Some(sealed)) = (version, sealed) else {
            return Ok(None);
        };
        let json = decode_session(self.shared.sealer.open(&sealed, &context(rkey, version))?)?;
        let value = serde_json::from_slice(&json).map_err(|e| {
            RedisStoreError::Encoding(format!("stored session does not deserialize: {e}"))
        })?;
        Ok(Some(Versioned { value, version }))
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
        let mut conn = self.shared.conn.clone();
        Ok(self.read(&mut conn, &self.redis_key(key)).await?)
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
        let sealed = self
            .shared
            .sealer
            .seal(&encode_session(&json), &context(&rkey, version))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_stored_deflated_and_plain_json_still_decodes() {
        let json = br#"{"schema":3,"id":"x","state":{"at":"new"},"seq":1,"seq2":1}"#.repeat(20);
        let stored = encode_session(&json);
        assert_eq!(stored[0], DEFLATED);
        assert!(stored.len() < json.len() / 4, "{} bytes", stored.len());
        assert_eq!(decode_session(stored).unwrap(), json);
        // A value written before this encoding: plain JSON.
        assert_eq!(decode_session(json.clone()).unwrap(), json);
    }

    #[test]
    fn a_corrupt_deflated_session_is_an_encoding_error() {
        let err = decode_session(vec![DEFLATED, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(err, RedisStoreError::Encoding(_)), "{err}");
    }
}
