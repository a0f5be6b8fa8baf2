//! The Redis [`TimerStore`]: a sorted set by fire time plus a hash of sealed entries; claiming
//! due timers is one script, so concurrent pollers never share a timer.

use crate::Shared;
use crate::error::RedisStoreError;
use crate::reply;
use async_trait::async_trait;
use kyc_flow_core::ports::{PortResult, TimerEntry, TimerStore};
use kyc_flow_core::{SessionKey, Timestamp};
use redis::{Script, Value};
use std::sync::{Arc, LazyLock};

/// KEYS: due zset, entries hash; ARGV: fire_at ms, member, sealed entry.
static SCHEDULE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
",
    )
});

/// KEYS: due zset, entries hash; ARGV: member. Returns 1 if a timer was pending.
static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return n
",
    )
});

/// KEYS: due zset, entries hash; ARGV: now ms, max. Removes up to `max` due timers, earliest
/// first, and returns `member, sealed entry` pairs.
static TAKE_DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, m in ipairs(due) do
  local e = redis.call('HGET', KEYS[2], m)
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  if e then
    out[#out + 1] = m
    out[#out + 1] = e
  end
end
return out
",
    )
});

/// Timers in Redis. Obtain from [`crate::RedisStorage::timers`].
#[derive(Clone)]
pub struct RedisTimerStore {
    shared: Arc<Shared>,
}

impl RedisTimerStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// One member per (session, name): the session's keyed hash (fixed length, so the name
    /// after it cannot make two pairs collide) and the timer's name (not PII).
    fn member(&self, session: &SessionKey, name: &str) -> String {
        let hash = self
            .shared
            .hasher
            .hash("timer", session.canonical().as_bytes());
        format!("{hash}:{name}")
    }

    fn context(&self, member: &str) -> Vec<u8> {
        format!("timer|{}|{member}", self.shared.keys.timers_entries).into_bytes()
    }
}

impl std::fmt::Debug for RedisTimerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTimerStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl TimerStore for RedisTimerStore {
    async fn schedule(&self, entry: TimerEntry) -> PortResult<()> {
        let member = self.member(&entry.session, &entry.name);
        let json = serde_json::to_vec(&entry)
            .map_err(|e| RedisStoreError::Encoding(format!("timer does not serialize: {e}")))?;
        let sealed = self.shared.sealer.seal(&json, &self.context(&member))?;
        let mut conn = self.shared.conn.clone();
        SCHEDULE
            .key(&self.shared.keys.timers_due)
            .key(&self.shared.keys.timers_entries)
            .arg(entry.fire_at.0)
            .arg(&member)
            .arg(sealed)
            .invoke_async::<()>(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(())
    }

    async fn cancel(&self, session: &SessionKey, name: &str) -> PortResult<bool> {
        let mut conn = self.shared.conn.clone();
        let n: i64 = CANCEL
            .key(&self.shared.keys.timers_due)
            .key(&self.shared.keys.timers_entries)
            .arg(self.member(session, name))
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        Ok(n > 0)
    }

    async fn take_due(&self, now: Timestamp, max: usize) -> PortResult<Vec<TimerEntry>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.shared.conn.clone();
        let sealed: Value = TAKE_DUE
            .key(&self.shared.keys.timers_due)
            .key(&self.shared.keys.timers_entries)
            .arg(now.0)
            .arg(max)
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        let mut out = Vec::new();
        let mut items = reply::items(sealed)?.into_iter();
        while let (Some(member), Some(sealed)) = (items.next(), items.next()) {
            // The timers are already claimed: one that cannot be read (a retired key, a
            // corrupted value) is reported and skipped rather than failing the others.
            match self.open(&reply::string(member)?, &reply::bytes(sealed)?) {
                Ok(entry) => out.push(entry),
                Err(e) => tracing::warn!(error = %e, "dropping an unreadable timer entry"),
            }
        }
        Ok(out)
    }
}

impl RedisTimerStore {
    fn open(&self, member: &str, sealed: &[u8]) -> Result<TimerEntry, RedisStoreError> {
        let json = self.shared.sealer.open(sealed, &self.context(member))?;
        serde_json::from_slice(&json)
            .map_err(|e| RedisStoreError::Encoding(format!("timer does not deserialize: {e}")))
    }
}
