//! In-memory adapters of the storage ports: sessions, evidence, the job queue, timers,
//! de-duplication, leases and review cases, for tests, the simulator and single-process deployments.
//!
//! They behave like the Redis adapters — compare-and-set conflicts, TTL expiry, at-least-once
//! deliveries with reclaim, delayed retries, dead letters, a bounded queue — and pass the same
//! conformance suite (`kyc_flow_core::conformance::storage`). What they do not do is survive
//! the process: nothing is durable, so a crash loses queued jobs and sessions.
//!
//! Expiry uses [`std::time::Instant`] (monotonic) and is applied lazily on access, with an
//! occasional sweep so a store that is written but never read does not grow without bound.
//! Locks are `std::sync::Mutex` held only for map operations, never across an `.await`.

mod dedup;
mod evidence;
mod leases;
mod queue;
mod review;
mod sessions;
mod timers;

pub use dedup::MemoryDeduplicator;
pub use evidence::MemoryEvidenceStore;
pub use leases::MemoryLeaseStore;
pub use queue::{DeadLetter, MemoryJobQueue};
pub use review::MemoryReviewQueue;
pub use sessions::MemorySessionStore;
pub use timers::MemoryTimerStore;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Writes between two sweeps of expired entries.
const SWEEP_EVERY: u64 = 1024;

/// Count a write; true once every [`SWEEP_EVERY`] writes, when expired entries are dropped.
fn sweep_due(writes: &mut u64) -> bool {
    *writes += 1;
    if *writes >= SWEEP_EVERY {
        *writes = 0;
        true
    } else {
        false
    }
}

/// Lock a mutex, recovering from poisoning: every critical section leaves the maps
/// consistent before anything that could panic, so the data is still valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `now + ttl`, saturating far in the future for absurd TTLs instead of panicking.
fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}
