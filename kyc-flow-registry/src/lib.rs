//! National registry clients for kyc-flow: signed webhooks, per-country status mapping, and the
//! local registry service that stands in for real registries in demos and tests.
//!
//! Why it looks the way it does:
//! - **Registries sit behind gateways.** No national registry in the region speaks one protocol;
//!   each is reached through a gateway (a bank's integration layer, an aggregator) that we talk
//!   to with *our* signed-webhook protocol (`docs/REGISTRY.md`). The gateway passes the
//!   registry's own words through ([`wire::RawAnswer`]); interpreting them is our job
//!   ([`mapping`]), so one table per country decides what `Cancelada por Muerte` means.
//! - **Unavailable is never invalid.** Timeouts, 5xx, an open breaker are `Err` with a retryable
//!   [`kyc_flow_core::ports::PortErrorKind`]; an unknown label is `Unavailable`, which the core's
//!   policy sends to manual review. Nothing here can turn an outage into a rejection.
//! - **No thread waits.** A check is a future: the 4–11 s a registry takes costs a few kilobytes
//!   of memory, not a thread (see the PERFORMANCE section of `docs/REGISTRY.md`). Registries that
//!   answer later call [`callback_router`], which verifies and hands the answer on.
//! - **One error type**, [`RegistryError`], says whether a failure is retryable and converts to
//!   the core's `PortError` at the boundary.

pub mod breaker;
pub mod callback;
pub mod client;
pub mod config;
#[cfg(feature = "local")]
pub mod local;
pub mod mapping;
pub mod signing;
pub mod wire;

pub use callback::{CALLBACK_PATH, CallbackKeys, callback_router};
pub use client::HttpRegistryClient;
pub use config::{BreakerConfig, MtlsConfig, RegistryEndpoint};
pub use signing::{KeyRing, Secret};

use kyc_flow_core::ports::{PortError, PortErrorKind};
use std::time::Duration;

/// Everything that can go wrong talking to a registry gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The endpoint configuration is unusable (bad URL, unreadable certificate, bad key id).
    #[error("registry configuration: {0}")]
    Config(String),
    /// No endpoint is configured for this registry.
    #[error("no endpoint configured for registry {0}")]
    UnknownRegistry(String),
    /// The registry's breaker is open.
    #[error("circuit open for registry {registry}")]
    CircuitOpen {
        /// The registry.
        registry: String,
        /// When the breaker lets a probe through.
        retry_after: Duration,
    },
    /// No answer within the per-attempt timeout.
    #[error("registry {registry} did not answer within {timeout:?}")]
    Timeout {
        /// The registry.
        registry: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The gateway could not be reached (refused, reset, TLS failure).
    #[error("registry {registry} unreachable: {source}")]
    Transport {
        /// The registry.
        registry: String,
        /// The HTTP client's error (holds the gateway URL, never the request body).
        #[source]
        source: reqwest::Error,
    },
    /// The gateway answered with an error status.
    #[error("registry {registry} gateway answered HTTP {status}")]
    Http {
        /// The registry.
        registry: String,
        /// HTTP status code.
        status: u16,
        /// The gateway's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The gateway's answer is not signed by a key we accept.
    #[error("registry answer signature rejected: {0}")]
    Signature(#[from] signing::SignatureError),
    /// The gateway's answer does not follow the protocol.
    #[error("malformed registry answer: {0}")]
    Protocol(String),
}

impl RegistryError {
    /// The core's classification of this error.
    pub fn kind(&self) -> PortErrorKind {
        match self {
            Self::Config(_) => PortErrorKind::Internal,
            Self::UnknownRegistry(_) => PortErrorKind::Unsupported,
            Self::CircuitOpen { .. } | Self::Transport { .. } => PortErrorKind::Unavailable,
            Self::Timeout { .. } => PortErrorKind::Timeout,
            Self::Http { status, .. } => match *status {
                429 => PortErrorKind::RateLimited,
                401 | 403 => PortErrorKind::Unauthorized,
                408 | 504 => PortErrorKind::Timeout,
                400 | 404 | 405 | 409 | 413 | 415 | 422 => PortErrorKind::Invalid,
                s if s >= 500 => PortErrorKind::Unavailable,
                _ => PortErrorKind::Internal,
            },
            Self::Signature(_) => PortErrorKind::Integrity,
            Self::Protocol(_) => PortErrorKind::Internal,
        }
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Whether this failure says the registry is down (counts towards its breaker). A 429 or a
    /// 4xx means the gateway is up and talking.
    pub fn is_outage(&self) -> bool {
        matches!(
            self.kind(),
            PortErrorKind::Unavailable | PortErrorKind::Timeout
        ) && !matches!(self, Self::CircuitOpen { .. })
    }

    /// The delay the gateway or the breaker asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::CircuitOpen { retry_after, .. } => Some(*retry_after),
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<RegistryError> for PortError {
    fn from(e: RegistryError) -> Self {
        let mut p = PortError::new(e.kind(), e.to_string());
        if let Some(d) = e.retry_after() {
            p = p.with_retry_after(d);
        }
        p
    }
}

/// Milliseconds since the epoch, for the core's timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_retryable_and_never_permanent() {
        let r = || "mx-renapo".to_string();
        let cases = [
            (
                RegistryError::Timeout {
                    registry: r(),
                    timeout: Duration::from_secs(1),
                },
                true,
                true,
            ),
            (
                RegistryError::Http {
                    registry: r(),
                    status: 503,
                    retry_after: None,
                },
                true,
                true,
            ),
            (
                RegistryError::Http {
                    registry: r(),
                    status: 429,
                    retry_after: Some(Duration::from_secs(2)),
                },
                true,
                false,
            ),
            (
                RegistryError::CircuitOpen {
                    registry: r(),
                    retry_after: Duration::from_secs(3),
                },
                true,
                false,
            ),
            (
                RegistryError::Http {
                    registry: r(),
                    status: 401,
                    retry_after: None,
                },
                false,
                false,
            ),
            (RegistryError::Protocol("x".into()), false, false),
            (
                RegistryError::Signature(signing::SignatureError::Mismatch),
                false,
                false,
            ),
        ];
        for (e, retryable, outage) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e}");
            assert_eq!(e.is_outage(), outage, "{e}");
            let p = PortError::from(e);
            assert_eq!(p.is_retryable(), retryable);
        }
    }
}
