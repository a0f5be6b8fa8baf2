//! The callback endpoint: gateways that answer later post the registry's answer here. We check
//! the signature and the replay window, drop repeats, and hand the normalized result to the
//! runtime's [`RegistryCallbackHandler`].
//!
//! Status codes tell the gateway what to do next: `200` done (also for a repeat), `401` bad
//! signature (do not retry with the same signature), `400` malformed body, `404` unknown
//! correlation id (stop retrying), `503` + `Retry-After` we could not hand it on (retry).

use crate::client::answer_to_result;
use crate::now_ms;
use crate::signing::{KeyRing, SignatureHeaders, Verifier, unix_now};
use crate::wire::{ErrorBody, GatewayAnswer, TYPE_ANSWER};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kyc_flow_core::ports::{PortErrorKind, RegistryCallbackHandler};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where [`callback_router`] listens (nest or merge the router at the root).
pub const CALLBACK_PATH: &str = "/v1/registry/callbacks";

/// Callbacks larger than this are refused before their signature is even checked.
const MAX_CALLBACK_BYTES: usize = 64 * 1024;

/// The keys gateways sign callbacks with, and how old a callback may be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackKeys {
    /// Accepted keys by key id (hold old and new during a rotation).
    pub keys: KeyRing,
    /// Maximum clock difference between the gateway's timestamp and ours, in seconds.
    #[serde(default = "default_window_secs")]
    pub replay_window_secs: u64,
    /// How long a correlation id is remembered to drop repeated callbacks, in seconds.
    #[serde(default = "default_dedup_secs")]
    pub dedup_ttl_secs: u64,
}

fn default_window_secs() -> u64 {
    crate::signing::DEFAULT_REPLAY_WINDOW.as_secs()
}
fn default_dedup_secs() -> u64 {
    // Longer than any gateway's retry schedule; the runtime is idempotent per correlation id
    // anyway, this only spares it the work.
    24 * 3600
}

impl CallbackKeys {
    /// Accept `keys` with the default replay window and de-duplication time.
    pub fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            replay_window_secs: default_window_secs(),
            dedup_ttl_secs: default_dedup_secs(),
        }
    }
}

/// Remembers correlation ids already handed on. Bounded: entries expire after the TTL and the
/// oldest are dropped beyond `capacity`, so a flood of callbacks cannot grow it without limit.
#[derive(Debug)]
struct SeenSet {
    ttl: Duration,
    capacity: usize,
    map: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl SeenSet {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
    /// `true` if `key` was not seen (and marks it).
    fn first_seen(&mut self, key: &str, now: Instant) -> bool {
        while let Some((at, k)) = self.order.front() {
            let expired = now.duration_since(*at) >= self.ttl;
            if !expired && self.order.len() <= self.capacity {
                break;
            }
            if self.map.get(k) == Some(at) {
                self.map.remove(k);
            }
            self.order.pop_front();
        }
        if self.map.contains_key(key) {
            return false;
        }
        self.map.insert(key.to_owned(), now);
        self.order.push_back((now, key.to_owned()));
        true
    }
    fn forget(&mut self, key: &str) {
        self.map.remove(key);
    }
}

struct CallbackState {
    verifier: Verifier,
    handler: Arc<dyn RegistryCallbackHandler>,
    seen: Mutex<SeenSet>,
}

/// The router serving `POST` [`CALLBACK_PATH`]. Merge it into the server's router.
pub fn callback_router(keys: CallbackKeys, handler: Arc<dyn RegistryCallbackHandler>) -> Router {
    let state = Arc::new(CallbackState {
        verifier: Verifier::new(keys.keys, Duration::from_secs(keys.replay_window_secs)),
        handler,
        seen: Mutex::new(SeenSet::new(
            Duration::from_secs(keys.dedup_ttl_secs),
            1_000_000,
        )),
    });
    Router::new()
        .route(CALLBACK_PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BYTES))
        .with_state(state)
}

fn reply(status: StatusCode, code: &str) -> Response {
    let body = axum::Json(ErrorBody { error: code.into() });
    (status, body).into_response()
}

fn ok(code: &str) -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": code })),
    )
        .into_response()
}

async fn receive(
    State(state): State<Arc<CallbackState>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let verified = SignatureHeaders::from_header_map(&headers)
        .and_then(|sig| state.verifier.verify(&sig, &body, unix_now()));
    if let Err(e) = verified {
        // The reason is for our operators; the caller only learns "unauthorized".
        tracing::warn!(reason = %e, "registry callback refused");
        return reply(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let answer: GatewayAnswer = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(_) => return reply(StatusCode::BAD_REQUEST, "bad_request"),
    };
    if answer.kind != TYPE_ANSWER || answer.correlation_id.is_empty() {
        return reply(StatusCode::BAD_REQUEST, "bad_request");
    }
    let dedup_key = format!("{}\u{1f}{}", answer.registry, answer.correlation_id);
    let first = state
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .first_seen(&dedup_key, Instant::now());
    if !first {
        tracing::debug!(correlation_id = %answer.correlation_id, "repeated registry callback dropped");
        return ok("duplicate");
    }
    let now = now_ms();
    let result = answer_to_result(&answer, now, now);
    match state
        .handler
        .on_result(&answer.correlation_id, result)
        .await
    {
        Ok(()) => ok("accepted"),
        Err(e) => {
            // Not handed on: forget the mark so the gateway's retry is processed.
            state
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forget(&dedup_key);
            tracing::info!(correlation_id = %answer.correlation_id, error = %e, "registry callback not handed on");
            match e.kind {
                PortErrorKind::NotFound => reply(StatusCode::NOT_FOUND, "unknown_correlation"),
                k if k.is_retryable() => {
                    let secs = e.retry_after.map_or(5, |d| d.as_secs().max(1));
                    let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                    r.headers_mut()
                        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
                    r
                }
                _ => reply(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_set_expires_and_is_bounded() {
        let t = Instant::now();
        let mut s = SeenSet::new(Duration::from_secs(10), 3);
        assert!(s.first_seen("a", t));
        assert!(!s.first_seen("a", t));
        assert!(s.first_seen("a", t + Duration::from_secs(10)));
        for k in ["b", "c", "d", "e"] {
            assert!(s.first_seen(k, t + Duration::from_secs(11)));
        }
        assert!(s.map.len() <= 4 && s.order.len() <= 4);
        s.forget("e");
        assert!(s.first_seen("e", t + Duration::from_secs(11)));
    }
}
