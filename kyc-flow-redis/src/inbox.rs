//! The queue as an [`Inbox`]: de-duplication marks and the enqueue in one script, so a webhook
//! costs one round trip to Redis and a message is either marked and enqueued or neither.
//!
//! The marks are the [`crate::RedisDeduplicator`]'s keys (`{prefix}{stream}:d:{hash}`), in the
//! stream's hash slot: on a Redis Cluster the script's keys share one slot.

use crate::dedup::mark_key;
use crate::error::RedisStoreError;
use crate::queue::RedisJobQueue;
use crate::{reply, ttl_ms};
use async_trait::async_trait;
use kyc_flow_core::ports::{Accepted, InboundJob, Inbox, PortError, PortErrorKind, PortResult};
use redis::{Script, Value};
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS: stream, delayed zset, then the distinct marks of the call; ARGV: capacity, mark TTL
/// ms, then one pair per item: index of its mark in KEYS (0: none), sealed job. An item whose
/// mark exists, or whose mark an earlier item of the call takes, is a duplicate. Returns -1
/// when the new items do not fit (nothing written), else one entry per item: the new entry's
/// id, or 0 for a duplicate.
static ACCEPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = (#ARGV - 2) / 2
local fresh, taken, count = {}, {}, 0
for i = 1, n do
  local k = tonumber(ARGV[1 + 2 * i])
  local new = true
  if k > 0 then
    if taken[k] or redis.call('EXISTS', KEYS[k]) == 1 then
      new = false
    else
      taken[k] = true
    end
  end
  fresh[i] = new
  if new then count = count + 1 end
end
if count > 0 then
  local used = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
  if used + count > tonumber(ARGV[1]) then return -1 end
end
local out = {}
for i = 1, n do
  if fresh[i] then
    local k = tonumber(ARGV[1 + 2 * i])
    if k > 0 then redis.call('SET', KEYS[k], '1', 'PX', ARGV[2]) end
    out[i] = redis.call('XADD', KEYS[1], '*', 'j', ARGV[2 + 2 * i])
  else
    out[i] = 0
  end
end
return out
",
    )
});

#[async_trait]
impl Inbox for RedisJobQueue {
    async fn accept(&self, items: Vec<InboundJob>, ttl: Duration) -> PortResult<Vec<Accepted>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (shared, q) = self.parts();
        // Keys 1 and 2 are the stream and its delayed set; marks follow, once each.
        let mut marks: Vec<String> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut args: Vec<(usize, Vec<u8>)> = Vec::with_capacity(items.len());
        for item in &items {
            let k = match item.dedup_key.as_deref() {
                None => 0,
                Some(key) => *index.entry(key).or_insert_with(|| {
                    marks.push(mark_key(shared, key));
                    marks.len() + 2
                }),
            };
            let sealed = self
                .seal_job(&item.job, 1)
                .map_err(|e| PortError::new(PortErrorKind::Invalid, e.to_string()))?;
            args.push((k, sealed));
        }
        let mut invocation = ACCEPT.prepare_invoke();
        invocation.key(&q.stream).key(&q.delayed);
        for m in &marks {
            invocation.key(m);
        }
        invocation.arg(shared.config.capacity).arg(ttl_ms(ttl));
        for (k, sealed) in &args {
            invocation.arg(*k).arg(sealed.as_slice());
        }
        let mut conn = shared.conn.clone();
        let v: Value = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        if let Value::Int(-1) = v {
            return Err(RedisStoreError::Full {
                capacity: shared.config.capacity,
            }
            .into());
        }
        let out = reply::items(v)?
            .into_iter()
            .map(|e| match e {
                Value::Int(0) => Ok(Accepted::Duplicate),
                other => reply::string(other).map(Accepted::New),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if out.len() != items.len() {
            return Err(RedisStoreError::Protocol("short inbox reply".into()).into());
        }
        Ok(out)
    }
}
