//! Evaluation of the local face and liveness engines on the test photos, for the evaluation
//! command and `docs/VISION.md`: match rates at the chosen threshold, and liveness scores on
//! real photos vs simulated attacks.
//!
//! Honest limits, repeated in the output: four public photos of two people, card portraits
//! and attacks are simulated. These numbers show the engines work; they do not estimate error
//! rates on a real population.

use crate::liveness_sim::{printed_photo, screen_replay};
use image::{ImageEncoder, RgbImage, imageops};
use kyc_flow_core::ports::LivenessOutcome;
use kyc_flow_vision::assets::AssetPaths;
use kyc_flow_vision::face::{FaceConfig, FaceEngine, FaceError, FaceFinding, decode_photo};
use kyc_flow_vision::liveness::{LivenessConfig, LocalLiveness};
use serde::Serialize;
use std::sync::Arc;

/// The photos used, and who is in them.
pub const PHOTOS: [(&str, &str); 4] = [
    ("obama.jpg", "A"),
    ("obama2.jpg", "A"),
    ("obama3.jpg", "A"),
    ("biden.jpg", "B"),
];

/// One scored pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairScore {
    pub selfie: String,
    /// `photo` or `card-portrait` (face ≈115 px, JPEG q70) and the photo it was made from.
    pub portrait: String,
    pub genuine: bool,
    pub score: f32,
    pub matched: bool,
}

/// One liveness score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessScore {
    pub photo: String,
    /// `real`, `simulated-print` or `simulated-screen`.
    pub presentation: String,
    pub score: f32,
    pub live: bool,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceEvaluation {
    pub match_threshold: f32,
    pub pairs: Vec<PairScore>,
    /// Genuine pairs matched / genuine pairs.
    pub true_match_rate: f32,
    /// Impostor pairs matched / impostor pairs.
    pub false_match_rate: f32,
    pub genuine_min: f32,
    pub impostor_max: f32,
    pub live_threshold: f32,
    pub liveness: Vec<LivenessScore>,
    /// Real photos judged not live / real photos (BPCER on this set).
    pub real_rejected_rate: f32,
    /// Simulated attacks judged live / attacks (APCER on this set).
    pub attack_accepted_rate: f32,
    pub limits: &'static str,
}

/// JPEG-encodes an image.
pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding an in-memory RGB buffer cannot fail except on zero size.
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    );
    out
}

/// A card-portrait rendering of a photo: shrunk so the face is `face_px` wide, JPEG at
/// `quality` (a portrait printed on an ID card and photographed, roughly). `None` when the
/// photo has no usable face.
pub fn card_portrait(
    engine: &FaceEngine,
    img: &RgbImage,
    face_px: f32,
    quality: u8,
) -> Result<Option<Vec<u8>>, FaceError> {
    let FaceFinding::Face(face) = engine.analyse_image(img)? else {
        return Ok(None);
    };
    let f = (face_px / face.bbox.width().max(1.0)).min(1.0);
    let small = imageops::resize(
        img,
        ((img.width() as f32 * f) as u32).max(1),
        ((img.height() as f32 * f) as u32).max(1),
        imageops::FilterType::Triangle,
    );
    Ok(Some(jpeg(&small, quality)))
}

fn rate(hits: usize, total: usize) -> f32 {
    if total == 0 {
        0.0
    } else {
        hits as f32 / total as f32
    }
}

/// Runs the evaluation on the photos in `assets` with the default configurations.
pub fn evaluate(assets: &AssetPaths) -> Result<FaceEvaluation, FaceError> {
    let engine = Arc::new(FaceEngine::load(assets, FaceConfig::default())?);
    let liveness = LocalLiveness::load(assets, engine.clone(), LivenessConfig::default())?;
    let threshold = engine.config().match_threshold;
    let mut photos = Vec::new();
    for (name, who) in PHOTOS {
        let bytes = std::fs::read(assets.photo(name)?)
            .map_err(|e| FaceError::Task(format!("reading {name}: {e}")))?;
        let img = decode_photo(&bytes)
            .ok_or_else(|| FaceError::Task(format!("{name} does not decode")))?;
        let card = card_portrait(&engine, &img, 115.0, 70)?;
        photos.push((name, who, bytes, img, card));
    }

    let mut pairs = Vec::new();
    for (i, (sname, swho, sbytes, _, _)) in photos.iter().enumerate() {
        for (j, (pname, pwho, pbytes, _, pcard)) in photos.iter().enumerate() {
            if i == j {
                continue;
            }
            let mut renderings = vec![(format!("photo {pname}"), pbytes.clone())];
            if let Some(card) = pcard {
                renderings.push((format!("card-portrait {pname}"), card.clone()));
            }
            for (label, portrait) in renderings {
                if let Some(score) = engine.compare(sbytes, &portrait)?.score {
                    pairs.push(PairScore {
                        selfie: (*sname).to_owned(),
                        portrait: label,
                        genuine: swho == pwho,
                        score,
                        matched: score >= threshold,
                    });
                }
            }
        }
    }
    let genuine: Vec<&PairScore> = pairs.iter().filter(|p| p.genuine).collect();
    let impostor: Vec<&PairScore> = pairs.iter().filter(|p| !p.genuine).collect();

    let mut scores = Vec::new();
    for (name, _, _, img, _) in &photos {
        for (presentation, shown) in [
            ("real", img.clone()),
            ("simulated-print", printed_photo(img)),
            ("simulated-screen", screen_replay(img)),
        ] {
            // Attacks go through a JPEG, as a camera capture would.
            let bytes = jpeg(&shown, 85);
            if let LivenessOutcome::Judged(v) = liveness.check_bytes(&bytes)? {
                scores.push(LivenessScore {
                    photo: (*name).to_owned(),
                    presentation: presentation.to_owned(),
                    score: v.score,
                    live: v.live,
                });
            }
        }
    }
    let real: Vec<&LivenessScore> = scores.iter().filter(|s| s.presentation == "real").collect();
    let attacks: Vec<&LivenessScore> = scores.iter().filter(|s| s.presentation != "real").collect();

    Ok(FaceEvaluation {
        match_threshold: threshold,
        true_match_rate: rate(genuine.iter().filter(|p| p.matched).count(), genuine.len()),
        false_match_rate: rate(
            impostor.iter().filter(|p| p.matched).count(),
            impostor.len(),
        ),
        genuine_min: genuine.iter().map(|p| p.score).fold(f32::NAN, f32::min),
        impostor_max: impostor.iter().map(|p| p.score).fold(f32::NAN, f32::max),
        pairs,
        live_threshold: LivenessConfig::default().live_threshold,
        real_rejected_rate: rate(real.iter().filter(|s| !s.live).count(), real.len()),
        attack_accepted_rate: rate(attacks.iter().filter(|s| s.live).count(), attacks.len()),
        liveness: scores,
        limits: "4 public photos of 2 people; card portraits and attacks are simulated; \
                 not an estimate of error rates on a real population",
    })
}
