//! The webhook on `serve`'s path, on Redis: signed webhooks per second acknowledged by the real
//! endpoint (signature check, parse, then de-duplication mark and enqueue in one Redis script:
//! the queue as an `Inbox`), printed beside a bare axum handler that only returns 200, in the
//! same run, with the same client, in alternating rounds. The endpoint runs twice: with one
//! script call per webhook, and grouped as `serve` runs it (`CoalescingInbox`: webhooks that
//! arrive while earlier calls are out share the next one). Also prints the Redis commands and
//! script calls one webhook costs.
//!
//! `cargo bench -p kyc-flow-tests --bench webhook_redis` (Redis at `REDIS_URL`; `LOAD_SECS`,
//! `LOAD_CONCURRENCY`, `LOAD_ROUNDS` tune the run). Every request carries a fresh message id,
//! so each is marked and enqueued (none is a duplicate). Client, servers and Redis share the
//! machine, so the figures are a floor; the keys are deleted at the end.
//!
//! `WEBHOOK_SERVE_SECS=N` serves both endpoints for N seconds and prints their URLs instead,
//! for an outside client pinned to another core (`docs/PERFORMANCE.md`: wrk with pre-signed
//! bodies, each with a fresh message id, signed with `bench-app-secret`).

#[path = "../../kyc-flow-whatsapp/benches/driver/mod.rs"]
mod driver;

use driver::{Run, bare_router, env, load, print_table, serve};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_whatsapp::{
    CoalesceConfig, CoalescingInbox, WebhookConfig, webhook_router_with_inbox,
};
use std::sync::Arc;

const SECRET: &[u8] = b"bench-app-secret";

/// `serve`'s allocator: the `kyc-flow` binary runs on mimalloc (its default feature `mimalloc`).
/// `--features system-alloc` measures glibc's malloc instead, for the comparison.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// How many times Redis ran `command` (top level or inside scripts), from `INFO commandstats`.
fn calls_of(con: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(con)
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
            app_secret: String::from_utf8(SECRET.to_vec()).unwrap(),
            tenant: "bench".into(),
            ..WebhookConfig::default()
        };
        let direct = serve(webhook_router_with_inbox(
            config.clone(),
            Arc::new(storage.queue()),
        ))
        .await;
        let grouped = CoalescingInbox::new(Arc::new(storage.queue()), CoalesceConfig::default());
        let ours = serve(webhook_router_with_inbox(config, Arc::new(grouped))).await;
        let bare = serve(bare_router()).await;
        let external: u64 = env("WEBHOOK_SERVE_SECS", 0);
        if external > 0 {
            // Serve both endpoints for an outside load generator (wrk, pinned to another core
            // than this process: the set-up) and measure nothing here.
            println!("bare axum (200 only): {bare}");
            println!("webhook on Redis, one script call each: {direct}");
            println!("webhook on Redis, grouped (serve's path): {ours}");
            tokio::time::sleep(std::time::Duration::from_secs(external)).await;
            return;
        }

        let mut b = Vec::new();
        let mut per = [Vec::new(), Vec::new()];
        let mut commands = [0; 2];
        let mut calls = [0; 2];
        let mut scripts = [0; 2];
        let endpoints = [
            ("webhook on Redis, one script call each", &direct),
            ("webhook on Redis, grouped (serve's path)", &ours),
        ];
        for round in 0..rounds {
            b.push(load("bare axum (200 only)", &bare, SECRET, secs, concurrency, 100 + round).await);
            for (i, &(name, url)) in endpoints.iter().enumerate() {
                let c0 = stat(&mut con, "total_commands_processed");
                let e0 = calls_of(&mut con, "evalsha") + calls_of(&mut con, "eval");
                let seed = 200 + 100 * i as u64 + round;
                let run = load(name, url, SECRET, secs, concurrency, seed).await;
                commands[i] += stat(&mut con, "total_commands_processed").saturating_sub(c0);
                scripts[i] +=
                    (calls_of(&mut con, "evalsha") + calls_of(&mut con, "eval")).saturating_sub(e0);
                calls[i] += run.latencies.len() + run.errors;
                per[i].push(run);
            }
        }
        let b = Run::merge(b);
        let [d, g] = per.map(Run::merge);
        println!();
        println!(
            "loopback, Redis at {url}: {concurrency} keep-alive clients, {rounds} alternating rounds of {secs} s per endpoint, {} CPUs",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        print_table(&[&b, &d, &g]);
        for (i, run) in [&d, &g].into_iter().enumerate() {
            println!(
                "{} / bare throughput ratio: {:.2} (aim >= 0.5); per webhook: {:.2} script calls (round trips), {:.1} Redis commands",
                endpoints[i].0,
                run.per_sec() / b.per_sec().max(1e-9),
                scripts[i] as f64 / calls[i].max(1) as f64,
                commands[i] as f64 / calls[i].max(1) as f64
            );
        }
        println!(
            "(Redis commands are total_commands_processed, the scripts' inner commands included; both counted over whole rounds, warm-up included, divided by the requests timed after it; other clients of this Redis add to both)"
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
