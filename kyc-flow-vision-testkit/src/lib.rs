//! kyc-flow-vision-testkit: everything that makes or judges test images for the vision engines,
//! kept out of the production crate.
//!
//! - [`synth`]: synthetic SPECIMEN ID card photos and their perturbations (tests, benchmarks,
//!   the evaluation binary and the demo's sample buttons), printed by the generator's own
//!   fixed layout table;
//! - [`randomised`]: the domain-randomised evaluation set (models, fonts, label wording,
//!   positions, scenes, perspective, re-encoding drawn from each seed) and its evaluation;
//! - [`liveness_sim`]: simulated presentation attacks (printout, screen replay);
//! - `clips` (feature `video`): video-note test clips, H.264 in MP4, built from still photos;
//! - [`dev_eval`]: the reader on the real specimens of `documents-dev`;
//! - [`face_eval`]: the face match and liveness evaluation;
//! - [`pad_eval`]: the presentation-attack evaluation (APCER/BPCER) and its development set.

#[cfg(feature = "video")]
pub mod clips;
pub mod dev_eval;
pub mod face_eval;
pub mod liveness_sim;
pub mod pad_eval;
pub mod randomised;
pub mod synth;

/// Synthetic SPECIMEN photos for the demo.
pub use synth::{Perturbation, SampleKind, generate_sample};
