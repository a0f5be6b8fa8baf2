//! Who a session belongs to.

use serde::{Deserialize, Serialize};
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

    /// A log- and key-safe identifier derived from the canonical form (FNV-1a 64, hex).
    /// Stable across processes and versions; not a secret, but not the phone number either.
    pub fn storage_id(&self) -> String {
        format!("{:016x}", fnv1a64(self.canonical().as_bytes()))
    }
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
