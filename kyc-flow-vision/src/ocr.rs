//! Text detection and recognition with PP-OCRv6 (small) on the rectified card.
//!
//! Detection is the DB model: a probability map thresholded, connected components as text
//! boxes, each grown ("unclipped") by the DB rule `area × 1.5 / perimeter`. The card is already
//! rectified by the quality gate, so boxes are axis-aligned rectangles rather than rotated
//! polygons. Recognition is CTC: each box is cut, scaled to 48 px high and decoded greedily
//! with the dictionary stored in the model's own metadata (key `character`), which has Ñ,
//! accented vowels and `<` (older dictionaries lack Ñ and Ú, see the vision notes).

use crate::assets::AssetPaths;
use crate::onnx::{Model, ModelOptions, OnnxError};
use image::{RgbImage, imageops::FilterType};
use ndarray::Array4;
use serde::Serialize;

/// The detector's input long side (multiples of 32).
pub const DET_LONG_SIDE: u32 = 960;
/// Probability above which a pixel is text.
pub const DET_THRESHOLD: f32 = 0.3;
/// Mean probability a box needs to be kept.
pub const DET_BOX_THRESHOLD: f32 = 0.5;
/// DB unclip ratio.
pub const UNCLIP_RATIO: f32 = 1.5;
/// The recognizer's input height.
pub const REC_HEIGHT: u32 = 48;
/// Widest line fed to the recognizer (longer crops are squeezed).
pub const REC_MAX_WIDTH: u32 = 1600;

/// A detected text box in rectified-card pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TextBox {
    /// Left.
    pub x0: f32,
    /// Top.
    pub y0: f32,
    /// Right.
    pub x1: f32,
    /// Bottom.
    pub y1: f32,
    /// Mean text probability inside.
    pub score: f32,
}

impl TextBox {
    /// Centre point.
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }
    /// Height.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
}

/// One recognized line. `text` is PII: never logged.
#[derive(Clone, PartialEq, Serialize)]
pub struct TextLine {
    /// Where.
    pub bbox: TextBox,
    /// What (upper/lower case as read).
    pub text: String,
    /// Mean per-character probability, 0–1.
    pub confidence: f32,
    /// Per-character probabilities, aligned with `text.chars()`.
    #[serde(skip)]
    pub char_confidences: Vec<f32>,
}

impl TextLine {
    /// A line as recognized, its confidence the mean of the characters' (0 when empty).
    pub fn new(bbox: TextBox, text: String, char_confidences: Vec<f32>) -> Self {
        let confidence = if char_confidences.is_empty() {
            0.0
        } else {
            char_confidences.iter().sum::<f32>() / char_confidences.len() as f32
        };
        Self {
            bbox,
            text,
            confidence,
            char_confidences,
        }
    }
}

impl std::fmt::Debug for TextLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextLine")
            .field("bbox", &self.bbox)
            .field("chars", &self.text.chars().count())
            .field("confidence", &self.confidence)
            .finish()
    }
}

/// OCR errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcrError {
    /// Model loading or inference failed (see [`OnnxError::is_retryable`]).
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The recognizer has no `character` metadata: wrong model file (permanent).
    #[error("recognizer {0} has no `character` dictionary in its metadata")]
    NoDictionary(String),
    /// The model's outputs did not have the expected shape (permanent: wrong model).
    #[error("unexpected output shape from {model}: {shape:?}")]
    Shape {
        /// Model name.
        model: String,
        /// What it returned.
        shape: Vec<usize>,
    },
}

impl OcrError {
    /// Whether a retry could help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Onnx(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The PP-OCRv6 detector and recognizer, loaded once and shared (`Arc<OcrEngine>`).
#[derive(Debug)]
pub struct OcrEngine {
    det: Model,
    rec: Model,
    /// Index 0 is the CTC blank.
    dict: Vec<String>,
}

impl OcrEngine {
    /// Loads both models from `assets`.
    pub fn load(assets: &AssetPaths, options: &ModelOptions) -> Result<Self, OcrError> {
        let det = Model::load(&assets.ocr_detector().map_err(OnnxError::from)?, options)?;
        let rec = Model::load(&assets.ocr_recognizer().map_err(OnnxError::from)?, options)?;
        let chars = rec
            .metadata("character")?
            .ok_or_else(|| OcrError::NoDictionary(rec.name().to_owned()))?;
        let mut dict = vec![String::new()];
        dict.extend(chars.split('\n').map(str::to_owned));
        Ok(Self { det, rec, dict })
    }

    /// Number of recognizer classes known from the metadata (blank included).
    pub fn dictionary_len(&self) -> usize {
        self.dict.len()
    }

    /// Detects text boxes on an (upright) image.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = img.dimensions();
        let scale = DET_LONG_SIDE as f32 / w.max(h) as f32;
        let round32 = |v: f32| (((v / 32.0).round() as u32).max(1)) * 32;
        let (dw, dh) = (round32(w as f32 * scale), round32(h as f32 * scale));
        let resized = image::imageops::resize(img, dw, dh, FilterType::Triangle);
        let mean = [0.485f32, 0.456, 0.406];
        let std = [0.229f32, 0.224, 0.225];
        let mut input = Array4::<f32>::zeros((1, 3, dh as usize, dw as usize));
        for (x, y, p) in resized.enumerate_pixels() {
            // PaddleOCR feeds BGR (OpenCV order) with the mean/std listed in that order.
            for c in 0..3 {
                let v = p.0[2 - c] as f32 / 255.0;
                input[[0, c, y as usize, x as usize]] = (v - mean[c]) / std[c];
            }
        }
        let out = self.det.run(&[input.into_dyn().view()])?;
        let map = out.into_iter().next().ok_or_else(|| OcrError::Shape {
            model: self.det.name().to_owned(),
            shape: vec![],
        })?;
        let shape = map.shape().to_vec();
        if shape.len() != 4 || shape[2] != dh as usize || shape[3] != dw as usize {
            return Err(OcrError::Shape {
                model: self.det.name().to_owned(),
                shape,
            });
        }
        let prob: Vec<f32> = map.iter().copied().collect();
        let boxes = boxes_from_probability(&prob, dw as usize, dh as usize);
        let (sx, sy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        Ok(boxes
            .into_iter()
            .map(|b| TextBox {
                x0: (b.x0 * sx).max(0.0),
                y0: (b.y0 * sy).max(0.0),
                x1: (b.x1 * sx).min(w as f32),
                y1: (b.y1 * sy).min(h as f32),
                score: b.score,
            })
            .collect())
    }

    /// Recognizes the text in one box of `img`.
    pub fn recognize(&self, img: &RgbImage, b: &TextBox) -> Result<TextLine, OcrError> {
        let x0 = b.x0.floor().max(0.0) as u32;
        let y0 = b.y0.floor().max(0.0) as u32;
        let x1 = (b.x1.ceil() as u32).min(img.width());
        let y1 = (b.y1.ceil() as u32).min(img.height());
        let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
        let crop = image::imageops::crop_imm(img, x0, y0, cw, ch).to_image();
        let (text, char_confidences) = self.recognize_crop(&crop)?;
        Ok(TextLine::new(*b, text, char_confidences))
    }

    /// Recognizes one line image (any size): text and per-character probabilities.
    pub fn recognize_crop(&self, crop: &RgbImage) -> Result<(String, Vec<f32>), OcrError> {
        let w = ((crop.width() as f32 * REC_HEIGHT as f32 / crop.height().max(1) as f32).round()
            as u32)
            .clamp(16, REC_MAX_WIDTH);
        let resized = image::imageops::resize(crop, w, REC_HEIGHT, FilterType::Triangle);
        let mut input = Array4::<f32>::zeros((1, 3, REC_HEIGHT as usize, w as usize));
        for (x, y, p) in resized.enumerate_pixels() {
            for c in 0..3 {
                input[[0, c, y as usize, x as usize]] = (p.0[2 - c] as f32 / 255.0 - 0.5) / 0.5;
            }
        }
        let out = self.rec.run(&[input.into_dyn().view()])?;
        let probs = out.into_iter().next().ok_or_else(|| OcrError::Shape {
            model: self.rec.name().to_owned(),
            shape: vec![],
        })?;
        let shape = probs.shape().to_vec();
        if shape.len() != 3 {
            return Err(OcrError::Shape {
                model: self.rec.name().to_owned(),
                shape,
            });
        }
        let (steps, classes) = (shape[1], shape[2]);
        let flat: Vec<f32> = probs.iter().copied().collect();
        Ok(ctc_greedy(&flat, steps, classes, &self.dict))
    }

    /// Detects and recognizes every line.
    pub fn read(&self, img: &RgbImage) -> Result<Vec<TextLine>, OcrError> {
        self.detect(img)?
            .iter()
            .map(|b| self.recognize(img, b))
            .collect()
    }
}

/// Greedy CTC decoding: best class per step, repeats collapsed, blanks (0) dropped. A class
/// one past the dictionary is PaddleOCR's appended space.
pub fn ctc_greedy(
    probs: &[f32],
    steps: usize,
    classes: usize,
    dict: &[String],
) -> (String, Vec<f32>) {
    let mut text = String::new();
    let mut confs = Vec::new();
    let mut prev = 0usize;
    for t in 0..steps {
        let row = &probs[t * classes..(t + 1) * classes];
        let (best, p) =
            row.iter().enumerate().fold(
                (0, f32::MIN),
                |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0 && best != prev {
            let s = if best < dict.len() {
                dict[best].as_str()
            } else {
                " "
            };
            for c in s.chars() {
                text.push(c);
                confs.push(p);
            }
        }
        prev = best;
    }
    (text, confs)
}

/// DB post-processing on a probability map: threshold, 4-connected components, mean score,
/// axis-aligned unclip. Coordinates in map pixels.
pub fn boxes_from_probability(prob: &[f32], w: usize, h: usize) -> Vec<TextBox> {
    let mut label = vec![0u32; w * h];
    let mut boxes = Vec::new();
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..w * h {
        if label[start] != 0 || prob[start] <= DET_THRESHOLD {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let (mut n, mut sum) = (0usize, 0f32);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            n += 1;
            sum += prob[i];
            let mut visit = |j: usize| {
                if label[j] == 0 && prob[j] > DET_THRESHOLD {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let score = sum / n as f32;
        if bw.min(bh) < 3.0 || score < DET_BOX_THRESHOLD {
            continue;
        }
        // DB's unclip: grow by area × ratio / perimeter on every side.
        let d = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
        boxes.push(TextBox {
            x0: x0 as f32 - d,
            y0: y0 as f32 - d,
            x1: x1 as f32 + 1.0 + d,
            y1: y1 as f32 + 1.0 + d,
            score,
        });
    }
    // Reading order: top to bottom, then left to right.
    boxes.sort_by_key(|b| (b.y0 as i32 / 8, b.x0 as i32));
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let dict: Vec<String> = ["", "A", "B", "Ñ"].iter().map(|s| s.to_string()).collect();
        // steps: A A blank A B Ñ space(4 = one past)
        let seq = [1usize, 1, 0, 1, 2, 3, 4];
        let classes = 5;
        let mut probs = vec![0.0; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            probs[t * classes + c] = 0.9;
        }
        let (text, confs) = ctc_greedy(&probs, seq.len(), classes, &dict);
        assert_eq!(text, "AABÑ ");
        assert_eq!(confs.len(), 5);
    }

    #[test]
    fn two_blobs_give_two_boxes_in_reading_order() {
        let (w, h) = (100, 40);
        let mut p = vec![0.0f32; w * h];
        for y in 5..12 {
            for x in 60..90 {
                p[y * w + x] = 0.9;
            }
            for x in 5..40 {
                p[y * w + x] = 0.8;
            }
        }
        let b = boxes_from_probability(&p, w, h);
        assert_eq!(b.len(), 2);
        assert!(b[0].x0 < b[1].x0);
        assert!(b[0].x0 < 5.0 && b[0].x1 > 40.0, "unclipped: {:?}", b[0]);
    }

    proptest! {
        #[test]
        fn ctc_never_emits_more_chars_than_steps(seq in proptest::collection::vec(0usize..4, 0..40)) {
            let dict: Vec<String> = ["", "A", "B", "C"].iter().map(|s| s.to_string()).collect();
            let mut probs = vec![0.0; seq.len() * 4];
            for (t, &c) in seq.iter().enumerate() { probs[t * 4 + c] = 1.0; }
            let (text, confs) = ctc_greedy(&probs, seq.len(), 4, &dict);
            prop_assert!(text.chars().count() <= seq.len());
            prop_assert_eq!(text.chars().count(), confs.len());
        }
    }
}
