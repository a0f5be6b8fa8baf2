//! The engine: runs the pure core against the ports.
//!
//! Data flow: an inbound event is enqueued (`engine.event` job) → a worker takes it, takes the
//! conversation's lease (one holder per session across every process), loads the session, calls
//! [`kyc_flow_core::machine::step`], and stores the new session **with the transition's commands
//! staged in its outbox** in one compare-and-set write. It then drains the outbox in order:
//! each command's effect, then a compare-and-set write that removes it
//! ([`kyc_flow_core::session::Outbox::complete`]). Slow commands (document and selfie analysis,
//! registry queries) are executed by enqueuing an `engine.command` job — on the analyses lane
//! when one is configured ([`Lane`]: a queue of its own with its own workers), so a burst of
//! photos never delays anyone's text replies; the job runs without the conversation's lease
//! and its result comes back as an event. A worker extends its claim on the jobs it holds by
//! heartbeat ([`JobQueue::extend`]) while they run, so a job slower than `reclaim_after` is
//! not taken over and run twice, while a dead worker's jobs still are. The decision
//! notice to the bank leaves the outbox first, as a job of its own retried for hours
//! ([`crate::notice`]), so no WhatsApp failure holds it up.
//!
//! Why this gives effects that happen once, in order: a command leaves the outbox only after
//! its effect succeeded, so a crash, a kill or a failed enqueue at any point leaves it in the
//! session, and the redelivered event (or the conversation's next event) finishes it. What a
//! crash *between* an effect and its completion write repeats is that one command: receivers
//! get a stable idempotency key ([`Session::idempotency_key`]) to dedupe on; WhatsApp sends,
//! which take no key, follow the policy in [`MAX_AMBIGUOUS_SENDS`]. `docs/ARCHITECTURE.md`
//! lists the guarantee of every command.

use crate::clock::Clock;
use crate::inbound::Foreign;
use crate::notice::{DecisionDelivery, DecisionJob, JOB_DECISION, NextAttempt};
use kyc_flow_core::catalog::Catalog;
use kyc_flow_core::command::{Command, MessageDelivery, MessageSpec};
use kyc_flow_core::event::Event;
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::machine;
use kyc_flow_core::ports::{
    DecisionNotice, DecisionSink, Delivery, DocumentImage, DocumentReader, EvidenceStore,
    FaceMatchOutcome, FaceMatcher, JobQueue, LeaseStore, LivenessChecker, LivenessOutcome,
    MediaFetcher, MediaRef, MessageTransport, NewJob, OutboundMessage, PortError, PortErrorKind,
    RegistryCallbackHandler, RegistryClient, RegistryReply, ReviewCase, ReviewQueue, SessionStore,
    TimerEntry, TimerStore, VideoLivenessChecker,
};
use kyc_flow_core::session::{Outbox, OutboxEntry, Session};
use kyc_flow_core::{
    EvidenceKey, Locale, RegistryResult, SelfieOutcome, SessionIdSecret, SessionKey, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Job kind of a single event for one session.
pub const JOB_EVENT: &str = "engine.event";
/// Job kind of one slow command (analysis, registry query).
pub const JOB_COMMAND: &str = "engine.command";

/// Every adapter the engine drives.
#[derive(Clone)]
#[non_exhaustive]
pub struct Ports {
    pub sessions: Arc<dyn SessionStore>,
    pub evidence: Arc<dyn EvidenceStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The analyses lane ([`Lane::Analyses`]): slow commands' jobs, with workers of their
    /// own. `None`: they share `queue`.
    pub analyses: Option<Arc<dyn JobQueue>>,
    pub timers: Arc<dyn TimerStore>,
    /// Per-conversation leases: one holder of a session at a time, across processes.
    pub leases: Arc<dyn LeaseStore>,
    /// Sessions awaiting a person's decision (see [`crate::review`]).
    pub reviews: Arc<dyn ReviewQueue>,
    pub transport: Arc<dyn MessageTransport>,
    pub media: Arc<dyn MediaFetcher>,
    pub documents: Arc<dyn DocumentReader>,
    pub faces: Arc<dyn FaceMatcher>,
    pub liveness: Arc<dyn LivenessChecker>,
    /// Judges video notes (the optional `video_liveness` step).
    pub video: Arc<dyn VideoLivenessChecker>,
    pub registry: Arc<dyn RegistryClient>,
    pub decisions: Arc<dyn DecisionSink>,
    /// The 1:N repeat check; `None`: no search, no enrolment.
    pub repeats: Option<crate::ports::RepeatCheck>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// How long an untouched session is kept by the store.
    #[serde(with = "secs")]
    pub session_ttl: Duration,
    /// How long evidence blobs (the card portrait) are kept at most.
    #[serde(with = "secs")]
    pub evidence_ttl: Duration,
    /// How long a conversation's lease lasts without renewal. It is renewed before a command
    /// once a third of it has passed, so it bounds how long one command may take, not a whole
    /// outbox.
    #[serde(with = "secs")]
    pub lease_ttl: Duration,
    /// How long an event waits for another worker to release its conversation before the job
    /// is given back to the queue to try later.
    #[serde(with = "millis")]
    pub lease_wait: Duration,
    /// Deliveries of one job before it is dead-lettered.
    pub max_job_attempts: u32,
    /// Wait before a failed job's first retry (doubled per attempt), unless the failed
    /// backend said how long to wait.
    #[serde(with = "millis")]
    pub retry_base: Duration,
    /// Longest wait between two attempts of a job.
    #[serde(with = "secs")]
    pub retry_max: Duration,
    /// Compare-and-set retries for one event before giving the job back to the queue.
    pub cas_retries: u32,
    /// Jobs a worker loop of the events lane takes at once. (A loop of the analyses lane takes
    /// one: its number of loops is the lane's concurrency limit.)
    pub batch: usize,
    /// Jobs of one batch handled at once. Jobs of one conversation (one partition) run one
    /// after the other, in queue order; jobs of different conversations run concurrently up to
    /// this bound, so one slow job does not hold up the rest of its batch.
    pub batch_concurrency: usize,
    /// Pending deliveries idle longer than this are taken over from dead workers.
    #[serde(with = "secs")]
    pub reclaim_after: Duration,
    /// Wait before a decision notice's first retry (doubled per attempt), unless the bank
    /// said how long to wait (`Retry-After`). Decision notices ignore `max_job_attempts`.
    #[serde(with = "millis")]
    pub decision_retry_base: Duration,
    /// Longest wait between two attempts of a decision notice.
    #[serde(with = "secs")]
    pub decision_retry_max: Duration,
    /// How long after it was queued a decision notice is still retried before it is
    /// dead-lettered.
    #[serde(with = "secs")]
    pub decision_horizon: Duration,
    /// The secret session ids are derived with (hex, at least 32 bytes): the id that names a
    /// conversation in logs, lease and evidence keys, registry correlation ids and the bank's
    /// idempotency keys is `HMAC-SHA256(secret, session key)`, so it cannot be linked back to
    /// a phone number without the secret. Every process of a deployment needs the same one,
    /// and it must stay the same across restarts (see `docs/STORAGE.md` before changing it).
    /// Unset: [`DEV_SESSION_ID_SECRET`], which is public — fine for tests and simulations,
    /// reversible in production (`kyc-flow serve` refuses to start without a secret).
    pub session_id_secret: Option<SessionIdSecret>,
    /// How long decided sessions keep personal data ([`crate::erasure`]). Not read from the
    /// `[engine]` table: `kyc-flow serve` takes it from its own `[retention]` section.
    #[serde(skip)]
    pub retention: crate::erasure::RetentionConfig,
    /// Per-message WhatsApp rates by country, for the estimated cost of each decided session
    /// (the [`crate::metrics::SESSION_COST`] series). Not read from the `[engine]` table:
    /// `kyc-flow serve` takes it from its own `[pricing]` section (the report's rates).
    #[serde(skip, default = "kyc_flow_core::funnel::PriceTable::meta_2026_10")]
    pub prices: kyc_flow_core::funnel::PriceTable,
}

impl EngineConfig {
    /// The decision notice's retry policy from these tunables.
    pub fn decision_delivery(&self) -> DecisionDelivery {
        DecisionDelivery {
            backoff: RetryPolicy {
                base: self.decision_retry_base,
                max: self.decision_retry_max,
            },
            horizon: self.decision_horizon,
        }
    }
}

/// The session id secret an engine uses when none is configured. It is in the source code, so
/// ids derived with it are pseudonymous only; [`EngineBuilder::build`] warns when it is used.
pub const DEV_SESSION_ID_SECRET: &str =
    "6b79632d666c6f7720646576656c6f706d656e742073657373696f6e20696420736563726574";

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            evidence_ttl: Duration::from_secs(24 * 3600),
            lease_ttl: Duration::from_secs(30),
            lease_wait: Duration::from_millis(2000),
            max_job_attempts: 8,
            retry_base: RetryPolicy::JOBS.base,
            retry_max: RetryPolicy::JOBS.max,
            cas_retries: 16,
            batch: 32,
            batch_concurrency: 8,
            reclaim_after: Duration::from_secs(60),
            decision_retry_base: DecisionDelivery::DEFAULT.backoff.base,
            decision_retry_max: DecisionDelivery::DEFAULT.backoff.max,
            decision_horizon: DecisionDelivery::DEFAULT.horizon,
            session_id_secret: None,
            retention: crate::erasure::RetentionConfig::default(),
            prices: kyc_flow_core::funnel::PriceTable::meta_2026_10(),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Which flow a new conversation starts on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Routing {
    /// Tenant of conversations whose inbound job does not name one.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Flow id for business numbers not listed below.
    pub default_flow: String,
    /// Business phone number id → flow id.
    #[serde(default)]
    pub per_number: BTreeMap<String, String>,
}

fn default_tenant() -> String {
    "default".to_owned()
}

impl Routing {
    /// Every conversation on `flow_id`.
    pub fn single(flow_id: impl Into<String>) -> Self {
        Self {
            tenant: default_tenant(),
            default_flow: flow_id.into(),
            per_number: BTreeMap::new(),
        }
    }
    fn flow_for(&self, key: &SessionKey) -> &str {
        self.per_number
            .get(&key.phone_number_id.0)
            .map(String::as_str)
            .unwrap_or(&self.default_flow)
    }
}

/// One worker loop's last sign of progress (see [`Engine::worker_heartbeats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHeartbeat {
    /// The loop's consumer name.
    pub consumer: String,
    /// Time since its last successful poll or finished job.
    pub since: Duration,
}

/// A lane: a queue and the worker loops that serve it, so one kind of work never waits
/// behind another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Inbound events, timers, results, decision notices: short jobs, text replies.
    Events,
    /// Slow commands: document and selfie analyses, registry queries
    /// ([`Ports::analyses`]; without one, these share the events lane's queue).
    Analyses,
}

impl Lane {
    /// The lane's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Analyses => "analyses",
        }
    }
}

/// Receives the audit trail and engine-level notes (the simulator prints them).
pub trait AuditLog: Send + Sync + 'static {
    /// One audit line for a session. `detail` never contains PII.
    fn record(&self, key: &SessionKey, at: Timestamp, kind: &str, detail: &str);
}

/// Errors of the engine itself (ports' errors are carried inside).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("port failed: {0}")]
    Port(#[from] PortError),
    #[error("job payload could not be decoded: {0}")]
    BadJob(String),
    #[error("flow {id} version {version} is not loaded")]
    UnknownFlow { id: String, version: u32 },
    #[error("message could not be rendered: {0}")]
    Render(String),
    #[error("gave up after {0} compare-and-set conflicts")]
    Contended(u32),
    #[error("another worker holds the conversation")]
    Busy,
    /// An identity change waits for the conversation's analyses in flight to finish before it
    /// moves the conversation ([`crate::identity`]).
    #[error("the conversation has analyses in flight; its identity change waits for them")]
    Settling,
}

impl EngineError {
    /// How long the failed backend asked to wait (`Retry-After`, Meta's pair rate limit).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Port(e) => e.retry_after,
            _ => None,
        }
    }

    /// Whether the job that hit this error should be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Port(e) => e.is_retryable(),
            Self::Contended(_) | Self::Busy | Self::Settling => true,
            Self::BadJob(_) | Self::UnknownFlow { .. } | Self::Render(_) => false,
        }
    }
}

/// What applying one event to its conversation came to.
enum Applied {
    /// The session as stored (with its outbox) and its version (boxed: a session is large and
    /// the other outcomes are small).
    Stored(Box<Session>, u64),
    /// No session to act on.
    Nothing,
    /// The conversation moved to another key ([`crate::identity`]); apply the event there.
    MovedTo(SessionKey),
}

/// An event for one session, as it travels through the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventJob {
    pub key: SessionKey,
    pub event: Event,
}

/// One slow command split off a transition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandJob {
    pub key: SessionKey,
    pub session_id: String,
    /// The outbox command's idempotency key, passed on to receivers that take one.
    #[serde(default)]
    pub idempotency_key: String,
    pub command: Command,
}

/// How many times a WhatsApp send is attempted when its outcome is unknown (a timeout: Meta
/// may have accepted it). The Cloud API takes no idempotency key, so every retry may duplicate
/// the message; not retrying may lose it. A lost prompt stalls an onboarding until a reminder,
/// a duplicate is a nuisance, so an ambiguous send is retried — but only up to this many
/// attempts in all (each counted in the session, so crashes and restarts do not reset it),
/// then dropped with a `message.ambiguous` audit line: a user sees a message at most twice.
pub const MAX_AMBIGUOUS_SENDS: u8 = 2;

#[derive(Serialize, Deserialize)]
struct Correlation {
    key: SessionKey,
    request: u32,
}

/// The engine. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    ports: Ports,
    flows: FlowSet,
    catalog: Catalog,
    routing: Routing,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    audit: Option<Arc<dyn AuditLog>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Derives the opaque session ids (see [`EngineConfig::session_id_secret`]).
    ids: SessionIdSecret,
    /// Running worker loops by consumer name → when each last showed progress (a poll of the
    /// queue that succeeded, or a job finished), for readiness probes.
    beats: Mutex<HashMap<String, std::time::Instant>>,
    /// This engine's name as a lease owner (unique per engine instance and process).
    owner: String,
    /// Per lane (events, analyses): when a worker loop of this engine last asked the queue for
    /// dead workers' deliveries. One loop asks per [`Engine::reclaim_period`], not every poll.
    reclaim_checked: Mutex<[Option<std::time::Instant>; 2]>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("routing", &self.inner.routing)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    ports: Ports,
    flows: FlowSet,
    catalog: Catalog,
    routing: Routing,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    audit: Option<Arc<dyn AuditLog>>,
    check_capabilities: bool,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder").finish_non_exhaustive()
    }
}

/// Problems found when an engine is built, typed so that a caller can act on each one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("routing names flow `{0}`, which is not loaded")]
    MissingFlow(String),
    /// The flow fails validation; every problem is listed.
    #[error("flow `{flow}` is invalid: {}", join(problems))]
    Flow {
        flow: String,
        problems: Vec<kyc_flow_core::FlowProblem>,
    },
    /// The flow needs what no configured engine or registry client offers.
    #[error(
        "flow `{flow}` needs what no configured engine offers: {}",
        join(missing)
    )]
    Capability {
        flow: String,
        missing: Vec<kyc_flow_core::CapabilityProblem>,
    },
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl EngineBuilder {
    /// Start from the ports and the flows.
    pub fn new(ports: Ports, flows: FlowSet, routing: Routing) -> Self {
        Self {
            ports,
            flows,
            catalog: Catalog::builtin(),
            routing,
            clock: Arc::new(crate::clock::SystemClock),
            config: EngineConfig::default(),
            audit: None,
            check_capabilities: true,
        }
    }
    /// Skip the check that the configured engines can do what the routed flows need: for
    /// operator tools (erasure, `kyc-flow session show`) that build an engine over the storage
    /// ports only and never analyse a photo. The flows are still validated.
    pub fn skip_capability_check(mut self) -> Self {
        self.check_capabilities = false;
        self
    }
    /// Use another message catalog.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }
    /// Use another clock (simulations).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Tunables.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }
    /// Where audit lines go besides `tracing`.
    pub fn audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Check the flows and the engines' capabilities, then build.
    pub fn build(self) -> Result<Engine, BuildError> {
        let mut routed: Vec<&str> = vec![self.routing.default_flow.as_str()];
        routed.extend(self.routing.per_number.values().map(String::as_str));
        for id in routed {
            let flow = self
                .flows
                .latest(id)
                .ok_or_else(|| BuildError::MissingFlow(id.to_owned()))?;
            check_flow(flow, &self.catalog, &self.ports, self.check_capabilities)?;
        }
        let ids = match &self.config.session_id_secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::warn!(
                    "no session id secret configured: session ids use the public development \
                     secret and can be linked to phone numbers (set session_id_secret)"
                );
                SessionIdSecret::from_hex(DEV_SESSION_ID_SECRET)
                    .expect("the development secret is 38 bytes of hex")
            }
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                ports: self.ports,
                flows: self.flows,
                catalog: self.catalog,
                routing: self.routing,
                clock: self.clock,
                config: self.config,
                audit: self.audit,
                locks: Mutex::new(HashMap::new()),
                ids,
                beats: Mutex::new(HashMap::new()),
                owner: lease_owner(),
                reclaim_checked: Mutex::new([None, None]),
            }),
        })
    }
}

fn check_flow(
    flow: &Flow,
    catalog: &Catalog,
    ports: &Ports,
    capabilities: bool,
) -> Result<(), BuildError> {
    if let Err(problems) = flow.validate(catalog) {
        return Err(BuildError::Flow {
            flow: flow.id.clone(),
            problems,
        });
    }
    if !capabilities {
        return Ok(());
    }
    let mut caps = ports.documents.capabilities();
    let faces = ports.faces.capabilities();
    let live = ports.liveness.capabilities();
    caps.face_match |= faces.face_match;
    caps.liveness |= live.liveness;
    caps.liveness_certified |= live.liveness_certified;
    caps.video_liveness |= ports.video.capabilities().video_liveness;
    let registries = ports.registry.registries();
    if let Err(missing) = kyc_flow_core::capability::check_capabilities(flow, &caps, &registries) {
        return Err(BuildError::Capability {
            flow: flow.id.clone(),
            missing,
        });
    }
    Ok(())
}

impl Engine {
    /// The ports (for embedding code that wants to reach an adapter).
    pub fn ports(&self) -> &Ports {
        &self.inner.ports
    }
    /// The loaded flows.
    pub fn flows(&self) -> &FlowSet {
        &self.inner.flows
    }
    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }
    /// The keyed identity of a document number / CURP in the face index (see
    /// [`SessionIdSecret::identity_key`]).
    pub(crate) fn identity_key(&self, canonical: &str) -> String {
        self.inner.ids.identity_key(canonical)
    }

    /// The opaque id of `key`'s conversation: a keyed hash (see
    /// [`EngineConfig::session_id_secret`]), the name logs, leases, evidence keys, registry
    /// correlation ids and idempotency keys use. Never the phone number, and not computable
    /// from it without the secret.
    pub fn session_id(&self, key: &SessionKey) -> String {
        self.inner.ids.session_id(key)
    }

    /// The routing new conversations start by.
    pub fn routing(&self) -> &Routing {
        &self.inner.routing
    }

    /// The tunables.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Current time on the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Enqueue an event for a session (durably; returns once the queue has it).
    pub async fn submit(&self, key: SessionKey, event: Event) -> Result<(), EngineError> {
        let job = event_job(&key, event)?;
        self.inner.ports.queue.enqueue(vec![job]).await?;
        Ok(())
    }

    /// The current session of `key`, if any.
    pub async fn session(&self, key: &SessionKey) -> Result<Option<Session>, EngineError> {
        Ok(self.inner.ports.sessions.load(key).await?.map(|v| v.value))
    }

    /// Move due timers into the queue as events. Returns how many fired.
    pub async fn fire_due_timers(&self) -> Result<usize, EngineError> {
        let due = self
            .inner
            .ports
            .timers
            .take_due(self.now(), self.inner.config.batch.max(1))
            .await?;
        let n = due.len();
        if n == 0 {
            return Ok(0);
        }
        let jobs = due
            .iter()
            .map(|t| {
                event_job(
                    &t.session,
                    Event::TimerFired {
                        name: t.name.clone(),
                        token: t.token,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Err(e) = self.inner.ports.queue.enqueue(jobs).await {
            // The claimed timers must not vanish with the failed enqueue: put them back (as
            // they were, so they are due again at once) for the next poll.
            for t in due {
                if let Err(f) = self.inner.ports.timers.schedule(t).await {
                    tracing::error!(error = %f, "a claimed timer could not be put back");
                }
            }
            return Err(e.into());
        }
        Ok(n)
    }

    /// Take up to one batch of jobs from the events lane and process them. Returns how many
    /// were taken.
    pub async fn work_once(&self, consumer: &str, wait: Duration) -> Result<usize, EngineError> {
        self.work_lane_once(Lane::Events, consumer, wait).await
    }

    /// The queue that serves `lane` (the main queue when no analyses lane is configured).
    pub fn lane_queue(&self, lane: Lane) -> &Arc<dyn JobQueue> {
        let ports = &self.inner.ports;
        match (lane, &ports.analyses) {
            (Lane::Analyses, Some(q)) => q,
            _ => &ports.queue,
        }
    }

    /// Whether `lane` has a queue of its own.
    fn lane_is_separate(&self, lane: Lane) -> bool {
        lane == Lane::Events || self.inner.ports.analyses.is_some()
    }

    /// Take up to one batch of jobs from `lane` (deliveries whose worker died first) and
    /// process them, extending the claim on those still running every third of
    /// `reclaim_after`. Returns how many were taken.
    pub async fn work_lane_once(
        &self,
        lane: Lane,
        consumer: &str,
        wait: Duration,
    ) -> Result<usize, EngineError> {
        let queue = self.lane_queue(lane).clone();
        let cfg = &self.inner.config;
        let max = match lane {
            Lane::Events => cfg.batch.max(1),
            Lane::Analyses => 1,
        };
        let mut deliveries = Vec::new();
        if self.reclaim_due(lane) {
            deliveries = queue.reclaim(consumer, cfg.reclaim_after, max).await?;
            if deliveries.len() >= max {
                // A full batch: there may be more waiting; the next poll asks again.
                lock(&self.inner.reclaim_checked)[lane_slot(lane)] = None;
            }
        }
        if deliveries.is_empty() {
            deliveries = queue.reserve(consumer, max, wait).await?;
        }
        let n = deliveries.len();
        self.beat(consumer);
        if n > 0 {
            self.run_batch(lane, queue, consumer, deliveries).await;
        }
        Ok(n)
    }

    /// How often the worker loops of one engine ask a lane's queue for deliveries whose
    /// worker died: a quarter of `reclaim_after`, at most once a second. Asking on every poll
    /// cost about a fifth of Redis's script time under load (`docs/PERFORMANCE.md`); asking on
    /// this period delays taking over a dead worker's jobs by at most one period.
    pub fn reclaim_period(&self) -> Duration {
        (self.inner.config.reclaim_after / 4)
            .clamp(Duration::from_millis(1), Duration::from_secs(1))
    }

    /// Whether this loop should ask for reclaimable deliveries now; if so, the check is taken
    /// (the engine's other loops on the lane skip it until the period has passed).
    fn reclaim_due(&self, lane: Lane) -> bool {
        let now = std::time::Instant::now();
        let mut checked = lock(&self.inner.reclaim_checked);
        let slot = &mut checked[lane_slot(lane)];
        match slot {
            Some(at) if now.duration_since(*at) < self.reclaim_period() => false,
            _ => {
                *slot = Some(now);
                true
            }
        }
    }

    /// Handle a batch: one task per conversation (its jobs in queue order), at most
    /// `batch_concurrency` at once, with a heartbeat on every delivery not yet settled.
    async fn run_batch(
        &self,
        lane: Lane,
        queue: Arc<dyn JobQueue>,
        consumer: &str,
        deliveries: Vec<Delivery>,
    ) {
        let open: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
            deliveries.iter().map(|d| d.id.clone()).collect(),
        ));
        let mut groups: Vec<Vec<Delivery>> = Vec::new();
        let mut by_partition: HashMap<String, usize> = HashMap::new();
        for d in deliveries {
            match &d.job.partition {
                Some(p) => {
                    let i = *by_partition.entry(p.clone()).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[i].push(d);
                }
                None => groups.push(vec![d]),
            }
        }
        let limit = match lane {
            Lane::Events => self.inner.config.batch_concurrency.max(1),
            Lane::Analyses => 1,
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(limit));
        let mut tasks = tokio::task::JoinSet::new();
        for group in groups {
            let (engine, queue, open, permits) =
                (self.clone(), queue.clone(), open.clone(), permits.clone());
            let consumer = consumer.to_owned();
            tasks.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                for d in group {
                    let id = d.id.clone();
                    engine.handle_delivery(&*queue, d).await;
                    lock(&open).retain(|o| *o != id);
                    engine.beat(&consumer);
                }
            });
        }
        let period = (self.inner.config.reclaim_after / 3).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeats = true;
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    None => return,
                    Some(Err(e)) if e.is_panic() => {
                        // Its deliveries stay pending; extended until this batch ends, then
                        // reclaimed by whoever polls after `reclaim_after`.
                        tracing::error!(lane = lane.name(), "a job panicked; it will be reclaimed");
                    }
                    Some(_) => {}
                },
                _ = tick.tick(), if heartbeats => {
                    let ids = lock(&open).clone();
                    if ids.is_empty() {
                        continue;
                    }
                    match queue.extend(consumer, &ids).await {
                        Ok(held) => {
                            let lost = held.iter().filter(|h| !**h).count();
                            if lost > 0 {
                                tracing::warn!(
                                    lane = lane.name(), lost,
                                    "jobs still running were taken over by another worker (this one stalled past reclaim_after)"
                                );
                            }
                        }
                        Err(e) if e.kind == PortErrorKind::Unsupported => {
                            tracing::warn!(
                                lane = lane.name(),
                                "the job queue cannot extend claims: a job longer than reclaim_after will run twice"
                            );
                            heartbeats = false;
                        }
                        Err(e) => tracing::warn!(lane = lane.name(), error = %e, "could not extend the claim on running jobs"),
                    }
                }
            }
        }
    }

    /// The worker loops running in this engine ([`Engine::run_worker`]) and how long ago each
    /// last made progress: a successful poll of the queue (at least every half second when
    /// idle) or a finished job. A loop whose queue keeps failing, or that is stuck in one job,
    /// grows old here; readiness probes compare the age with a bound.
    pub fn worker_heartbeats(&self) -> Vec<WorkerHeartbeat> {
        let beats = self.inner.beats.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<WorkerHeartbeat> = beats
            .iter()
            .map(|(name, at)| WorkerHeartbeat {
                consumer: name.clone(),
                since: at.elapsed(),
            })
            .collect();
        out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        out
    }

    /// Record progress of worker loop `consumer` (only loops `run_worker` registered).
    fn beat(&self, consumer: &str) {
        let mut beats = self.inner.beats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = beats.get_mut(consumer) {
            *at = std::time::Instant::now();
        }
    }

    /// Process until both lanes are empty and no timer is due (simulations and tests).
    pub async fn run_until_idle(&self, consumer: &str) -> Result<(), EngineError> {
        loop {
            // Everything waiting now includes dead workers' deliveries: ask on every round.
            *lock(&self.inner.reclaim_checked) = [None, None];
            let fired = self.fire_due_timers().await?;
            let mut worked = self.work_once(consumer, Duration::ZERO).await?;
            if self.lane_is_separate(Lane::Analyses) {
                // Every analysis waiting now, one at a time (as one worker loop would).
                while self
                    .work_lane_once(Lane::Analyses, consumer, Duration::ZERO)
                    .await?
                    > 0
                {
                    worked += 1;
                }
            }
            if fired == 0 && worked == 0 {
                return Ok(());
            }
        }
    }

    /// A worker loop on the events lane until `shutdown` turns true.
    pub async fn run_worker(&self, consumer: String, shutdown: tokio::sync::watch::Receiver<bool>) {
        self.run_lane_worker(Lane::Events, consumer, shutdown).await;
    }

    /// A worker loop on `lane` until `shutdown` turns true. Its consumer name must be unique
    /// in the deployment (it names the loop in the queue and in [`Self::worker_heartbeats`]).
    pub async fn run_lane_worker(
        &self,
        lane: Lane,
        consumer: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        self.inner
            .beats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer.clone(), std::time::Instant::now());
        // Unregistered however the loop ends (shutdown, or the task being dropped).
        struct Unregister<'a>(&'a Engine, &'a str);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                let mut beats = self.0.inner.beats.lock().unwrap_or_else(|p| p.into_inner());
                beats.remove(self.1);
            }
        }
        let _registered = Unregister(self, &consumer);
        while !*shutdown.borrow() {
            tokio::select! {
                r = self.work_lane_once(lane, &consumer, Duration::from_millis(500)) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "worker: queue unavailable, backing off");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    /// A timer loop until `shutdown` turns true.
    /// Every [`crate::repeats::PURGE_EVERY`] (and at start) it also purges the face index's
    /// expired records, when one is configured.
    pub async fn run_timers(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut purged: Option<std::time::Instant> = None;
        while !*shutdown.borrow() {
            if let Err(e) = self.fire_due_timers().await {
                tracing::warn!(error = %e, "timers: store unavailable");
            }
            if purged.is_none_or(|t| t.elapsed() >= crate::repeats::PURGE_EVERY) {
                purged = Some(std::time::Instant::now());
                if let Err(e) = self.purge_expired_faces().await {
                    tracing::warn!(error = %e, "face index: purge failed, retried next period");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Handle one delivery and settle it on `queue`, the one it came from.
    async fn handle_delivery(&self, queue: &dyn JobQueue, d: Delivery) {
        let started = std::time::Instant::now();
        if d.job.kind == JOB_DECISION {
            let outcome = self.deliver_decision(queue, d).await;
            crate::metrics::job(JOB_DECISION, outcome, started.elapsed());
            return;
        }
        let result = self.handle_job(&d).await;
        let label = match &result {
            Ok(()) => "ok",
            Err(e) if e.is_retryable() && d.attempt < self.inner.config.max_job_attempts => {
                "retried"
            }
            Err(_) => "dead_lettered",
        };
        crate::metrics::job(&d.job.kind, label, started.elapsed());
        let outcome = match result {
            Ok(()) => queue.ack(&d.id).await,
            Err(e) if e.is_retryable() && d.attempt < self.inner.config.max_job_attempts => {
                let policy = RetryPolicy {
                    base: self.inner.config.retry_base,
                    max: self.inner.config.retry_max,
                };
                let delay = policy.delay(d.attempt, e.retry_after());
                tracing::info!(kind = %d.job.kind, attempt = d.attempt, error = %e, "job will be retried");
                queue.retry(&d, delay).await
            }
            Err(e) => {
                tracing::error!(kind = %d.job.kind, attempt = d.attempt, error = %e, "job dead-lettered");
                queue.dead_letter(&d, &e.to_string()).await
            }
        };
        if let Err(e) = outcome {
            // The delivery stays pending and will be reclaimed: nothing is lost.
            tracing::warn!(error = %e, "could not settle a delivery; it will be reclaimed");
        }
    }

    /// One attempt of a decision notice: delivered, retried after the policy's delay (through
    /// the queue, so no worker waits), or dead-lettered with the policy's reason. Returns the
    /// outcome's metric label.
    async fn deliver_decision(&self, queue: &dyn JobQueue, d: Delivery) -> &'static str {
        let mut label = "dead_lettered";
        let outcome = match decode::<DecisionJob>(&d.job.payload) {
            Err(e) => {
                tracing::error!(kind = %d.job.kind, error = %e, "job dead-lettered");
                queue.dead_letter(&d, &e.to_string()).await
            }
            Ok(job) => {
                match timed("decisions", self.inner.ports.decisions.deliver(&job.notice)).await {
                    Ok(()) => {
                        tracing::info!(key = %job.notice.idempotency_key, attempt = d.attempt, "decision notice delivered");
                        label = "delivered";
                        queue.ack(&d.id).await
                    }
                    Err(e) => {
                        let elapsed = self.now().since(job.queued_at);
                        let policy = self.inner.config.decision_delivery();
                        match policy.next(d.attempt, &e, elapsed) {
                            NextAttempt::After(delay) => {
                                tracing::info!(
                                    key = %job.notice.idempotency_key, attempt = d.attempt, error = %e,
                                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                                    "decision notice will be retried"
                                );
                                label = "retried";
                                queue.retry(&d, delay).await
                            }
                            NextAttempt::GiveUp(reason) => {
                                tracing::error!(key = %job.notice.idempotency_key, reason = %reason, "decision notice dead-lettered");
                                queue.dead_letter(&d, &reason).await
                            }
                        }
                    }
                }
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not settle a delivery; it will be reclaimed");
        }
        crate::metrics::decision_notice(label);
        label
    }

    async fn handle_job(&self, d: &Delivery) -> Result<(), EngineError> {
        match d.job.kind.as_str() {
            JOB_EVENT => {
                let job: EventJob = decode(&d.job.payload)?;
                match &job.event {
                    // The engine's own timer, not the machine's (see `crate::erasure`).
                    Event::TimerFired { name, .. } if name == crate::erasure::RETENTION_TIMER => {
                        self.expire_retention(&job.key).await
                    }
                    _ => self.handle_event(&job.key, &job.event).await,
                }
            }
            JOB_COMMAND => {
                let job: CommandJob = decode(&d.job.payload)?;
                self.run_slow_command(&job).await
            }
            other => self.handle_foreign_job(other, &d.job.payload).await,
        }
    }

    /// Jobs produced by adapters (the WhatsApp webhook) rather than by the engine.
    async fn handle_foreign_job(&self, kind: &str, payload: &[u8]) -> Result<(), EngineError> {
        match crate::inbound::decode_foreign(kind, payload, &self.inner.routing.tenant) {
            Ok(Foreign::Event(key, event)) => self.handle_event(&key, &event).await,
            Ok(Foreign::WindowClosed(key)) => self.reengage(&key).await,
            Ok(Foreign::Nothing) => Ok(()),
            Err(e) => Err(EngineError::BadJob(e)),
        }
    }

    /// WhatsApp refused a free-form message because the window had closed: send the
    /// re-engagement template (its quick reply reopens the window), unless the session is over.
    async fn reengage(&self, key: &SessionKey) -> Result<(), EngineError> {
        // Under the conversation's lease, so the template never interleaves with the outbox.
        let held = self.hold(key).await?;
        let result = self.reengage_held(key).await;
        self.release(held).await;
        result
    }

    async fn reengage_held(&self, key: &SessionKey) -> Result<(), EngineError> {
        let Some(session) = self.session(key).await? else {
            return Ok(());
        };
        // Never after STOP or a decision, nor to a user who opted out of marketing (131050).
        if !session.may_nudge() {
            return Ok(());
        }
        let Some(name) = self.inner.catalog.template_name("reminder") else {
            self.audit(
                key,
                self.now(),
                "message.outside_window",
                "no reminder template configured",
            );
            return Ok(());
        };
        let spec = MessageSpec {
            delivery: MessageDelivery::Template {
                name: name.to_owned(),
            },
            ..MessageSpec::text("reminder")
        };
        self.audit(
            key,
            self.now(),
            "message.outside_window",
            "re-engagement template sent",
        );
        self.send(key, session.locale, &spec, Some(&session.id))
            .await
            .map(|_| ())
    }

    fn lock_for(&self, key: &SessionKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > 10_000 {
            // Drop locks nobody holds; keeps the map bounded under many users.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(self.session_id(key)).or_default().clone()
    }

    /// Take the conversation: the in-process lock (tasks of this engine queue up fairly), then
    /// the cross-process lease, waiting up to `lease_wait` for another worker to finish.
    pub(crate) async fn hold(&self, key: &SessionKey) -> Result<Held, EngineError> {
        let local = self.lock_for(key).lock_owned().await;
        let name = format!("session:{}", self.session_id(key));
        let leases = &self.inner.ports.leases;
        let cfg = &self.inner.config;
        let deadline = tokio::time::Instant::now() + cfg.lease_wait;
        let mut pause = Duration::from_millis(2);
        while !leases
            .acquire(&name, &self.inner.owner, cfg.lease_ttl)
            .await?
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(Held {
            name,
            _local: local,
        })
    }

    /// Give the conversation back. A failed release only delays the next holder by the TTL.
    pub(crate) async fn release(&self, held: Held) {
        if let Err(e) = self
            .inner
            .ports
            .leases
            .release(&held.name, &self.inner.owner)
            .await
        {
            tracing::warn!(error = %e, "could not release a conversation lease; it will expire");
        }
    }

    /// Keep the conversation before a command; a lease that was lost (this worker stalled past
    /// the TTL and another took over) stops the drain, so two workers never interleave effects.
    async fn renew(&self, held: &Held) -> Result<(), EngineError> {
        let cfg = &self.inner.config;
        if self
            .inner
            .ports
            .leases
            .renew(&held.name, &self.inner.owner, cfg.lease_ttl)
            .await?
        {
            Ok(())
        } else {
            Err(EngineError::Busy)
        }
    }

    /// Apply one event to its session: take the conversation, load, step, store the new session
    /// with the transition's commands staged in its outbox (one compare-and-set write), then
    /// execute the outbox. A duplicate event changes nothing but still finishes commands an
    /// earlier attempt left pending.
    ///
    /// An identity change moves the conversation to the user's new id first, and an event for
    /// a conversation that moved follows it ([`crate::identity`]).
    pub async fn handle_event(&self, key: &SessionKey, event: &Event) -> Result<(), EngineError> {
        let mut key = self.route_identity_change(key, event).await?;
        for _ in 0..=crate::identity::MAX_HOPS {
            let held = self.hold(&key).await?;
            let result = match self.apply(&key, event).await {
                Ok(Applied::Stored(session, version)) => {
                    self.drain(&key, *session, version, &held).await
                }
                Ok(Applied::Nothing) => Ok(()),
                Ok(Applied::MovedTo(to)) => {
                    self.release(held).await;
                    key = to;
                    continue;
                }
                Err(e) => Err(e),
            };
            self.release(held).await;
            return result;
        }
        self.audit(
            &key,
            self.now(),
            "event.orphaned",
            "the conversation moved more often than forwarding follows",
        );
        Ok(())
    }

    /// Execute whatever the session's outbox holds (for operators and recovery tools; events do
    /// this by themselves).
    pub async fn finish_pending(&self, key: &SessionKey) -> Result<(), EngineError> {
        let held = self.hold(key).await?;
        let result = match self.inner.ports.sessions.load(key).await {
            Ok(Some(v)) => self.drain(key, v.value, v.version, &held).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        self.release(held).await;
        result
    }

    /// Step and store; returns the stored session and its version, `None` when there is no
    /// session to act on.
    async fn apply(&self, key: &SessionKey, event: &Event) -> Result<Applied, EngineError> {
        let inner = &self.inner;
        for _ in 0..inner.config.cas_retries {
            let now = self.now();
            let (session, expected) =
                match inner.ports.sessions.load(key).await? {
                    Some(v) => (v.value, Some(v.version)),
                    None => {
                        if !matches!(event, Event::Inbound(_)) {
                            // A late result or timer of a conversation that moved to the
                            // user's new id goes after it.
                            if let Some(to) = self.forwarded(key).await? {
                                return Ok(Applied::MovedTo(to));
                            }
                            // A late result or timer for a session that is gone (deleted on
                            // request, or expired from the store): nothing to do.
                            self.audit(
                                key,
                                now,
                                "event.orphaned",
                                "event for a session that no longer exists",
                            );
                            return Ok(Applied::Nothing);
                        }
                        let flow_id = inner.routing.flow_for(key);
                        let flow = inner.flows.latest(flow_id).ok_or_else(|| {
                            EngineError::UnknownFlow {
                                id: flow_id.to_owned(),
                                version: 0,
                            }
                        })?;
                        let id = format!("{}-{:x}", self.session_id(key), now.0);
                        (machine::start(flow, key.clone(), id, None, now), None)
                    }
                };
            let flow = inner
                .flows
                .get(&session.flow_id, session.flow_version)
                .ok_or_else(|| EngineError::UnknownFlow {
                    id: session.flow_id.clone(),
                    version: session.flow_version,
                })?;
            let before_seq = session.seq;
            let unchanged_copy = expected.map(|v| (session.clone(), v));
            let transition = machine::step(flow, &inner.catalog, session, event, now);
            if transition.session.seq == before_seq && transition.commands.is_empty() {
                // Nothing changed (a duplicate delivery, a stale result): only the outbox may
                // still hold work from an earlier attempt.
                if let Some(stored) = unchanged_copy {
                    return Ok(Applied::Stored(Box::new(stored.0), stored.1));
                }
            }
            let mut next = transition.session;
            next.note(now, &format!("event.{}", event.kind()), "");
            for c in &transition.commands {
                if let Command::Audit(a) = c {
                    next.note(a.at, &a.kind, &a.detail);
                }
            }
            next.outbox.stage(next.seq, transition.commands);
            match inner
                .ports
                .sessions
                .save(key, &next, expected, inner.config.session_ttl)
                .await
            {
                Ok(version) => {
                    // Best effort: the decision writes it again, and a failure here must
                    // not make the stored event run twice.
                    if expected.is_none()
                        && let Err(e) = self.index_session(key).await
                    {
                        tracing::warn!(error = %e, "session index not written; the decision will");
                    }
                    return Ok(Applied::Stored(Box::new(next), version));
                }
                Err(e) if e.kind == PortErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended(inner.config.cas_retries))
    }

    /// Execute the outbox in order, completing each command in the session only after its
    /// effect succeeded. Stops at the first failure, leaving that command and the rest pending.
    ///
    /// Repeatable commands ([`Command::is_repeatable`]) are recorded done together with the
    /// next command that is not (or at the end), which saves a write each; the lease is renewed
    /// once a third of its TTL has passed, not before every command.
    async fn drain(
        &self,
        key: &SessionKey,
        mut session: Session,
        mut version: u64,
        held: &Held,
    ) -> Result<(), EngineError> {
        let Some((s, v)) = self.detach_decisions(key, session, version).await? else {
            return Ok(());
        };
        (session, version) = (s, v);
        let mut renewed = tokio::time::Instant::now();
        // Executed but not yet recorded: the last such entry, and the message id it returned.
        let mut unrecorded: Option<(u64, u16)> = None;
        let mut sent_id: Option<String> = None;
        let mut cursor = 0;
        while let Some(entry) = session.outbox.pending.get(cursor).cloned() {
            if renewed.elapsed() > self.inner.config.lease_ttl / 3 {
                self.renew(held).await?;
                renewed = tokio::time::Instant::now();
            }
            let sent = match self.execute(key, &session, &entry).await {
                Ok(sent) => sent,
                Err(EngineError::Port(e))
                    if e.kind == PortErrorKind::Timeout
                        && matches!(entry.command, Command::Send(_)) =>
                {
                    let Some((s, v, tries)) = self
                        .update_outbox(key, session, version, |o| {
                            o.note_ambiguous(entry.seq, entry.index)
                        })
                        .await?
                    else {
                        return Ok(());
                    };
                    (session, version) = (s, v);
                    let idempotency_key = session.idempotency_key(entry.seq, entry.index);
                    if tries < MAX_AMBIGUOUS_SENDS {
                        tracing::info!(
                            session = %self.session_id(key), key = %idempotency_key, tries,
                            "send timed out; it may have been delivered, retrying"
                        );
                        return Err(EngineError::Port(e));
                    }
                    self.audit(
                        key,
                        self.now(),
                        "message.ambiguous",
                        &format!("{idempotency_key}: {tries} sends timed out, not retried"),
                    );
                    None
                }
                Err(e) => return Err(e),
            };
            if sent.is_some() {
                sent_id = sent;
            }
            let through = (entry.seq, entry.index);
            if entry.command.is_repeatable() {
                unrecorded = Some(through);
                cursor += 1;
                continue;
            }
            unrecorded = None;
            let Some((s, v, ())) = self
                .update_outbox(key, session, version, |o| {
                    o.complete_through(through.0, through.1, sent_id.as_deref())
                        .then_some(())
                })
                .await?
            else {
                return Ok(());
            };
            (session, version, cursor) = (s, v, 0);
            sent_id = None;
        }
        if let Some((seq, index)) = unrecorded {
            self.update_outbox(key, session, version, |o| {
                o.complete_through(seq, index, sent_id.as_deref())
                    .then_some(())
            })
            .await?;
        }
        Ok(())
    }

    /// Hand every pending decision notice to a queue job of its own before anything else in
    /// the outbox runs, so a failing WhatsApp send (or anything else ahead of it) never holds
    /// up the bank's notice. Each leaves the outbox once: enqueue, then complete that one
    /// command alone. A crash between the two enqueues it again under the same idempotency
    /// key. `None` when the session is gone.
    async fn detach_decisions(
        &self,
        key: &SessionKey,
        mut session: Session,
        mut version: u64,
    ) -> Result<Option<(Session, u64)>, EngineError> {
        let notices: Vec<OutboxEntry> = session
            .outbox
            .pending
            .iter()
            .filter(|e| matches!(e.command, Command::DeliverDecision { .. }))
            .cloned()
            .collect();
        for entry in notices {
            if let Command::DeliverDecision { decision } = &entry.command {
                // In the step that hands the decision over, before the command can leave the
                // outbox: a crash repeats the step (open and close are idempotent), so a case
                // is never lost, nor left open after the reviewer decided.
                self.file_review(key, &session, decision).await?;
                self.schedule_retention(key, &session, decision).await?;
                self.settle_repeats(key, &session, decision).await?;
                self.index_session(key).await?;
            }
            self.execute(key, &session, &entry).await?;
            if let Command::DeliverDecision { decision } = &entry.command {
                crate::metrics::decision(decision);
                self.record_session_cost(&session, decision);
            }
            let Some((s, v, ())) = self
                .update_outbox(key, session, version, |o| {
                    o.complete_one(entry.seq, entry.index).then_some(())
                })
                .await?
            else {
                return Ok(None);
            };
            (session, version) = (s, v);
        }
        Ok(Some((session, version)))
    }

    /// Observe the estimated WhatsApp cost of a session whose final decision is handed over
    /// (a `manual_review` is not final: the session is observed when a person decides).
    fn record_session_cost(&self, session: &Session, decision: &kyc_flow_core::Decision) {
        if matches!(decision, kyc_flow_core::Decision::ManualReview { .. }) {
            return;
        }
        let Some(flow) = self.flows().get(&session.flow_id, session.flow_version) else {
            return;
        };
        let country = flow.country.0.as_str();
        if let Some(usd) = self.config().prices.cost(country, &session.sent) {
            crate::metrics::session_cost(country, decision, usd);
        }
    }

    /// Record which conversation the keyed id names (`kyc-flow session show ID` looks it up),
    /// for as long as the store keeps the session.
    pub(crate) async fn index_session(&self, key: &SessionKey) -> Result<(), EngineError> {
        self.inner
            .ports
            .evidence
            .put(
                &crate::erasure::index_key(&self.session_id(key)),
                &encode(key)?,
                self.inner.config.session_ttl,
            )
            .await?;
        Ok(())
    }

    /// The conversation a keyed session id names, from the index written when the session
    /// started and when it was decided (`None`: unknown, or expired with the session).
    pub async fn session_key_of(
        &self,
        session_id: &str,
    ) -> Result<Option<SessionKey>, EngineError> {
        match self
            .inner
            .ports
            .evidence
            .get(&crate::erasure::index_key(session_id))
            .await?
        {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// A review decision opens the session's review case; any other decision closes it (a
    /// reviewer resolved it, or there never was one).
    async fn file_review(
        &self,
        key: &SessionKey,
        session: &Session,
        decision: &kyc_flow_core::Decision,
    ) -> Result<(), EngineError> {
        let reviews = &self.inner.ports.reviews;
        let id = self.session_id(key);
        match decision {
            kyc_flow_core::Decision::ManualReview { reasons } => {
                reviews
                    .open(&ReviewCase {
                        id,
                        key: key.clone(),
                        queued_at: session.decided_at.unwrap_or(session.updated_at),
                        reasons: reasons.clone(),
                    })
                    .await?;
            }
            _ => {
                if reviews.close(&id).await? {
                    self.audit(key, self.now(), "review.closed", decision.as_str());
                }
            }
        }
        Ok(())
    }

    /// Apply `change` to the stored session's outbox with compare-and-set, reloading on a
    /// conflict. `change` returns `None` when it no longer applies (another worker completed
    /// the command): the current session is returned unchanged. `None` overall when the
    /// session is gone.
    async fn update_outbox<T: Default>(
        &self,
        key: &SessionKey,
        mut session: Session,
        mut version: u64,
        change: impl Fn(&mut Outbox) -> Option<T>,
    ) -> Result<Option<(Session, u64, T)>, EngineError> {
        let inner = &self.inner;
        for _ in 0..inner.config.cas_retries {
            let mut next = session.clone();
            let Some(out) = change(&mut next.outbox) else {
                return Ok(Some((session, version, T::default())));
            };
            match inner
                .ports
                .sessions
                .save(key, &next, Some(version), inner.config.session_ttl)
                .await
            {
                Ok(v) => return Ok(Some((next, v, out))),
                Err(e) if e.kind == PortErrorKind::Conflict => {
                    match inner.ports.sessions.load(key).await? {
                        Some(v) => (session, version) = (v.value, v.version),
                        None => return Ok(None),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended(inner.config.cas_retries))
    }

    /// One command's effect. Returns the platform's message id for a WhatsApp send.
    async fn execute(
        &self,
        key: &SessionKey,
        session: &Session,
        entry: &OutboxEntry,
    ) -> Result<Option<String>, EngineError> {
        let ports = &self.inner.ports;
        let idempotency_key = session.idempotency_key(entry.seq, entry.index);
        match &entry.command {
            // The idempotency key rides along as `biz_opaque_callback_data`: Meta echoes it in
            // status webhooks, which tie a delivery to exactly this command.
            Command::Send(spec) => {
                self.send(key, session.locale, spec, Some(&idempotency_key))
                    .await
            }
            Command::MarkRead { message_id } => {
                // Best effort: a failed read receipt must not hold up the conversation.
                if let Err(e) = ports
                    .transport
                    .mark_read(&key.phone_number_id, message_id, true)
                    .await
                {
                    tracing::debug!(error = %e, "mark-as-read failed");
                }
                Ok(None)
            }
            command @ (Command::AnalyseDocument { .. }
            | Command::AnalyseSelfie { .. }
            | Command::AnalyseVideo { .. }
            | Command::QueryRegistry { .. }) => {
                let slow = CommandJob {
                    key: key.clone(),
                    session_id: session.id.clone(),
                    idempotency_key,
                    command: command.clone(),
                };
                self.lane_queue(Lane::Analyses)
                    .enqueue(vec![NewJob {
                        kind: JOB_COMMAND.to_owned(),
                        partition: Some(key.storage_id()),
                        payload: encode(&slow)?,
                    }])
                    .await?;
                Ok(None)
            }
            Command::SetTimer { name, at, token } => {
                ports
                    .timers
                    .schedule(TimerEntry {
                        session: key.clone(),
                        name: name.clone(),
                        fire_at: *at,
                        token: *token,
                    })
                    .await?;
                Ok(None)
            }
            Command::CancelTimer { name } => {
                ports.timers.cancel(key, name).await?;
                Ok(None)
            }
            Command::DeliverDecision { decision } => {
                // Everything in the notice comes from the stored session, so every retry
                // delivers the same notice under the same key.
                let notice = DecisionNotice {
                    session_id: session.id.clone(),
                    key: key.clone(),
                    flow_id: session.flow_id.clone(),
                    flow_version: session.flow_version,
                    decision: decision.clone(),
                    decided_at: session.decided_at.unwrap_or(session.updated_at),
                    evidence: session.evidence_summary(),
                    idempotency_key,
                };
                // Delivered by a job of its own (see `crate::notice`): retried for hours
                // through the queue, never behind the user's messages.
                let job = DecisionJob {
                    notice,
                    queued_at: self.now(),
                };
                ports
                    .queue
                    .enqueue(vec![NewJob {
                        kind: JOB_DECISION.to_owned(),
                        partition: Some(key.storage_id()),
                        payload: encode(&job)?,
                    }])
                    .await?;
                Ok(None)
            }
            Command::DeleteMedia { media } => match ports.media.delete(media).await {
                Ok(()) => Ok(None),
                Err(e) if e.is_retryable() => Err(e.into()),
                Err(e) => {
                    tracing::info!(error = %e, "media could not be deleted on the platform");
                    Ok(None)
                }
            },
            Command::DeleteEvidence => {
                let sid = self.session_id(key);
                // Every document capture may have left a portrait (a replaced photo's too);
                // a session takes far fewer than 32 photos (attempt limits).
                for capture in session.captures.saturating_sub(31).max(1)..=session.captures {
                    ports
                        .evidence
                        .delete(&EvidenceKey::portrait_of(&sid, capture))
                        .await?;
                }
                ports.evidence.delete(&EvidenceKey::portrait(&sid)).await?;
                // A portrait stored before ids were keyed (remove one `evidence_ttl` after
                // upgrading; see docs/STORAGE.md).
                ports
                    .evidence
                    .delete(&EvidenceKey::portrait(&key.storage_id()))
                    .await?;
                Ok(None)
            }
            Command::Audit(entry) => {
                if entry.kind == "capture.retake" {
                    crate::metrics::retake(&entry.detail);
                }
                self.audit(key, entry.at, &entry.kind, &entry.detail);
                Ok(None)
            }
        }
    }

    /// One audit line: to `tracing` (target `kyc_flow::audit`, the session named by its keyed
    /// id) and to the configured [`AuditLog`].
    pub(crate) fn audit(&self, key: &SessionKey, at: Timestamp, kind: &str, detail: &str) {
        tracing::info!(target: "kyc_flow::audit", session = %self.session_id(key), at = at.0, kind, detail);
        if let Some(log) = &self.inner.audit {
            log.record(key, at, kind, detail);
        }
    }

    async fn send(
        &self,
        key: &SessionKey,
        locale: Locale,
        spec: &MessageSpec,
        callback: Option<&str>,
    ) -> Result<Option<String>, EngineError> {
        let catalog = &self.inner.catalog;
        let body = catalog
            .render(spec, locale)
            .map_err(|e| EngineError::Render(e.to_string()))?;
        let mut message = OutboundMessage {
            from: key.phone_number_id.clone(),
            to: key.user.clone(),
            body,
            reply_to: None,
            callback_data: callback.map(str::to_owned),
        };
        let template = matches!(spec.delivery, MessageDelivery::Template { .. });
        match self.whatsapp_send(&message, template).await {
            Ok(sent) => Ok(Some(sent.message_id)),
            Err(e) if e.kind == PortErrorKind::OutsideWindow => {
                // The window closed between the decision and the send: a template is the only
                // thing WhatsApp will deliver now, if this message has one.
                let Some(name) = catalog
                    .template_name(&spec.key)
                    .filter(|_| matches!(spec.delivery, MessageDelivery::Session))
                else {
                    self.audit(key, self.now(), "message.outside_window", &spec.key);
                    return Ok(None);
                };
                let template = MessageSpec {
                    delivery: MessageDelivery::Template {
                        name: name.to_owned(),
                    },
                    ..spec.clone()
                };
                message.body = catalog
                    .render(&template, locale)
                    .map_err(|e| EngineError::Render(e.to_string()))?;
                let sent = self.whatsapp_send(&message, true).await?;
                Ok(Some(sent.message_id))
            }
            Err(e) if e.kind == PortErrorKind::OptedOut => {
                // The session records it (and stops nudging) through the queue, in order with
                // its other events.
                self.audit(key, self.now(), "message.opted_out", &spec.key);
                self.submit(key.clone(), Event::OptedOut).await?;
                Ok(None)
            }
            Err(e)
                if e.kind == PortErrorKind::Undeliverable || e.kind == PortErrorKind::Invalid =>
            {
                self.audit(key, self.now(), "message.undeliverable", &e.message);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One WhatsApp send, counted by delivery and by error kind.
    async fn whatsapp_send(
        &self,
        message: &OutboundMessage,
        template: bool,
    ) -> Result<kyc_flow_core::ports::SentMessage, PortError> {
        let result = self.inner.ports.transport.send(message).await;
        match &result {
            Ok(_) => crate::metrics::whatsapp_sent(template),
            Err(e) => crate::metrics::whatsapp_error(e.kind),
        }
        result
    }

    async fn run_slow_command(&self, job: &CommandJob) -> Result<(), EngineError> {
        let key = &job.key;
        let event = match &job.command {
            Command::AnalyseDocument {
                capture,
                side,
                document,
                media,
            } => analysis_event(
                *capture,
                self.analyse_document(key, *capture, *side, *document, media)
                    .await,
                |outcome| Event::DocumentAnalysed {
                    capture: *capture,
                    side: *side,
                    outcome,
                },
            )?,
            Command::AnalyseSelfie {
                capture,
                media,
                portrait,
            } => analysis_event(
                *capture,
                self.analyse_selfie(key, &job.session_id, media, *portrait)
                    .await,
                |outcome| Event::SelfieAnalysed {
                    capture: *capture,
                    outcome,
                },
            )?,
            Command::AnalyseVideo {
                capture,
                media,
                portrait,
                challenge,
            } => analysis_event(
                *capture,
                self.analyse_video(key, media, *portrait, *challenge).await,
                |outcome| Event::VideoAnalysed {
                    capture: *capture,
                    outcome,
                },
            )?,
            Command::QueryRegistry { request, query } => {
                let ports = &self.inner.ports;
                let corr = Correlation {
                    key: key.clone(),
                    request: *request,
                };
                ports
                    .evidence
                    .put(
                        &correlation_key(&query.correlation_id),
                        &encode(&corr)?,
                        self.inner.config.evidence_ttl,
                    )
                    .await?;
                match timed("registry", ports.registry.query(query)).await {
                    Ok(RegistryReply::Answered(result)) => Event::RegistryAnswered {
                        request: *request,
                        result,
                    },
                    Ok(RegistryReply::Pending) => return Ok(()),
                    // The core owns the retry policy for registries (backoff, then manual review).
                    Err(e) => Event::RegistryFailed {
                        request: *request,
                        reason: e.to_string(),
                    },
                }
            }
            other => {
                return Err(EngineError::BadJob(format!(
                    "not a slow command: {}",
                    other.kind()
                )));
            }
        };
        self.submit(key.clone(), event).await
    }

    async fn analyse_document(
        &self,
        key: &SessionKey,
        capture: u32,
        side: kyc_flow_core::Side,
        document: kyc_flow_core::DocumentKind,
        media: &MediaRef,
    ) -> Result<kyc_flow_core::DocumentOutcome, PortError> {
        let ports = &self.inner.ports;
        let blob = match timed("media", ports.media.fetch(media)).await {
            Ok(b) => b,
            Err(e) if !e.is_retryable() => return Ok(unsupported_media(&e)),
            Err(e) => return Err(e),
        };
        let reading = timed(
            "documents",
            ports.documents.read(DocumentImage {
                document,
                side,
                image: &blob.bytes,
            }),
        )
        .await?;
        if let Some(portrait) = &reading.portrait {
            ports
                .evidence
                .put(
                    &EvidenceKey::portrait_of(&self.session_id(key), capture),
                    portrait,
                    self.inner.config.evidence_ttl,
                )
                .await?;
        }
        if matches!(
            reading.outcome,
            kyc_flow_core::DocumentOutcome::Accepted { .. }
        ) {
            self.hash_card_photo(key, capture, &blob.bytes).await;
        }
        Ok(reading.outcome)
    }

    async fn analyse_selfie(
        &self,
        key: &SessionKey,
        session_id: &str,
        media: &MediaRef,
        front: Option<u32>,
    ) -> Result<SelfieOutcome, PortError> {
        let ports = &self.inner.ports;
        let blob = match timed("media", ports.media.fetch(media)).await {
            Ok(b) => b,
            Err(e) if !e.is_retryable() => {
                return Ok(SelfieOutcome::Retake {
                    reason: kyc_flow_core::RetakeReason::UnsupportedMedia,
                    detail: format!("{:?}", e.kind),
                });
            }
            Err(e) => return Err(e),
        };
        let portrait = self.card_portrait(key, front).await?.ok_or_else(|| {
            PortError::new(
                PortErrorKind::NotFound,
                "card portrait not in the evidence store",
            )
        })?;
        let (face, live) = tokio::join!(
            timed("faces", ports.faces.compare(&blob.bytes, &portrait)),
            timed("liveness", ports.liveness.check(&blob.bytes))
        );
        Ok(match (face?, live?) {
            (FaceMatchOutcome::Retake { reason, detail }, _)
            | (_, LivenessOutcome::Retake { reason, detail }) => {
                SelfieOutcome::Retake { reason, detail }
            }
            (FaceMatchOutcome::Compared(face), LivenessOutcome::Judged(liveness)) => {
                // Only a selfie that could be accepted is searched for (and kept to enrol).
                let signals = self.search_repeats(key, session_id, &blob.bytes).await?;
                SelfieOutcome::Analysed {
                    face,
                    liveness,
                    signals,
                }
            }
        })
    }

    /// Judge a video note against the card portrait (when the evidence store still has it).
    /// The media is deleted by the core's `DeleteMedia` after the result, like a photo's.
    async fn analyse_video(
        &self,
        key: &SessionKey,
        media: &MediaRef,
        front: Option<u32>,
        challenge: kyc_flow_core::VideoChallenge,
    ) -> Result<kyc_flow_core::VideoOutcome, PortError> {
        let ports = &self.inner.ports;
        let blob = match timed("media", ports.media.fetch(media)).await {
            Ok(b) => b,
            Err(e) if !e.is_retryable() => {
                return Ok(kyc_flow_core::VideoOutcome::Retake {
                    reason: kyc_flow_core::RetakeReason::UnsupportedMedia,
                    detail: format!("{:?}", e.kind),
                });
            }
            Err(e) => return Err(e),
        };
        let portrait = self.card_portrait(key, front).await?;
        timed(
            "video",
            ports
                .video
                .check_video(&blob.bytes, challenge, portrait.as_deref()),
        )
        .await
    }

    /// The card portrait of the accepted front `front`, if the evidence store has it.
    async fn card_portrait(
        &self,
        key: &SessionKey,
        front: Option<u32>,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let ports = &self.inner.ports;
        // The accepted front's own portrait; then the names portraits had before captures
        // kept their own, and before ids were keyed (remove one `evidence_ttl` after upgrading).
        let sid = self.session_id(key);
        let mut names = Vec::with_capacity(3);
        names.extend(front.map(|c| EvidenceKey::portrait_of(&sid, c)));
        names.push(EvidenceKey::portrait(&sid));
        names.push(EvidenceKey::portrait(&key.storage_id()));
        for name in &names {
            if let Some(portrait) = ports.evidence.get(name).await? {
                return Ok(Some(portrait));
            }
        }
        Ok(None)
    }
}

/// Await one call to an external port, recording its latency and any error.
async fn timed<T>(
    port: &'static str,
    call: impl std::future::Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    let started = std::time::Instant::now();
    let result = call.await;
    crate::metrics::port(port, started.elapsed(), &result);
    result
}

/// The event an analysis produces: its result, or `AnalysisFailed` for a permanent failure.
/// A retryable failure is an error, so the job is retried with backoff.
fn analysis_event<T>(
    capture: u32,
    result: Result<T, PortError>,
    ok: impl FnOnce(T) -> Event,
) -> Result<Event, EngineError> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => Ok(Event::AnalysisFailed {
            capture,
            retryable: false,
            reason: e.to_string(),
        }),
    }
}

fn unsupported_media(e: &PortError) -> kyc_flow_core::DocumentOutcome {
    kyc_flow_core::DocumentOutcome::Retake {
        reason: kyc_flow_core::RetakeReason::UnsupportedMedia,
        detail: format!("{:?}", e.kind),
    }
}

#[async_trait::async_trait]
impl RegistryCallbackHandler for Engine {
    async fn on_result(
        &self,
        correlation_id: &str,
        result: RegistryResult,
    ) -> Result<(), PortError> {
        let ports = &self.inner.ports;
        let raw = ports
            .evidence
            .get(&correlation_key(correlation_id))
            .await?
            .ok_or_else(|| PortError::new(PortErrorKind::NotFound, "unknown correlation id"))?;
        let corr: Correlation = serde_json::from_slice(&raw).map_err(|e| {
            PortError::new(
                PortErrorKind::Internal,
                format!("bad correlation record: {e}"),
            )
        })?;
        let job = event_job(
            &corr.key,
            Event::RegistryAnswered {
                request: corr.request,
                result,
            },
        )
        .map_err(|e| PortError::new(PortErrorKind::Internal, e.to_string()))?;
        ports.queue.enqueue(vec![job]).await?;
        Ok(())
    }
}

fn correlation_key(id: &str) -> EvidenceKey {
    EvidenceKey(format!("registry-correlation/{id}"))
}

pub use kyc_flow_core::retry::RetryPolicy;

fn lane_slot(lane: Lane) -> usize {
    match lane {
        Lane::Events => 0,
        Lane::Analyses => 1,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A conversation held by this engine: the in-process lock and the name of its lease.
pub(crate) struct Held {
    name: String,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// A lease owner name unique to this engine instance: process id, start time and a counter.
fn lease_owner() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{started:x}-{n}", std::process::id())
}

/// The queue job that carries `event` for `key` (what [`Engine::submit`] enqueues), for code
/// that enqueues events itself (batches, tests, benches).
pub fn event_job(key: &SessionKey, event: Event) -> Result<NewJob, EngineError> {
    let payload = encode(&EventJob {
        key: key.clone(),
        event,
    })?;
    Ok(NewJob {
        kind: JOB_EVENT.to_owned(),
        partition: Some(key.storage_id()),
        payload,
    })
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(v).map_err(|e| EngineError::BadJob(e.to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::BadJob(e.to_string()))
}
