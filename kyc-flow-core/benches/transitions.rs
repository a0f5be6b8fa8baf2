//! Transitions per second of the pure core on one core, and the serialized size of a typical
//! mid-flow session.
//!
//! `cargo bench -p kyc-flow-core --bench transitions`. The throughput lines (`thrpt`) are
//! transitions per second: each iteration applies every event of a complete `mx-ine`
//! onboarding (user messages, analysis results, registry answers) from a fresh session.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{BatchSize, Criterion, Throughput};
use kyc_flow_core::{Catalog, Event, Flow, Inbound, InboundContent, Timestamp, start, step};
use std::hint::black_box;

fn report_sizes(flow: &Flow, catalog: &Catalog) {
    let (log, mid) = common::happy_path(flow, catalog);
    let mid_json = serde_json::to_vec(&mid).expect("serialize");
    let mut s = start(
        flow,
        common::key(),
        mid.id.clone(),
        None,
        Timestamp(common::T0),
    );
    for (e, now) in &log {
        s = step(flow, catalog, s, e, *now).session;
    }
    let end_json = serde_json::to_vec(&s).expect("serialize");
    println!(
        "session size (JSON): mid-flow (awaiting selfie) {} bytes; decided {} bytes; {} events per onboarding",
        mid_json.len(),
        end_json.len(),
        log.len()
    );
}

fn bench(c: &mut Criterion) {
    let flow = Flow::preset("mx-ine").expect("preset");
    let catalog = Catalog::builtin();
    report_sizes(&flow, &catalog);
    let (log, mid) = common::happy_path(&flow, &catalog);

    let mut g = c.benchmark_group("transitions");
    g.throughput(Throughput::Elements(log.len() as u64));
    g.bench_function("full_onboarding", |b| {
        b.iter(|| {
            let mut s = start(
                &flow,
                common::key(),
                "s".into(),
                None,
                Timestamp(common::T0),
            );
            for (e, now) in &log {
                s = step(&flow, &catalog, s, black_box(e), *now).session;
            }
            s
        })
    });

    // One transition on a mid-flow session: text where a photo is expected (guidance).
    let text = Event::Inbound(Inbound {
        message_id: "wamid.bench".into(),
        at: Timestamp(common::T0 + 120_000),
        content: InboundContent::Text {
            body: "ya la mandé".into(),
        },
        forwarded: false,
        phone: None,
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("guidance_mid_flow", |b| {
        b.iter_batched(
            || mid.clone(),
            |s| {
                step(
                    &flow,
                    &catalog,
                    s,
                    black_box(&text),
                    Timestamp(common::T0 + 120_000),
                )
            },
            BatchSize::SmallInput,
        )
    });
    // A redelivered message: the idempotency check alone.
    let dup = log[0].0.clone();
    g.bench_function("duplicate_delivery", |b| {
        b.iter_batched(
            || mid.clone(),
            |s| {
                step(
                    &flow,
                    &catalog,
                    s,
                    black_box(&dup),
                    Timestamp(common::T0 + 120_000),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // What a store pays per save and load of a mid-flow session.
    let mut g = c.benchmark_group("session_json");
    let json = serde_json::to_vec(&mid).expect("serialize");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("serialize_mid_flow", |b| {
        b.iter(|| serde_json::to_vec(black_box(&mid)).expect("serialize"))
    });
    g.bench_function("deserialize_mid_flow", |b| {
        b.iter(|| {
            serde_json::from_slice::<kyc_flow_core::Session>(black_box(&json)).expect("deserialize")
        })
    });
    g.finish();
}

/// On-CPU time of the calling thread (Linux `schedstat`), to measure on a shared machine
/// where wall-clock time includes waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Transitions per second of on-CPU time, complementing criterion's wall-clock figures.
fn cpu_time_throughput() {
    let flow = Flow::preset("mx-ine").expect("preset");
    let catalog = Catalog::builtin();
    let (log, _) = common::happy_path(&flow, &catalog);
    let Some(cpu0) = thread_cpu_ns() else {
        println!("cpu-time throughput: /proc/thread-self/schedstat unavailable");
        return;
    };
    let wall = std::time::Instant::now();
    let mut transitions = 0u64;
    while wall.elapsed() < std::time::Duration::from_secs(3) {
        for _ in 0..1000 {
            let mut s = start(
                &flow,
                common::key(),
                "s".into(),
                None,
                Timestamp(common::T0),
            );
            for (e, now) in &log {
                s = step(&flow, &catalog, s, black_box(e), *now).session;
            }
            black_box(s);
            transitions += log.len() as u64;
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns().unwrap_or(cpu0).saturating_sub(cpu0) as f64 / 1e9;
    println!(
        "cpu-time throughput: {transitions} transitions in {cpu:.2} s on-CPU ({wall:.2} s wall): {:.0} transitions/s per core ({:.0}/s wall-clock)",
        transitions as f64 / cpu,
        transitions as f64 / wall
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    cpu_time_throughput();
}
