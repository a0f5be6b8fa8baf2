//! The in-memory [`ReviewQueue`]: open cases by id, and an index ordered by filing time.

use super::lock;
use async_trait::async_trait;
use kyc_flow_core::Timestamp;
use kyc_flow_core::ports::{PortResult, ReviewCase, ReviewQueue};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Review cases in a map and an ordered index.
#[derive(Default)]
pub struct MemoryReviewQueue {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    cases: HashMap<String, ReviewCase>,
    order: BTreeSet<(Timestamp, String)>,
}

impl MemoryReviewQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Counts only: cases carry the user's identifier.
impl std::fmt::Debug for MemoryReviewQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReviewQueue")
            .field("cases", &lock(&self.inner).cases.len())
            .finish()
    }
}

#[async_trait]
impl ReviewQueue for MemoryReviewQueue {
    async fn open(&self, case: &ReviewCase) -> PortResult<()> {
        let mut inner = lock(&self.inner);
        if let Some(old) = inner.cases.insert(case.id.clone(), case.clone()) {
            inner.order.remove(&(old.queued_at, old.id));
        }
        inner.order.insert((case.queued_at, case.id.clone()));
        Ok(())
    }

    async fn close(&self, id: &str) -> PortResult<bool> {
        let mut inner = lock(&self.inner);
        match inner.cases.remove(id) {
            Some(old) => {
                inner.order.remove(&(old.queued_at, old.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn get(&self, id: &str) -> PortResult<Option<ReviewCase>> {
        Ok(lock(&self.inner).cases.get(id).cloned())
    }

    async fn list(&self, offset: usize, limit: usize) -> PortResult<Vec<ReviewCase>> {
        let inner = lock(&self.inner);
        Ok(inner
            .order
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(_, id)| inner.cases.get(id).cloned())
            .collect())
    }

    async fn count(&self) -> PortResult<usize> {
        Ok(lock(&self.inner).cases.len())
    }
}
