//! Who a session belongs to, and the opaque, keyed id that names a session outside the store.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The embedding customer (a bank, a fintech) that owns the session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub String);

/// The WhatsApp business phone number id the user wrote to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumberId(pub String);

/// The user on the other side of the chat.
///
/// WhatsApp's business-scoped user id is preferred when present because usernames let people
/// hide their phone number; the phone number (wa_id) is the fallback.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum UserRef {
    /// Business-scoped user id (`user_id` in webhooks, `recipient` when sending).
    Bsuid(String),
    /// Phone number in international format without `+` (`wa_id`).
    Phone(String),
}

impl UserRef {
    /// Pick the business-scoped id when present, else the phone number.
    pub fn from_parts(bsuid: Option<&str>, phone: Option<&str>) -> Option<Self> {
        match (
            bsuid.filter(|s| !s.is_empty()),
            phone.filter(|s| !s.is_empty()),
        ) {
            (Some(b), _) => Some(Self::Bsuid(b.to_owned())),
            (None, Some(p)) => Some(Self::Phone(p.to_owned())),
            (None, None) => None,
        }
    }
    /// The raw identifier (PII: never log it, use [`UserRef::redacted`]).
    pub fn raw(&self) -> &str {
        match self {
            Self::Bsuid(s) | Self::Phone(s) => s,
        }
    }
    /// A log-safe form: kind and the last two characters only.
    pub fn redacted(&self) -> String {
        let raw = self.raw();
        let tail: String = raw
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        match self {
            Self::Bsuid(_) => format!("bsuid:…{tail}"),
            Self::Phone(_) => format!("phone:…{tail}"),
        }
    }
}

/// `Debug` never prints the identifier in clear.
impl fmt::Debug for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A user's phone number in international format with its `+` (`+16505551234`), as the
/// user shared it with WhatsApp's contact-information request or as WhatsApp gave it (`from`).
///
/// Personal data: `Debug` shows only the last two digits; [`PhoneNumber::raw`] is for the
/// registry query that needs it, never for logs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// A number from what WhatsApp sent: `+` and 8–15 digits (E.164), spaces, dashes, dots
    /// and parentheses ignored; a bare wa_id (digits only) gets its `+`. `None` for anything
    /// else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let digits_part = text.strip_prefix('+').unwrap_or(text);
        let mut digits = String::with_capacity(16);
        for c in digits_part.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return None,
            }
        }
        ((8..=15).contains(&digits.len()) && !digits.starts_with('0'))
            .then(|| Self(format!("+{digits}")))
    }

    /// The number, `+` and digits (PII: never log it).
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// A log-safe form: the last two digits only.
    pub fn redacted(&self) -> String {
        let tail = &self.0[self.0.len().saturating_sub(2)..];
        format!("+…{tail}")
    }
}

/// `Debug` never prints the number in clear.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The identity of a session: tenant × business number × user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    pub tenant: TenantId,
    pub phone_number_id: PhoneNumberId,
    pub user: UserRef,
}

impl SessionKey {
    /// Build a key from plain strings.
    pub fn new(
        tenant: impl Into<String>,
        phone_number_id: impl Into<String>,
        user: UserRef,
    ) -> Self {
        Self {
            tenant: TenantId(tenant.into()),
            phone_number_id: PhoneNumberId(phone_number_id.into()),
            user,
        }
    }

    /// A stable string for storage keys: `tenant/phone_number_id/kind:id`.
    ///
    /// Contains the user identifier: adapters that persist it should hash it (see
    /// [`SessionKey::storage_id`]).
    pub fn canonical(&self) -> String {
        let kind = match self.user {
            UserRef::Bsuid(_) => "bsuid",
            UserRef::Phone(_) => "phone",
        };
        format!(
            "{}/{}/{}:{}",
            self.tenant.0,
            self.phone_number_id.0,
            kind,
            self.user.raw()
        )
    }

    /// An *unkeyed* FNV-1a 64 hash of the canonical form, hex. Anyone can recompute it from a
    /// phone number (a phone-number space is enumerated in seconds), so it must not name a
    /// session anywhere outside the process: logs, storage keys, registries and the bank get
    /// [`SessionIdSecret::session_id`]. It remains only as the queue partition of a job, which
    /// travels inside the job (sealed at rest on Redis) next to the key itself.
    pub fn storage_id(&self) -> String {
        format!("{:016x}", fnv1a64(self.canonical().as_bytes()))
    }
}

/// The secret behind session ids: `HMAC-SHA256(secret, "kyc-flow session id" ‖ 0 ‖ canonical
/// key)`, truncated to 128 bits, hex. Without the secret an id cannot be linked to a phone
/// number by enumerating numbers; with the same secret every process and every restart derives
/// the same id, so leases, evidence and sessions are found again.
///
/// At least 32 bytes. `Debug` never prints it; it (de)serializes as hex so configuration files
/// and environment variables can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionIdSecret(Vec<u8>);

/// Why a session id secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdSecretError {
    #[error("session id secret is not hex")]
    NotHex,
    #[error("session id secret must be at least 32 bytes (64 hex digits), got {0}")]
    TooShort(usize),
}

impl SessionIdSecret {
    /// Shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;
    const DOMAIN: &'static [u8] = b"kyc-flow session id";

    /// From raw bytes (at least [`Self::MIN_LEN`]).
    pub fn new(bytes: &[u8]) -> Result<Self, SessionIdSecretError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(SessionIdSecretError::TooShort(bytes.len()));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// From hex digits (surrounding whitespace ignored).
    pub fn from_hex(hex: &str) -> Result<Self, SessionIdSecretError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err(SessionIdSecretError::NotHex);
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|d| u8::from_str_radix(d, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or(SessionIdSecretError::NotHex)?;
        Self::new(&bytes)
    }

    /// The secret as hex (to write it into a configuration).
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }

    /// The opaque id of `key`'s conversation: 32 hex digits.
    pub fn session_id(&self, key: &SessionKey) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(Self::DOMAIN);
        mac.update(&[0]);
        mac.update(key.canonical().as_bytes());
        hex_lower(&mac.finalize().into_bytes()[..16])
    }

    /// The opaque identity under which a document number or CURP is kept in the 1:N face
    /// index (`crate::face_index`): `HMAC-SHA256(secret, "kyc-flow face index identity" ‖ 0 ‖
    /// canonical)`, 128 bits, hex, under another domain than session ids. `canonical` names the
    /// country, the field and the normalised value (the caller's); the number itself is never
    /// stored, and without the secret the key cannot be checked against a list of numbers.
    pub fn identity_key(&self, canonical: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(b"kyc-flow face index identity");
        mac.update(&[0]);
        mac.update(canonical.as_bytes());
        hex_lower(&mac.finalize().into_bytes()[..16])
    }
}

impl fmt::Debug for SessionIdSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionIdSecret(<secret>)")
    }
}

impl Serialize for SessionIdSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SessionIdSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(d)?;
        Self::from_hex(&hex).map_err(serde::de::Error::custom)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// 64-bit FNV-1a: a fast, stable, *unkeyed* hash for compact identifiers (message ids in the
/// session's idempotency window). Not for anything an attacker could reverse or forge.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(phone: &str) -> SessionKey {
        SessionKey::new("bank-a", "100200300", UserRef::Phone(phone.into()))
    }

    fn secret(byte: u8) -> SessionIdSecret {
        SessionIdSecret::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn identity_keys_are_keyed_and_apart_from_session_ids() {
        let k = secret(1).identity_key("mx/curp/HELG900514MDFRPD05");
        assert_eq!(k.len(), 32);
        assert!(!k.to_ascii_uppercase().contains("HELG"));
        assert_eq!(k, secret(1).identity_key("mx/curp/HELG900514MDFRPD05"));
        assert_ne!(k, secret(2).identity_key("mx/curp/HELG900514MDFRPD05"));
        assert_ne!(k, secret(1).identity_key("mx/curp/HELG900514MDFRPD06"));
        // Not the session id of a key whose canonical form is the same text.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1u8; 32]).unwrap();
        mac.update(b"kyc-flow session id");
        mac.update(&[0]);
        mac.update(b"mx/curp/HELG900514MDFRPD05");
        assert_ne!(k, hex_lower(&mac.finalize().into_bytes()[..16]));
    }

    #[test]
    fn the_same_secret_gives_the_same_id_and_another_secret_another() {
        let k = key("5215512345678");
        assert_eq!(secret(1).session_id(&k), secret(1).session_id(&k));
        // A restart parses the secret again from its hex: still the same id.
        let reparsed = SessionIdSecret::from_hex(&secret(1).to_hex()).unwrap();
        assert_eq!(reparsed.session_id(&k), secret(1).session_id(&k));
        assert_ne!(secret(1).session_id(&k), secret(2).session_id(&k));
        assert_ne!(
            secret(1).session_id(&k),
            secret(1).session_id(&key("5215512345679"))
        );
    }

    #[test]
    fn the_id_contains_neither_the_phone_number_nor_its_unkeyed_hash() {
        let phone = "5215512345678";
        let k = key(phone);
        let id = secret(7).session_id(&k);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!id.contains(phone));
        assert!(!id.contains(&phone[phone.len() - 8..]));
        assert!(!id.contains(&k.storage_id()));
        let fnv = format!("{:016x}", fnv1a64(phone.as_bytes()));
        assert!(!id.contains(&fnv));
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert_eq!(
            SessionIdSecret::new(&[0; 31]),
            Err(SessionIdSecretError::TooShort(31))
        );
        assert_eq!(
            SessionIdSecret::from_hex("zz"),
            Err(SessionIdSecretError::NotHex)
        );
        assert_eq!(
            SessionIdSecret::from_hex(&"a".repeat(63)),
            Err(SessionIdSecretError::NotHex)
        );
        let s = SessionIdSecret::from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{s:?}").contains("ab"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SessionIdSecret>(&json).unwrap(), s);
    }
}
