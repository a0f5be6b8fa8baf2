//! Adapters for simulations and tests: a transport that records, media served from memory, and
//! engines that answer what a script says they answer.
//!
//! The scripted engines exist so that a conversation can be rehearsed (and snapshot-tested)
//! without models or registries; `kyc-flow simulate` says in its output when they were used.

mod engines;
mod media;
mod transport;

pub use engines::{
    ScriptedDocumentReader, ScriptedFaceMatcher, ScriptedLiveness, ScriptedRegistry,
    ScriptedRegistryAnswer,
};
pub use media::{MemoryMedia, sniff_mime};
pub use transport::{RecordingDecisionSink, RecordingTransport, SentRecord, next_order};

use kyc_flow::engine::Ports;
use kyc_flow::memory::{
    MemoryDeduplicator, MemoryEvidenceStore, MemoryJobQueue, MemorySessionStore, MemoryTimerStore,
};
use kyc_flow_core::RegistryId;
use std::sync::Arc;

/// Every port in memory, with handles on the recording and scripted ones.
#[derive(Debug, Clone)]
pub struct SimPorts {
    pub sessions: Arc<MemorySessionStore>,
    pub evidence: Arc<MemoryEvidenceStore>,
    pub queue: Arc<MemoryJobQueue>,
    pub timers: Arc<MemoryTimerStore>,
    pub dedup: Arc<MemoryDeduplicator>,
    pub leases: Arc<kyc_flow::memory::MemoryLeaseStore>,
    pub reviews: Arc<kyc_flow::memory::MemoryReviewQueue>,
    pub transport: Arc<RecordingTransport>,
    pub media: Arc<MemoryMedia>,
    pub documents: Arc<ScriptedDocumentReader>,
    pub faces: Arc<ScriptedFaceMatcher>,
    pub liveness: Arc<ScriptedLiveness>,
    pub registry: Arc<ScriptedRegistry>,
    pub decisions: Arc<RecordingDecisionSink>,
}

impl SimPorts {
    /// Fresh in-memory ports; the scripted registry reaches `registries`.
    pub fn new(registries: impl IntoIterator<Item = RegistryId>) -> Self {
        Self {
            sessions: Arc::new(MemorySessionStore::new()),
            evidence: Arc::new(MemoryEvidenceStore::new()),
            queue: Arc::new(MemoryJobQueue::new(100_000)),
            timers: Arc::new(MemoryTimerStore::new()),
            dedup: Arc::new(MemoryDeduplicator::new()),
            leases: Arc::new(kyc_flow::memory::MemoryLeaseStore::new()),
            reviews: Arc::new(kyc_flow::memory::MemoryReviewQueue::new()),
            transport: Arc::new(RecordingTransport::default()),
            media: Arc::new(MemoryMedia::default()),
            documents: Arc::new(ScriptedDocumentReader::default()),
            faces: Arc::new(ScriptedFaceMatcher::default()),
            liveness: Arc::new(ScriptedLiveness::default()),
            registry: Arc::new(ScriptedRegistry::with_registries(registries)),
            decisions: Arc::new(RecordingDecisionSink::default()),
        }
    }

    /// The engine's view of them.
    pub fn ports(&self) -> Ports {
        Ports::builder()
            .sessions(self.sessions.clone())
            .evidence(self.evidence.clone())
            .queue(self.queue.clone())
            .timers(self.timers.clone())
            .leases(self.leases.clone())
            .reviews(self.reviews.clone())
            .transport(self.transport.clone())
            .media(self.media.clone())
            .documents(self.documents.clone())
            .faces(self.faces.clone())
            .liveness(self.liveness.clone())
            .registry(self.registry.clone())
            .decisions(self.decisions.clone())
            .build()
            .expect("every port is set")
    }
}
