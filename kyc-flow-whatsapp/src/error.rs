//! The crate's error type, Graph API error classification, and the mapping to [`PortError`].
//!
//! Meta reports failures as `{"error": {"code", "error_subcode", "message", "error_data",
//! "fbtrace_id"}}` with an HTTP status that is not always meaningful (many codes come back as
//! 400). The numeric code decides what the runtime should do, so it is classified once here
//! into an [`ErrorClass`] and every caller matches on that.

use crate::limits::LimitError;
use kyc_flow_core::ports::{PortError, PortErrorKind};
use serde_json::Value;
use std::time::Duration;

/// Meta's code for "this user opted out of your marketing messages".
pub const OPTED_OUT_CODE: i64 = 131050;

/// What a Graph API error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// Throughput or pair rate limit (130429, 131056, 80007, 4, 613, 131048): back off, retry.
    RateLimited,
    /// Access token expired or lacks permission (190, 10, 200–299): an operator must act.
    Unauthorized,
    /// The user's 24-hour window is closed (131047): send a template instead.
    OutsideWindow,
    /// This user cannot receive the message (131026, 131049, 131021).
    Undeliverable,
    /// The user opted out of this business's marketing messages (131050): not retried, and
    /// the session records it so no reminder or re-engagement template goes out again.
    OptedOut,
    /// Meta is having trouble (1, 2, 131000, 131016, HTTP 5xx): retry with backoff.
    Transient,
    /// The request is wrong (100, 131008, 131009, 132xxx template errors, …): never retried.
    InvalidRequest,
    /// The object (media id, message id) does not exist or expired.
    NotFound,
    /// Anything else: treated as permanent.
    Other,
}

impl ErrorClass {
    /// Classify a Graph error by its code (and HTTP status for code-less answers).
    pub fn of(code: i64, http_status: u16) -> Self {
        match code {
            130429 | 131056 | 80007 | 4 | 17 | 32 | 613 | 131048 => Self::RateLimited,
            190 | 10 | 102 | 200..=299 => Self::Unauthorized,
            131047 => Self::OutsideWindow,
            131026 | 131049 | 131021 => Self::Undeliverable,
            OPTED_OUT_CODE => Self::OptedOut,
            1 | 2 | 131000 | 131016 | 133004 => Self::Transient,
            100
            | 131008
            | 131009
            | 131051
            | 131052
            | 131053
            | 132000..=132999
            | 133010
            | 135000 => Self::InvalidRequest,
            _ => match http_status {
                429 => Self::RateLimited,
                401 | 403 => Self::Unauthorized,
                404 => Self::NotFound,
                500..=599 => Self::Transient,
                400..=499 => Self::InvalidRequest,
                _ => Self::Other,
            },
        }
    }

    /// The port-level kind for this class.
    pub fn port_kind(self) -> PortErrorKind {
        match self {
            Self::RateLimited => PortErrorKind::RateLimited,
            Self::Unauthorized => PortErrorKind::Unauthorized,
            Self::OutsideWindow => PortErrorKind::OutsideWindow,
            Self::Undeliverable => PortErrorKind::Undeliverable,
            Self::OptedOut => PortErrorKind::OptedOut,
            Self::Transient => PortErrorKind::Unavailable,
            Self::InvalidRequest => PortErrorKind::Invalid,
            Self::NotFound => PortErrorKind::NotFound,
            Self::Other => PortErrorKind::Internal,
        }
    }
}

/// An error answer of the Graph API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub http_status: u16,
    /// Meta's code (0 when the body had none).
    pub code: i64,
    pub subcode: Option<i64>,
    pub class: ErrorClass,
    /// Meta's message, for operators (Meta does not echo recipients in it).
    pub message: String,
    /// `error_data.details`.
    pub details: Option<String>,
    /// Meta's trace id, for support tickets.
    pub fbtrace_id: Option<String>,
    /// From a `Retry-After` header, when sent.
    pub retry_after: Option<Duration>,
}

impl GraphError {
    /// Parse an error response body; a body that is not Meta's error JSON still yields an
    /// error classified by the HTTP status alone.
    pub fn from_response(http_status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let e = v.get("error").unwrap_or(&Value::Null);
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        let subcode = e.get("error_subcode").and_then(Value::as_i64);
        let message = e
            .get("message")
            .and_then(Value::as_str)
            .map(|m| m.chars().take(300).collect())
            .unwrap_or_else(|| format!("HTTP {http_status}"));
        Self {
            http_status,
            code,
            subcode,
            class: ErrorClass::of(code, http_status),
            message,
            details: e
                .get("error_data")
                .and_then(|d| d.get("details"))
                .and_then(Value::as_str)
                .map(|d| d.chars().take(300).collect()),
            fbtrace_id: e
                .get("fbtrace_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            retry_after,
        }
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "graph api error {} (HTTP {}, {:?}): {}",
            self.code, self.http_status, self.class, self.message
        )
    }
}

impl std::error::Error for GraphError {}

/// Everything that can go wrong in this adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WhatsAppError {
    /// The Graph API answered with an error.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The outbound message breaks a WhatsApp limit; nothing was sent.
    #[error("message rejected before sending: {0}")]
    Limit(#[from] LimitError),
    /// Connection refused, reset, DNS, TLS: the request may not have reached Meta.
    #[error("graph api unreachable: {0}")]
    Transport(String),
    /// No answer within the configured timeout.
    #[error("graph api timed out")]
    Timeout,
    /// Meta answered 2xx with a body we cannot read.
    #[error("unexpected graph api response: {0}")]
    BadResponse(String),
    /// The media is larger than the configured cap.
    #[error("media is {size} bytes, over the {limit}-byte limit")]
    MediaTooLarge { size: u64, limit: u64 },
    /// The downloaded bytes do not hash to the declared SHA-256.
    #[error("media sha256 mismatch")]
    HashMismatch,
    /// The declared hash is neither 64 hex digits nor base64 of 32 bytes.
    #[error("declared media sha256 is malformed")]
    BadDeclaredHash,
    /// The content is not an image or PDF we accept, whatever `mime_type` said.
    #[error("media content is not an accepted type (declared {declared:?})")]
    UnsupportedMedia { declared: Option<String> },
    /// The media id is unknown or its short-lived URL kept expiring.
    #[error("media not found or expired")]
    MediaGone,
}

impl WhatsAppError {
    /// The port-level kind (which says whether to retry).
    pub fn kind(&self) -> PortErrorKind {
        match self {
            Self::Graph(g) => g.class.port_kind(),
            Self::Limit(_) => PortErrorKind::Invalid,
            Self::Transport(_) => PortErrorKind::Unavailable,
            Self::Timeout => PortErrorKind::Timeout,
            Self::BadResponse(_) => PortErrorKind::Unavailable,
            Self::MediaTooLarge { .. } => PortErrorKind::Invalid,
            Self::HashMismatch | Self::BadDeclaredHash => PortErrorKind::Integrity,
            Self::UnsupportedMedia { .. } => PortErrorKind::Invalid,
            Self::MediaGone => PortErrorKind::NotFound,
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Map a reqwest failure without its URL (media URLs are signed and short-lived secrets).
    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(e.without_url().to_string())
        }
    }
}

impl From<WhatsAppError> for PortError {
    fn from(e: WhatsAppError) -> Self {
        let retry_after = match &e {
            WhatsAppError::Graph(g) => g.retry_after,
            _ => None,
        };
        let mut p = PortError::new(e.kind(), e.to_string());
        p.retry_after = retry_after;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_documented_codes() {
        for (code, class) in [
            (130429, ErrorClass::RateLimited),
            (131056, ErrorClass::RateLimited),
            (80007, ErrorClass::RateLimited),
            (190, ErrorClass::Unauthorized),
            (131047, ErrorClass::OutsideWindow),
            (131026, ErrorClass::Undeliverable),
            (131050, ErrorClass::OptedOut),
            (131009, ErrorClass::InvalidRequest),
            (132001, ErrorClass::InvalidRequest),
            (131000, ErrorClass::Transient),
        ] {
            assert_eq!(ErrorClass::of(code, 400), class, "code {code}");
        }
        assert_eq!(ErrorClass::of(0, 503), ErrorClass::Transient);
        assert_eq!(ErrorClass::of(0, 429), ErrorClass::RateLimited);
        assert!(ErrorClass::RateLimited.port_kind().is_retryable());
        assert!(!ErrorClass::InvalidRequest.port_kind().is_retryable());
        assert!(!ErrorClass::Unauthorized.port_kind().is_retryable());
    }

    #[test]
    fn parses_meta_error_body() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let g = GraphError::from_response(400, body, None);
        assert_eq!(g.code, 131047);
        assert_eq!(g.class, ErrorClass::OutsideWindow);
        assert_eq!(g.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
        let p: PortError = WhatsAppError::from(g).into();
        assert_eq!(p.kind, PortErrorKind::OutsideWindow);
    }

    #[test]
    fn non_json_error_body_is_classified_by_status() {
        let g = GraphError::from_response(502, b"<html>bad gateway</html>", None);
        assert_eq!(g.class, ErrorClass::Transient);
        assert_eq!(g.code, 0);
    }
}
