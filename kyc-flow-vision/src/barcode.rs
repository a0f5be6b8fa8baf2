//! Barcodes on ID cards: reading PDF417 and QR with rxing, robust to hand-held skew, and
//! writing them for the synthetic sample generator.
//!
//! Two facts drive the design (measured, see the vision notes): rxing's PDF417 reader fails
//! from about 4° of skew, and in a photo of a card in perspective the symbol is small (1.5–3 px
//! per module) and slanted, so when the straight attempt finds nothing the symbol is first cut
//! out where it lies and squared up ([`pdf417_candidates`]), then the whole image is retried at
//! ±2…±10°; and with every format enabled a rotated PDF417 was once read as a false UPC-A, so
//! callers pass only the formats the document template expects.

use image::{GrayImage, Luma};
use imageproc::geometric_transformations::{Border, Interpolation, rotate_about_center};
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, EncodeHints, Luma8LuminanceSource, Reader, Writer,
    common::HybridBinarizer,
};
use serde::Serialize;
use std::collections::HashSet;

/// The barcode symbologies found on the supported ID cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Symbology {
    /// Colombian cédula (back), Argentine DNI (front).
    Pdf417,
    /// MX INE (back), Colombian cédula digital.
    Qr,
}

impl Symbology {
    /// The name used in `inspect image` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf417 => "pdf417",
            Self::Qr => "qr",
        }
    }

    fn rxing(self) -> BarcodeFormat {
        match self {
            Self::Pdf417 => BarcodeFormat::PDF_417,
            Self::Qr => BarcodeFormat::QR_CODE,
        }
    }
}

/// One decoded barcode. `bytes` is the payload as bytes (byte-mode data comes back from rxing
/// as an ISO-8859-1 string, which is mapped back byte for byte). PII: never logged.
#[derive(Clone, PartialEq)]
pub struct DecodedBarcode {
    /// Which symbology.
    pub symbology: Symbology,
    /// The payload bytes.
    pub bytes: Vec<u8>,
    /// The payload as text when it is printable UTF-8.
    pub text: Option<String>,
    /// The rotation (degrees) at which it decoded; 0 for a straight read.
    pub angle: f32,
}

impl std::fmt::Debug for DecodedBarcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedBarcode")
            .field("symbology", &self.symbology)
            .field("len", &self.bytes.len())
            .field("angle", &self.angle)
            .finish()
    }
}

impl DecodedBarcode {
    /// The `inspect image` JSON: `{"format", "text"}` or `{"format", "bytes_hex"}`, and for a
    /// QR its [`QrContent`] as `content`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = match &self.text {
            Some(t) => {
                serde_json::json!({"format": self.symbology.as_str(), "text": t, "angle": self.angle})
            }
            None => serde_json::json!({
                "format": self.symbology.as_str(),
                "bytes_hex": self.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "angle": self.angle,
            }),
        };
        if self.symbology == Symbology::Qr {
            v["content"] = serde_json::to_value(qr_content(&self.bytes)).unwrap_or_default();
        }
        v
    }
}

/// What a QR payload holds, as far as it can be told without the issuer's format or keys.
///
/// Neither card's QR has a public format: the Colombian digital cédula's QR (on the
/// Registraduría specimen) is 768 characters of base64 for 576 high-entropy bytes, i.e. signed or
/// encrypted data that only the issuer's tools read; by INE's public description the 2019+
/// credential's back carries two linked high-density QRs readable only with INE's tools and a
/// small one that opens INE's web site. So the reader classifies the payload and reports it
/// raw; it parses no field out of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QrContent {
    /// A web link.
    Url {
        /// The link's scheme and host (the path may carry an identifier: not repeated).
        origin: String,
    },
    /// Base64 text of binary data.
    Base64 {
        /// Decoded length.
        bytes: usize,
        /// Shannon entropy of the decoded bytes is near the maximum for their length:
        /// encrypted, signed or compressed data, opaque without the issuer's format.
        opaque: bool,
    },
    /// Other printable text, reported raw.
    Text,
    /// Other binary data, reported raw.
    Binary,
}

/// Classifies a QR payload (see [`QrContent`]).
pub fn qr_content(bytes: &[u8]) -> QrContent {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return QrContent::Binary;
    };
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if (lower.starts_with("https://") || lower.starts_with("http://")) && !t.contains(' ') {
        let after = t.split_once("://").map_or("", |(_, r)| r);
        let host = after.split(['/', '?', '#']).next().unwrap_or("");
        let scheme = &t[..t.find("://").unwrap_or(0)];
        return QrContent::Url {
            origin: format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ),
        };
    }
    if t.len() >= 24
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(t)
    {
        return QrContent::Base64 {
            bytes: decoded.len(),
            opaque: high_entropy(&decoded),
        };
    }
    if t.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
    {
        QrContent::Text
    } else {
        QrContent::Binary
    }
}

/// Entropy of the byte histogram at least 85 % of the most `data`'s length allows: random
/// bytes reach 96 % (576 bytes: 7.7 of 8 bits), text and structured records with fillers
/// stay near 60 % (base64 of ASCII text: 4.5–5 bits).
fn high_entropy(data: &[u8]) -> bool {
    if data.len() < 16 {
        return false;
    }
    let mut counts = [0usize; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    // The most a sample of n bytes can show.
    h >= 0.85 * n.min(256.0).log2()
}

/// The angles tried, in order, when the straight read fails (degrees).
pub const RETRY_ANGLES: [f32; 10] = [2.0, -2.0, 4.0, -4.0, 6.0, -6.0, 8.0, -8.0, 10.0, -10.0];

/// Decodes every expected symbology in `gray`: straight first; a missing PDF417 again at
/// [`RETRY_ANGLES`]; a missing QR again on the image upscaled 2× when it is at most
/// [`QR_UPSCALE_MAX_SIDE`] pixels long. Returns at most one barcode per symbology.
pub fn decode(gray: &GrayImage, expected: &[Symbology]) -> Vec<DecodedBarcode> {
    decode_views(&[gray], expected)
}

/// Each expected symbology read straight from `gray` (no cut-out, turn or upscale retry): at
/// most one barcode per symbology.
pub fn decode_straight(gray: &GrayImage, expected: &[Symbology]) -> Vec<DecodedBarcode> {
    expected
        .iter()
        .filter_map(|&s| decode_one(gray, s))
        .collect()
}

/// [`decode`] over several views of the same photo, the least resampled first (the photo as
/// decoded, turned upright) and the one the angle and QR retries use last (the page as the
/// reader levelled or rectified it): every resampling blurs modules that are only 1.5–3 px
/// wide, so a symbol the photo's own pixels give straight may be lost on a levelled or
/// rectified page. Each view is read straight, then a missing PDF417 is cut out of the first
/// view that shows one ([`pdf417_candidates`]), then the last view is turned by
/// [`RETRY_ANGLES`].
pub fn decode_views(views: &[&GrayImage], expected: &[Symbology]) -> Vec<DecodedBarcode> {
    let Some(last) = views.last() else {
        return vec![];
    };
    let mut found: Vec<DecodedBarcode> = expected
        .iter()
        .filter_map(|&s| views.iter().find_map(|v| decode_one(v, s)))
        .collect();
    let missing = |found: &[DecodedBarcode], s: Symbology| {
        expected.contains(&s) && !found.iter().any(|f| f.symbology == s)
    };
    // QR detectors find the symbol at any angle; rxing's PDF417 reader does not. First the
    // symbol cut out and squared up where it is (a card in perspective), then the whole image
    // at angles.
    // The cut-outs of the first view that shows a candidate only: another view shows the
    // same symbol, resampled once more.
    if missing(&found, Symbology::Pdf417)
        && let Some(crops) = views
            .iter()
            .map(|v| pdf417_candidates(v))
            .find(|c| !c.is_empty())
        && let Some(b) = crops.iter().find_map(|c| decode_one(c, Symbology::Pdf417))
    {
        found.push(b);
    }
    if missing(&found, Symbology::Pdf417) {
        for angle in RETRY_ANGLES {
            let rotated = rotate_about_center(
                last,
                angle.to_radians(),
                Interpolation::Bilinear,
                Border::Replicate,
            );
            if let Some(b) = decode_one(&rotated, Symbology::Pdf417) {
                found.push(DecodedBarcode { angle, ..b });
                break;
            }
        }
    }
    // A dense QR (the Colombian digital cédula's: about 1.3 px per module in a 543 px wide
    // photo of the back) needs about 2 px per module to be found and sampled.
    if missing(&found, Symbology::Qr) && last.width().max(last.height()) <= QR_UPSCALE_MAX_SIDE {
        let up = image::imageops::resize(
            *last,
            last.width() * 2,
            last.height() * 2,
            image::imageops::FilterType::CatmullRom,
        );
        found.extend(decode_one(&up, Symbology::Qr));
    }
    found
}

/// The long side of the image the PDF417 symbol is looked for in (the search needs only the
/// symbol's outline, not its modules).
const PDF417_SEARCH_SIDE: u32 = 800;
/// Pixels per module the cut-out symbol is scaled to at least (a card in a 1600 px photo
/// prints its PDF417 at 1.5–3 px per module, too few to sample once squared up).
const PDF417_MIN_WIDTH_PX: f32 = 1200.0;
/// How many blobs are tried, largest first.
const PDF417_CANDIDATES: usize = 2;

/// Where a PDF417 symbol may be, each cut out of `gray` and squared up: blobs dense in sharp
/// vertical edges (a symbol's bars), at least 1 % of the image, two to twelve times as long as
/// they are tall; the four corners of each blob's convex hull (its minimum-area rectangle when
/// the hull does not simplify to four) are mapped to an upright rectangle with a quiet zone,
/// scaled up to at least [`PDF417_MIN_WIDTH_PX`] wide. Each blob gives that cut-out, preceded
/// by the symbol cut out again from `gray` through its own edges fitted on it
/// ([`symbol_edges`]) at [`PDF417_REFINED_WIDTH_PX`] wide, when they fit. Largest blob first.
pub fn pdf417_candidates(gray: &GrayImage) -> Vec<GrayImage> {
    use imageproc::point::Point;
    let (w, h) = gray.dimensions();
    if w < 64 || h < 64 {
        return vec![];
    }
    let f = (PDF417_SEARCH_SIDE as f32 / w.max(h) as f32).min(1.0);
    let small = if f < 1.0 {
        image::imageops::thumbnail(gray, (w as f32 * f) as u32, (h as f32 * f) as u32)
    } else {
        gray.clone()
    };
    let (sw, sh) = small.dimensions();
    // Sharp horizontal changes of brightness: the bars' edges (and text's strokes).
    let mut edges = GrayImage::new(sw, sh);
    for y in 0..sh {
        for x in 1..sw - 1 {
            let d = (small.get_pixel(x + 1, y).0[0] as i32 - small.get_pixel(x - 1, y).0[0] as i32)
                .abs();
            if d > 40 {
                edges.put_pixel(x, y, Luma([255]));
            }
        }
    }
    // Dense in edges over a window a little taller than a text line: bars fill it, a line of
    // text half fills it at most.
    let r = (sw.max(sh) / 100).max(3);
    let density = imageproc::filter::box_filter(&edges, r, r);
    let mut dense = density;
    for p in dense.pixels_mut() {
        p.0[0] = if p.0[0] > 110 { 255 } else { 0 };
    }
    let labels = imageproc::region_labelling::connected_components(
        &dense,
        imageproc::region_labelling::Connectivity::Eight,
        Luma([0u8]),
    );
    let mut blobs: std::collections::HashMap<u32, Vec<Point<i32>>> = Default::default();
    for (x, y, p) in labels.enumerate_pixels() {
        if p.0[0] != 0 {
            blobs
                .entry(p.0[0])
                .or_default()
                .push(Point::new(x as i32, y as i32));
        }
    }
    let min_area = (sw * sh) as usize / 100;
    let mut blobs: Vec<Vec<Point<i32>>> = blobs
        .into_values()
        .filter(|b| b.len() >= min_area)
        .collect();
    blobs.sort_by_key(|b| std::cmp::Reverse(b.len()));
    let dist = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let mut out = Vec::new();
    for blob in blobs {
        if out.len() >= PDF417_CANDIDATES {
            break;
        }
        let hull = imageproc::geometry::convex_hull(blob.clone());
        if hull.len() < 3 {
            continue;
        }
        let perimeter = imageproc::geometry::arc_length(&hull, true);
        let approx = imageproc::geometry::approximate_polygon_dp(&hull, perimeter * 0.02, true);
        let corners: Vec<(f32, f32)> = if approx.len() == 4 {
            approx.iter().map(|p| (p.x as f32, p.y as f32)).collect()
        } else {
            imageproc::geometry::min_area_rect(&hull)
                .iter()
                .map(|p| (p.x as f32, p.y as f32))
                .collect()
        };
        // Top-left, top-right, bottom-right, bottom-left, the long side across (a symbol is
        // wider than tall), as the card outline is ordered.
        let Ok(four) = <[(f32, f32); 4]>::try_from(corners.as_slice()) else {
            continue;
        };
        let quad = crate::quality::order_corners(four);
        let long = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
        let tall = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
        if tall < 4.0 || !(2.0..=12.0).contains(&(long / tall)) {
            continue;
        }
        // Back to the full image's pixels; the box filter grew the blob by about `r`.
        let quad = quad.map(|(x, y)| (x / f, y / f));
        let s = (PDF417_MIN_WIDTH_PX / (long / f)).max(1.0);
        let (tw, th) = (long / f * s, tall / f * s);
        let (mx, my) = (0.08 * tw, 0.15 * th);
        let Some((crop, p)) = cut_upright(gray, quad, (tw, th), (mx, my), Interpolation::Bilinear)
        else {
            continue;
        };
        // The blob's outline is rounded by the density window, so its corners are only near
        // the symbol's: the edges fitted on the cut-out give them exactly, and the symbol is
        // then cut out again from the photo's own pixels (one resampling, not two), larger.
        if let Some(q) = symbol_edges(&crop, (mx, my)) {
            let inv = p.invert();
            let quad = q.map(|c| inv * c);
            let long = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
            let tall = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
            let s = (PDF417_REFINED_WIDTH_PX / long).max(1.0);
            let (tw, th) = (long * s, tall * s);
            let margin = (0.05 * tw, 0.12 * th);
            if let Some((fine, _)) =
                cut_upright(gray, quad, (tw, th), margin, Interpolation::Bicubic)
            {
                out.push(fine);
            }
        }
        out.push(crop);
    }
    out
}

/// The width the symbol is cut out at once its edges are fitted: about 5 px per module for
/// the yellow cédula's symbol (about 430 modules across). The blob's cut-out (1,200 px, under
/// 3 px per module, and slanted) did not decode on the randomised photos this was measured on
/// (seeds 1, 2, 7, 11) where this one did.
const PDF417_REFINED_WIDTH_PX: f32 = 2000.0;

/// `quad` (corners from the top left, clockwise, in `gray`'s pixels) warped onto an upright
/// rectangle of `size` with a white `margin` around it, and the projection used.
fn cut_upright(
    gray: &GrayImage,
    quad: [(f32, f32); 4],
    (tw, th): (f32, f32),
    (mx, my): (f32, f32),
    interpolation: Interpolation,
) -> Option<(GrayImage, imageproc::geometric_transformations::Projection)> {
    let target = [(mx, my), (mx + tw, my), (mx + tw, my + th), (mx, my + th)];
    let p = imageproc::geometric_transformations::Projection::from_control_points(quad, target)?;
    let mut out = GrayImage::new((tw + 2.0 * mx) as u32, (th + 2.0 * my) as u32);
    imageproc::geometric_transformations::warp_into(
        gray,
        p,
        interpolation,
        Border::Constant(Luma([255])),
        &mut out,
    );
    Some((out, p))
}
/// The longest stretch of `range` where `on` holds, gaps of up to `gap` bridged: its first and
/// last positions (`(0, 0)` when `on` never holds).
fn longest_run(range: std::ops::Range<u32>, gap: u32, on: impl Fn(u32) -> bool) -> (u32, u32) {
    let (mut best, mut start, mut last) = ((0u32, 0u32), None::<u32>, 0u32);
    for i in range {
        if on(i) {
            if start.is_none() || i > last + gap {
                start = Some(i);
            }
            last = i;
            let s = start.unwrap_or(i);
            if i - s > best.1 - best.0 {
                best = (s, i);
            }
        }
    }
    best
}

/// The symbol's corners in a roughly squared-up cut-out (`margin`: the quiet border the cut-out
/// was given around the blob, x and y): its top and bottom edges and the outer edges of its
/// start and stop patterns, each a line fitted through where the dark modules start and end,
/// column by column and row by row (a run that reaches the cut-out's border, a dark
/// background or a word cut by it, is not the symbol's). `None` when an edge cannot be fitted
/// or a corner lies more than 1.5 margins from the blob's.
fn symbol_edges(crop: &GrayImage, margin: (f32, f32)) -> Option<[(f32, f32); 4]> {
    let (w, h) = crop.dimensions();
    if w < 64 || h < 32 {
        return None;
    }
    // Dark: below the midpoint of the cut-out's 5th and 95th brightness percentiles.
    let mut hist = [0usize; 256];
    for p in crop.pixels() {
        hist[p.0[0] as usize] += 1;
    }
    let n = (w * h) as f32;
    let pct = |q: f32| {
        let mut acc = 0usize;
        for (v, c) in hist.iter().enumerate() {
            acc += c;
            if acc as f32 >= q * n {
                return v as u32;
            }
        }
        255
    };
    let thr = ((pct(0.05) + pct(0.95)) / 2) as u8;
    // The whole cut-out, but a run that reaches its border is not the symbol's (a dark
    // background beyond the card, a neighbouring word cut by the border).
    let (x_lo, x_hi, y_lo, y_hi) = (1, w - 1, 1, h - 1);
    let dark = |x: u32, y: u32| crop.get_pixel(x, y).0[0] < thr;
    // Top and bottom per column: the longest run of rows at least 15 % dark over a few
    // columns (a space is at most 6 modules wide), gaps of a few rows bridged.
    let win = (w / 100).max(3);
    let gap = (h / 40).max(2);
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    let mut x = w / 8;
    while x < w - w / 8 {
        let (x0, x1) = (x.saturating_sub(win), (x + win).min(w - 1));
        let best = longest_run(y_lo..y_hi, gap, |y| {
            (x0..=x1).filter(|&xx| dark(xx, y)).count() as u32 * 100 >= 15 * (x1 - x0 + 1)
        });
        if best.1 > best.0 + (y_hi - y_lo) / 3 && best.0 > y_lo && best.1 + 1 < y_hi {
            top.push((x as f32, best.0 as f32));
            bottom.push((x as f32, best.1 as f32 + 1.0));
        }
        x += (w / 60).max(1);
    }
    let ya = median(top.iter().map(|p| p.1))? as u32;
    let yb = median(bottom.iter().map(|p| p.1))? as u32;
    // Left and right per row inside the symbol's height: the ends of the row's longest
    // stretch of dark modules, spaces of up to about 6 modules bridged.
    let span = yb.saturating_sub(ya);
    let hgap = (w / 50).max(4);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut y = ya + span / 8;
    while y < yb.saturating_sub(span / 8) {
        let best = longest_run(x_lo..x_hi, hgap, |x| dark(x, y));
        if best.1 > best.0 + (x_hi - x_lo) / 3 && best.0 > x_lo && best.1 + 1 < x_hi {
            left.push((y as f32, best.0 as f32));
            right.push((y as f32, best.1 as f32 + 1.0));
        }
        y += (span / 30).max(1);
    }
    let (t, b) = (fit_line(&top)?, fit_line(&bottom)?);
    let (l, r) = (fit_line(&left)?, fit_line(&right)?);
    // Where y = a + b·x meets x = c + d·y.
    let meet = |hz: (f32, f32), vt: (f32, f32)| {
        let x = (vt.0 + vt.1 * hz.0) / (1.0 - vt.1 * hz.1);
        (x, hz.0 + hz.1 * x)
    };
    let quad = [meet(t, l), meet(t, r), meet(b, r), meet(b, l)];
    let blob = [
        (margin.0, margin.1),
        (w as f32 - margin.0, margin.1),
        (w as f32 - margin.0, h as f32 - margin.1),
        (margin.0, h as f32 - margin.1),
    ];
    let near = quad.iter().zip(blob).all(|(q, c)| {
        q.0.is_finite()
            && q.1.is_finite()
            && (q.0 - c.0).abs() <= 1.5 * margin.0
            && (q.1 - c.1).abs() <= 1.5 * margin.1
    });
    near.then_some(quad)
}

fn median(v: impl Iterator<Item = f32>) -> Option<f32> {
    let mut v: Vec<f32> = v.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// The line `v = a + b·u` through `(u, v)` points by least squares, fitted on the points near
/// their median first, then again on those within three median residuals of that fit (a
/// word beside the symbol, a notch in its edge).
fn fit_line(pts: &[(f32, f32)]) -> Option<(f32, f32)> {
    fn least_squares(pts: &[(f32, f32)]) -> Option<(f32, f32)> {
        if pts.len() < 4 {
            return None;
        }
        let n = pts.len() as f32;
        let mu = pts.iter().map(|p| p.0).sum::<f32>() / n;
        let mv = pts.iter().map(|p| p.1).sum::<f32>() / n;
        let suu: f32 = pts.iter().map(|p| (p.0 - mu).powi(2)).sum();
        let suv: f32 = pts.iter().map(|p| (p.0 - mu) * (p.1 - mv)).sum();
        if suu <= f32::EPSILON {
            return None;
        }
        let b = suv / suu;
        Some((mv - b * mu, b))
    }
    let m = median(pts.iter().map(|p| p.1))?;
    let dev = median(pts.iter().map(|p| (p.1 - m).abs()))?.max(1.0);
    let core: Vec<(f32, f32)> = pts
        .iter()
        .copied()
        .filter(|p| (p.1 - m).abs() <= 3.0 * dev + 2.0)
        .collect();
    let (a, b) = least_squares(&core)?;
    let residual = |p: &(f32, f32)| (p.1 - a - b * p.0).abs();
    let mr = median(pts.iter().map(residual))?.max(0.5);
    let inliers: Vec<(f32, f32)> = pts
        .iter()
        .copied()
        .filter(|p| residual(p) <= 3.0 * mr)
        .collect();
    least_squares(&inliers)
}

/// The longest image side for which a missing QR is looked for again at twice the size (the
/// reader's working images are at most 2,200 px long).
pub const QR_UPSCALE_MAX_SIDE: u32 = 2200;

fn decode_one(gray: &GrayImage, symbology: Symbology) -> Option<DecodedBarcode> {
    let source =
        Luma8LuminanceSource::new(gray.as_raw().clone(), gray.width(), gray.height()).ok()?;
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let hints = DecodeHints {
        PossibleFormats: Some(HashSet::from([symbology.rxing()])),
        TryHarder: Some(true),
        ..Default::default()
    };
    let result = match symbology {
        Symbology::Pdf417 => rxing::pdf417::PDF417Reader.decode_with_hints(&mut bitmap, &hints),
        // rxing's port of zxing-cpp's QR reader first: measured on the Colombian digital
        // cédula's specimen back at the reader's working scale (1,400 px), it decodes the QR
        // where the port of the Java reader (`QRCodeReader`) finds no finder patterns with
        // either binarizer (that one needs the image 4× the original); the Java port stays
        // as the fallback.
        Symbology::Qr => rxing::qrcode::cpp_port::QrReader
            .decode_with_hints(&mut bitmap, &hints)
            .or_else(|_| rxing::qrcode::QRCodeReader.decode_with_hints(&mut bitmap, &hints)),
    }
    .ok()?;
    let text = result.getText();
    // Byte-mode payloads arrive as ISO-8859-1 text: every char is one byte. Anything above
    // U+00FF means the symbol carried real Unicode text, kept as UTF-8.
    let bytes: Vec<u8> = if text.chars().all(|c| (c as u32) <= 0xFF) {
        text.chars().map(|c| c as u32 as u8).collect()
    } else {
        text.as_bytes().to_vec()
    };
    let printable = std::str::from_utf8(&bytes)
        .ok()
        .filter(|s| {
            s.chars()
                .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        })
        .map(str::to_owned);
    Some(DecodedBarcode {
        symbology,
        bytes,
        text: printable,
        angle: 0.0,
    })
}

/// Errors from the barcode writers (used by the sample generator).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarcodeError {
    /// The payload does not fit the symbology (permanent).
    #[error("barcode could not be encoded: {0}")]
    Encode(String),
}

/// Renders `payload` (binary, byte compaction) as a PDF417 symbol, `module` pixels per module
/// (rows are three modules high, as ID cards print them).
pub fn encode_pdf417(payload: &[u8], module: u32) -> Result<GrayImage, BarcodeError> {
    // Byte compaction of an ISO-8859-1 string is the way to put arbitrary bytes through
    // rxing's string-based writer.
    let contents: String = payload.iter().map(|&b| b as char).collect();
    let hints = EncodeHints {
        CharacterSet: Some("ISO-8859-1".into()),
        Pdf417Compaction: Some("2".into()), // BYTE
        ErrorCorrection: Some("3".into()),
        Margin: Some("0".into()),
        ..Default::default()
    };
    let m = rxing::pdf417::PDF417Writer
        .encode_with_hints(&contents, &BarcodeFormat::PDF_417, 0, 0, &hints)
        .map_err(|e| BarcodeError::Encode(e.to_string()))?;
    Ok(render(&m, module, 4))
}

/// Renders `text` as a QR code, `module` pixels per module.
pub fn encode_qr(text: &str, module: u32) -> Result<GrayImage, BarcodeError> {
    let hints = EncodeHints {
        ErrorCorrection: Some("M".into()),
        Margin: Some("0".into()),
        ..Default::default()
    };
    let m = rxing::qrcode::QRCodeWriter
        .encode_with_hints(text, &BarcodeFormat::QR_CODE, 0, 0, &hints)
        .map_err(|e| BarcodeError::Encode(e.to_string()))?;
    Ok(render(&m, module, 4))
}

/// Scales a bit matrix to pixels with a white quiet zone of `quiet` modules.
fn render(m: &rxing::common::BitMatrix, module: u32, quiet: u32) -> GrayImage {
    let (w, h) = (m.width(), m.height());
    // The PDF417 writer returns one matrix row per symbol row; stretch rows 3× vertically so
    // the symbol has the usual row height.
    let row_scale = if h * 3 < w / 2 { 3 } else { 1 };
    let out_w = (w + 2 * quiet) * module;
    let out_h = (h * row_scale + 2 * quiet) * module;
    GrayImage::from_fn(out_w, out_h, |x, y| {
        let mx = x / module;
        let my = y / module;
        if mx < quiet || my < quiet || mx >= w + quiet || my >= h * row_scale + quiet {
            return Luma([255]);
        }
        if m.get(mx - quiet, (my - quiet) / row_scale) {
            Luma([0])
        } else {
            Luma([255])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_canvas(symbol: &GrayImage, angle: f32) -> GrayImage {
        let mut canvas =
            GrayImage::from_pixel(symbol.width() + 200, symbol.height() + 200, Luma([235]));
        image::imageops::overlay(&mut canvas, symbol, 100, 100);
        if angle == 0.0 {
            canvas
        } else {
            rotate_about_center(
                &canvas,
                angle.to_radians(),
                Interpolation::Bilinear,
                Border::Constant(Luma([235])),
            )
        }
    }

    #[test]
    fn pdf417_binary_payload_round_trips_byte_exact() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(531).collect();
        let sym = encode_pdf417(&payload, 2).unwrap();
        let got = decode(&on_canvas(&sym, 0.0), &[Symbology::Pdf417]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bytes, payload);
        assert_eq!(got[0].text, None);
    }

    #[test]
    fn skewed_pdf417_is_read_by_squaring_it_up_or_retrying_angles() {
        // A 300-byte binary payload (like the Colombian cédula's) at 8°: the straight read fails.
        let payload: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let sym = encode_pdf417(&payload, 2).unwrap();
        let img = on_canvas(&sym, 8.0);
        assert!(decode_one(&img, Symbology::Pdf417).is_none());
        let got = decode(&img, &[Symbology::Pdf417]);
        assert_eq!(got.len(), 1, "not decoded at 8 degrees");
        assert_eq!(got[0].bytes, payload);
        // The symbol cut out where it lies and squared up reads without turning the image.
        let crops = pdf417_candidates(&img);
        assert!(!crops.is_empty(), "no PDF417 candidate found");
        assert!(
            crops
                .iter()
                .any(|c| decode_one(c, Symbology::Pdf417).is_some_and(|b| b.bytes == payload))
        );
        // The angle retries still read it on their own (a symbol the cut-out misses).
        let turned = rotate_about_center(
            &img,
            (-8.0f32).to_radians(),
            Interpolation::Bilinear,
            Border::Replicate,
        );
        assert!(decode_one(&turned, Symbology::Pdf417).is_some());
    }

    /// Where each row's first and last dark pixel are, in the rows of the middle half of the
    /// image, and each column's first and last dark pixel in its middle half: the spread of
    /// each (max − min, px) says how far the symbol's edges are from upright.
    fn edge_spreads(img: &GrayImage) -> [u32; 4] {
        let (w, h) = img.dimensions();
        let dark = |x: u32, y: u32| img.get_pixel(x, y).0[0] < 128;
        let spread = |v: Vec<u32>| v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0);
        let rows: Vec<u32> = (h / 4..3 * h / 4).collect();
        let g = (w / 25).max(1);
        let cols: Vec<u32> = (w / 4..3 * w / 4).step_by(g as usize).collect();
        let left = rows
            .iter()
            .filter_map(|&y| (0..w).find(|&x| dark(x, y)))
            .collect();
        let right = rows
            .iter()
            .filter_map(|&y| (0..w).rev().find(|&x| dark(x, y)))
            .collect();
        // A column's first dark pixel may be a row or two down (a space on the top row):
        // columns are taken in groups of a 25th of the width (wider than any space), each
        // group's first dark pixel.
        let top = cols
            .iter()
            .filter_map(|&x| (0..h).find(|&y| (x..(x + g).min(w)).any(|xx| dark(xx, y))))
            .collect();
        let bottom = cols
            .iter()
            .filter_map(|&x| {
                (0..h)
                    .rev()
                    .find(|&y| (x..(x + g).min(w)).any(|xx| dark(xx, y)))
            })
            .collect();
        [spread(left), spread(right), spread(top), spread(bottom)]
    }

    #[test]
    fn a_pdf417_in_perspective_is_cut_out_square_by_its_fitted_edges() {
        // The symbol seen in perspective and turned 6°: its far edge shorter, as a card tilted
        // away from the camera shows it, 3 px per module.
        let payload: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let sym = encode_pdf417(&payload, 3).unwrap();
        let (w, h) = (sym.width() as f32, sym.height() as f32);
        let (cx, cy) = (w / 2.0 + 150.0, h / 2.0 + 150.0);
        let turn = |(x, y): (f32, f32)| {
            let (s, c) = 6f32.to_radians().sin_cos();
            let (dx, dy) = (x - cx, y - cy);
            (cx + c * dx - s * dy, cy + s * dx + c * dy)
        };
        let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
        let to = [
            (150.0 + 0.06 * w, 150.0),
            (150.0 + 0.94 * w, 150.0 + 0.02 * h),
            (150.0 + w, 150.0 + h),
            (150.0, 150.0 + h),
        ]
        .map(turn);
        let p = imageproc::geometric_transformations::Projection::from_control_points(from, to)
            .unwrap();
        let mut img = GrayImage::from_pixel(sym.width() + 300, sym.height() + 300, Luma([235]));
        let mut placed = GrayImage::from_pixel(img.width(), img.height(), Luma([235]));
        image::imageops::overlay(&mut placed, &sym, 0, 0);
        imageproc::geometric_transformations::warp_into(
            &placed,
            p,
            Interpolation::Bilinear,
            Border::Constant(Luma([235])),
            &mut img,
        );
        let crops = pdf417_candidates(&img);
        assert!(!crops.is_empty(), "no PDF417 candidate found");
        // The first cut-out is the one squared up by the symbol's own edges: start and stop
        // patterns upright and rows level to within 2 px over the middle half, where the
        // blob's rounded outline alone leaves them slanted.
        let spreads = edge_spreads(&crops[0]);
        eprintln!(
            "edge spreads of each cut-out: {:?}",
            crops.iter().map(edge_spreads).collect::<Vec<_>>()
        );
        assert!(
            spreads.iter().all(|&s| s <= 2 + crops[0].width() / 1000),
            "edges not upright: left, right, top, bottom spreads {spreads:?} px"
        );
        assert_eq!(
            decode_one(&crops[0], Symbology::Pdf417).map(|b| b.bytes),
            Some(payload)
        );
    }

    #[test]
    fn a_view_of_the_photo_s_own_pixels_is_read_before_the_page() {
        // The same symbol twice: sharp (the photo as decoded), and resampled into a blur
        // (a levelled or rectified page of 1.5 px modules): `decode_views` reads the first.
        let payload: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let sharp = on_canvas(&encode_pdf417(&payload, 2).unwrap(), 0.0);
        let blurred = imageproc::filter::gaussian_blur_f32(&sharp, 2.5);
        assert!(decode(&blurred, &[Symbology::Pdf417]).is_empty());
        let got = decode_views(&[&sharp, &blurred], &[Symbology::Pdf417]);
        assert_eq!(got.first().map(|b| b.bytes.clone()), Some(payload));
        assert_eq!(got[0].angle, 0.0);
    }

    fn documents_dev() -> Option<std::path::PathBuf> {
        let d = std::env::var_os("KYC_FLOW_DOCUMENTS_DEV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/work/shared/data/documents-dev".into());
        d.join("labels.json").is_file().then_some(d)
    }

    /// The specimen's QR text as labelled (decoded there with zxing-cpp after a 3× upscale).
    fn co_digital_specimen() -> Option<(image::DynamicImage, String)> {
        let Some(dir) = documents_dev() else {
            eprintln!("documents-dev not found: skipping");
            return None;
        };
        let labels: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("labels.json")).ok()?).ok()?;
        let file = "co_cedula_digital_specimen_back.png";
        let text = labels[file]["barcode"]["text"].as_str()?.to_owned();
        Some((image::open(dir.join(file)).ok()?, text))
    }

    #[test]
    fn regression_co_digital_specimen_qr_decodes_at_the_working_scale() {
        let Some((img, want)) = co_digital_specimen() else {
            return;
        };
        // The reader decodes on its working image (the 543 px specimen upscaled to 1,400 px).
        let (work, scale) = crate::reader::page::working_image(&img);
        assert!(scale > 2.0);
        let gray = image::DynamicImage::ImageRgb8(work).to_luma8();
        let got = decode(&gray, &[Symbology::Qr]);
        assert_eq!(got.len(), 1, "QR not decoded at the working scale");
        assert_eq!(got[0].text.as_deref(), Some(want.as_str()));
        // The payload is base64 of high-entropy bytes: opaque, reported raw.
        match qr_content(&got[0].bytes) {
            QrContent::Base64 { bytes, opaque } => {
                assert!(opaque, "specimen payload not classified opaque");
                assert!(bytes > 500, "{bytes} bytes");
            }
            other => panic!("classified as {other:?}"),
        }
    }

    #[test]
    fn regression_co_digital_specimen_qr_decodes_at_its_native_size_by_upscaling() {
        let Some((img, want)) = co_digital_specimen() else {
            return;
        };
        // 543 px wide: about 1.3 px per module; straight reads fail, the 2× retry reads it.
        let gray = img.to_luma8();
        assert!(decode_one(&gray, Symbology::Qr).is_none());
        let got = decode(&gray, &[Symbology::Qr]);
        assert_eq!(
            got.first().and_then(|b| b.text.as_deref()),
            Some(want.as_str())
        );
    }

    #[test]
    fn qr_payloads_are_classified_not_parsed() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // Bytes from a fixed LCG stand for signed or encrypted data.
        let mut x = 12345u32;
        let random: Vec<u8> = (0..600)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        assert_eq!(
            qr_content(b64(&random).as_bytes()),
            QrContent::Base64 {
                bytes: 600,
                opaque: true
            }
        );
        let text = b"NOMBRE=ANA SOFIA;APELLIDOS=PENA MUNOZ;SECCION=0747;".repeat(4);
        assert_eq!(
            qr_content(b64(&text).as_bytes()),
            QrContent::Base64 {
                bytes: text.len(),
                opaque: false
            }
        );
        assert_eq!(
            qr_content(b"HTTPS://Example.ORG/path/123?x=1"),
            QrContent::Url {
                origin: "https://example.org".into()
            }
        );
        assert_eq!(qr_content(b"SPECIMEN|IDMEX|123456789"), QrContent::Text);
        assert_eq!(qr_content(&[0xff, 0x00, 0x10]), QrContent::Binary);
        assert_eq!(qr_content(b"\x01\x02 control"), QrContent::Binary);
    }

    #[test]
    fn qr_json_carries_its_content_class() {
        let sym = encode_qr("https://example.org/verify/ABC", 4).unwrap();
        let got = decode(&on_canvas(&sym, 0.0), &[Symbology::Qr]);
        let j = got[0].to_json();
        assert_eq!(j["content"]["kind"], "url");
        assert_eq!(j["content"]["origin"], "https://example.org");
    }

    #[test]
    fn qr_round_trips_and_only_expected_formats_are_reported() {
        let sym = encode_qr("SPECIMEN|IDMEX|123456789", 4).unwrap();
        let img = on_canvas(&sym, 0.0);
        let got = decode(&img, &[Symbology::Qr]);
        assert_eq!(got[0].text.as_deref(), Some("SPECIMEN|IDMEX|123456789"));
        assert!(decode(&img, &[Symbology::Pdf417]).is_empty());
    }
}
