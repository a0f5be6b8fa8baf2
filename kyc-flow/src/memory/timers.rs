//! The in-memory [`TimerStore`]: one timer per (session, name), ordered by fire time.

use super::lock;
use async_trait::async_trait;
use kyc_flow_core::ports::{PortResult, TimerEntry, TimerStore};
use kyc_flow_core::{SessionKey, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Timers in a map plus an index by fire time, under one lock so `take_due` is atomic.
#[derive(Default)]
pub struct MemoryTimerStore {
    inner: Mutex<Inner>,
}

type TimerId = (SessionKey, String);

#[derive(Default)]
struct Inner {
    /// The entry and its position in `by_time`.
    entries: HashMap<TimerId, (TimerEntry, u64)>,
    /// (fire_at, insertion sequence) → timer; the sequence keeps equal times distinct and in
    /// scheduling order.
    by_time: BTreeMap<(Timestamp, u64), TimerId>,
    seq: u64,
}

impl MemoryTimerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts only: entries carry session keys.
impl std::fmt::Debug for MemoryTimerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTimerStore")
            .field("timers", &self.len())
            .finish()
    }
}

#[async_trait]
impl TimerStore for MemoryTimerStore {
    async fn schedule(&self, entry: TimerEntry) -> PortResult<()> {
        let mut inner = lock(&self.inner);
        let id = (entry.session.clone(), entry.name.clone());
        inner.seq += 1;
        let seq = inner.seq;
        inner.by_time.insert((entry.fire_at, seq), id.clone());
        if let Some((old, old_seq)) = inner.entries.insert(id, (entry, seq)) {
            inner.by_time.remove(&(old.fire_at, old_seq));
        }
        Ok(())
    }

    async fn cancel(&self, session: &SessionKey, name: &str) -> PortResult<bool> {
        let mut inner = lock(&self.inner);
        let id = (session.clone(), name.to_owned());
        match inner.entries.remove(&id) {
            Some((old, seq)) => {
                inner.by_time.remove(&(old.fire_at, seq));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn take_due(&self, now: Timestamp, max: usize) -> PortResult<Vec<TimerEntry>> {
        let mut inner = lock(&self.inner);
        let mut due = Vec::new();
        while due.len() < max {
            let Some(entry) = inner.by_time.first_entry() else {
                break;
            };
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            if let Some((e, _)) = inner.entries.remove(&id) {
                due.push(e);
            }
        }
        Ok(due)
    }
}
