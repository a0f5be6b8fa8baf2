//! Building [`Ports`]: the storage ports in memory with one call, the adapters an embedder has,
//! and nothing for what its flows do not use.
//!
//! A flow without a registry step needs no registry client, and a bank that reads documents
//! through a vendor needs no face engine if its flows never take a selfie. Ports left unset are
//! filled with an adapter that offers no capability; [`crate::EngineBuilder::build`] then checks
//! every routed flow against the capabilities actually configured (`kyc_flow_core::capability`)
//! and names what is missing — at start-up, never in the middle of a user's onboarding.

use crate::engine::Ports;
use crate::memory::{
    MemoryEvidenceStore, MemoryJobQueue, MemoryLeaseStore, MemoryReviewQueue, MemorySessionStore,
    MemoryTimerStore,
};
use async_trait::async_trait;
use kyc_flow_core::RegistryId;
use kyc_flow_core::RegistryQuery;
use kyc_flow_core::face_index::{FaceIndex, RepeatFeatures};
use kyc_flow_core::ports::{
    DecisionSink, DocumentImage, DocumentReader, DocumentReading, EvidenceStore, FaceMatchOutcome,
    FaceMatcher, JobQueue, LeaseStore, LivenessChecker, LivenessOutcome, MediaFetcher,
    MessageTransport, PortError, PortErrorKind, PortResult, RegistryClient, RegistryReply,
    ReviewQueue, SessionStore, TimerStore, VideoLivenessChecker, VisionCapabilities,
};
use kyc_flow_core::{VideoChallenge, VideoOutcome};
use std::sync::Arc;

/// The 1:N repeat check (`kyc_flow_core::face_index`): the index searched at each selfie and
/// enrolled at the decision, and what turns photos into what it compares. Optional: without
/// it the engine runs exactly as before (no search, no enrolment, no repeat codes).
#[derive(Clone)]
pub struct RepeatCheck {
    pub index: Arc<dyn FaceIndex>,
    pub features: Arc<dyn RepeatFeatures>,
}

impl std::fmt::Debug for RepeatCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepeatCheck")
            .field("retention", &self.index.retention())
            .finish_non_exhaustive()
    }
}

/// A port [`PortsBuilder::build`] cannot do without.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortsError {
    #[error("no {0} configured (required by every flow)")]
    Missing(&'static str),
}

/// Builds [`Ports`]; see the module docs.
#[derive(Default)]
pub struct PortsBuilder {
    sessions: Option<Arc<dyn SessionStore>>,
    evidence: Option<Arc<dyn EvidenceStore>>,
    queue: Option<Arc<dyn JobQueue>>,
    analyses: Option<Arc<dyn JobQueue>>,
    timers: Option<Arc<dyn TimerStore>>,
    leases: Option<Arc<dyn LeaseStore>>,
    reviews: Option<Arc<dyn ReviewQueue>>,
    transport: Option<Arc<dyn MessageTransport>>,
    media: Option<Arc<dyn MediaFetcher>>,
    documents: Option<Arc<dyn DocumentReader>>,
    faces: Option<Arc<dyn FaceMatcher>>,
    liveness: Option<Arc<dyn LivenessChecker>>,
    video: Option<Arc<dyn VideoLivenessChecker>>,
    registry: Option<Arc<dyn RegistryClient>>,
    decisions: Option<Arc<dyn DecisionSink>>,
    repeats: Option<RepeatCheck>,
}

impl std::fmt::Debug for PortsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: bool| if o { "set" } else { "unset" };
        f.debug_struct("PortsBuilder")
            .field("transport", &set(self.transport.is_some()))
            .field("documents", &set(self.documents.is_some()))
            .field("faces", &set(self.faces.is_some()))
            .field("liveness", &set(self.liveness.is_some()))
            .field("video", &set(self.video.is_some()))
            .field("registry", &set(self.registry.is_some()))
            .field("repeats", &set(self.repeats.is_some()))
            .finish_non_exhaustive()
    }
}

impl Ports {
    /// Start building ports.
    pub fn builder() -> PortsBuilder {
        PortsBuilder::default()
    }

    /// A builder holding these ports, to replace some of them (wrap a store, swap a client).
    pub fn to_builder(&self) -> PortsBuilder {
        PortsBuilder {
            sessions: Some(self.sessions.clone()),
            evidence: Some(self.evidence.clone()),
            queue: Some(self.queue.clone()),
            analyses: self.analyses.clone(),
            timers: Some(self.timers.clone()),
            leases: Some(self.leases.clone()),
            reviews: Some(self.reviews.clone()),
            transport: Some(self.transport.clone()),
            media: Some(self.media.clone()),
            documents: Some(self.documents.clone()),
            faces: Some(self.faces.clone()),
            liveness: Some(self.liveness.clone()),
            video: Some(self.video.clone()),
            registry: Some(self.registry.clone()),
            decisions: Some(self.decisions.clone()),
            repeats: self.repeats.clone(),
        }
    }
}

impl PortsBuilder {
    /// Sessions, evidence, the job queue (capacity 100,000 jobs), timers, leases and review
    /// cases in this process's memory: the embedded default for one process.
    pub fn in_memory(self) -> Self {
        self.sessions(Arc::new(MemorySessionStore::new()))
            .evidence(Arc::new(MemoryEvidenceStore::new()))
            .queue(Arc::new(MemoryJobQueue::new(100_000)))
            .timers(Arc::new(MemoryTimerStore::new()))
            .leases(Arc::new(MemoryLeaseStore::new()))
            .reviews(Arc::new(MemoryReviewQueue::new()))
    }
    pub fn sessions(mut self, port: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(port);
        self
    }
    pub fn evidence(mut self, port: Arc<dyn EvidenceStore>) -> Self {
        self.evidence = Some(port);
        self
    }
    pub fn queue(mut self, port: Arc<dyn JobQueue>) -> Self {
        self.queue = Some(port);
        self
    }
    /// Optional: the analyses lane, a queue of its own for slow work (document and selfie
    /// analyses, registry queries; [`crate::engine::Lane::Analyses`]) so a burst of photos
    /// never waits ahead of text replies. With it, run workers on that lane too
    /// ([`crate::Engine::run_lane_worker`]); without it, slow work shares the main queue.
    pub fn analyses_lane(mut self, port: Arc<dyn JobQueue>) -> Self {
        self.analyses = Some(port);
        self
    }
    pub fn timers(mut self, port: Arc<dyn TimerStore>) -> Self {
        self.timers = Some(port);
        self
    }
    pub fn leases(mut self, port: Arc<dyn LeaseStore>) -> Self {
        self.leases = Some(port);
        self
    }
    /// Where sessions awaiting manual review are filed (shared by every process of a
    /// deployment, like the session store).
    pub fn reviews(mut self, port: Arc<dyn ReviewQueue>) -> Self {
        self.reviews = Some(port);
        self
    }
    /// How messages reach users (the WhatsApp Graph API client, say).
    pub fn transport(mut self, port: Arc<dyn MessageTransport>) -> Self {
        self.transport = Some(port);
        self
    }
    /// How inbound photos are downloaded.
    pub fn media(mut self, port: Arc<dyn MediaFetcher>) -> Self {
        self.media = Some(port);
        self
    }
    /// Optional: needed by flows with a document step.
    pub fn documents(mut self, port: Arc<dyn DocumentReader>) -> Self {
        self.documents = Some(port);
        self
    }
    /// Optional: needed by flows whose selfie step matches the face.
    pub fn faces(mut self, port: Arc<dyn FaceMatcher>) -> Self {
        self.faces = Some(port);
        self
    }
    /// Optional: needed by flows whose selfie step checks liveness.
    pub fn liveness(mut self, port: Arc<dyn LivenessChecker>) -> Self {
        self.liveness = Some(port);
        self
    }
    /// Optional: needed by flows with a `video_liveness` step. Unset, such a flow is refused
    /// when the engine is built (`CapabilityProblem::VideoLiveness`).
    pub fn video(mut self, port: Arc<dyn VideoLivenessChecker>) -> Self {
        self.video = Some(port);
        self
    }
    /// Optional: needed by flows with a registry step.
    pub fn registry(mut self, port: Arc<dyn RegistryClient>) -> Self {
        self.registry = Some(port);
        self
    }
    /// Optional: the 1:N repeat check — search `index` at each selfie with what `features`
    /// computes, enrol decided sessions (see `docs/VISION.md`, "Repeat faces"). A vendor face
    /// engine gives no embeddings: without a local [`RepeatFeatures`], leave this unset.
    pub fn repeats(mut self, index: Arc<dyn FaceIndex>, features: Arc<dyn RepeatFeatures>) -> Self {
        self.repeats = Some(RepeatCheck { index, features });
        self
    }
    /// Where decisions go.
    pub fn decisions(mut self, port: Arc<dyn DecisionSink>) -> Self {
        self.decisions = Some(port);
        self
    }

    /// The ports. Storage, transport, media and the decision sink are required; vision
    /// engines and the registry client are optional (see the module docs).
    pub fn build(self) -> Result<Ports, PortsError> {
        let unconfigured = Arc::new(Unconfigured);
        Ok(Ports {
            sessions: self.sessions.ok_or(PortsError::Missing("session store"))?,
            evidence: self.evidence.ok_or(PortsError::Missing("evidence store"))?,
            queue: self.queue.ok_or(PortsError::Missing("job queue"))?,
            analyses: self.analyses,
            timers: self.timers.ok_or(PortsError::Missing("timer store"))?,
            leases: self.leases.ok_or(PortsError::Missing("lease store"))?,
            reviews: self.reviews.ok_or(PortsError::Missing("review queue"))?,
            transport: self
                .transport
                .ok_or(PortsError::Missing("message transport"))?,
            media: self.media.ok_or(PortsError::Missing("media fetcher"))?,
            decisions: self.decisions.ok_or(PortsError::Missing("decision sink"))?,
            documents: self.documents.unwrap_or_else(|| unconfigured.clone()),
            faces: self.faces.unwrap_or_else(|| unconfigured.clone()),
            liveness: self.liveness.unwrap_or_else(|| unconfigured.clone()),
            video: self.video.unwrap_or_else(|| unconfigured.clone()),
            registry: self.registry.unwrap_or(unconfigured),
            repeats: self.repeats,
        })
    }
}

/// Stands in for an engine or registry client that was not configured: it offers nothing, so
/// a flow that needs it fails the capability check when the engine is built. Were it called
/// anyway, it answers with a permanent error rather than a verdict.
#[derive(Debug, Clone, Copy)]
struct Unconfigured;

fn not_configured(what: &str) -> PortError {
    PortError::new(PortErrorKind::Invalid, format!("no {what} is configured"))
}

#[async_trait]
impl DocumentReader for Unconfigured {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities::default()
    }
    async fn read(&self, _image: DocumentImage<'_>) -> PortResult<DocumentReading> {
        Err(not_configured("document reader"))
    }
}

#[async_trait]
impl FaceMatcher for Unconfigured {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities::default()
    }
    async fn compare(&self, _selfie: &[u8], _portrait: &[u8]) -> PortResult<FaceMatchOutcome> {
        Err(not_configured("face matcher"))
    }
}

#[async_trait]
impl LivenessChecker for Unconfigured {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities::default()
    }
    async fn check(&self, _selfie: &[u8]) -> PortResult<LivenessOutcome> {
        Err(not_configured("liveness checker"))
    }
}

#[async_trait]
impl VideoLivenessChecker for Unconfigured {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities::default()
    }
    async fn check_video(
        &self,
        _video: &[u8],
        _challenge: VideoChallenge,
        _portrait: Option<&[u8]>,
    ) -> PortResult<VideoOutcome> {
        Err(not_configured("video liveness checker"))
    }
}

#[async_trait]
impl RegistryClient for Unconfigured {
    fn registries(&self) -> Vec<RegistryId> {
        Vec::new()
    }
    async fn query(&self, _query: &RegistryQuery) -> PortResult<RegistryReply> {
        Err(not_configured("registry client"))
    }
}
