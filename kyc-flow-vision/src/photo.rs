//! Opening a user's photo, which is untrusted input: the format is sniffed from the bytes, the
//! dimensions read from the header are checked against [`PhotoLimits`] *before* any pixel
//! buffer is allocated, a JPEG must be structurally complete, and the EXIF orientation is
//! applied.
//!
//! Why each check exists:
//! - **Dimensions before pixels.** A 275 KB PNG can declare 16,000 × 16,000 pixels (1 GiB of
//!   RGBA once decoded); four of them took `serve` to a 4 GB peak. The header is read on its
//!   own first, and the decoder also gets the same limits, so an image that lies in its header
//!   is still bounded.
//! - **Complete JPEGs only.** The `image` crate decodes JPEGs leniently: a truncated file
//!   decodes "successfully" with the missing part filled in, and the liveness model then judged
//!   that half-grey selfie a spoof ("we could not confirm the selfie is live") where the truth
//!   is that the photo could not be opened. The marker structure is walked to the end-of-image
//!   marker instead, so every engine sees either the whole photo or an error.
//!
//! Every failure here is the same retake for the user ([`RetakeReason::UnsupportedMedia`]:
//! "we couldn't open that photo or file, please send another photo"), at every capture step.

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use kyc_flow_core::RetakeReason;
use std::io::Cursor;

/// What a photo may be at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    /// Pixels per side.
    pub max_side: u32,
    /// Width × height.
    pub max_pixels: u64,
    /// Bytes the decoder may allocate for one image (its pixel buffer at its native depth).
    pub max_alloc: u64,
}

impl PhotoLimits {
    /// Room for a 50-megapixel camera original sent as a file (8160 × 6120); WhatsApp's own
    /// photo compression sends about 1600 px. 50 MP of 8-bit RGB is 150 MB, the most one photo
    /// can cost; a 16-bit or RGBA image that large is refused by `max_alloc`.
    pub const DEFAULT: Self = Self {
        max_side: 12_000,
        max_pixels: 50_000_000,
        max_alloc: 256 * 1024 * 1024,
    };
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a photo could not be opened. Every variant is permanent: ask for another photo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhotoError {
    /// The bytes are not a JPEG, PNG or WebP image (nor a PDF, with the `pdf` feature).
    #[error("not a JPEG, PNG or WebP image")]
    Format,
    /// An iPhone HEIC/HEIF file (sent as a document; as a photo WhatsApp converts it to JPEG).
    /// No well-kept pure-Rust HEVC decoder exists, so it is refused (docs/VISION.md).
    #[error("a HEIC/HEIF image, which is not decoded here")]
    Heic,
    /// A PDF this build cannot open (no `pdf` feature), or one refused by the checks made
    /// before rendering (see [`crate::pdf`]).
    #[error("PDF refused: {0}")]
    Pdf(String),
    /// The header declares more pixels than [`PhotoLimits`] allows.
    #[error("image of {width}x{height} pixels is larger than accepted")]
    TooLarge { width: u32, height: u32 },
    /// A JPEG whose data ends before its end-of-image marker (a cut-off upload).
    #[error("the JPEG data is incomplete")]
    Truncated,
    /// The decoder refused the data.
    #[error("image could not be decoded: {0}")]
    Decode(#[from] ImageError),
}

impl PhotoError {
    /// The retake every failure to open a photo asks for, at every capture step.
    pub fn retake_reason(&self) -> RetakeReason {
        RetakeReason::UnsupportedMedia
    }
}

/// Decodes `bytes` within `limits` and applies the EXIF orientation. A PDF (feature `pdf`)
/// is opened as its first page, rendered within the same limits.
pub fn open(bytes: &[u8], limits: &PhotoLimits) -> Result<DynamicImage, PhotoError> {
    if is_pdf(bytes) {
        return open_pdf(bytes, limits);
    }
    if is_heif(bytes) {
        return Err(PhotoError::Heic);
    }
    let format = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Decode(ImageError::IoError(e)))?
        .format();
    match format {
        Some(ImageFormat::Jpeg) => {
            if !jpeg_is_complete(bytes) {
                return Err(PhotoError::Truncated);
            }
        }
        Some(ImageFormat::Png | ImageFormat::WebP) => {}
        _ => return Err(PhotoError::Format),
    }
    let (width, height) = dimensions(bytes)?;
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(PhotoError::TooLarge { width, height });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Decode(ImageError::IoError(e)))?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| limit_error(e, width, height))?;
    // Only the PNG decoder enforces `max_alloc` itself; check the buffer the decoder is about
    // to allocate for every format.
    if decoder.total_bytes() > limits.max_alloc {
        return Err(PhotoError::TooLarge { width, height });
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| limit_error(e, width, height))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// Whether the bytes are a PDF file (its header may follow up to 1 KiB of junk, as readers allow).
pub fn is_pdf(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

/// Whether the bytes are an ISO-BMFF HEIF image (an `ftyp` box with a HEIC/HEIF brand).
pub fn is_heif(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"ftyp")
        && bytes.get(8..12).is_some_and(|brand| {
            matches!(
                brand,
                b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1"
            )
        })
}

#[cfg(feature = "pdf")]
fn open_pdf(bytes: &[u8], limits: &PhotoLimits) -> Result<DynamicImage, PhotoError> {
    crate::pdf::first_page(bytes, limits).map(DynamicImage::ImageRgb8)
}

#[cfg(not(feature = "pdf"))]
fn open_pdf(_: &[u8], _: &PhotoLimits) -> Result<DynamicImage, PhotoError> {
    Err(PhotoError::Pdf(
        "this build reads no PDF (kyc-flow-vision's `pdf` feature is off)".into(),
    ))
}

/// The dimensions the header declares, read without decoding any pixel.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), PhotoError> {
    Ok(ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Decode(ImageError::IoError(e)))?
        .into_dimensions()?)
}

fn limit_error(e: ImageError, width: u32, height: u32) -> PhotoError {
    match e {
        ImageError::Limits(_) => PhotoError::TooLarge { width, height },
        other => PhotoError::Decode(other),
    }
}

/// Whether a JPEG's marker structure runs from start-of-image through a frame header and at
/// least one scan to the end-of-image marker. Bytes after the end marker (some cameras append
/// data) are allowed; stray bytes between segments are skipped as libjpeg does.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let (mut frame, mut scan) = (false, false);
    let mut i = 2;
    loop {
        // Next marker: skip anything up to an 0xFF, then fill bytes.
        while i < bytes.len() && bytes[i] != 0xFF {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return frame && scan,
            // Restart markers and TEM stand alone; 0x00 is a stuffed byte, not a marker.
            0x00 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(len) = bytes
                    .get(i..i + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                else {
                    return false;
                };
                if len < 2 || i + len > bytes.len() {
                    return false;
                }
                i += len;
                match marker {
                    // Start of frame, every coding process except DHT (C4), JPG (C8), DAC (CC).
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => frame = true,
                    0xDA => {
                        scan = true;
                        // Entropy-coded data: up to the next marker that is not a stuffed
                        // zero or a restart marker.
                        loop {
                            while i < bytes.len() && bytes[i] != 0xFF {
                                i += 1;
                            }
                            match bytes.get(i + 1) {
                                None => return false,
                                Some(0x00 | 0xD0..=0xD7) => i += 2,
                                Some(_) => break,
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};
    use proptest::prelude::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// A PNG whose header declares `w`×`h` grey pixels, all zero: deflate shrinks it to almost
    /// nothing, the way decompression bombs are made.
    fn png_bomb(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, w, h);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::High);
            let mut writer = encoder.write_header().unwrap();
            let mut stream = writer.stream_writer().unwrap();
            let row = vec![0u8; w as usize];
            for _ in 0..h {
                std::io::Write::write_all(&mut stream, &row).unwrap();
            }
            stream.finish().unwrap();
            writer.finish().unwrap();
        }
        out
    }

    #[test]
    fn a_whole_jpeg_opens() {
        let img = open(&jpeg(120, 80), &PhotoLimits::DEFAULT).unwrap();
        assert_eq!((img.width(), img.height()), (120, 80));
    }

    #[test]
    fn a_truncated_jpeg_is_refused_although_the_decoder_would_fill_it_in() {
        let whole = jpeg(400, 300);
        let cut = &whole[..whole.len() * 2 / 3];
        // The lenient decoder alone accepts it: that is what the check is for.
        assert!(image::load_from_memory(cut).is_ok());
        assert!(matches!(
            open(cut, &PhotoLimits::DEFAULT),
            Err(PhotoError::Truncated)
        ));
        // Cut right before the end marker, too.
        assert!(matches!(
            open(&whole[..whole.len() - 2], &PhotoLimits::DEFAULT),
            Err(PhotoError::Truncated)
        ));
    }

    #[test]
    fn bytes_after_the_end_marker_are_allowed() {
        let mut bytes = jpeg(64, 64);
        bytes.extend_from_slice(b"trailing vendor data");
        assert!(open(&bytes, &PhotoLimits::DEFAULT).is_ok());
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(matches!(
            open(b"GIF89a not supported", &PhotoLimits::DEFAULT),
            Err(PhotoError::Format)
        ));
        assert!(
            open(
                &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 1, 2],
                &PhotoLimits::DEFAULT
            )
            .is_err()
        );
    }

    /// The measured bomb: 16,000 × 16,000 pixels in a few hundred KB. Refused from the header,
    /// so no pixel buffer is ever allocated (with the decoder's limits as a second line).
    #[test]
    fn a_png_bomb_is_refused_from_its_header() {
        let bomb = png_bomb(16_000, 16_000);
        assert!(bomb.len() < 1_000_000, "{} bytes", bomb.len());
        assert!(matches!(
            open(&bomb, &PhotoLimits::DEFAULT),
            Err(PhotoError::TooLarge {
                width: 16_000,
                height: 16_000
            })
        ));
        // Within the side limit but over the pixel budget.
        let wide = png_bomb(11_000, 6_000);
        assert!(matches!(
            open(&wide, &PhotoLimits::DEFAULT),
            Err(PhotoError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_decoder_limits_hold_even_without_the_header_check() {
        // An allocation budget below the image's buffer: the decoder itself refuses.
        let limits = PhotoLimits {
            max_alloc: 1000,
            ..PhotoLimits::DEFAULT
        };
        assert!(matches!(
            open(&jpeg(100, 100), &limits),
            Err(PhotoError::TooLarge { .. })
        ));
    }

    #[test]
    fn every_failure_is_the_unsupported_media_retake() {
        for e in [
            PhotoError::Format,
            PhotoError::Truncated,
            PhotoError::TooLarge {
                width: 1,
                height: 1,
            },
        ] {
            assert_eq!(e.retake_reason(), RetakeReason::UnsupportedMedia);
        }
    }

    proptest! {
        #[test]
        fn every_prefix_of_a_jpeg_short_of_its_end_is_incomplete(cut in 0usize..10_000) {
            let whole = jpeg(96, 64);
            let cut = cut % (whole.len() - 1);
            prop_assert!(!jpeg_is_complete(&whole[..cut]));
        }

        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = open(&bytes, &PhotoLimits::DEFAULT);
        }
    }
}
