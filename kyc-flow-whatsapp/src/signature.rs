//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw webhook body under the app secret.
//!
//! Verification runs over the exact bytes received, before any parsing, and compares digests
//! in constant time so a forger learns nothing from response timing.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Meta signs webhook deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a webhook signature was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header at all.
    #[error("signature header missing")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("signature header malformed")]
    Malformed,
    /// Well-formed, but not the HMAC of this body under this secret.
    #[error("signature does not match body")]
    Mismatch,
}

/// The raw HMAC-SHA256 of `body` under `app_secret`.
fn digest(app_secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret)
        .expect("HMAC takes keys of any length");
    mac.update(body);
    let out = mac.finalize().into_bytes();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(out.as_slice());
    bytes
}

/// The header value Meta would send for `body`: `sha256=<64 lowercase hex>`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(digest(app_secret, body)))
}

/// Check an `X-Hub-Signature-256` header value against the raw body bytes.
///
/// The `sha256=` prefix is matched case-insensitively and the hex digest in either case, as
/// Meta documents the value as a lowercase hex digest but proxies have been seen to upper-case
/// headers. The comparison of the 32 digest bytes is constant-time.
pub fn verify_signature(
    app_secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (scheme, hex_digest) = header.split_once('=').ok_or(SignatureError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("sha256") || hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut given).map_err(|_| SignatureError::Malformed)?;
    let expected = digest(app_secret, body);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            verify_signature(b"Jefe", Some(&sig), b"what do ya want for nothing?"),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_malformed_and_wrong() {
        let body = b"{}";
        assert_eq!(
            verify_signature(b"k", None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"k", Some("sha1=00"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"k", Some(&format!("sha256={}", "z".repeat(64))), body),
            Err(SignatureError::Malformed)
        );
        let other = sign(b"other", body);
        assert_eq!(
            verify_signature(b"k", Some(&other), body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn accepts_uppercase_hex_and_prefix() {
        let sig = sign(b"k", "¡Hola, señor!".as_bytes());
        let upper = sig.to_uppercase();
        assert_eq!(
            verify_signature(b"k", Some(&upper), "¡Hola, señor!".as_bytes()),
            Ok(())
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            idx in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign(b"secret", &body);
            prop_assert_eq!(verify_signature(b"secret", Some(&sig), &body), Ok(()));
            let mut altered = body.clone();
            let i = idx.index(altered.len());
            altered[i] ^= flip;
            prop_assert_eq!(
                verify_signature(b"secret", Some(&sig), &altered),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
