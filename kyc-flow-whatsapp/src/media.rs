//! Inbound media checks: content sniffing by magic bytes and the declared SHA-256.
//!
//! The `mime_type` in a webhook is what the sender's phone claimed; a document called
//! `cedula.jpg` may be anything. The vision pipeline only takes what is sniffed here.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The content types the KYC pipeline accepts (photos of documents, selfies, PDF scans).
pub const ACCEPTED_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "application/pdf",
];

/// The MIME type of `bytes` judged by their magic numbers, if it is one we accept.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    // ISO base media file: a box of type `ftyp` whose major brand names the HEIF family.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" => Some("image/heic"),
            b"mif1" | b"msf1" | b"heim" | b"heis" => Some("image/heif"),
            _ => None,
        };
    }
    // PDF readers accept the header anywhere in the first KiB (some scanners prepend junk).
    let head = &bytes[..bytes.len().min(1024)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        return Some("application/pdf");
    }
    None
}

/// A declared SHA-256, given either as 64 hex digits (Graph media lookups) or as the base64
/// of the 32 raw bytes (webhooks), decoded to the raw digest.
pub fn decode_declared_sha256(declared: &str) -> Option<[u8; 32]> {
    let declared = declared.trim();
    let mut out = [0u8; 32];
    if declared.len() == 64 && hex::decode_to_slice(declared, &mut out).is_ok() {
        return Some(out);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(declared)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(declared))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(declared))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(declared))
        .ok()?;
    if decoded.len() != 32 {
        return None;
    }
    out.copy_from_slice(&decoded);
    Some(out)
}

/// The raw SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_slice());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sniffs_each_accepted_type() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmif1\0\0\0\0"), Some("image/heif"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\r\n%PDF-1.4\n"), Some("application/pdf"));
    }

    #[test]
    fn rejects_other_content() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0"), None); // an MP4 video
        assert_eq!(sniff(b"OggS\0\x02"), None);
    }

    #[test]
    fn declared_hash_in_hex_and_base64() {
        let d = sha256(b"cedula");
        let hex = hex::encode(d);
        let b64 = base64::engine::general_purpose::STANDARD.encode(d);
        assert_eq!(decode_declared_sha256(&hex), Some(d));
        assert_eq!(decode_declared_sha256(&hex.to_uppercase()), Some(d));
        assert_eq!(decode_declared_sha256(&b64), Some(d));
        assert_eq!(decode_declared_sha256("abc"), None);
        assert_eq!(decode_declared_sha256(""), None);
    }

    proptest! {
        #[test]
        fn sniff_never_panics_and_only_returns_accepted(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(t) = sniff(&bytes) {
                prop_assert!(ACCEPTED_TYPES.contains(&t));
            }
        }

        #[test]
        fn decode_roundtrips_any_digest(d in any::<[u8; 32]>()) {
            prop_assert_eq!(decode_declared_sha256(&hex::encode(d)), Some(d));
            let b64 = base64::engine::general_purpose::STANDARD.encode(d);
            prop_assert_eq!(decode_declared_sha256(&b64), Some(d));
        }
    }
}
