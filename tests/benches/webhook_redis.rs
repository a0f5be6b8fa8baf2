//! The webhook on `serve`'s path, on Redis: signed webhooks per second acknowledged by the real
//! endpoint (signature check, parse, de-duplication mark and enqueue in Redis), printed beside
//! a bare axum handler that only returns 200, in the same run, with the same client, in
//! alternating rounds. Also prints the Redis commands and round trips one webhook costs.
//!
//! `cargo bench -p kyc-flow-tests --bench webhook_redis` (Redis at `REDIS_URL`; `LOAD_SECS`,
//! `LOAD_CONCURRENCY`, `LOAD_ROUNDS` tune the run). Every request carries a fresh message id,
//! so each is marked and enqueued (none is a duplicate). Client, servers and Redis share the
//! machine, so the figures are a floor; the keys are deleted at the end.

use axum::Router;
use axum::routing::post;
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{WebhookConfig, webhook_router};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-app-secret";

struct Run {
    name: &'static str,
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        self.latencies
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
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

async fn load(name: &'static str, url: &str, secs: u64, concurrency: usize, tag: u64) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let start = Instant::now();
    let warmup = Duration::from_millis(300);
    let deadline = start + warmup + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url) = (client.clone(), url.to_owned());
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
                let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), &payload);
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
    let mut run = Run {
        name,
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::from_secs(secs),
    };
    for t in tasks {
        let (l, e) = t.await.unwrap();
        run.latencies.extend(l);
        run.errors += e;
    }
    run
}

fn merge(runs: Vec<Run>) -> Run {
    let mut out = Run {
        name: runs[0].name,
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for r in runs {
        out.latencies.extend(r.latencies);
        out.errors += r.errors;
        out.elapsed += r.elapsed;
    }
    out.latencies.sort();
    out
}

fn stat(con: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(con)
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let is_bench = std::env::args().any(|a| a == "--bench");
    let secs: u64 = env("LOAD_SECS", if is_bench { 5 } else { 1 });
    let concurrency: usize = env("LOAD_CONCURRENCY", 16);
    let rounds: u64 = env("LOAD_ROUNDS", if is_bench { 3 } else { 1 });
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("kyc-flow-bench:webhook-{}:", std::process::id());
    let mut con = match redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("webhook_redis: no Redis at {url} ({e}); nothing measured");
            return;
        }
    };
    rt.block_on(async {
        let storage = RedisStorage::connect(RedisConfig {
            url: url.clone(),
            key_prefix: prefix.clone(),
            capacity: 10_000_000,
            ..RedisConfig::with_random_secrets().unwrap()
        })
        .await
        .expect("Redis");
        let config = WebhookConfig {
            verify_token: "v".into(),
            app_secret: SECRET.into(),
            tenant: "bench".into(),
            ..WebhookConfig::default()
        };
        let ours = serve(webhook_router(
            config,
            Arc::new(storage.queue()),
            Arc::new(storage.dedup()),
        ))
        .await;
        let bare = serve(Router::new().route("/webhook", post(|| async { http::StatusCode::OK })))
            .await;

        let (mut b, mut w) = (Vec::new(), Vec::new());
        let mut commands = 0;
        let mut calls = 0;
        for round in 0..rounds {
            b.push(load("bare axum (200 only)", &bare, secs, concurrency, 100 + round).await);
            let c0 = stat(&mut con, "total_commands_processed");
            let run = load("webhook on Redis (serve's path)", &ours, secs, concurrency, 200 + round)
                .await;
            commands += stat(&mut con, "total_commands_processed").saturating_sub(c0);
            calls += run.latencies.len() + run.errors;
            w.push(run);
        }
        let (b, w) = (merge(b), merge(w));
        println!();
        println!(
            "loopback, Redis at {url}: {concurrency} keep-alive clients, {rounds} alternating rounds of {secs} s per endpoint, {} CPUs",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        println!("| endpoint | requests | errors | req/s | p50 | p99 | p99.9 |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for r in [&b, &w] {
            println!(
                "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
                r.name,
                r.latencies.len(),
                r.errors,
                r.per_sec(),
                r.pct(0.50).as_secs_f64() * 1e3,
                r.pct(0.99).as_secs_f64() * 1e3,
                r.pct(0.999).as_secs_f64() * 1e3,
            );
        }
        println!(
            "serve-path / bare throughput ratio: {:.2} (aim >= 0.5); Redis commands per webhook: {:.1} (total_commands_processed over the webhook rounds, Lua scripts' inner commands included; other clients of this Redis add to it)",
            w.per_sec() / b.per_sec().max(1e-9),
            commands as f64 / calls.max(1) as f64
        );
    });
    // The run's keys (stream, de-duplication marks).
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut con)
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut con);
    }
}
