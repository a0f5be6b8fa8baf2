//! Test doubles of the queue and de-duplication ports, shared by the integration tests.
#![allow(dead_code)]

use async_trait::async_trait;
use kyc_flow_core::ports::{
    Deduplicator, Delivery, JobQueue, NewJob, PortError, PortErrorKind, PortResult,
};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// An in-memory queue with a capacity; answers `Full` beyond it (all or nothing).
#[derive(Debug)]
pub struct MemQueue {
    pub jobs: Mutex<Vec<NewJob>>,
    pub capacity: AtomicUsize,
    pub enqueue_calls: AtomicUsize,
}

impl MemQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            jobs: Mutex::new(Vec::new()),
            capacity: AtomicUsize::new(capacity),
            enqueue_calls: AtomicUsize::new(0),
        }
    }
    pub fn jobs(&self) -> Vec<NewJob> {
        self.jobs.lock().unwrap().clone()
    }
}

#[async_trait]
impl JobQueue for MemQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        self.enqueue_calls.fetch_add(1, Ordering::SeqCst);
        let mut q = self.jobs.lock().unwrap();
        if q.len() + jobs.len() > self.capacity.load(Ordering::SeqCst) {
            return Err(PortError::new(PortErrorKind::Full, "queue full"));
        }
        let start = q.len();
        let n = jobs.len();
        q.extend(jobs);
        Ok((start..start + n).map(|i| i.to_string()).collect())
    }
    async fn reserve(&self, _: &str, _: usize, _: Duration) -> PortResult<Vec<Delivery>> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &str) -> PortResult<()> {
        Ok(())
    }
    async fn retry(&self, _: &Delivery, _: Duration) -> PortResult<()> {
        Ok(())
    }
    async fn dead_letter(&self, _: &Delivery, _: &str) -> PortResult<()> {
        Ok(())
    }
    async fn reclaim(&self, _: &str, _: Duration, _: usize) -> PortResult<Vec<Delivery>> {
        Ok(Vec::new())
    }
}

/// An in-memory de-duplicator (TTL ignored: tests run far shorter than seven days).
#[derive(Debug, Default)]
pub struct MemDedup {
    pub seen: Mutex<HashSet<String>>,
    pub failing: AtomicBool,
    pub last_ttl: Mutex<Option<Duration>>,
}

#[async_trait]
impl Deduplicator for MemDedup {
    async fn first_seen(&self, key: &str, ttl: Duration) -> PortResult<bool> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PortError::unavailable("dedup store down"));
        }
        *self.last_ttl.lock().unwrap() = Some(ttl);
        Ok(self.seen.lock().unwrap().insert(key.to_owned()))
    }
    async fn forget(&self, key: &str) -> PortResult<()> {
        self.seen.lock().unwrap().remove(key);
        Ok(())
    }
}
