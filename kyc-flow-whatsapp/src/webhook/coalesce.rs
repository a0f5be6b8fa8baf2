//! Group commit for the webhook: concurrent deliveries share one [`Inbox`] call.
//!
//! Under load many webhooks are in flight at once, and each costs the backend a round trip
//! (for Redis: a script call, its arguments and reply, a wake-up). [`CoalescingInbox`] puts
//! the deliveries that arrive together — those ready when the grouping task runs, after one
//! yield to the scheduler, and those waiting while every call slot is out — into one call, in
//! arrival order, so a burst costs a few round trips instead of one each. Nothing waits on a
//! timer: at low load the path is the inner inbox's, plus a channel hop and a yield.
//!
//! Every caller keeps the [`Inbox`] contract for its own items: they are de-duplicated against
//! every mark set before, including those of deliveries earlier in the same shared call (as if
//! the calls had run one after the other in arrival order), and they are marked and enqueued
//! together or not at all. When a shared call is refused as [`PortErrorKind::Full`], each
//! delivery is retried alone, so one that fits is not refused because of its neighbours; any
//! other error is every caller's error (the inner inbox leaves no mark behind).

use async_trait::async_trait;
use kyc_flow_core::ports::{Accepted, InboundJob, Inbox, PortError, PortErrorKind, PortResult};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// How [`CoalescingInbox`] groups deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceConfig {
    /// Calls to the inner inbox at most in flight at once; deliveries arriving while all are
    /// out wait and go together in the next one.
    pub in_flight: usize,
    /// Items at most in one call (a single delivery larger than this still goes whole).
    pub max_items: usize,
}

impl Default for CoalesceConfig {
    /// At most 16 calls in flight and 256 items per call: calls are not held back for
    /// grouping (a fixed small number in flight made a closed-loop client wait a round trip
    /// more); they group what arrived together. Measured in `docs/PERFORMANCE.md`.
    fn default() -> Self {
        Self {
            in_flight: 16,
            max_items: 256,
        }
    }
}

/// One caller's delivery, waiting for its share of a call.
struct Pending {
    items: Vec<InboundJob>,
    ttl: Duration,
    reply: oneshot::Sender<PortResult<Vec<Accepted>>>,
}

/// An [`Inbox`] that sends concurrent deliveries to `inner` together (module docs).
///
/// The grouping task starts on the first call, on the caller's Tokio runtime, and ends when
/// the inbox is dropped.
pub struct CoalescingInbox {
    inner: Arc<dyn Inbox>,
    config: CoalesceConfig,
    tx: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl CoalescingInbox {
    /// Group the calls to `inner` as `config` says (`in_flight` and `max_items` of 0 are
    /// taken as 1).
    pub fn new(inner: Arc<dyn Inbox>, config: CoalesceConfig) -> Self {
        Self {
            inner,
            config: CoalesceConfig {
                in_flight: config.in_flight.max(1),
                max_items: config.max_items.max(1),
            },
            tx: OnceLock::new(),
        }
    }

    fn sender(&self) -> &mpsc::UnboundedSender<Pending> {
        self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(group(self.inner.clone(), self.config, rx));
            tx
        })
    }
}

impl std::fmt::Debug for CoalescingInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoalescingInbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Inbox for CoalescingInbox {
    async fn accept(&self, items: Vec<InboundJob>, ttl: Duration) -> PortResult<Vec<Accepted>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let gone = || {
            PortError::new(
                PortErrorKind::Unavailable,
                "the inbox's grouping task stopped",
            )
        };
        self.sender()
            .send(Pending { items, ttl, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The grouping task: wait for a free call slot, then take every delivery waiting (up to
/// `max_items`, one TTL per call) into one call.
async fn group(
    inner: Arc<dyn Inbox>,
    config: CoalesceConfig,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    let slots = Arc::new(Semaphore::new(config.in_flight));
    // A delivery taken from the channel that did not fit the previous call.
    let mut carried: Option<Pending> = None;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Let the requests that became ready with this one reach the channel first (a woken
        // task may otherwise run straight after the one that woke it, and take it alone).
        tokio::task::yield_now().await;
        let ttl = first.ttl;
        let mut count = first.items.len();
        let mut batch = vec![first];
        while count < config.max_items {
            match rx.try_recv() {
                Ok(p) if p.ttl == ttl && count + p.items.len() <= config.max_items => {
                    count += p.items.len();
                    batch.push(p);
                }
                Ok(p) => {
                    carried = Some(p);
                    break;
                }
                Err(_) => break,
            }
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            call(inner.as_ref(), batch, ttl).await;
            drop(slot);
        });
    }
}

/// One call for `batch`, its answer split back to the callers.
async fn call(inner: &dyn Inbox, batch: Vec<Pending>, ttl: Duration) {
    if batch.len() == 1 {
        let p = batch.into_iter().next().expect("one delivery");
        let _ = p.reply.send(inner.accept(p.items, ttl).await);
        return;
    }
    let sizes: Vec<usize> = batch.iter().map(|p| p.items.len()).collect();
    let mut replies = Vec::with_capacity(batch.len());
    let mut all = Vec::with_capacity(sizes.iter().sum());
    let mut alone = Vec::with_capacity(batch.len());
    for p in batch {
        // Kept for a retry alone; a delivery is a handful of small jobs.
        alone.push(p.items.clone());
        all.extend(p.items);
        replies.push(p.reply);
    }
    match inner.accept(all, ttl).await {
        Ok(outcomes) if outcomes.len() == sizes.iter().sum::<usize>() => {
            let mut outcomes = outcomes.into_iter();
            for (reply, n) in replies.into_iter().zip(sizes) {
                let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
            }
        }
        Ok(outcomes) => {
            let e = PortError::new(
                PortErrorKind::Unavailable,
                format!(
                    "the inbox answered {} outcomes for {} items",
                    outcomes.len(),
                    sizes.iter().sum::<usize>()
                ),
            );
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        // Nothing of the shared call was written: each delivery gets its own chance, in order.
        Err(e) if e.kind == PortErrorKind::Full => {
            for (reply, items) in replies.into_iter().zip(alone) {
                let _ = reply.send(inner.accept(items, ttl).await);
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_core::ports::NewJob;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// An inbox in memory that records each call's size, holds calls until released, and
    /// refuses a call with more than `room` new items as full.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<HashSet<String>>,
        queued: Mutex<Vec<String>>,
        calls: Mutex<Vec<usize>>,
        room: Option<usize>,
        gate: Option<Arc<Semaphore>>,
        fail: bool,
    }

    #[async_trait]
    impl Inbox for Recorder {
        async fn accept(&self, items: Vec<InboundJob>, _: Duration) -> PortResult<Vec<Accepted>> {
            if let Some(g) = &self.gate {
                g.acquire().await.expect("gate").forget();
            }
            self.calls.lock().unwrap().push(items.len());
            if self.fail {
                return Err(PortError::new(PortErrorKind::Unavailable, "down"));
            }
            let mut seen = self.seen.lock().unwrap();
            let mut fresh = HashSet::new();
            let outcomes: Vec<bool> = items
                .iter()
                .map(|i| match &i.dedup_key {
                    None => true,
                    Some(k) => !seen.contains(k) && fresh.insert(k.clone()),
                })
                .collect();
            let new = outcomes.iter().filter(|n| **n).count();
            let mut queued = self.queued.lock().unwrap();
            if self.room.is_some_and(|r| queued.len() + new > r) {
                return Err(PortError::new(PortErrorKind::Full, "full"));
            }
            seen.extend(fresh);
            Ok(items
                .iter()
                .zip(outcomes)
                .map(|(i, new)| {
                    if new {
                        queued.push(String::from_utf8(i.job.payload.clone()).unwrap());
                        Accepted::New(queued.len().to_string())
                    } else {
                        Accepted::Duplicate
                    }
                })
                .collect())
        }
    }

    fn item(key: Option<&str>, payload: &str) -> InboundJob {
        InboundJob {
            dedup_key: key.map(str::to_owned),
            job: NewJob {
                kind: "k".into(),
                partition: None,
                payload: payload.as_bytes().to_vec(),
            },
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    /// `inner` behind a closed gate (its calls wait until permits are added), grouped with one
    /// call in flight.
    fn held(inner: Recorder) -> (Arc<Semaphore>, Arc<Recorder>, Arc<CoalescingInbox>) {
        let gate = Arc::new(Semaphore::new(0));
        let inner = Arc::new(Recorder {
            gate: Some(gate.clone()),
            ..inner
        });
        let inbox = Arc::new(CoalescingInbox::new(
            inner.clone(),
            CoalesceConfig {
                in_flight: 1,
                max_items: 100,
            },
        ));
        (gate, inner, inbox)
    }

    /// `n` one-item deliveries (message ids `m0`…), sent one after the other.
    async fn send_each(
        inbox: &Arc<CoalescingInbox>,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<PortResult<Vec<Accepted>>>> {
        let mut handles = Vec::new();
        for d in 0..n {
            let inbox = inbox.clone();
            handles.push(tokio::spawn(async move {
                inbox
                    .accept(vec![item(Some(&format!("m{d}")), "p")], TTL)
                    .await
            }));
            tokio::task::yield_now().await;
        }
        handles
    }

    /// Let every spawned task run until it waits (the grouping task has taken what it could).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// Ten deliveries sent while the first call is held go out in one more call, each caller
    /// getting its own outcomes; a key repeated by a later delivery of the same call is its
    /// duplicate, as if the deliveries had run one after the other.
    #[tokio::test]
    async fn deliveries_waiting_for_a_slot_share_one_call() {
        let (gate, inner, inbox) = held(Recorder::default());
        let first = tokio::spawn({
            let inbox = inbox.clone();
            async move { inbox.accept(vec![item(Some("m0"), "p0")], TTL).await }
        });
        settle().await;
        let mut later = Vec::new();
        for i in 1..=10 {
            let inbox = inbox.clone();
            // Delivery 10 repeats delivery 3's message id.
            let key = if i == 10 {
                "m3".to_string()
            } else {
                format!("m{i}")
            };
            later.push(tokio::spawn(async move {
                inbox
                    .accept(
                        vec![item(Some(&key), &format!("p{i}")), item(None, "x")],
                        TTL,
                    )
                    .await
            }));
            tokio::task::yield_now().await;
        }
        gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap().len(), 1);
        let mut answers = Vec::new();
        for h in later {
            answers.push(h.await.unwrap().unwrap());
        }
        assert_eq!(*inner.calls.lock().unwrap(), vec![1, 20]);
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(a.len(), 2, "delivery {} gets its two outcomes", i + 1);
            assert!(matches!(a[1], Accepted::New(_)));
            if i + 1 == 10 {
                assert_eq!(a[0], Accepted::Duplicate);
            } else {
                assert!(matches!(a[0], Accepted::New(_)), "delivery {}", i + 1);
            }
        }
        let firsts: Vec<String> = inner
            .queued
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p != "x")
            .cloned()
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        assert_eq!(firsts, expected, "arrival order kept");
    }

    /// Deliveries that become ready together share a call even when call slots are free: the
    /// grouping task yields once before it takes what is waiting. (On a worker thread a task
    /// woken by a send runs right after the sender, before the other ready tasks.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn deliveries_ready_together_share_a_call_with_slots_free() {
        let inner = Arc::new(Recorder::default());
        let inbox = Arc::new(CoalescingInbox::new(
            inner.clone(),
            CoalesceConfig::default(),
        ));
        // The grouping task is started and waits for the next delivery.
        inbox
            .accept(vec![item(None, "warm-up")], TTL)
            .await
            .unwrap();
        let burst = tokio::spawn({
            let inbox = inbox.clone();
            async move {
                let handles: Vec<_> = (0..8)
                    .map(|d| {
                        let inbox = inbox.clone();
                        tokio::spawn(async move {
                            inbox
                                .accept(vec![item(Some(&format!("m{d}")), "p")], TTL)
                                .await
                        })
                    })
                    .collect();
                for h in handles {
                    assert!(h.await.unwrap().is_ok());
                }
            }
        });
        burst.await.unwrap();
        let calls = inner.calls.lock().unwrap()[1..].to_vec();
        assert_eq!(calls.iter().sum::<usize>(), 8);
        assert!(calls.len() <= 2, "ready together, grouped: {calls:?}");
    }

    /// A shared call refused as full is retried delivery by delivery: those that fit are
    /// accepted, the one that does not is refused on its own.
    #[tokio::test]
    async fn a_full_shared_call_gives_each_delivery_its_own_chance() {
        let (gate, inner, inbox) = held(Recorder {
            room: Some(3),
            ..Recorder::default()
        });
        let sizes = [1usize, 1, 3, 1];
        let mut handles = Vec::new();
        for (d, n) in sizes.into_iter().enumerate() {
            let inbox = inbox.clone();
            handles.push(tokio::spawn(async move {
                let items = (0..n)
                    .map(|i| item(Some(&format!("d{d}i{i}")), "p"))
                    .collect();
                inbox.accept(items, TTL).await
            }));
            if d == 0 {
                settle().await;
            }
        }
        gate.add_permits(100);
        let mut got = Vec::new();
        for h in handles {
            got.push(h.await.unwrap());
        }
        // The first call held delivery 0 alone; deliveries 1–3 (5 items) shared the next and
        // were refused (1 + 5 > 3), then went alone: 1 fits, 3 does not, 1 fits.
        assert_eq!(*inner.calls.lock().unwrap(), vec![1, 5, 1, 3, 1]);
        assert!(got[0].is_ok() && got[1].is_ok() && got[3].is_ok());
        assert_eq!(got[2].as_ref().unwrap_err().kind, PortErrorKind::Full);
        assert_eq!(inner.queued.lock().unwrap().len(), 3);
    }

    /// Any other error of a shared call is every caller's error.
    #[tokio::test]
    async fn an_error_reaches_every_caller_of_the_call() {
        let (gate, inner, inbox) = held(Recorder {
            fail: true,
            ..Recorder::default()
        });
        let handles = send_each(&inbox, 6).await;
        gate.add_permits(100);
        for h in handles {
            assert_eq!(
                h.await.unwrap().unwrap_err().kind,
                PortErrorKind::Unavailable
            );
        }
        let calls = inner.calls.lock().unwrap().clone();
        assert_eq!(calls.iter().sum::<usize>(), 6);
        assert!(
            calls.len() < 6,
            "the waiting deliveries were grouped: {calls:?}"
        );
    }

    /// A caller that stops waiting (its request was cancelled) does not disturb the others.
    #[tokio::test]
    async fn a_cancelled_caller_leaves_the_others_answered() {
        let (gate, _inner, inbox) = held(Recorder::default());
        let mut handles = send_each(&inbox, 4).await;
        handles.remove(2).abort();
        gate.add_permits(100);
        for h in handles {
            assert!(h.await.unwrap().is_ok());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the grouping, every caller gets what the deliveries would have got one
        /// after the other in arrival order, and the queue holds the same jobs in that order.
        #[test]
        fn grouped_calls_answer_as_one_after_the_other(
            deliveries in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(0u8..12), 1..5), 1..24),
            in_flight in 1usize..4,
            max_items in 1usize..20,
            room in proptest::option::of(0usize..40),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let as_items = |d: &Vec<Option<u8>>, n: usize| -> Vec<InboundJob> {
                d.iter()
                    .enumerate()
                    .map(|(i, k)| item(k.map(|k| format!("m{k}")).as_deref(), &format!("d{n}i{i}")))
                    .collect()
            };
            let sequential = Recorder { room, ..Recorder::default() };
            let expected: Vec<Result<Vec<Accepted>, PortErrorKind>> = rt.block_on(async {
                let mut out = Vec::new();
                for (n, d) in deliveries.iter().enumerate() {
                    out.push(sequential.accept(as_items(d, n), TTL).await.map_err(|e| e.kind));
                }
                out
            });
            let inner = Arc::new(Recorder { room, ..Recorder::default() });
            let inbox = CoalescingInbox::new(inner.clone(), CoalesceConfig { in_flight, max_items });
            let got: Vec<Result<Vec<Accepted>, PortErrorKind>> = rt.block_on(async {
                futures::future::join_all(
                    deliveries.iter().enumerate().map(|(n, d)| inbox.accept(as_items(d, n), TTL)),
                )
                .await
                .into_iter()
                .map(|r| r.map_err(|e| e.kind))
                .collect()
            });
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(
                inner.queued.lock().unwrap().clone(),
                sequential.queued.lock().unwrap().clone()
            );
        }
    }
}
