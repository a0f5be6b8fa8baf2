//! Load test on loopback: signed webhooks per second acknowledged by the real endpoint
//! (signature check, parse, de-duplication, enqueue into an in-memory queue double), printed
//! beside a bare axum handler that only returns 200, in the same run and with the same client,
//! so the ratio shows what our work costs.
//!
//! `cargo bench -p kyc-flow-whatsapp --bench webhook_load` (`LOAD_SECS`, `LOAD_CONCURRENCY`
//! tune the run). Client and servers share the machine, so absolute numbers are a floor.

#[path = "../tests/support/mod.rs"]
mod support;

use axum::Router;
use axum::routing::post;
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{WebhookConfig, webhook_router};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{MemDedup, MemQueue};

const SECRET: &[u8] = b"bench-app-secret";

struct Result_ {
    name: &'static str,
    latencies: Vec<Duration>,
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}/webhook")
}

async fn load(name: &'static str, url: String, secs: u64, concurrency: usize, tag: u64) -> Result_ {
    // The workspace's reqwest has no bundled crypto provider (rustls on ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let start = Instant::now();
    let warmup = Duration::from_millis(500);
    let deadline = start + warmup + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let user = FakeUser::phone(&format!("52155{worker:08}"));
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = 0u64;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                i += 1;
                let id = format!("wamid.{tag}.{worker}.{i}");
                let payload = fake::text_message(
                    "106540352242922",
                    &user,
                    &id,
                    1_760_000_000,
                    "Hola, quiero abrir mi cuenta",
                );
                let (body, sig) = fake::signed_webhook_body(SECRET, &payload);
                let t0 = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                let dt = t0.elapsed();
                if t0 >= start + warmup {
                    if ok {
                        lat.push(dt);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    summarize(name, all, errors, Duration::from_secs(secs))
}

fn summarize(
    name: &'static str,
    mut all: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
) -> Result_ {
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Result_ {
        name,
        requests: all.len(),
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
        max: all.last().copied().unwrap_or_default(),
        latencies: all,
    }
}

fn merge(runs: Vec<Result_>) -> Result_ {
    let name = runs[0].name;
    let elapsed = runs.iter().map(|r| r.elapsed).sum();
    let errors = runs.iter().map(|r| r.errors).sum();
    let all = runs.into_iter().flat_map(|r| r.latencies).collect();
    summarize(name, all, errors, elapsed)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing extra but we keep
    // the run short then.
    let is_bench = std::env::args().any(|a| a == "--bench");
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if is_bench { 5 } else { 1 });
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let queue = Arc::new(MemQueue::new(usize::MAX));
        let dedup = Arc::new(MemDedup::default());
        let config = WebhookConfig {
            verify_token: "v".into(),
            app_secret: String::from_utf8(SECRET.to_vec()).unwrap(),
            tenant: "bench".into(),
            ..WebhookConfig::default()
        };
        let ours = serve(webhook_router(config, queue.clone(), dedup)).await;
        let bare = serve(Router::new().route("/webhook", post(|| async { http::StatusCode::OK }))).await;

        // Alternate the two endpoints in rounds so that load from elsewhere on the machine
        // falls on both alike.
        let rounds: u64 = std::env::var("LOAD_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
        let mut b = Vec::new();
        let mut w = Vec::new();
        for round in 0..rounds {
            b.push(load("bare axum (200 only)", bare.clone(), secs, concurrency, 100 + round).await);
            w.push(load("webhook endpoint", ours.clone(), secs, concurrency, 200 + round).await);
        }
        let (b, w) = (merge(b), merge(w));
        let (bare_svc, ours_svc) = service_times(queue.clone()).await;
        let enqueued = queue.jobs.lock().unwrap().len();

        println!();
        println!("loopback load test: {concurrency} concurrent keep-alive clients, {rounds} alternating rounds of {secs} s per endpoint, {} CPUs", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        println!("| endpoint | requests | errors | req/s | p50 | p99 | p99.9 | max |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in [&b, &w] {
            println!(
                "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                r.name,
                r.requests,
                r.errors,
                r.requests as f64 / r.elapsed.as_secs_f64(),
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.p999.as_secs_f64() * 1e3,
                r.max.as_secs_f64() * 1e3,
            );
        }
        println!();
        println!("in-process service time (tower oneshot, no network, one request at a time):");
        println!("| handler | requests | p50 | p99 | p99.9 |");
        println!("|---|---:|---:|---:|---:|");
        for r in [&bare_svc, &ours_svc] {
            println!(
                "| {} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
                r.name,
                r.requests,
                r.p50.as_secs_f64() * 1e6,
                r.p99.as_secs_f64() * 1e6,
                r.p999.as_secs_f64() * 1e6,
            );
        }
        let ratio = w.requests as f64 / b.requests.max(1) as f64;
        println!("webhook / bare throughput ratio: {ratio:.2} (target >= 0.5); jobs enqueued: {enqueued}");
    });
}

/// The handlers' own latency without sockets or a competing client: each request is driven
/// through the router with `oneshot`, one at a time.
async fn service_times(queue: Arc<MemQueue>) -> (Result_, Result_) {
    use tower::ServiceExt;
    let n = 20_000;
    let config = WebhookConfig {
        verify_token: "v".into(),
        app_secret: String::from_utf8(SECRET.to_vec()).unwrap(),
        tenant: "bench-svc".into(),
        ..WebhookConfig::default()
    };
    let ours = webhook_router(config, queue, Arc::new(MemDedup::default()));
    let bare = Router::new().route("/webhook", post(|| async { http::StatusCode::OK }));
    let user = FakeUser::phone("5215500000000");
    let bodies: Vec<(Vec<u8>, String)> = (0..n)
        .map(|i| {
            let p = fake::text_message(
                "106540352242922",
                &user,
                &format!("wamid.svc.{i}"),
                1_760_000_000,
                "Hola, quiero abrir mi cuenta",
            );
            fake::signed_webhook_body(SECRET, &p)
        })
        .collect();
    let mut out = Vec::new();
    for (name, app) in [("bare axum (200 only)", bare), ("webhook endpoint", ours)] {
        let mut lat = Vec::with_capacity(n);
        let start = Instant::now();
        for (body, sig) in &bodies {
            let req = http::Request::post("/webhook")
                .header("x-hub-signature-256", sig.as_str())
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let t0 = Instant::now();
            let resp = app.clone().oneshot(req).await.unwrap();
            lat.push(t0.elapsed());
            assert!(resp.status().is_success());
        }
        out.push(summarize(name, lat, 0, start.elapsed()));
    }
    let ours = out.pop().unwrap();
    let bare = out.pop().unwrap();
    (bare, ours)
}
