//! The quality gate: cheap checks on an ID photo before any model runs, and the card quad that
//! rectifies the photo for the barcode and OCR stages.
//!
//! Everything is measured on a copy downscaled to at most [`ANALYSIS_MAX_SIDE`] pixels, so the
//! gate costs tens of milliseconds whatever the camera. Each failed check maps to one
//! [`RetakeReason`] so the conversation can say exactly what to fix. The thresholds below were
//! chosen on the synthetic sample set (`synth`) and the measurements in the vision notes; they
//! have not been calibrated on real Latin American cards and are named constants so that this
//! is easy to do.

use image::{DynamicImage, GrayImage, RgbImage, imageops::FilterType};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};
use imageproc::point::Point;
use kyc_flow_core::evidence::RetakeReason;
use serde::Serialize;

/// The long side of the copy every metric is computed on.
pub const ANALYSIS_MAX_SIDE: u32 = 640;
/// Width of the rectified card handed to the barcode and OCR stages (ID-1 aspect 85.60 × 53.98).
pub const CARD_WIDTH: u32 = 1200;
/// Height of the rectified card.
pub const CARD_HEIGHT: u32 = 757;
/// ISO/IEC 7810 ID-1 aspect ratio (width / height).
pub const ID1_ASPECT: f32 = 85.60 / 53.98;

/// Below this variance of the Laplacian inside the card, the photo is blurred. Sharp synthetic
/// cards measure in the thousands; a σ = 5 px blur (at 2000 px) brings text-only sides to
/// 15–35 and sides with a large barcode, whose big black/white modules keep some contrast, to
/// 60–90.
pub const MIN_SHARPNESS: f32 = 150.0;
/// Below this mean luma (0–255) inside the card, the photo is too dark.
pub const MIN_MEAN_LUMA: f32 = 60.0;
/// Above this fraction of pixels under [`DARK_LEVEL`], the photo is too dark.
pub const MAX_DARK_FRACTION: f32 = 0.6;
/// A pixel darker than this counts as dark.
pub const DARK_LEVEL: u8 = 40;
/// A pixel at least this bright (all channels) counts as specular glare.
pub const GLARE_LEVEL: u8 = 250;
/// Above this fraction of glare pixels inside the card, ask for a retake.
pub const MAX_GLARE_FRACTION: f32 = 0.02;
/// The card must cover at least this fraction of the frame.
pub const MIN_COVERAGE: f32 = 0.20;
/// The card must be at least this many pixels wide in the original photo for OCR.
pub const MIN_CARD_WIDTH_PX: f32 = 560.0;
/// A found quad whose aspect is this far (relative) from ID-1 while touching the frame's edge is
/// a card cut off by the frame.
pub const MAX_ASPECT_ERROR: f32 = 0.12;

/// Why a quality check failed, with the metric that made it fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityIssue {
    /// The retake reason the conversation turns this into.
    pub reason: RetakeReason,
    /// PII-free explanation (numbers only).
    pub detail: String,
}

/// The raw measurements, reported by `inspect image` so thresholds can be tuned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityMetrics {
    /// Original image width in pixels.
    pub width: u32,
    /// Original image height in pixels.
    pub height: u32,
    /// Variance of the Laplacian inside the card (analysis scale).
    pub sharpness: f32,
    /// Mean luma inside the card, 0–255.
    pub mean_luma: f32,
    /// Fraction of dark pixels in the frame.
    pub dark_fraction: f32,
    /// Fraction of saturated (glare) pixels inside the card.
    pub glare_fraction: f32,
    /// Area of the card quad over the frame's area (1.0 when no quad was found and the whole
    /// frame is taken as the card).
    pub coverage: f32,
    /// Card width in original pixels.
    pub card_width_px: f32,
    /// Angle of the card's top edge, degrees (positive: clockwise).
    pub skew_degrees: f32,
    /// Ratio of the shorter to the longer of each pair of opposite sides (1.0: no perspective).
    pub perspective: f32,
    /// Whether a card outline was found (otherwise the whole frame is the card).
    pub card_found: bool,
}

/// The verdict of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// No issue.
    pub ok: bool,
    /// Issues, most important first (the first is what the user is asked to fix).
    pub issues: Vec<QualityIssue>,
    /// The measurements.
    pub metrics: QualityMetrics,
    /// Card corners in original pixels: top-left, top-right, bottom-right, bottom-left.
    pub quad: [(f32, f32); 4],
}

impl QualityReport {
    /// The reason the user should retake the photo, if any.
    pub fn retake(&self) -> Option<&QualityIssue> {
        self.issues.first()
    }
}

/// Quality gate errors (the image itself could not be used).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QualityError {
    /// Not a decodable JPEG/PNG/WebP: permanent, ask for another file.
    #[error("image could not be decoded: {0}")]
    Decode(#[from] image::ImageError),
    /// Not an image, truncated, or larger than accepted ([`crate::photo`]): permanent, ask
    /// for another file.
    #[error("{0}")]
    Photo(#[from] crate::photo::PhotoError),
    /// Zero-sized or absurdly small image: permanent.
    #[error("image too small to analyse ({0}x{1})")]
    Degenerate(u32, u32),
}

/// Decodes `bytes` (JPEG, PNG, WebP) within the photo limits ([`crate::photo`]), with a
/// minimum size check.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, QualityError> {
    let img = crate::photo::open(bytes, &crate::photo::PhotoLimits::DEFAULT)?;
    if img.width() < 32 || img.height() < 32 {
        return Err(QualityError::Degenerate(img.width(), img.height()));
    }
    Ok(img)
}

/// Runs every check on a decoded photo.
pub fn assess(img: &DynamicImage) -> QualityReport {
    let (width, height) = (img.width(), img.height());
    let scale = (ANALYSIS_MAX_SIDE as f32 / width.max(height) as f32).min(1.0);
    let small: GrayImage = if scale < 1.0 {
        let w = ((width as f32 * scale).round() as u32).max(1);
        let h = ((height as f32 * scale).round() as u32).max(1);
        let gray = img.to_luma8();
        // A camera original (over four times the analysis size) is first averaged down to
        // twice it: a filtered resize of 12 MP costs several times the whole gate.
        let gray = if width.max(height) > 4 * ANALYSIS_MAX_SIDE {
            image::imageops::thumbnail(&gray, w * 2, h * 2)
        } else {
            gray
        };
        image::imageops::resize(&gray, w, h, FilterType::Triangle)
    } else {
        img.to_luma8()
    };
    let small_rgb_glare = glare_mask_source(img, small.width(), small.height());

    let found = find_card_quad(&small);
    let (sw, sh) = (small.width() as f32, small.height() as f32);
    let quad_small = found.unwrap_or([
        (0.0, 0.0),
        (sw - 1.0, 0.0),
        (sw - 1.0, sh - 1.0),
        (0.0, sh - 1.0),
    ]);
    let quad: [(f32, f32); 4] = quad_small.map(|(x, y)| (x / scale, y / scale));

    let area = polygon_area(&quad_small);
    let coverage = (area / (sw * sh)).min(1.0);
    let top = dist(quad[0], quad[1]);
    let bottom = dist(quad[3], quad[2]);
    let left = dist(quad[0], quad[3]);
    let right = dist(quad[1], quad[2]);
    let card_width_px = (top + bottom) / 2.0;
    let card_height_px = (left + right) / 2.0;
    let skew_degrees = (quad[1].1 - quad[0].1)
        .atan2(quad[1].0 - quad[0].0)
        .to_degrees();
    let perspective = (top.min(bottom) / top.max(bottom)).min(left.min(right) / left.max(right));

    // Metrics inside the card's bounding box (clipped): the background must not dilute them.
    let (bx0, by0, bx1, by1) = bbox(&quad_small, small.width(), small.height());
    let (mut n, mut sum, mut dark) = (0u64, 0u64, 0u64);
    for y in by0..by1 {
        for x in bx0..bx1 {
            let v = small.get_pixel(x, y).0[0];
            n += 1;
            sum += v as u64;
            if v < DARK_LEVEL {
                dark += 1;
            }
        }
    }
    let n_f = n.max(1) as f32;
    let mean_luma = sum as f32 / n_f;
    let dark_fraction = dark as f32 / n_f;
    // Glare is a blob of saturated pixels; thin white print (a barcode's quiet zone, the gaps
    // between its bars) is not, so the mask is eroded before counting.
    let mut mask = small_rgb_glare;
    for p in mask.iter_mut() {
        *p = if *p >= GLARE_LEVEL { 255 } else { 0 };
    }
    let mask = imageproc::morphology::erode(&mask, imageproc::distance_transform::Norm::LInf, 2);
    let mut glare = 0u64;
    for y in by0..by1 {
        for x in bx0..bx1 {
            if mask.get_pixel(x, y).0[0] == 255 {
                glare += 1;
            }
        }
    }
    let glare_fraction = glare as f32 / n_f;
    let sharpness = laplacian_variance(&small, (bx0, by0, bx1, by1));

    let metrics = QualityMetrics {
        width,
        height,
        sharpness,
        mean_luma,
        dark_fraction,
        glare_fraction,
        coverage,
        card_width_px,
        skew_degrees,
        perspective,
        card_found: found.is_some(),
    };

    let mut issues = Vec::new();
    if mean_luma < MIN_MEAN_LUMA || dark_fraction > MAX_DARK_FRACTION {
        issues.push(QualityIssue {
            reason: RetakeReason::TooDark,
            detail: format!("mean luma {mean_luma:.0}, dark fraction {dark_fraction:.2}"),
        });
    }
    // The outline was dilated then pulled back by 2 px each: a card cut by the frame ends a few
    // pixels short of the edge.
    let margin = 6.0;
    let touches = quad_small
        .iter()
        .filter(|(x, y)| {
            *x <= margin || *y <= margin || *x >= sw - 1.0 - margin || *y >= sh - 1.0 - margin
        })
        .count();
    let aspect = card_width_px / card_height_px.max(1.0);
    let aspect_error = (aspect - ID1_ASPECT).abs() / ID1_ASPECT;
    if found.is_some() && touches >= 1 && aspect_error > MAX_ASPECT_ERROR {
        issues.push(QualityIssue {
            reason: RetakeReason::Cropped,
            detail: format!("card touches the frame edge, aspect {aspect:.2} vs {ID1_ASPECT:.2}"),
        });
    }
    if coverage < MIN_COVERAGE || card_width_px < MIN_CARD_WIDTH_PX {
        issues.push(QualityIssue {
            reason: RetakeReason::TooSmall,
            detail: format!(
                "card covers {:.0}% of the frame, {card_width_px:.0} px wide",
                coverage * 100.0
            ),
        });
    }
    if sharpness < MIN_SHARPNESS {
        issues.push(QualityIssue {
            reason: RetakeReason::Blur,
            detail: format!("sharpness {sharpness:.1} < {MIN_SHARPNESS}"),
        });
    }
    if glare_fraction > MAX_GLARE_FRACTION {
        issues.push(QualityIssue {
            reason: RetakeReason::Glare,
            detail: format!("{:.1}% of the card is saturated", glare_fraction * 100.0),
        });
    }
    QualityReport {
        ok: issues.is_empty(),
        issues,
        metrics,
        quad,
    }
}

/// The per-pixel minimum over R, G and B at analysis scale: glare is white in every channel,
/// whereas a bright yellow or cyan card background saturates only some.
fn glare_mask_source(img: &DynamicImage, w: u32, h: u32) -> GrayImage {
    let owned;
    let rgb = match img.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            owned = img.to_rgb8();
            &owned
        }
    };
    let (sw, sh) = rgb.dimensions();
    // Nearest keeps saturated pixels saturated (averaging would hide small highlights); the
    // photo is sampled directly, without a full-size copy.
    let (fx, fy) = (sw as f32 / w.max(1) as f32, sh as f32 / h.max(1) as f32);
    GrayImage::from_fn(w, h, |x, y| {
        let sx = (((x as f32 + 0.5) * fx) as u32).min(sw.saturating_sub(1));
        let sy = (((y as f32 + 0.5) * fy) as u32).min(sh.saturating_sub(1));
        let p = rgb.get_pixel(sx, sy).0;
        image::Luma([p[0].min(p[1]).min(p[2])])
    })
}

/// Variance of the 3×3 Laplacian over a rectangle.
pub fn laplacian_variance(gray: &GrayImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> f32 {
    let (mut n, mut s, mut s2) = (0f64, 0f64, 0f64);
    let x0 = x0.max(1);
    let y0 = y0.max(1);
    let x1 = x1.min(gray.width().saturating_sub(1));
    let y1 = y1.min(gray.height().saturating_sub(1));
    let raw = gray.as_raw();
    let w = gray.width() as usize;
    for y in y0..y1 {
        let row = y as usize * w;
        for x in x0..x1 {
            let i = row + x as usize;
            let v = raw[i - 1] as f64 + raw[i + 1] as f64 + raw[i - w] as f64 + raw[i + w] as f64
                - 4.0 * raw[i] as f64;
            n += 1.0;
            s += v;
            s2 += v * v;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = s / n;
    (s2 / n - mean * mean) as f32
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

fn polygon_area(q: &[(f32, f32); 4]) -> f32 {
    let mut a = 0.0;
    for i in 0..4 {
        let (x0, y0) = q[i];
        let (x1, y1) = q[(i + 1) % 4];
        a += x0 * y1 - x1 * y0;
    }
    (a / 2.0).abs()
}

fn bbox(q: &[(f32, f32); 4], w: u32, h: u32) -> (u32, u32, u32, u32) {
    let xs = q.iter().map(|p| p.0);
    let ys = q.iter().map(|p| p.1);
    let x0 = xs.clone().fold(f32::MAX, f32::min).max(0.0) as u32;
    let x1 = (xs.fold(f32::MIN, f32::max).ceil() as u32).min(w);
    let y0 = ys.clone().fold(f32::MAX, f32::min).max(0.0) as u32;
    let y1 = (ys.fold(f32::MIN, f32::max).ceil() as u32).min(h);
    // Shrink by 4 % so the card's own border and the background seam do not count.
    let dx = (x1.saturating_sub(x0)) / 25;
    let dy = (y1.saturating_sub(y0)) / 25;
    (
        x0 + dx,
        y0 + dy,
        x1.saturating_sub(dx).max(x0 + dx + 1),
        y1.saturating_sub(dy).max(y0 + dy + 1),
    )
}

/// Finds the card outline at analysis scale: Canny edges, dilated to close gaps, outer
/// contours, the largest convex hull, simplified to four corners (or its minimum-area
/// rectangle when the simplification does not give four). Corners are ordered top-left,
/// top-right, bottom-right, bottom-left, with the long side horizontal.
pub fn find_card_quad(gray: &GrayImage) -> Option<[(f32, f32); 4]> {
    let (w, h) = gray.dimensions();
    let edges = edge_map(gray);
    // A black frame around the map: an outline cut by the photo's edge must still be traced as
    // an outer border (border following needs background outside every blob).
    let mut framed = GrayImage::new(w + 2, h + 2);
    image::imageops::overlay(&mut framed, &edges, 1, 1);
    let contours: Vec<_> = imageproc::contours::find_contours::<i32>(&framed)
        .into_iter()
        .map(|mut c| {
            for p in c.points.iter_mut() {
                p.x = (p.x - 1).clamp(0, w as i32 - 1);
                p.y = (p.y - 1).clamp(0, h as i32 - 1);
            }
            c
        })
        .collect();
    let frame = (w * h) as f64;
    let mut best: Option<(f64, Vec<Point<i32>>)> = None;
    // Every significant blob's points, for the fallback below.
    let mut all_points: Vec<Point<i32>> = Vec::new();
    for c in contours
        .iter()
        .filter(|c| c.border_type == imageproc::contours::BorderType::Outer && c.points.len() > 40)
    {
        let hull = imageproc::geometry::convex_hull(c.points.clone());
        if hull.len() < 4 {
            continue;
        }
        let area = imageproc::geometry::contour_area(&hull);
        if area < frame * 0.002 {
            continue;
        }
        all_points.extend_from_slice(&hull);
        if area < frame * 0.01 {
            continue;
        }
        if best.as_ref().is_none_or(|(a, _)| area > *a) {
            best = Some((area, hull));
        }
    }
    let (_, hull) = best?;
    let mut corners = quad_of_hull(&hull);
    if !plausible(&corners) {
        // The simplification kept the wrong vertices (a cut corner has five): the minimum-area
        // rectangle of the same hull is the better four.
        corners = rect_of_hull(&hull);
    }
    if !plausible(&corners) {
        // The outline broke into pieces (a gap in the edges at one corner): the card is then
        // the hull of everything that was found, printed content included.
        let union = imageproc::geometry::convex_hull(all_points);
        if union.len() >= 4 {
            let c = quad_of_hull(&union);
            if plausible(&c) {
                corners = c;
            }
        }
    }
    // The dilation grew the outline by ~2 px; pull the corners back towards the centre.
    let cx = corners.iter().map(|p| p.0).sum::<f32>() / 4.0;
    let cy = corners.iter().map(|p| p.1).sum::<f32>() / 4.0;
    let corners: Vec<(f32, f32)> = corners
        .iter()
        .map(|&(x, y)| {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt().max(1.0);
            (
                (x - (x - cx) / d * 2.0).clamp(0.0, w as f32 - 1.0),
                (y - (y - cy) / d * 2.0).clamp(0.0, h as f32 - 1.0),
            )
        })
        .collect();
    Some(order_corners([
        corners[0], corners[1], corners[2], corners[3],
    ]))
}

/// Four corners of a convex hull: its 4-vertex simplification, or its minimum-area rectangle.
fn quad_of_hull(hull: &[Point<i32>]) -> Vec<(f32, f32)> {
    let perimeter = imageproc::geometry::arc_length(hull, true);
    let approx = imageproc::geometry::approximate_polygon_dp(hull, perimeter * 0.02, true);
    if approx.len() == 4 {
        approx.iter().map(|p| (p.x as f32, p.y as f32)).collect()
    } else {
        imageproc::geometry::min_area_rect(hull)
            .iter()
            .map(|p| (p.x as f32, p.y as f32))
            .collect()
    }
}

fn rect_of_hull(hull: &[Point<i32>]) -> Vec<(f32, f32)> {
    imageproc::geometry::min_area_rect(hull)
        .iter()
        .map(|p| (p.x as f32, p.y as f32))
        .collect()
}

/// A card seen by a hand-held camera: opposite sides within 40 % of each other.
fn plausible(c: &[(f32, f32)]) -> bool {
    if c.len() != 4 {
        return false;
    }
    let q = order_corners([c[0], c[1], c[2], c[3]]);
    let (top, bottom) = (dist(q[0], q[1]), dist(q[3], q[2]));
    let (left, right) = (dist(q[0], q[3]), dist(q[1], q[2]));
    top.min(bottom) / top.max(bottom).max(1.0) > 0.6
        && left.min(right) / left.max(right).max(1.0) > 0.6
}

/// The edge map the card outline is searched in (Canny on a lightly blurred copy, dilated by
/// 2 px to close gaps). Public so tools can show what the gate saw.
pub fn edge_map(gray: &GrayImage) -> GrayImage {
    let blurred = imageproc::filter::gaussian_blur_f32(gray, 1.2);
    let edges = imageproc::edges::canny(&blurred, 20.0, 60.0);
    imageproc::morphology::dilate(&edges, imageproc::distance_transform::Norm::LInf, 2)
}

/// Orders four points as top-left, top-right, bottom-right, bottom-left, turning the quad so
/// its long side is horizontal (a card photographed in portrait orientation).
pub fn order_corners(pts: [(f32, f32); 4]) -> [(f32, f32); 4] {
    let cx = pts.iter().map(|p| p.0).sum::<f32>() / 4.0;
    let cy = pts.iter().map(|p| p.1).sum::<f32>() / 4.0;
    let mut v = pts.to_vec();
    // Clockwise in image coordinates (y down), starting from the angle of the top-left.
    v.sort_by(|a, b| {
        let aa = (a.1 - cy).atan2(a.0 - cx);
        let ab = (b.1 - cy).atan2(b.0 - cx);
        aa.total_cmp(&ab)
    });
    // Start with the point with the smallest x + y (top-left).
    let start = (0..4)
        .min_by(|&i, &j| (v[i].0 + v[i].1).total_cmp(&(v[j].0 + v[j].1)))
        .unwrap_or(0);
    let mut q = [
        v[start],
        v[(start + 1) % 4],
        v[(start + 2) % 4],
        v[(start + 3) % 4],
    ];
    let top = dist(q[0], q[1]);
    let left = dist(q[0], q[3]);
    if left > top * 1.05 {
        // Portrait: rotate the labels so the long side reads left to right.
        q = [q[3], q[0], q[1], q[2]];
    }
    q
}

/// Warps the card quad (original pixels) onto an upright [`CARD_WIDTH`]×[`CARD_HEIGHT`] image.
pub fn rectify(img: &DynamicImage, quad: &[(f32, f32); 4]) -> RgbImage {
    let rgb = img.to_rgb8();
    let target = [
        (0.0, 0.0),
        (CARD_WIDTH as f32 - 1.0, 0.0),
        (CARD_WIDTH as f32 - 1.0, CARD_HEIGHT as f32 - 1.0),
        (0.0, CARD_HEIGHT as f32 - 1.0),
    ];
    let mut out = RgbImage::new(CARD_WIDTH, CARD_HEIGHT);
    match Projection::from_control_points(*quad, target) {
        Some(p) => warp_into(
            &rgb,
            p,
            Interpolation::Bilinear,
            Border::Replicate,
            &mut out,
        ),
        None => out = image::imageops::resize(&rgb, CARD_WIDTH, CARD_HEIGHT, FilterType::Triangle),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn card_scene(dark: bool) -> DynamicImage {
        // A textured card on a plain background, no text: enough to exercise the quad finder.
        let mut img = RgbImage::from_pixel(800, 600, image::Rgb([60, 70, 80]));
        for y in 150..450 {
            for x in 150..626 {
                let v = if (x / 7 + y / 5) % 2 == 0 { 220 } else { 120 };
                img.put_pixel(x, y, image::Rgb([v, v, v - 20]));
            }
        }
        if dark {
            for p in img.pixels_mut() {
                p.0 = p.0.map(|c| c / 12);
            }
        }
        DynamicImage::ImageRgb8(img)
    }

    #[test]
    fn finds_the_card_and_its_coverage() {
        let r = assess(&card_scene(false));
        assert!(r.metrics.card_found);
        assert!((r.metrics.coverage - 0.297).abs() < 0.03, "{:?}", r.metrics);
        assert!(r.metrics.skew_degrees.abs() < 1.0);
        assert!(!r.issues.iter().any(|i| i.reason == RetakeReason::Cropped));
    }

    #[test]
    fn card_cut_by_the_frame_is_cropped() {
        let mut img = RgbImage::from_pixel(800, 600, image::Rgb([80, 70, 60]));
        // A card 560 px wide whose left third is outside the frame.
        for y in 200..553 {
            for x in 0..370 {
                let v = if (x / 9 + y / 7) % 5 == 0 { 40 } else { 225 };
                img.put_pixel(x, y, image::Rgb([v, v, v]));
            }
        }
        let r = assess(&DynamicImage::ImageRgb8(img));
        assert!(r.metrics.card_found, "{:?}", r.metrics);
        assert_eq!(
            r.retake().map(|i| i.reason),
            Some(RetakeReason::Cropped),
            "{:?} {:?}",
            r.metrics,
            r.quad
        );
    }

    #[test]
    fn dark_scene_is_too_dark() {
        let r = assess(&card_scene(true));
        assert_eq!(r.retake().map(|i| i.reason), Some(RetakeReason::TooDark));
    }

    #[test]
    fn flat_image_is_blurred() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(
            1600,
            1000,
            image::Rgb([128, 128, 128]),
        ));
        let r = assess(&img);
        assert!(r.issues.iter().any(|i| i.reason == RetakeReason::Blur));
    }

    proptest! {
        #[test]
        fn corner_order_is_stable_under_permutation(rot in 0usize..4, dx in -30f32..30.0, dy in -20f32..20.0) {
            let q = [(100.0 + dx, 100.0 + dy), (500.0, 90.0), (510.0, 350.0), (95.0, 340.0)];
            let mut p = q;
            p.rotate_left(rot);
            prop_assert_eq!(order_corners(p), q);
        }

        #[test]
        fn laplacian_of_constant_is_zero(v in 0u8..=255) {
            let g = GrayImage::from_pixel(20, 20, image::Luma([v]));
            prop_assert_eq!(laplacian_variance(&g, (0, 0, 20, 20)), 0.0);
        }
    }
}
