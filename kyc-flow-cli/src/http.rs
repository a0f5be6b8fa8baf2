//! The HTTP server `serve` and `demo` run: hyper with the limits a public endpoint needs, and the
//! signals that stop it.
//!
//! `axum::serve` sets no header read timeout and accepts any number of connections; measured
//! against it, 300 connections with unfinished headers were never closed. Here each connection
//! must deliver its request headers within `header_timeout`, at most `max_connections` are open
//! at once (further ones wait in the kernel's backlog), and shutdown stops accepting, lets
//! requests in flight finish, and gives up on them after the grace period.
//!
//! It also owns the probes: `/healthz` is liveness (the process answers), `/readyz` is
//! readiness (the store answers, the vision engines are loaded, every worker loop made progress
//! recently), so a load balancer sends traffic — and Meta's retries — elsewhere while this
//! process cannot do the work.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// Seconds a client has to send a request's headers.
    pub header_timeout_secs: u64,
    /// Connections served at once.
    pub max_connections: usize,
    /// Seconds requests in flight may take to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// `/readyz` fails when a worker loop made no progress (no successful queue poll, no
    /// finished job) for longer than this many seconds: its queue keeps failing, or one job is
    /// stuck. Above the longest job (a document photo takes about 3 s on one core).
    pub worker_stale_secs: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            max_connections: 4096,
            shutdown_grace_secs: 20,
            worker_stale_secs: 60,
        }
    }
}

/// A cheap round trip to the store (Redis `PING`, or a call through the storage adapter).
pub type StoreProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What `/readyz` checks.
pub struct Readiness {
    /// The store's probe; bounded by [`Readiness::PROBE_TIMEOUT`].
    pub store: StoreProbe,
    /// Whose worker loops must be alive.
    pub engine: kyc_flow::Engine,
    /// Worker loops this process runs (`Engine::run_worker`).
    pub workers: usize,
    /// A loop silent for longer is stale ([`HttpLimits::worker_stale_secs`]).
    pub worker_stale_after: Duration,
    /// The vision engines in use, loaded before the endpoint opens (`None`: none configured).
    pub models: Option<String>,
}

impl Readiness {
    /// Longest wait for the store's answer.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

    /// Every check by name, and whether all passed.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let store = match tokio::time::timeout(Self::PROBE_TIMEOUT, (self.store)()).await {
            Ok(Ok(())) => json!({ "ok": true }),
            Ok(Err(e)) => json!({ "ok": false, "error": e }),
            Err(_) => json!({ "ok": false, "error": "no answer within 2 s" }),
        };
        let beats = self.engine.worker_heartbeats();
        let stale = beats
            .iter()
            .filter(|b| b.since > self.worker_stale_after)
            .count();
        let oldest = beats.iter().map(|b| b.since).max().unwrap_or_default();
        let workers_ok = beats.len() >= self.workers.max(1) && stale == 0;
        let mut workers = json!({
            "ok": workers_ok,
            "running": beats.len(),
            "expected": self.workers.max(1),
            "oldest_heartbeat_ms": u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
        });
        if stale > 0 {
            workers["error"] = json!(format!(
                "{stale} worker loop(s) made no progress for more than {} s",
                self.worker_stale_after.as_secs()
            ));
        } else if !workers_ok {
            workers["error"] = json!("worker loops are not running");
        }
        let models = match &self.models {
            Some(m) => json!({ "ok": true, "engines": m }),
            None => json!({ "ok": true, "engines": "none configured" }),
        };
        let checks = json!({ "store": store, "workers": workers, "models": models });
        let failing: Vec<&str> = ["store", "workers", "models"]
            .into_iter()
            .filter(|k| checks[*k]["ok"] != json!(true))
            .collect();
        let ready = failing.is_empty();
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "failing": failing,
            "checks": checks,
        });
        (ready, body)
    }
}

/// `GET /readyz` (200 or 503 with the checks as JSON) and `GET /healthz` (liveness: `ok`).
pub fn probes(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let readiness = readiness.clone();
                async move { ready_response(&readiness).await }
            }),
        )
}

async fn ready_response(readiness: &Readiness) -> Response {
    let (ready, body) = readiness.check().await;
    if !ready {
        tracing::warn!(failing = %body["failing"], "not ready");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Resolves on SIGTERM (what containers send) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: draining"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: draining"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then drain within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let header_timeout = Duration::from_secs(limits.header_timeout_secs.max(1));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.shutdown_grace_secs,
            "connections still open after the grace period; closing them"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    mod readiness {
        use super::super::*;
        use async_trait::async_trait;
        use kyc_flow::{EngineBuilder, Routing};
        use kyc_flow_core::flow::FlowSet;
        use kyc_flow_core::ports::{
            Delivery, JobQueue, NewJob, PortError, PortErrorKind, PortResult,
        };
        use std::sync::atomic::{AtomicBool, Ordering};
        use tower::ServiceExt;

        /// The in-memory queue, unreachable while `down` is set (Redis gone).
        struct SwitchableQueue {
            inner: kyc_flow::memory::MemoryJobQueue,
            down: AtomicBool,
        }

        impl SwitchableQueue {
            fn check(&self) -> PortResult<()> {
                if self.down.load(Ordering::SeqCst) {
                    return Err(PortError::new(PortErrorKind::Unavailable, "queue down"));
                }
                Ok(())
            }
        }

        #[async_trait]
        impl JobQueue for SwitchableQueue {
            async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
                self.check()?;
                self.inner.enqueue(jobs).await
            }
            async fn reserve(
                &self,
                consumer: &str,
                max: usize,
                wait: Duration,
            ) -> PortResult<Vec<Delivery>> {
                self.check()?;
                self.inner.reserve(consumer, max, wait).await
            }
            async fn ack(&self, id: &str) -> PortResult<()> {
                self.check()?;
                self.inner.ack(id).await
            }
            async fn retry(&self, d: &Delivery, delay: Duration) -> PortResult<()> {
                self.check()?;
                self.inner.retry(d, delay).await
            }
            async fn dead_letter(&self, d: &Delivery, reason: &str) -> PortResult<()> {
                self.check()?;
                self.inner.dead_letter(d, reason).await
            }
            async fn reclaim(
                &self,
                consumer: &str,
                min_idle: Duration,
                max: usize,
            ) -> PortResult<Vec<Delivery>> {
                self.check()?;
                self.inner.reclaim(consumer, min_idle, max).await
            }
        }

        struct Setup {
            engine: kyc_flow::Engine,
            queue: Arc<SwitchableQueue>,
            store_down: Arc<AtomicBool>,
            stop: tokio::sync::watch::Sender<bool>,
        }

        fn setup() -> Setup {
            let sim = kyc_flow_testkit::sim::SimPorts::new(vec![]);
            let queue = Arc::new(SwitchableQueue {
                inner: kyc_flow::memory::MemoryJobQueue::new(100),
                down: AtomicBool::new(false),
            });
            let mut ports = sim.ports();
            ports.queue = queue.clone();
            let mut flows = FlowSet::new();
            let mut flow = kyc_flow_core::flow::Flow::preset("mx-ine").unwrap();
            flow.steps
                .retain(|s| !matches!(s, kyc_flow_core::flow::Step::Registry(_)));
            flows.insert(flow);
            let engine = EngineBuilder::new(ports, flows, Routing::single("mx-ine"))
                .build()
                .unwrap();
            let (stop, _) = tokio::sync::watch::channel(false);
            Setup {
                engine,
                queue,
                store_down: Arc::new(AtomicBool::new(false)),
                stop,
            }
        }

        impl Setup {
            fn start_worker(&self, name: &str) {
                let (e, rx, name) = (self.engine.clone(), self.stop.subscribe(), name.to_owned());
                tokio::spawn(async move { e.run_worker(name, rx).await });
            }
            fn app(&self, workers: usize, stale_after: Duration) -> Router {
                let down = self.store_down.clone();
                probes(Arc::new(Readiness {
                    store: Arc::new(move || {
                        let down = down.load(Ordering::SeqCst);
                        Box::pin(async move {
                            if down {
                                Err("redis io: -".to_owned())
                            } else {
                                Ok(())
                            }
                        })
                    }),
                    engine: self.engine.clone(),
                    workers,
                    worker_stale_after: stale_after,
                    models: Some("local".into()),
                }))
            }
        }

        async fn get(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
            let resp = app
                .clone()
                .oneshot(
                    axum::http::Request::get(path)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            (status, body)
        }

        /// Polls `/readyz` until it answers `want` (bounded: the test fails, it never hangs).
        async fn eventually(app: &Router, want: StatusCode) -> serde_json::Value {
            let mut last = serde_json::Value::Null;
            for _ in 0..200 {
                let (status, body) = get(app, "/readyz").await;
                if status == want {
                    return body;
                }
                last = body;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("/readyz never answered {want}; last: {last}");
        }

        #[tokio::test]
        async fn ready_when_store_and_workers_are_well_and_healthz_is_only_liveness() {
            let s = setup();
            let app = s.app(1, Duration::from_secs(5));
            // No worker loop yet: not ready, and it says which check failed.
            let (status, body) = get(&app, "/readyz").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body["failing"], serde_json::json!(["workers"]), "{body}");
            s.start_worker("w-0");
            let body = eventually(&app, StatusCode::OK).await;
            assert_eq!(body["status"], "ready");
            assert_eq!(body["checks"]["workers"]["running"], 1);
            assert_eq!(body["checks"]["models"]["engines"], "local");
            // The store goes away: not ready, naming the store.
            s.store_down.store(true, Ordering::SeqCst);
            let (status, body) = get(&app, "/readyz").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body["status"], "not_ready");
            assert_eq!(body["failing"], serde_json::json!(["store"]), "{body}");
            assert_eq!(body["checks"]["store"]["error"], "redis io: -");
            // Liveness does not depend on any of it.
            let resp = app
                .clone()
                .oneshot(
                    axum::http::Request::get("/healthz")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            s.store_down.store(false, Ordering::SeqCst);
            eventually(&app, StatusCode::OK).await;
            let _ = s.stop.send(true);
        }

        /// A worker whose queue keeps failing stops beating and readiness fails on it; once
        /// the queue is back the loop beats again and readiness returns.
        #[tokio::test]
        async fn a_worker_whose_queue_fails_goes_stale_and_readiness_follows() {
            let s = setup();
            // Above the idle poll (500 ms) so a healthy loop never looks stale.
            let app = s.app(1, Duration::from_millis(1500));
            s.start_worker("w-0");
            eventually(&app, StatusCode::OK).await;
            s.queue.down.store(true, Ordering::SeqCst);
            let body = eventually(&app, StatusCode::SERVICE_UNAVAILABLE).await;
            assert_eq!(body["failing"], serde_json::json!(["workers"]), "{body}");
            assert!(
                body["checks"]["workers"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("no progress"),
                "{body}"
            );
            s.queue.down.store(false, Ordering::SeqCst);
            eventually(&app, StatusCode::OK).await;
            // A stopped loop unregisters: not ready again.
            let _ = s.stop.send(true);
            eventually(&app, StatusCode::SERVICE_UNAVAILABLE).await;
        }
    }

    async fn start(limits: HttpLimits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            serve(listener, app, &limits, async {
                let _ = rx.await;
            })
            .await
        });
        (addr, tx)
    }

    #[tokio::test]
    async fn a_connection_that_never_finishes_its_headers_is_closed() {
        let (addr, _stop) = start(HttpLimits {
            header_timeout_secs: 1,
            ..HttpLimits::default()
        })
        .await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // The server closes it (after answering 408 or not at all) instead of waiting forever.
        let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection was still open after 10 s");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_until_one_closes() {
        let (addr, _stop) = start(HttpLimits {
            max_connections: 1,
            header_timeout_secs: 2,
            ..HttpLimits::default()
        })
        .await;
        // The first connection holds the only slot (it never sends a request)...
        let _hog = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...so the second is not served until the first is timed out.
        let mut next = tokio::net::TcpStream::connect(addr).await.unwrap();
        next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let early =
            tokio::time::timeout(Duration::from_millis(500), next.read_to_end(&mut buf)).await;
        assert!(early.is_err(), "served while the only slot was taken");
        tokio::time::timeout(Duration::from_secs(10), next.read_to_end(&mut buf))
            .await
            .expect("served once the slot was freed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_returns() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listener, app, &HttpLimits::default(), async {
                let _ = rx.await;
            })
            .await
        });
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve returned after the signal")
            .unwrap()
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
