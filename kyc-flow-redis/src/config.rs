//! The Redis adapters' configuration: where Redis is, how keys are named, the queue's names and
//! bound, and the secrets that encrypt values and hash keys.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The environment variable the default URL is read from.
pub const REDIS_URL_ENV: &str = "REDIS_URL";
/// The URL used when [`REDIS_URL_ENV`] is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long de-duplication marks should be kept: Meta retries an unacknowledged webhook for up
/// to 7 days, so a mark must outlive that.
pub const DEDUP_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Configuration of [`crate::RedisStorage`]. Every field has a default except the secrets.
///
/// `Debug` prints neither the keys nor the hashing secret nor a password in the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` (or `rediss://`). Default: `$REDIS_URL`, else
    /// `redis://127.0.0.1:6379`.
    pub url: String,
    /// A Redis Cluster's seed nodes (`redis://[:password@]host:port` each; two or three are
    /// enough, the client learns the rest from `CLUSTER SLOTS`). Empty (the default): a single
    /// Redis at [`RedisConfig::url`]. Set: the adapters talk to the cluster and `url` is not
    /// used.
    pub cluster: Vec<String>,
    /// Prepended to every key, so several deployments (or test runs) share one Redis.
    pub key_prefix: String,
    /// Name of the job stream (under the prefix).
    pub stream: String,
    /// Name of the consumer group all workers join.
    pub group: String,
    /// Most unacked jobs (ready, in flight, awaiting a delayed retry) before `enqueue` answers
    /// `Full`.
    pub capacity: usize,
    /// Dead letters kept (approximate: the stream is trimmed with `MAXLEN ~`).
    pub dead_letter_max_len: usize,
    /// Encryption keys for values at rest. Keep retired keys here until everything written
    /// with them has expired; new values are written with [`RedisConfig::active_key_id`].
    pub encryption_keys: Vec<EncryptionKey>,
    /// The key new values are encrypted with; default: the highest id in `encryption_keys`.
    pub active_key_id: Option<u32>,
    /// Hex secret (at least 32 bytes) for the keyed hash that turns session keys (which hold
    /// phone numbers) into Redis key names.
    pub key_hash_secret: String,
    /// Per-command response timeout in milliseconds (blocking queue reads get their own).
    pub response_timeout_ms: u64,
    /// Connection timeout in milliseconds.
    pub connect_timeout_ms: u64,
    /// A consumer of the group idle for longer than this (milliseconds; never less than the
    /// engine's `reclaim_after`) belongs to a dead process: its pending entries are claimed and
    /// the consumer is deleted ([`crate::RedisJobQueue::remove_dead_consumers`], run by
    /// `reclaim` at a worker's start and then every minute).
    pub dead_consumer_after_ms: u64,
}

/// A 256-bit encryption key and its id (the id is stored beside each ciphertext).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionKey {
    /// Identifies the key in stored values; never reuse an id for different key material.
    pub id: u32,
    /// 32 bytes, hex-encoded.
    pub key_hex: String,
}

impl EncryptionKey {
    /// A fresh random key with `id` (for tests and for operators rotating keys).
    pub fn generate(id: u32) -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self {
            id,
            key_hex: hex::encode(bytes),
        })
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key_hex", &"<redacted>")
            .finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned()),
            cluster: Vec::new(),
            key_prefix: "kyc-flow:".to_owned(),
            stream: "jobs".to_owned(),
            group: "workers".to_owned(),
            capacity: 100_000,
            dead_letter_max_len: 100_000,
            encryption_keys: Vec::new(),
            active_key_id: None,
            key_hash_secret: String::new(),
            response_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            dead_consumer_after_ms: 600_000,
        }
    }
}

impl RedisConfig {
    /// The defaults with fresh random secrets: for tests and local demos only (values written
    /// with random keys are unreadable after a restart).
    pub fn with_random_secrets() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self {
            encryption_keys: vec![EncryptionKey::generate(1)?],
            key_hash_secret: hex::encode(secret),
            ..Self::default()
        })
    }

    /// The connection settings that cannot work, found without connecting: a URL that does
    /// not parse (`url`, or `cluster[i]` on a cluster), a cluster node with a database other
    /// than 0. The problem never repeats the value (a URL may hold a password).
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let parses = |url: &str| redis::IntoConnectionInfo::into_connection_info(url).ok();
        if self.cluster.is_empty() {
            return match parses(&self.url) {
                Some(_) => Ok(()),
                None => Err(InvalidSetting::new("url", NOT_A_URL)),
            };
        }
        for (i, url) in self.cluster.iter().enumerate() {
            let key = format!("cluster[{i}]");
            match parses(url) {
                None => return Err(InvalidSetting::new(&key, NOT_A_URL)),
                Some(info) if info.redis_settings().db() != 0 => {
                    return Err(InvalidSetting::new(
                        &key,
                        "a Redis Cluster has only database 0",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The URL with any password replaced, for logs; on a cluster, the seed nodes' URLs.
    pub fn redacted_url(&self) -> String {
        if self.cluster.is_empty() {
            redact_url(&self.url)
        } else {
            format!(
                "cluster [{}]",
                self.cluster
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

const NOT_A_URL: &str = "not a redis:// URL (redis://[:password@]host:port[/db])";

/// A setting of [`RedisConfig`] that cannot work ([`RedisConfig::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The field, as written in the config (`url`, `cluster[1]`).
    pub key: String,
    /// What is wrong with it, without its value.
    pub problem: String,
}

impl InvalidSetting {
    fn new(key: &str, problem: &str) -> Self {
        Self {
            key: key.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.problem)
    }
}

/// Replace the userinfo password of a URL (`redis://user:pw@host` → `redis://user:***@host`).
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("key_prefix", &self.key_prefix)
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("capacity", &self.capacity)
            .field("dead_letter_max_len", &self.dead_letter_max_len)
            .field("encryption_keys", &self.encryption_keys)
            .field("active_key_id", &self.active_key_id)
            .field("key_hash_secret", &"<redacted>")
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("dead_consumer_after_ms", &self.dead_consumer_after_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut c = RedisConfig::with_random_secrets().unwrap();
        c.url = "redis://admin:hunter2@cache.internal:6380/2".to_owned();
        c.cluster = vec!["redis://:swordfish@10.0.0.7:7000".to_owned()];
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("swordfish"), "{dbg}");
        assert!(dbg.contains("redis://:***@10.0.0.7:7000"), "{dbg}");
        assert!(
            !c.redacted_url().contains("swordfish"),
            "{}",
            c.redacted_url()
        );
        assert!(!dbg.contains(&c.key_hash_secret), "{dbg}");
        assert!(!dbg.contains(&c.encryption_keys[0].key_hex), "{dbg}");
        assert!(
            dbg.contains("redis://admin:***@cache.internal:6380/2"),
            "{dbg}"
        );
    }

    #[test]
    fn check_names_the_setting_and_never_its_value() {
        let mut c = RedisConfig::with_random_secrets().unwrap();
        c.url = "redis://127.0.0.1:6379".to_owned();
        assert_eq!(c.check(), Ok(()));
        c.url = "cache.internal:hunter2".to_owned();
        let e = c.check().unwrap_err();
        assert_eq!(e.key, "url");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        c.cluster = vec![
            "redis://10.0.0.1:7000".to_owned(),
            "10.0.0.2 7000".to_owned(),
        ];
        assert_eq!(
            c.check().unwrap_err().key,
            "cluster[1]",
            "url unused on a cluster"
        );
        c.cluster[1] = "redis://:pw@10.0.0.2:7000/3".to_owned();
        let e = c.check().unwrap_err();
        assert_eq!(e.key, "cluster[1]");
        assert!(e.problem.contains("database 0"), "{e}");
        c.cluster[1] = "redis://10.0.0.2:7000".to_owned();
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn redaction_leaves_passwordless_urls_alone() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("rediss://:pw@h/0"), "rediss://:***@h/0");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn serde_defaults_fill_missing_fields() {
        let c: RedisConfig = serde_json::from_str(
            r#"{"key_prefix":"bank-a:","encryption_keys":[{"id":7,"key_hex":"00"}]}"#,
        )
        .unwrap();
        assert_eq!(c.key_prefix, "bank-a:");
        assert_eq!(c.stream, "jobs");
        assert_eq!(c.capacity, 100_000);
        assert_eq!(c.encryption_keys[0].id, 7);
        assert!(c.cluster.is_empty(), "a single Redis unless told otherwise");
        let c: RedisConfig = serde_json::from_str(
            r#"{"cluster":["redis://10.0.0.1:7000","redis://10.0.0.2:7000"]}"#,
        )
        .unwrap();
        assert_eq!(c.cluster.len(), 2);
        assert!(serde_json::from_str::<RedisConfig>(r#"{"typo":1}"#).is_err());
    }
}
