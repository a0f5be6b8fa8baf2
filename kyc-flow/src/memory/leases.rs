//! The in-memory [`LeaseStore`]: owned, expiring names in a map.

use super::{deadline, lock, sweep_due};
use async_trait::async_trait;
use kyc_flow_core::ports::{LeaseStore, PortResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Leases in a map (one process: the engine's per-conversation lease across its tasks).
#[derive(Default)]
pub struct MemoryLeaseStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    leases: HashMap<String, (String, Instant)>,
    writes: u64,
}

impl MemoryLeaseStore {
    /// No lease held.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLeaseStore")
            .field("leases", &lock(&self.inner).leases.len())
            .finish()
    }
}

#[async_trait]
impl LeaseStore for MemoryLeaseStore {
    async fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if sweep_due(&mut inner.writes) {
            inner.leases.retain(|_, (_, exp)| *exp > now);
        }
        match inner.leases.get(name) {
            Some((held_by, exp)) if *exp > now && held_by != owner => Ok(false),
            _ => {
                inner
                    .leases
                    .insert(name.to_owned(), (owner.to_owned(), deadline(now, ttl)));
                Ok(true)
            }
        }
    }

    async fn renew(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        match inner.leases.get_mut(name) {
            Some((held_by, exp)) if *exp > now && held_by == owner => {
                *exp = deadline(now, ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, name: &str, owner: &str) -> PortResult<()> {
        let mut inner = lock(&self.inner);
        if inner.leases.get(name).is_some_and(|(o, _)| o == owner) {
            inner.leases.remove(name);
        }
        Ok(())
    }
}
