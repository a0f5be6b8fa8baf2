//! The in-memory [`EvidenceStore`]: bytes with a TTL.
//!
//! Not encrypted: the bytes never leave the process's memory, where the plaintext exists
//! anyway while it is processed. The Redis adapter encrypts because Redis persists and
//! replicates what it holds.

use super::{deadline, lock, sweep_due};
use async_trait::async_trait;
use kyc_flow_core::EvidenceKey;
use kyc_flow_core::ports::{EvidenceStore, PortResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Evidence blobs in a map.
#[derive(Default)]
pub struct MemoryEvidenceStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    blobs: HashMap<String, (Vec<u8>, Instant)>,
    writes: u64,
}

impl MemoryEvidenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Counts only: the bytes are biometric data.
impl std::fmt::Debug for MemoryEvidenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEvidenceStore")
            .field("blobs", &lock(&self.inner).blobs.len())
            .finish()
    }
}

#[async_trait]
impl EvidenceStore for MemoryEvidenceStore {
    async fn put(&self, key: &EvidenceKey, bytes: &[u8], ttl: Duration) -> PortResult<()> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if sweep_due(&mut inner.writes) {
            inner.blobs.retain(|_, (_, exp)| *exp > now);
        }
        inner
            .blobs
            .insert(key.0.clone(), (bytes.to_vec(), deadline(now, ttl)));
        Ok(())
    }

    async fn get(&self, key: &EvidenceKey) -> PortResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        match inner.blobs.get(&key.0) {
            Some((bytes, exp)) if *exp > now => Ok(Some(bytes.clone())),
            Some(_) => {
                inner.blobs.remove(&key.0);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, key: &EvidenceKey) -> PortResult<bool> {
        let now = Instant::now();
        let removed = lock(&self.inner).blobs.remove(&key.0);
        Ok(removed.is_some_and(|(_, exp)| exp > now))
    }
}
