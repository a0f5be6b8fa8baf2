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
pub use transport::{RecordingDecisionSink, RecordingTransport, SentRecord};
