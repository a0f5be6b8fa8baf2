//! The transactional outbox under faults: a crash (the worker's task dropped mid-await, its
//! lease and its queue deliveries left behind) or an error (a Redis error, a full queue) at any
//! port call between load and effect, against the in-memory and the Redis backends.
//!
//! Each run drives one full onboarding (hello, consent, both card sides, selfie → decision)
//! through the queue, with one fault at the n-th port call the engine makes; after a crash a
//! second engine (another "process") takes over once the lease and the delivery idle time have
//! passed. The effects (messages to the user, the decision to the bank) are compared with a
//! fault-free run: none lost, the order kept, and at most the one command in flight at the
//! fault repeated — under the same idempotency key, so a receiver dedupes it.

mod support;
use async_trait::async_trait;
use kyc_flow::engine::EngineConfig;
use kyc_flow::{Engine, EngineBuilder, Ports};
use kyc_flow_core::event::Event;
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::ports::{
    DecisionNotice, DecisionSink, Delivery, JobQueue, LeaseStore, MessageTransport, NewJob,
    OutboundMessage, PortError, PortErrorKind, PortResult, SentMessage, SessionStore, TimerEntry,
    TimerStore, Versioned,
};
use kyc_flow_core::session::Session;
use kyc_flow_core::{PhoneNumberId, SessionKey, Side, Timestamp};
use kyc_flow_tests::Harness;
use proptest::prelude::*;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happens at the chosen port call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The process dies before the call reaches the backend.
    CrashBefore,
    /// The call takes effect, then the process dies before seeing the answer.
    CrashAfter,
    /// The backend fails the call (Redis error; `Full` for an enqueue).
    Error,
}

/// Counts the engine's port calls and strikes at one of them.
struct Plan {
    calls: AtomicU32,
    at: u32,
    fault: Fault,
    dead: AtomicBool,
    died: tokio::sync::Notify,
    struck: Mutex<Option<String>>,
}

impl Plan {
    fn new(at: u32, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU32::new(0),
            at,
            fault,
            dead: AtomicBool::new(false),
            died: tokio::sync::Notify::new(),
            struck: Mutex::new(None),
        })
    }

    fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.died.notify_one();
    }

    /// Run `call` unless this is the call to strike; a dead process makes no more calls.
    async fn gate<T>(
        &self,
        what: &str,
        call: impl Future<Output = PortResult<T>>,
    ) -> PortResult<T> {
        if self.dead.load(Ordering::SeqCst) {
            return std::future::pending().await;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.at {
            return call.await;
        }
        *self.struck.lock().unwrap() = Some(format!("{:?} at call {n} ({what})", self.fault));
        match self.fault {
            Fault::CrashBefore => {
                self.die();
                std::future::pending().await
            }
            Fault::CrashAfter => {
                let _ = call.await;
                self.die();
                std::future::pending().await
            }
            Fault::Error if what == "enqueue" => {
                Err(PortError::new(PortErrorKind::Full, "injected: queue full"))
            }
            Fault::Error => Err(PortError::unavailable(format!("injected: {what} failed"))),
        }
    }
}

/// The effects a user and a bank see, in order: `send <idempotency key> <catalog text>` and
/// `decision <idempotency key> <outcome>`.
#[derive(Default)]
struct Effects(Mutex<Vec<String>>);

struct RecordingSend {
    inner: Arc<dyn MessageTransport>,
    effects: Arc<Effects>,
}

#[async_trait]
impl MessageTransport for RecordingSend {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        let sent = self.inner.send(message).await?;
        let text = kyc_flow_testkit::simulate::body_text(&message.body).0;
        let key = message.callback_data.clone().unwrap_or_default();
        self.effects
            .0
            .lock()
            .unwrap()
            .push(format!("send {key} {text}"));
        Ok(sent)
    }
    async fn mark_read(&self, from: &PhoneNumberId, id: &str, typing: bool) -> PortResult<()> {
        self.inner.mark_read(from, id, typing).await
    }
}

struct RecordingDecisions {
    effects: Arc<Effects>,
}

#[async_trait]
impl DecisionSink for RecordingDecisions {
    async fn deliver(&self, notice: &DecisionNotice) -> PortResult<()> {
        self.effects.0.lock().unwrap().push(format!(
            "decision {} {}",
            notice.idempotency_key,
            notice.decision.as_str()
        ));
        Ok(())
    }
}

// Gated wrappers of every port between load and effect.

struct GSessions(Arc<dyn SessionStore>, Arc<Plan>);
#[async_trait]
impl SessionStore for GSessions {
    async fn load(&self, key: &SessionKey) -> PortResult<Option<Versioned<Session>>> {
        self.1.gate("load", self.0.load(key)).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        session: &Session,
        expected: Option<u64>,
        ttl: Duration,
    ) -> PortResult<u64> {
        self.1
            .gate("save", self.0.save(key, session, expected, ttl))
            .await
    }
    async fn delete(&self, key: &SessionKey) -> PortResult<bool> {
        self.1.gate("delete", self.0.delete(key)).await
    }
}

struct GQueue(Arc<dyn JobQueue>, Arc<Plan>);
#[async_trait]
impl JobQueue for GQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        self.1.gate("enqueue", self.0.enqueue(jobs)).await
    }
    async fn reserve(&self, c: &str, max: usize, wait: Duration) -> PortResult<Vec<Delivery>> {
        self.1.gate("reserve", self.0.reserve(c, max, wait)).await
    }
    async fn ack(&self, id: &str) -> PortResult<()> {
        self.1.gate("ack", self.0.ack(id)).await
    }
    async fn retry(&self, d: &Delivery, delay: Duration) -> PortResult<()> {
        self.1.gate("retry", self.0.retry(d, delay)).await
    }
    async fn dead_letter(&self, d: &Delivery, reason: &str) -> PortResult<()> {
        self.1
            .gate("dead_letter", self.0.dead_letter(d, reason))
            .await
    }
    async fn reclaim(&self, c: &str, idle: Duration, max: usize) -> PortResult<Vec<Delivery>> {
        self.1.gate("reclaim", self.0.reclaim(c, idle, max)).await
    }
}

struct GTimers(Arc<dyn TimerStore>, Arc<Plan>);
#[async_trait]
impl TimerStore for GTimers {
    async fn schedule(&self, entry: TimerEntry) -> PortResult<()> {
        self.1.gate("schedule", self.0.schedule(entry)).await
    }
    async fn cancel(&self, session: &SessionKey, name: &str) -> PortResult<bool> {
        self.1.gate("cancel", self.0.cancel(session, name)).await
    }
    async fn take_due(&self, now: Timestamp, max: usize) -> PortResult<Vec<TimerEntry>> {
        self.1.gate("take_due", self.0.take_due(now, max)).await
    }
}

struct GLeases(Arc<dyn LeaseStore>, Arc<Plan>);
#[async_trait]
impl LeaseStore for GLeases {
    async fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        self.1
            .gate("acquire", self.0.acquire(name, owner, ttl))
            .await
    }
    async fn renew(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool> {
        self.1.gate("renew", self.0.renew(name, owner, ttl)).await
    }
    async fn release(&self, name: &str, owner: &str) -> PortResult<()> {
        self.1.gate("release", self.0.release(name, owner)).await
    }
}

struct GSend(Arc<dyn MessageTransport>, Arc<Plan>);
#[async_trait]
impl MessageTransport for GSend {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        self.1.gate("send", self.0.send(message)).await
    }
    async fn mark_read(&self, from: &PhoneNumberId, id: &str, typing: bool) -> PortResult<()> {
        self.1
            .gate("mark_read", self.0.mark_read(from, id, typing))
            .await
    }
}

struct GDecisions(Arc<dyn DecisionSink>, Arc<Plan>);
#[async_trait]
impl DecisionSink for GDecisions {
    async fn deliver(&self, notice: &DecisionNotice) -> PortResult<()> {
        self.1.gate("deliver", self.0.deliver(notice)).await
    }
}

/// Which stores the run uses.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Redis,
}

/// What a run ends with.
#[derive(Debug)]
struct Outcome {
    effects: Vec<String>,
    /// Port calls the first engine made (the range faults are drawn from).
    calls: u32,
    struck: Option<String>,
    session: Session,
}

fn config() -> EngineConfig {
    EngineConfig {
        reclaim_after: Duration::from_millis(40),
        lease_ttl: Duration::from_millis(80),
        lease_wait: Duration::from_secs(5),
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        decision_retry_base: Duration::from_millis(5),
        decision_retry_max: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

fn engine(h: &Harness, ports: Ports) -> Engine {
    let mut flows = FlowSet::new();
    flows.insert(h.flow.clone());
    EngineBuilder::new(ports, flows, Harness::routing(&h.flow))
        .clock(h.clock.clone())
        .config(config())
        .build()
        .unwrap()
}

/// One onboarding with a fault at port call `at` (none when `at` is beyond the last call).
async fn run(backend: Backend, at: u32, fault: Fault) -> Option<Outcome> {
    let mut h = Harness::new("mx-ine");
    let effects = Arc::new(Effects::default());
    let mut ports = h.sim.ports();
    ports.transport = Arc::new(RecordingSend {
        inner: h.sim.transport.clone(),
        effects: effects.clone(),
    });
    ports.decisions = Arc::new(RecordingDecisions {
        effects: effects.clone(),
    });
    let _slice = match backend {
        Backend::Memory => None,
        Backend::Redis => {
            let (storage, slice) = support::redis_storage("outbox").await?;
            on_redis(&mut ports, &storage);
            Some(slice)
        }
    };
    let plan = Plan::new(at, fault);
    let gated = ports
        .to_builder()
        .sessions(Arc::new(GSessions(ports.sessions.clone(), plan.clone())))
        .queue(Arc::new(GQueue(ports.queue.clone(), plan.clone())))
        .timers(Arc::new(GTimers(ports.timers.clone(), plan.clone())))
        .leases(Arc::new(GLeases(ports.leases.clone(), plan.clone())))
        .transport(Arc::new(GSend(ports.transport.clone(), plan.clone())))
        .decisions(Arc::new(GDecisions(ports.decisions.clone(), plan.clone())))
        .build()
        .expect("every port is set");
    let first = engine(&h, gated);
    let survivor = engine(&h, ports.clone());

    let hello = h.text("hola");
    let consent = h.reply("consent.accept");
    let front = h.document_photo(Side::Front);
    let back = h.document_photo(Side::Back);
    let selfie = h.selfie(true);
    let events: Vec<Event> = vec![hello, consent, front, back, selfie];

    let mut crashed = false;
    for event in events {
        // The webhook's enqueue is not the engine's: it is never faulted here.
        ports.queue.enqueue(vec![job(&h.key, event)]).await.unwrap();
        let struck_before = plan.struck.lock().unwrap().is_some();
        if crashed {
            survivor.run_until_idle("survivor").await.unwrap();
        } else {
            tokio::select! {
                r = first.run_until_idle("first") => { let _ = r; }
                _ = plan.died.notified() => { crashed = true; }
            }
        }
        if struck_before || plan.struck.lock().unwrap().is_none() {
            continue;
        }
        // The fault struck in this step. What it left (a retry a few ms out; after a crash,
        // the dead worker's deliveries and lease) comes due, and a worker finishes it: the
        // first engine if it lives, the survivor (another process) if it died.
        if crashed {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if crashed {
                survivor.run_until_idle("survivor").await.unwrap();
            } else {
                tokio::select! {
                    r = first.run_until_idle("first") => { let _ = r; }
                    _ = plan.died.notified() => { crashed = true; }
                }
            }
        }
    }
    let session = ports.sessions.load(&h.key).await.unwrap().unwrap().value;
    let effects = effects.0.lock().unwrap().clone();
    let struck = plan.struck.lock().unwrap().clone();
    Some(Outcome {
        effects,
        calls: plan.calls.load(Ordering::SeqCst),
        struck,
        session,
    })
}

/// Every storage port of `ports` on Redis (the rest stay as they are).
fn on_redis(ports: &mut Ports, storage: &kyc_flow_redis::RedisStorage) {
    ports.sessions = Arc::new(storage.sessions());
    ports.queue = Arc::new(storage.queue());
    ports.timers = Arc::new(storage.timers());
    ports.leases = Arc::new(storage.leases());
    ports.evidence = Arc::new(storage.evidence());
}

fn job(key: &SessionKey, event: Event) -> NewJob {
    kyc_flow::engine::event_job(key, event).unwrap()
}

/// The fault-free run, once per backend.
async fn baseline(backend: Backend) -> Option<Outcome> {
    run(backend, u32::MAX, Fault::Error).await
}

/// The checks every faulted run must pass against the fault-free one.
///
/// Effects are compared by what they say, in order; their keys may differ from the fault-free
/// run's by a sequence number (a repeated analysis result is an extra, ignored event that still
/// counts in `seq`). Within the run, a repeated effect must carry the key of the one before it.
///
/// Messages to the user and decision notices are two independent streams: a notice leaves the
/// outbox as a queue job of its own, so it is not ordered against the messages (a failing send
/// never holds it up), and a notice enqueued again after a fault may arrive after a message
/// that came between — under the same key, which the bank dedupes on.
fn check(base: &Outcome, got: &Outcome) {
    let context = format!(
        "fault: {:?}\nexpected: {:#?}\ngot: {:#?}",
        got.struck, base.effects, got.effects
    );
    let split = |e: &String| {
        let mut parts = e.splitn(3, ' ');
        let kind = parts.next().unwrap_or_default().to_owned();
        let key = parts.next().unwrap_or_default().to_owned();
        let what = parts.next().unwrap_or_default().to_owned();
        (key, format!("{kind} {what}"))
    };
    let is_notice = |e: &&String| e.starts_with("decision ");
    for notices in [true, false] {
        let stream = |effects: &[String]| -> Vec<(String, String)> {
            effects
                .iter()
                .filter(|e| is_notice(e) == notices)
                .map(split)
                .collect()
        };
        let mut collapsed = stream(&got.effects);
        if notices {
            // A notice repeated after a fault need not be adjacent to its first delivery.
            let mut keys = std::collections::HashSet::new();
            collapsed.retain(|(k, _)| keys.insert(k.clone()));
        }
        collapsed.dedup_by(|a, b| a.0 == b.0);
        let keys: std::collections::HashSet<&String> = collapsed.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys.len(),
            collapsed.len(),
            "a key reused by two commands; {context}"
        );
        let said: Vec<&String> = collapsed.iter().map(|(_, w)| w).collect();
        let expected = stream(&base.effects);
        let expected: Vec<&String> = expected.iter().map(|(_, w)| w).collect();
        // Nothing lost, order kept: with repeats of one key collapsed, the same effects.
        assert_eq!(said, expected, "effects lost or reordered; {context}");
    }
    // Only the command in flight at the one fault may repeat.
    assert!(
        got.effects.len() <= base.effects.len() + 1,
        "more than one effect repeated; {context}"
    );
    assert!(
        got.session.outbox.pending.is_empty(),
        "outbox drained; {context}"
    );
    assert_eq!(got.session.decision, base.session.decision, "{context}");
    assert_eq!(got.session.state, base.session.state, "{context}");
}

async fn sweep(backend: Backend, faults: &[Fault], stride: u32) {
    let Some(base) = baseline(backend).await else {
        return;
    };
    assert!(
        base.effects.iter().any(|e| e.starts_with("decision ")),
        "the fault-free onboarding ends in a decision: {:#?}",
        base.effects
    );
    assert!(base.calls > 50, "{} port calls", base.calls);
    eprintln!(
        "{backend:?}: {} port calls in a fault-free onboarding",
        base.calls
    );
    for &fault in faults {
        let mut at = 1;
        while at <= base.calls {
            let got = run(backend, at, fault).await.unwrap();
            // The last few calls (idle polls of the queue) vary a little from run to run.
            assert!(
                got.struck.is_some() || at + 8 > base.calls,
                "call {at} of {} was not reached ({} made)",
                base.calls,
                got.calls
            );
            check(&base, &got);
            at += stride;
        }
    }
}

/// Every port call of a whole onboarding, crashed before and after, on the in-memory stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_port_call_loses_nothing_and_repeats_at_most_the_command_in_flight() {
    sweep(Backend::Memory, &[Fault::CrashBefore, Fault::CrashAfter], 1).await;
}

/// Every port call failing once (a Redis error; `Full` for an enqueue), in-memory stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_at_any_port_call_is_retried_to_the_same_effects() {
    sweep(Backend::Memory, &[Fault::Error], 1).await;
}

/// The same on Redis (every third call, each fault kind, to keep the run short).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crashes_and_errors_lose_nothing() {
    sweep(
        Backend::Redis,
        &[Fault::CrashBefore, Fault::CrashAfter, Fault::Error],
        4,
    )
    .await;
}

/// A full queue when the outbox hands a photo to the analysis lane: the message was already
/// answered 200, its commands wait in the session, and the retry finishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_after_the_save_loses_no_command() {
    let mut h = Harness::new("mx-ine");
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let full = Arc::new(FullOnce {
        inner: h.sim.queue.clone(),
        armed: AtomicBool::new(false),
    });
    h.rewire(|p| p.queue = full.clone());
    let front = h.document_photo(Side::Front);
    // Enqueued by the webhook (answered 200); then the engine's own enqueue of the analysis
    // job fails once with Full.
    h.sim.queue.enqueue(vec![job(&h.key, front)]).await.unwrap();
    full.armed.store(true, Ordering::SeqCst);
    h.engine.run_until_idle("w").await.unwrap();
    let stored = h.engine.session(&h.key).await.unwrap().unwrap();
    assert!(
        stored
            .outbox
            .pending
            .iter()
            .any(|e| e.command.kind() == "analyse_document"),
        "the analysis waits in the session's outbox: {:?}",
        stored.outbox
    );
    assert!(stored.accepted.is_empty());
    assert!(
        h.sim.queue.dead_letters().is_empty(),
        "nothing dead-lettered"
    );
    // The event's job comes back after its first backoff (1 s) and finishes the outbox.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.engine.run_until_idle("w").await.unwrap();
    let stored = h.engine.session(&h.key).await.unwrap().unwrap();
    assert!(stored.outbox.pending.is_empty(), "{:?}", stored.outbox);
    assert_eq!(
        stored.accepted.len(),
        1,
        "the front was analysed and accepted"
    );
}

/// Fails the first enqueue after being armed with `Full`.
struct FullOnce {
    inner: Arc<kyc_flow::memory::MemoryJobQueue>,
    armed: AtomicBool,
}

#[async_trait]
impl JobQueue for FullOnce {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(PortError::new(PortErrorKind::Full, "queue at capacity"));
        }
        self.inner.enqueue(jobs).await
    }
    async fn reserve(&self, c: &str, max: usize, wait: Duration) -> PortResult<Vec<Delivery>> {
        self.inner.reserve(c, max, wait).await
    }
    async fn ack(&self, id: &str) -> PortResult<()> {
        self.inner.ack(id).await
    }
    async fn retry(&self, d: &Delivery, delay: Duration) -> PortResult<()> {
        self.inner.retry(d, delay).await
    }
    async fn dead_letter(&self, d: &Delivery, reason: &str) -> PortResult<()> {
        self.inner.dead_letter(d, reason).await
    }
    async fn reclaim(&self, c: &str, idle: Duration, max: usize) -> PortResult<Vec<Delivery>> {
        self.inner.reclaim(c, idle, max).await
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random crash points and fault kinds on the in-memory stores.
    #[test]
    fn random_faults_keep_effects_once_and_in_order(point in 0.0f64..1.0, kind in 0u8..3) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let base = baseline(Backend::Memory).await.unwrap();
            let at = 1 + (point * f64::from(base.calls)) as u32;
            let fault = [Fault::CrashBefore, Fault::CrashAfter, Fault::Error][usize::from(kind)];
            let got = run(Backend::Memory, at, fault).await.unwrap();
            check(&base, &got);
        });
    }
}

/// A transport that takes a while per message and records how many sends overlap.
struct SlowSend {
    inner: Arc<dyn MessageTransport>,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    keys: Mutex<Vec<String>>,
}

#[async_trait]
impl MessageTransport for SlowSend {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.keys
            .lock()
            .unwrap()
            .push(message.callback_data.clone().unwrap_or_default());
        let r = self.inner.send(message).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn mark_read(&self, from: &PhoneNumberId, id: &str, typing: bool) -> PortResult<()> {
        self.inner.mark_read(from, id, typing).await
    }
}

/// Two engines (two lease owners, as two processes would be) working one conversation's
/// events at once: its replies never overlap and go out in outbox order.
async fn one_conversation_never_runs_concurrently(backend: Backend) {
    let mut h = Harness::new("mx-ine");
    let slow = Arc::new(SlowSend {
        inner: h.sim.transport.clone(),
        in_flight: AtomicU32::new(0),
        max_in_flight: AtomicU32::new(0),
        keys: Mutex::new(Vec::new()),
    });
    let mut ports = h.sim.ports();
    ports.transport = slow.clone();
    let _slice = match backend {
        Backend::Memory => None,
        Backend::Redis => {
            let Some((storage, slice)) = support::redis_storage("outbox").await else {
                return;
            };
            on_redis(&mut ports, &storage);
            Some(slice)
        }
    };
    let a = engine(&h, ports.clone());
    let b = engine(&h, ports.clone());
    let hello = h.text("hola");
    a.handle_event(&h.key, &hello).await.unwrap();
    let n = 24;
    let events: Vec<Event> = (0..n).map(|i| h.text(&format!("hola? {i}"))).collect();
    let mut tasks = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let engine = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = h.key.clone();
        tasks.push(tokio::spawn(async move {
            engine.handle_event(&key, &event).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every event applied");
    }
    assert_eq!(
        slow.max_in_flight.load(Ordering::SeqCst),
        1,
        "two sends of one conversation overlapped"
    );
    let keys = slow.keys.lock().unwrap().clone();
    let order: Vec<(u64, u16)> = keys
        .iter()
        .map(|k| {
            let mut parts = k.rsplitn(3, ':');
            let index = parts.next().unwrap().parse().unwrap();
            let seq = parts.next().unwrap().parse().unwrap();
            (seq, index)
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(order, sorted, "replies out of outbox order, or repeated");
    assert!(order.len() > n, "every event answered: {}", order.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversations_replies_never_overlap_and_keep_order_in_memory() {
    one_conversation_never_runs_concurrently(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversations_replies_never_overlap_and_keep_order_on_redis() {
    one_conversation_never_runs_concurrently(Backend::Redis).await;
}
