//! Local face engine: detection, 5-point alignment, 512-d embedding and the 1:1 comparison.
//!
//! Pipeline (facts in `docs/VISION.md`): the photo is decoded (EXIF orientation applied) and
//! bounded to 1600 px; the Ultra-Light RFB-320 detector runs on a 320×240 copy; for the face
//! kept, a 68-point landmark model gives eye centres, nose tip and mouth corners; those 5
//! points are mapped by a least-squares similarity transform onto the ArcFace 112×112 template;
//! the embedder's 512-d output is L2-normalized and two faces are compared by cosine.
//!
//! A photo that cannot be used is a [`FaceFinding::Retake`] with the core's reason
//! (`no_face`, `multiple_faces`, `face_too_small`, `unsupported_media`), never an error:
//! errors are reserved for the engine itself (missing model, runtime failure).

use crate::assets::AssetPaths;
use crate::onnx::{Model, ModelOptions, OnnxError};
use crate::photo::{self, PhotoError, PhotoLimits};
use async_trait::async_trait;
use image::{RgbImage, imageops};
use kyc_flow_core::RetakeReason;
use kyc_flow_core::evidence::FaceComparison;
use kyc_flow_core::ports::{
    FaceMatchOutcome, FaceMatcher, PortError, PortErrorKind, PortResult, VisionCapabilities,
};
use ndarray::{Array4, ArrayD};
use serde::Serialize;
use std::sync::Arc;

/// Engine name reported in [`FaceComparison::engine`].
pub const ENGINE_NAME: &str = "local-arcface-512";

/// Cosine similarity from which two faces are declared the same person.
///
/// Chosen on the test photos (see `docs/VISION.md`, "Threshold calibration"): genuine pairs,
/// including a card-portrait simulation (face ≈115 px, JPEG q70), scored at or above 0.62;
/// impostor pairs at or below 0.11. The threshold sits well above the impostor maximum
/// (FMR is the costly error in KYC) while leaving room under the weakest genuine pair for
/// worn, older card photos. Four photos of two people are not an evaluation: recalibrate on
/// real selfie/card pairs before production.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.40;

/// The ArcFace 112×112 reference points: left eye, right eye, nose tip, left and right mouth
/// corners (as seen in the image).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Longest side a photo is reduced to before anything else (WhatsApp sends ≈1600 px).
const MAX_SIDE: u32 = 1600;
const DETECT_W: u32 = 320;
const DETECT_H: u32 = 240;
const LANDMARK_SIDE: u32 = 64;
const EMBED_SIDE: u32 = 112;

/// Tunables of the face engine. Defaults are the calibrated values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceConfig {
    /// Detector confidence to accept a face.
    pub detect_threshold: f32,
    /// Overlap above which two detections are the same face.
    pub nms_iou: f32,
    /// Smallest face (shorter side of its box, in pixels of the original photo) to embed:
    /// below it the 112 px alignment upsamples and the embedding loses identity.
    pub min_face_px: f32,
    /// A second face smaller than this fraction of the largest face's area is ignored
    /// (a ghost portrait on the card, a face far in the background); a larger one means
    /// "several faces".
    pub secondary_face_ratio: f32,
    /// Cosine similarity at which a comparison is a match.
    pub match_threshold: f32,
    /// ONNX Runtime intra-op threads per model.
    pub intra_threads: usize,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            detect_threshold: 0.65,
            nms_iou: 0.4,
            min_face_px: 48.0,
            secondary_face_ratio: 0.25,
            match_threshold: DEFAULT_MATCH_THRESHOLD,
            intra_threads: 1,
        }
    }
}

/// Errors of the face engine itself. A bad photo is not one of them (see [`FaceFinding`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// Loading or running a model failed.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// A model returned something of an unexpected shape (wrong model file).
    #[error("model {model} returned an unexpected output: {detail}")]
    BadOutput {
        /// Model file name.
        model: String,
        /// What was wrong.
        detail: String,
    },
    /// The blocking task running the model panicked or was cancelled.
    #[error("face engine task failed: {0}")]
    Task(String),
}

impl FaceError {
    /// Whether the same call can succeed later (never: models are deterministic).
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<crate::assets::AssetError> for FaceError {
    fn from(e: crate::assets::AssetError) -> Self {
        Self::Onnx(OnnxError::Asset(e))
    }
}

impl From<FaceError> for PortError {
    fn from(e: FaceError) -> Self {
        match e {
            FaceError::Onnx(e) => e.into(),
            other => PortError::new(PortErrorKind::Internal, other.to_string()),
        }
    }
}

/// A face box in pixels of the (bounded) photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    /// Detector confidence.
    pub score: f32,
}

impl FaceBox {
    /// Width in pixels.
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }
    /// Height in pixels.
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Intersection over union with `other` (0 when disjoint).
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let ix = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let iy = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// A unit-length face embedding.
#[derive(Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl std::fmt::Debug for Embedding {
    // A face template is biometric data: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding(dim={})", self.0.len())
    }
}

impl Embedding {
    /// L2-normalizes `raw` (a zero vector stays zero and matches nothing).
    pub fn from_raw(raw: Vec<f32>) -> Self {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            Self(raw.into_iter().map(|v| v / norm).collect())
        } else {
            Self(vec![0.0; raw.len()])
        }
    }
    /// The components.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }
    /// Cosine similarity in [-1, 1].
    pub fn cosine(&self, other: &Embedding) -> f32 {
        cosine(&self.0, &other.0)
    }
}

/// Cosine similarity of two vectors, clamped to [-1, 1]; 0 when either is zero or the lengths
/// differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    ((dot / (na.sqrt() * nb.sqrt())) as f32).clamp(-1.0, 1.0)
}

/// A 2-D similarity transform `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity (rotation, uniform scale, translation; no reflection)
    /// mapping `src` onto `dst` (Umeyama's closed form for 2-D).
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Self> {
        if src.len() != dst.len() || src.len() < 2 {
            return None;
        }
        let n = src.len() as f64;
        let mean = |pts: &[[f32; 2]]| {
            let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(sx, sy), p| {
                (sx + f64::from(p[0]), sy + f64::from(p[1]))
            });
            (sx / n, sy / n)
        };
        let (mx, my) = mean(src);
        let (nx, ny) = mean(dst);
        let (mut sxx, mut sa, mut sb) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (f64::from(p[0]) - mx, f64::from(p[1]) - my);
            let (qx, qy) = (f64::from(q[0]) - nx, f64::from(q[1]) - ny);
            sxx += px * px + py * py;
            sa += px * qx + py * qy;
            sb += px * qy - py * qx;
        }
        if sxx <= f64::EPSILON {
            return None;
        }
        let (a, b) = (sa / sxx, sb / sxx);
        if !(a.is_finite() && b.is_finite()) || a * a + b * b <= f64::EPSILON {
            return None;
        }
        Some(Self {
            a: a as f32,
            b: b as f32,
            tx: (nx - (a * mx - b * my)) as f32,
            ty: (ny - (b * mx + a * my)) as f32,
        })
    }

    /// Applies the transform.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Self {
        let d = self.a * self.a + self.b * self.b;
        let (ia, ib) = (self.a / d, -self.b / d);
        Self {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        }
    }
}

/// Greedy non-maximum suppression: keeps the best box of every group overlapping more than
/// `iou`. Returns boxes sorted by descending score.
pub fn nms(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for candidate in boxes {
        if kept.iter().all(|k| k.iou(&candidate) <= iou) {
            kept.push(candidate);
        }
    }
    kept
}

/// Decodes an encoded photo (JPEG, PNG, WebP) within [`PhotoLimits::DEFAULT`], applies its
/// EXIF orientation and bounds its longest side to 1600 px. `None` when the bytes are not an
/// image we can read ([`open_photo`] says why).
pub fn decode_photo(bytes: &[u8]) -> Option<RgbImage> {
    open_photo(bytes).ok()
}

/// [`decode_photo`] with the reason a photo could not be opened (truncated, too large, not an
/// image), for the retake's detail.
pub fn open_photo(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    let rgb = photo::open(bytes, &PhotoLimits::DEFAULT)?.into_rgb8();
    if rgb.width() == 0 || rgb.height() == 0 {
        return Err(PhotoError::Format);
    }
    Ok(bound_side(rgb, MAX_SIDE))
}

fn bound_side(img: RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let long = w.max(h);
    if long <= max_side {
        return img;
    }
    let scale = max_side as f32 / long as f32;
    let nw = ((w as f32 * scale).round() as u32).max(1);
    let nh = ((h as f32 * scale).round() as u32).max(1);
    imageops::thumbnail(&img, nw, nh)
}

/// One face found and analysed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundFace {
    /// Where it is, in pixels of the bounded photo.
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    /// Left eye, right eye, nose tip, left and right mouth corners.
    pub landmarks: [[f32; 2]; 5],
    /// How many faces the detector saw in the photo (before ignoring small ones).
    pub detected: usize,
    /// Size of the bounded photo the coordinates refer to.
    pub image_size: [u32; 2],
    /// The face template (never serialized: biometric data).
    #[serde(skip)]
    pub embedding: Embedding,
}

/// What the engine made of one photo.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceFinding {
    /// Exactly one usable face.
    Face(Box<FoundFace>),
    /// The photo must be taken again.
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// Outcome of choosing the face to use among the detections.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceChoice {
    /// This face.
    One(FaceBox),
    /// Why none can be used.
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// Picks the face to use: none → `no_face`; the largest face too small → `face_too_small`;
/// another face at least `secondary_ratio` of its area → `multiple_faces`.
pub fn choose_face(faces: &[FaceBox], config: &FaceConfig) -> FaceChoice {
    let Some(largest) = faces
        .iter()
        .copied()
        .max_by(|a, b| a.area().total_cmp(&b.area()))
    else {
        return FaceChoice::Retake {
            reason: RetakeReason::NoFace,
            detail: "no face found in the photo".into(),
        };
    };
    let comparable = faces
        .iter()
        .filter(|f| f.area() >= config.secondary_face_ratio * largest.area())
        .count();
    if comparable > 1 {
        return FaceChoice::Retake {
            reason: RetakeReason::MultipleFaces,
            detail: format!("{comparable} faces of similar size in the photo"),
        };
    }
    let side = largest.width().min(largest.height());
    if side < config.min_face_px {
        return FaceChoice::Retake {
            reason: RetakeReason::FaceTooSmall,
            detail: format!(
                "face is {side:.0} px, at least {:.0} px needed",
                config.min_face_px
            ),
        };
    }
    FaceChoice::One(largest)
}

/// How many photos' findings [`FaceEngine::analyse`] remembers.
const RECENT_FINDINGS: usize = 8;

/// The findings of the last few photos analysed, by SHA-256 of their bytes. The selfie job
/// asks about the same photo twice — the 1:1 match, then the 1:N repeat features
/// (`crate::repeat`) — and pays for one detection and one embedding. Bounded, in process, never
/// printed (`Debug` shows the count only).
#[derive(Default)]
struct RecentFindings(std::sync::Mutex<std::collections::VecDeque<([u8; 32], FaceFinding)>>);

impl std::fmt::Debug for RecentFindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecentFindings({})", self.lock().len())
    }
}

impl RecentFindings {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::VecDeque<([u8; 32], FaceFinding)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, digest: &[u8; 32]) -> Option<FaceFinding> {
        self.lock()
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, digest: [u8; 32], finding: &FaceFinding) {
        let mut recent = self.lock();
        if recent.iter().any(|(d, _)| *d == digest) {
            return;
        }
        if recent.len() == RECENT_FINDINGS {
            recent.pop_front();
        }
        recent.push_back((digest, finding.clone()));
    }
}

/// The three face models, loaded once and shared.
#[derive(Debug)]
pub struct FaceEngine {
    detector: Model,
    landmarks: Model,
    embedder: Model,
    config: FaceConfig,
    recent: RecentFindings,
}

impl FaceEngine {
    /// Loads the detector, landmark and embedding models from `assets`.
    pub fn load(assets: &AssetPaths, config: FaceConfig) -> Result<Self, FaceError> {
        let opts = ModelOptions {
            intra_threads: config.intra_threads,
        };
        Ok(Self {
            detector: Model::load(&assets.face_detector()?, &opts)?,
            landmarks: Model::load(&assets.face_landmarks()?, &opts)?,
            embedder: Model::load(&assets.face_embedder()?, &opts)?,
            config,
            recent: RecentFindings::default(),
        })
    }

    /// Loads from the discovered assets directory with the default configuration.
    pub fn from_default_assets() -> Result<Self, FaceError> {
        let assets = AssetPaths::discover().map_err(OnnxError::from)?;
        Self::load(&assets, FaceConfig::default())
    }

    /// The configuration in use.
    pub fn config(&self) -> &FaceConfig {
        &self.config
    }

    /// Every face the detector sees above the confidence threshold, after NMS, in pixels.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<FaceBox>, FaceError> {
        let small = imageops::thumbnail(img, DETECT_W, DETECT_H);
        let mut input = Array4::<f32>::zeros((1, 3, DETECT_H as usize, DETECT_W as usize));
        for (x, y, p) in small.enumerate_pixels() {
            for (c, v) in p.0.iter().enumerate() {
                input[[0, c, y as usize, x as usize]] = (f32::from(*v) - 127.0) / 128.0;
            }
        }
        let out = self.detector.run(&[input.into_dyn().view()])?;
        let (scores, boxes) = match out.as_slice() {
            [s, b] => (s, b),
            _ => return Err(self.bad(&self.detector, "expected scores and boxes")),
        };
        let n = scores.len() / 2;
        if scores.len() != n * 2 || boxes.len() != n * 4 {
            return Err(self.bad(&self.detector, "scores and boxes disagree"));
        }
        let scores = flat(scores);
        let boxes = flat(boxes);
        let (w, h) = (img.width() as f32, img.height() as f32);
        let candidates = (0..n)
            .filter(|i| scores[i * 2 + 1] >= self.config.detect_threshold)
            .map(|i| FaceBox {
                x0: (boxes[i * 4] * w).clamp(0.0, w),
                y0: (boxes[i * 4 + 1] * h).clamp(0.0, h),
                x1: (boxes[i * 4 + 2] * w).clamp(0.0, w),
                y1: (boxes[i * 4 + 3] * h).clamp(0.0, h),
                score: scores[i * 2 + 1],
            })
            .filter(|b| b.width() >= 1.0 && b.height() >= 1.0)
            .collect();
        Ok(nms(candidates, self.config.nms_iou))
    }

    /// The 5 alignment points of the face in `bbox`, in pixels of `img`.
    pub fn landmarks5(&self, img: &RgbImage, bbox: &FaceBox) -> Result<[[f32; 2]; 5], FaceError> {
        // The landmark model takes the detector's box itself, stretched to 64×64 (as its
        // reference pipeline does); a square crop around it measured slightly worse separation
        // on the test photos (min genuine 0.666 vs 0.680, max impostor 0.166 vs 0.145).
        let (cx0, cy0, cw, ch) = fit_rect(
            (bbox.x0 + bbox.x1) / 2.0,
            (bbox.y0 + bbox.y1) / 2.0,
            bbox.width(),
            bbox.height(),
            img.width(),
            img.height(),
        );
        let crop = imageops::crop_imm(img, cx0, cy0, cw, ch).to_image();
        let small = imageops::resize(
            &crop,
            LANDMARK_SIDE,
            LANDMARK_SIDE,
            imageops::FilterType::Triangle,
        );
        let s = LANDMARK_SIDE as usize;
        let mut input = Array4::<f32>::zeros((1, 1, s, s));
        for (x, y, p) in small.enumerate_pixels() {
            // BT.601 luma, as the model's training pipeline (OpenCV) computes gray.
            let gray = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            input[[0, 0, y as usize, x as usize]] = gray.round() / 256.0;
        }
        let out = self.landmarks.run(&[input.into_dyn().view()])?;
        let pts = out
            .first()
            .map(flat)
            .ok_or_else(|| self.bad(&self.landmarks, "no output"))?;
        if pts.len() < 136 {
            return Err(self.bad(&self.landmarks, "fewer than 68 points"));
        }
        let at = |i: usize| -> [f32; 2] {
            [
                cx0 as f32 + pts[i * 2] * cw as f32,
                cy0 as f32 + pts[i * 2 + 1] * ch as f32,
            ]
        };
        let avg = |idx: &[usize]| -> [f32; 2] {
            let n = idx.len() as f32;
            let (sx, sy) = idx.iter().fold((0.0, 0.0), |(sx, sy), &i| {
                let p = at(i);
                (sx + p[0], sy + p[1])
            });
            [sx / n, sy / n]
        };
        Ok([
            avg(&[37, 38, 40, 41]),
            avg(&[43, 44, 46, 47]),
            at(30),
            avg(&[48, 60]),
            avg(&[54, 64]),
        ])
    }

    /// The embedding of the face whose 5 points are `points`.
    pub fn embed(&self, img: &RgbImage, points: &[[f32; 2]; 5]) -> Result<Embedding, FaceError> {
        let aligned = align_face(img, points)
            .ok_or_else(|| self.bad(&self.embedder, "degenerate landmarks"))?;
        let s = EMBED_SIDE as usize;
        let mut input = Array4::<f32>::zeros((1, 3, s, s));
        for (x, y, p) in aligned.enumerate_pixels() {
            for (c, v) in p.0.iter().enumerate() {
                input[[0, c, y as usize, x as usize]] = (f32::from(*v) - 127.0) / 128.0;
            }
        }
        let out = self.embedder.run(&[input.into_dyn().view()])?;
        let raw = out
            .first()
            .map(flat)
            .ok_or_else(|| self.bad(&self.embedder, "no output"))?;
        if raw.is_empty() || raw.iter().any(|v| !v.is_finite()) {
            return Err(self.bad(&self.embedder, "empty or non-finite embedding"));
        }
        Ok(Embedding::from_raw(raw))
    }

    /// Detects, chooses, aligns and embeds the face of a decoded photo.
    pub fn analyse_image(&self, img: &RgbImage) -> Result<FaceFinding, FaceError> {
        let faces = self.detect(img)?;
        let bbox = match choose_face(&faces, &self.config) {
            FaceChoice::One(b) => b,
            FaceChoice::Retake { reason, detail } => {
                return Ok(FaceFinding::Retake { reason, detail });
            }
        };
        let landmarks = self.landmarks5(img, &bbox)?;
        let embedding = self.embed(img, &landmarks)?;
        Ok(FaceFinding::Face(Box::new(FoundFace {
            bbox,
            landmarks,
            detected: faces.len(),
            image_size: [img.width(), img.height()],
            embedding,
        })))
    }

    /// Decodes `bytes` and analyses the photo; unreadable bytes are an `unsupported_media`
    /// retake. The findings of the last few photos are remembered by a digest of their bytes,
    /// so the same photo asked about again (the selfie: 1:1 match, then 1:N features) is not
    /// detected and embedded twice.
    pub fn analyse(&self, bytes: &[u8]) -> Result<FaceFinding, FaceError> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(bytes).into();
        if let Some(found) = self.recent.get(&digest) {
            return Ok(found);
        }
        let found = match open_photo(bytes) {
            Ok(img) => self.analyse_image(&img)?,
            Err(e) => unreadable(&e),
        };
        self.recent.put(digest, &found);
        Ok(found)
    }

    /// Compares two photos 1:1.
    pub fn compare(&self, selfie: &[u8], portrait: &[u8]) -> Result<FaceReport, FaceError> {
        let selfie = self.analyse(selfie)?;
        let portrait = self.analyse(portrait)?;
        Ok(FaceReport::new(
            selfie,
            portrait,
            self.config.match_threshold,
        ))
    }

    fn bad(&self, model: &Model, detail: &str) -> FaceError {
        FaceError::BadOutput {
            model: model.name().to_owned(),
            detail: detail.to_owned(),
        }
    }
}

fn unreadable(e: &PhotoError) -> FaceFinding {
    FaceFinding::Retake {
        reason: e.retake_reason(),
        detail: e.to_string(),
    }
}

/// The two findings and, when both have a face, their comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceReport {
    pub selfie: FaceFinding,
    pub portrait: FaceFinding,
    /// Cosine similarity, when both photos had a usable face.
    pub score: Option<f32>,
    pub threshold: f32,
}

impl FaceReport {
    fn new(selfie: FaceFinding, portrait: FaceFinding, threshold: f32) -> Self {
        let score = match (&selfie, &portrait) {
            (FaceFinding::Face(a), FaceFinding::Face(b)) => Some(a.embedding.cosine(&b.embedding)),
            _ => None,
        };
        Self {
            selfie,
            portrait,
            score,
            threshold,
        }
    }

    /// The port's view: a comparison, or the first photo's retake reason (selfie first, since
    /// that is the one the user can take again right away).
    pub fn outcome(&self) -> FaceMatchOutcome {
        for (which, finding) in [("selfie", &self.selfie), ("portrait", &self.portrait)] {
            if let FaceFinding::Retake { reason, detail } = finding {
                return FaceMatchOutcome::Retake {
                    reason: *reason,
                    detail: format!("{which}: {detail}"),
                };
            }
        }
        let score = self.score.unwrap_or(0.0);
        FaceMatchOutcome::Compared(FaceComparison {
            score,
            threshold: self.threshold,
            matched: score >= self.threshold,
            engine: ENGINE_NAME.into(),
        })
    }
}

/// Maps the face onto the ArcFace template and returns the 112×112 aligned crop.
pub fn align_face(img: &RgbImage, points: &[[f32; 2]; 5]) -> Option<RgbImage> {
    let to_template = Similarity::estimate(points, &ARCFACE_TEMPLATE)?;
    // Sampling a large face straight down to 112 px aliases; first shrink the part of the
    // photo the template covers so the face is at most about twice the template's scale.
    // Only that region is shrunk: shrinking the whole photo cost ~10x more.
    let scale = (to_template.a * to_template.a + to_template.b * to_template.b).sqrt();
    let (src, to_template) = if scale < 0.5 {
        let back = to_template.inverse();
        let side = EMBED_SIDE as f32;
        let corners = [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]].map(|c| back.apply(c));
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for [x, y] in corners {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        let clamp_x = |v: f32| v.clamp(0.0, img.width() as f32);
        let clamp_y = |v: f32| v.clamp(0.0, img.height() as f32);
        let (cx0, cy0) = (clamp_x(x0 - 2.0).floor(), clamp_y(y0 - 2.0).floor());
        let (cx1, cy1) = (clamp_x(x1 + 2.0).ceil(), clamp_y(y1 + 2.0).ceil());
        let (cw, ch) = ((cx1 - cx0) as u32, (cy1 - cy0) as u32);
        if cw == 0 || ch == 0 {
            return None;
        }
        let region = imageops::crop_imm(img, cx0 as u32, cy0 as u32, cw, ch).to_image();
        let factor = (scale * 2.0).clamp(0.01, 1.0);
        let nw = ((cw as f32 * factor).round() as u32).max(1);
        let nh = ((ch as f32 * factor).round() as u32).max(1);
        let small = imageops::thumbnail(&region, nw, nh);
        let (fx, fy) = (nw as f32 / cw as f32, nh as f32 / ch as f32);
        let moved: Vec<[f32; 2]> = points
            .iter()
            .map(|p| [(p[0] - cx0) * fx, (p[1] - cy0) * fy])
            .collect();
        (
            std::borrow::Cow::Owned(small),
            Similarity::estimate(&moved, &ARCFACE_TEMPLATE)?,
        )
    } else {
        (std::borrow::Cow::Borrowed(img), to_template)
    };
    let back = to_template.inverse();
    let mut out = RgbImage::new(EMBED_SIDE, EMBED_SIDE);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let [sx, sy] = back.apply([x as f32, y as f32]);
        *px = bilinear(&src, sx, sy);
    }
    Some(out)
}

/// Resizes like OpenCV's `INTER_LINEAR`: plain bilinear sampling at pixel centres, no
/// anti-aliasing prefilter. Models trained on such crops (liveness) rely on the
/// high-frequency texture a prefilter would remove.
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let sx = img.width() as f32 / width.max(1) as f32;
    let sy = img.height() as f32 / height.max(1) as f32;
    let (maxx, maxy) = (
        img.width().saturating_sub(1) as f32,
        img.height().saturating_sub(1) as f32,
    );
    RgbImage::from_fn(width, height, |x, y| {
        let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, maxx);
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, maxy);
        bilinear(img, fx, fy)
    })
}

pub(crate) fn bilinear(img: &RgbImage, x: f32, y: f32) -> image::Rgb<u8> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if !((-1.0..=w as f32).contains(&x) && (-1.0..=h as f32).contains(&y)) {
        return image::Rgb([0, 0, 0]);
    }
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    // Outside pixels are black, like OpenCV's default border in the training pipeline.
    let get = |xx: i64, yy: i64| -> [f32; 3] {
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            [0.0; 3]
        } else {
            let p = img.get_pixel(xx as u32, yy as u32);
            [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
        }
    };
    let (p00, p10, p01, p11) = (
        get(x0, y0),
        get(x0 + 1, y0),
        get(x0, y0 + 1),
        get(x0 + 1, y0 + 1),
    );
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = p00[c] * (1.0 - fx) + p10[c] * fx;
        let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    image::Rgb(out)
}

/// A `w×h` rectangle centred on `(cx, cy)`, shrunk to fit and shifted inside an `iw×ih` image.
/// Returns `(x, y, w, h)` in whole pixels, never empty.
pub fn fit_rect(cx: f32, cy: f32, w: f32, h: f32, iw: u32, ih: u32) -> (u32, u32, u32, u32) {
    let w = w.clamp(1.0, iw.max(1) as f32);
    let h = h.clamp(1.0, ih.max(1) as f32);
    let x0 = (cx - w / 2.0).clamp(0.0, (iw as f32 - w).max(0.0));
    let y0 = (cy - h / 2.0).clamp(0.0, (ih as f32 - h).max(0.0));
    let (x0, y0) = (x0.floor() as u32, y0.floor() as u32);
    let cw = (w.round() as u32).clamp(1, iw.saturating_sub(x0).max(1));
    let ch = (h.round() as u32).clamp(1, ih.saturating_sub(y0).max(1));
    (x0, y0, cw, ch)
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// [`FaceMatcher`] on the local engine. Inference runs on Tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct LocalFaceMatcher {
    engine: Arc<FaceEngine>,
}

impl LocalFaceMatcher {
    /// Wraps a loaded engine (share one engine between the matcher and [`crate::liveness`]).
    pub fn new(engine: Arc<FaceEngine>) -> Self {
        Self { engine }
    }
    /// The engine.
    pub fn engine(&self) -> &Arc<FaceEngine> {
        &self.engine
    }
}

#[async_trait]
impl FaceMatcher for LocalFaceMatcher {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            face_match: true,
            ..VisionCapabilities::default()
        }
    }

    async fn compare(&self, selfie: &[u8], portrait: &[u8]) -> PortResult<FaceMatchOutcome> {
        let engine = Arc::clone(&self.engine);
        let (selfie, portrait) = (selfie.to_vec(), portrait.to_vec());
        let report = tokio::task::spawn_blocking(move || engine.compare(&selfie, &portrait))
            .await
            .map_err(|e| FaceError::Task(e.to_string()))??;
        Ok(report.outcome())
    }
}

fn finding_json(which: &str, finding: &FaceFinding) -> serde_json::Value {
    match finding {
        FaceFinding::Face(f) => serde_json::json!({
            "image": which,
            "found": true,
            "box": [f.bbox.x0, f.bbox.y0, f.bbox.x1, f.bbox.y1],
            "confidence": f.bbox.score,
            "landmarks": f.landmarks,
            "detected": f.detected,
            "image_size": f.image_size,
        }),
        FaceFinding::Retake { reason, detail } => serde_json::json!({
            "image": which,
            "found": false,
            "retake": reason.as_str(),
            "detail": detail,
        }),
    }
}

/// The `kyc-flow inspect face SELFIE PORTRAIT [--liveness]` report (see `docs/cli.md`):
/// `{"faces": [...], "score", "match", "threshold"}` and, with `liveness`,
/// `"liveness": {"live", "score", "engine", "certified"}`.
///
/// `score` is `null` and `match` false when a photo has no usable face (its entry in `faces`
/// says why, and `retake` names the first reason). `Err` (exit 2 in the CLI) when an input is
/// not a readable image or the engines cannot load (the message names the missing asset).
pub fn inspect_face(
    selfie: &[u8],
    portrait: &[u8],
    liveness: bool,
) -> Result<serde_json::Value, String> {
    let selfie_img = decode_photo(selfie).ok_or("selfie: not a readable JPEG, PNG or WebP")?;
    let portrait_img =
        decode_photo(portrait).ok_or("portrait: not a readable JPEG, PNG or WebP")?;
    let assets = AssetPaths::discover().map_err(|e| e.to_string())?;
    let engine =
        Arc::new(FaceEngine::load(&assets, FaceConfig::default()).map_err(|e| e.to_string())?);
    let report = FaceReport::new(
        engine
            .analyse_image(&selfie_img)
            .map_err(|e| e.to_string())?,
        engine
            .analyse_image(&portrait_img)
            .map_err(|e| e.to_string())?,
        engine.config().match_threshold,
    );
    let mut out = serde_json::json!({
        "faces": [
            finding_json("selfie", &report.selfie),
            finding_json("portrait", &report.portrait),
        ],
        "score": report.score,
        "match": report.score.is_some_and(|s| s >= report.threshold),
        "threshold": report.threshold,
        "engine": ENGINE_NAME,
    });
    if let FaceMatchOutcome::Retake { reason, .. } = report.outcome() {
        out["retake"] = reason.as_str().into();
    }
    if liveness {
        let checker = crate::liveness::LocalLiveness::load(
            &assets,
            engine,
            crate::liveness::LivenessConfig::default(),
        )
        .map_err(|e| e.to_string())?;
        out["liveness"] = match checker
            .check_image(&selfie_img)
            .map_err(|e| e.to_string())?
        {
            kyc_flow_core::ports::LivenessOutcome::Judged(v) => serde_json::json!({
                "live": v.live,
                "score": v.score,
                "engine": v.engine,
                "certified": v.certified,
            }),
            kyc_flow_core::ports::LivenessOutcome::Retake { reason, detail } => serde_json::json!({
                "live": false,
                "score": null,
                "engine": crate::liveness::ENGINE_NAME,
                "certified": false,
                "retake": reason.as_str(),
                "detail": detail,
            }),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fbox(x0: f32, y0: f32, x1: f32, y1: f32, score: f32) -> FaceBox {
        FaceBox {
            x0,
            y0,
            x1,
            y1,
            score,
        }
    }

    #[test]
    fn choose_face_reasons() {
        let cfg = FaceConfig::default();
        assert!(matches!(
            choose_face(&[], &cfg),
            FaceChoice::Retake {
                reason: RetakeReason::NoFace,
                ..
            }
        ));
        let big = fbox(0.0, 0.0, 200.0, 200.0, 0.9);
        let twin = fbox(300.0, 0.0, 480.0, 180.0, 0.9);
        let ghost = fbox(300.0, 0.0, 360.0, 60.0, 0.9);
        assert!(matches!(
            choose_face(&[big, twin], &cfg),
            FaceChoice::Retake {
                reason: RetakeReason::MultipleFaces,
                ..
            }
        ));
        assert_eq!(choose_face(&[ghost, big], &cfg), FaceChoice::One(big));
        let tiny = fbox(0.0, 0.0, 30.0, 40.0, 0.9);
        assert!(matches!(
            choose_face(&[tiny], &cfg),
            FaceChoice::Retake {
                reason: RetakeReason::FaceTooSmall,
                ..
            }
        ));
    }

    #[test]
    fn recent_findings_are_found_by_digest_bounded_and_never_printed() {
        let recent = RecentFindings::default();
        let finding = |n: usize| FaceFinding::Retake {
            reason: RetakeReason::NoFace,
            detail: format!("photo {n}"),
        };
        for n in 0..RECENT_FINDINGS + 2 {
            recent.put([n as u8; 32], &finding(n));
        }
        assert_eq!(recent.lock().len(), RECENT_FINDINGS, "bounded");
        assert_eq!(recent.get(&[0; 32]), None, "the oldest went first");
        assert_eq!(recent.get(&[1; 32]), None);
        let last = RECENT_FINDINGS + 1;
        assert_eq!(recent.get(&[last as u8; 32]), Some(finding(last)));
        recent.put([last as u8; 32], &finding(99));
        assert_eq!(
            recent.get(&[last as u8; 32]),
            Some(finding(last)),
            "the first finding for a digest stays"
        );
        assert_eq!(
            format!("{recent:?}"),
            format!("RecentFindings({RECENT_FINDINGS})")
        );
    }

    #[test]
    fn embedding_debug_hides_values() {
        let e = Embedding::from_raw(vec![0.3, 0.4]);
        assert_eq!(format!("{e:?}"), "Embedding(dim=2)");
        assert!((e.as_slice()[0] - 0.6).abs() < 1e-6);
    }

    #[test]
    fn template_maps_onto_itself() {
        let t = Similarity::estimate(&ARCFACE_TEMPLATE, &ARCFACE_TEMPLATE).unwrap();
        assert!((t.a - 1.0).abs() < 1e-5 && t.b.abs() < 1e-5);
        assert!(t.tx.abs() < 1e-3 && t.ty.abs() < 1e-3);
    }

    #[test]
    fn degenerate_points_have_no_transform() {
        let same = [[5.0, 5.0]; 5];
        assert!(Similarity::estimate(&same, &ARCFACE_TEMPLATE).is_none());
        assert!(align_face(&RgbImage::new(10, 10), &same).is_none());
    }

    fn arb_box() -> impl Strategy<Value = FaceBox> {
        (
            0f32..500.0,
            0f32..500.0,
            1f32..300.0,
            1f32..300.0,
            0f32..1.0,
        )
            .prop_map(|(x, y, w, h, s)| fbox(x, y, x + w, y + h, s))
    }

    proptest! {
        #[test]
        fn similarity_recovers_a_known_transform(
            angle in -1.0f32..1.0, scale in 0.2f32..5.0, tx in -300f32..300.0, ty in -300f32..300.0
        ) {
            let truth = Similarity { a: scale * angle.cos(), b: scale * angle.sin(), tx, ty };
            let src: Vec<[f32; 2]> = ARCFACE_TEMPLATE.to_vec();
            let dst: Vec<[f32; 2]> = src.iter().map(|p| truth.apply(*p)).collect();
            let est = Similarity::estimate(&src, &dst).unwrap();
            for (p, q) in src.iter().zip(&dst) {
                let r = est.apply(*p);
                prop_assert!((r[0] - q[0]).abs() < 0.05 && (r[1] - q[1]).abs() < 0.05);
            }
            let back = est.inverse();
            for (p, q) in src.iter().zip(&dst) {
                let r = back.apply(*q);
                prop_assert!((r[0] - p[0]).abs() < 0.05 && (r[1] - p[1]).abs() < 0.05);
            }
        }

        #[test]
        fn cosine_is_symmetric_and_bounded(
            a in proptest::collection::vec(-10f32..10.0, 1..64),
            seed in proptest::collection::vec(-10f32..10.0, 64),
        ) {
            let b: Vec<f32> = seed[..a.len()].to_vec();
            let ab = cosine(&a, &b);
            prop_assert!((ab - cosine(&b, &a)).abs() < 1e-6);
            prop_assert!((-1.0..=1.0).contains(&ab));
            if a.iter().any(|v| *v != 0.0) {
                prop_assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
            }
        }

        #[test]
        fn nms_leaves_no_heavy_overlap(boxes in proptest::collection::vec(arb_box(), 0..40)) {
            let kept = nms(boxes.clone(), 0.4);
            prop_assert!(kept.len() <= boxes.len());
            for (i, a) in kept.iter().enumerate() {
                for b in &kept[i + 1..] {
                    prop_assert!(a.iou(b) <= 0.4);
                    prop_assert!(a.score >= b.score);
                }
            }
            // The best box always survives.
            if let Some(best) = boxes.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
                prop_assert!(kept.iter().any(|k| k.score == best.score));
            }
        }

        #[test]
        fn fit_rect_stays_inside(
            cx in -100f32..900.0, cy in -100f32..900.0, w in 0f32..2000.0, h in 0f32..2000.0,
            iw in 1u32..800, ih in 1u32..800,
        ) {
            let (x, y, rw, rh) = fit_rect(cx, cy, w, h, iw, ih);
            prop_assert!(rw >= 1 && rh >= 1);
            prop_assert!(x + rw <= iw && y + rh <= ih);
        }

        #[test]
        fn decode_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_photo(&bytes);
        }
    }
}
