//! The webhook endpoint: GET verification and signed POST deliveries handed to the job queue.
//!
//! A delivery is acknowledged with 200 only once its events are durably enqueued; if the
//! queue (or the de-duplication store) cannot take them the answer is 503 and Meta retries
//! the whole body later. Content that is merely not understood is still acknowledged (and
//! enqueued as `unknown` events), because refusing it would make Meta retry for days.

use super::parse::{ParseError, UnknownItem, WebhookEvent, parse_webhook};
use crate::redact::Redacted;
use crate::signature::{SIGNATURE_HEADER, SignatureError, verify_signature};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use kyc_flow_core::SessionKey;
use kyc_flow_core::ports::{
    Accepted, Deduplicator, InboundJob, Inbox, JobQueue, NewJob, SplitInbox,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The path the router serves (GET and POST).
pub const WEBHOOK_PATH: &str = "/webhook";

/// The job kind of enqueued webhook events; the payload is a JSON [`WebhookEvent`].
pub const JOB_KIND: &str = "whatsapp.event";

/// Webhook endpoint settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// The token configured in the Meta app dashboard for GET verification (secret).
    pub verify_token: String,
    /// The Meta app secret that signs deliveries (secret).
    pub app_secret: String,
    /// Largest body accepted, in bytes; bigger bodies are cut off while streaming (413).
    pub body_limit: usize,
    /// Most bytes buffered at once across all deliveries whose signature is not checked yet.
    /// A delivery that would pass it is refused at once (503, `Retry-After`), so slow or
    /// hostile senders cannot grow memory before a signature has been seen.
    pub max_buffered_bytes: usize,
    /// How long reading one body may take; a body that trickles in slower is dropped (408).
    #[serde(with = "crate::config_serde::secs")]
    pub body_timeout: Duration,
    /// How long a message id is remembered for de-duplication (Meta retries for up to
    /// seven days).
    #[serde(with = "crate::config_serde::secs")]
    pub dedup_ttl: Duration,
    /// The tenant whose sessions these deliveries belong to (partitions jobs).
    pub tenant: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            verify_token: String::new(),
            app_secret: String::new(),
            // Meta's deliveries are a few KiB; a megabyte leaves room for large batches.
            body_limit: 1024 * 1024,
            // 64 full-size deliveries at once; Meta's real ones are a few KiB.
            max_buffered_bytes: 64 * 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            dedup_ttl: Duration::from_secs(7 * 24 * 3600),
            tenant: "default".into(),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("verify_token", &Redacted)
            .field("app_secret", &Redacted)
            .field("body_limit", &self.body_limit)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("body_timeout", &self.body_timeout)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("tenant", &self.tenant)
            .finish()
    }
}

struct WebhookState {
    config: WebhookConfig,
    /// De-duplication and enqueue: the only store the request path touches.
    inbox: Arc<dyn Inbox>,
    /// Budget of unverified body bytes, in KiB permits (see `max_buffered_bytes`).
    buffered: Arc<tokio::sync::Semaphore>,
    /// Rejections are logged at most a few times a second (a flood must not flood the logs).
    reject_log: LogBudget,
}

/// At most [`LogBudget::PER_SECOND`] log lines a second; the rest are counted and reported
/// in one line when the next second starts.
#[derive(Debug, Default)]
struct LogBudget {
    second: std::sync::atomic::AtomicU64,
    used: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl LogBudget {
    const PER_SECOND: u64 = 5;

    /// Whether this event may be logged now; `Some(n)` also reports `n` lines suppressed in
    /// an earlier second.
    fn admit(&self, now_secs: u64) -> (bool, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut carried = 0;
        if self.second.swap(now_secs, Relaxed) != now_secs {
            self.used.store(0, Relaxed);
            carried = self.suppressed.swap(0, Relaxed);
        }
        if self.used.fetch_add(1, Relaxed) < Self::PER_SECOND {
            (true, carried)
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            (false, carried)
        }
    }
}

/// Permits are KiB so that the budget fits a semaphore's permit count on any platform.
const PERMIT_BYTES: usize = 1024;

fn permits_for(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(PERMIT_BYTES)).unwrap_or(u32::MAX)
}

/// The axum router for [`WEBHOOK_PATH`]: mount it (or `merge` it) into the embedding app.
/// De-duplicates with `dedup` and enqueues into `queue` one after the other ([`SplitInbox`]);
/// a backend that does both in one step is mounted with [`webhook_router_with_inbox`].
pub fn webhook_router(
    config: WebhookConfig,
    queue: Arc<dyn JobQueue>,
    dedup: Arc<dyn Deduplicator>,
) -> Router {
    webhook_router_with_inbox(config, Arc::new(SplitInbox::new(queue, dedup)))
}

/// The axum router for [`WEBHOOK_PATH`] on an [`Inbox`]: each delivery's events are
/// de-duplicated and enqueued by one [`Inbox::accept`] call (on Redis, one round trip).
pub fn webhook_router_with_inbox(config: WebhookConfig, inbox: Arc<dyn Inbox>) -> Router {
    let budget = permits_for(config.max_buffered_bytes.max(config.body_limit)) as usize;
    let state = Arc::new(WebhookState {
        config,
        inbox,
        buffered: Arc::new(tokio::sync::Semaphore::new(
            budget.min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
        reject_log: LogBudget::default(),
    });
    Router::new()
        .route(WEBHOOK_PATH, get(verify).post(receive))
        .with_state(state)
}

/// GET: Meta's subscription handshake. Answers the challenge only for `hub.mode=subscribe`
/// and the right token (compared in constant time); an empty configured token never matches.
async fn verify(
    State(state): State<Arc<WebhookState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let expected = state.config.verify_token.as_bytes();
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| !expected.is_empty() && bool::from(t.as_bytes().ct_eq(expected)));
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(challenge)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.clone(),
        )
            .into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

/// Why a delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
enum Reject {
    #[error("body over limit")]
    TooLarge,
    #[error("body unreadable")]
    Unreadable,
    #[error("body arrived too slowly")]
    TooSlow,
    #[error("too many unverified bytes in flight")]
    Busy,
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("could not hand events on")]
    Unavailable,
}

/// The one place rejections become HTTP answers; bodies stay empty so nothing internal leaks.
impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let status = match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreadable => StatusCode::BAD_REQUEST,
            Self::TooSlow => StatusCode::REQUEST_TIMEOUT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Signature(SignatureError::Missing) => StatusCode::UNAUTHORIZED,
            Self::Signature(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(header::RETRY_AFTER, "5")]).into_response()
        } else {
            status.into_response()
        }
    }
}

async fn receive(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&state, &headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(r) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let (log, suppressed) = state.reject_log.admit(now);
            if suppressed > 0 {
                tracing::warn!(suppressed, "webhook rejections not logged (rate limit)");
            }
            if log {
                tracing::warn!(reason = %r, "webhook delivery rejected");
            }
            r.into_response()
        }
    }
}

async fn accept(state: &WebhookState, headers: &HeaderMap, body: Body) -> Result<(), Reject> {
    let limit = state.config.body_limit;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|l| l > limit as u64) {
        return Err(Reject::TooLarge);
    }
    // Reserve what this body may occupy before reading a byte of it: the declared length, or
    // the limit for a body without one. Held until the signature is checked.
    let reserve = declared_len.map_or(limit, |l| l as usize).max(1);
    let _permit = state
        .buffered
        .clone()
        .try_acquire_many_owned(permits_for(reserve))
        .map_err(|_| Reject::Busy)?;
    let read = Limited::new(body, limit).collect();
    let bytes = tokio::time::timeout(state.config.body_timeout, read)
        .await
        .map_err(|_| Reject::TooSlow)?
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                Reject::TooLarge
            } else {
                Reject::Unreadable
            }
        })?
        .to_bytes();

    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    verify_signature(state.config.app_secret.as_bytes(), signature, &bytes)?;

    let events = parse_webhook(&bytes).unwrap_or_else(|ParseError { reason }| {
        // Signed by Meta but not JSON: keep it rather than make Meta retry it for days.
        vec![WebhookEvent::Unknown(UnknownItem {
            origin: Default::default(),
            field: None,
            reason: format!("body is not JSON ({reason})"),
            raw: serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        })]
    });
    hand_on(state, events).await
}

/// De-duplicate and enqueue in one inbox call; nothing is acknowledged unless it was handed on
/// (the inbox leaves no mark behind when it fails, so Meta's retry is processed).
async fn hand_on(state: &WebhookState, events: Vec<WebhookEvent>) -> Result<(), Reject> {
    let tenant = &state.config.tenant;
    let items: Vec<InboundJob> = events
        .iter()
        .map(|e| InboundJob {
            dedup_key: e.dedup_key().map(|k| format!("{tenant}:{k}")),
            job: job_for(tenant, e),
        })
        .collect();
    match state.inbox.accept(items, state.config.dedup_ttl).await {
        Ok(outcomes) => {
            let duplicates = outcomes
                .iter()
                .filter(|a| **a == Accepted::Duplicate)
                .count();
            tracing::debug!(
                enqueued = outcomes.len() - duplicates,
                duplicates,
                "webhook delivery handed on"
            );
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, kind = ?e.kind, "could not hand events on; asking Meta to retry");
            Err(Reject::Unavailable)
        }
    }
}

/// The job for one event: partitioned by the conversation's storage id so one user's events
/// are processed in order, without putting the phone number in the queue's metadata.
pub fn job_for(tenant: &str, event: &WebhookEvent) -> NewJob {
    let partition = match (event.phone_number_id(), event.user()) {
        (Some(pnid), Some(user)) => Some(SessionKey::new(tenant, pnid, user).storage_id()),
        _ => None,
    };
    NewJob {
        kind: JOB_KIND.to_owned(),
        partition,
        // Serializing these plain data types cannot fail.
        payload: serde_json::to_vec(event).expect("webhook events serialize"),
    }
}

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn rejection_logs_are_capped_per_second_and_the_rest_counted() {
        let budget = LogBudget::default();
        let logged = (0..100).filter(|_| budget.admit(7).0).count();
        assert_eq!(logged as u64, LogBudget::PER_SECOND);
        // The next second logs again and reports what the last one suppressed.
        assert_eq!(budget.admit(8), (true, 100 - LogBudget::PER_SECOND));
        assert_eq!(budget.admit(8), (true, 0));
    }
}
