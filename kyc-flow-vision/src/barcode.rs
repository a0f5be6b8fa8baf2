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
    let mut found: Vec<DecodedBarcode> = expected
        .iter()
        .filter_map(|&s| decode_one(gray, s))
        .collect();
    let missing = |found: &[DecodedBarcode], s: Symbology| {
        expected.contains(&s) && !found.iter().any(|f| f.symbology == s)
    };
    // QR detectors find the symbol at any angle; rxing's PDF417 reader does not. First the
    // symbol cut out and squared up where it is (a card in perspective), then the whole image
    // at angles.
    if missing(&found, Symbology::Pdf417) {
        for crop in pdf417_candidates(gray) {
            if let Some(b) = decode_one(&crop, Symbology::Pdf417) {
                found.push(b);
                break;
            }
        }
    }
    if missing(&found, Symbology::Pdf417) {
        for angle in RETRY_ANGLES {
            let rotated = rotate_about_center(
                gray,
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
    if missing(&found, Symbology::Qr) && gray.width().max(gray.height()) <= QR_UPSCALE_MAX_SIDE {
        let up = image::imageops::resize(
            gray,
            gray.width() * 2,
            gray.height() * 2,
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
/// scaled up to at least [`PDF417_MIN_WIDTH_PX`] wide. Largest blob first.
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
        let dist =
            |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let long = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
        let tall = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
        if tall < 4.0 || !(2.0..=12.0).contains(&(long / tall)) {
            continue;
        }
        // Back to the full image's pixels; the box filter grew the blob by about `r`.
        let quad = quad.map(|(x, y)| (x / f, y / f));
        let s = (PDF417_MIN_WIDTH_PX / (long / f)).max(1.0);
        let (tw, th) = (long / f * s, tall / f * s);
        let (mx, my) = (0.06 * tw, 0.15 * th);
        let target = [(mx, my), (mx + tw, my), (mx + tw, my + th), (mx, my + th)];
        let Some(p) =
            imageproc::geometric_transformations::Projection::from_control_points(quad, target)
        else {
            continue;
        };
        let mut crop = GrayImage::new((tw + 2.0 * mx) as u32, (th + 2.0 * my) as u32);
        imageproc::geometric_transformations::warp_into(
            gray,
            p,
            Interpolation::Bilinear,
            Border::Constant(Luma([255])),
            &mut crop,
        );
        out.push(crop);
    }
    out
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
