//! Encryption at rest and keyed hashing of key names.
//!
//! Values are sealed with XChaCha20-Poly1305 — ChaCha20-Poly1305 with a 192-bit nonce. A
//! session is rewritten on every event, so one key encrypts a great many values; with random
//! nonces the 96-bit variant's collision risk becomes a rotation deadline (NIST's guidance is
//! at most 2^32 messages per key), while 192 bits leave room for a nonce that never repeats
//! without asking the kernel for randomness on every write: each [`Sealer`] draws a random
//! 128-bit prefix once, and every value it (or any of its clones) seals takes the next value of
//! a shared 64-bit counter after it. Two sealers (processes, or connections of one process)
//! share a prefix with probability about n²/2¹²⁹ for n sealers; one sealer would need 2⁶⁴
//! writes to wrap its counter (about 580,000 years at a million writes a second), and it
//! refuses to seal rather than wrap.
//!
//! Sealed layout: `[format = 1][key id: u32 BE][nonce: 24 bytes][ciphertext ‖ tag: 16 bytes]`.
//! The header and a caller-given context (the Redis key and, for sessions, the version) are
//! authenticated as associated data, so a value copied to another key, or an old value
//! replayed under a new version, fails to open.

use crate::config::EncryptionKey;
use crate::error::RedisStoreError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 24;
const TAG: usize = 16;
const NONCE_PREFIX: usize = 16;

/// Where a sealer's nonces come from: a random prefix drawn once and a counter after it, both
/// shared by the sealer's clones (a clone with its own counter would repeat nonces).
struct Nonces {
    prefix: [u8; NONCE_PREFIX],
    counter: AtomicU64,
}

impl Nonces {
    fn draw() -> Result<Self, RedisStoreError> {
        let mut prefix = [0u8; NONCE_PREFIX];
        getrandom::fill(&mut prefix)
            .map_err(|_| RedisStoreError::Config("no randomness for a nonce prefix".into()))?;
        Ok(Self {
            prefix,
            counter: AtomicU64::new(0),
        })
    }

    /// The next nonce, or `None` once the counter is spent (never reused, never wrapped).
    fn next(&self) -> Option<[u8; NONCE]> {
        let n = self
            .counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .ok()?;
        let mut nonce = [0u8; NONCE];
        nonce[..NONCE_PREFIX].copy_from_slice(&self.prefix);
        nonce[NONCE_PREFIX..].copy_from_slice(&n.to_be_bytes());
        Some(nonce)
    }
}

/// Encrypts and decrypts values with a set of keys, one of them active.
#[derive(Clone)]
pub struct Sealer {
    keys: BTreeMap<u32, XChaCha20Poly1305>,
    active: u32,
    nonces: Arc<Nonces>,
}

impl Sealer {
    /// Keys from configuration; `active` defaults to the highest id.
    pub fn new(keys: &[EncryptionKey], active: Option<u32>) -> Result<Self, RedisStoreError> {
        let mut map = BTreeMap::new();
        for k in keys {
            let bytes = hex::decode(k.key_hex.trim()).map_err(|_| {
                RedisStoreError::Config(format!("encryption key {} is not hex", k.id))
            })?;
            if bytes.len() != 32 {
                return Err(RedisStoreError::Config(format!(
                    "encryption key {} must be 32 bytes, is {}",
                    k.id,
                    bytes.len()
                )));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| RedisStoreError::Config("bad key length".into()))?;
            if map.insert(k.id, cipher).is_some() {
                return Err(RedisStoreError::Config(format!(
                    "encryption key id {} appears twice",
                    k.id
                )));
            }
        }
        let active = match active {
            Some(id) if map.contains_key(&id) => id,
            Some(id) => {
                return Err(RedisStoreError::Config(format!(
                    "active key id {id} is not among the encryption keys"
                )));
            }
            None => *map
                .keys()
                .next_back()
                .ok_or_else(|| RedisStoreError::Config("no encryption key configured".into()))?,
        };
        Ok(Self {
            keys: map,
            active,
            nonces: Arc::new(Nonces::draw()?),
        })
    }

    /// The id new values are sealed with.
    pub fn active_key_id(&self) -> u32 {
        self.active
    }

    /// Encrypt `plaintext`, binding it to `context`, with a nonce this sealer never used.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, RedisStoreError> {
        let cipher = &self.keys[&self.active];
        let nonce = self
            .nonces
            .next()
            .ok_or_else(|| RedisStoreError::Encoding("nonce counter spent".into()))?;
        let mut header = [0u8; HEADER];
        header[0] = FORMAT;
        header[1..].copy_from_slice(&self.active.to_be_bytes());
        let aad = [&header[..], context].concat();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| RedisStoreError::Encoding("value too large to encrypt".into()))?;
        let mut out = Vec::with_capacity(HEADER + NONCE + ct.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt a value sealed with any configured key and the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, RedisStoreError> {
        if sealed.len() < HEADER + NONCE + TAG {
            return Err(RedisStoreError::Integrity("sealed value too short"));
        }
        let (header, rest) = sealed.split_at(HEADER);
        if header[0] != FORMAT {
            return Err(RedisStoreError::Integrity("unknown sealed format"));
        }
        let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let cipher = self
            .keys
            .get(&id)
            .ok_or(RedisStoreError::Integrity("sealed with an unknown key id"))?;
        let (nonce, ct) = rest.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().expect("split at NONCE");
        let aad = [header, context].concat();
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| RedisStoreError::Integrity("authentication failed"))
    }

    /// The key id a sealed value names (to find values still under a retired key).
    pub fn key_id_of(sealed: &[u8]) -> Option<u32> {
        (sealed.len() >= HEADER && sealed[0] == FORMAT)
            .then(|| u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]))
    }
}

/// Key ids only.
impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

/// HMAC-SHA256 of identifiers, so Redis key names carry no phone number, not even one that a
/// plain hash would give away to a dictionary of all numbers.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    /// From a hex secret of at least 32 bytes.
    pub fn new(secret_hex: &str) -> Result<Self, RedisStoreError> {
        let secret = hex::decode(secret_hex.trim())
            .map_err(|_| RedisStoreError::Config("key_hash_secret is not hex".into()))?;
        if secret.len() < 32 {
            return Err(RedisStoreError::Config(
                "key_hash_secret must be at least 32 bytes".into(),
            ));
        }
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret)
            .map_err(|_| RedisStoreError::Config("key_hash_secret rejected".into()))?;
        Ok(Self { mac })
    }

    /// 128 bits of `HMAC(secret, domain ‖ 0 ‖ data)`, hex: collision-free in practice and short
    /// enough for key names. `domain` separates uses (sessions, evidence, dedup, timers).
    pub fn hash(&self, domain: &str, data: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..16])
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealer() -> Sealer {
        Sealer::new(
            &[
                EncryptionKey::generate(1).unwrap(),
                EncryptionKey::generate(2).unwrap(),
            ],
            None,
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn round_trip(msg in proptest::collection::vec(any::<u8>(), 0..512),
                      ctx in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = sealer();
            let sealed = s.seal(&msg, &ctx).unwrap();
            prop_assert_eq!(s.open(&sealed, &ctx).unwrap(), msg);
        }

        #[test]
        fn any_flipped_bit_fails(msg in proptest::collection::vec(any::<u8>(), 0..128),
                                 pos in any::<usize>(), bit in 0u8..8) {
            let s = sealer();
            let mut sealed = s.seal(&msg, b"ctx").unwrap();
            let i = pos % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert!(s.open(&sealed, b"ctx").is_err());
        }
    }

    #[test]
    fn context_binds_the_value() {
        let s = sealer();
        let sealed = s.seal(b"portrait", b"key-a").unwrap();
        assert!(s.open(&sealed, b"key-b").is_err());
    }

    #[test]
    fn nonces_differ_per_write() {
        let s = sealer();
        assert_ne!(
            s.seal(b"same", b"c").unwrap(),
            s.seal(b"same", b"c").unwrap()
        );
    }

    /// The nonce of a sealed value: after the header.
    fn nonce_of(sealed: &[u8]) -> &[u8] {
        &sealed[HEADER..HEADER + NONCE]
    }

    #[test]
    fn clones_share_one_counter_and_sealers_draw_their_own_prefix() {
        let s = sealer();
        let clone = s.clone();
        let mut seen = std::collections::HashSet::new();
        for i in 0..100 {
            let by = if i % 2 == 0 { &s } else { &clone };
            let sealed = by.seal(b"same", b"c").unwrap();
            assert!(
                seen.insert(nonce_of(&sealed).to_vec()),
                "nonce repeated at {i}"
            );
        }
        let a = s.seal(b"v", b"c").unwrap();
        let b = sealer().seal(b"v", b"c").unwrap();
        assert_ne!(
            nonce_of(&a)[..NONCE_PREFIX],
            nonce_of(&b)[..NONCE_PREFIX],
            "two sealers drew the same prefix"
        );
    }

    #[test]
    fn a_spent_counter_refuses_to_seal_instead_of_wrapping() {
        let s = sealer();
        s.nonces.counter.store(u64::MAX - 1, Ordering::Relaxed);
        let last = s.seal(b"v", b"c").unwrap();
        assert_eq!(
            nonce_of(&last)[NONCE_PREFIX..],
            (u64::MAX - 1).to_be_bytes()
        );
        assert!(matches!(
            s.seal(b"v", b"c"),
            Err(RedisStoreError::Encoding(_))
        ));
        assert!(s.seal(b"v", b"c").is_err(), "it stays spent");
    }

    #[test]
    fn rotation_reads_old_keys_and_writes_the_active_one() {
        let old = EncryptionKey::generate(1).unwrap();
        let new = EncryptionKey::generate(2).unwrap();
        let before = Sealer::new(std::slice::from_ref(&old), None).unwrap();
        let sealed_old = before.seal(b"v", b"c").unwrap();
        let after = Sealer::new(&[old.clone(), new.clone()], None).unwrap();
        assert_eq!(after.active_key_id(), 2);
        assert_eq!(after.open(&sealed_old, b"c").unwrap(), b"v");
        let sealed_new = after.seal(b"v", b"c").unwrap();
        assert_eq!(Sealer::key_id_of(&sealed_new), Some(2));
        // Once the old key is retired its values no longer open.
        let retired = Sealer::new(&[new], None).unwrap();
        assert!(matches!(
            retired.open(&sealed_old, b"c"),
            Err(RedisStoreError::Integrity(_))
        ));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(Sealer::new(&[], None).is_err());
        let short = EncryptionKey {
            id: 1,
            key_hex: "00".into(),
        };
        assert!(Sealer::new(&[short], None).is_err());
        let k = EncryptionKey::generate(1).unwrap();
        assert!(Sealer::new(&[k.clone(), k.clone()], None).is_err());
        assert!(Sealer::new(&[k], Some(9)).is_err());
        assert!(KeyHasher::new("abcd").is_err());
    }

    #[test]
    fn key_hash_is_keyed_and_domain_separated() {
        let a = KeyHasher::new(&"11".repeat(32)).unwrap();
        let b = KeyHasher::new(&"22".repeat(32)).unwrap();
        let phone = b"tenant/123/phone:5215512345678";
        assert_eq!(a.hash("s", phone), a.hash("s", phone));
        assert_ne!(a.hash("s", phone), b.hash("s", phone));
        assert_ne!(a.hash("s", phone), a.hash("e", phone));
        assert_eq!(a.hash("s", phone).len(), 32);
        assert!(!a.hash("s", phone).contains("5512345678"));
    }
}
