//! Request signing for the registry gateway protocol: HMAC-SHA256 over a timestamp and the exact
//! body, a key id so keys rotate without downtime, and a replay window.
//!
//! Every message of the protocol (our request, the gateway's answer, the gateway's callback)
//! carries three headers:
//!
//! | header | value |
//! |---|---|
//! | `x-kyc-key-id` | which shared key signed the message |
//! | `x-kyc-timestamp` | Unix seconds when it was signed |
//! | `x-kyc-signature` | `v1=` + lower-case hex of `HMAC-SHA256(key, "v1:" + timestamp + ":" + body)` |
//!
//! Why this shape: the signature covers the raw bytes, never a re-serialization, so both sides
//! agree on what was signed whatever their JSON libraries do; the timestamp is inside the MAC so
//! a captured message cannot be replayed outside the window; the key id lets a receiver hold the
//! old and the new key during a rotation (a [`KeyRing`] with both) while senders switch over.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Header naming the key that signed a message.
pub const HEADER_KEY_ID: &str = "x-kyc-key-id";
/// Header carrying the signing time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "x-kyc-timestamp";
/// Header carrying `v1=<hex hmac>`.
pub const HEADER_SIGNATURE: &str = "x-kyc-signature";
/// The scheme prefix of [`HEADER_SIGNATURE`]; a future scheme gets a new prefix.
pub const SCHEME: &str = "v1";
/// Default tolerance between the signer's and the verifier's clocks, both directions.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

/// A shared secret. `Debug` never prints it; serde reads it as a plain string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
    /// The secret bytes (for the MAC only).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a signed message was refused. None of these are retryable as such: the sender must
/// re-sign (stale) or an operator must fix keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A protocol header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but cannot be parsed.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// The key id is not in the verifier's ring (never rotated in, or already rotated out).
    #[error("unknown key id")]
    UnknownKey,
    /// The timestamp is outside the replay window.
    #[error("timestamp outside the replay window ({skew_secs} s skew)")]
    Stale {
        /// Signed time minus the verifier's now, in seconds.
        skew_secs: i64,
    },
    /// The MAC does not match: tampered body, wrong key, or wrong timestamp.
    #[error("signature mismatch")]
    Mismatch,
}

/// The three header values of a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// Value of [`HEADER_KEY_ID`].
    pub key_id: String,
    /// Value of [`HEADER_TIMESTAMP`] (Unix seconds).
    pub timestamp: i64,
    /// Value of [`HEADER_SIGNATURE`] (`v1=…`).
    pub signature: String,
}

impl SignatureHeaders {
    /// Read the headers from an HTTP header map.
    pub fn from_header_map(headers: &http::HeaderMap) -> Result<Self, SignatureError> {
        fn get<'a>(h: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, SignatureError> {
            h.get(name)
                .ok_or(SignatureError::MissingHeader(name))?
                .to_str()
                .map_err(|_| SignatureError::MalformedHeader(name))
        }
        let key_id = get(headers, HEADER_KEY_ID)?.to_owned();
        let timestamp = get(headers, HEADER_TIMESTAMP)?
            .trim()
            .parse::<i64>()
            .map_err(|_| SignatureError::MalformedHeader(HEADER_TIMESTAMP))?;
        let signature = get(headers, HEADER_SIGNATURE)?.to_owned();
        Ok(Self {
            key_id,
            timestamp,
            signature,
        })
    }

    /// Write the headers into an HTTP header map.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        // Key ids and hex are ASCII; a key id that is not a valid header value is a
        // configuration error caught by `Signer::new`.
        if let Ok(v) = http::HeaderValue::from_str(&self.key_id) {
            headers.insert(HEADER_KEY_ID, v);
        }
        headers.insert(HEADER_TIMESTAMP, http::HeaderValue::from(self.timestamp));
        if let Ok(v) = http::HeaderValue::from_str(&self.signature) {
            headers.insert(HEADER_SIGNATURE, v);
        }
    }
}

fn mac(secret: &Secret, timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = HmacSha256::new_from_slice(secret.expose()).expect("hmac takes any key length");
    m.update(SCHEME.as_bytes());
    m.update(b":");
    m.update(timestamp.to_string().as_bytes());
    m.update(b":");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Signs outgoing messages with one key.
#[derive(Debug, Clone)]
pub struct Signer {
    key_id: String,
    secret: Secret,
}

/// A key id that cannot travel in a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key id must be 1-64 characters of [A-Za-z0-9._-]")]
pub struct InvalidKeyId;

fn check_key_id(key_id: &str) -> Result<(), InvalidKeyId> {
    let ok = !key_id.is_empty()
        && key_id.len() <= 64
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(InvalidKeyId) }
}

impl Signer {
    /// A signer using `secret` under the name `key_id`.
    pub fn new(key_id: impl Into<String>, secret: Secret) -> Result<Self, InvalidKeyId> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        Ok(Self { key_id, secret })
    }
    /// The key id this signer announces.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    /// Sign `body` as of `unix_secs`.
    pub fn sign(&self, unix_secs: i64, body: &[u8]) -> SignatureHeaders {
        SignatureHeaders {
            key_id: self.key_id.clone(),
            timestamp: unix_secs,
            signature: format!(
                "{SCHEME}={}",
                hex::encode(mac(&self.secret, unix_secs, body))
            ),
        }
    }
}

/// The keys a receiver accepts, by key id. Hold the old and the new key during a rotation.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyRing {
    keys: BTreeMap<String, Secret>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// An empty ring (accepts nothing).
    pub fn new() -> Self {
        Self::default()
    }
    /// A ring with one key.
    pub fn single(key_id: impl Into<String>, secret: Secret) -> Result<Self, InvalidKeyId> {
        let mut ring = Self::new();
        ring.insert(key_id, secret)?;
        Ok(ring)
    }
    /// Add (or replace) a key.
    pub fn insert(
        &mut self,
        key_id: impl Into<String>,
        secret: Secret,
    ) -> Result<(), InvalidKeyId> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        self.keys.insert(key_id, secret);
        Ok(())
    }
    /// Remove a key (end of a rotation). Returns whether it was present.
    pub fn remove(&mut self, key_id: &str) -> bool {
        self.keys.remove(key_id).is_some()
    }
    /// Whether the ring holds `key_id`.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }
    /// The key ids held.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
    fn get(&self, key_id: &str) -> Option<&Secret> {
        self.keys.get(key_id)
    }
}

/// Verifies incoming signed messages against a [`KeyRing`] and a replay window.
#[derive(Debug, Clone)]
pub struct Verifier {
    ring: KeyRing,
    window: Duration,
}

impl Verifier {
    /// Accept keys of `ring`, timestamps within `window` of now (both directions).
    pub fn new(ring: KeyRing, window: Duration) -> Self {
        Self { ring, window }
    }
    /// The replay window.
    pub fn window(&self) -> Duration {
        self.window
    }
    /// Check a message signed with `headers` over the exact `body`, at `now_unix_secs`.
    /// Returns the key id that signed it.
    pub fn verify(
        &self,
        headers: &SignatureHeaders,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<String, SignatureError> {
        // Key first: an unknown key is a configuration problem worth its own log line.
        let secret = self
            .ring
            .get(&headers.key_id)
            .ok_or(SignatureError::UnknownKey)?;
        let skew = headers.timestamp.saturating_sub(now_unix_secs);
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        if skew.unsigned_abs() > window.unsigned_abs() {
            return Err(SignatureError::Stale { skew_secs: skew });
        }
        let hex_sig = headers
            .signature
            .strip_prefix(SCHEME)
            .and_then(|s| s.strip_prefix('='))
            .ok_or(SignatureError::MalformedHeader(HEADER_SIGNATURE))?;
        let given =
            hex::decode(hex_sig).map_err(|_| SignatureError::MalformedHeader(HEADER_SIGNATURE))?;
        let expected = mac(secret, headers.timestamp, body);
        if given.len() == expected.len() && bool::from(expected.ct_eq(&given[..])) {
            Ok(headers.key_id.clone())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The current time in Unix seconds (the protocol's clock).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(pairs: &[(&str, &str)]) -> KeyRing {
        let mut r = KeyRing::new();
        for (id, s) in pairs {
            r.insert(*id, Secret::new(*s)).unwrap();
        }
        r
    }

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn known_vector_is_stable() {
        // Pins the exact bytes covered by the MAC so gateway implementers can test against it
        // (the same vector is in docs/REGISTRY.md; cross-checked with `openssl dgst -sha256 -hmac`).
        let s = Signer::new("k1", Secret::new("test-secret")).unwrap();
        let h = s.sign(1_790_000_000, br#"{"a":1}"#);
        insta::assert_snapshot!(h.signature, @"v1=cdb4498109fa9c4f92249687405fbea02e13da45d3be75b6d7cc9be8d8d1cbd3");
    }

    #[test]
    fn round_trip_and_tamper() {
        let s = Signer::new("k1", Secret::new("s1")).unwrap();
        let v = Verifier::new(ring(&[("k1", "s1")]), DEFAULT_REPLAY_WINDOW);
        let body = br#"{"correlation_id":"c1"}"#;
        let h = s.sign(NOW, body);
        assert_eq!(v.verify(&h, body, NOW).unwrap(), "k1");
        assert_eq!(
            v.verify(&h, br#"{"correlation_id":"c2"}"#, NOW),
            Err(SignatureError::Mismatch)
        );
        // Moving the timestamp without re-signing breaks the MAC too.
        let mut moved = h.clone();
        moved.timestamp += 1;
        assert_eq!(v.verify(&moved, body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let s = Signer::new("k1", Secret::new("s1")).unwrap();
        let v = Verifier::new(ring(&[("k1", "s1")]), Duration::from_secs(60));
        let body = b"{}";
        assert!(v.verify(&s.sign(NOW - 60, body), body, NOW).is_ok());
        assert_eq!(
            v.verify(&s.sign(NOW - 61, body), body, NOW),
            Err(SignatureError::Stale { skew_secs: -61 })
        );
        assert_eq!(
            v.verify(&s.sign(NOW + 61, body), body, NOW),
            Err(SignatureError::Stale { skew_secs: 61 })
        );
    }

    #[test]
    fn unknown_key_and_rotation() {
        let old = Signer::new("2026-01", Secret::new("old")).unwrap();
        let new = Signer::new("2026-07", Secret::new("new")).unwrap();
        let body = b"{}";
        let mut r = ring(&[("2026-01", "old")]);
        let v = Verifier::new(r.clone(), DEFAULT_REPLAY_WINDOW);
        assert_eq!(
            v.verify(&new.sign(NOW, body), body, NOW),
            Err(SignatureError::UnknownKey)
        );
        // During the rotation both keys are accepted.
        r.insert("2026-07", Secret::new("new")).unwrap();
        let v = Verifier::new(r.clone(), DEFAULT_REPLAY_WINDOW);
        assert!(v.verify(&old.sign(NOW, body), body, NOW).is_ok());
        assert!(v.verify(&new.sign(NOW, body), body, NOW).is_ok());
        // After it, the old key is refused.
        r.remove("2026-01");
        let v = Verifier::new(r, DEFAULT_REPLAY_WINDOW);
        assert_eq!(
            v.verify(&old.sign(NOW, body), body, NOW),
            Err(SignatureError::UnknownKey)
        );
        // A key id reused with a different secret does not verify.
        let impostor = Signer::new("2026-07", Secret::new("guess")).unwrap();
        assert_eq!(
            v.verify(&impostor.sign(NOW, body), body, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_signatures() {
        let v = Verifier::new(ring(&[("k1", "s1")]), DEFAULT_REPLAY_WINDOW);
        for sig in ["", "v1=", "v2=00", "v1=zz", "deadbeef"] {
            let h = SignatureHeaders {
                key_id: "k1".into(),
                timestamp: NOW,
                signature: sig.into(),
            };
            assert!(v.verify(&h, b"{}", NOW).is_err(), "{sig:?} accepted");
        }
    }

    #[test]
    fn headers_round_trip_through_a_header_map() {
        let s = Signer::new("k1", Secret::new("s1")).unwrap();
        let h = s.sign(NOW, b"x");
        let mut map = http::HeaderMap::new();
        h.apply(&mut map);
        assert_eq!(SignatureHeaders::from_header_map(&map).unwrap(), h);
        map.remove(HEADER_TIMESTAMP);
        assert_eq!(
            SignatureHeaders::from_header_map(&map),
            Err(SignatureError::MissingHeader(HEADER_TIMESTAMP))
        );
    }

    #[test]
    fn secrets_never_reach_debug() {
        let s = Signer::new("k1", Secret::new("hunter2")).unwrap();
        let r = ring(&[("k1", "hunter2")]);
        assert!(!format!("{s:?}{r:?}").contains("hunter2"));
        assert!(Signer::new("bad id", Secret::new("x")).is_err());
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected(body in proptest::collection::vec(any::<u8>(), 1..256), idx in any::<usize>(), flip in 1u8..) {
            let s = Signer::new("k1", Secret::new("s1")).unwrap();
            let v = Verifier::new(ring(&[("k1", "s1")]), DEFAULT_REPLAY_WINDOW);
            let h = s.sign(NOW, &body);
            prop_assert!(v.verify(&h, &body, NOW).is_ok());
            let mut tampered = body.clone();
            let i = idx % tampered.len();
            tampered[i] ^= flip;
            prop_assert_eq!(v.verify(&h, &tampered, NOW), Err(SignatureError::Mismatch));
        }
    }
}
