//! The local registry service: a small HTTP server that speaks the same signed protocol as a
//! real registry gateway and answers from a fixture file, so demos and tests exercise every path
//! (valid, lost, deceased, cancelled, not found, slow, down, by callback) with no real registry.
//!
//! Faults are injected at run time through [`LocalRegistryHandle::set_behaviour`]: a delay for
//! every answer, the next N checks failing with a status, callbacks delivered twice, answers
//! signed with a wrong key.

pub mod fixtures;

pub use fixtures::{DEFAULT_FIXTURES_JSON, Delivery, FixtureIdentity, Fixtures};

use crate::config::RegistryEndpoint;
use crate::now_ms;
use crate::signing::{KeyRing, Secret, SignatureHeaders, Signer, Verifier, unix_now};
use crate::wire::{
    Accepted, CHECKS_PATH, CheckRequest, ErrorBody, GatewayAnswer, RawAnswer, TYPE_ACCEPTED,
    TYPE_ANSWER, TYPE_CHECK,
};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which delivery to use, overriding the fixture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// Each identity's own `answer` setting.
    #[default]
    Fixture,
    /// Always in the HTTP reply.
    Sync,
    /// Always by callback (when the check carries a callback URL).
    Callback,
}

/// Run-time behaviour of the service: delays and injected faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Delay before every answer (added to nothing: the larger of this and the identity's).
    pub delay: Duration,
    /// Delivery override.
    pub mode: AnswerMode,
    /// The next this-many checks fail with `fail_status` (counted down).
    pub fail_next: u32,
    /// Status of injected failures.
    pub fail_status: u16,
    /// Deliver every callback twice (as gateways retrying after a lost ack do).
    pub duplicate_callbacks: bool,
    /// Sign answers and callbacks with a key the client does not know.
    pub wrong_signing_key: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            mode: AnswerMode::Fixture,
            fail_next: 0,
            fail_status: 503,
            duplicate_callbacks: false,
            wrong_signing_key: false,
        }
    }
}

/// Configuration of the local service.
#[derive(Debug, Clone)]
pub struct LocalRegistryConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// The shared key: checks must be signed with it; answers and callbacks are signed with it.
    pub key_id: String,
    /// Secret of `key_id`.
    pub secret: Secret,
    /// Further keys accepted on checks (a client mid-rotation).
    pub extra_keys: KeyRing,
    /// Replay window for checks.
    pub replay_window: Duration,
    /// Test identities.
    pub fixtures: Fixtures,
    /// Initial behaviour.
    pub behaviour: Behaviour,
}

impl LocalRegistryConfig {
    /// Listen on a free loopback port with the shipped fixtures, signing with `key_id`/`secret`.
    pub fn new(key_id: impl Into<String>, secret: Secret) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            key_id: key_id.into(),
            secret,
            extra_keys: KeyRing::new(),
            replay_window: crate::signing::DEFAULT_REPLAY_WINDOW,
            fixtures: Fixtures::default(),
            behaviour: Behaviour::default(),
        }
    }
}

/// Counters of the service, for tests and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalStats {
    /// Checks with a valid signature.
    pub checks: u64,
    /// Requests refused for their signature.
    pub refused: u64,
    /// Failures injected (behaviour or fixture).
    pub injected_failures: u64,
    /// Callbacks the receiver acknowledged (2xx or 404).
    pub callbacks_delivered: u64,
    /// Callbacks given up on.
    pub callbacks_failed: u64,
}

#[derive(Default)]
struct Counters {
    /// `Idempotency-Key` headers of signed checks, in arrival order (tests read them).
    keys: std::sync::Mutex<Vec<String>>,
    checks: AtomicU64,
    refused: AtomicU64,
    injected_failures: AtomicU64,
    callbacks_delivered: AtomicU64,
    callbacks_failed: AtomicU64,
}

struct Shared {
    verifier: Verifier,
    signer: Signer,
    wrong_signer: Signer,
    fixtures: Fixtures,
    behaviour: Mutex<Behaviour>,
    counters: Counters,
    callback_http: reqwest::Client,
}

impl Shared {
    fn behaviour(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.behaviour.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn signer(&self) -> &Signer {
        if self.behaviour().wrong_signing_key {
            &self.wrong_signer
        } else {
            &self.signer
        }
    }
}

/// A running local registry service. Dropping it stops the server.
pub struct LocalRegistryHandle {
    addr: SocketAddr,
    key_id: String,
    secret: Secret,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LocalRegistryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRegistryHandle")
            .field("addr", &self.addr)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalRegistryError {
    /// The address could not be bound.
    #[error("local registry: cannot listen: {0}")]
    Bind(#[from] std::io::Error),
    /// The key id is unusable.
    #[error("local registry: {0}")]
    Key(#[from] crate::signing::InvalidKeyId),
    /// The HTTP client for callbacks could not be built.
    #[error("local registry: callback client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Start the service on the current Tokio runtime.
pub async fn start(config: LocalRegistryConfig) -> Result<LocalRegistryHandle, LocalRegistryError> {
    // reqwest is built without a bundled crypto provider (see `HttpRegistryClient::new`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut ring = config.extra_keys.clone();
    ring.insert(config.key_id.clone(), config.secret.clone())?;
    let shared = Arc::new(Shared {
        verifier: Verifier::new(ring, config.replay_window),
        signer: Signer::new(config.key_id.clone(), config.secret.clone())?,
        wrong_signer: Signer::new("local-wrong-key", Secret::new("not-the-shared-secret"))?,
        fixtures: config.fixtures,
        behaviour: Mutex::new(config.behaviour),
        counters: Counters::default(),
        callback_http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    });
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let app = router(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "local registry server stopped");
        }
    });
    tracing::info!(%addr, "local registry service listening");
    Ok(LocalRegistryHandle {
        addr,
        key_id: config.key_id,
        secret: config.secret,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

impl LocalRegistryHandle {
    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// An endpoint configuration for `registry` pointing at this service with its key (the
    /// defaults of [`RegistryEndpoint::new`] otherwise).
    pub fn endpoint(&self, registry: &str) -> RegistryEndpoint {
        RegistryEndpoint::new(
            registry,
            self.url(),
            self.key_id.clone(),
            self.secret.clone(),
        )
    }
    /// Endpoints for every registry of the fixture file.
    pub fn endpoints(&self) -> Vec<RegistryEndpoint> {
        self.shared
            .fixtures
            .registries()
            .iter()
            .map(|r| self.endpoint(r))
            .collect()
    }
    /// The fixture file in use.
    pub fn fixtures(&self) -> &Fixtures {
        &self.shared.fixtures
    }
    /// Replace the run-time behaviour.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour() = behaviour;
    }
    /// The current behaviour.
    pub fn behaviour(&self) -> Behaviour {
        self.shared.behaviour().clone()
    }
    /// Counters so far.
    pub fn stats(&self) -> LocalStats {
        let c = &self.shared.counters;
        LocalStats {
            checks: c.checks.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            injected_failures: c.injected_failures.load(Ordering::Relaxed),
            callbacks_delivered: c.callbacks_delivered.load(Ordering::Relaxed),
            callbacks_failed: c.callbacks_failed.load(Ordering::Relaxed),
        }
    }
    /// The `Idempotency-Key` header of every signed check received, in order.
    pub fn idempotency_keys(&self) -> Vec<String> {
        self.shared
            .counters
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    /// Stop accepting, let in-flight answers finish for up to a second, then stop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for LocalRegistryHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(CHECKS_PATH, post(check))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(shared)
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(ErrorBody { error: code.into() })).into_response()
}

fn signed(signer: &Signer, status: StatusCode, body: Vec<u8>) -> Response {
    let mut headers = http::HeaderMap::new();
    signer.sign(unix_now(), &body).apply(&mut headers);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    (status, headers, body).into_response()
}

async fn check(State(s): State<Arc<Shared>>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    let verified = SignatureHeaders::from_header_map(&headers)
        .and_then(|sig| s.verifier.verify(&sig, &body, unix_now()));
    if let Err(e) = verified {
        s.counters.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(reason = %e, "local registry: check refused");
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let req: CheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return error(StatusCode::BAD_REQUEST, "bad_request"),
    };
    if req.kind != TYPE_CHECK {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    }
    s.counters.checks.fetch_add(1, Ordering::Relaxed);
    if let Some(k) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        s.counters
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(k.to_owned());
    }
    let (delay, mode, duplicate, injected) = {
        let mut b = s.behaviour();
        let injected = if b.fail_next > 0 {
            b.fail_next -= 1;
            Some(b.fail_status)
        } else {
            None
        };
        (b.delay, b.mode, b.duplicate_callbacks, injected)
    };
    let identity = s.fixtures.find(&req);
    if let Some(status) = injected.or(identity.and_then(|i| i.fail_status)) {
        s.counters.injected_failures.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return error(status, "injected_failure");
    }
    let raw = identity.map_or_else(RawAnswer::default, |i| i.raw_answer(&req));
    let delay = delay.max(Duration::from_millis(identity.map_or(0, |i| i.delay_ms)));
    let by_callback = match mode {
        AnswerMode::Sync => false,
        AnswerMode::Callback => true,
        AnswerMode::Fixture => identity.is_some_and(|i| i.answer == Delivery::Callback),
    };
    let mut answer = GatewayAnswer {
        kind: TYPE_ANSWER.into(),
        correlation_id: req.correlation_id.clone(),
        registry: req.registry.clone(),
        raw,
        source: s.fixtures.source.clone(),
        requested_at: Some(req.requested_at),
        answered_at: None,
    };
    if let (true, Some(url)) = (by_callback, req.callback_url.clone()) {
        let accepted = Accepted {
            kind: TYPE_ACCEPTED.into(),
            correlation_id: req.correlation_id,
        };
        tokio::spawn(deliver_callback(s.clone(), url, answer, delay, duplicate));
        let body = serde_json::to_vec(&accepted).unwrap_or_default();
        return signed(s.signer(), StatusCode::ACCEPTED, body);
    }
    // The wait a real registry takes: a timer, not a thread.
    tokio::time::sleep(delay).await;
    answer.answered_at = Some(now_ms());
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    signed(s.signer(), StatusCode::OK, body)
}

async fn deliver_callback(
    s: Arc<Shared>,
    url: String,
    mut answer: GatewayAnswer,
    delay: Duration,
    duplicate: bool,
) {
    tokio::time::sleep(delay).await;
    answer.answered_at = Some(now_ms());
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    for _ in 0..if duplicate { 2 } else { 1 } {
        let mut delivered = false;
        for attempt in 0..4u32 {
            // Re-signed per attempt: a retry must not go stale.
            let mut headers = http::HeaderMap::new();
            s.signer().sign(unix_now(), &body).apply(&mut headers);
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            let sent = s
                .callback_http
                .post(&url)
                .headers(headers)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {
                    delivered = true;
                    break;
                }
                Ok(r) if r.status().is_client_error() => break,
                _ => tokio::time::sleep(Duration::from_millis(250 << attempt)).await,
            }
        }
        let counter = if delivered {
            &s.counters.callbacks_delivered
        } else {
            &s.counters.callbacks_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
