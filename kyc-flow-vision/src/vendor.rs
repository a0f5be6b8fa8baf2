//! HTTP adapters for commercial vision vendors: document reading, face match and liveness.
//!
//! A bank that has a contract with a certified engine plugs it in here instead of the local
//! models. Vendors' APIs differ, so the adapters speak one small JSON protocol of ours (below,
//! and in `docs/VISION.md`); a thin proxy in front of a vendor translates. What the adapters
//! own is the behaviour around the call, the same as the other adapters in the workspace:
//!
//! - **Timeouts**: a connect timeout and an overall per-attempt timeout.
//! - **Retries for retryable failures only**: connection errors, timeouts, HTTP 408/429/5xx,
//!   with exponential backoff, honouring `Retry-After` (a delay longer than the configured
//!   cap is not waited: the error goes back to the queue with its `retry_after`); the waits
//!   come from the workspace's one [`RetryPolicy`]. Every attempt of one call carries the
//!   same `Idempotency-Key`, derived from the request itself (SHA-256 of path and body), so
//!   it is also the same when the engine's job is redelivered after a crash and a vendor that
//!   bills per call can de-duplicate. 4xx other than 408/429 are never retried.
//! - **Typed error classes** mapped to [`PortErrorKind`]; errors never carry the response
//!   body (it may echo PII) and the API key never appears in `Debug` output.
//! - **Honest certification**: a liveness verdict is certified only when the vendor says so
//!   *and* the operator declared the contract certified (`liveness_certification`).
//!
//! ## Protocol (version 1)
//! All requests are `POST`, JSON, `Authorization: Bearer <api_key>`, images base64 (standard
//! alphabet, padded).
//!
//! | path | request | answers |
//! |---|---|---|
//! | `/v1/documents/read` | `{"document": "mx-ine", "side": "front", "image": B64}` | `{"status": "accepted", "fields": {NAME: {"value", "confidence", "source"}}, "checks": [{"name", "passed", "detail"}], "portrait": B64 \| null}` or a retake |
//! | `/v1/faces/compare` | `{"selfie": B64, "portrait": B64}` | `{"status": "compared", "score", "threshold", "match"}` or a retake |
//! | `/v1/liveness` | `{"selfie": B64}` | `{"status": "judged", "live", "score", "certified", "certification"}` or a retake |
//!
//! A retake is `{"status": "retake", "reason": R, "detail": "..."}` with `R` one of the core's
//! snake_case retake reasons (`glare`, `no_face`, …); an unknown reason is read as
//! `unreadable`. Errors are HTTP statuses; the body is ignored.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kyc_flow_core::RetryPolicy;
use kyc_flow_core::evidence::{
    CrossCheck, DocumentData, DocumentKind, DocumentOutcome, ExtractedField, FaceComparison,
    LivenessVerdict, RetakeReason, Side,
};
use kyc_flow_core::ports::{
    DocumentImage, DocumentReader, DocumentReading, FaceMatchOutcome, FaceMatcher, LivenessChecker,
    LivenessOutcome, PortError, PortErrorKind, PortResult, VisionCapabilities,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Configuration of one vendor endpoint. `Debug` hides the API key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VendorConfig {
    /// Short vendor name; engines are reported as `vendor:<name>`.
    pub name: String,
    /// Base URL, e.g. `https://vision.example.com` (paths are appended).
    pub base_url: String,
    /// Bearer token.
    pub api_key: String,
    /// Per-attempt timeout, whole request.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// TCP/TLS connect timeout.
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    /// Attempts per call, including the first (1 = no retry).
    pub max_attempts: u32,
    /// First backoff delay; doubles on every retry.
    #[serde(with = "millis")]
    pub backoff: Duration,
    /// Longest delay waited in-process (a longer `Retry-After` is returned to the caller).
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// Document kinds and sides the vendor reads (its capabilities).
    pub documents: Vec<(DocumentKind, Side)>,
    /// The vendor offers face match.
    pub face_match: bool,
    /// The vendor offers liveness.
    pub liveness: bool,
    /// The certification the contract covers (e.g. `iBeta PAD Level 2`), declared by the
    /// operator. `None`: verdicts are reported uncertified whatever the vendor says.
    pub liveness_certification: Option<String>,
}

impl Default for VendorConfig {
    fn default() -> Self {
        Self {
            name: "vendor".into(),
            base_url: String::new(),
            api_key: String::new(),
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(3),
            max_attempts: 3,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            documents: Vec::new(),
            face_match: true,
            liveness: true,
            liveness_certification: None,
        }
    }
}

impl std::fmt::Debug for VendorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("documents", &self.documents)
            .field("face_match", &self.face_match)
            .field("liveness", &self.liveness)
            .field("liveness_certification", &self.liveness_certification)
            .finish()
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// What went wrong talking to the vendor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VendorError {
    /// No answer within the timeout.
    #[error("vendor {vendor} did not answer in time")]
    Timeout {
        /// Vendor name.
        vendor: String,
    },
    /// Could not connect, or the connection broke.
    #[error("vendor {vendor} unreachable: {reason}")]
    Connect {
        /// Vendor name.
        vendor: String,
        /// Transport reason (no body content).
        reason: String,
    },
    /// The vendor answered with an error status.
    #[error("vendor {vendor} answered HTTP {status}")]
    Status {
        /// Vendor name.
        vendor: String,
        /// HTTP status code.
        status: u16,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// A 2xx answer that does not follow the protocol.
    #[error("vendor {vendor} broke the protocol: {detail}")]
    Protocol {
        /// Vendor name.
        vendor: String,
        /// What was wrong (no payload content).
        detail: String,
    },
    /// The adapter is misconfigured (bad URL, TLS setup).
    #[error("vendor {vendor} adapter misconfigured: {detail}")]
    Config {
        /// Vendor name.
        vendor: String,
        /// What was wrong.
        detail: String,
    },
}

impl VendorError {
    /// The port's error class.
    pub fn kind(&self) -> PortErrorKind {
        match self {
            Self::Timeout { .. } => PortErrorKind::Timeout,
            Self::Connect { .. } => PortErrorKind::Unavailable,
            Self::Status { status, .. } => match *status {
                408 | 504 => PortErrorKind::Timeout,
                429 => PortErrorKind::RateLimited,
                401 | 403 => PortErrorKind::Unauthorized,
                404 | 405 | 501 => PortErrorKind::Unsupported,
                400 | 413 | 415 | 422 => PortErrorKind::Invalid,
                500..=599 => PortErrorKind::Unavailable,
                _ => PortErrorKind::Internal,
            },
            Self::Protocol { .. } => PortErrorKind::Internal,
            Self::Config { .. } => PortErrorKind::Unsupported,
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// The server's suggested delay, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<VendorError> for PortError {
    fn from(e: VendorError) -> Self {
        let retry_after = e.retry_after();
        let mut err = PortError::new(e.kind(), e.to_string());
        if let Some(d) = retry_after {
            err = err.with_retry_after(d);
        }
        err
    }
}

/// The HTTP client shared by the three adapters of one vendor.
#[derive(Debug, Clone)]
pub struct VendorClient {
    http: reqwest::Client,
    config: VendorConfig,
}

/// The key of one call: the same for the same request (every retry, every redelivery of the
/// job that makes it), different for any other. Contains no personal data (a digest).
fn idempotency_key(path: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    format!("kyc-flow-{}", hex::encode(&h.finalize()[..16]))
}

fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    // Seconds only; an HTTP date is rare for APIs and would need a clock here.
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

impl VendorClient {
    /// Builds the client (no network until the first call).
    pub fn new(config: VendorConfig) -> Result<Self, VendorError> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(VendorError::Config {
                vendor: config.name.clone(),
                detail: "base_url must start with http:// or https://".into(),
            });
        }
        // reqwest is built without a bundled crypto provider (rustls on `ring` for the whole
        // workspace, no C build); install it process-wide before building a client (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| VendorError::Config {
                vendor: config.name.clone(),
                detail: e.to_string(),
            })?;
        Ok(Self { http, config })
    }

    /// The configuration.
    pub fn config(&self) -> &VendorConfig {
        &self.config
    }

    /// The engine name reported in results.
    pub fn engine_name(&self) -> String {
        format!("vendor:{}", self.config.name)
    }

    fn vendor(&self) -> String {
        self.config.name.clone()
    }

    async fn post_once<R: DeserializeOwned>(
        &self,
        url: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<R, VendorError> {
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.config.api_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(VendorError::Status {
                vendor: self.vendor(),
                status: status.as_u16(),
                retry_after: parse_retry_after(
                    response.headers().get(reqwest::header::RETRY_AFTER),
                ),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| VendorError::Protocol {
            vendor: self.vendor(),
            // serde's message names the field and position, not the value.
            detail: format!("invalid JSON answer: {e}"),
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> VendorError {
        if e.is_timeout() {
            VendorError::Timeout {
                vendor: self.vendor(),
            }
        } else if e.is_builder() {
            VendorError::Config {
                vendor: self.vendor(),
                detail: "request could not be built (check base_url)".into(),
            }
        } else {
            VendorError::Connect {
                vendor: self.vendor(),
                reason: if e.is_connect() {
                    "connection failed".into()
                } else {
                    "connection broken".into()
                },
            }
        }
    }

    /// POSTs `request` to `path`, retrying retryable failures (see the module docs).
    pub async fn post<Q: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<R, VendorError> {
        let url = format!(
            "{}/{}",
            self.config.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let body = serde_json::to_vec(request).map_err(|e| VendorError::Config {
            vendor: self.vendor(),
            detail: format!("request does not serialize: {e}"),
        })?;
        let key = idempotency_key(path, &body);
        let attempts = self.config.max_attempts.max(1);
        let policy = RetryPolicy {
            base: self.config.backoff,
            max: self.config.max_backoff,
        };
        for attempt in 1..=attempts {
            match self.post_once(&url, &key, body.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() && attempt < attempts => {
                    // No jitter: one worker's retries of one call are not a herd.
                    let Some(wait) = policy.inline(attempt, e.retry_after(), 1.0) else {
                        // Too long to hold a worker: let the queue reschedule the job.
                        return Err(e);
                    };
                    tracing::debug!(
                        vendor = %self.config.name,
                        attempt,
                        error = %e,
                        "vision vendor call failed, retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns on the last attempt")
    }
}

fn retake_reason(raw: &str) -> RetakeReason {
    RetakeReason::ALL
        .into_iter()
        .find(|r| r.as_str() == raw)
        .unwrap_or(RetakeReason::Unreadable)
}

fn unit_score(vendor: &str, what: &str, v: f32) -> Result<f32, VendorError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(VendorError::Protocol {
            vendor: vendor.to_owned(),
            detail: format!("{what} is not a finite number"),
        })
    }
}

// ---- wire types -------------------------------------------------------------------------------

/// `POST /v1/documents/read` request.
#[derive(Serialize)]
struct ReadRequest {
    document: DocumentKind,
    side: Side,
    image: String,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ReadAnswer {
    Accepted {
        #[serde(default)]
        fields: BTreeMap<String, ExtractedField>,
        #[serde(default)]
        checks: Vec<CrossCheck>,
        #[serde(default)]
        portrait: Option<String>,
    },
    Retake {
        reason: String,
        #[serde(default)]
        detail: String,
    },
}

#[derive(Serialize)]
struct CompareRequest {
    selfie: String,
    portrait: String,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum CompareAnswer {
    Compared {
        score: f32,
        threshold: f32,
        #[serde(rename = "match")]
        matched: bool,
    },
    Retake {
        reason: String,
        #[serde(default)]
        detail: String,
    },
}

#[derive(Serialize)]
struct LivenessRequest {
    selfie: String,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum LivenessAnswer {
    Judged {
        live: bool,
        score: f32,
        #[serde(default)]
        certified: bool,
        #[serde(default)]
        certification: Option<String>,
    },
    Retake {
        reason: String,
        #[serde(default)]
        detail: String,
    },
}

// ---- adapters ---------------------------------------------------------------------------------

/// [`DocumentReader`] over the vendor protocol.
#[derive(Debug, Clone)]
pub struct VendorDocumentReader {
    client: VendorClient,
}

impl VendorDocumentReader {
    /// Wraps a client.
    pub fn new(client: VendorClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl DocumentReader for VendorDocumentReader {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            documents: self.client.config.documents.clone(),
            ..VisionCapabilities::default()
        }
    }

    async fn read(&self, image: DocumentImage<'_>) -> PortResult<DocumentReading> {
        if !self
            .client
            .config
            .documents
            .contains(&(image.document, image.side))
        {
            return Err(PortError::new(
                PortErrorKind::Unsupported,
                format!(
                    "vendor {} does not read {:?} {:?}",
                    self.client.config.name, image.document, image.side
                ),
            ));
        }
        let request = ReadRequest {
            document: image.document,
            side: image.side,
            image: B64.encode(image.image),
        };
        let answer: ReadAnswer = self.client.post("v1/documents/read", &request).await?;
        let vendor = self.client.vendor();
        Ok(match answer {
            ReadAnswer::Accepted {
                fields,
                checks,
                portrait,
            } => {
                for (name, f) in &fields {
                    if !(0.0..=1.0).contains(&f.confidence) {
                        return Err(VendorError::Protocol {
                            vendor,
                            detail: format!("confidence of {name} outside [0, 1]"),
                        }
                        .into());
                    }
                }
                let portrait = portrait
                    .map(|p| B64.decode(p.as_bytes()))
                    .transpose()
                    .map_err(|_| VendorError::Protocol {
                        vendor: vendor.clone(),
                        detail: "portrait is not base64".into(),
                    })?;
                DocumentReading {
                    outcome: DocumentOutcome::Accepted {
                        data: DocumentData {
                            fields,
                            checks,
                            portrait_found: portrait.is_some(),
                        },
                    },
                    portrait,
                }
            }
            ReadAnswer::Retake { reason, detail } => DocumentReading {
                outcome: DocumentOutcome::Retake {
                    reason: retake_reason(&reason),
                    detail,
                },
                portrait: None,
            },
        })
    }
}

/// [`FaceMatcher`] over the vendor protocol.
#[derive(Debug, Clone)]
pub struct VendorFaceMatcher {
    client: VendorClient,
}

impl VendorFaceMatcher {
    /// Wraps a client.
    pub fn new(client: VendorClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl FaceMatcher for VendorFaceMatcher {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            face_match: self.client.config.face_match,
            ..VisionCapabilities::default()
        }
    }

    async fn compare(&self, selfie: &[u8], portrait: &[u8]) -> PortResult<FaceMatchOutcome> {
        let request = CompareRequest {
            selfie: B64.encode(selfie),
            portrait: B64.encode(portrait),
        };
        let answer: CompareAnswer = self.client.post("v1/faces/compare", &request).await?;
        let vendor = self.client.vendor();
        Ok(match answer {
            CompareAnswer::Compared {
                score,
                threshold,
                matched,
            } => {
                let score = unit_score(&vendor, "score", score)?;
                let threshold = unit_score(&vendor, "threshold", threshold)?;
                if matched != (score >= threshold) {
                    return Err(VendorError::Protocol {
                        vendor,
                        detail: "`match` disagrees with score and threshold".into(),
                    }
                    .into());
                }
                FaceMatchOutcome::Compared(FaceComparison {
                    score,
                    threshold,
                    matched,
                    engine: self.client.engine_name(),
                })
            }
            CompareAnswer::Retake { reason, detail } => FaceMatchOutcome::Retake {
                reason: retake_reason(&reason),
                detail,
            },
        })
    }
}

/// [`LivenessChecker`] over the vendor protocol.
#[derive(Debug, Clone)]
pub struct VendorLiveness {
    client: VendorClient,
}

impl VendorLiveness {
    /// Wraps a client.
    pub fn new(client: VendorClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl LivenessChecker for VendorLiveness {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            liveness: self.client.config.liveness,
            liveness_certified: self.client.config.liveness
                && self.client.config.liveness_certification.is_some(),
            ..VisionCapabilities::default()
        }
    }

    async fn check(&self, selfie: &[u8]) -> PortResult<LivenessOutcome> {
        let request = LivenessRequest {
            selfie: B64.encode(selfie),
        };
        let answer: LivenessAnswer = self.client.post("v1/liveness", &request).await?;
        let vendor = self.client.vendor();
        Ok(match answer {
            LivenessAnswer::Judged {
                live,
                score,
                certified,
                certification,
            } => {
                let score = unit_score(&vendor, "score", score)?;
                if !(0.0..=1.0).contains(&score) {
                    return Err(VendorError::Protocol {
                        vendor,
                        detail: "liveness score outside [0, 1]".into(),
                    }
                    .into());
                }
                // Certified only if the vendor says so and the operator declared the contract
                // certified; the level reported is the vendor's, else the declared one.
                let declared = self.client.config.liveness_certification.clone();
                let certified = certified && declared.is_some();
                LivenessOutcome::Judged(LivenessVerdict {
                    live,
                    score,
                    engine: self.client.engine_name(),
                    certified,
                    certification: if certified {
                        certification.filter(|c| !c.is_empty()).or(declared)
                    } else {
                        None
                    },
                    signals: Vec::new(),
                })
            }
            LivenessAnswer::Retake { reason, detail } => LivenessOutcome::Retake {
                reason: retake_reason(&reason),
                detail,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_api_key() {
        let cfg = VendorConfig {
            api_key: "sk_live_SECRET123".into(),
            ..VendorConfig::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("SECRET123"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn status_classes() {
        let s = |status: u16| VendorError::Status {
            vendor: "v".into(),
            status,
            retry_after: None,
        };
        for (status, kind, retry) in [
            (400, PortErrorKind::Invalid, false),
            (401, PortErrorKind::Unauthorized, false),
            (403, PortErrorKind::Unauthorized, false),
            (404, PortErrorKind::Unsupported, false),
            (408, PortErrorKind::Timeout, true),
            (413, PortErrorKind::Invalid, false),
            (422, PortErrorKind::Invalid, false),
            (429, PortErrorKind::RateLimited, true),
            (500, PortErrorKind::Unavailable, true),
            (502, PortErrorKind::Unavailable, true),
            (503, PortErrorKind::Unavailable, true),
            (504, PortErrorKind::Timeout, true),
            (302, PortErrorKind::Internal, false),
        ] {
            assert_eq!(s(status).kind(), kind, "{status}");
            assert_eq!(s(status).is_retryable(), retry, "{status}");
        }
        let protocol = VendorError::Protocol {
            vendor: "v".into(),
            detail: "x".into(),
        };
        assert!(!protocol.is_retryable());
    }

    #[test]
    fn retry_after_reaches_the_port_error() {
        let e = VendorError::Status {
            vendor: "v".into(),
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        let p: PortError = e.into();
        assert_eq!(p.kind, PortErrorKind::RateLimited);
        assert_eq!(p.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn unknown_retake_reasons_are_unreadable() {
        assert_eq!(retake_reason("glare"), RetakeReason::Glare);
        assert_eq!(retake_reason("no_face"), RetakeReason::NoFace);
        assert_eq!(retake_reason("cosmic_rays"), RetakeReason::Unreadable);
    }

    #[test]
    fn config_round_trips_with_defaults() {
        let cfg: VendorConfig = serde_json::from_str(
            r#"{"name": "acme", "base_url": "https://v.example", "timeout": 2000,
                "documents": [["mx-ine", "front"]], "liveness_certification": "iBeta PAD Level 2"}"#,
        )
        .unwrap();
        assert_eq!(cfg.timeout, Duration::from_secs(2));
        assert_eq!(cfg.max_attempts, 3);
        assert_eq!(cfg.documents, vec![(DocumentKind::MxIne, Side::Front)]);
    }

    #[test]
    fn rejects_a_base_url_without_scheme() {
        let err = VendorClient::new(VendorConfig {
            base_url: "vision.example.com".into(),
            ..VendorConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Unsupported);
    }
}
