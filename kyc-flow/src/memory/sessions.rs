//! The in-memory [`SessionStore`]: compare-and-set on a per-key version, TTL per save.

use super::{deadline, lock, sweep_due};
use async_trait::async_trait;
use kyc_flow_core::SessionKey;
use kyc_flow_core::ports::{PortError, PortErrorKind, PortResult, SessionStore, Versioned};
use kyc_flow_core::session::Session;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sessions in a map, stored serialized so a session that does not survive a serde round trip
/// fails here exactly as it would against Redis.
#[derive(Default)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<SessionKey, Entry>,
    writes: u64,
}

struct Entry {
    json: Vec<u8>,
    version: u64,
    expires: Instant,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live (unexpired) sessions.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        lock(&self.inner)
            .entries
            .values()
            .filter(|e| e.expires > now)
            .count()
    }

    /// Whether no live session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live session (for reports such as [`kyc_flow_core::funnel`]); ones that no longer
    /// deserialize are left out.
    pub fn all(&self) -> Vec<Session> {
        let now = Instant::now();
        let stored: Vec<Vec<u8>> = lock(&self.inner)
            .entries
            .values()
            .filter(|e| e.expires > now)
            .map(|e| e.json.clone())
            .collect();
        stored
            .iter()
            .filter_map(|json| serde_json::from_slice(json).ok())
            .collect()
    }
}

/// Counts only: keys carry phone numbers.
impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &lock(&self.inner).entries.len())
            .finish()
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn load(&self, key: &SessionKey) -> PortResult<Option<Versioned<Session>>> {
        let now = Instant::now();
        let (json, version) = {
            let mut inner = lock(&self.inner);
            match inner.entries.get(key) {
                Some(e) if e.expires > now => (e.json.clone(), e.version),
                Some(_) => {
                    inner.entries.remove(key);
                    return Ok(None);
                }
                None => return Ok(None),
            }
        };
        let value = serde_json::from_slice(&json).map_err(|e| {
            PortError::new(
                PortErrorKind::Internal,
                format!("stored session does not deserialize: {e}"),
            )
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
        let json = serde_json::to_vec(session).map_err(|e| {
            PortError::new(
                PortErrorKind::Invalid,
                format!("session does not serialize: {e}"),
            )
        })?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if sweep_due(&mut inner.writes) {
            inner.entries.retain(|_, e| e.expires > now);
        }
        let current = inner
            .entries
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.version);
        let version = match (current, expected) {
            (None, None) => 1,
            (Some(cur), Some(exp)) if cur == exp => cur + 1,
            (Some(_), None) => return Err(PortError::conflict("session already exists")),
            (None, Some(_)) => return Err(PortError::conflict("session no longer exists")),
            (Some(_), Some(_)) => return Err(PortError::conflict("session version changed")),
        };
        inner.entries.insert(
            key.clone(),
            Entry {
                json,
                version,
                expires: deadline(now, ttl),
            },
        );
        Ok(version)
    }

    async fn delete(&self, key: &SessionKey) -> PortResult<bool> {
        let now = Instant::now();
        let removed = lock(&self.inner).entries.remove(key);
        Ok(removed.is_some_and(|e| e.expires > now))
    }
}
