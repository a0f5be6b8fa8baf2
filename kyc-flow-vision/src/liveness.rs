//! Local passive liveness: a MiniFASNet-like presentation-attack signal on the selfie.
//!
//! Honesty first: this model is not certified (no iBeta or ISO 30107-3 evaluation) and was
//! only measured here on real photos and *simulated* attacks. It reports `certified: false`,
//! and the core never lets an uncertified verdict approve on its own; a bank that needs a
//! certified decision plugs a vendor in through [`crate::vendor`].
//!
//! The face is found with the shared [`FaceEngine`] (same retake reasons as the matcher). The
//! network sees the face box enlarged by each of [`LivenessConfig::crop_scales`] (context
//! around the face — paper edges, screen bezels, moiré — is what it looks at; the MiniFASNet
//! family is trained on crops at 2.7× and 4.0×), resized to 128×128 (bilinear, no prefilter),
//! raw BGR 0–255; the softmax of class 0 is the probability that the face is live. The
//! per-scale logits are averaged, then fused with the model-free screen and print signals of
//! [`crate::pad`] into one score ([`PadReport::score`]), live from
//! [`LivenessConfig::live_threshold`].

use crate::assets::AssetPaths;
use crate::face::{
    FaceBox, FaceChoice, FaceEngine, FaceError, bilinear, choose_face, fit_rect, open_photo,
};
use crate::onnx::{Model, ModelOptions, OnnxError};
use crate::pad::{self, FusionWeights, PadSignals};
use async_trait::async_trait;
use image::RgbImage;
use kyc_flow_core::evidence::LivenessVerdict;
use kyc_flow_core::ports::{LivenessChecker, LivenessOutcome, PortResult, VisionCapabilities};
use kyc_flow_core::risk::{RiskCode, RiskSignal};
use ndarray::Array4;
use serde::Serialize;
use std::sync::Arc;

/// Engine name reported in [`LivenessVerdict::engine`].
pub const ENGINE_NAME: &str = "local-minifasnet";

/// Fused score from which a face is called live. Chosen on the development split of the PAD
/// set (see `docs/VISION.md`, "Presentation-attack detection"), not on the figures reported.
pub const DEFAULT_LIVE_THRESHOLD: f32 = 0.5;

const INPUT_SIDE: u32 = 128;

/// Tunables of the local liveness model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessConfig {
    /// Probability of "live" from which the verdict is live.
    pub live_threshold: f32,
    /// How much the face box is enlarged for each crop the network sees; the logits are
    /// averaged.
    pub crop_scales: Vec<f32>,
    /// How the network and the model-free signals are combined.
    pub fusion: FusionWeights,
    /// ONNX Runtime intra-op threads.
    pub intra_threads: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            live_threshold: DEFAULT_LIVE_THRESHOLD,
            crop_scales: vec![2.7, 4.0],
            fusion: FusionWeights::default(),
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

    /// The network's logit (live vs the rest) on the face box enlarged `scale`×.
    pub fn logit_at(&self, img: &RgbImage, bbox: &FaceBox, scale: f32) -> Result<f32, FaceError> {
        // Enlarge as much as asked, but never beyond the photo (the reference pipeline shrinks
        // the factor instead of padding).
        let scale = scale
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
        let small = resize_region(img, (x, y, w, h), INPUT_SIDE);
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
        let p = softmax(&logits)[0].clamp(1e-6, 1.0 - 1e-6);
        Ok((p / (1.0 - p)).ln())
    }

    /// The network's score at every configured scale, and their fusion (mean logit).
    pub fn model_scores(
        &self,
        img: &RgbImage,
        bbox: &FaceBox,
    ) -> Result<(Vec<ScaleScore>, f32), FaceError> {
        let mut scores = Vec::with_capacity(self.config.crop_scales.len());
        for &scale in &self.config.crop_scales {
            let logit = self.logit_at(img, bbox, scale)?;
            scores.push(ScaleScore {
                scale,
                score: sigmoid(logit),
            });
        }
        let logit = if scores.is_empty() {
            0.0
        } else {
            scores.iter().map(|s| logit(s.score)).sum::<f32>() / scores.len() as f32
        };
        Ok((scores, logit))
    }

    /// Probability-like score in [0, 1] from the network alone (all scales).
    pub fn score(&self, img: &RgbImage, bbox: &FaceBox) -> Result<f32, FaceError> {
        Ok(sigmoid(self.model_scores(img, bbox)?.1))
    }

    /// Everything the local presentation-attack detection sees on the face in `bbox`: the
    /// network per scale, the model-free signals and the fused score.
    pub fn assess(&self, img: &RgbImage, bbox: &FaceBox) -> Result<PadReport, FaceError> {
        let (scales, model_logit) = self.model_scores(img, bbox)?;
        let signals = pad::signals(img, bbox);
        let score = pad::fuse(model_logit, &signals, &self.config.fusion);
        Ok(PadReport {
            scales,
            model: sigmoid(model_logit),
            signals,
            score,
            live: score >= self.config.live_threshold,
        })
    }
}

/// `resize_bilinear` of the region `(x, y, w, h)` to `side×side`, sampling the photo in place
/// (copying a 4× crop of a 1600 px photo first cost several milliseconds). Samples stay inside
/// the region, like resizing the cropped copy.
fn resize_region(img: &RgbImage, (x, y, w, h): (u32, u32, u32, u32), side: u32) -> RgbImage {
    let sx = w as f32 / side as f32;
    let sy = h as f32 / side as f32;
    let (x0, y0) = (x as f32, y as f32);
    let (maxx, maxy) = (w.saturating_sub(1) as f32, h.saturating_sub(1) as f32);
    RgbImage::from_fn(side, side, |px, py| {
        let fx = ((px as f32 + 0.5) * sx - 0.5).clamp(0.0, maxx);
        let fy = ((py as f32 + 0.5) * sy - 0.5).clamp(0.0, maxy);
        bilinear(img, x0 + fx, y0 + fy)
    })
}

/// The network's score at one crop scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScaleScore {
    pub scale: f32,
    pub score: f32,
}

/// The local presentation-attack detection on one face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PadReport {
    pub scales: Vec<ScaleScore>,
    /// The network's fused score (sigmoid of the mean logit over scales).
    pub model: f32,
    pub signals: PadSignals,
    /// The fused score reported as the verdict's score.
    pub score: f32,
    pub live: bool,
}

impl PadReport {
    /// The report as risk codes (`kyc_flow_core::risk`): `liveness_failed` when not live,
    /// `screen_replay_suspected` when the periodic cue fired (a screen's pixel grid or moiré
    /// — a halftone print also fires it, the detail says which cue), `print_suspected` when a
    /// frame closes the face or the black level is raised without a periodic pattern. Always
    /// `liveness_not_certified`: the local engine never is.
    pub fn risk_signals(&self, w: &FusionWeights) -> Vec<RiskSignal> {
        let mut out = vec![RiskSignal::new(RiskCode::LivenessNotCertified)];
        if !self.live {
            out.push(RiskSignal::new(RiskCode::LivenessFailed).with_score(self.score));
        }
        let s = &self.signals;
        let periodic = s.periodic > w.periodic_onset;
        if periodic {
            out.push(
                RiskSignal::new(RiskCode::ScreenReplaySuspected)
                    .with_score(s.periodic)
                    .with_detail("periodic pattern in the face (pixel grid, moiré or halftone)"),
            );
        }
        if !periodic && (s.frame > w.frame_onset || s.black_level > w.black_onset) {
            out.push(
                RiskSignal::new(RiskCode::PrintSuspected)
                    .with_score(s.frame)
                    .with_detail(if s.frame > w.frame_onset {
                        "straight edges close around the face (paper edge or bezel)"
                    } else {
                        "raised black level (paper or a glowing screen)"
                    }),
            );
        }
        out
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
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

    /// The liveness configuration in use.
    pub fn config(&self) -> &LivenessConfig {
        self.model.config()
    }

    /// The full presentation-attack report on a decoded photo, or the retake it needs.
    pub fn assess_image(
        &self,
        img: &RgbImage,
    ) -> Result<Result<PadReport, LivenessOutcome>, FaceError> {
        let faces = self.faces.detect(img)?;
        match choose_face(&faces, self.faces.config()) {
            FaceChoice::One(b) => Ok(Ok(self.model.assess(img, &b)?)),
            FaceChoice::Retake { reason, detail } => {
                Ok(Err(LivenessOutcome::Retake { reason, detail }))
            }
        }
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
        let report = self.model.assess(img, &bbox)?;
        Ok(LivenessOutcome::Judged(LivenessVerdict {
            live: report.live,
            score: report.score,
            engine: ENGINE_NAME.into(),
            certified: false,
            certification: None,
            signals: report.risk_signals(&self.config().fusion),
        }))
    }

    /// The verdict on encoded bytes (synchronous); unreadable bytes are a retake.
    pub fn check_bytes(&self, bytes: &[u8]) -> Result<LivenessOutcome, FaceError> {
        match open_photo(bytes) {
            Ok(img) => self.check_image(&img),
            Err(e) => Ok(LivenessOutcome::Retake {
                reason: e.retake_reason(),
                detail: e.to_string(),
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
    use crate::face::resize_bilinear;
    use image::imageops;
    use proptest::prelude::*;

    #[test]
    fn reports_become_risk_codes() {
        let w = FusionWeights::default();
        let report = |periodic, frame, black_level, live| PadReport {
            scales: vec![],
            model: 0.9,
            signals: PadSignals {
                periodic,
                frame,
                black_level,
            },
            score: if live { 0.9 } else { 0.1 },
            live,
        };
        let codes = |r: PadReport| -> Vec<RiskCode> {
            r.risk_signals(&w).into_iter().map(|s| s.code).collect()
        };
        assert_eq!(
            codes(report(2.5, 0.2, 10.0, true)),
            [RiskCode::LivenessNotCertified]
        );
        assert_eq!(
            codes(report(9.0, 3.0, 10.0, false)),
            [
                RiskCode::LivenessNotCertified,
                RiskCode::LivenessFailed,
                RiskCode::ScreenReplaySuspected
            ]
        );
        assert_eq!(
            codes(report(2.5, 3.5, 70.0, false)),
            [
                RiskCode::LivenessNotCertified,
                RiskCode::LivenessFailed,
                RiskCode::PrintSuspected
            ]
        );
    }

    #[test]
    fn sampling_in_place_equals_resizing_the_crop() {
        let img = RgbImage::from_fn(300, 200, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let (x, y, w, h) = (40, 30, 170, 150);
        let crop = imageops::crop_imm(&img, x, y, w, h).to_image();
        assert_eq!(
            resize_region(&img, (x, y, w, h), 128),
            resize_bilinear(&crop, 128, 128)
        );
    }

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
