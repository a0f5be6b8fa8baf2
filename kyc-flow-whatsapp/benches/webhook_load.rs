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
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
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
        elapsed: Duration::from_secs(secs),
        p50: pct(0.50),
        p99: pct(0.99),
        max: all.last().copied().unwrap_or_default(),
    }
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

        let b = load("bare axum (200 only)", bare, secs, concurrency, 1).await;
        let w = load("webhook endpoint", ours, secs, concurrency, 2).await;
        let enqueued = queue.jobs.lock().unwrap().len();

        println!();
        println!("loopback load test: {concurrency} concurrent keep-alive clients, {secs} s per endpoint, {} CPUs", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        println!("| endpoint | requests | errors | req/s | p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for r in [&b, &w] {
            println!(
                "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
                r.name,
                r.requests,
                r.errors,
                r.requests as f64 / r.elapsed.as_secs_f64(),
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.max.as_secs_f64() * 1e3,
            );
        }
        let ratio = w.requests as f64 / b.requests.max(1) as f64;
        println!("webhook / bare throughput ratio: {ratio:.2} (target >= 0.5); jobs enqueued: {enqueued}");
    });
}
