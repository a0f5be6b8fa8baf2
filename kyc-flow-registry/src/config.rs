//! Configuration of registry endpoints: where a gateway lives, how we sign, how long we wait,
//! how often we retry, when the breaker opens, and the optional client certificate.
//!
//! These are serde structs with defaults so `kyc-flow serve` reads them from TOML; their `Debug`
//! never shows the secret.

use crate::signing::Secret;
use kyc_flow_core::RegistryId;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One registry gateway endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEndpoint {
    /// Which registry this endpoint answers for (`mx-renapo`, `co-registraduria`, …).
    pub id: RegistryId,
    /// The gateway's base URL; checks are posted to `{base_url}/v1/checks`.
    pub base_url: String,
    /// The key id announced in `x-kyc-key-id`.
    pub key_id: String,
    /// Shared HMAC secret for that key id (signs requests, verifies answers).
    pub secret: Secret,
    /// Extra keys accepted on the gateway's answers while the gateway rotates its key.
    #[serde(default)]
    pub extra_answer_keys: Vec<(String, Secret)>,
    /// Where the gateway should post asynchronous answers (our [`crate::callback_router`]).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Per-attempt timeout (connect + answer).
    #[serde(default = "default_timeout", with = "millis")]
    pub timeout: Duration,
    /// Retries after the first attempt, for retryable failures only.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Base of the jittered exponential backoff between attempts.
    #[serde(default = "default_backoff", with = "millis")]
    pub backoff: Duration,
    /// Cap of one backoff sleep.
    #[serde(default = "default_backoff_max", with = "millis")]
    pub backoff_max: Duration,
    /// Replay window for the gateway's signed answers.
    #[serde(default = "default_replay", with = "millis")]
    pub replay_window: Duration,
    /// The circuit breaker of this registry.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Mutual TLS: present a client certificate to the gateway.
    #[serde(default)]
    pub mtls: Option<MtlsConfig>,
}

impl RegistryEndpoint {
    /// An endpoint with default timeout, retries and breaker.
    pub fn new(
        id: impl Into<String>,
        base_url: impl Into<String>,
        key_id: impl Into<String>,
        secret: Secret,
    ) -> Self {
        Self {
            id: RegistryId(id.into()),
            base_url: base_url.into(),
            key_id: key_id.into(),
            secret,
            extra_answer_keys: Vec::new(),
            callback_url: None,
            timeout: default_timeout(),
            retries: default_retries(),
            backoff: default_backoff(),
            backoff_max: default_backoff_max(),
            replay_window: default_replay(),
            breaker: BreakerConfig::default(),
            mtls: None,
        }
    }

    /// The workspace's one backoff rule with this endpoint's base and cap.
    pub fn retry_policy(&self) -> kyc_flow_core::RetryPolicy {
        kyc_flow_core::RetryPolicy {
            base: self.backoff,
            max: self.backoff_max,
        }
    }
}

/// When a registry's breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerConfig {
    /// Consecutive retryable failures that open the breaker.
    #[serde(default = "default_failures")]
    pub failure_threshold: u32,
    /// How long it stays open before letting one probe through.
    #[serde(default = "default_open_for", with = "millis")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: default_failures(),
            open_for: default_open_for(),
        }
    }
}

/// Client certificate (and optionally a private CA) for mutual TLS with a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtlsConfig {
    /// PEM file with our certificate chain.
    pub client_cert_pem_path: PathBuf,
    /// PEM file with our private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key_pem_path: PathBuf,
    /// PEM file of the CA that signed the gateway's certificate, when it is not a public CA.
    /// When set, only this CA is trusted for the endpoint.
    #[serde(default)]
    pub ca_pem_path: Option<PathBuf>,
}

fn default_timeout() -> Duration {
    // Real registries answer in 4-11 s; a gateway that answers synchronously needs headroom.
    Duration::from_secs(15)
}
fn default_retries() -> u32 {
    2
}
fn default_backoff() -> Duration {
    Duration::from_millis(200)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(5)
}
fn default_replay() -> Duration {
    crate::signing::DEFAULT_REPLAY_WINDOW
}
fn default_failures() -> u32 {
    5
}
fn default_open_for() -> Duration {
    Duration::from_secs(30)
}

/// Durations as integer milliseconds in config files (`timeout = 15000`).
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_json_config_gets_defaults_and_hides_secret() {
        let e: RegistryEndpoint = serde_json::from_str(
            r#"{"id":"mx-renapo","base_url":"https://gw.example","key_id":"k1","secret":"s3cr3t",
                "mtls":{"client_cert_pem_path":"/c.pem","client_key_pem_path":"/k.pem"}}"#,
        )
        .unwrap();
        assert_eq!(e.timeout, Duration::from_secs(15));
        assert_eq!(e.retries, 2);
        assert_eq!(e.breaker, BreakerConfig::default());
        assert!(e.mtls.as_ref().unwrap().ca_pem_path.is_none());
        assert!(!format!("{e:?}").contains("s3cr3t"));
        let back: RegistryEndpoint =
            serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
