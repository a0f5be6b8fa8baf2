//! Loopback throughput of the Redis adapters: session compare-and-set round trips and queue
//! enqueue + reserve + ack cycles, sequential and with concurrent callers sharing one
//! multiplexed connection. Prints a table.
//!
//! `cargo bench -p kyc-flow-redis` (Redis at `REDIS_URL`; `BENCH_SECONDS` per row, default 3).

use kyc_flow_core::conformance::storage::{sample_key, sample_session};
use kyc_flow_core::ports::{JobQueue, NewJob, SessionStore};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use std::time::{Duration, Instant};

struct Row {
    name: &'static str,
    concurrency: usize,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Row {
    fn print(&mut self) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies.get(i).map_or(0, |d| d.as_micros())
        };
        println!(
            "| {:<34} | {:>4} | {:>8} | {:>10.0} | {:>7} | {:>7} |",
            self.name,
            self.concurrency,
            self.ops,
            self.ops as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
    }
}

/// Run `op` in `concurrency` tasks for `secs`; `op(task, i)` is one measured operation.
async fn measure<F, Fut>(name: &'static str, concurrency: usize, secs: f64, op: F) -> Row
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    op(t, i).await;
                    lat.push(t0.elapsed());
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("bench task"));
    }
    Row {
        name,
        concurrency,
        ops: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut id = [0u8; 6];
    getrandom::fill(&mut id).expect("randomness");
    let config = RedisConfig {
        key_prefix: format!("kyc-flow-bench:{}:", hex::encode(id)),
        capacity: 10_000_000,
        ..RedisConfig::with_random_secrets().expect("secrets")
    };
    let storage = match tokio::time::timeout(
        Duration::from_secs(5),
        RedisStorage::connect(config.clone()),
    )
    .await
    {
        Ok(Ok(s)) => s,
        _ => {
            eprintln!(
                "!!!!!!!! Redis at {} unreachable: no benchmark run !!!!!!!!",
                config.redacted_url()
            );
            return;
        }
    };
    let session_bytes = serde_json::to_vec(&sample_session(&sample_key(0), 1))
        .expect("json")
        .len();
    println!(
        "\nkyc-flow-redis loopback benchmark ({secs} s per row, session JSON {session_bytes} B, \
         payload 512 B)\n"
    );
    println!(
        "| operation                          | conc |      ops |      ops/s | p50 µs  | p99 µs  |"
    );
    println!(
        "|------------------------------------|------|----------|------------|---------|---------|"
    );

    for concurrency in [1usize, 16, 64] {
        let sessions = storage.sessions();
        // Each task owns a key and walks its version forward: every op is a successful CAS.
        let versions: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> = std::sync::Arc::new(
            (0..concurrency)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        );
        let mut row = measure("session save (CAS)", concurrency, secs, {
            let versions = versions.clone();
            move |t, i| {
                let sessions = sessions.clone();
                let versions = versions.clone();
                async move {
                    let key = sample_key(u32::try_from(t).unwrap() + 1000 * concurrency as u32);
                    let cur = versions[t].load(std::sync::atomic::Ordering::Relaxed);
                    let expected = (cur > 0).then_some(cur);
                    let v = sessions
                        .save(
                            &key,
                            &sample_session(&key, i),
                            expected,
                            Duration::from_secs(600),
                        )
                        .await
                        .expect("cas");
                    versions[t].store(v, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .await;
        row.print();
    }

    for concurrency in [1usize, 16, 64] {
        let sessions = storage.sessions();
        let mut row = measure(
            "session load + save (CAS)",
            concurrency,
            secs,
            move |t, i| {
                let sessions = sessions.clone();
                async move {
                    let key = sample_key(u32::try_from(t).unwrap() + 100_000 * concurrency as u32);
                    let cur = sessions.load(&key).await.expect("load").map(|v| v.version);
                    sessions
                        .save(
                            &key,
                            &sample_session(&key, i),
                            cur,
                            Duration::from_secs(600),
                        )
                        .await
                        .expect("cas");
                }
            },
        )
        .await;
        row.print();
    }

    for concurrency in [1usize, 16, 64] {
        let queue = storage.queue();
        let mut row = measure(
            "enqueue + reserve + ack (1 job)",
            concurrency,
            secs,
            move |t, _| {
                let queue = queue.clone();
                async move {
                    queue
                        .enqueue(vec![NewJob {
                            kind: "whatsapp.event".into(),
                            partition: Some(format!("p{t}")),
                            payload: vec![7; 512],
                        }])
                        .await
                        .expect("enqueue");
                    // Another task may take this job and leave us one of theirs: either way one
                    // job goes through per op.
                    let got = queue
                        .reserve(&format!("bench-{t}"), 1, Duration::from_secs(1))
                        .await
                        .expect("reserve");
                    for d in got {
                        queue.ack(&d.id).await.expect("ack");
                    }
                }
            },
        )
        .await;
        row.print();
    }

    {
        let queue = storage.queue();
        let mut row = measure("enqueue 100 + reserve 100 + ack", 1, secs, move |_, _| {
            let queue = queue.clone();
            async move {
                let jobs = (0..100)
                    .map(|_| NewJob {
                        kind: "whatsapp.event".into(),
                        partition: None,
                        payload: vec![7; 512],
                    })
                    .collect();
                queue.enqueue(jobs).await.expect("enqueue");
                let mut n = 0;
                while n < 100 {
                    let got = queue
                        .reserve("bench", 100 - n, Duration::from_secs(1))
                        .await
                        .expect("reserve");
                    n += got.len();
                    let acks = got.iter().map(|d| queue.ack(&d.id));
                    for r in futures_join(acks).await {
                        r.expect("ack");
                    }
                }
            }
        })
        .await;
        println!("(batch row: one op = 100 jobs)");
        row.print();
    }

    // Clean up everything under the bench prefix.
    let client = redis::Client::open(config.url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.key_prefix))
        .query_async(&mut conn)
        .await
        .expect("keys");
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut conn)
            .await
            .expect("del");
    }
}

/// Await all futures concurrently (pipelined on the multiplexed connection).
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Sequential awaits would serialize round trips; polling them together lets redis-rs
    // pipeline the commands.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, res) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *res = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("ready")));
    out
}
