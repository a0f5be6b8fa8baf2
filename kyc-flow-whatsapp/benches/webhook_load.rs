//! Load test on loopback: signed webhooks per second acknowledged by the real endpoint
//! (signature check, parse, de-duplication, enqueue into an in-memory queue double), printed
//! beside a bare axum handler that only returns 200, in the same run and with the same client,
//! so the ratio shows what our work costs. The same driver runs the endpoint on Redis, as
//! `serve` does, in `cargo bench -p kyc-flow-tests --bench webhook_redis`.
//!
//! `cargo bench -p kyc-flow-whatsapp --bench webhook_load` (`LOAD_SECS`, `LOAD_CONCURRENCY`,
//! `LOAD_ROUNDS` tune the run). Client and servers share the machine, so absolute numbers are
//! a floor.

#[path = "../tests/support/mod.rs"]
mod support;

mod driver;

use axum::Router;
use driver::{Run, bare_router, env, load, print_table, serve};
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{WebhookConfig, webhook_router};
use std::sync::Arc;
use std::time::Instant;
use support::{MemDedup, MemQueue};

const SECRET: &[u8] = b"bench-app-secret";

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing extra but we keep
    // the run short then.
    let is_bench = std::env::args().any(|a| a == "--bench");
    let secs: u64 = env("LOAD_SECS", if is_bench { 5 } else { 1 });
    let concurrency: usize = env("LOAD_CONCURRENCY", 16);
    let rounds: u64 = env("LOAD_ROUNDS", 3);
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
        let bare = serve(bare_router()).await;

        // Alternate the two endpoints in rounds so that load from elsewhere on the machine
        // falls on both alike.
        let mut b = Vec::new();
        let mut w = Vec::new();
        for round in 0..rounds {
            b.push(load("bare axum (200 only)", &bare, SECRET, secs, concurrency, 100 + round).await);
            w.push(load("webhook endpoint", &ours, SECRET, secs, concurrency, 200 + round).await);
        }
        let (b, w) = (Run::merge(b), Run::merge(w));
        let (bare_svc, ours_svc) = service_times(queue.clone()).await;
        let enqueued = queue.jobs.lock().unwrap().len();

        println!();
        println!("loopback load test: {concurrency} concurrent keep-alive clients, {rounds} alternating rounds of {secs} s per endpoint, {} CPUs", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        print_table(&[&b, &w]);
        println!();
        println!("in-process service time (tower oneshot, no network, one request at a time):");
        println!("| handler | requests | p50 | p99 | p99.9 |");
        println!("|---|---:|---:|---:|---:|");
        for r in [&bare_svc, &ours_svc] {
            println!(
                "| {} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
                r.name,
                r.latencies.len(),
                r.pct(0.50).as_secs_f64() * 1e6,
                r.pct(0.99).as_secs_f64() * 1e6,
                r.pct(0.999).as_secs_f64() * 1e6,
            );
        }
        let ratio = w.per_sec() / b.per_sec().max(1e-9);
        println!("webhook / bare throughput ratio: {ratio:.2} (target >= 0.5); jobs enqueued: {enqueued}");
    });
}

/// The handlers' own latency without sockets or a competing client: each request is driven
/// through the router with `oneshot`, one at a time.
async fn service_times(queue: Arc<MemQueue>) -> (Run, Run) {
    use tower::ServiceExt;
    let n = 20_000;
    let config = WebhookConfig {
        verify_token: "v".into(),
        app_secret: String::from_utf8(SECRET.to_vec()).unwrap(),
        tenant: "bench-svc".into(),
        ..WebhookConfig::default()
    };
    let ours = webhook_router(config, queue, Arc::new(MemDedup::default()));
    let bare: Router = bare_router();
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
        out.push(Run::finish(name, lat, 0, start.elapsed()));
    }
    let ours = out.pop().unwrap();
    let bare = out.pop().unwrap();
    (bare, ours)
}
