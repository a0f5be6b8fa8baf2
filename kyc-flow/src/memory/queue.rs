//! The in-memory [`JobQueue`]: at-least-once deliveries, reclaim of idle ones (and heartbeats
//! that keep a long job from being reclaimed), delayed retries, dead letters and a capacity
//! bound, mirroring the Redis Streams adapter. A lane is another instance.

use super::lock;
use async_trait::async_trait;
use kyc_flow_core::ports::{Delivery, JobQueue, NewJob, PortError, PortErrorKind, PortResult};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Dead letters kept for inspection; older ones are dropped first.
const DEAD_LETTERS_KEPT: usize = 10_000;

/// A job an operator has to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The delivery as the worker last saw it.
    pub delivery: Delivery,
    /// Why the worker gave up (no PII by contract of [`JobQueue::dead_letter`]'s callers).
    pub reason: String,
}

/// A bounded in-process job queue.
///
/// Capacity counts every job not yet acked: ready, in flight (reserved, unacked) and waiting
/// for a delayed retry — the same jobs the Redis adapter counts.
pub struct MemoryJobQueue {
    inner: Mutex<Inner>,
    /// Wakes blocked `reserve` calls when jobs become ready.
    ready_signal: Notify,
    capacity: usize,
}

struct Stored {
    seq: u64,
    job: NewJob,
    attempt: u32,
    /// When it was put in the queue (enqueued, or given back for a retry).
    queued: Instant,
}

struct InFlight {
    job: NewJob,
    attempt: u32,
    consumer: String,
    since: Instant,
    queued: Instant,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    ready: VecDeque<Stored>,
    /// Keyed by sequence so reclaim takes the oldest first.
    in_flight: BTreeMap<u64, InFlight>,
    /// (due, sequence) → job.
    delayed: BTreeMap<(Instant, u64), Stored>,
    dead: VecDeque<DeadLetter>,
}

impl Inner {
    fn len(&self) -> usize {
        self.ready.len() + self.in_flight.len() + self.delayed.len()
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Move due delayed jobs to the ready queue; returns when the next one is due.
    fn promote_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            let mut job = entry.remove();
            // A new delivery id, as the Redis adapter's re-added stream entry gets one.
            job.seq = self.next_seq();
            self.ready.push_back(job);
        }
        None
    }
}

fn delivery_id(seq: u64) -> String {
    format!("mem-{seq}")
}

fn parse_id(id: &str) -> PortResult<u64> {
    id.strip_prefix("mem-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| PortError::new(PortErrorKind::Invalid, "not a delivery id of this queue"))
}

impl MemoryJobQueue {
    /// A queue holding at most `capacity` unacked jobs.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ready_signal: Notify::new(),
            capacity,
        }
    }

    /// Unacked jobs: ready, in flight and delayed.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// How long the oldest job not yet done (ready or in flight; not a delayed retry) has been
    /// in the queue since it was enqueued or given back for a retry: the queue's lag. `None`
    /// when there is none. (The Redis adapter's `oldest_age` measures the same.)
    pub fn oldest_age(&self) -> Option<Duration> {
        let inner = lock(&self.inner);
        let ready = inner.ready.iter().map(|s| s.queued);
        let in_flight = inner.in_flight.values().map(|f| f.queued);
        ready.chain(in_flight).min().map(|t| t.elapsed())
    }

    /// Whether there is no unacked job.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most recent dead letters (at most 10,000), oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.inner).dead.iter().cloned().collect()
    }

    /// Put the dead letter whose delivery id is `id` back in the queue as a fresh job (attempt
    /// 1), after `edit` has had a look at it; `Ok(false)` when there is no such dead letter.
    /// [`PortErrorKind::Full`] when the queue is at capacity (the dead letter stays).
    pub fn redrive_dead_letter(
        &self,
        id: &str,
        edit: impl FnOnce(&mut NewJob),
    ) -> PortResult<bool> {
        {
            let mut inner = lock(&self.inner);
            let Some(at) = inner.dead.iter().position(|d| d.delivery.id == id) else {
                return Ok(false);
            };
            if inner.len() >= self.capacity {
                return Err(PortError::new(
                    PortErrorKind::Full,
                    format!("job queue at capacity ({})", self.capacity),
                ));
            }
            let Some(letter) = inner.dead.remove(at) else {
                return Ok(false);
            };
            let mut job = letter.delivery.job;
            edit(&mut job);
            let seq = inner.next_seq();
            inner.ready.push_back(Stored {
                seq,
                job,
                attempt: 1,
                queued: Instant::now(),
            });
        }
        self.ready_signal.notify_waiters();
        Ok(true)
    }

    /// Delete the dead letters with these delivery ids; returns how many there were.
    pub fn drop_dead_letters(&self, ids: &[String]) -> usize {
        let mut inner = lock(&self.inner);
        let before = inner.dead.len();
        inner.dead.retain(|d| !ids.contains(&d.delivery.id));
        before - inner.dead.len()
    }

    /// Deliveries `consumer` holds unacked (what a reclaim would take over if it died).
    pub fn in_flight_for(&self, consumer: &str) -> usize {
        lock(&self.inner)
            .in_flight
            .values()
            .filter(|f| f.consumer == consumer)
            .count()
    }

    /// Remove the in-flight delivery `id`; `None` when it is not in flight (already acked).
    fn take_in_flight(&self, id: &str) -> PortResult<Option<InFlight>> {
        let seq = parse_id(id)?;
        Ok(lock(&self.inner).in_flight.remove(&seq))
    }
}

/// Counts only: payloads carry user data.
impl std::fmt::Debug for MemoryJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("MemoryJobQueue")
            .field("capacity", &self.capacity)
            .field("ready", &inner.ready.len())
            .field("in_flight", &inner.in_flight.len())
            .field("delayed", &inner.delayed.len())
            .field("dead", &inner.dead.len())
            .finish()
    }
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = {
            let mut inner = lock(&self.inner);
            if inner.len().saturating_add(jobs.len()) > self.capacity {
                return Err(PortError::new(
                    PortErrorKind::Full,
                    format!("job queue at capacity ({})", self.capacity),
                ));
            }
            let mut ids = Vec::with_capacity(jobs.len());
            for job in jobs {
                let seq = inner.next_seq();
                ids.push(delivery_id(seq));
                inner.ready.push_back(Stored {
                    seq,
                    job,
                    attempt: 1,
                    queued: Instant::now(),
                });
            }
            ids
        };
        self.ready_signal.notify_waiters();
        Ok(ids)
    }

    async fn reserve(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let give_up = Instant::now() + wait;
        loop {
            // Register for wake-ups before looking, so an enqueue between the look and the
            // wait is not missed.
            let signal = self.ready_signal.notified();
            tokio::pin!(signal);
            signal.as_mut().enable();

            let now = Instant::now();
            let (out, next_due) = {
                let mut inner = lock(&self.inner);
                let next_due = inner.promote_due(now);
                let mut out = Vec::new();
                while out.len() < max {
                    let Some(s) = inner.ready.pop_front() else {
                        break;
                    };
                    out.push(Delivery {
                        id: delivery_id(s.seq),
                        job: s.job.clone(),
                        attempt: s.attempt,
                    });
                    inner.in_flight.insert(
                        s.seq,
                        InFlight {
                            job: s.job,
                            attempt: s.attempt,
                            consumer: consumer.to_owned(),
                            since: now,
                            queued: s.queued,
                        },
                    );
                }
                (out, next_due)
            };
            if !out.is_empty() || now >= give_up {
                return Ok(out);
            }
            let wake = next_due.map_or(give_up, |due| due.min(give_up));
            // Timing out is the normal way to notice a due retry or the end of the wait.
            let _ = tokio::time::timeout(wake.saturating_duration_since(now), signal).await;
        }
    }

    async fn ack(&self, delivery_id: &str) -> PortResult<()> {
        // Acking what is no longer in flight is fine: another worker may have reclaimed and
        // finished it, and at-least-once means duplicates are expected.
        self.take_in_flight(delivery_id).map(drop)
    }

    async fn retry(&self, delivery: &Delivery, delay: Duration) -> PortResult<()> {
        if self.take_in_flight(&delivery.id)?.is_none() {
            // Already acked (or retried) by whoever holds it now: nothing to give back.
            return Ok(());
        }
        {
            let mut inner = lock(&self.inner);
            let seq = inner.next_seq();
            let stored = Stored {
                seq,
                job: delivery.job.clone(),
                attempt: delivery.attempt.saturating_add(1),
                queued: Instant::now(),
            };
            if delay.is_zero() {
                inner.ready.push_back(stored);
            } else {
                let due = super::deadline(Instant::now(), delay);
                inner.delayed.insert((due, seq), stored);
            }
        }
        // Blocked reservers recompute how long to sleep (a new retry may be due first).
        self.ready_signal.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> PortResult<()> {
        if self.take_in_flight(&delivery.id)?.is_none() {
            return Ok(());
        }
        let mut inner = lock(&self.inner);
        if inner.dead.len() >= DEAD_LETTERS_KEPT {
            inner.dead.pop_front();
        }
        inner.dead.push_back(DeadLetter {
            delivery: delivery.clone(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> PortResult<Vec<Delivery>> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let mut out = Vec::new();
        for (seq, f) in inner.in_flight.iter_mut() {
            if out.len() >= max {
                break;
            }
            if now.saturating_duration_since(f.since) < min_idle {
                continue;
            }
            f.consumer = consumer.to_owned();
            f.since = now;
            f.attempt = f.attempt.saturating_add(1);
            out.push(Delivery {
                id: delivery_id(*seq),
                job: f.job.clone(),
                attempt: f.attempt,
            });
        }
        Ok(out)
    }

    async fn extend(&self, consumer: &str, delivery_ids: &[String]) -> PortResult<Vec<bool>> {
        let seqs = delivery_ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<PortResult<Vec<u64>>>()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        Ok(seqs
            .into_iter()
            .map(|seq| match inner.in_flight.get_mut(&seq) {
                Some(f) if f.consumer == consumer => {
                    f.since = now;
                    true
                }
                _ => false,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(payload: &[u8]) -> NewJob {
        NewJob {
            kind: "k".into(),
            partition: None,
            payload: payload.to_vec(),
        }
    }

    #[tokio::test]
    async fn the_lag_is_the_age_of_the_oldest_job_not_yet_done() {
        let q = MemoryJobQueue::new(10);
        assert_eq!(q.oldest_age(), None);
        q.enqueue(vec![job(b"1")]).await.unwrap();
        let first = q.oldest_age().expect("waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.enqueue(vec![job(b"2")]).await.unwrap();
        let later = q.oldest_age().expect("two waiting");
        assert!(
            later >= first + Duration::from_millis(20),
            "the first job's age"
        );
        let d = q.reserve("w", 1, Duration::ZERO).await.unwrap().remove(0);
        assert!(q.oldest_age().unwrap() >= later, "in flight still counts");
        q.ack(&d.id).await.unwrap();
        let d = q.reserve("w", 1, Duration::ZERO).await.unwrap().remove(0);
        q.retry(&d, Duration::from_secs(3600)).await.unwrap();
        assert_eq!(q.oldest_age(), None, "a delayed retry is not lag");
    }

    async fn dead(q: &MemoryJobQueue, payload: &[u8]) -> String {
        q.enqueue(vec![job(payload)]).await.unwrap();
        let d = q.reserve("w", 1, Duration::ZERO).await.unwrap().remove(0);
        q.dead_letter(&d, "gave up").await.unwrap();
        d.id
    }

    #[tokio::test]
    async fn a_dead_letter_is_redriven_once_as_a_fresh_job() {
        let q = MemoryJobQueue::new(10);
        let id = dead(&q, b"a").await;
        assert!(
            q.redrive_dead_letter(&id, |j| j.payload.push(b'!'))
                .unwrap()
        );
        assert!(q.dead_letters().is_empty());
        let d = q.reserve("w", 1, Duration::ZERO).await.unwrap().remove(0);
        assert_eq!((d.attempt, d.job.payload.as_slice()), (1, &b"a!"[..]));
        assert!(!q.redrive_dead_letter(&id, |_| {}).unwrap(), "only once");
    }

    #[tokio::test]
    async fn a_full_queue_keeps_the_dead_letter_and_drop_removes_it() {
        let q = MemoryJobQueue::new(1);
        let id = dead(&q, b"a").await;
        q.enqueue(vec![job(b"b")]).await.unwrap();
        let e = q.redrive_dead_letter(&id, |_| {}).unwrap_err();
        assert_eq!(e.kind, PortErrorKind::Full);
        assert_eq!(q.dead_letters().len(), 1);
        assert_eq!(q.drop_dead_letters(&[id.clone(), "mem-999".into()]), 1);
        assert!(q.dead_letters().is_empty());
    }
}
