//! The load driver both webhook benches share (`webhook_load` here, on in-memory doubles, and
//! `kyc-flow-tests`' `webhook_redis`, on Redis as `serve` runs it): the servers on loopback,
//! keep-alive clients posting signed text webhooks with a fresh message id each, alternating
//! rounds, and the table they print. Included by path, not a crate: it is bench code only.

#![allow(dead_code)]

use axum::Router;
use axum::routing::post;
use kyc_flow_whatsapp::fake::{self, FakeUser};
use std::time::{Duration, Instant};

/// One endpoint's requests over one or more rounds.
pub struct Run {
    pub name: &'static str,
    /// Sorted once the run is complete ([`Run::finish`]).
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
}

impl Run {
    /// A run from unsorted latencies.
    pub fn finish(
        name: &'static str,
        mut latencies: Vec<Duration>,
        errors: usize,
        elapsed: Duration,
    ) -> Self {
        latencies.sort();
        Self {
            name,
            latencies,
            errors,
            elapsed,
        }
    }

    pub fn pct(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        self.latencies
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }

    pub fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Several rounds of one endpoint as one run.
    pub fn merge(runs: Vec<Run>) -> Run {
        let name = runs[0].name;
        let elapsed = runs.iter().map(|r| r.elapsed).sum();
        let errors = runs.iter().map(|r| r.errors).sum();
        let all = runs.into_iter().flat_map(|r| r.latencies).collect();
        Run::finish(name, all, errors, elapsed)
    }
}

/// Serve `app` on a loopback port; returns the webhook URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}/webhook")
}

/// A handler that only answers 200: what the endpoint is compared with.
pub fn bare_router() -> Router {
    Router::new().route("/webhook", post(|| async { http::StatusCode::OK }))
}

/// `concurrency` keep-alive clients posting signed text webhooks (each with a fresh message
/// id, `wamid.{tag}.{client}.{n}`) to `url` for `secs` after a short warm-up.
pub async fn load(
    name: &'static str,
    url: &str,
    secret: &[u8],
    secs: u64,
    concurrency: usize,
    tag: u64,
) -> Run {
    // The workspace's reqwest has no bundled crypto provider (rustls on ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let start = Instant::now();
    let warmup = Duration::from_millis(300);
    let deadline = start + warmup + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url, secret) = (client.clone(), url.to_owned(), secret.to_vec());
        tasks.push(tokio::spawn(async move {
            let user = FakeUser::phone(&format!("52155{worker:08}"));
            let (mut lat, mut errors, mut i) = (Vec::new(), 0usize, 0u64);
            while Instant::now() < deadline {
                i += 1;
                let payload = fake::text_message(
                    "106540352242922",
                    &user,
                    &format!("wamid.{tag}.{worker}.{i}"),
                    1_760_000_000,
                    "Hola, quiero abrir mi cuenta",
                );
                let (body, sig) = fake::signed_webhook_body(&secret, &payload);
                let t0 = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if t0 >= start + warmup {
                    if ok {
                        lat.push(t0.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    Run::finish(name, all, errors, Duration::from_secs(secs))
}

/// The endpoints' table (requests, errors, req/s, p50, p99, p99.9, max).
pub fn print_table(runs: &[&Run]) {
    println!("| endpoint | requests | errors | req/s | p50 | p99 | p99.9 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            r.name,
            r.latencies.len(),
            r.errors,
            r.per_sec(),
            r.pct(0.50).as_secs_f64() * 1e3,
            r.pct(0.99).as_secs_f64() * 1e3,
            r.pct(0.999).as_secs_f64() * 1e3,
            r.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
        );
    }
}

/// An environment variable parsed, or `default`.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
