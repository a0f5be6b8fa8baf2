//! The engine: runs the pure core against the ports.
//!
//! Data flow: an inbound event is enqueued (`engine.event` job) → a worker takes it, locks the
//! conversation, loads the session, calls [`kyc_flow_core::machine::step`], saves the result with
//! compare-and-set, and enqueues the transition's commands as one `engine.commands` job. The
//! commands job runs the commands in order; slow ones (document and selfie analysis, registry
//! queries) become their own `engine.command` jobs so one conversation's slow photo never
//! delays another's messages. Every result comes back as an event through the same queue.
//!
//! Exactly-once effects on top of an at-least-once queue: every command of a transition has a
//! de-duplication key `cmd:{session}:{seq}:{index}` marked before it runs and forgotten if it
//! fails, so a redelivered job does not send a message twice.

use crate::clock::Clock;
use crate::inbound::Foreign;
use kyc_flow_core::catalog::Catalog;
use kyc_flow_core::command::{Command, MessageDelivery, MessageSpec};
use kyc_flow_core::event::Event;
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::machine;
use kyc_flow_core::ports::{
    DecisionNotice, DecisionSink, Deduplicator, Delivery, DocumentImage, DocumentReader,
    EvidenceStore, FaceMatchOutcome, FaceMatcher, JobQueue, LivenessChecker, LivenessOutcome,
    MediaFetcher, MediaRef, MessageTransport, NewJob, OutboundMessage, PortError, PortErrorKind,
    RegistryCallbackHandler, RegistryClient, RegistryReply, SessionStore, TimerEntry, TimerStore,
};
use kyc_flow_core::session::Session;
use kyc_flow_core::{EvidenceKey, Locale, RegistryResult, SelfieOutcome, SessionKey, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Job kind of a single event for one session.
pub const JOB_EVENT: &str = "engine.event";
/// Job kind of a transition's ordered commands.
pub const JOB_COMMANDS: &str = "engine.commands";
/// Job kind of one slow command (analysis, registry query).
pub const JOB_COMMAND: &str = "engine.command";

/// Every adapter the engine drives.
#[derive(Clone)]
pub struct Ports {
    pub sessions: Arc<dyn SessionStore>,
    pub evidence: Arc<dyn EvidenceStore>,
    pub queue: Arc<dyn JobQueue>,
    pub timers: Arc<dyn TimerStore>,
    pub dedup: Arc<dyn Deduplicator>,
    pub transport: Arc<dyn MessageTransport>,
    pub media: Arc<dyn MediaFetcher>,
    pub documents: Arc<dyn DocumentReader>,
    pub faces: Arc<dyn FaceMatcher>,
    pub liveness: Arc<dyn LivenessChecker>,
    pub registry: Arc<dyn RegistryClient>,
    pub decisions: Arc<dyn DecisionSink>,
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
    /// How long command de-duplication marks are kept.
    #[serde(with = "secs")]
    pub command_dedup_ttl: Duration,
    /// Deliveries of one job before it is dead-lettered.
    pub max_job_attempts: u32,
    /// Compare-and-set retries for one event before giving the job back to the queue.
    pub cas_retries: u32,
    /// Jobs a worker takes at once.
    pub batch: usize,
    /// Pending deliveries idle longer than this are taken over from dead workers.
    #[serde(with = "secs")]
    pub reclaim_after: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            evidence_ttl: Duration::from_secs(24 * 3600),
            command_dedup_ttl: Duration::from_secs(7 * 24 * 3600),
            max_job_attempts: 8,
            cas_retries: 16,
            batch: 32,
            reclaim_after: Duration::from_secs(60),
        }
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

/// Receives the audit trail and engine-level notes (the simulator prints them).
pub trait AuditLog: Send + Sync + 'static {
    /// One audit line for a session. `detail` never contains PII.
    fn record(&self, key: &SessionKey, at: Timestamp, kind: &str, detail: &str);
}

/// Errors of the engine itself (ports' errors are carried inside).
#[derive(Debug, thiserror::Error)]
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
}

impl EngineError {
    /// Whether the job that hit this error should be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Port(e) => e.is_retryable(),
            Self::Contended(_) => true,
            Self::BadJob(_) | Self::UnknownFlow { .. } | Self::Render(_) => false,
        }
    }
}

/// An event for one session, as it travels through the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventJob {
    pub key: SessionKey,
    pub event: Event,
}

/// The commands of one transition, as they travel through the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandsJob {
    pub key: SessionKey,
    pub session_id: String,
    pub seq: u64,
    pub locale: Locale,
    pub flow_id: String,
    pub flow_version: u32,
    /// Evidence summary, carried only when a decision is delivered.
    pub evidence: Option<serde_json::Value>,
    pub commands: Vec<Command>,
}

/// One slow command split off a transition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandJob {
    pub key: SessionKey,
    pub session_id: String,
    pub command: Command,
}

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
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder").finish_non_exhaustive()
    }
}

/// Problems found when an engine is built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("routing names flow `{0}`, which is not loaded")]
    MissingFlow(String),
    #[error("flow `{flow}` is invalid: {problems}")]
    InvalidFlow { flow: String, problems: String },
    #[error("flow `{flow}` needs what no configured engine offers: {missing}")]
    MissingCapability { flow: String, missing: String },
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
        }
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
            check_flow(flow, &self.catalog, &self.ports)?;
        }
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
            }),
        })
    }
}

fn check_flow(flow: &Flow, catalog: &Catalog, ports: &Ports) -> Result<(), BuildError> {
    if let Err(problems) = flow.validate(catalog) {
        return Err(BuildError::InvalidFlow {
            flow: flow.id.clone(),
            problems: problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let mut caps = ports.documents.capabilities();
    let faces = ports.faces.capabilities();
    let live = ports.liveness.capabilities();
    caps.face_match |= faces.face_match;
    caps.liveness |= live.liveness;
    caps.liveness_certified |= live.liveness_certified;
    let registries = ports.registry.registries();
    if let Err(missing) = kyc_flow_core::capability::check_capabilities(flow, &caps, &registries) {
        return Err(BuildError::MissingCapability {
            flow: flow.id.clone(),
            missing: missing
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("; "),
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
            .into_iter()
            .map(|t| {
                event_job(
                    &t.session,
                    Event::TimerFired {
                        name: t.name,
                        token: t.token,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.inner.ports.queue.enqueue(jobs).await?;
        Ok(n)
    }

    /// Take up to one batch of jobs and process them. Returns how many were taken.
    pub async fn work_once(&self, consumer: &str, wait: Duration) -> Result<usize, EngineError> {
        let ports = &self.inner.ports;
        let mut deliveries = ports
            .queue
            .reclaim(
                consumer,
                self.inner.config.reclaim_after,
                self.inner.config.batch,
            )
            .await?;
        if deliveries.is_empty() {
            deliveries = ports
                .queue
                .reserve(consumer, self.inner.config.batch, wait)
                .await?;
        }
        let n = deliveries.len();
        for d in deliveries {
            self.handle_delivery(d).await;
        }
        Ok(n)
    }

    /// Process until the queue is empty and no timer is due (simulations and tests).
    pub async fn run_until_idle(&self, consumer: &str) -> Result<(), EngineError> {
        loop {
            let fired = self.fire_due_timers().await?;
            let worked = self.work_once(consumer, Duration::ZERO).await?;
            if fired == 0 && worked == 0 {
                return Ok(());
            }
        }
    }

    /// A worker loop until `shutdown` turns true.
    pub async fn run_worker(
        &self,
        consumer: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        while !*shutdown.borrow() {
            tokio::select! {
                r = self.work_once(&consumer, Duration::from_millis(500)) => {
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
    pub async fn run_timers(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.fire_due_timers().await {
                tracing::warn!(error = %e, "timers: store unavailable");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn handle_delivery(&self, d: Delivery) {
        let queue = &self.inner.ports.queue;
        let result = self.handle_job(&d).await;
        let outcome = match result {
            Ok(()) => queue.ack(&d.id).await,
            Err(e) if e.is_retryable() && d.attempt < self.inner.config.max_job_attempts => {
                let delay = backoff(d.attempt);
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

    async fn handle_job(&self, d: &Delivery) -> Result<(), EngineError> {
        match d.job.kind.as_str() {
            JOB_EVENT => {
                let job: EventJob = decode(&d.job.payload)?;
                self.handle_event(&job.key, &job.event).await
            }
            JOB_COMMANDS => {
                let job: CommandsJob = decode(&d.job.payload)?;
                self.run_commands(&job).await
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
        let Some(session) = self.session(key).await? else {
            return Ok(());
        };
        if session.is_terminal() {
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
    }

    fn lock_for(&self, key: &SessionKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > 10_000 {
            // Drop locks nobody holds; keeps the map bounded under many users.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.storage_id()).or_default().clone()
    }

    /// Apply one event to its session: load, step, compare-and-set, dispatch the commands.
    pub async fn handle_event(&self, key: &SessionKey, event: &Event) -> Result<(), EngineError> {
        let lock = self.lock_for(key);
        let _guard = lock.lock().await;
        let inner = &self.inner;
        for _ in 0..inner.config.cas_retries {
            let now = self.now();
            let (session, expected) =
                match inner.ports.sessions.load(key).await? {
                    Some(v) => (v.value, Some(v.version)),
                    None => {
                        if !matches!(event, Event::Inbound(_)) {
                            // A late result or timer for a session that is gone (deleted on
                            // request, or expired from the store): nothing to do.
                            self.audit(
                                key,
                                now,
                                "event.orphaned",
                                "event for a session that no longer exists",
                            );
                            return Ok(());
                        }
                        let flow_id = inner.routing.flow_for(key);
                        let flow = inner.flows.latest(flow_id).ok_or_else(|| {
                            EngineError::UnknownFlow {
                                id: flow_id.to_owned(),
                                version: 0,
                            }
                        })?;
                        let id = format!("{}-{:x}", key.storage_id(), now.0);
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
            let transition = machine::step(flow, &inner.catalog, session, event, now);
            if transition.session.seq == before_seq
                && transition.commands.is_empty()
                && expected.is_some()
            {
                return Ok(()); // nothing changed (a duplicate delivery, a stale result)
            }
            match inner
                .ports
                .sessions
                .save(key, &transition.session, expected, inner.config.session_ttl)
                .await
            {
                Ok(_) => {
                    return self
                        .dispatch(key, &transition.session, transition.commands)
                        .await;
                }
                Err(e) if e.kind == PortErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended(inner.config.cas_retries))
    }

    async fn dispatch(
        &self,
        key: &SessionKey,
        session: &Session,
        commands: Vec<Command>,
    ) -> Result<(), EngineError> {
        if commands.is_empty() {
            return Ok(());
        }
        let evidence = commands
            .iter()
            .any(|c| matches!(c, Command::DeliverDecision { .. }))
            .then(|| session.evidence_summary());
        let job = CommandsJob {
            key: key.clone(),
            session_id: session.id.clone(),
            seq: session.seq,
            locale: session.locale,
            flow_id: session.flow_id.clone(),
            flow_version: session.flow_version,
            evidence,
            commands,
        };
        let payload = encode(&job)?;
        self.inner
            .ports
            .queue
            .enqueue(vec![NewJob {
                kind: JOB_COMMANDS.to_owned(),
                partition: Some(key.storage_id()),
                payload,
            }])
            .await?;
        Ok(())
    }

    async fn run_commands(&self, job: &CommandsJob) -> Result<(), EngineError> {
        let dedup = &self.inner.ports.dedup;
        let ttl = self.inner.config.command_dedup_ttl;
        for (i, command) in job.commands.iter().enumerate() {
            let mark = format!("cmd:{}:{}:{}", job.session_id, job.seq, i);
            if !dedup.first_seen(&mark, ttl).await? {
                continue;
            }
            if let Err(e) = self.run_command(job, command).await {
                if let Err(f) = dedup.forget(&mark).await {
                    tracing::warn!(error = %f, "could not take back a command mark");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn run_command(&self, job: &CommandsJob, command: &Command) -> Result<(), EngineError> {
        let ports = &self.inner.ports;
        let key = &job.key;
        match command {
            Command::Send(spec) => {
                self.send(key, job.locale, spec, Some(&job.session_id))
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
                Ok(())
            }
            Command::AnalyseDocument { .. }
            | Command::AnalyseSelfie { .. }
            | Command::QueryRegistry { .. } => {
                let slow = CommandJob {
                    key: key.clone(),
                    session_id: job.session_id.clone(),
                    command: command.clone(),
                };
                ports
                    .queue
                    .enqueue(vec![NewJob {
                        kind: JOB_COMMAND.to_owned(),
                        partition: Some(key.storage_id()),
                        payload: encode(&slow)?,
                    }])
                    .await?;
                Ok(())
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
                Ok(())
            }
            Command::CancelTimer { name } => {
                ports.timers.cancel(key, name).await?;
                Ok(())
            }
            Command::DeliverDecision { decision } => {
                let notice = DecisionNotice {
                    session_id: job.session_id.clone(),
                    key: key.clone(),
                    flow_id: job.flow_id.clone(),
                    flow_version: job.flow_version,
                    decision: decision.clone(),
                    decided_at: self.now(),
                    evidence: job.evidence.clone().unwrap_or(serde_json::Value::Null),
                };
                ports.decisions.deliver(&notice).await?;
                Ok(())
            }
            Command::DeleteMedia { media } => match ports.media.delete(media).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_retryable() => Err(e.into()),
                Err(e) => {
                    tracing::info!(error = %e, "media could not be deleted on the platform");
                    Ok(())
                }
            },
            Command::DeleteEvidence => {
                ports
                    .evidence
                    .delete(&EvidenceKey::portrait(&key.storage_id()))
                    .await?;
                Ok(())
            }
            Command::Audit(entry) => {
                self.audit(key, entry.at, &entry.kind, &entry.detail);
                Ok(())
            }
        }
    }

    fn audit(&self, key: &SessionKey, at: Timestamp, kind: &str, detail: &str) {
        tracing::info!(target: "kyc_flow::audit", session = %key.storage_id(), at = at.0, kind, detail);
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
    ) -> Result<(), EngineError> {
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
        match self.inner.ports.transport.send(&message).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == PortErrorKind::OutsideWindow => {
                // The window closed between the decision and the send: a template is the only
                // thing WhatsApp will deliver now, if this message has one.
                let Some(name) = catalog
                    .template_name(&spec.key)
                    .filter(|_| matches!(spec.delivery, MessageDelivery::Session))
                else {
                    self.audit(key, self.now(), "message.outside_window", &spec.key);
                    return Ok(());
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
                self.inner.ports.transport.send(&message).await?;
                Ok(())
            }
            Err(e)
                if e.kind == PortErrorKind::Undeliverable || e.kind == PortErrorKind::Invalid =>
            {
                self.audit(key, self.now(), "message.undeliverable", &e.message);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
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
                self.analyse_document(key, *side, *document, media).await,
                |outcome| Event::DocumentAnalysed {
                    capture: *capture,
                    side: *side,
                    outcome,
                },
            )?,
            Command::AnalyseSelfie { capture, media } => {
                analysis_event(*capture, self.analyse_selfie(key, media).await, |outcome| {
                    Event::SelfieAnalysed {
                        capture: *capture,
                        outcome,
                    }
                })?
            }
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
                match ports.registry.query(query).await {
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
        side: kyc_flow_core::Side,
        document: kyc_flow_core::DocumentKind,
        media: &MediaRef,
    ) -> Result<kyc_flow_core::DocumentOutcome, PortError> {
        let ports = &self.inner.ports;
        let blob = match ports.media.fetch(media).await {
            Ok(b) => b,
            Err(e) if !e.is_retryable() => return Ok(unsupported_media(&e)),
            Err(e) => return Err(e),
        };
        let reading = ports
            .documents
            .read(DocumentImage {
                document,
                side,
                image: &blob.bytes,
            })
            .await?;
        if let Some(portrait) = &reading.portrait {
            ports
                .evidence
                .put(
                    &EvidenceKey::portrait(&key.storage_id()),
                    portrait,
                    self.inner.config.evidence_ttl,
                )
                .await?;
        }
        Ok(reading.outcome)
    }

    async fn analyse_selfie(
        &self,
        key: &SessionKey,
        media: &MediaRef,
    ) -> Result<SelfieOutcome, PortError> {
        let ports = &self.inner.ports;
        let blob = match ports.media.fetch(media).await {
            Ok(b) => b,
            Err(e) if !e.is_retryable() => {
                return Ok(SelfieOutcome::Retake {
                    reason: kyc_flow_core::RetakeReason::UnsupportedMedia,
                    detail: format!("{:?}", e.kind),
                });
            }
            Err(e) => return Err(e),
        };
        let portrait = ports
            .evidence
            .get(&EvidenceKey::portrait(&key.storage_id()))
            .await?
            .ok_or_else(|| {
                PortError::new(
                    PortErrorKind::NotFound,
                    "card portrait not in the evidence store",
                )
            })?;
        let (face, live) = tokio::join!(
            ports.faces.compare(&blob.bytes, &portrait),
            ports.liveness.check(&blob.bytes)
        );
        Ok(match (face?, live?) {
            (FaceMatchOutcome::Retake { reason, detail }, _)
            | (_, LivenessOutcome::Retake { reason, detail }) => {
                SelfieOutcome::Retake { reason, detail }
            }
            (FaceMatchOutcome::Compared(face), LivenessOutcome::Judged(liveness)) => {
                SelfieOutcome::Analysed { face, liveness }
            }
        })
    }
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

/// Exponential backoff with a cap: 1 s, 2 s, 4 s, … 5 min.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

fn event_job(key: &SessionKey, event: Event) -> Result<NewJob, EngineError> {
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
