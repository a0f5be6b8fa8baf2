//! The in-memory [`Deduplicator`]: insert-if-absent marks with a TTL.

use super::{deadline, lock, sweep_due};
use async_trait::async_trait;
use kyc_flow_core::ports::{Deduplicator, PortResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seen-marks in a map.
#[derive(Default)]
pub struct MemoryDeduplicator {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    marks: HashMap<String, Instant>,
    writes: u64,
}

impl MemoryDeduplicator {
    /// An empty de-duplicator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryDeduplicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDeduplicator")
            .field("marks", &lock(&self.inner).marks.len())
            .finish()
    }
}

#[async_trait]
impl Deduplicator for MemoryDeduplicator {
    async fn first_seen(&self, key: &str, ttl: Duration) -> PortResult<bool> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if sweep_due(&mut inner.writes) {
            inner.marks.retain(|_, exp| *exp > now);
        }
        if inner.marks.get(key).is_some_and(|exp| *exp > now) {
            return Ok(false);
        }
        inner.marks.insert(key.to_owned(), deadline(now, ttl));
        Ok(true)
    }

    async fn forget(&self, key: &str) -> PortResult<()> {
        lock(&self.inner).marks.remove(key);
        Ok(())
    }
}
