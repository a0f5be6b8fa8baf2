//! The first page of a PDF sent as a photo (feature `pdf`): a digital ID downloaded from the
//! issuer's site, or a scan saved as PDF, arrives as a WhatsApp *document*.
//!
//! A PDF is untrusted input like any photo, and a worse one: its streams are compressed, so a
//! small file can expand a thousandfold, and it can hold images of any declared size. hayro (the
//! pure-Rust rasterizer used here) inflates streams without a cap, so before it opens a file:
//! - the file is at most [`MAX_PDF_BYTES`];
//! - every stream is inflated into a small reused buffer, counting bytes, and the file is
//!   refused as soon as one stream would exceed [`MAX_STREAM_BYTES`] or all of them
//!   [`MAX_TOTAL_BYTES`] (a decompression bomb costs at most a 64 KiB buffer to find);
//! - every JPEG stream's header dimensions are checked against the [`PhotoLimits`];
//! - image codecs hayro decodes without limits and that no ID document needs (JPEG 2000,
//!   JBIG2, CCITT fax) are refused.
//!
//! The page is then rendered on white at a scale that puts its longer side at
//! [`RENDER_LONG_SIDE`] pixels (≈ 170 dpi for A4, ≈ 600 dpi for an ID-card-sized page), never
//! more than the limits allow. Only the first page is read.

use crate::photo::{PhotoError, PhotoLimits};
use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};
use image::RgbImage;
use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// The largest PDF file opened (a downloaded ID is well under 1 MiB).
pub const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;
/// The most one stream may inflate to.
pub const MAX_STREAM_BYTES: u64 = 64 * 1024 * 1024;
/// The most all streams together may inflate to.
pub const MAX_TOTAL_BYTES: u64 = 192 * 1024 * 1024;
/// The rendered page's longer side, in pixels.
pub const RENDER_LONG_SIDE: f32 = 2000.0;

/// Renders the first page of `bytes` as an RGB image, after the checks in the module docs.
pub fn first_page(bytes: &[u8], limits: &PhotoLimits) -> Result<RgbImage, PhotoError> {
    if bytes.len() > MAX_PDF_BYTES {
        return Err(PhotoError::Pdf(format!(
            "{} bytes, more than the {MAX_PDF_BYTES} accepted",
            bytes.len()
        )));
    }
    precheck(bytes, limits)?;
    let pdf = Pdf::new(bytes.to_vec()).map_err(|e| {
        PhotoError::Pdf(match e {
            LoadPdfError::Decryption(_) => "the PDF is encrypted".into(),
            _ => "not a readable PDF".into(),
        })
    })?;
    let page = pdf
        .pages()
        .first()
        .ok_or_else(|| PhotoError::Pdf("the PDF has no page".into()))?;
    let (w, h) = page.render_dimensions();
    if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0) {
        return Err(PhotoError::Pdf(format!("a page of {w}x{h} points")));
    }
    let long = w.max(h);
    let mut scale = (RENDER_LONG_SIDE / long).min(limits.max_side as f32 / long);
    let pixels = f64::from(w * scale) * f64::from(h * scale);
    if pixels > limits.max_pixels as f64 {
        scale *= (limits.max_pixels as f64 / pixels).sqrt() as f32;
    }
    let settings = PixmapSettings {
        x_scale: scale,
        y_scale: scale,
        bg_color: WHITE,
    };
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &settings,
    );
    let (pw, ph) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    if pw == 0 || ph == 0 {
        return Err(PhotoError::Pdf("the page rendered empty".into()));
    }
    // Painted on opaque white, so the premultiplied RGBA is plain RGB with alpha 255.
    let rgb: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(pw, ph, rgb)
        .ok_or_else(|| PhotoError::Pdf("the rendered page has an unexpected size".into()))
}

/// The checks made on the raw file before any PDF parser sees it (see the module docs).
fn precheck(bytes: &[u8], limits: &PhotoLimits) -> Result<(), PhotoError> {
    for codec in ["/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode"] {
        if find(bytes, codec.as_bytes(), 0).is_some() {
            return Err(PhotoError::Pdf(format!(
                "uses {}, an image codec not opened here",
                &codec[1..]
            )));
        }
    }
    let mut total = 0u64;
    for data in streams(bytes) {
        if data.starts_with(&[0xFF, 0xD8]) {
            if let Ok((width, height)) = crate::photo::dimensions(data)
                && (width > limits.max_side
                    || height > limits.max_side
                    || u64::from(width) * u64::from(height) > limits.max_pixels)
            {
                return Err(PhotoError::TooLarge { width, height });
            }
            continue;
        }
        let inflated = inflated_size(data, MAX_STREAM_BYTES)?;
        total += inflated;
        if total > MAX_TOTAL_BYTES {
            return Err(PhotoError::Pdf(format!(
                "its streams inflate to more than {MAX_TOTAL_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// The bytes between each `stream` keyword's end of line and the next `endstream` (or the end
/// of the file): every stream, whatever object or object stream it belongs to, found without
/// trusting the file's cross-reference table or `/Length` entries.
fn streams(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let k = find(bytes, b"stream", at)?;
            at = k + 6;
            if k >= 3 && &bytes[k - 3..k] == b"end" {
                continue;
            }
            let start = match bytes.get(at..at + 2) {
                Some([b'\r', b'\n']) => at + 2,
                Some([b'\n', _]) | Some([b'\r', _]) => at + 1,
                _ => continue,
            };
            let end = find(bytes, b"endstream", start).unwrap_or(bytes.len());
            at = end;
            return Some(&bytes[start..end]);
        }
    })
}

/// How many bytes `data` inflates to, if it is a deflate stream (zlib-wrapped as PDF's
/// FlateDecode is, or raw, which readers also accept); 0 for data that is not deflate.
/// Refuses a stream that would inflate past `cap`.
fn inflated_size(data: &[u8], cap: u64) -> Result<u64, PhotoError> {
    let zlib = data.len() >= 2
        && data[0] & 0x0F == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    let format = if zlib {
        DataFormat::Zlib
    } else {
        DataFormat::Raw
    };
    let mut state = InflateState::new_boxed(format);
    let mut out = vec![0u8; 64 * 1024];
    let (mut input, mut total) = (data, 0u64);
    loop {
        let r = inflate(&mut state, input, &mut out, MZFlush::None);
        input = &input[r.bytes_consumed..];
        total += r.bytes_written as u64;
        if total > cap {
            return Err(PhotoError::Pdf(format!(
                "a stream inflates to more than {cap} bytes (a decompression bomb)"
            )));
        }
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(total),
            Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
            // No progress: the input ran out (a stream cut short, or one that is not deflate).
            Ok(_) | Err(MZError::Buf) => return Ok(total),
            // Not deflate data (an uncompressed stream, another filter): nothing to inflate.
            Err(_) => return Ok(total),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal one-page PDF drawing `jpeg` (of `w`×`h` pixels) over a `pw`×`ph` point page,
    /// written by hand (objects, cross-reference table, trailer), independent of any PDF
    /// library.
    fn pdf_with_jpeg(jpeg: &[u8], w: u32, h: u32, pw: u32, ph: u32) -> Vec<u8> {
        let content = format!("q {pw} 0 0 {ph} 0 0 cm /Im0 Do Q");
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw} {ph}] \
                 /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
            )
            .into_bytes(),
        ];
        let mut image = format!(
            "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB \
             /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
            jpeg.len()
        )
        .into_bytes();
        image.extend_from_slice(jpeg);
        image.extend_from_slice(b"\nendstream");
        objects.push(image);
        objects.push(
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            )
            .into_bytes(),
        );
        assemble(&objects)
    }

    /// A PDF whose page content is one FlateDecode stream of `inflated` zero bytes.
    fn pdf_with_flate_bomb(inflated: usize) -> Vec<u8> {
        let zeros = vec![b' '; inflated];
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 10);
        let mut content = format!(
            "<< /Length {} /Filter /FlateDecode >>\nstream\n",
            packed.len()
        )
        .into_bytes();
        content.extend_from_slice(&packed);
        content.extend_from_slice(b"\nendstream");
        assemble(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>".to_vec(),
            content,
        ])
    }

    fn assemble(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    /// A JPEG of `w`×`h`: left half dark blue, right half light, so the rendering can be
    /// checked for content and orientation.
    fn two_tone_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([20, 30, 140])
            } else {
                image::Rgb([235, 225, 200])
            }
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(
                &mut std::io::Cursor::new(&mut out),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        out
    }

    #[test]
    fn the_first_page_is_rendered_with_its_image_at_the_working_size() {
        // An ID-card-sized page (85.6 × 54 mm ≈ 243 × 153 pt).
        let pdf = pdf_with_jpeg(&two_tone_jpeg(400, 252), 400, 252, 243, 153);
        let img = crate::photo::open(&pdf, &PhotoLimits::DEFAULT)
            .unwrap()
            .into_rgb8();
        assert_eq!(img.width(), 2000);
        assert!((1255..=1262).contains(&img.height()), "{}", img.height());
        let left = img.get_pixel(300, 600);
        let right = img.get_pixel(1700, 600);
        assert!(left[2] > 100 && left[0] < 60, "{left:?}");
        assert!(right[0] > 200 && right[1] > 200, "{right:?}");
    }

    #[test]
    fn a_deflate_bomb_is_refused_before_rendering() {
        let bomb = pdf_with_flate_bomb(80 * 1024 * 1024);
        assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
        let err = crate::photo::open(&bomb, &PhotoLimits::DEFAULT).unwrap_err();
        assert!(
            matches!(&err, PhotoError::Pdf(m) if m.contains("bomb")),
            "{err}"
        );
        // The same construction under the cap opens.
        let small = pdf_with_flate_bomb(1024);
        assert!(crate::photo::open(&small, &PhotoLimits::DEFAULT).is_ok());
    }

    #[test]
    fn an_image_larger_than_the_limits_is_refused_from_its_header() {
        let mut jpeg = two_tone_jpeg(64, 48);
        // Rewrite the frame header's dimensions (SOF0: FF C0 len(2) precision(1) h(2) w(2)).
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&40_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&40_000u16.to_be_bytes());
        let pdf = pdf_with_jpeg(&jpeg, 40_000, 40_000, 243, 153);
        let err = crate::photo::open(&pdf, &PhotoLimits::DEFAULT).unwrap_err();
        assert!(
            matches!(err, PhotoError::TooLarge { width: 40_000, .. }),
            "{err}"
        );
    }

    #[test]
    fn other_codecs_garbage_and_oversized_files_are_refused_with_a_reason() {
        let mut jbig = pdf_with_jpeg(&two_tone_jpeg(8, 8), 8, 8, 100, 100);
        let at = find(&jbig, b"/DCTDecode", 0).unwrap();
        jbig.splice(at..at + 10, b"/JBIG2Decode".iter().copied());
        assert!(matches!(
            crate::photo::open(&jbig, &PhotoLimits::DEFAULT),
            Err(PhotoError::Pdf(m)) if m.contains("JBIG2Decode")
        ));
        let garbage = b"%PDF-1.7\nthis is not a pdf at all".to_vec();
        assert!(matches!(
            crate::photo::open(&garbage, &PhotoLimits::DEFAULT),
            Err(PhotoError::Pdf(_))
        ));
        let mut huge = b"%PDF-1.4\n".to_vec();
        huge.resize(MAX_PDF_BYTES + 1, b' ');
        assert!(matches!(
            crate::photo::open(&huge, &PhotoLimits::DEFAULT),
            Err(PhotoError::Pdf(m)) if m.contains("accepted")
        ));
    }

    #[test]
    fn heic_files_are_named_as_such() {
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        heic.resize(200, 0);
        assert!(matches!(
            crate::photo::open(&heic, &PhotoLimits::DEFAULT),
            Err(PhotoError::Heic)
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_checks_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let mut pdf = b"%PDF-1.4\n1 0 obj\n<< >>\nstream\n".to_vec();
            pdf.extend_from_slice(&bytes);
            let _ = crate::photo::open(&pdf, &PhotoLimits::DEFAULT);
        }
    }
}
