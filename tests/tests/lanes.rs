//! Lanes and heartbeats (issue 13, part 4), in memory, with a document reader that blocks until
//! the test releases it — no test here asserts a time; waits are bounded only so that a broken
//! engine fails instead of hanging.
//!
//! - A text reply goes out while every analysis worker is busy with a photo and more photos
//!   wait: slow work has a lane (a queue and workers) of its own.
//! - A job slower than `reclaim_after` is not taken over and run twice while its worker is
//!   alive (the worker extends its claim), and a dead worker's job is still taken over.

use async_trait::async_trait;
use kyc_flow::memory::MemoryJobQueue;
use kyc_flow::{Engine, EngineBuilder, EngineConfig, Lane, ManualClock};
use kyc_flow_core::event::{Event, Inbound, InboundContent, MediaKind};
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::ports::{
    DocumentImage, DocumentReader, DocumentReading, JobQueue, MediaRef, PortResult,
    VisionCapabilities,
};
use kyc_flow_core::{SessionKey, Side, Timestamp, UserRef};
use kyc_flow_testkit::sim::{ScriptedDocumentReader, SimPorts};
use kyc_flow_tests::NowTs as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A document reader that counts the reads begun and holds each until the test opens the gate.
struct GatedReader {
    inner: Arc<ScriptedDocumentReader>,
    entered: AtomicUsize,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl DocumentReader for GatedReader {
    fn capabilities(&self) -> VisionCapabilities {
        self.inner.capabilities()
    }
    async fn read(&self, image: DocumentImage<'_>) -> PortResult<DocumentReading> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
        self.inner.read(image).await
    }
}

/// In-memory ports with an analyses lane, scripted engines and the gated reader.
struct World {
    sim: SimPorts,
    flow: Flow,
    clock: Arc<ManualClock>,
    analyses: Arc<MemoryJobQueue>,
    reader: Arc<GatedReader>,
    gate: watch::Sender<bool>,
    next_message: AtomicUsize,
}

impl World {
    fn new() -> Self {
        let flow = Flow::preset("mx-ine").expect("preset");
        let sim = SimPorts::new(flow.registries());
        let (gate, open) = watch::channel(false);
        let reader = Arc::new(GatedReader {
            inner: sim.documents.clone(),
            entered: AtomicUsize::new(0),
            open,
        });
        Self {
            sim,
            flow,
            clock: Arc::new(ManualClock::new(Timestamp(1_768_489_200_000))),
            analyses: Arc::new(MemoryJobQueue::new(10_000)),
            reader,
            gate,
            next_message: AtomicUsize::new(0),
        }
    }

    /// An engine ("a process") on these ports; every engine built shares the stores.
    fn engine(&self, config: EngineConfig) -> Engine {
        let ports = self
            .sim
            .ports()
            .to_builder()
            .analyses_lane(self.analyses.clone())
            .documents(self.reader.clone())
            .build()
            .expect("ports");
        let mut flows = FlowSet::new();
        flows.insert(self.flow.clone());
        EngineBuilder::new(ports, flows, kyc_flow_tests::Harness::routing(&self.flow))
            .clock(self.clock.clone())
            .config(config)
            .build()
            .expect("engine")
    }

    fn user(n: usize) -> SessionKey {
        SessionKey::new("t", "100", UserRef::Phone(format!("52155100{n:05}")))
    }

    fn inbound(&self, content: InboundContent) -> Event {
        let n = self.next_message.fetch_add(1, Ordering::SeqCst);
        Event::Inbound(Inbound {
            message_id: format!("wamid.lanes.{n}"),
            at: self.clock.now_ts(),
            content,
            forwarded: false,
            phone: None,
        })
    }

    fn text(&self, body: &str) -> Event {
        self.inbound(InboundContent::Text { body: body.into() })
    }

    fn consent(&self) -> Event {
        self.inbound(InboundContent::Reply {
            id: "consent.accept".into(),
            title: "consent.accept".into(),
        })
    }

    /// A photo of the front of the card that the scripted reader accepts.
    fn front_photo(&self, key: &SessionKey) -> Event {
        let n = self.next_message.load(Ordering::SeqCst);
        let bytes = format!("doc:front:{n}").into_bytes();
        let reading = kyc_flow_testkit::simulate::accepted_reading(self.flow.document, Side::Front);
        self.sim
            .documents
            .answer_side(bytes.clone(), Side::Front, reading);
        let media_id = self.sim.media.add(bytes);
        self.inbound(InboundContent::Media {
            kind: MediaKind::Image,
            media: MediaRef {
                phone_number_id: key.phone_number_id.clone(),
                media_id,
                mime_type: Some("image/jpeg".into()),
                sha256: None,
            },
            caption: None,
        })
    }

    /// Bring `key` to the card's front step (hello, consent), processing until idle.
    async fn to_front_step(&self, engine: &Engine, key: &SessionKey) {
        engine.submit(key.clone(), self.text("hola")).await.unwrap();
        engine.submit(key.clone(), self.consent()).await.unwrap();
        engine.run_until_idle("setup").await.expect("setup");
    }

    /// Messages sent to `key`'s user so far.
    fn sent_to(&self, key: &SessionKey) -> usize {
        self.sim
            .transport
            .sent()
            .iter()
            .filter(|r| r.message.to == key.user)
            .count()
    }

    fn entered(&self) -> usize {
        self.reader.entered.load(Ordering::SeqCst)
    }
}

/// Worker loops of one engine, stopped on drop.
struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    fn start(engine: &Engine, name: &str, lanes: &[(Lane, usize)]) -> Self {
        let (stop, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for &(lane, loops) in lanes {
            for i in 0..loops {
                let (e, rx) = (engine.clone(), rx.clone());
                let consumer = format!("{name}-{}-{i}", lane.name());
                tasks.push(tokio::spawn(async move {
                    e.run_lane_worker(lane, consumer, rx).await;
                }));
            }
        }
        Self { stop, tasks }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.expect("worker loop");
        }
    }
}

/// Wait until `done` holds; a broken engine fails here after a generous bound instead of
/// hanging the suite (the bound is not what is tested).
async fn until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const ANALYSIS_WORKERS: usize = 2;
const PHOTOS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_reply_goes_out_while_every_analysis_worker_is_busy_with_a_photo() {
    let w = World::new();
    let engine = w.engine(EngineConfig::default());
    let photographers: Vec<SessionKey> = (0..PHOTOS).map(World::user).collect();
    for key in &photographers {
        w.to_front_step(&engine, key).await;
    }
    let workers = Workers::start(
        &engine,
        "p",
        &[(Lane::Events, 1), (Lane::Analyses, ANALYSIS_WORKERS)],
    );

    // A burst of photos: every analysis worker is held inside the reader, the rest wait.
    for key in &photographers {
        engine
            .submit(key.clone(), w.front_photo(key))
            .await
            .unwrap();
    }
    until("every analysis worker is inside the reader", || {
        w.entered() == ANALYSIS_WORKERS
    })
    .await;

    // A new user says hello: the welcome goes out with every analysis still in flight.
    let texter = World::user(999);
    engine.submit(texter.clone(), w.text("hola")).await.unwrap();
    until("the text user is answered", || w.sent_to(&texter) > 0).await;
    assert_eq!(
        w.entered(),
        ANALYSIS_WORKERS,
        "no analysis finished or started beyond the lane's limit meanwhile"
    );
    assert_eq!(
        w.analyses.len(),
        PHOTOS,
        "every photo's analysis is still unacked (in flight or waiting in its lane)"
    );

    // Released, every photo is analysed once and answered.
    w.gate.send_replace(true);
    until("every photo analysed", || {
        w.analyses.is_empty() && w.sim.queue.is_empty() && w.entered() == PHOTOS
    })
    .await;
    workers.stop().await;
    assert_eq!(w.entered(), PHOTOS, "each photo read once");
    for key in &photographers {
        let session = engine.session(key).await.unwrap().expect("session");
        assert!(
            session.outbox.pending.is_empty(),
            "outbox drained for every photographer"
        );
    }
}

/// `reclaim_after` short enough for a test: a job held longer than this without a heartbeat is
/// taken over by the next worker that polls.
fn short_reclaim() -> EngineConfig {
    EngineConfig {
        reclaim_after: Duration::from_millis(300),
        ..EngineConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_slower_than_the_reclaim_time_is_not_taken_over_and_run_twice() {
    let w = World::new();
    let a = w.engine(short_reclaim());
    let b = w.engine(short_reclaim());
    let key = World::user(1);
    w.to_front_step(&a, &key).await;
    let on_a = Workers::start(&a, "a", &[(Lane::Events, 1), (Lane::Analyses, 1)]);
    a.submit(key.clone(), w.front_photo(&key)).await.unwrap();
    until("a's analysis is inside the reader", || w.entered() == 1).await;

    // Another process polls the lane (reclaiming idle deliveries at each poll) for many
    // reclaim times while a's analysis runs: a extends its claim, so b never takes it.
    let on_b = Workers::start(&b, "b", &[(Lane::Analyses, 1)]);
    for _ in 0..6 {
        tokio::time::sleep(short_reclaim().reclaim_after).await;
        assert_eq!(w.entered(), 1, "the running analysis was not started again");
        assert_eq!(
            w.analyses.in_flight_for("a-analyses-0"),
            1,
            "a still holds it"
        );
    }
    w.gate.send_replace(true);
    until("the analysis result applied", || {
        w.analyses.is_empty() && w.sim.queue.is_empty()
    })
    .await;
    on_b.stop().await;
    on_a.stop().await;
    assert_eq!(w.entered(), 1, "read once in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_analysis_is_still_taken_over() {
    let w = World::new();
    w.gate.send_replace(true);
    let engine = w.engine(short_reclaim());
    let key = World::user(2);
    w.to_front_step(&engine, &key).await;
    engine
        .submit(key.clone(), w.front_photo(&key))
        .await
        .unwrap();
    engine.work_once("events", Duration::ZERO).await.unwrap();
    assert_eq!(w.analyses.len(), 1, "the photo's analysis is in its lane");
    // A worker takes it and dies: it never extends its claim nor settles the job.
    let taken = w.analyses.reserve("dead", 1, Duration::ZERO).await.unwrap();
    assert_eq!(taken.len(), 1);
    let sent_before = w.sent_to(&key);

    let rescuer = Workers::start(&engine, "r", &[(Lane::Events, 1), (Lane::Analyses, 1)]);
    until("the dead worker's analysis ran elsewhere", || {
        w.entered() == 1 && w.analyses.is_empty() && w.sim.queue.is_empty()
    })
    .await;
    rescuer.stop().await;
    assert!(
        w.sent_to(&key) > sent_before,
        "the result was applied and answered"
    );
    let session = engine.session(&key).await.unwrap().expect("session");
    assert!(session.outbox.pending.is_empty(), "outbox drained");
    assert_eq!(
        w.analyses.in_flight_for("dead"),
        0,
        "nothing left to the dead"
    );
}

/// Counts the `reclaim` calls made on a queue.
struct CountingReclaims {
    inner: Arc<MemoryJobQueue>,
    reclaims: AtomicUsize,
}

#[async_trait]
impl JobQueue for CountingReclaims {
    async fn enqueue(&self, jobs: Vec<kyc_flow_core::ports::NewJob>) -> PortResult<Vec<String>> {
        self.inner.enqueue(jobs).await
    }
    async fn reserve(
        &self,
        c: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<kyc_flow_core::ports::Delivery>> {
        self.inner.reserve(c, max, wait).await
    }
    async fn ack(&self, id: &str) -> PortResult<()> {
        self.inner.ack(id).await
    }
    async fn retry(&self, d: &kyc_flow_core::ports::Delivery, delay: Duration) -> PortResult<()> {
        self.inner.retry(d, delay).await
    }
    async fn dead_letter(
        &self,
        d: &kyc_flow_core::ports::Delivery,
        reason: &str,
    ) -> PortResult<()> {
        self.inner.dead_letter(d, reason).await
    }
    async fn reclaim(
        &self,
        c: &str,
        idle: Duration,
        max: usize,
    ) -> PortResult<Vec<kyc_flow_core::ports::Delivery>> {
        self.reclaims.fetch_add(1, Ordering::SeqCst);
        self.inner.reclaim(c, idle, max).await
    }
}

/// Worker loops ask the queue for dead workers' deliveries once per reclaim period, not on
/// every poll (under load `XAUTOCLAIM` on every poll was a fifth of Redis's script time), and a
/// dead worker's job is still taken over once its idle time has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_is_asked_once_per_period_not_every_poll() {
    let w = World::new();
    let events = Arc::new(CountingReclaims {
        inner: Arc::new(MemoryJobQueue::new(10_000)),
        reclaims: AtomicUsize::new(0),
    });
    let ports = w
        .sim
        .ports()
        .to_builder()
        .queue(events.clone())
        .build()
        .expect("ports");
    let mut flows = FlowSet::new();
    flows.insert(w.flow.clone());
    let engine = EngineBuilder::new(ports, flows, kyc_flow_tests::Harness::routing(&w.flow))
        .clock(w.clock.clone())
        .config(EngineConfig {
            reclaim_after: Duration::from_secs(60),
            ..EngineConfig::default()
        })
        .build()
        .expect("engine");
    assert_eq!(engine.reclaim_period(), Duration::from_secs(1));
    for _ in 0..20 {
        engine
            .work_lane_once(Lane::Events, "a", Duration::ZERO)
            .await
            .unwrap();
    }
    assert_eq!(
        events.reclaims.load(Ordering::SeqCst),
        1,
        "twenty polls within one period ask once"
    );

    // A short reclaim time: a dead worker's job is taken over by a later poll.
    let engine = EngineBuilder::new(
        w.sim
            .ports()
            .to_builder()
            .queue(events.clone())
            .build()
            .expect("ports"),
        {
            let mut f = FlowSet::new();
            f.insert(w.flow.clone());
            f
        },
        kyc_flow_tests::Harness::routing(&w.flow),
    )
    .clock(w.clock.clone())
    .config(short_reclaim())
    .build()
    .expect("engine");
    let key = World::user(3);
    engine.submit(key.clone(), w.text("Hola")).await.unwrap();
    let taken = events.reserve("dead", 1, Duration::ZERO).await.unwrap();
    assert_eq!(taken.len(), 1, "a worker took the greeting and died");
    let asked = events.reclaims.load(Ordering::SeqCst);
    let mut polls = 0;
    while w.sent_to(&key) == 0 {
        polls += 1;
        assert!(polls < 2_000, "the dead worker's job was never taken over");
        engine
            .work_lane_once(Lane::Events, "b", Duration::ZERO)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let asked = events.reclaims.load(Ordering::SeqCst) - asked;
    assert!(
        asked < polls,
        "asked {asked} times in {polls} polls: not on every poll"
    );
}
