//! Local passive liveness: a MiniFASNet-like presentation-attack signal on the selfie.
//!
//! Honesty first: this model is not certified (no iBeta or ISO 30107-3 evaluation) and was
//! only measured here on real photos and *simulated* attacks. It reports `certified: false`,
//! and the core never lets an uncertified verdict approve on its own; a bank that needs a
//! certified decision plugs a vendor in through [`crate::vendor`].
//!
//! The face is found with the shared [`FaceEngine`] (same retake reasons as the matcher); the
//! crop is the face box enlarged 2.7× (context around the face — paper edges, screen bezels,
//! moiré — is what the model looks at), resized to 128×128 (bilinear, no prefilter), raw BGR
//! 0–255; the softmax of
//! class 0 is the probability that the face is live.

use crate::assets::AssetPaths;
use crate::face::{
    FaceBox, FaceChoice, FaceEngine, FaceError, choose_face, decode_photo, fit_rect,
    resize_bilinear,
};
use crate::onnx::{Model, ModelOptions, OnnxError};
use async_trait::async_trait;
use image::{RgbImage, imageops};
use kyc_flow_core::RetakeReason;
use kyc_flow_core::evidence::LivenessVerdict;
use kyc_flow_core::ports::{LivenessChecker, LivenessOutcome, PortResult, VisionCapabilities};
use ndarray::Array4;
use serde::Serialize;
use std::sync::Arc;

/// Engine name reported in [`LivenessVerdict::engine`].
pub const ENGINE_NAME: &str = "local-minifasnet";

/// Score from which the local model calls a face live. Measured here: real photos 0.80–0.998,
/// simulated print and screen attacks below 0.05 (see `docs/VISION.md`); 0.5 is the model's
/// natural decision point and sits far from both clusters.
pub const DEFAULT_LIVE_THRESHOLD: f32 = 0.5;

const INPUT_SIDE: u32 = 128;

/// Tunables of the local liveness model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessConfig {
    /// Probability of "live" from which the verdict is live.
    pub live_threshold: f32,
    /// How much the face box is enlarged for the crop.
    pub crop_scale: f32,
    /// ONNX Runtime intra-op threads.
    pub intra_threads: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            live_threshold: DEFAULT_LIVE_THRESHOLD,
            crop_scale: 2.7,
            intra_threads: 1,
        }
    }
}

/// The liveness model alone (the face comes from the caller).
#[derive(Debug)]
pub struct LivenessModel {
    model: Model,
    config: LivenessConfig,
}

impl LivenessModel {
    /// Loads `face/fr_liveness.onnx` from `assets`.
    pub fn load(assets: &AssetPaths, config: LivenessConfig) -> Result<Self, FaceError> {
        let model = Model::load(
            &assets.face_liveness()?,
            &ModelOptions {
                intra_threads: config.intra_threads,
            },
        )?;
        Ok(Self { model, config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LivenessConfig {
        &self.config
    }

    /// Probability in [0, 1] that the face in `bbox` is live.
    pub fn score(&self, img: &RgbImage, bbox: &FaceBox) -> Result<f32, FaceError> {
        // Enlarge as much as asked, but never beyond the photo (the reference pipeline shrinks
        // the factor instead of padding).
        let scale = self
            .config
            .crop_scale
            .min((img.height().saturating_sub(1)) as f32 / bbox.height().max(1.0))
            .min((img.width().saturating_sub(1)) as f32 / bbox.width().max(1.0))
            .max(1.0);
        let (x, y, w, h) = fit_rect(
            (bbox.x0 + bbox.x1) / 2.0,
            (bbox.y0 + bbox.y1) / 2.0,
            bbox.width() * scale,
            bbox.height() * scale,
            img.width(),
            img.height(),
        );
        let crop = imageops::crop_imm(img, x, y, w, h).to_image();
        let small = resize_bilinear(&crop, INPUT_SIDE, INPUT_SIDE);
        let s = INPUT_SIDE as usize;
        let mut input = Array4::<f32>::zeros((1, 3, s, s));
        for (px, py, p) in small.enumerate_pixels() {
            // BGR channel order, as the MiniFASNet family is trained (OpenCV decoding). The
            // JS package feeds RGB; on the test photos RGB scored one real face 0.12 and BGR
            // kept every real face at or above 0.96 (docs/VISION.md).
            for (c, v) in p.0.iter().rev().enumerate() {
                input[[0, c, py as usize, px as usize]] = f32::from(*v);
            }
        }
        let out = self.model.run(&[input.into_dyn().view()])?;
        let logits: Vec<f32> = out
            .first()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default();
        if logits.len() < 2 || logits.iter().any(|v| !v.is_finite()) {
            return Err(FaceError::BadOutput {
                model: self.model.name().to_owned(),
                detail: format!("expected class logits, got {} values", logits.len()),
            });
        }
        Ok(softmax(&logits)[0])
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// [`LivenessChecker`] on the local model. Never certified; inference runs on Tokio's
/// blocking pool.
#[derive(Debug, Clone)]
pub struct LocalLiveness {
    faces: Arc<FaceEngine>,
    model: Arc<LivenessModel>,
}

impl LocalLiveness {
    /// Uses a loaded face engine (shared with the matcher) and liveness model.
    pub fn new(faces: Arc<FaceEngine>, model: Arc<LivenessModel>) -> Self {
        Self { faces, model }
    }

    /// Loads the liveness model from `assets` next to an existing face engine.
    pub fn load(
        assets: &AssetPaths,
        faces: Arc<FaceEngine>,
        config: LivenessConfig,
    ) -> Result<Self, FaceError> {
        Ok(Self::new(
            faces,
            Arc::new(LivenessModel::load(assets, config)?),
        ))
    }

    /// Loads the face engine and the liveness model from the discovered assets.
    pub fn from_default_assets() -> Result<Self, FaceError> {
        let assets = AssetPaths::discover().map_err(OnnxError::from)?;
        let faces = Arc::new(FaceEngine::load(&assets, Default::default())?);
        Self::load(&assets, faces, LivenessConfig::default())
    }

    /// The verdict on a decoded photo (synchronous).
    pub fn check_image(&self, img: &RgbImage) -> Result<LivenessOutcome, FaceError> {
        let faces = self.faces.detect(img)?;
        let bbox = match choose_face(&faces, self.faces.config()) {
            FaceChoice::One(b) => b,
            FaceChoice::Retake { reason, detail } => {
                return Ok(LivenessOutcome::Retake { reason, detail });
            }
        };
        let score = self.model.score(img, &bbox)?;
        Ok(LivenessOutcome::Judged(LivenessVerdict {
            live: score >= self.model.config.live_threshold,
            score,
            engine: ENGINE_NAME.into(),
            certified: false,
            certification: None,
        }))
    }

    /// The verdict on encoded bytes (synchronous); unreadable bytes are a retake.
    pub fn check_bytes(&self, bytes: &[u8]) -> Result<LivenessOutcome, FaceError> {
        match decode_photo(bytes) {
            Some(img) => self.check_image(&img),
            None => Ok(LivenessOutcome::Retake {
                reason: RetakeReason::UnsupportedMedia,
                detail: "not a readable JPEG, PNG or WebP image".into(),
            }),
        }
    }
}

#[async_trait]
impl LivenessChecker for LocalLiveness {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            liveness: true,
            liveness_certified: false,
            ..VisionCapabilities::default()
        }
    }

    async fn check(&self, selfie: &[u8]) -> PortResult<LivenessOutcome> {
        let this = self.clone();
        let selfie = selfie.to_vec();
        Ok(
            tokio::task::spawn_blocking(move || this.check_bytes(&selfie))
                .await
                .map_err(|e| FaceError::Task(e.to_string()))??,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn softmax_is_a_distribution(logits in proptest::collection::vec(-50f32..50.0, 2..8)) {
            let p = softmax(&logits);
            prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            prop_assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
            // Order is preserved.
            for i in 0..logits.len() {
                for j in 0..logits.len() {
                    if logits[i] > logits[j] { prop_assert!(p[i] >= p[j]); }
                }
            }
        }
    }
}
