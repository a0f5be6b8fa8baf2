//! Reading a photo as a page of text, wherever the document is in it: EXIF orientation, a
//! working scale that makes small text big enough for the models, text detection over the
//! whole frame (then again on the region where text was found, when it is a small part of a
//! large photo), the rotation chosen by how confidently the text reads, recognition of every
//! line, lines grouped into rows, and any ICAO 9303 machine-readable zone (TD1, TD2, TD3)
//! found among the rows and repaired by its check digits.
//!
//! Nothing here knows where a field sits on a card: fields are found by their printed labels
//! and value grammars ([`super::models`]).

use crate::ocr::{OcrEngine, OcrError, TextBox, TextLine, TextRegion};
use image::{DynamicImage, Rgb, RgbImage, imageops::FilterType};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};
use kyc_flow_documents::mrz;

/// Images whose long side is below this are upscaled to it before detection and recognition
/// (web thumbnails of 300–650 px carry MRZ characters 6–10 px tall).
pub const MIN_WORK_SIDE: u32 = 1400;
/// Larger photos are downscaled to this long side (a 4000 px camera original): the card still
/// has text far above the recognizer's 48 px input when it fills a reasonable part of the frame.
pub const MAX_WORK_SIDE: u32 = 2200;
/// When all text lies in a region whose long side is below this fraction of the frame's, the
/// detector runs again on that region at full resolution.
pub const REFOCUS_FRACTION: f32 = 0.6;
/// A card outline whose bounding box (with its margin) has a long side below this fraction of
/// the frame's is detected alone, in one pass (instead of the whole frame, then again on the
/// text region).
pub const CARD_CROP_FRACTION: f32 = 0.9;
/// At most this many boxes are recognized (largest first); a card has 10–60.
pub const MAX_LINES: usize = 90;
/// Text whose dominant direction is at least this far from the nearest axis is deskewed
/// before reading (the generator's own cards lean up to 2.5°, which reads as it is).
pub const DESKEW_MIN_DEGREES: f32 = 3.0;
/// A detected region counts in the vote about the page's direction when it is at least this
/// long for its thickness (a line of text, not a blob of print or a portrait).
pub const MIN_LINE_ELONGATION: f32 = 3.0;
/// After deskewing, text lines whose directions still spread this much (median absolute
/// deviation, degrees) are seen in perspective: the card quad, when one was found, rectifies
/// the photo, and that reading is kept only if its lines do come out parallel.
pub const PERSPECTIVE_SPREAD_DEGREES: f32 = 1.5;

/// Decodes `bytes` within the photo limits and applies the EXIF orientation (a phone's
/// portrait shot of a card); see [`crate::photo`].
pub fn decode_oriented(bytes: &[u8]) -> Result<DynamicImage, crate::photo::PhotoError> {
    crate::photo::open(bytes, &crate::photo::PhotoLimits::DEFAULT)
}

/// One row of text: lines side by side, left to right.
#[derive(Debug, Clone)]
pub struct Row {
    /// Indices into [`Page::lines`], left to right.
    pub lines: Vec<usize>,
    /// Union box.
    pub bbox: TextBox,
}

/// What was read on a photo, in the working image's pixels.
#[derive(Clone)]
pub struct Page {
    /// The upright working image (rotated and scaled).
    pub image: RgbImage,
    /// Working pixels per original pixel.
    pub scale: f32,
    /// Clockwise rotation applied, degrees (0, 90, 180, 270).
    pub rotation: u32,
    /// Recognized lines.
    pub lines: Vec<TextLine>,
    /// Rows, top to bottom.
    pub rows: Vec<Row>,
    /// Degrees the photo was turned (clockwise positive) to level its text before reading,
    /// on top of [`Page::rotation`]; 0 when it was read as it was.
    pub deskew_degrees: f32,
    /// Whether the page is the photo rectified through the card's outline (perspective).
    pub rectified: bool,
    /// The photo's own corners in the page's pixels (top-left, top-right, bottom-right,
    /// bottom-left of the original frame): the page's edges are the frame's edges only when
    /// the photo was read straight.
    pub frame: [(f32, f32); 4],
    /// The card outline the quality gate found, in the page's pixels (same corner order as
    /// [`Page::frame`]), when one was found: text outside it is not the document's (a sheet of
    /// paper beside the card).
    pub card: Option<[(f32, f32); 4]>,
    /// A second direction of text lines in the photo (degrees, as [`TextDirection::angle`],
    /// measured before levelling), when lines at another angle carry a good share of the
    /// text: a card beside a sheet of paper lying askew. The page was levelled by the
    /// dominant one; [`read_page_levelled`] reads it levelled by this one.
    pub other_direction: Option<f32>,
    /// Where the time went.
    pub timings: PageTimings,
}

/// Milliseconds spent reading a page, by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PageTimings {
    /// Working image and text detection (every pass: refocus, levelled, rectified).
    pub detect_ms: f64,
    /// Turning or rectifying the photo.
    pub warp_ms: f64,
    /// Recognition (rotation probe included).
    pub recognize_ms: f64,
}

fn elapsed_ms(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("size", &self.image.dimensions())
            .field("rotation", &self.rotation)
            .field("lines", &self.lines.len())
            .field("deskew_degrees", &self.deskew_degrees)
            .field("rectified", &self.rectified)
            .finish()
    }
}

impl Page {
    /// The text of a row (lines joined by a space).
    pub fn row_text(&self, r: &Row) -> String {
        r.lines
            .iter()
            .map(|&i| self.lines[i].text.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Median height of the recognized lines in ORIGINAL pixels (the "too small" measure): of
    /// the confidently read lines, or of every line of three characters or more when none
    /// read confidently (text too small to read is still measured, not called 0 px tall).
    pub fn median_text_height_px(&self) -> f32 {
        let heights = |min_conf: f32| -> Vec<f32> {
            self.lines
                .iter()
                .filter(|l| l.confidence > min_conf && l.text.chars().count() >= 3)
                .map(|l| l.bbox.height() / self.scale)
                .collect()
        };
        let mut h = heights(0.6);
        if h.is_empty() {
            h = heights(-1.0);
        }
        if h.is_empty() {
            return 0.0;
        }
        h.sort_by(f32::total_cmp);
        h[h.len() / 2]
    }

    /// Median height (ORIGINAL pixels) of the lines that look like a machine-readable zone's
    /// (a run of three fillers in twenty characters or more), whatever their confidence;
    /// `None` without any.
    pub fn zone_text_height_px(&self) -> Option<f32> {
        let mut h: Vec<f32> = self
            .lines
            .iter()
            .filter(|l| {
                let t = super::mrz_chars(&l.text);
                t.chars().count() >= 20 && t.contains("<<<")
            })
            .map(|l| l.bbox.height() / self.scale)
            .collect();
        if h.is_empty() {
            return None;
        }
        h.sort_by(f32::total_cmp);
        Some(h[h.len() / 2])
    }

    /// Whether a box touches (or crosses) the edge of the photo's frame: text cut off by the
    /// frame, as opposed to text at the edge of a page that was turned or rectified.
    pub fn touches_frame(&self, b: &TextBox) -> bool {
        let f = &self.frame;
        // Orientation of the frame polygon (its corners may come in either winding after a
        // rotation), so that "inside" is a positive distance.
        let area: f32 = (0..4)
            .map(|i| {
                let (a, c) = (f[i], f[(i + 1) % 4]);
                a.0 * c.1 - c.0 * a.1
            })
            .sum();
        let sign = if area >= 0.0 { 1.0 } else { -1.0 };
        let corners = [(b.x0, b.y0), (b.x1, b.y0), (b.x1, b.y1), (b.x0, b.y1)];
        corners.iter().any(|&(x, y)| {
            (0..4).any(|i| {
                let (a, c) = (f[i], f[(i + 1) % 4]);
                let (ex, ey) = (c.0 - a.0, c.1 - a.1);
                let len = (ex * ex + ey * ey).sqrt().max(1e-3);
                sign * (ex * (y - a.1) - ey * (x - a.0)) / len <= 1.0
            })
        })
    }

    /// Whether the centre of a box lies inside the card outline (true when none was found:
    /// then every line may be the document's).
    pub fn on_card(&self, b: &TextBox) -> bool {
        let Some(q) = &self.card else {
            return true;
        };
        let (x, y) = b.center();
        // Inside a convex polygon of either winding: the point is on the same side of every
        // edge.
        let sides: Vec<f32> = (0..4)
            .map(|i| {
                let (a, c) = (q[i], q[(i + 1) % 4]);
                (c.0 - a.0) * (y - a.1) - (c.1 - a.1) * (x - a.0)
            })
            .collect();
        sides.iter().all(|&v| v >= 0.0) || sides.iter().all(|&v| v <= 0.0)
    }

    /// The union of the confidently read lines (working pixels): where the document is.
    pub fn text_region(&self) -> Option<TextBox> {
        union(
            self.lines
                .iter()
                .filter(|l| l.confidence > 0.6)
                .map(|l| l.bbox),
        )
    }
}

/// The union of boxes (`None` for none).
pub fn union_of(boxes: impl Iterator<Item = TextBox>) -> Option<TextBox> {
    union(boxes)
}

fn union(boxes: impl Iterator<Item = TextBox>) -> Option<TextBox> {
    boxes.reduce(|a, b| TextBox {
        x0: a.x0.min(b.x0),
        y0: a.y0.min(b.y0),
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
        score: a.score.max(b.score),
    })
}

/// Scales an upright image into the working range: small images up with Catmull-Rom (sharp
/// strokes for the recognizer), large ones down by area averaging (`thumbnail`, several
/// times cheaper than a filtered resize of a 12 MP camera original, and as clean for text).
pub fn working_image(img: &DynamicImage) -> (RgbImage, f32) {
    let owned;
    let rgb = match img.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            owned = img.to_rgb8();
            &owned
        }
    };
    let long = rgb.width().max(rgb.height()).max(1);
    let target = if long < MIN_WORK_SIDE {
        MIN_WORK_SIDE
    } else if long > MAX_WORK_SIDE {
        MAX_WORK_SIDE
    } else {
        return (rgb.clone(), 1.0);
    };
    let s = target as f32 / long as f32;
    let (w, h) = (
        ((rgb.width() as f32 * s).round() as u32).max(1),
        ((rgb.height() as f32 * s).round() as u32).max(1),
    );
    if s > 1.0 {
        (
            image::imageops::resize(rgb, w, h, FilterType::CatmullRom),
            s,
        )
    } else {
        (image::imageops::thumbnail(rgb, w, h), s)
    }
}

/// `img` turned clockwise by `deg` (0, 90, 180 or 270; any other value leaves it as is).
pub fn rotate(img: &RgbImage, deg: u32) -> RgbImage {
    match deg {
        90 => image::imageops::rotate90(img),
        180 => image::imageops::rotate180(img),
        270 => image::imageops::rotate270(img),
        _ => img.clone(),
    }
}

/// Maps a box on an image `w`×`h` to the same box after rotating the image clockwise by `deg`.
pub fn rotate_box(b: &TextBox, w: f32, h: f32, deg: u32) -> TextBox {
    let (x0, y0, x1, y1) = match deg {
        90 => (h - b.y1, b.x0, h - b.y0, b.x1),
        180 => (w - b.x1, h - b.y1, w - b.x0, h - b.y0),
        270 => (b.y0, w - b.x1, b.y1, w - b.x0),
        _ => (b.x0, b.y0, b.x1, b.y1),
    };
    TextBox {
        x0,
        y0,
        x1,
        y1,
        score: b.score,
    }
}

/// Recognizes one box, upscaling small text with a sharper filter than the recognizer's own.
pub fn recognize(ocr: &OcrEngine, img: &RgbImage, b: &TextBox) -> Result<TextLine, OcrError> {
    let x0 = b.x0.floor().max(0.0) as u32;
    let y0 = b.y0.floor().max(0.0) as u32;
    let x1 = (b.x1.ceil().max(0.0) as u32).min(img.width());
    let y1 = (b.y1.ceil().max(0.0) as u32).min(img.height());
    let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let mut crop = image::imageops::crop_imm(
        img,
        x0.min(img.width() - 1),
        y0.min(img.height() - 1),
        cw,
        ch,
    )
    .to_image();
    if ch < crate::ocr::REC_HEIGHT {
        let s = crate::ocr::REC_HEIGHT as f32 / ch as f32;
        crop = image::imageops::resize(
            &crop,
            ((cw as f32 * s).round() as u32).max(1),
            crate::ocr::REC_HEIGHT,
            FilterType::CatmullRom,
        );
    }
    let (text, char_confidences) = ocr.recognize_crop(&crop)?;
    Ok(TextLine::new(*b, text, char_confidences))
}

/// A line slanted at least this much (degrees) is levelled before it is recognised.
pub const LEVEL_LINE_MIN_DEGREES: f32 = 2.0;

/// Recognizes one box holding a line of text slanted by `angle` degrees (clockwise positive,
/// folded to the nearest axis): a slanted line's axis-aligned box also holds parts of the rows
/// above and below it, which the recognizer reads as noise or drops characters for. The box is
/// turned level and the line's own band cut out of it; when that reads less than confidently,
/// the box as it is gets a chance too, and the better reading is kept. The line keeps the
/// box's coordinates.
pub fn recognize_line(
    ocr: &OcrEngine,
    img: &RgbImage,
    b: &TextBox,
    angle: f32,
) -> Result<TextLine, OcrError> {
    if angle.abs() < LEVEL_LINE_MIN_DEGREES {
        return recognize(ocr, img, b);
    }
    let (w, h) = (b.x1 - b.x0, b.height());
    let (sin, cos) = angle.abs().to_radians().sin_cos();
    let cos2 = cos * cos - sin * sin;
    // The line's length and thickness from its box: w = L cos + t sin, h = L sin + t cos.
    let len = (w * cos - h * sin) / cos2.max(1e-3);
    let thick = (h * cos - w * sin) / cos2.max(1e-3);
    if cos2 < 0.4 || len < 8.0 || thick < 4.0 {
        return recognize(ocr, img, b);
    }
    let x0 = b.x0.floor().max(0.0) as u32;
    let y0 = b.y0.floor().max(0.0) as u32;
    let x1 = (b.x1.ceil().max(0.0) as u32).min(img.width());
    let y1 = (b.y1.ceil().max(0.0) as u32).min(img.height());
    if x1 <= x0 + 4 || y1 <= y0 + 4 {
        return recognize(ocr, img, b);
    }
    let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let (turned, _) = turn(&crop, -angle);
    let (tw, th) = (turned.width() as f32, turned.height() as f32);
    let band_h = (thick * 1.1).min(th);
    let band_w = (len * 1.02).min(tw);
    let band = TextBox {
        x0: (tw - band_w) / 2.0,
        y0: (th - band_h) / 2.0,
        x1: (tw + band_w) / 2.0,
        y1: (th + band_h) / 2.0,
        score: b.score,
    };
    let levelled = recognize(ocr, &turned, &band)?;
    let levelled = TextLine::new(*b, levelled.text, levelled.char_confidences);
    if levelled.confidence >= 0.9 {
        return Ok(levelled);
    }
    let plain = recognize(ocr, img, b)?;
    Ok(
        if read_score(std::slice::from_ref(&plain)) > read_score(std::slice::from_ref(&levelled)) {
            plain
        } else {
            levelled
        },
    )
}

/// How well a set of lines reads: confident characters count, garbage does not.
fn read_score(lines: &[TextLine]) -> f32 {
    lines
        .iter()
        .map(|l| {
            let n = l
                .text
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '<')
                .count() as f32;
            n * l.confidence * l.confidence
        })
        .sum()
}

/// The dominant direction of a page's text, measured on the detector's regions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextDirection {
    /// Degrees from the nearest axis, in (-45, 45], clockwise positive (y down): the photo
    /// must be turned by the opposite to level its lines (sideways text is levelled to 90°,
    /// which the rotation choice then reads).
    pub angle: f32,
    /// Median absolute deviation of the lines' directions around `angle`, degrees: near 0 for
    /// a flat page, a few degrees for a card seen in perspective (its lines converge).
    pub spread: f32,
    /// How many regions voted.
    pub lines: usize,
    /// The weighted median direction of the lines more than [`OTHER_DIRECTION_DEGREES`] away
    /// from `angle`, when they are at least three and carry [`OTHER_DIRECTION_SHARE`] of the
    /// weight: text at a second angle (a sheet of paper beside the card, each askew).
    pub other: Option<f32>,
}

/// How far (degrees) from the dominant direction a line must be to count for a second one.
pub const OTHER_DIRECTION_DEGREES: f32 = 8.0;
/// The share of the lines' weight a second direction must carry to be reported.
pub const OTHER_DIRECTION_SHARE: f32 = 0.15;

/// Folds a direction (degrees) to the nearest axis, in (-45, 45].
fn fold_to_axis(mut a: f32) -> f32 {
    while a > 45.0 {
        a -= 90.0;
    }
    while a <= -45.0 {
        a += 90.0;
    }
    a
}

/// Weighted median of `(value, weight)` pairs.
fn weighted_median(v: &mut [(f32, f32)]) -> Option<f32> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f32 = v.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for &(x, w) in v.iter() {
        acc += w;
        if acc >= total / 2.0 {
            return Some(x);
        }
    }
    None
}

/// The page's text direction: the weighted median (by size) of the directions of the regions
/// that are lines of text, or `None` with fewer than three such regions.
pub fn text_direction(regions: &[TextRegion]) -> Option<TextDirection> {
    let mut votes: Vec<(f32, f32)> = regions
        .iter()
        .filter(|r| r.elongation >= MIN_LINE_ELONGATION && r.pixels >= 20)
        .map(|r| (fold_to_axis(r.angle), r.pixels as f32))
        .collect();
    if votes.len() < 3 {
        return None;
    }
    let lines = votes.len();
    let angle = weighted_median(&mut votes)?;
    let mut dev: Vec<(f32, f32)> = votes
        .iter()
        .map(|&(a, w)| (fold_to_axis(a - angle).abs(), w))
        .collect();
    let spread = weighted_median(&mut dev)?;
    let total: f32 = votes.iter().map(|v| v.1).sum();
    let mut far: Vec<(f32, f32)> = votes
        .iter()
        .copied()
        .filter(|&(a, _)| fold_to_axis(a - angle).abs() > OTHER_DIRECTION_DEGREES)
        .collect();
    let far_weight: f32 = far.iter().map(|v| v.1).sum();
    let other = if far.len() >= 3 && far_weight >= OTHER_DIRECTION_SHARE * total {
        weighted_median(&mut far)
    } else {
        None
    };
    Some(TextDirection {
        angle,
        spread,
        lines,
        other,
    })
}

/// The mean colour of an image's outermost pixels: what a turned photo's new corners are
/// filled with, so that the fill's edge is as faint as the photo allows.
fn border_colour(img: &RgbImage) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    let mut add = |p: &Rgb<u8>| {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += v as u64;
        }
        n += 1;
    };
    for x in 0..w {
        add(img.get_pixel(x, 0));
        add(img.get_pixel(x, h - 1));
    }
    for y in 0..h {
        add(img.get_pixel(0, y));
        add(img.get_pixel(w - 1, y));
    }
    let n = n.max(1);
    Rgb(sum.map(|s| (s / n) as u8))
}

/// Turns an image clockwise by `degrees` about its centre onto a canvas that holds all of it;
/// returns the turned image and the mapping from the old pixels to the new.
pub fn turn(img: &RgbImage, degrees: f32) -> (RgbImage, Projection) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (s, c) = degrees.to_radians().sin_cos();
    let nw = (w * c.abs() + h * s.abs()).ceil().max(1.0);
    let nh = (w * s.abs() + h * c.abs()).ceil().max(1.0);
    let p = Projection::translate(nw / 2.0, nh / 2.0)
        * Projection::rotate(degrees.to_radians())
        * Projection::translate(-w / 2.0, -h / 2.0);
    let mut out = RgbImage::new(nw as u32, nh as u32);
    warp_into(
        img,
        p,
        Interpolation::Bilinear,
        Border::Constant(border_colour(img)),
        &mut out,
    );
    (out, p)
}

/// Warps the card outline `quad` (photo pixels, top-left first, clockwise) onto an upright
/// image of the card's own proportions, scaled into the working range. Returns the image, the
/// mapping from photo pixels to it, and its pixels per photo pixel. `None` for a degenerate
/// outline.
pub fn rectify_card(
    img: &DynamicImage,
    quad: &[(f32, f32); 4],
) -> Option<(RgbImage, Projection, f32)> {
    let d = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let width = (d(quad[0], quad[1]) + d(quad[3], quad[2])) / 2.0;
    let height = (d(quad[0], quad[3]) + d(quad[1], quad[2])) / 2.0;
    let long = width.max(height);
    if width.min(height) < 16.0 {
        return None;
    }
    let s = if long < MIN_WORK_SIDE as f32 {
        MIN_WORK_SIDE as f32 / long
    } else if long > MAX_WORK_SIDE as f32 {
        MAX_WORK_SIDE as f32 / long
    } else {
        1.0
    };
    let (tw, th) = ((width * s).round().max(1.0), (height * s).round().max(1.0));
    let target = [(0.0, 0.0), (tw, 0.0), (tw, th), (0.0, th)];
    let p = Projection::from_control_points(*quad, target)?;
    let mut out = RgbImage::new(tw as u32, th as u32);
    let rgb = img.to_rgb8();
    warp_into(
        &rgb,
        p,
        Interpolation::Bilinear,
        Border::Constant(border_colour(&rgb)),
        &mut out,
    );
    Some((out, p, s))
}

/// Detects the text regions of a working image; when all text lies in a small part of a
/// large frame, detects again on that region at full resolution.
fn detect_page(ocr: &OcrEngine, work: &RgbImage) -> Result<Vec<TextRegion>, OcrError> {
    let mut regions = ocr.detect_regions(work)?;
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    let Some(region) = union(
        regions
            .iter()
            .filter(|r| r.bbox.score > 0.6)
            .map(|r| r.bbox),
    ) else {
        return Ok(regions);
    };
    let (rw, rh) = (region.x1 - region.x0, region.y1 - region.y0);
    if rw.max(rh) < REFOCUS_FRACTION * ww.max(wh) && ww.max(wh) > crate::ocr::DET_LONG_SIDE as f32 {
        let m = 0.08 * rw.max(rh);
        let x0 = (region.x0 - m).max(0.0) as u32;
        let y0 = (region.y0 - m).max(0.0) as u32;
        let x1 = ((region.x1 + m) as u32).min(work.width());
        let y1 = ((region.y1 + m) as u32).min(work.height());
        if x1 > x0 + 32 && y1 > y0 + 32 {
            let crop = image::imageops::crop_imm(work, x0, y0, x1 - x0, y1 - y0).to_image();
            let inner = ocr.detect_regions(&crop)?;
            if inner.len() >= regions.len() / 2 {
                regions = inner
                    .into_iter()
                    .map(|r| TextRegion {
                        bbox: TextBox {
                            x0: r.bbox.x0 + x0 as f32,
                            y0: r.bbox.y0 + y0 as f32,
                            x1: r.bbox.x1 + x0 as f32,
                            y1: r.bbox.y1 + y0 as f32,
                            score: r.bbox.score,
                        },
                        ..r
                    })
                    .collect();
            }
        }
    }
    Ok(regions)
}

/// A line this close (degrees) to level counts as levelled text in [`level_text_region`].
pub const LEVEL_TEXT_DEGREES: f32 = OTHER_DIRECTION_DEGREES / 2.0;

/// A region shaped like a line of text within [`LEVEL_TEXT_DEGREES`] of level.
fn level_line(r: &TextRegion) -> bool {
    r.elongation >= MIN_LINE_ELONGATION && fold_to_axis(r.angle).abs() <= LEVEL_TEXT_DEGREES
}

/// Where the levelled text is on a page turned to level one of two text directions (a card
/// beside a sheet of paper, each askew): the union of the lines within
/// [`LEVEL_TEXT_DEGREES`] of level, with a margin of 15 % of its long side, when at least
/// three lines are and the region leaves at least a fifth of the page's long side out. The
/// lines at the other angle (the paper's) are what spread the text over the whole frame.
pub fn level_text_region(regions: &[TextRegion], w: f32, h: f32) -> Option<TextBox> {
    let level: Vec<TextBox> = regions
        .iter()
        .filter(|r| level_line(r) && r.pixels >= 20 && r.bbox.score > 0.6)
        .map(|r| r.bbox)
        .collect();
    if level.len() < 3 {
        return None;
    }
    let u = union(level.into_iter())?;
    let m = 0.15 * (u.x1 - u.x0).max(u.height());
    let b = TextBox {
        x0: (u.x0 - m).max(0.0),
        y0: (u.y0 - m).max(0.0),
        x1: (u.x1 + m).min(w),
        y1: (u.y1 + m).min(h),
        score: u.score,
    };
    ((b.x1 - b.x0).max(b.height()) < 0.8 * w.max(h)).then_some(b)
}

/// Detects again, at the detector's full resolution, on the region of the levelled text
/// ([`level_text_region`]) of a page turned to level a second text direction: with a sheet of
/// paper beside the card, the text spans the frame and the whole-frame detection (its long
/// side brought to the detector's 960 px) sees the card's small print too small to find or
/// cut whole. The paper's lines outside the region are left out. Kept when the region yields
/// at least as many level lines as the whole frame did.
fn refocus_on_level_text(
    ocr: &OcrEngine,
    work: &RgbImage,
    regions: Vec<TextRegion>,
) -> Result<Vec<TextRegion>, OcrError> {
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    let Some(b) = level_text_region(&regions, ww, wh) else {
        return Ok(regions);
    };
    let (x0, y0) = (b.x0 as u32, b.y0 as u32);
    let (x1, y1) = (
        (b.x1 as u32).min(work.width()),
        (b.y1 as u32).min(work.height()),
    );
    if x1 <= x0 + 32 || y1 <= y0 + 32 {
        return Ok(regions);
    }
    let crop = image::imageops::crop_imm(work, x0, y0, x1 - x0, y1 - y0).to_image();
    let inner = ocr.detect_regions(&crop)?;
    let level = |rs: &[TextRegion]| rs.iter().filter(|r| level_line(r)).count();
    if level(&inner) < level(&regions) {
        return Ok(regions);
    }
    Ok(inner
        .into_iter()
        .map(|r| TextRegion {
            bbox: TextBox {
                x0: r.bbox.x0 + x0 as f32,
                y0: r.bbox.y0 + y0 as f32,
                x1: r.bbox.x1 + x0 as f32,
                y1: r.bbox.y1 + y0 as f32,
                score: r.bbox.score,
            },
            ..r
        })
        .collect())
}

/// The card's bounding box (with a margin) cut from the working image, when the outline leaves
/// some of the frame out ([`CARD_CROP_FRACTION`]); `None` when the card fills most of the frame (the whole frame is
/// then read as it is) or the outline is degenerate.
fn card_crop(work: &RgbImage, quad: &[(f32, f32); 4], scale: f32) -> Option<(u32, u32, RgbImage)> {
    let xs = quad.iter().map(|p| p.0 * scale);
    let ys = quad.iter().map(|p| p.1 * scale);
    let (x0, x1) = (
        xs.clone().fold(f32::MAX, f32::min),
        xs.fold(f32::MIN, f32::max),
    );
    let (y0, y1) = (
        ys.clone().fold(f32::MAX, f32::min),
        ys.fold(f32::MIN, f32::max),
    );
    let m = 0.06 * (x1 - x0).max(y1 - y0);
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    let (x0, y0) = ((x0 - m).max(0.0), (y0 - m).max(0.0));
    let (x1, y1) = ((x1 + m).min(ww), (y1 + m).min(wh));
    let (cw, ch) = (x1 - x0, y1 - y0);
    if cw.min(ch) < 64.0 || cw.max(ch) >= CARD_CROP_FRACTION * ww.max(wh) {
        return None;
    }
    let (x0, y0) = (x0 as u32, y0 as u32);
    let crop = image::imageops::crop_imm(work, x0, y0, cw as u32, ch as u32).to_image();
    Some((x0, y0, crop))
}

/// Whether the text detected on a card crop is all of it: a few confident lines, none running
/// into a side of the crop that lies inside the photo (text cut there means the outline missed
/// part of the card).
fn crop_holds_text(
    regions: &[TextRegion],
    crop: &RgbImage,
    (x0, y0): (u32, u32),
    work: &RgbImage,
) -> bool {
    let confident: Vec<&TextRegion> = regions.iter().filter(|r| r.bbox.score > 0.6).collect();
    if confident.len() < 3 {
        return false;
    }
    let (cw, ch) = (crop.width() as f32, crop.height() as f32);
    let inner_left = x0 > 0;
    let inner_top = y0 > 0;
    let inner_right = x0 + crop.width() < work.width();
    let inner_bottom = y0 + crop.height() < work.height();
    !confident.iter().any(|r| {
        let b = r.bbox;
        (inner_left && b.x0 <= 1.0)
            || (inner_top && b.y0 <= 1.0)
            || (inner_right && b.x1 >= cw - 1.0)
            || (inner_bottom && b.y1 >= ch - 1.0)
    })
}

/// Maps a point on an image `w`×`h` to the same point after rotating the image clockwise by
/// `deg` (0, 90, 180, 270).
fn rotate_point((x, y): (f32, f32), w: f32, h: f32, deg: u32) -> (f32, f32) {
    match deg {
        90 => (h - y, x),
        180 => (w - x, h - y),
        270 => (y, w - x),
        _ => (x, y),
    }
}

/// Reads a decoded, EXIF-oriented photo.
pub fn read_page(ocr: &OcrEngine, img: &DynamicImage) -> Result<Page, OcrError> {
    read_page_with(ocr, img, None)
}

/// Reads a decoded, EXIF-oriented photo; `card` is the card outline the quality gate found
/// (photo pixels, top-left first, clockwise), used only to rectify a photo whose text lines
/// are seen in perspective, and only when the rectified lines do come out level and parallel
/// (a wrong outline is never followed).
///
/// Skew: the dominant direction of the detected lines ([`text_direction`]) is undone by
/// turning the working image (any angle; sideways and upside-down text is then left to the
/// 90°/180° choice), and the text detected again on the levelled image.
pub fn read_page_with(
    ocr: &OcrEngine,
    img: &DynamicImage,
    card: Option<&[(f32, f32); 4]>,
) -> Result<Page, OcrError> {
    read_page_until(ocr, img, card, &|_| false)
}

/// [`read_page_with`], recognising the lines that can hold a machine-readable zone first (the
/// rotation probe's lines and stacks of long rows): when `enough` says that page already
/// answers (a valid MRZ of a document that prints nothing else the reader needs), the other
/// lines are not recognised. Otherwise the page is the same as [`read_page_with`]'s.
pub fn read_page_until(
    ocr: &OcrEngine,
    img: &DynamicImage,
    card: Option<&[(f32, f32); 4]>,
    enough: &dyn Fn(&Page) -> bool,
) -> Result<Page, OcrError> {
    read_page_turned(ocr, img, card, enough, None)
}

/// [`read_page_until`] with the rotation (0, 90, 180 or 270) given instead of chosen by how
/// the widest lines read: for a second reading when the chosen one recognised nothing (text
/// read upside down can come out confident enough to be chosen; a sideways card whose text
/// the detector cut into short boxes does not look sideways).
pub fn read_page_turned(
    ocr: &OcrEngine,
    img: &DynamicImage,
    card: Option<&[(f32, f32); 4]>,
    enough: &dyn Fn(&Page) -> bool,
    rotation: Option<u32>,
) -> Result<Page, OcrError> {
    read_page_inner(ocr, img, card, enough, rotation, None)
}

/// Reads the photo levelled by `angle` (a [`Page::other_direction`]) instead of by its
/// dominant text direction: for a second reading when the first recognised nothing because
/// the lines that set the level were a sheet of paper's, not the card's. The card outline
/// is not used (it may be the card and the paper merged); the rotation is chosen as usual.
pub fn read_page_levelled(
    ocr: &OcrEngine,
    img: &DynamicImage,
    angle: f32,
    enough: &dyn Fn(&Page) -> bool,
) -> Result<Page, OcrError> {
    read_page_inner(ocr, img, None, enough, None, Some(angle))
}

fn read_page_inner(
    ocr: &OcrEngine,
    img: &DynamicImage,
    card: Option<&[(f32, f32); 4]>,
    enough: &dyn Fn(&Page) -> bool,
    rotation: Option<u32>,
    level_by: Option<f32>,
) -> Result<Page, OcrError> {
    let mut timings = PageTimings::default();
    let t = std::time::Instant::now();
    let (full, mut scale) = working_image(img);
    let (iw, ih) = (full.width() as f32, full.height() as f32);
    let mut frame = [(0.0, 0.0), (iw, 0.0), (iw, ih), (0.0, ih)];
    // The card outline follows the page through every transform, like the frame.
    let mut card_quad = card.map(|q| q.map(|(x, y)| (x * scale, y * scale)));
    let mut deskew_degrees = 0.0;
    // A level given: turn first, detect once on the turned image.
    let levelled = match level_by {
        Some(a) => {
            let (turned, p) = turn(&full, -a);
            frame = frame.map(|q| p * q);
            deskew_degrees = -a;
            let found = detect_page(ocr, &turned)?;
            let found = refocus_on_level_text(ocr, &turned, found)?;
            Some((turned, found))
        }
        None => None,
    };
    // A card outline small in the frame: detect on the card alone (one detection instead of
    // the whole frame's and the refocus's), kept only when the text found there is not cut by
    // the crop; otherwise the whole frame is searched as if no outline had been found.
    let on_card = match card
        .filter(|_| levelled.is_none())
        .and_then(|q| card_crop(&full, q, scale))
    {
        Some((x0, y0, crop)) => {
            let found = ocr.detect_regions(&crop)?;
            crop_holds_text(&found, &crop, (x0, y0), &full).then_some((x0, y0, crop, found))
        }
        None => None,
    };
    let (mut work, mut regions) = match (levelled, on_card) {
        (Some(l), _) => l,
        (None, Some((x0, y0, crop, found))) => {
            frame = frame.map(|(x, y)| (x - x0 as f32, y - y0 as f32));
            card_quad = card_quad.map(|q| q.map(|(x, y)| (x - x0 as f32, y - y0 as f32)));
            (crop, found)
        }
        (None, None) => {
            let found = detect_page(ocr, &full)?;
            (full, found)
        }
    };
    timings.detect_ms += elapsed_ms(t);
    let mut rectified = false;
    let mut direction = text_direction(&regions);
    let other_direction = direction
        .and_then(|d| d.other)
        .filter(|_| level_by.is_none());
    if let Some(dir) = direction
        && dir.angle.abs() >= DESKEW_MIN_DEGREES
        && level_by.is_none()
    {
        let t = std::time::Instant::now();
        let (turned, p) = turn(&work, -dir.angle);
        timings.warp_ms += elapsed_ms(t);
        let t = std::time::Instant::now();
        let again = detect_page(ocr, &turned)?;
        timings.detect_ms += elapsed_ms(t);
        let level = text_direction(&again);
        // Kept when the lines did come out level (a vote swayed by print that is not text
        // would not).
        if level.is_some_and(|l| l.angle.abs() < dir.angle.abs() / 2.0) {
            work = turned;
            regions = again;
            frame = frame.map(|q| p * q);
            card_quad = card_quad.map(|c| c.map(|q| p * q));
            deskew_degrees = -dir.angle;
            direction = level;
        }
    }
    let t = std::time::Instant::now();
    let flat = match (card, direction) {
        (Some(quad), Some(dir)) if dir.spread >= PERSPECTIVE_SPREAD_DEGREES => {
            rectify_card(img, quad).map(|f| (f, dir))
        }
        _ => None,
    };
    timings.warp_ms += elapsed_ms(t);
    if let Some(((flat, p, s), dir)) = flat {
        let t = std::time::Instant::now();
        let again = detect_page(ocr, &flat)?;
        timings.detect_ms += elapsed_ms(t);
        let level = text_direction(&again);
        if level.is_some_and(|l| {
            l.spread < 0.6 * dir.spread
                && l.angle.abs() < DESKEW_MIN_DEGREES
                && l.lines * 10 >= dir.lines * 6
        }) {
            let (w0, h0) = (img.width() as f32, img.height() as f32);
            frame = [(0.0, 0.0), (w0, 0.0), (w0, h0), (0.0, h0)].map(|q| p * q);
            card_quad = card.map(|c| c.map(|q| p * q));
            work = flat;
            regions = again;
            scale = s;
            deskew_degrees = 0.0;
            rectified = true;
        }
    }
    let t = std::time::Instant::now();
    let mut boxes: Vec<TextBox> = regions.iter().map(|r| r.bbox).collect();
    // Each line's own slant (a card in perspective has converging lines that no single turn
    // levels); quarter turns keep it, as it is folded to the nearest axis.
    let angles: Vec<f32> = regions
        .iter()
        .map(|r| {
            if r.elongation >= MIN_LINE_ELONGATION {
                fold_to_axis(r.angle)
            } else {
                0.0
            }
        })
        .collect();
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    separate_lines(&mut boxes);
    // Sideways text gives tall boxes; upright or upside-down text gives wide ones.
    let tall = boxes
        .iter()
        .filter(|b| b.height() > 2.0 * (b.x1 - b.x0))
        .count();
    let wide = boxes
        .iter()
        .filter(|b| (b.x1 - b.x0) > 2.0 * b.height())
        .count();
    let candidates: [u32; 2] = if tall > wide { [90, 270] } else { [0, 180] };
    // Judge the rotation on the widest boxes only (recognition is the expensive step).
    let mut probe: Vec<(TextBox, f32)> =
        boxes.iter().copied().zip(angles.iter().copied()).collect();
    probe.sort_by(|(a, _), (b, _)| {
        let wa = (a.x1 - a.x0).max(a.height());
        let wb = (b.x1 - b.x0).max(b.height());
        wb.total_cmp(&wa)
    });
    probe.truncate(6);
    let (rotation, probed) = match rotation {
        Some(r) => (r % 360, vec![]),
        None => choose_rotation(ocr, &work, &probe, candidates)?,
    };
    let image = rotate(&work, rotation);
    let frame = frame.map(|q| rotate_point(q, ww, wh, rotation));
    let card_quad = card_quad.map(|c| c.map(|q| rotate_point(q, ww, wh, rotation)));
    let mut rboxes: Vec<(TextBox, f32)> = boxes
        .iter()
        .zip(angles.iter())
        .map(|(b, &a)| (rotate_box(b, ww, wh, rotation), a))
        .collect();
    rboxes.sort_by(|(a, _), (b, _)| {
        let area = |t: &TextBox| (t.x1 - t.x0) * t.height();
        area(b).total_cmp(&area(a))
    });
    rboxes.truncate(MAX_LINES);
    // First the lines already read by the probe and those that may form an MRZ.
    let first = mrz_candidates(&rboxes.iter().map(|(b, _)| *b).collect::<Vec<_>>());
    let mut read: Vec<Option<TextLine>> = vec![None; rboxes.len()];
    for (i, (b, a)) in rboxes.iter().enumerate() {
        // The rotation probe already read the widest boxes.
        if let Some(l) = probed.iter().find(|l| l.bbox == *b) {
            read[i] = Some(l.clone());
        } else if first.contains(&i) {
            read[i] = Some(recognize_line(ocr, &image, b, *a)?);
        }
    }
    let mut page = Page {
        image,
        scale,
        rotation,
        lines: vec![],
        rows: vec![],
        deskew_degrees,
        rectified,
        frame,
        card: card_quad,
        other_direction,
        timings,
    };
    let keep = |read: &[Option<TextLine>]| -> Vec<TextLine> {
        read.iter()
            .flatten()
            .filter(|l| !l.text.trim().is_empty())
            .cloned()
            .collect()
    };
    page.lines = keep(&read);
    page.rows = group_rows(&page.lines);
    if read.iter().any(Option::is_none) && !enough(&page) {
        for (i, (b, a)) in rboxes.iter().enumerate() {
            if read[i].is_none() {
                read[i] = Some(recognize_line(ocr, &page.image, b, *a)?);
            }
        }
        page.lines = keep(&read);
        page.rows = group_rows(&page.lines);
    }
    page.timings.recognize_ms = elapsed_ms(t);
    Ok(page)
}

/// Indices of the boxes that may hold an MRZ line: among the page's longest rows (an MRZ spans
/// its document), rows at least ten times as long as they are tall, stacked two or three high
/// with the same left edge, length and height, close together.
fn mrz_candidates(boxes: &[TextBox]) -> Vec<usize> {
    let shells: Vec<TextLine> = boxes
        .iter()
        .map(|b| TextLine::new(*b, String::new(), vec![]))
        .collect();
    let rows = group_rows(&shells);
    let longest = rows
        .iter()
        .map(|r| r.bbox.x1 - r.bbox.x0)
        .fold(0.0f32, f32::max);
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            let w = r.bbox.x1 - r.bbox.x0;
            w >= 10.0 * r.bbox.height() && w >= 0.7 * longest
        })
        .collect();
    let mut out = Vec::new();
    for w in rows.windows(2) {
        let (a, b) = (&w[0].bbox, &w[1].bbox);
        let h = a.height().max(b.height());
        let (wa, wb) = (a.x1 - a.x0, b.x1 - b.x0);
        let stacked = h < 1.4 * a.height().min(b.height())
            && b.y0 - a.y1 < 1.5 * h
            && (a.x0 - b.x0).abs() < 1.5 * h
            && (wa - wb).abs() < 0.12 * wa.max(wb);
        if stacked {
            for r in [w[0], w[1]] {
                out.extend(r.lines.iter().copied());
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Chooses between the two rotations `candidates` (0/180 or 90/270) by how well the `probe`
/// boxes read; returns the rotation and the probe's lines read at it (in rotated pixels).
///
/// The second rotation is tried only when the first did not read confidently, and first on
/// the two lines that read best the first way: text read upside down comes out as
/// low-confidence garbage, so when those two do not read better the second way, the rest of
/// the probe is not recognised again.
fn choose_rotation(
    ocr: &OcrEngine,
    work: &RgbImage,
    probe: &[(TextBox, f32)],
    candidates: [u32; 2],
) -> Result<(u32, Vec<TextLine>), OcrError> {
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    let read_at =
        |img: &RgbImage, deg: u32, boxes: &[(TextBox, f32)]| -> Result<Vec<TextLine>, OcrError> {
            boxes
                .iter()
                .map(|(b, a)| recognize_line(ocr, img, &rotate_box(b, ww, wh, deg), *a))
                .collect()
        };
    let [first, second] = candidates;
    let img_a = rotate(work, first);
    let lines_a = read_at(&img_a, first, probe)?;
    let conf = lines_a.iter().map(|l| l.confidence).sum::<f32>() / lines_a.len().max(1) as f32;
    if conf > 0.9 || lines_a.is_empty() {
        return Ok((first, lines_a));
    }
    // The two probe lines that read best the first way.
    let mut order: Vec<usize> = (0..probe.len()).collect();
    order.sort_by(|&i, &j| {
        read_score(std::slice::from_ref(&lines_a[j]))
            .total_cmp(&read_score(std::slice::from_ref(&lines_a[i])))
    });
    let (head, tail) = order.split_at(order.len().min(2));
    let img_b = rotate(work, second);
    let head_boxes: Vec<(TextBox, f32)> = head.iter().map(|&i| probe[i]).collect();
    let head_b = read_at(&img_b, second, &head_boxes)?;
    let head_a: Vec<TextLine> = head.iter().map(|&i| lines_a[i].clone()).collect();
    if read_score(&head_b) <= read_score(&head_a) {
        return Ok((first, lines_a));
    }
    let tail_boxes: Vec<(TextBox, f32)> = tail.iter().map(|&i| probe[i]).collect();
    let mut lines_b = head_b;
    lines_b.extend(read_at(&img_b, second, &tail_boxes)?);
    if read_score(&lines_b) > read_score(&lines_a) {
        Ok((second, lines_b))
    } else {
        Ok((first, lines_a))
    }
}

/// The detector's boxes are grown around each text kernel; on tightly spaced lines (an MRZ)
/// they grow into their neighbours and the recognizer then sees two lines. Boxes stacked over
/// each other are cut at the middle of their overlap; tall boxes of sideways text standing
/// side by side likewise, across.
pub fn separate_lines(boxes: &mut [TextBox]) {
    separate_stacked(boxes);
    // Sideways text (a card turned a quarter): its lines stand side by side and the same
    // overlap is cut across x (a sideways passport's two zone lines were each read with half
    // of the other's characters, 32 characters of 44, and the zone taken for a TD2).
    let transpose = |b: &TextBox| TextBox {
        x0: b.y0,
        y0: b.x0,
        x1: b.y1,
        y1: b.x1,
        score: b.score,
    };
    let mut t: Vec<TextBox> = boxes.iter().map(transpose).collect();
    separate_stacked(&mut t);
    for (b, c) in boxes.iter_mut().zip(&t) {
        *b = transpose(c);
    }
}

/// [`separate_lines`] for horizontal text: wide boxes stacked over each other.
fn separate_stacked(boxes: &mut [TextBox]) {
    let n = boxes.len();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let (a, b) = (boxes[i], boxes[j]);
            if a.center().1 >= b.center().1 {
                continue;
            }
            let wide = |t: &TextBox| t.x1 - t.x0 > t.height();
            let xo = a.x1.min(b.x1) - a.x0.max(b.x0);
            let yo = a.y1 - b.y0;
            // A box ten times another's height is a blob many lines tall (background texture
            // taken for text), not a neighbouring line: cutting a zone line against it took a
            // third of its height and its first characters. Below that every stacked pair is
            // cut as before (a small label under its value, a sliver under a line).
            let similar = a.height().max(b.height()) < 10.0 * a.height().min(b.height());
            if wide(&a)
                && wide(&b)
                && similar
                && xo > 0.3 * (a.x1 - a.x0).min(b.x1 - b.x0)
                && yo > 0.0
            {
                let mid = (a.y1 + b.y0) / 2.0;
                // Never cut past a box's own centre.
                boxes[i].y1 = mid.max(a.center().1 + 0.25 * a.height());
                boxes[j].y0 = mid.min(b.center().1 - 0.25 * b.height());
            }
        }
    }
}

/// Groups lines into rows: vertical overlap of at least half the smaller height, similar
/// heights. Rows top to bottom, lines left to right.
pub fn group_rows(lines: &[TextLine]) -> Vec<Row> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| {
        lines[a]
            .bbox
            .center()
            .1
            .total_cmp(&lines[b].bbox.center().1)
    });
    let mut rows: Vec<Row> = Vec::new();
    for i in order {
        let b = lines[i].bbox;
        let found = rows.iter_mut().find(|r| {
            let ov = b.y1.min(r.bbox.y1) - b.y0.max(r.bbox.y0);
            let hmin = b.height().min(r.bbox.height());
            let hmax = b.height().max(r.bbox.height());
            ov > 0.5 * hmin && hmax < 1.8 * hmin
        });
        match found {
            Some(r) => {
                r.lines.push(i);
                r.bbox = union([r.bbox, b].into_iter()).unwrap_or(b);
            }
            None => rows.push(Row {
                lines: vec![i],
                bbox: b,
            }),
        }
    }
    for r in &mut rows {
        r.lines
            .sort_by(|&a, &b| lines[a].bbox.x0.total_cmp(&lines[b].bbox.x0));
    }
    rows.sort_by(|a, b| a.bbox.center().1.total_cmp(&b.bbox.center().1));
    rows
}

// ---------------------------------------------------------------------------------------------
// MRZ anywhere
// ---------------------------------------------------------------------------------------------

/// An MRZ candidate row: its characters and where it is.
#[derive(Debug, Clone)]
struct MrzRow {
    text: String,
    bbox: TextBox,
}

/// Maps what the recognizer returns for MRZ characters to the MRZ alphabet; `None` for a
/// character that cannot be part of an MRZ.
fn mrz_char(c: char) -> Option<char> {
    let c = super::mrz_chars(&c.to_string()).chars().next()?;
    match c {
        'A'..='Z' | '0'..='9' | '<' => Some(c),
        // Fillers read as brackets or a small c/k at low resolution.
        '(' | '[' | '{' | '‹' | '«' | '≤' => Some('<'),
        _ => None,
    }
}

/// The row's lines concatenated as MRZ text; a gap between two boxes is filled with as many
/// `<` as characters would fit in it (the detector splits long filler runs).
fn mrz_row_text(page: &Page, row: &Row) -> Option<String> {
    let mut out = String::new();
    let mut prev_x1: Option<f32> = None;
    let mut char_w = 0.0f32;
    for &i in &row.lines {
        let l = &page.lines[i];
        let t: String = l.text.chars().filter(|c| !c.is_whitespace()).collect();
        let mapped: Vec<char> = t.chars().filter_map(mrz_char).collect();
        let n = t.chars().count().max(1);
        if mapped.len() * 10 < n * 8 {
            // Mostly not MRZ: a caption beside the zone.
            continue;
        }
        let w = (l.bbox.x1 - l.bbox.x0) / n as f32;
        if let Some(px) = prev_x1
            && char_w > 0.0
        {
            let gap = ((l.bbox.x0 - px) / char_w).round();
            if (1.0..40.0).contains(&gap) {
                for _ in 0..gap as usize {
                    out.push('<');
                }
            }
        }
        char_w = if char_w > 0.0 { (char_w + w) / 2.0 } else { w };
        prev_x1 = Some(l.bbox.x1);
        out.extend(mapped);
    }
    let n = out.chars().count();
    ((26..=50).contains(&n) && (out.contains('<') || n >= 28)).then_some(out)
}

/// Adjusts an OCR'd MRZ line to `n` characters: extra characters come out of the longest
/// filler run (the recognizer duplicates `<`), missing ones go into it (it drops some), and
/// only then at the end.
pub fn fit_line(s: &str, n: usize) -> String {
    let mut v: Vec<char> = s.chars().collect();
    let longest_run = |v: &[char]| -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < v.len() {
            if v[i] == '<' {
                let st = i;
                while i < v.len() && v[i] == '<' {
                    i += 1;
                }
                if best.is_none_or(|(_, l)| i - st > l) {
                    best = Some((st, i - st));
                }
            } else {
                i += 1;
            }
        }
        best
    };
    while v.len() > n {
        match longest_run(&v) {
            Some((st, l)) if l >= 2 => {
                v.remove(st);
            }
            _ => {
                v.truncate(n);
            }
        }
    }
    while v.len() < n {
        match longest_run(&v) {
            Some((st, l)) if l >= 2 => v.insert(st, '<'),
            _ => v.push('<'),
        }
    }
    v.into_iter().collect()
}

fn letters_only(s: &str, from: usize) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i >= from {
                super::digit_to_letter(c)
            } else {
                c
            }
        })
        .collect()
}

/// Letters-only positions of a format's lines (issuing state, nationality, sex), as
/// (line, start, end).
fn letter_spans(format: mrz::MrzFormat) -> &'static [(usize, usize, usize)] {
    match format {
        mrz::MrzFormat::Td1 => &[(0, 0, 1), (0, 2, 5), (1, 7, 8), (1, 15, 18)],
        _ => &[(0, 0, 1), (0, 2, 5), (1, 10, 13), (1, 20, 21)],
    }
}

/// Tries one block of rows as an MRZ of `format`.
fn try_block(rows: &[&MrzRow], format: mrz::MrzFormat) -> Option<mrz::Mrz> {
    let (count, len) = format.shape();
    if rows.len() != count {
        return None;
    }
    // Every MRZ line has fillers; a block of ordinary text rows does not.
    if rows.iter().any(|r| !r.text.contains('<')) {
        return None;
    }
    let left = rows.iter().map(|r| r.bbox.x0).fold(f32::MAX, f32::min);
    let mut lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut t = r.text.clone();
            // The first line starts with the document code; a line that starts a character
            // or more to the right of the others lost it to the detector (a thin `I`).
            let char_w = (r.bbox.x1 - r.bbox.x0) / r.text.chars().count().max(1) as f32;
            if i == 0 && t.chars().count() < len && r.bbox.x0 - left > 0.6 * char_w {
                t.insert(0, 'I');
            }
            fit_line(&t, len)
        })
        .collect();
    // Name fields carry no check digit: a digit there is a letter misread.
    match format {
        mrz::MrzFormat::Td1 => lines[2] = letters_only(&lines[2], 0),
        _ => lines[0] = letters_only(&lines[0], 5),
    }
    for &(li, a, b) in letter_spans(format) {
        lines[li] = lines[li]
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (a..b).contains(&i) {
                    super::digit_to_letter(c)
                } else {
                    c
                }
            })
            .collect();
    }
    let first = mrz::parse(&lines.join("\n")).ok()?;
    if first.checks.document_number || !first.checks.composite && first.valid() {
        return Some(first);
    }
    // The document number is alphanumeric: the parser repairs letters read for digits, not
    // digits read for letters. Try those, one or two at a time; keep a reading only when the
    // number's check digit AND the composite check then pass.
    let (nl, ns, ne) = match format {
        mrz::MrzFormat::Td1 => (0, 5, 14),
        _ => (1, 0, 9),
    };
    let chars: Vec<char> = lines[nl].chars().collect();
    let alts = |c: char| -> &'static [char] {
        match c {
            '0' => &['O', 'D', 'Q'],
            '1' => &['I'],
            '2' => &['Z'],
            '5' => &['S'],
            '8' => &['B'],
            '6' => &['G'],
            _ => &[],
        }
    };
    let positions: Vec<usize> = (ns..ne).filter(|&i| !alts(chars[i]).is_empty()).collect();
    let try_with = |subs: &[(usize, char)]| -> Option<mrz::Mrz> {
        let mut c = chars.clone();
        for &(i, ch) in subs {
            c[i] = ch;
        }
        let mut l = lines.clone();
        l[nl] = c.into_iter().collect();
        mrz::parse(&l.join("\n"))
            .ok()
            .filter(|m| m.checks.document_number && m.checks.composite)
    };
    for (k, &i) in positions.iter().enumerate() {
        for &a in alts(chars[i]) {
            if let Some(m) = try_with(&[(i, a)]) {
                return Some(m);
            }
            for &j in &positions[k + 1..] {
                for &b in alts(chars[j]) {
                    if let Some(m) = try_with(&[(i, a), (j, b)]) {
                        return Some(m);
                    }
                }
            }
        }
    }
    Some(first)
}

fn mrz_score(m: &mrz::Mrz) -> usize {
    let c = &m.checks;
    let passed = [c.document_number, c.birth_date, c.expiry_date, c.composite]
        .iter()
        .filter(|&&b| b)
        .count()
        + usize::from(c.optional_data.unwrap_or(true));
    // Fewer repairs: a closer reading.
    passed * 10 + usize::from(m.valid()) * 100 - m.repairs.len().min(9)
}

/// At most this many readings of one row are tried as an MRZ line.
const MRZ_READINGS_PER_ROW: usize = 6;

/// The readings of a row that may be an MRZ line: the whole row, and each run of its
/// neighbouring lines on its own (a row also collects text beside the zone at the same height,
/// such as a sheet of paper next to the card, which must not be glued to the zone's line).
/// The whole row first, then runs with more fillers.
fn mrz_row_readings(page: &Page, row: &Row) -> Vec<MrzRow> {
    let n = row.lines.len();
    let mut out: Vec<MrzRow> = Vec::new();
    for len in (1..=n).rev() {
        for start in 0..=n - len {
            let lines = row.lines[start..start + len].to_vec();
            let Some(bbox) = union(lines.iter().map(|&i| page.lines[i].bbox)) else {
                continue;
            };
            let sub = Row { lines, bbox };
            if let Some(text) = mrz_row_text(page, &sub)
                && !out.iter().any(|r| r.text == text)
            {
                out.push(MrzRow { text, bbox });
            }
        }
    }
    if out.len() > 1 {
        let whole = out.remove(0);
        out.sort_by_key(|r| std::cmp::Reverse(r.text.matches('<').count()));
        out.insert(0, whole);
    }
    out.truncate(MRZ_READINGS_PER_ROW);
    out
}

/// How many rows that cannot be a zone line (text beside the card at the zone's height, a
/// receipt's line between two of its rows) may lie between two lines of one zone.
const MRZ_SKIPPED_ROWS: usize = 3;

/// Finds and parses the best MRZ among the page's rows (any format, any issuer). A zone's
/// lines are consecutive among the rows that read as lines of its format (within five
/// characters of its length); rows in between that do not (a sheet of paper beside the card,
/// its lines at heights between the zone's) are passed over, up to [`MRZ_SKIPPED_ROWS`]
/// between two zone lines.
/// How many characters a zone line with a long filler run may lack and still be fitted.
const MRZ_DROPPED_FILLERS: i64 = 9;

pub fn find_mrz(page: &Page) -> Option<mrz::Mrz> {
    let cands: Vec<Vec<MrzRow>> = page
        .rows
        .iter()
        .map(|r| mrz_row_readings(page, r))
        .filter(|v| !v.is_empty())
        .collect();
    // Best by score; on a tie, the block that passes over fewer rows reading as lines of its
    // format (a TD3's first line has no check digit: a row of paper text with fillers filled
    // into its gaps scores as well as the zone's own first line when the latter is skipped).
    let mut best: Option<((usize, std::cmp::Reverse<usize>), mrz::Mrz)> = None;
    for format in MRZ_FORMATS {
        let (count, len) = format.shape();
        // Each row's readings of about this format's length, rows with none left out.
        let fitting: Vec<Vec<&MrzRow>> = cands
            .iter()
            .map(|v| {
                v.iter()
                    .filter(|r| {
                        // The recognizer reads a long run of fillers short: a line with one
                        // may lack up to MRZ_DROPPED_FILLERS (fitting puts them back there).
                        let d = r.text.chars().count() as i64 - len as i64;
                        // Every zone line has fillers (`try_block` wants them): a row of
                        // ordinary text as long as a zone line is not one.
                        r.text.contains('<')
                            && (d.abs() <= 5
                                || d < 0 && -d <= MRZ_DROPPED_FILLERS && r.text.contains("<<<<<"))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let rows: Vec<usize> = (0..cands.len())
            .filter(|&i| !fitting[i].is_empty())
            .collect();
        // Any `count` of those rows, in order, with at most MRZ_SKIPPED_ROWS rows (of any
        // kind) between two picked ones: a row between two zone lines may read as one too
        // (a receipt's line at the zone's length, with a stray filler).
        for picked in ordered_picks(&rows, count, MRZ_SKIPPED_ROWS + 1) {
            let readings: Vec<Vec<&MrzRow>> = picked.iter().map(|&i| fitting[i].clone()).collect();
            let slices: Vec<&[&MrzRow]> = readings.iter().map(Vec::as_slice).collect();
            for block in combinations(&slices) {
                // Close together (the check digits decide the rest).
                let h = block[0].bbox.height().max(1.0);
                let close = block
                    .windows(2)
                    .all(|w| w[1].bbox.y0 - w[0].bbox.y1 < 2.5 * h);
                if !close {
                    continue;
                }
                if let Some(m) = try_block(&block, format) {
                    let c = &m.checks;
                    let passed = [c.document_number, c.birth_date, c.expiry_date, c.composite]
                        .iter()
                        .filter(|&&b| b)
                        .count();
                    if passed < 2 {
                        continue;
                    }
                    let skipped = rows
                        .iter()
                        .filter(|&&r| {
                            r > picked[0] && r < picked[count - 1] && !picked.contains(&r)
                        })
                        .count();
                    // Between equally checked readings, the format whose line length the
                    // rows' readings are closest to: a passport zone with empty optional
                    // data also checks as a TD2 (the same digits at the same places), and
                    // read three fillers short per line (41 characters) it is no TD2 of 36.
                    let off: usize = block
                        .iter()
                        .map(|r| r.text.chars().count().abs_diff(len))
                        .sum();
                    let s = (
                        mrz_score(&m) * 100 - off.min(99),
                        std::cmp::Reverse(skipped),
                    );
                    if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                        best = Some((s, m));
                    }
                }
            }
        }
    }
    best.map(|(_, m)| m)
}

/// The zone formats, in the order [`find_mrz`] tries them.
const MRZ_FORMATS: [mrz::MrzFormat; 3] = [
    mrz::MrzFormat::Td1,
    mrz::MrzFormat::Td2,
    mrz::MrzFormat::Td3,
];

/// A line read whole as a zone line: its MRZ characters number a format's line length (within
/// two), it holds fillers, and nearly all of it is MRZ alphabet.
fn whole_zone_line(l: &TextLine) -> Option<usize> {
    let t: Vec<char> = l.text.chars().filter(|c| !c.is_whitespace()).collect();
    let mapped: Vec<char> = t.iter().copied().filter_map(mrz_char).collect();
    if mapped.len() * 10 < t.len().max(1) * 9 || !mapped.contains(&'<') {
        return None;
    }
    let w = l.bbox.x1 - l.bbox.x0;
    if w < 10.0 * l.bbox.height() {
        return None;
    }
    MRZ_FORMATS
        .into_iter()
        .map(|f| f.shape().1)
        .find(|&n| mapped.len().abs_diff(n) <= 2)
}

/// Whether a piece of text may be part of a zone line: mostly MRZ alphabet, in capitals.
fn zone_piece(l: &TextLine) -> bool {
    let t: Vec<char> = l.text.chars().filter(|c| !c.is_whitespace()).collect();
    let mapped = t.iter().filter(|&&c| mrz_char(c).is_some()).count();
    t.len() >= 2 && mapped * 10 >= t.len() * 8 && !t.iter().any(|c| c.is_lowercase())
}

/// Bands to read again across a machine-readable zone's width: the detector sometimes cuts
/// a zone line into pieces, drops some of its characters between them or merges a piece with
/// text beside the card, and the row's pieces then never make a line of the format. When
/// another line of the zone was read whole, the zone's width is known: each row of pieces
/// within three line pitches above or below it, under its span and of its height, is read
/// again as one box across that span (the zone's lines share their left edge and length).
pub fn zone_rereads(page: &Page) -> Vec<TextBox> {
    let mut out: Vec<TextBox> = Vec::new();
    for anchor in page.lines.iter() {
        let Some(n) = whole_zone_line(anchor) else {
            continue;
        };
        let a = anchor.bbox;
        let h = a.height().max(1.0);
        let char_w = (a.x1 - a.x0) / n as f32;
        let (_, acy) = a.center();
        // The pieces under the zone's span, at other heights than the anchor's.
        let mut pieces: Vec<&TextLine> = page
            .lines
            .iter()
            .filter(|l| {
                let b = l.bbox;
                let (_, cy) = b.center();
                let d = (cy - acy).abs();
                let overlap = b.x1.min(a.x1) - b.x0.max(a.x0);
                d > 0.6 * h
                    && d < 3.2 * h
                    && overlap > 2.0 * char_w
                    && b.height() > 0.5 * h
                    && b.height() < 1.8 * h
                    && whole_zone_line(l).is_none_or(|m| m != n || b.x0 - a.x0 > 2.0 * char_w)
            })
            .collect();
        pieces.sort_by(|p, q| p.bbox.center().1.total_cmp(&q.bbox.center().1));
        // Pieces grouped into bands by their centres.
        let mut bands: Vec<Vec<&TextLine>> = Vec::new();
        for p in pieces {
            match bands.last_mut() {
                Some(b) if (p.bbox.center().1 - b[b.len() - 1].bbox.center().1).abs() < 0.5 * h => {
                    b.push(p)
                }
                _ => bands.push(vec![p]),
            }
        }
        for band in bands {
            if !band.iter().any(|l| zone_piece(l)) {
                continue;
            }
            // Already a whole line of the format on that band: nothing to join.
            if band.iter().any(|l| whole_zone_line(l) == Some(n)) {
                continue;
            }
            let cy = band.iter().map(|l| l.bbox.center().1).sum::<f32>() / band.len() as f32;
            let b = TextBox {
                x0: (a.x0 - 0.5 * char_w).max(0.0),
                y0: (cy - h / 2.0).max(0.0),
                x1: (a.x1 + 0.5 * char_w).min(page.image.width() as f32),
                y1: (cy + h / 2.0).min(page.image.height() as f32),
                score: a.score,
            };
            let dup = out.iter().any(|o| {
                (o.center().1 - b.center().1).abs() < 0.5 * h && o.x0 < b.x1 && b.x0 < o.x1
            });
            if !dup && b.y1 > b.y0 + 4.0 {
                out.push(b);
            }
        }
    }
    out
}

/// [`find_mrz`], and when it finds no valid zone, the zone's rows of pieces read again across
/// its width ([`zone_rereads`]): the lines re-read replace the pieces they cover and the page
/// keeps them when a better zone is then found (otherwise it is left as it was).
pub fn find_mrz_rereading(ocr: &OcrEngine, page: &mut Page) -> Result<Option<mrz::Mrz>, OcrError> {
    let first = find_mrz(page);
    if first.as_ref().is_some_and(|m| m.valid()) {
        return Ok(first);
    }
    let bands = zone_rereads(page);
    if bands.is_empty() {
        return Ok(first);
    }
    let t = std::time::Instant::now();
    let mut lines: Vec<TextLine> = page.lines.clone();
    for b in &bands {
        let read = recognize(ocr, &page.image, b)?;
        if !zone_piece(&read) {
            continue;
        }
        lines.retain(|l| {
            let (cx, cy) = l.bbox.center();
            !(cy > b.y0 && cy < b.y1 && cx > b.x0 && cx < b.x1)
        });
        lines.push(read);
    }
    page.timings.recognize_ms += elapsed_ms(t);
    let rows = group_rows(&lines);
    let old_lines = std::mem::replace(&mut page.lines, lines);
    let old_rows = std::mem::replace(&mut page.rows, rows);
    let second = find_mrz(page);
    let better = match (&first, &second) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(f), Some(s)) => mrz_score(s) > mrz_score(f),
    };
    if better {
        Ok(second)
    } else {
        page.lines = old_lines;
        page.rows = old_rows;
        Ok(first)
    }
}

/// Every increasing choice of `count` of `rows` (row indices, increasing) whose consecutive
/// picks are at most `max_step` indices apart.
fn ordered_picks(rows: &[usize], count: usize, max_step: usize) -> Vec<Vec<usize>> {
    fn extend(
        rows: &[usize],
        count: usize,
        max_step: usize,
        from: usize,
        cur: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if cur.len() == count {
            out.push(cur.clone());
            return;
        }
        for k in from..rows.len() {
            if let Some(&last) = cur.last()
                && rows[k] - last > max_step
            {
                break;
            }
            cur.push(rows[k]);
            extend(rows, count, max_step, k + 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    if count > 0 {
        extend(
            rows,
            count,
            max_step,
            0,
            &mut Vec::with_capacity(count),
            &mut out,
        );
    }
    out
}

/// Every choice of one reading per row.
fn combinations<'a>(rows: &[&[&'a MrzRow]]) -> Vec<Vec<&'a MrzRow>> {
    let mut out: Vec<Vec<&MrzRow>> = vec![vec![]];
    for readings in rows {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                readings.iter().map(move |r| {
                    let mut v = prefix.clone();
                    v.push(*r);
                    v
                })
            })
            .collect();
    }
    out
}

/// An upright page of `w` × `h` pixels holding `lines`, grouped into rows (for tests of the
/// reader's steps after recognition).
#[cfg(test)]
pub(crate) fn page_of(lines: Vec<TextLine>, w: u32, h: u32) -> Page {
    let rows = group_rows(&lines);
    let (fw, fh) = (w as f32, h as f32);
    Page {
        image: RgbImage::new(w, h),
        scale: 1.0,
        rotation: 0,
        lines,
        rows,
        deskew_degrees: 0.0,
        rectified: false,
        frame: [(0.0, 0.0), (fw, 0.0), (fw, fh), (0.0, fh)],
        card: None,
        other_direction: None,
        timings: PageTimings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_boxes_are_separated() {
        let mk = |y0: f32, y1: f32| TextBox {
            x0: 0.0,
            y0,
            x1: 500.0,
            y1,
            score: 1.0,
        };
        // Three MRZ lines 60 px apart whose boxes are 100 px tall.
        let mut b = vec![mk(0.0, 100.0), mk(60.0, 160.0), mk(120.0, 220.0)];
        separate_lines(&mut b);
        assert_eq!(b[0].y1, 80.0);
        assert_eq!(b[1].y0, 80.0);
        assert_eq!(b[1].y1, 140.0);
        assert_eq!(b[2].y0, 140.0);
    }

    /// A zone line under a blob of background texture the detector took for text (seed
    /// 1000010, a digital-cédula back upside down on a zig-zag cloth; working pixels).
    #[test]
    fn a_line_is_not_cut_against_a_blob_many_lines_tall() {
        let mk = |x0: f32, y0: f32, x1: f32, y1: f32| TextBox {
            x0,
            y0,
            x1,
            y1,
            score: 1.0,
        };
        let line = mk(834.4, 646.1, 1483.3, 689.0);
        let mut b = vec![mk(0.0, 212.6, 1339.0, 1186.0), line];
        separate_lines(&mut b);
        assert_eq!(b[1], line);
    }

    /// A passport's zone (seed 1000054, turned a quarter) read three fillers short per line:
    /// with empty optional data its digits also check as a TD2, which must not win.
    #[test]
    fn a_passport_zone_read_short_is_not_taken_for_a_td2() {
        let line = |y0, text| TextLine::at(130.0, y0, 805.0, 55.0, text, 0.93);
        let page = page_of(
            vec![
                line(1040.0, "P<COLCHAVEZ<G0MEZ<<Z0E<<<<<<<<<<<<<<<<<<<"),
                line(1093.0, "J754204104C0L0003115F3007192<<<<<<<<<<<<0"),
            ],
            1200,
            1400,
        );
        let m = find_mrz(&page).expect("MRZ found");
        assert_eq!(m.format, mrz::MrzFormat::Td3);
        assert_eq!(m.lines[0], "P<COLCHAVEZ<GOMEZ<<ZOE<<<<<<<<<<<<<<<<<<<<<<");
    }

    /// The detector's boxes of a passport's two zone lines, turned a quarter (seed 1000054 of
    /// the randomised set, after levelling): side by side, overlapping by 26 px.
    #[test]
    fn sideways_lines_side_by_side_are_separated() {
        let mk = |x0: f32, x1: f32| TextBox {
            x0,
            y0: 125.0,
            x1,
            y1: 930.0,
            score: 1.0,
        };
        let mut b = vec![mk(197.4, 272.4), mk(246.7, 310.4)];
        separate_lines(&mut b);
        assert!((b[0].x1 - 259.55).abs() < 0.01, "{b:?}");
        assert!((b[1].x0 - 259.55).abs() < 0.01, "{b:?}");
        assert_eq!(
            (b[0].y0, b[0].y1, b[1].y0, b[1].y1),
            (125.0, 930.0, 125.0, 930.0)
        );
    }

    fn region(angle: f32, pixels: usize) -> TextRegion {
        TextRegion {
            bbox: TextBox {
                x0: 0.0,
                y0: 0.0,
                x1: 100.0,
                y1: 10.0,
                score: 0.9,
            },
            angle,
            elongation: 8.0,
            pixels,
        }
    }

    #[test]
    fn text_direction_is_the_lines_median_folded_to_an_axis() {
        // Five lines at about 20°, one stray blob vote, sideways lines count the same.
        let rs = [
            region(19.0, 400),
            region(20.0, 900),
            region(21.0, 300),
            region(20.5 - 90.0, 500),
            region(20.0 + 90.0, 200),
            region(-40.0, 50),
        ];
        let d = text_direction(&rs).expect("enough lines");
        assert!((d.angle - 20.0).abs() < 0.6, "{d:?}");
        assert!(d.spread < 1.5, "{d:?}");
        assert_eq!(d.lines, 6);
        // Too few lines, or only blobs: no direction.
        assert!(text_direction(&rs[..2]).is_none());
        let blobs: Vec<TextRegion> = rs
            .iter()
            .map(|r| TextRegion {
                elongation: 1.5,
                ..*r
            })
            .collect();
        assert!(text_direction(&blobs).is_none());
    }

    /// A receipt at 25° beside a card at −6° (`mx-ine-2014 back seed 1000006`): the receipt's
    /// many lines set the level, the card's are the second direction; one stray line is not.
    #[test]
    fn text_at_a_second_angle_is_reported() {
        let mut rs: Vec<TextRegion> = (0..12)
            .map(|i| region(24.0 + i as f32 * 0.2, 400))
            .collect();
        rs.extend([region(-6.0, 900), region(-6.5, 900), region(-5.5, 800)]);
        let d = text_direction(&rs).expect("enough lines");
        assert!((d.angle - 25.0).abs() < 1.5, "{d:?}");
        let other = d.other.expect("a second direction");
        assert!((other + 6.0).abs() < 1.0, "{d:?}");
        // One card line among the receipt's is not a direction of its own.
        rs.truncate(13);
        assert_eq!(text_direction(&rs).and_then(|d| d.other), None);
    }

    /// `passport front seed 2000031` of the randomised set: the second zone line read with
    /// six fillers of its long run dropped (38 of 44 characters), so no zone was found and the
    /// page was refused as a passport's cover.
    #[test]
    fn a_zone_line_read_short_of_its_fillers_is_fitted() {
        let line = |y0, text| TextLine::at(210.0, y0, 870.0, 60.0, text, 0.95);
        let p = page_of(
            vec![
                line(808.0, "P<D<<VARGAS<NUNEZ<<MONICA<<<<<<<<<<<<<<<<<<<"),
                line(870.0, "J1252159130<<9501289F3211267<<<<<<<<<4"),
            ],
            1500,
            2000,
        );
        let m = find_mrz(&p).expect("a zone");
        assert_eq!(m.format, mrz::MrzFormat::Td3);
        assert!(
            m.checks.birth_date && m.checks.expiry_date,
            "{:?}",
            m.checks
        );
        assert_eq!(m.fields.surname, "VARGAS NUNEZ");
    }

    #[test]
    fn converging_lines_have_a_spread() {
        let rs: Vec<TextRegion> = (-4..=4).map(|i| region(i as f32 * 2.0, 300)).collect();
        let d = text_direction(&rs).unwrap();
        assert!(
            d.angle.abs() < 0.01 && d.spread >= PERSPECTIVE_SPREAD_DEGREES,
            "{d:?}"
        );
    }

    #[test]
    fn a_turned_page_keeps_its_frame_and_only_the_frame_cuts_text() {
        let img = RgbImage::from_pixel(400, 200, Rgb([200, 190, 180]));
        let (out, p) = turn(&img, 20.0);
        let (s, c) = 20f32.to_radians().sin_cos();
        assert_eq!(out.width(), (400.0 * c + 200.0 * s).ceil() as u32);
        // The new corners are filled with the photo's border colour, not black.
        assert_eq!(*out.get_pixel(0, 0), Rgb([200, 190, 180]));
        let frame = [(0.0, 0.0), (400.0, 0.0), (400.0, 200.0), (0.0, 200.0)].map(|q| p * q);
        let page = Page {
            image: out.clone(),
            scale: 1.0,
            rotation: 0,
            lines: vec![],
            rows: vec![],
            deskew_degrees: 20.0,
            rectified: false,
            frame,
            card: None,
            other_direction: None,
            timings: PageTimings::default(),
        };
        let centre = p * (200.0, 100.0);
        let at = |x: f32, y: f32| TextBox {
            x0: x - 20.0,
            y0: y - 5.0,
            x1: x + 20.0,
            y1: y + 5.0,
            score: 1.0,
        };
        assert!(!page.touches_frame(&at(centre.0, centre.1)));
        // The page's own corner is outside the photo.
        assert!(page.touches_frame(&at(21.0, 6.0)));
        // A straight page: its edges are the frame's.
        let straight = Page {
            frame: [(0.0, 0.0), (400.0, 0.0), (400.0, 200.0), (0.0, 200.0)],
            deskew_degrees: 0.0,
            ..page
        };
        assert!(straight.touches_frame(&at(20.5, 100.0)));
        assert!(!straight.touches_frame(&at(200.0, 100.0)));
    }

    /// The lines of `pe-dnie back seed 1000053` of the randomised set (a receipt beside a DNIe
    /// back, its lines at heights between the zone's), one receipt line between the first two
    /// zone lines made to read like a 40-character zone line: a row that cannot be a line of
    /// the format is passed over, not taken as the end of the zone.
    #[test]
    fn an_mrz_is_read_between_the_lines_of_a_receipt_beside_it() {
        let line = TextLine::at;
        let lines = vec![
            line(
                218.0,
                583.0,
                759.0,
                37.0,
                "I<ΡER58446357<8<<<<<<<<<<<<<<<",
                0.98,
            ),
            line(
                218.0,
                645.0,
                757.0,
                37.0,
                "6601052F3212149ΡER<<<<<<<<<<<2",
                0.99,
            ),
            line(
                217.0,
                710.0,
                757.0,
                34.0,
                "RAMIREZ<MARTINEZ<<DANIELA<<<<<",
                1.0,
            ),
            line(1000.0, 283.0, 202.0, 68.0, "1200", 0.6),
            line(982.0, 418.0, 314.0, 40.0, "PAO 125 MPORTE 250.0", 0.44),
            line(994.0, 455.0, 240.0, 51.0, "CCCCTLEEL", 0.32),
            line(984.0, 475.0, 319.0, 37.0, "OTALCONCONCETOTALFECOTAL", 0.86),
            line(992.0, 406.0, 245.0, 44.0, "DRECIO 2PORT250", 0.48),
            line(1001.0, 488.0, 287.0, 34.0, "OTAL CO.O0CENTE O2500ATAL", 0.5),
            line(998.0, 342.0, 213.0, 40.0, "O TAL IRECIONE", 0.58),
            line(1038.0, 546.0, 182.0, 43.0, "POOP", 0.51),
            line(1123.0, 693.0, 155.0, 48.0, "TOTALI", 0.66),
            line(1110.0, 676.0, 172.0, 39.0, "TOTALTOTL", 0.78),
            line(1013.0, 382.0, 130.0, 51.0, "PORTEONTAL", 0.7),
            line(1033.0, 570.0, 276.0, 23.0, "PAGONCEPTCONCEPTECHATO", 0.95),
            line(1065.0, 589.0, 208.0, 28.0, "CRECIBORECIBOFEON", 0.86),
            line(1043.0, 592.0, 271.0, 19.0, "CONCIBOCECIBOCION", 0.84),
            line(1102.0, 660.0, 169.0, 29.0, "TOTCIBO FECTALRECIBO", 0.87),
            line(883.0, 267.0, 128.0, 35.0, "SPECIMEN", 1.0),
            line(
                1028.0,
                538.0,
                191.0,
                21.0,
                "CLIECIBOFENCEPTOECCIONPOR",
                0.93,
            ),
            line(1095.0, 648.0, 147.0, 19.0, "IMPORLFACTOCHACLIE", 0.92),
            line(823.0, 504.0, 130.0, 20.0, "INDICE DERECHO", 1.0),
            line(
                1087.0,
                629.0,
                133.0,
                14.0,
                "TOTAL<<<FACTURA<<<RECIBO<<<CONCEPTO<<<<<",
                0.73,
            ),
        ];
        let page = page_of(lines, 1200, 1600);
        let m = find_mrz(&page).expect("MRZ found");
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.lines[0], "I<PER58446357<8<<<<<<<<<<<<<<<");
    }

    /// Regression (randomised set, mx-ine-2019 back seed 1000004): a receipt beside the card,
    /// its lines at the height of the zone's, was glued to the zone's rows and no MRZ was read.
    #[test]
    fn an_mrz_is_read_when_text_beside_it_shares_its_rows() {
        let line = |x0, y0, w, text, conf| TextLine::at(x0, y0, w, 70.0, text, conf);
        let lines = vec![
            line(420.0, 437.0, 886.0, "IDMEX5323385412<<1507193848257", 1.0),
            line(0.0, 464.0, 436.0, "TURA$125012500 DRECCIONFAC", 0.67),
            line(420.0, 510.0, 889.0, "9505173M3212312MEX<<<<<<<<<<<8", 1.0),
            line(0.0, 530.0, 400.0, "RECIBO DRECIONTOTOTAL", 0.86),
            line(417.0, 580.0, 892.0, "ZUNIGA<DIAZ<<BEATRIZ<<<<<<<<<<", 1.0),
        ];
        let page = page_of(lines, 1600, 1200);
        // The receipt's lines do share the zone's rows.
        assert!(
            page.rows.iter().any(|r| r.lines.len() > 1),
            "{:?}",
            page.rows
        );
        let m = find_mrz(&page).expect("MRZ found");
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.lines[0], "IDMEX5323385412<<1507193848257");
    }

    /// Regression (randomised set, mx-ine-2014 back seed 7000037): a receipt beside the card,
    /// one of its lines between the zone's second and third rows read as 29 MRZ characters
    /// (`TOTAL $ 1.250,00 CLIENTE RECIBO FECHA`): as a row that reads like a zone line it ended
    /// every run of three consecutive candidate rows, and no zone was assembled. A zone line
    /// has fillers, and candidate rows need not be consecutive.
    #[test]
    fn an_mrz_is_read_when_a_receipt_line_between_its_rows_reads_as_long() {
        let lines = vec![
            TextLine::at(
                576.0,
                500.0,
                655.0,
                102.0,
                "IDM5X2201462467<<7936214829368",
                0.9,
            ),
            TextLine::at(
                567.0,
                636.0,
                653.0,
                102.0,
                "ACUNA<FLORES<<LUIS<ANGEL<<<<<<",
                0.95,
            ),
            TextLine::at(
                571.0,
                581.0,
                654.0,
                84.0,
                "6403245H3212312MEX<<<<<<<<<<<9",
                0.99,
            ),
            TextLine::at(
                0.0,
                499.0,
                569.0,
                54.0,
                "DIRECCIÓN $ 1.250,00 $ 1.250,00 CLIENTE",
                0.97,
            ),
            TextLine::at(
                0.0,
                640.0,
                561.0,
                53.0,
                "TOTAL $ 1.250,00 CLIENTE RECIBO FECHA",
                1.0,
            ),
            TextLine::at(0.0, 554.0, 413.0, 47.0, "1.250,00 IMPORTE $ 1.250,00", 0.99),
            TextLine::at(0.0, 601.0, 270.0, 40.0, "FACTURA DIRECCIÓN", 0.99),
            TextLine::at(0.0, 462.0, 284.0, 37.0, "IRECCIÓN $ 1.250,00", 0.97),
        ];
        let page = page_of(lines, 1600, 1200);
        let m = find_mrz(&page).expect("MRZ found");
        assert!(m.checks.document_number && m.checks.birth_date && m.checks.expiry_date);
        assert_eq!(m.lines[1], "6403245H3212312MEX<<<<<<<<<<<9");
        assert_eq!(m.lines[2], "ACUNA<FLORES<<LUIS<ANGEL<<<<<<");
    }

    /// Regression (randomised set, passport front seed 7000059, a receipt beside the zone): a
    /// row of the receipt's pieces with fillers put into its gaps reads as a TD3 first line,
    /// which carries no check digit; paired with the zone's second line over the zone's own
    /// first line, it scored the same. The block that skips no line of the format wins.
    #[test]
    fn a_zone_line_is_not_skipped_for_a_row_of_paper_above_it() {
        let lines = vec![
            TextLine::at(
                358.0,
                900.0,
                844.0,
                40.0,
                "F<<<<P<<<<ZIABRI99G<<<TPRTCENITEEPTOCONCEPTO",
                0.6,
            ),
            TextLine::at(
                358.0,
                955.0,
                844.0,
                42.0,
                "P<ARGMARTINEZ<PENA<<LUCIA<<<<<<<<<<<<<<<<<<<",
                1.0,
            ),
            TextLine::at(
                361.0,
                1003.0,
                835.0,
                32.0,
                "T777382883ARG9604216F3005176<<<<<<<<<<<<<<<8",
                1.0,
            ),
        ];
        let page = page_of(lines, 1600, 1200);
        let m = find_mrz(&page).expect("MRZ found");
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.lines[0], "P<ARGMARTINEZ<PENA<<LUCIA<<<<<<<<<<<<<<<<<<<");
    }

    #[test]
    fn ordered_picks_skip_rows_but_not_too_many() {
        assert_eq!(
            ordered_picks(&[0, 1, 2, 3], 3, 2),
            vec![vec![0, 1, 2], vec![0, 1, 3], vec![0, 2, 3], vec![1, 2, 3]]
        );
        // 0 and 5 are too far apart to be lines of one zone.
        assert_eq!(ordered_picks(&[0, 5, 6], 2, 2), vec![vec![5, 6]]);
        assert!(ordered_picks(&[0, 1], 3, 4).is_empty());
    }

    /// The geometry of `mx-ine-2019 back seed 7000035` read levelled by the card beside a
    /// receipt (third pass): the zone's first line read whole, the second with its first 15
    /// characters lost, the third cut in two, a receipt line to the right at the second's
    /// height. Each row of pieces is to be read again across the first line's span, at its
    /// own height; the receipt is not part of it, and the whole line gets no band.
    #[test]
    fn zone_rows_cut_into_pieces_are_read_again_across_the_zone() {
        let lines = vec![
            TextLine::at(
                385.0,
                602.0,
                936.0,
                59.0,
                "IDMEX7959336536<<7170154322183",
                0.94,
            ),
            TextLine::at(853.0, 675.0, 470.0, 58.0, "MEX<<<<<<<<<<<2", 0.9),
            TextLine::at(370.0, 748.0, 330.0, 58.0, "MUNOZ<RAMOS", 0.9),
            TextLine::at(720.0, 748.0, 615.0, 58.0, "<<DANIELA<<<<<<<<<<", 0.9),
            TextLine::at(1350.0, 676.0, 142.0, 50.0, "FECHA", 1.0),
            TextLine::at(
                1300.0,
                290.0,
                620.0,
                90.0,
                "PORT TOTAGO TOTAL DIRCCIONEE",
                0.86,
            ),
        ];
        let page = page_of(lines, 1922, 1100);
        // Not a zone as read.
        assert!(find_mrz(&page).is_none_or(|m| !m.valid()));
        let bands = zone_rereads(&page);
        assert_eq!(bands.len(), 2, "{bands:?}");
        for (b, cy) in bands.iter().zip([704.0f32, 777.0]) {
            assert!(b.x0 <= 385.0 && b.x1 >= 1321.0 && b.x1 < 1350.0, "{b:?}");
            assert!((b.center().1 - cy).abs() < 3.0, "{b:?}");
            assert!((b.height() - 59.0).abs() < 1.0, "{b:?}");
        }
        // A zone read whole asks for nothing.
        let whole = vec![
            TextLine::at(
                385.0,
                602.0,
                936.0,
                59.0,
                "IDMEX7959336536<<7170154322183",
                0.94,
            ),
            TextLine::at(
                370.0,
                675.0,
                950.0,
                59.0,
                "9907102M3512311MEX<<<<<<<<<<<2",
                0.94,
            ),
            TextLine::at(
                370.0,
                748.0,
                950.0,
                59.0,
                "MUNOZ<RAMOS<<DANIELA<<<<<<<<<<",
                0.94,
            ),
        ];
        assert!(zone_rereads(&page_of(whole, 1922, 1100)).is_empty());
    }

    /// A page turned to level the card's lines beside a sheet of paper askew (its lines at
    /// 20°): the levelled text's region is the card's, with a margin; with no paper (every
    /// line level and spread over the page) there is nothing to refocus on.
    #[test]
    fn the_levelled_text_region_leaves_the_askew_paper_out() {
        let r = |x0: f32, y0: f32, w: f32, h: f32, angle: f32| TextRegion {
            bbox: TextBox {
                x0,
                y0,
                x1: x0 + w,
                y1: y0 + h,
                score: 0.9,
            },
            angle,
            elongation: w / h.max(1.0),
            pixels: (w * h) as usize,
        };
        let mut regions = vec![
            r(700.0, 180.0, 220.0, 40.0, 0.5),
            r(780.0, 330.0, 250.0, 30.0, -0.3),
            r(780.0, 470.0, 200.0, 30.0, 0.2),
            r(600.0, 690.0, 300.0, 25.0, 0.0),
        ];
        for i in 0..8 {
            regions.push(r(0.0, 40.0 + 90.0 * i as f32, 500.0, 150.0, 20.0));
        }
        let b = level_text_region(&regions, 1600.0, 900.0).expect("a region");
        assert!(b.x0 > 500.0 && b.x0 < 600.0, "{b:?}");
        assert!(b.x1 >= 1030.0 && b.y0 <= 180.0 && b.y1 >= 715.0, "{b:?}");
        let level_only: Vec<TextRegion> = (0..8)
            .map(|i| {
                r(
                    100.0 + 10.0 * i as f32,
                    40.0 + 100.0 * i as f32,
                    1400.0,
                    40.0,
                    0.0,
                )
            })
            .collect();
        assert!(level_text_region(&level_only, 1600.0, 900.0).is_none());
    }

    /// The lines recognised on documents-dev's digital-cédula back downscaled to 300 px wide
    /// (boxes in working pixels): half the name line's fillers came back as hiragana く.
    #[test]
    fn fillers_read_as_kana_still_make_a_zone_line() {
        let line = |x0, y0, w, text, conf| TextLine::at(x0, y0, w, 60.0, text, conf);
        let lines = vec![
            line(123.0, 568.0, 1153.0, "ICC0L000000012305001<<<<<<<<<<", 0.99),
            line(121.0, 640.0, 1153.0, "0403151F3203190C0L1234567890<0", 1.0),
            line(
                118.0,
                710.0,
                1157.0,
                "WALTEROS<<LAURA<<<<く<<<く<くく",
                0.73,
            ),
        ];
        let page = page_of(lines, 1400, 900);
        let m = find_mrz(&page).expect("MRZ found");
        assert_eq!(m.lines[2], "WALTEROS<<LAURA<<<<<<<<<<<<<<<");
    }

    #[test]
    fn only_text_inside_the_card_outline_is_on_the_card() {
        let img = RgbImage::from_pixel(400, 200, Rgb([200, 190, 180]));
        let page = Page {
            image: img,
            scale: 1.0,
            rotation: 0,
            lines: vec![],
            rows: vec![],
            deskew_degrees: 0.0,
            rectified: false,
            frame: [(0.0, 0.0), (400.0, 0.0), (400.0, 200.0), (0.0, 200.0)],
            // A tilted card on the right half; either winding.
            card: Some([(220.0, 30.0), (390.0, 20.0), (395.0, 180.0), (210.0, 170.0)]),
            other_direction: None,
            timings: PageTimings::default(),
        };
        let at = |x: f32, y: f32| TextBox {
            x0: x - 20.0,
            y0: y - 5.0,
            x1: x + 20.0,
            y1: y + 5.0,
            score: 1.0,
        };
        assert!(page.on_card(&at(300.0, 100.0)));
        assert!(!page.on_card(&at(60.0, 100.0)));
        let mut reversed = page.clone();
        reversed.card = page.card.map(|mut q| {
            q.reverse();
            q
        });
        assert!(reversed.on_card(&at(300.0, 100.0)));
        assert!(!reversed.on_card(&at(60.0, 100.0)));
        let none = Page { card: None, ..page };
        assert!(none.on_card(&at(60.0, 100.0)));
    }

    #[test]
    fn fit_line_moves_fillers_in_the_longest_run() {
        assert_eq!(fit_line("AB<<<C", 5), "AB<<C");
        assert_eq!(fit_line("AB<<C", 6), "AB<<<C");
        assert_eq!(fit_line("ABC", 5), "ABC<<");
        assert_eq!(fit_line("ABCDEFG", 5), "ABCDE");
    }

    #[test]
    fn rotated_boxes_stay_inside_the_rotated_image() {
        let b = TextBox {
            x0: 10.0,
            y0: 20.0,
            x1: 50.0,
            y1: 30.0,
            score: 1.0,
        };
        for deg in [0, 90, 180, 270] {
            let r = rotate_box(&b, 100.0, 60.0, deg);
            let (w, h) = if deg % 180 == 0 {
                (100.0, 60.0)
            } else {
                (60.0, 100.0)
            };
            assert!(
                r.x0 >= 0.0 && r.x1 <= w && r.y0 >= 0.0 && r.y1 <= h,
                "{deg}: {r:?}"
            );
            assert!((r.x1 - r.x0) * (r.y1 - r.y0) == 400.0);
        }
        // 180 twice is the identity.
        let back = rotate_box(&rotate_box(&b, 100.0, 60.0, 180), 100.0, 60.0, 180);
        assert_eq!(back, b);
    }
}
