//! The engine with the transactional outbox on Redis: transitions per second with one and
//! two engines, the Redis commands one transition costs, and what a mid-flow session takes in
//! Redis. Prints a table.
//!
//! `cargo bench -p kyc-flow-tests --bench outbox` (Redis at `REDIS_URL`; `BENCH_EVENTS` text
//! events per row, default 4000; `BENCH_USERS` conversations, default 400).
//!
//! Each measured event is a text message mid-flow (a user on the document-front step writes
//! "hola?"): the engine takes the conversation's lease, loads, steps, saves the session with
//! the transition's commands in its outbox, sends the guidance reply through a recording
//! transport, re-arms the reminder timer, and records the commands done. Scripted engines
//! stand in for vision; everything that is storage is Redis.

use kyc_flow::{Engine, EngineBuilder, ManualClock, Ports};
use kyc_flow_core::event::{Event, Inbound, InboundContent};
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::ports::NewJob;
use kyc_flow_core::{SessionKey, Side, Timestamp, UserRef};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_testkit::sim::SimPorts;
use kyc_flow_tests::Harness;
use std::sync::Arc;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    storage: RedisStorage,
    sim: SimPorts,
    ports: Ports,
    flow: Flow,
    clock: Arc<ManualClock>,
    redis: redis::aio::MultiplexedConnection,
    prefix: String,
}

async fn setup(tag: &str) -> Setup {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("kyc-flow-bench:{tag}-{}:", std::process::id());
    let config = RedisConfig {
        url: url.clone(),
        key_prefix: prefix.clone(),
        capacity: 1_000_000,
        ..RedisConfig::with_random_secrets().unwrap()
    };
    let storage = RedisStorage::connect(config)
        .await
        .expect("Redis at REDIS_URL");
    let flow = Flow::preset("mx-ine").unwrap();
    let sim = SimPorts::new(flow.registries());
    let mut ports = sim.ports();
    ports.sessions = Arc::new(storage.sessions());
    ports.queue = Arc::new(storage.queue());
    ports.timers = Arc::new(storage.timers());
    ports.leases = Arc::new(storage.leases());
    ports.evidence = Arc::new(storage.evidence());
    let redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Setup {
        storage,
        sim,
        ports,
        flow,
        clock: Arc::new(ManualClock::new(Timestamp(1_768_489_200_000))),
        redis,
        prefix,
    }
}

impl Setup {
    fn engine(&self) -> Engine {
        let mut flows = FlowSet::new();
        flows.insert(self.flow.clone());
        EngineBuilder::new(self.ports.clone(), flows, Harness::routing(&self.flow))
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    async fn cleanup(&mut self) {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.redis)
            .await
            .unwrap();
        for chunk in keys.chunks(500) {
            let _: () = redis::cmd("DEL")
                .arg(chunk)
                .query_async(&mut self.redis)
                .await
                .unwrap();
        }
    }

    async fn commands_processed(&mut self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut self.redis)
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn key(i: usize) -> SessionKey {
    SessionKey::new("t", "100", UserRef::Phone(format!("52155{i:08}")))
}

fn text(n: &mut u64, body: &str) -> Event {
    *n += 1;
    Event::Inbound(Inbound {
        message_id: format!("wamid.bench.{n}"),
        at: Timestamp(1_768_489_200_000),
        content: InboundContent::Text { body: body.into() },
        forwarded: false,
        phone: None,
    })
}

fn job(key: &SessionKey, event: Event) -> NewJob {
    kyc_flow::engine::event_job(key, event).unwrap()
}

/// Enqueue `events` (per user, round robin) untimed, then time `engines` draining the queue.
async fn row(s: &mut Setup, users: usize, events: usize, engines: usize, n: &mut u64) {
    let mut jobs = Vec::with_capacity(events);
    for i in 0..events {
        jobs.push(job(&key(i % users), text(n, "hola?")));
    }
    for chunk in jobs.chunks(500) {
        s.ports.queue.enqueue(chunk.to_vec()).await.unwrap();
    }
    let sent_before = s.sim.transport.sent().len();
    let workers: Vec<Engine> = (0..engines).map(|_| s.engine()).collect();
    let commands_before = s.commands_processed().await;
    let start = Instant::now();
    let tasks: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(w, engine)| {
            tokio::spawn(async move { engine.run_until_idle(&format!("bench-{w}")).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let commands = s.commands_processed().await - commands_before;
    let replies = s.sim.transport.sent().len() - sent_before;
    assert_eq!(replies, events, "one reply per event");
    println!(
        "| {engines} engine(s), {users} conversations | {events} | {:.2} s | {:>8.0} | {:.1} |",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        commands as f64 / events as f64,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let users = env("BENCH_USERS", 400);
    let events = env("BENCH_EVENTS", 4000);
    let mut s = setup("throughput").await;
    let engine = s.engine();
    let mut n = 0;
    // Every user greeted and past consent: on the document-front step.
    for i in 0..users {
        engine.submit(key(i), text(&mut n, "hola")).await.unwrap();
    }
    engine.run_until_idle("setup").await.unwrap();
    for i in 0..users {
        n += 1;
        let consent = Event::Inbound(Inbound {
            message_id: format!("wamid.bench.{n}"),
            at: Timestamp(1_768_489_200_000),
            content: InboundContent::Reply {
                id: "consent.accept".into(),
                title: "Acepto".into(),
            },
            forwarded: false,
            phone: None,
        });
        engine.submit(key(i), consent).await.unwrap();
    }
    engine.run_until_idle("setup").await.unwrap();

    println!(
        "| engines × conversations | events | time | transitions/s | Redis commands per transition |"
    );
    println!("|---|---:|---:|---:|---:|");
    row(&mut s, users, events, 1, &mut n).await;
    row(&mut s, users, events, 2, &mut n).await;
    row(&mut s, users, events, 1, &mut n).await;
    row(&mut s, users, events, 2, &mut n).await;
    s.cleanup().await;

    // One user to "awaiting selfie": consent and both card sides done.
    let mut s = setup("size").await;
    let mut h = Harness::new("mx-ine");
    h.sim = s.sim.clone();
    let engine = s.engine();
    let hello = h.text("hola");
    let consent = h.reply("consent.accept");
    let front = h.document_photo(Side::Front);
    let back = h.document_photo(Side::Back);
    for e in [hello, consent, front, back] {
        engine.submit(h.key.clone(), e).await.unwrap();
        engine.run_until_idle("size").await.unwrap();
    }
    let stored = engine.session(&h.key).await.unwrap().unwrap();
    let json = serde_json::to_vec(&stored).unwrap().len();
    let rkey = s.storage.sessions().redis_key(&h.key);
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&rkey)
        .query_async(&mut s.redis)
        .await
        .unwrap();
    println!();
    println!("| mid-flow session (awaiting selfie) | bytes |");
    println!("|---|---:|");
    println!("| JSON | {json} |");
    println!("| Redis `MEMORY USAGE` of the session hash (sealed) | {usage} |");
    println!(
        "| outbox pending after the drain | {} commands |",
        stored.outbox.pending.len()
    );
    s.cleanup().await;
}
