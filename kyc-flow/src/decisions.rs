//! Decisions to the embedding backend as signed webhooks.
//!
//! The body is the JSON of [`DecisionNotice`]; it is signed like registry traffic (HMAC-SHA256
//! over the timestamp and the exact body, with a key id so keys rotate; see
//! `docs/REGISTRY.md` for the header names), so a bank verifies it with the same code.
//!
//! Delivery is at least once: a decision whose outcome was ambiguous (a timeout, a 5xx after
//! the bank stored it) is sent again with the same [`IDEMPOTENCY_KEY`] header, which the bank
//! dedupes on (also present in the body as `idempotency_key`). A `Retry-After` on 429 or 503
//! sets the next attempt.

use async_trait::async_trait;
use kyc_flow_core::ports::{DecisionNotice, DecisionSink, PortError, PortErrorKind, PortResult};
use kyc_flow_registry::Secret;
use kyc_flow_registry::signing::Signer;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The header carrying the notice's stable idempotency key (`{session}:{seq}:{index}`).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Where decisions go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionWebhookConfig {
    /// The bank's endpoint.
    pub url: String,
    /// Announced key id.
    pub key_id: String,
    /// Shared HMAC secret (hidden from `Debug`).
    pub secret: Secret,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

/// POSTs each decision, signed.
#[derive(Debug, Clone)]
pub struct WebhookDecisionSink {
    http: reqwest::Client,
    url: String,
    signer: Signer,
}

impl WebhookDecisionSink {
    /// A sink for `config`.
    pub fn new(config: DecisionWebhookConfig) -> Result<Self, PortError> {
        let signer = Signer::new(config.key_id, config.secret)
            .map_err(|e| PortError::new(PortErrorKind::Invalid, e.to_string()))?;
        // reqwest is built without a bundled crypto provider (rustls on `ring` for the whole
        // workspace, no C build); install it process-wide before building a client (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| PortError::new(PortErrorKind::Internal, e.to_string()))?;
        Ok(Self {
            http,
            url: config.url,
            signer,
        })
    }
}

#[async_trait]
impl DecisionSink for WebhookDecisionSink {
    async fn deliver(&self, notice: &DecisionNotice) -> PortResult<()> {
        let body = serde_json::to_vec(notice)
            .map_err(|e| PortError::new(PortErrorKind::Internal, e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut headers = http::HeaderMap::new();
        self.signer.sign(now, &body).apply(&mut headers);
        // The same key on every retry of one decision: the bank stores it and answers 2xx to a
        // key it has seen, so a retry after an ambiguous failure never records a decision twice.
        if let Ok(value) = http::HeaderValue::from_str(&notice.idempotency_key)
            && !notice.idempotency_key.is_empty()
        {
            headers.insert(IDEMPOTENCY_KEY, value);
        }
        let response = self
            .http
            .post(&self.url)
            .headers(headers)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    PortErrorKind::Timeout
                } else {
                    PortErrorKind::Unavailable
                };
                PortError::new(kind, "decision webhook unreachable")
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let hinted = |e: PortError| match retry_after {
            Some(d) => e.with_retry_after(d),
            None => e,
        };
        match status.as_u16() {
            200..=299 => Ok(()),
            429 => Err(hinted(PortError::new(
                PortErrorKind::RateLimited,
                "decision webhook throttled",
            ))),
            401 | 403 => Err(PortError::new(
                PortErrorKind::Unauthorized,
                "decision webhook refused our signature",
            )),
            400..=499 => Err(PortError::new(
                PortErrorKind::Invalid,
                format!("decision webhook answered {status}"),
            )),
            _ => Err(hinted(PortError::unavailable(format!(
                "decision webhook answered {status}"
            )))),
        }
    }
}
