//! `kyc-flow serve` and `kyc-flow worker`: the real service from a TOML config.
//!
//! Secrets may come from the environment: every `${NAME}` in the file is replaced by the
//! variable's value before parsing (an unset variable is an error, never an empty secret).
//! The session id secret may also come from [`SESSION_ID_SECRET_ENV`] alone.

use anyhow::{Context, anyhow};
use kyc_flow::decisions::{DecisionWebhookConfig, WebhookDecisionSink};
use kyc_flow::engine::{EngineBuilder, EngineConfig, Lane, Ports, Routing};
use kyc_flow_core::face_index::{FaceIndex, InMemoryFaceIndex, RepeatFeatures};
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::ports::{DocumentReader, FaceMatcher, LivenessChecker};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_registry::{CallbackKeys, HttpRegistryClient, RegistryEndpoint};
use kyc_flow_vision::vendor::{
    VendorClient, VendorConfig, VendorDocumentReader, VendorFaceMatcher, VendorLiveness,
};
use kyc_flow_whatsapp::{
    CoalesceConfig, CoalescingInbox, GraphClient, GraphConfig, WebhookConfig,
    webhook_router_with_inbox,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `serve` reads the session id secret when `engine.session_id_secret` is not in the
/// file (hex, at least 32 bytes; see `docs/STORAGE.md`).
pub const SESSION_ID_SECRET_ENV: &str = "KYC_FLOW_SESSION_ID_SECRET";

/// The service configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of the HTTP endpoint (webhook, registry callbacks, health).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Worker loops on the events lane in this process (the older spelling of
    /// `worker.events`, which wins when both are set).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Worker loops per lane.
    #[serde(default)]
    pub worker: WorkerSection,
    /// HTTP server limits (header timeout, connection cap) and the shutdown grace period.
    #[serde(default)]
    pub http: crate::http::HttpLimits,
    #[serde(default)]
    pub engine: EngineConfig,
    pub routing: Routing,
    /// Flow files loaded besides the presets (a newer version of a flow id becomes the one new
    /// sessions start on; sessions in progress finish on theirs).
    #[serde(default)]
    pub flow_files: Vec<PathBuf>,
    pub webhook: WebhookConfig,
    pub graph: GraphConfig,
    #[serde(default)]
    pub redis: RedisConfig,
    #[serde(default)]
    pub registries: Vec<RegistryEndpoint>,
    pub registry_callbacks: Option<CallbackKeys>,
    pub decisions: DecisionWebhookConfig,
    /// Vendor engines replacing the local ones, per capability (a certified liveness vendor
    /// with the local OCR, say). Unset: the local engine.
    #[serde(default)]
    pub vision: VisionSection,
    /// The manual review API and page, on a listener of their own (`review.listen`, loopback
    /// by default). Absent: not served.
    #[serde(default)]
    pub review: Option<crate::review::ReviewConfig>,
    /// How long decided sessions keep personal data (`decided_secs`; 0: no retention timer).
    #[serde(default)]
    pub retention: kyc_flow::erasure::RetentionConfig,
    /// The funnel dashboard (`/dashboard`): served only with a token.
    #[serde(default)]
    pub dashboard: DashboardSection,
    /// USD per message by country and category, for the cost estimates of the funnel (the
    /// built-in table when absent: `kyc_flow_core::funnel::PriceTable::meta_2026_10`).
    pub pricing: Option<kyc_flow_core::funnel::PriceTable>,
    /// The 1:N repeat check (repeat faces, documents and images across sessions). Absent: off.
    pub face_index: Option<FaceIndexSection>,
}

/// `[face_index]`: the 1:N face index searched at each selfie (see `docs/VISION.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceIndexSection {
    /// On unless `false`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `redis` (default: shared by every process, sealed at rest) or `memory` (this process
    /// only, lost on restart: for a single-process deployment).
    #[serde(default)]
    pub backend: FaceIndexBackend,
    /// Seconds a record is kept after enrolment (default 180 days).
    pub retention_secs: Option<u64>,
    /// Cosine from which two faces are the same in 1:N (default 0.50).
    pub min_face_similarity: Option<f32>,
    /// Most records held (default 2,000,000; the exact scan's stated limit).
    pub capacity: Option<usize>,
    /// Keys the Redis backend seals records with (biometric data apart from the sessions');
    /// empty: the `[redis]` encryption keys.
    #[serde(default)]
    pub encryption_keys: Vec<kyc_flow_redis::EncryptionKey>,
    /// The key new records are sealed with; default: the highest id.
    pub active_key_id: Option<u32>,
}

/// Where the face index lives.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceIndexBackend {
    #[default]
    Redis,
    Memory,
}

fn default_true() -> bool {
    true
}

impl FaceIndexSection {
    /// The index's tunables: the defaults, with this section's values.
    pub fn index_config(&self) -> kyc_flow_core::face_index::IndexConfig {
        let mut c = kyc_flow_core::face_index::IndexConfig::default();
        if let Some(v) = self.retention_secs {
            c.retention_secs = v;
        }
        if let Some(v) = self.min_face_similarity {
            c.min_face_similarity = v;
        }
        if let Some(v) = self.capacity {
            c.capacity = v;
        }
        c
    }
}

/// `[dashboard]`: the funnel page and its JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// Bearer token the dashboard's data requires (use `${VAR}`). Without one the dashboard is
    /// not served: it is not for anonymous visitors of the webhook's address.
    pub token: Option<String>,
}

/// Worker loops per lane in one process (`[worker]`). Slow work — document and selfie
/// analyses, registry queries — has a lane of its own (a Redis stream `{stream}:lane:analyses`)
/// served by its own loops, so a burst of photos never delays text replies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Loops on the events lane (inbound messages, timers, analysis results, decision
    /// notices). Each takes `engine.batch` jobs at a time and runs up to
    /// `engine.batch_concurrency` of them at once (one conversation's in order). Unset:
    /// `workers`.
    pub events: Option<usize>,
    /// Loops on the analyses lane, each running one job at a time: the most analyses and
    /// registry queries this process runs at once. Size it for the engines' latency (vendor
    /// calls wait; local models use a CPU each). `0`: no lane — analyses are queued with
    /// everything else and run on the events loops (how the engine worked before lanes; every
    /// process of a deployment must agree).
    #[serde(default = "default_analyses")]
    pub analyses: usize,
}

impl Default for WorkerSection {
    fn default() -> Self {
        Self {
            events: None,
            analyses: default_analyses(),
        }
    }
}

fn default_analyses() -> usize {
    4
}

impl ServeConfig {
    /// Worker loops on the events lane.
    pub fn event_workers(&self) -> usize {
        self.worker.events.unwrap_or(self.workers)
    }
}

/// Which vision engines `serve` uses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionSection {
    pub documents: Option<VendorConfig>,
    pub faces: Option<VendorConfig>,
    pub liveness: Option<VendorConfig>,
}

/// The document reader, face matcher and liveness checker `serve` runs with, and the local
/// engine's embeddings for the face index when the local engines are loaded.
type VisionPorts = (
    Arc<dyn DocumentReader>,
    Arc<dyn FaceMatcher>,
    Arc<dyn LivenessChecker>,
    Option<Arc<dyn RepeatFeatures>>,
    // The local video-note engine, when the local face engine is loaded (no vendor judges
    // video notes: a flow with a `video_liveness` step is refused at start-up without it).
    Option<Arc<dyn kyc_flow_core::ports::VideoLivenessChecker>>,
);

/// The configured vision ports: vendors where configured, local engines for the rest (loaded
/// only when some capability needs them).
fn vision_ports(section: &VisionSection) -> anyhow::Result<VisionPorts> {
    let local =
        if section.documents.is_none() || section.faces.is_none() || section.liveness.is_none() {
            Some(kyc_flow::local_engines::local_vision()?)
        } else {
            None
        };
    let client = |c: &VendorConfig| {
        VendorClient::new(c.clone()).map_err(|e| anyhow!("vision vendor {}: {e}", c.name))
    };
    let documents: Arc<dyn DocumentReader> = match (&section.documents, &local) {
        (Some(c), _) => Arc::new(VendorDocumentReader::new(client(c)?)),
        (None, Some(l)) => l.documents.clone(),
        (None, None) => unreachable!("local engines are loaded when a capability has no vendor"),
    };
    let faces: Arc<dyn FaceMatcher> = match (&section.faces, &local) {
        (Some(c), _) => Arc::new(VendorFaceMatcher::new(client(c)?)),
        (None, Some(l)) => l.faces.clone(),
        (None, None) => unreachable!("local engines are loaded when a capability has no vendor"),
    };
    let liveness: Arc<dyn LivenessChecker> = match (&section.liveness, &local) {
        (Some(c), _) => Arc::new(VendorLiveness::new(client(c)?)),
        (None, Some(l)) => l.liveness.clone(),
        (None, None) => unreachable!("local engines are loaded when a capability has no vendor"),
    };
    let video = local.as_ref().map(|l| l.video.clone());
    let features = local.map(|l| l.repeat_features);
    Ok((documents, faces, liveness, features, video))
}

/// The `[face_index]` section when it is on, with the embeddings it needs: an error when it is
/// on and no local face engine gives embeddings (every vision capability is a vendor's).
fn enabled_face_index(
    section: Option<&FaceIndexSection>,
    features: Option<Arc<dyn RepeatFeatures>>,
) -> anyhow::Result<Option<(&FaceIndexSection, Arc<dyn RepeatFeatures>)>> {
    let Some(section) = section.filter(|s| s.enabled) else {
        return Ok(None);
    };
    let features = features.ok_or_else(|| {
        anyhow!(
            "face_index: needs the local face engine for embeddings, and every vision \
             capability is a vendor's (vendors hand out no embeddings); disable [face_index] \
             or leave one capability local"
        )
    })?;
    Ok(Some((section, features)))
}

/// The face index and the embeddings it compares, when `[face_index]` is on.
fn face_index(
    section: Option<&FaceIndexSection>,
    storage: &RedisStorage,
    features: Option<Arc<dyn RepeatFeatures>>,
) -> anyhow::Result<Option<kyc_flow::ports::RepeatCheck>> {
    let Some((section, features)) = enabled_face_index(section, features)? else {
        return Ok(None);
    };
    let config = section.index_config();
    let index: Arc<dyn FaceIndex> = match section.backend {
        FaceIndexBackend::Memory => Arc::new(InMemoryFaceIndex::new(config)),
        FaceIndexBackend::Redis => {
            let index = kyc_flow_redis::RedisFaceIndex::new(storage, config);
            if section.encryption_keys.is_empty() {
                Arc::new(index)
            } else {
                let sealer =
                    kyc_flow_redis::Sealer::new(&section.encryption_keys, section.active_key_id)
                        .map_err(|e| anyhow!("face_index.encryption_keys: {e}"))?;
                Arc::new(index.with_sealer(sealer))
            }
        }
    };
    Ok(Some(kyc_flow::ports::RepeatCheck { index, features }))
}

/// What `/readyz` reports as the vision engines: loaded before the endpoint opens (`serve`
/// exits if the local models cannot be loaded).
fn models_in_use(section: &VisionSection) -> String {
    let name = |c: &Option<VendorConfig>| match c {
        Some(v) => format!("vendor {}", v.name),
        None => "local".to_owned(),
    };
    format!(
        "documents: {}, faces: {}, liveness: {}",
        name(&section.documents),
        name(&section.faces),
        name(&section.liveness)
    )
}

fn default_listen() -> String {
    "0.0.0.0:8080".to_owned()
}
fn default_workers() -> usize {
    4
}

/// Replace `${NAME}` with environment variables.
pub fn expand_env(text: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("unterminated ${{ in config"))?;
        let name = &after[..end];
        let value = std::env::var(name)
            .with_context(|| format!("config refers to ${{{name}}}, which is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse a config file's text (after environment expansion). Every error names the key at
/// fault as a dotted path (`http.header_timeout_secs`, `registries[0].base_url`): a value of
/// the wrong type or out of range, and a key nothing reads (a typo would otherwise be ignored
/// silently by the sections whose types accept unknown keys).
pub fn parse_config(text: &str) -> anyhow::Result<ServeConfig> {
    let text = expand_env(text)?;
    let de = toml::Deserializer::parse(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(0, |r| text[..r.start].matches('\n').count() + 1);
        anyhow!(
            "serve config is not valid TOML (line {line}): {}",
            scrub(e.message())
        )
    })?;
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(de, &mut note);
    let parsed: Result<ServeConfig, _> = serde_path_to_error::deserialize(de);
    let mut config = parsed.map_err(|e| {
        anyhow!(
            "serve config: `{}`: {}",
            e.path(),
            scrub(e.inner().message())
        )
    })?;
    if let Some(first) = unknown.first() {
        return Err(anyhow!(
            "serve config: `{first}`: unknown key (not read by kyc-flow; a typo?){}",
            if unknown.len() > 1 {
                format!(
                    ", and {} more: {}",
                    unknown.len() - 1,
                    unknown[1..].join(", ")
                )
            } else {
                String::new()
            }
        ));
    }
    config.check()?;
    config.engine.retention = config.retention.clone();
    if let Some(prices) = &config.pricing {
        config.engine.prices = prices.clone();
    }
    if let Some(review) = &mut config.review {
        review.tokens_from_env()?;
        // Refuses anonymous access beyond loopback, and a section with no way in.
        review.auth()?;
    }
    if config.engine.session_id_secret.is_none() {
        config.engine.session_id_secret = session_id_secret_from_env()?;
    }
    Ok(config)
}

/// A deserializer's message without the quoted values it may repeat: a secret put where a
/// number was expected must not end up on stderr.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

impl ServeConfig {
    /// Values that parse but cannot work, by key.
    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("workers", self.workers as u64),
            ("worker.events", self.event_workers() as u64),
            (
                "engine.batch_concurrency",
                self.engine.batch_concurrency as u64,
            ),
            ("http.header_timeout_secs", self.http.header_timeout_secs),
            ("http.max_connections", self.http.max_connections as u64),
            ("http.worker_stale_secs", self.http.worker_stale_secs),
            ("engine.lease_ttl", self.engine.lease_ttl.as_secs()),
            (
                "engine.max_job_attempts",
                u64::from(self.engine.max_job_attempts),
            ),
            ("engine.batch", self.engine.batch as u64),
            ("engine.reclaim_after", self.engine.reclaim_after.as_secs()),
            ("engine.session_ttl", self.engine.session_ttl.as_secs()),
            ("engine.evidence_ttl", self.engine.evidence_ttl.as_secs()),
            ("redis.capacity", self.redis.capacity as u64),
            ("redis.response_timeout_ms", self.redis.response_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
            (
                "face_index.retention_secs",
                self.face_index
                    .as_ref()
                    .map_or(1, |f| f.index_config().retention_secs),
            ),
            (
                "face_index.capacity",
                self.face_index
                    .as_ref()
                    .map_or(1, |f| f.index_config().capacity as u64),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(anyhow!("serve config: `{key}`: must be greater than 0"));
        }
        // The Redis endpoint or cluster nodes, by key (never by value: a URL may hold a password).
        if let Err(e) = self.redis.check() {
            return Err(anyhow!("serve config: `redis.{}`: {}", e.key, e.problem));
        }
        if self
            .listen
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(anyhow!("serve config: `listen`: expected HOST:PORT"));
        }
        Ok(())
    }
}

/// The secret in [`SESSION_ID_SECRET_ENV`], if set.
fn session_id_secret_from_env() -> anyhow::Result<Option<kyc_flow_core::SessionIdSecret>> {
    match std::env::var(SESSION_ID_SECRET_ENV) {
        Ok(hex) => kyc_flow_core::SessionIdSecret::from_hex(&hex)
            .map(Some)
            .with_context(|| format!("{SESSION_ID_SECRET_ENV} (engine.session_id_secret)")),
        Err(_) => Ok(None),
    }
}

/// Run the service (`http`: with the endpoint; otherwise workers and timers only).
pub fn run(config_path: &Path, http: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = parse_config(&text)?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, base, http))
}

async fn serve(config: ServeConfig, base: &Path, http: bool) -> anyhow::Result<()> {
    // Without it every process would fall back to the public development secret: ids in logs
    // and at registries could be linked to phone numbers again.
    if config.engine.session_id_secret.is_none() {
        return Err(anyhow!(
            "engine.session_id_secret is not set (nor {SESSION_ID_SECRET_ENV}): every serve and \
             worker process of a deployment needs the same secret, hex of at least 32 bytes"
        ));
    }
    let mut flows = FlowSet::presets();
    for file in &config.flow_files {
        let flow =
            kyc_flow::flows::load_flow(&file.to_string_lossy(), base).map_err(|e| anyhow!(e))?;
        flows.insert(flow);
    }
    let storage = RedisStorage::connect(config.redis.clone())
        .await
        .context("Redis")?;
    let graph = Arc::new(GraphClient::new(config.graph.clone())?);
    let (documents, faces, liveness, features, video) = vision_ports(&config.vision)?;
    let repeats = face_index(config.face_index.as_ref(), &storage, features)?;
    let registry = Arc::new(HttpRegistryClient::new(config.registries.clone())?);
    let decisions = Arc::new(WebhookDecisionSink::new(config.decisions.clone())?);
    let metrics = crate::metrics::install()?;
    let queue = Arc::new(storage.queue());
    let analyses = match config.worker.analyses {
        0 => None,
        _ => Some(Arc::new(storage.lane("analyses").await.context("Redis")?)),
    };
    let mut ports = Ports::builder()
        .sessions(Arc::new(storage.sessions()))
        .evidence(Arc::new(storage.evidence()))
        .queue(queue.clone())
        .timers(Arc::new(storage.timers()))
        .leases(Arc::new(storage.leases()))
        .reviews(Arc::new(storage.reviews()))
        .transport(graph.clone())
        .media(graph)
        .documents(documents)
        .faces(faces)
        .liveness(liveness)
        .registry(registry)
        .decisions(decisions);
    if let Some(lane) = analyses.clone() {
        ports = ports.analyses_lane(lane);
    }
    if let Some(video) = video {
        ports = ports.video(video);
    }
    if let Some(check) = repeats {
        ports = ports.repeats(check.index, check.features);
    }
    let ports = ports.build()?;
    let report_flows = flows.clone();
    let engine = EngineBuilder::new(ports, flows, config.routing.clone())
        .config(config.engine.clone())
        .build()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kyc-flow".to_owned());
    let lanes = [
        (Lane::Events, config.event_workers().max(1), ""),
        (Lane::Analyses, config.worker.analyses, "a"),
    ];
    for (lane, loops, tag) in lanes {
        for i in 0..loops {
            let e = engine.clone();
            let rx = stop_rx.clone();
            let name = format!("{host}-{}-{tag}{i}", std::process::id());
            tasks.push(tokio::spawn(async move {
                e.run_lane_worker(lane, name, rx).await
            }));
        }
    }
    {
        let e = engine.clone();
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move { e.run_timers(rx).await }));
    }
    if http {
        let probe_storage = storage.clone();
        let readiness = crate::http::Readiness {
            store: Arc::new(move || {
                let s = probe_storage.clone();
                Box::pin(async move { s.ping().await.map_err(|e| e.to_string()) })
            }),
            engine: engine.clone(),
            workers: config.event_workers().max(1) + config.worker.analyses,
            worker_stale_after: std::time::Duration::from_secs(config.http.worker_stale_secs),
            models: Some(models_in_use(&config.vision)),
        };
        // De-duplication and enqueue in one script: one Redis round trip per webhook, and
        // webhooks arriving while earlier calls are out share the next one (group commit).
        let inbox = Arc::new(CoalescingInbox::new(queue, CoalesceConfig::default()));
        let mut app = webhook_router_with_inbox(config.webhook.clone(), inbox)
            .layer(axum::middleware::from_fn(crate::metrics::count_webhooks))
            .merge(crate::http::probes(Arc::new(readiness)))
            .merge(crate::metrics::router(
                metrics,
                std::iter::once(crate::metrics::QueueGauge::Redis {
                    queue: storage.queue(),
                    stream: config.redis.stream.clone(),
                })
                .chain(analyses.map(|lane| crate::metrics::QueueGauge::Redis {
                    queue: (*lane).clone(),
                    stream: format!("{}:lane:analyses", config.redis.stream),
                }))
                .collect(),
            ));
        match config.dashboard.token.clone().filter(|t| !t.is_empty()) {
            Some(token) => {
                app = app.merge(crate::report::router(crate::report::Dashboard {
                    sessions: crate::report::redis_source(storage.sessions()),
                    flows: report_flows,
                    prices: config.engine.prices.clone(),
                    token: Some(token),
                }))
            }
            None => tracing::info!("no [dashboard] token: /dashboard is not served"),
        }
        if let Some(keys) = config.registry_callbacks.clone() {
            app = app.merge(kyc_flow_registry::callback_router(
                keys,
                Arc::new(engine.clone()),
            ));
        }
        if let Some(review) = &config.review {
            let app = crate::review::router(engine.clone(), review.auth()?);
            let listener = tokio::net::TcpListener::bind(&review.listen)
                .await
                .with_context(|| format!("cannot listen on {} (review.listen)", review.listen))?;
            tracing::info!(addr = %review.listen, "review API and page serving");
            let limits = config.http.clone();
            tokio::spawn(async move {
                if let Err(e) =
                    crate::http::serve(listener, app, &limits, crate::http::shutdown_signal()).await
                {
                    tracing::error!(error = %e, "review listener failed");
                }
            });
        }
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(addr = %config.listen, "kyc-flow serving");
        crate::http::serve(listener, app, &config.http, crate::http::shutdown_signal()).await?;
    } else {
        tracing::info!("kyc-flow worker running");
        crate::http::shutdown_signal().await;
    }
    // Stop taking jobs; let the ones in flight finish within the grace period. A job still
    // running after it is not acknowledged, so the queue redelivers it to another worker.
    let _ = stop_tx.send(true);
    let grace = std::time::Duration::from_secs(config.http.shutdown_grace_secs);
    if tokio::time::timeout(grace, join_tasks(tasks))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = config.http.shutdown_grace_secs,
            "workers still busy after the grace period; their jobs will be redelivered"
        );
    }
    Ok(())
}

async fn join_tasks(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_fill_secrets_and_unset_ones_are_errors() {
        // SAFETY-free: a variable name unique to this test.
        let name = "KYC_FLOW_TEST_SECRET_7F3A";
        assert!(expand_env(&format!("a = \"${{{name}}}\"")).is_err());
        assert_eq!(expand_env("plain = 1").unwrap(), "plain = 1");
        assert!(expand_env("x = \"${UNTERMINATED").is_err());
    }

    /// `docs/serve.example.toml` with its environment references given values.
    fn example_text() -> String {
        include_str!("../../docs/serve.example.toml")
            .replace("${WHATSAPP_APP_SECRET}", "s1")
            .replace("${WHATSAPP_VERIFY_TOKEN}", "s2")
            .replace("${WHATSAPP_ACCESS_TOKEN}", "s3")
            .replace("${KYC_ENCRYPTION_KEY_HEX}", &"ab".repeat(32))
            .replace("${KYC_KEY_HASH_SECRET_HEX}", &"cd".repeat(32))
            .replace("${RENAPO_GATEWAY_SECRET}", "s4")
            .replace("${DECISIONS_SECRET}", "s5")
            .replace("${LIVENESS_VENDOR_KEY}", "s6")
            .replace("${DASHBOARD_TOKEN}", "s7")
            .replace("${KYC_SESSION_ID_SECRET_HEX}", &"ef".repeat(32))
            .replace("${REVIEW_TOKEN_ANA}", &"r7".repeat(20))
            .replace("${KYC_FACE_INDEX_KEY_HEX}", &"fa".repeat(32))
    }

    #[test]
    fn a_face_index_with_every_vision_capability_at_a_vendor_is_refused_by_name() {
        let vendors = example_text().replace(
            "[vision.liveness]",
            "[vision.documents]\nname = \"acme-docs\"\nbase_url = \"https://docs.vendor.example\"\n\
             api_key = \"k1\"\ndocuments = [[\"mx-ine\", \"front\"], [\"mx-ine\", \"back\"]]\n\n\
             [vision.faces]\nname = \"acme-faces\"\nbase_url = \"https://faces.vendor.example\"\n\
             api_key = \"k2\"\n\n[vision.liveness]",
        );
        let mut config = parse_config(&vendors).expect("vendor sections parse");
        let (_, _, _, features, _) = vision_ports(&config.vision).expect("vendor ports");
        assert!(features.is_none(), "vendors hand out no embeddings");
        let e = enabled_face_index(config.face_index.as_ref(), features)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.starts_with("face_index:"), "{e}");
        let section = config.face_index.as_mut().expect("a face_index section");
        section.enabled = false;
        assert!(
            enabled_face_index(config.face_index.as_ref(), None)
                .unwrap()
                .is_none(),
            "off: nothing needed"
        );
        assert!(enabled_face_index(None, None).unwrap().is_none());
    }

    #[test]
    fn the_face_index_section_is_optional_and_checked() {
        let text = example_text();
        let (head, tail) = text.split_once("[face_index]").unwrap();
        let rest = tail.split_once("\n[").map_or("", |(_, r)| r);
        let without = format!("{head}[{rest}");
        assert!(parse_config(&without).unwrap().face_index.is_none());
        let memory = format!("{head}[face_index]\nbackend = \"memory\"\n[{rest}");
        let f = parse_config(&memory).unwrap().face_index.unwrap();
        assert!(f.enabled, "on when the section is present");
        assert_eq!(f.backend, FaceIndexBackend::Memory);
        let zero = format!("{head}[face_index]\nretention_secs = 0\n[{rest}");
        let e = parse_config(&zero).unwrap_err().to_string();
        assert!(e.contains("face_index.retention_secs"), "{e}");
        let typo = format!("{head}[face_index]\nbakend = \"redis\"\n[{rest}");
        assert!(parse_config(&typo).is_err(), "unknown keys are refused");
    }

    #[test]
    fn the_example_config_parses() {
        let text = example_text();
        let config = parse_config(&text).expect("example config parses");
        assert_eq!(config.routing.default_flow, "mx-ine");
        assert_eq!((config.event_workers(), config.worker.analyses), (4, 8));
        assert_eq!(config.registries.len(), 1);
        assert_eq!(config.dashboard.token.as_deref(), Some("s7"));
        assert!(
            config.pricing.is_none(),
            "the example leaves the built-in prices"
        );
        let liveness = config.vision.liveness.expect("a certified liveness vendor");
        assert_eq!(
            liveness.liveness_certification.as_deref(),
            Some("iBeta PAD Level 2")
        );
        assert!(config.vision.documents.is_none(), "local OCR");
        assert_eq!(
            config.engine.session_id_secret,
            Some(kyc_flow_core::SessionIdSecret::from_hex(&"ef".repeat(32)).unwrap())
        );
        assert!(
            !format!("{liveness:?}").contains("s6"),
            "Debug hides the vendor's key"
        );
        let faces = config.face_index.as_ref().expect("a face_index section");
        assert!(faces.enabled);
        assert_eq!(faces.backend, FaceIndexBackend::Redis);
        assert_eq!(faces.index_config().retention_secs, 180 * 24 * 3600);
        assert_eq!(faces.encryption_keys.len(), 1);
        assert!(
            !format!("{faces:?}").contains("fafa"),
            "Debug hides the face index key"
        );
        let review = config.review.expect("a review section");
        assert_eq!(review.listen, "127.0.0.1:8081");
        assert!(review.auth().is_ok());
        assert!(
            !format!("{review:?}").contains("r7r7"),
            "Debug hides tokens"
        );
    }
}
