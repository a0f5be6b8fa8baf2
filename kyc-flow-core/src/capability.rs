//! Capability checks: does a set of engines and registries cover what a flow needs?
//!
//! Run at start-up so a flow that needs something no engine offers fails before any user
//! starts an onboarding on it.

use crate::data::VisionCapabilities;
use crate::evidence::{DocumentKind, RegistryId, Side};
use crate::flow::Flow;
use serde::{Deserialize, Serialize};

/// One thing a flow needs that the engines do not offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "missing", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapabilityProblem {
    #[error("no document reader for {document:?} {side:?}")]
    Document { document: DocumentKind, side: Side },
    #[error("no face matcher")]
    FaceMatch,
    #[error("no liveness checker")]
    Liveness,
    #[error("the flow rejects uncertified liveness but the liveness engine is not certified")]
    CertifiedLiveness,
    #[error("no client for registry {0}")]
    Registry(String),
    #[error(
        "the flow has a video_liveness step but no video liveness checker is configured (build with the `video` feature and the local vision engines)"
    )]
    VideoLiveness,
}

/// Check `flow` against what the engines and registry clients offer; every gap is reported.
pub fn check_capabilities(
    flow: &Flow,
    vision: &VisionCapabilities,
    registries: &[RegistryId],
) -> Result<(), Vec<CapabilityProblem>> {
    let need = flow.requirements();
    let mut problems = Vec::new();
    for (document, side) in need.documents {
        if !vision.documents.contains(&(document, side)) {
            problems.push(CapabilityProblem::Document { document, side });
        }
    }
    if need.face_match && !vision.face_match {
        problems.push(CapabilityProblem::FaceMatch);
    }
    if need.liveness && !vision.liveness {
        problems.push(CapabilityProblem::Liveness);
    }
    if need.liveness_certified && !vision.liveness_certified {
        problems.push(CapabilityProblem::CertifiedLiveness);
    }
    if need.video_liveness && !vision.video_liveness {
        problems.push(CapabilityProblem::VideoLiveness);
    }
    for r in flow.registries() {
        if !registries.contains(&r) {
            problems.push(CapabilityProblem::Registry(r.0));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
