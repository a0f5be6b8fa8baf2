//! Barcodes on ID cards: reading PDF417 and QR with rxing, robust to hand-held skew, and
//! writing them for the synthetic sample generator.
//!
//! Two facts drive the design (measured, see the vision notes): rxing's PDF417 reader fails
//! from about 4° of skew, so the reader retries at ±2…±10° when the straight attempt finds
//! nothing; and with every format enabled a rotated PDF417 was once read as a false UPC-A, so
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
    /// The `inspect image` JSON: `{"format", "text"}` or `{"format", "bytes_hex"}`.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.text {
            Some(t) => {
                serde_json::json!({"format": self.symbology.as_str(), "text": t, "angle": self.angle})
            }
            None => serde_json::json!({
                "format": self.symbology.as_str(),
                "bytes_hex": self.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "angle": self.angle,
            }),
        }
    }
}

/// The angles tried, in order, when the straight read fails (degrees).
pub const RETRY_ANGLES: [f32; 10] = [2.0, -2.0, 4.0, -4.0, 6.0, -6.0, 8.0, -8.0, 10.0, -10.0];

/// Decodes every expected symbology in `gray`, trying straight first and then at
/// [`RETRY_ANGLES`] for the symbologies still missing. Returns at most one barcode per
/// symbology.
pub fn decode(gray: &GrayImage, expected: &[Symbology]) -> Vec<DecodedBarcode> {
    let mut found: Vec<DecodedBarcode> = Vec::new();
    for angle in std::iter::once(0.0).chain(RETRY_ANGLES) {
        let missing: Vec<Symbology> = expected
            .iter()
            .copied()
            .filter(|s| !found.iter().any(|f| f.symbology == *s))
            .collect();
        if missing.is_empty() {
            break;
        }
        let rotated;
        let img = if angle == 0.0 {
            gray
        } else {
            rotated = rotate_about_center(
                gray,
                angle.to_radians(),
                Interpolation::Bilinear,
                Border::Replicate,
            );
            &rotated
        };
        for s in missing {
            if let Some(b) = decode_one(img, s) {
                found.push(DecodedBarcode { angle, ..b });
            }
        }
    }
    found
}

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
        Symbology::Qr => rxing::qrcode::QRCodeReader.decode_with_hints(&mut bitmap, &hints),
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
    fn skewed_pdf417_is_read_by_retrying_angles() {
        // A 300-byte binary payload (like the Colombian cédula's) at 8°: the straight read fails.
        let payload: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let sym = encode_pdf417(&payload, 2).unwrap();
        let img = on_canvas(&sym, 8.0);
        assert!(decode_one(&img, Symbology::Pdf417).is_none());
        let got = decode(&img, &[Symbology::Pdf417]);
        assert_eq!(got.len(), 1, "not decoded at 8 degrees");
        // The straight attempt fails at this skew; the retry found it at a compensating angle.
        assert!(got[0].angle < -4.0, "decoded at {}", got[0].angle);
        assert_eq!(got[0].bytes, payload);
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
