//! The Redis [`FaceIndex`]: records sealed at rest in Redis, searched by an exact compact scan
//! in each process.
//!
//! Why not search in Redis: the Redis this project targets (7.x, no modules; `MODULE LIST` is
//! empty here) has no vector search, and an encrypted embedding cannot be compared
//! server-side anyway. So Redis is the durable, shared, encrypted copy and every worker keeps
//! a decrypted compact copy in memory ([`FaceTable`]: `i8` codes and sign bits, ≈ 580 bytes a
//! face), brought up to date before each search by reading only what changed.
//!
//! Key layout (one hash tag, so the scripts stay on one Cluster slot):
//! - `{prefix}{faces}:records` — hash: keyed hash of the session id → sealed record;
//! - `{prefix}{faces}:log` — sorted set: same field → the change sequence number of its last
//!   enrolment or deletion; `{prefix}{faces}:seq` — the counter;
//! - `{prefix}{faces}:tombs` — sorted set: deleted field → deletion time (ms), so deletion
//!   markers are dropped from the log one retention period after the deletion.
//!
//! A stored record is sealed (XChaCha20-Poly1305, bound to its field) and holds the
//! embedding already quantised (`i8` codes and one scale: the index never needs more, and the
//! measured similarity error is below 0.002), the identity key (already a keyed hash), the
//! image hashes and the enrolment time.
//!
//! Stated limits: the scan is exact over at most [`IndexConfig::capacity`] records (2 M by
//! default, ≈ 1.2 GB of memory per worker at 2 M); a worker that starts loads every record
//! (measured in `docs/VISION.md`); a deletion made by another worker is seen at the next
//! search, unless the deletion marker was already dropped (a worker offline for longer than
//! the retention), in which case retention removes the record anyway.

use crate::error::RedisStoreError;
use crate::{RedisStorage, Shared};
use async_trait::async_trait;
use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{
    FaceIndex, FaceRecord, FaceTable, IndexConfig, RepeatFindings, RepeatProbe,
};
use kyc_flow_core::ports::{PortError, PortErrorKind, PortResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

const FORMAT: u8 = 1;
const PAGE: isize = 1000;

/// Enrol: bump the counter, store the sealed record, log the change, clear a tombstone.
const ENROLL: &str = r"
local s = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], s, ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return s
";

/// Delete: remove the record, log the change, mark the tombstone. Returns 1 if it existed.
const DELETE: &str = r"
local existed = redis.call('HDEL', KEYS[1], ARGV[1])
if existed == 1 then
  local s = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], s, ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
end
return existed
";

/// The face index on Redis. Build with [`RedisFaceIndex::new`] from a connected
/// [`RedisStorage`].
#[derive(Clone)]
pub struct RedisFaceIndex {
    shared: Arc<Shared>,
    /// The storage's sealer, or the index's own keys ([`RedisFaceIndex::with_sealer`]).
    sealer: crate::Sealer,
    keys: [String; 4],
    local: Arc<Local>,
}

struct Local {
    state: RwLock<State>,
    /// Highest change sequence applied; syncs are serialised by this lock.
    seen: tokio::sync::Mutex<u64>,
}

impl std::fmt::Debug for RedisFaceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFaceIndex").finish_non_exhaustive()
    }
}

fn internal(msg: &str) -> PortError {
    PortError::new(PortErrorKind::Internal, msg.to_owned())
}

struct State {
    table: FaceTable,
    /// Redis field → session id, to apply deletions.
    by_field: HashMap<String, String>,
}

/// Binary record layout (inside the seal).
fn encode(r: &FaceRecord) -> Vec<u8> {
    let (codes, scale) = kyc_flow_core::face_index::quantize(&r.embedding);
    let mut out = Vec::with_capacity(32 + codes.len() + 8 * r.image_hashes.len());
    out.push(FORMAT);
    out.extend_from_slice(&r.enrolled_at.0.to_le_bytes());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend_from_slice(&(codes.len() as u16).to_le_bytes());
    out.extend(codes.iter().map(|c| *c as u8));
    out.push(r.image_hashes.len().min(255) as u8);
    for h in r.image_hashes.iter().take(255) {
        out.extend_from_slice(&h.to_le_bytes());
    }
    for s in [r.identity.as_deref().unwrap_or(""), r.session_id.as_str()] {
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.push(u8::from(r.identity.is_some()));
    out
}

fn decode(b: &[u8]) -> Option<FaceRecord> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(at..at + n)?;
        at += n;
        Some(s)
    };
    if take(1)?[0] != FORMAT {
        return None;
    }
    let enrolled_at = i64::from_le_bytes(take(8)?.try_into().ok()?);
    let scale = f32::from_le_bytes(take(4)?.try_into().ok()?);
    let dim = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let embedding: Vec<f32> = take(dim)?
        .iter()
        .map(|c| f32::from(*c as i8) * scale)
        .collect();
    let n = take(1)?[0] as usize;
    let mut image_hashes = Vec::with_capacity(n);
    for _ in 0..n {
        image_hashes.push(u64::from_le_bytes(take(8)?.try_into().ok()?));
    }
    let mut strings = Vec::new();
    for _ in 0..2 {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        strings.push(String::from_utf8(take(len)?.to_vec()).ok()?);
    }
    let has_identity = take(1)?[0] == 1;
    let session_id = strings.pop()?;
    let identity = strings.pop().filter(|_| has_identity);
    // The quantised vector is within rounding of unit length; renormalise exactly.
    let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    let embedding = if norm > 0.0 {
        embedding.into_iter().map(|v| v / norm).collect()
    } else {
        embedding
    };
    Some(FaceRecord {
        session_id,
        identity,
        embedding,
        image_hashes,
        enrolled_at: Timestamp(enrolled_at),
    })
}

impl RedisFaceIndex {
    /// The index under the storage's prefix. Nothing is read until the first call.
    pub fn new(storage: &RedisStorage, config: IndexConfig) -> Self {
        let shared = storage.shared.clone();
        let base = format!("{}{{faces}}", shared.config.key_prefix);
        Self {
            sealer: shared.sealer.clone(),
            keys: [
                format!("{base}:records"),
                format!("{base}:log"),
                format!("{base}:seq"),
                format!("{base}:tombs"),
            ],
            shared,
            local: Arc::new(Local {
                state: RwLock::new(State {
                    table: FaceTable::new(config),
                    by_field: HashMap::new(),
                }),
                seen: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// Seal the records with `sealer` (keys of their own, so the biometric data can be
    /// rotated or revoked apart from the sessions') instead of the storage's keys.
    pub fn with_sealer(mut self, sealer: crate::Sealer) -> Self {
        self.sealer = sealer;
        self
    }

    fn field(&self, session_id: &str) -> String {
        self.shared.hasher.hash("face", session_id.as_bytes())
    }

    fn context(field: &str) -> Vec<u8> {
        format!("face|{field}").into_bytes()
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.local.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.local.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies every change logged after the last one seen. Returns the number applied.
    pub async fn sync(&self) -> PortResult<usize> {
        let mut seen = self.local.seen.lock().await;
        let mut conn = self.shared.conn.clone();
        let mut applied = 0;
        loop {
            let page: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(&self.keys[1])
                .arg(format!("({}", *seen))
                .arg("+inf")
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(PAGE)
                .query_async(&mut conn)
                .await
                .map_err(RedisStoreError::from)?;
            if page.is_empty() {
                return Ok(applied);
            }
            let fields: Vec<&String> = page.iter().map(|(f, _)| f).collect();
            let sealed: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(&self.keys[0])
                .arg(&fields)
                .query_async(&mut conn)
                .await
                .map_err(RedisStoreError::from)?;
            let mut records = Vec::with_capacity(page.len());
            for ((field, _), value) in page.iter().zip(sealed) {
                match value {
                    Some(v) => {
                        let plain = self.sealer.open(&v, &Self::context(field))?;
                        records.push((
                            field,
                            Some(
                                decode(&plain).ok_or_else(|| {
                                    internal("a stored face record does not decode")
                                })?,
                            ),
                        ));
                    }
                    None => records.push((field, None)),
                }
            }
            {
                let mut state = self.state_mut();
                for (field, record) in records {
                    match record {
                        Some(r) => {
                            state.table.insert(&r).map_err(|e| {
                                PortError::new(PortErrorKind::Invalid, e.to_string())
                            })?;
                            state.by_field.insert(field.clone(), r.session_id);
                        }
                        None => {
                            if let Some(sid) = state.by_field.remove(field) {
                                state.table.remove(&sid);
                            }
                        }
                    }
                    applied += 1;
                }
            }
            *seen = page.last().map_or(*seen, |(_, s)| *s);
        }
    }
}

#[async_trait]
impl FaceIndex for RedisFaceIndex {
    fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.state().table.config().retention_secs)
    }

    async fn search(&self, probe: &RepeatProbe) -> PortResult<RepeatFindings> {
        self.sync().await?;
        Ok(self.state().table.search(probe))
    }

    async fn enroll(&self, record: FaceRecord) -> PortResult<()> {
        // Validate locally first (dimension, norm, capacity) so Redis holds no bad record.
        {
            let state = self.state();
            let table = &state.table;
            let mut probe = FaceTable::new(table.config().clone());
            probe
                .insert(&record)
                .map_err(|e| PortError::new(PortErrorKind::Invalid, e.to_string()))?;
            if table.len() >= table.config().capacity && !table.contains(&record.session_id) {
                return Err(PortError::new(
                    PortErrorKind::Invalid,
                    format!(
                        "the face index is full ({} records)",
                        table.config().capacity
                    ),
                ));
            }
        }
        let field = self.field(&record.session_id);
        let sealed = self.sealer.seal(&encode(&record), &Self::context(&field))?;
        let mut conn = self.shared.conn.clone();
        redis::Script::new(ENROLL)
            .key(&self.keys[0])
            .key(&self.keys[1])
            .key(&self.keys[2])
            .key(&self.keys[3])
            .arg(&field)
            .arg(sealed)
            .invoke_async::<u64>(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        self.sync().await?;
        Ok(())
    }

    async fn forget(&self, session_id: &str) -> PortResult<bool> {
        let field = self.field(session_id);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut conn = self.shared.conn.clone();
        let existed: i64 = redis::Script::new(DELETE)
            .key(&self.keys[0])
            .key(&self.keys[1])
            .key(&self.keys[2])
            .key(&self.keys[3])
            .arg(&field)
            .arg(now_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        self.sync().await?;
        Ok(existed == 1)
    }

    async fn purge_expired(&self, now: Timestamp) -> PortResult<usize> {
        self.sync().await?;
        let (expired, retention_ms) = {
            let t = &self.state().table;
            (
                t.expired(now),
                (t.config().retention_secs as i64).saturating_mul(1000),
            )
        };
        let mut purged = 0;
        for sid in &expired {
            purged += usize::from(self.forget(sid).await?);
        }
        // Deletion markers older than one retention period are no longer needed.
        let mut conn = self.shared.conn.clone();
        let old: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&self.keys[3])
            .arg("-inf")
            .arg(now.0.saturating_sub(retention_ms))
            .query_async(&mut conn)
            .await
            .map_err(RedisStoreError::from)?;
        if !old.is_empty() {
            redis::pipe()
                .atomic()
                .cmd("ZREM")
                .arg(&self.keys[1])
                .arg(&old)
                .ignore()
                .cmd("ZREM")
                .arg(&self.keys[3])
                .arg(&old)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(RedisStoreError::from)?;
        }
        Ok(purged)
    }

    async fn record_count(&self) -> PortResult<usize> {
        self.sync().await?;
        Ok(self.state().table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_binary_layout() {
        let e: Vec<f32> = (0..512).map(|i| (i * 37 % 101) as f32 - 50.0).collect();
        let n = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        let r = FaceRecord {
            session_id: "s-1".into(),
            identity: Some("k".into()),
            embedding: e.iter().map(|v| v / n).collect(),
            image_hashes: vec![1, u64::MAX],
            enrolled_at: Timestamp(1_772_463_600_123),
        };
        let back = decode(&encode(&r)).unwrap();
        assert_eq!(back.session_id, r.session_id);
        assert_eq!(back.identity, r.identity);
        assert_eq!(back.image_hashes, r.image_hashes);
        assert_eq!(back.enrolled_at, r.enrolled_at);
        let cos: f32 = back
            .embedding
            .iter()
            .zip(&r.embedding)
            .map(|(a, b)| a * b)
            .sum();
        assert!(cos > 0.999, "{cos}");
        let none = FaceRecord {
            identity: None,
            ..r.clone()
        };
        assert_eq!(decode(&encode(&none)).unwrap().identity, None);
        assert!(decode(&encode(&r)[..40]).is_none());
    }
}
