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

#[cfg(test)]
impl TextLine {
    /// A recognised line for tests: its box at (`x0`, `y0`), `w` × `h` pixels, every
    /// character read at confidence `conf`.
    pub(crate) fn at(x0: f32, y0: f32, w: f32, h: f32, text: &str, conf: f32) -> Self {
        Self::new(
            TextBox {
                x0,
                y0,
                x1: x0 + w,
                y1: y0 + h,
                score: 0.9,
            },
            text.to_owned(),
            vec![conf; text.chars().count()],
        )
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
        Ok(self
            .detect_regions(img)?
            .into_iter()
            .map(|r| r.bbox)
            .collect())
    }

    /// Detects text regions on an image: boxes in the image's pixels, with the direction of
    /// each region's text.
    pub fn detect_regions(&self, img: &RgbImage) -> Result<Vec<TextRegion>, OcrError> {
        let (w, h) = img.dimensions();
        let scale = DET_LONG_SIDE as f32 / w.max(h) as f32;
        let round32 = |v: f32| (((v / 32.0).round() as u32).max(1)) * 32;
        let (dw, dh) = (round32(w as f32 * scale), round32(h as f32 * scale));
        let resized = image::imageops::resize(img, dw, dh, FilterType::Triangle);
        let mean = [0.485f32, 0.456, 0.406];
        let std = [0.229f32, 0.224, 0.225];
        let plane = (dw * dh) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in resized.pixels().enumerate() {
            // PaddleOCR feeds BGR (OpenCV order) with the mean/std listed in that order.
            for c in 0..3 {
                let v = p.0[2 - c] as f32 / 255.0;
                data[c * plane + i] = (v - mean[c]) / std[c];
            }
        }
        let input =
            Array4::from_shape_vec((1, 3, dh as usize, dw as usize), data).map_err(|_| {
                OcrError::Shape {
                    model: self.det.name().to_owned(),
                    shape: vec![1, 3, dh as usize, dw as usize],
                }
            })?;
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
        let regions = regions_from_probability(&prob, dw as usize, dh as usize);
        let (sx, sy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        Ok(regions
            .into_iter()
            .map(|r| {
                let b = r.bbox;
                // The map is scaled by slightly different factors on each axis.
                let a = r.angle.to_radians();
                let angle = (a.sin() * sy).atan2(a.cos() * sx).to_degrees();
                let angle = if angle <= -90.0 {
                    angle + 180.0
                } else if angle > 90.0 {
                    angle - 180.0
                } else {
                    angle
                };
                TextRegion {
                    bbox: TextBox {
                        x0: (b.x0 * sx).max(0.0),
                        y0: (b.y0 * sy).max(0.0),
                        x1: (b.x1 * sx).min(w as f32),
                        y1: (b.y1 * sy).min(h as f32),
                        score: b.score,
                    },
                    angle,
                    ..r
                }
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
        let plane = (w * REC_HEIGHT) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in resized.pixels().enumerate() {
            for c in 0..3 {
                data[c * plane + i] = (p.0[2 - c] as f32 / 255.0 - 0.5) / 0.5;
            }
        }
        let input = Array4::from_shape_vec((1, 3, REC_HEIGHT as usize, w as usize), data).map_err(
            |_| OcrError::Shape {
                model: self.rec.name().to_owned(),
                shape: vec![1, 3, REC_HEIGHT as usize, w as usize],
            },
        )?;
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

/// A detected text region: its axis-aligned box and the direction of its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextRegion {
    /// The unclipped axis-aligned box.
    pub bbox: TextBox,
    /// Direction of the region's long axis, degrees in (-90, 90], clockwise positive in image
    /// coordinates (y down): a line of text descending to the right has a positive angle.
    pub angle: f32,
    /// Ratio of the long axis to the short one (from the pixels' second moments): a line of
    /// text is long and thin, a blob of print is not.
    pub elongation: f32,
    /// Pixels of the region in the probability map (its weight in votes about the page).
    pub pixels: usize,
}

/// DB post-processing on a probability map: threshold, 4-connected components, mean score,
/// axis-aligned unclip. Coordinates in map pixels.
pub fn boxes_from_probability(prob: &[f32], w: usize, h: usize) -> Vec<TextBox> {
    regions_from_probability(prob, w, h)
        .into_iter()
        .map(|r| r.bbox)
        .collect()
}

/// [`boxes_from_probability`] with each component's orientation (second moments of its
/// pixels), which the page reader uses to measure and undo the skew of a photographed card.
pub fn regions_from_probability(prob: &[f32], w: usize, h: usize) -> Vec<TextRegion> {
    let mut label = vec![0u32; w * h];
    let mut regions = Vec::new();
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
        // Raw moments relative to the seed pixel (keeps the sums small).
        let (sx0, sy0) = ((start % w) as f64, (start / w) as f64);
        let (mut mx, mut my, mut mxx, mut myy, mut mxy) = (0f64, 0f64, 0f64, 0f64, 0f64);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            n += 1;
            sum += prob[i];
            let (fx, fy) = (x as f64 - sx0, y as f64 - sy0);
            mx += fx;
            my += fy;
            mxx += fx * fx;
            myy += fy * fy;
            mxy += fx * fy;
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
        let (angle, elongation) = orientation(n as f64, mx, my, mxx, myy, mxy);
        // DB's unclip: grow by area × ratio / perimeter on every side.
        let d = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
        regions.push(TextRegion {
            bbox: TextBox {
                x0: x0 as f32 - d,
                y0: y0 as f32 - d,
                x1: x1 as f32 + 1.0 + d,
                y1: y1 as f32 + 1.0 + d,
                score,
            },
            angle,
            elongation,
            pixels: n,
        });
    }
    // Reading order: top to bottom, then left to right.
    regions.sort_by_key(|r| (r.bbox.y0 as i32 / 8, r.bbox.x0 as i32));
    regions
}

/// Direction (degrees in (-90, 90]) and elongation of a set of pixels from its raw moments.
fn orientation(n: f64, mx: f64, my: f64, mxx: f64, myy: f64, mxy: f64) -> (f32, f32) {
    let (cx, cy) = (mx / n, my / n);
    // Central second moments; a pixel is a unit square, hence the 1/12.
    let a = mxx / n - cx * cx + 1.0 / 12.0;
    let c = myy / n - cy * cy + 1.0 / 12.0;
    let b = mxy / n - cx * cy;
    let theta = 0.5 * (2.0 * b).atan2(a - c);
    let root = ((a - c) * (a - c) + 4.0 * b * b).sqrt();
    let (l1, l2) = ((a + c + root) / 2.0, ((a + c - root) / 2.0).max(1e-9));
    let mut deg = theta.to_degrees() as f32;
    if deg <= -90.0 {
        deg += 180.0;
    }
    (deg, (l1 / l2).sqrt() as f32)
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

    /// A probability map holding one bar `len` × `thick` turned by `deg` about (100, 100).
    fn bar_map(deg: f32, len: f32, thick: f32) -> Vec<f32> {
        let (s, c) = deg.to_radians().sin_cos();
        let mut p = vec![0.0f32; 200 * 200];
        for y in 0..200 {
            for x in 0..200 {
                let (dx, dy) = (x as f32 + 0.5 - 100.0, y as f32 + 0.5 - 100.0);
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                if u.abs() <= len / 2.0 && v.abs() <= thick / 2.0 {
                    p[y * 200 + x] = 0.9;
                }
            }
        }
        p
    }

    #[test]
    fn a_level_line_has_no_angle_and_a_square_no_elongation() {
        let r = regions_from_probability(&bar_map(0.0, 80.0, 10.0), 200, 200);
        assert_eq!(r.len(), 1);
        assert!(r[0].angle.abs() < 0.5, "{:?}", r[0]);
        assert!(r[0].elongation > 6.0, "{:?}", r[0]);
        let r = regions_from_probability(&bar_map(0.0, 20.0, 20.0), 200, 200);
        assert!(r[0].elongation < 1.2, "{:?}", r[0]);
    }

    proptest! {
        #[test]
        fn a_turned_line_reports_its_angle(deg in -89.0f32..89.0) {
            let r = regions_from_probability(&bar_map(deg, 90.0, 10.0), 200, 200);
            prop_assert_eq!(r.len(), 1);
            // Angles are defined modulo 180°.
            let mut err = (r[0].angle - deg).abs();
            if err > 90.0 {
                err = 180.0 - err;
            }
            prop_assert!(err < 2.0, "{} vs {}", r[0].angle, deg);
            prop_assert!(r[0].elongation > 4.0);
        }

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
