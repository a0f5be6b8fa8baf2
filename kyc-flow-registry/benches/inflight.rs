//! How many registry checks one process keeps in flight, and what each costs in memory.
//!
//! The local registry service runs as a separate process (the `kyc-flow-registry-local`
//! binary) answering every check after a fixed delay (5 s by default), so this process's
//! memory is the client's alone. For each N the bench starts N checks at once through one
//! `HttpRegistryClient` on a Tokio runtime with as many worker threads as cores, samples the
//! number of checks in flight and the resident set size (`VmRSS` of `/proc/self/status`) every
//! 50 ms, and prints a table.
//!
//! ```text
//! cargo bench -p kyc-flow-registry --bench inflight              # N = 100, 1000, 10000
//! cargo bench -p kyc-flow-registry --bench inflight -- 2000 5000 # chosen N
//! INFLIGHT_DELAY_MS=1000 cargo bench -p kyc-flow-registry --bench inflight
//! ```
//! Each in-flight check holds one TCP connection (HTTP/1.1), so N needs N descriptors here and
//! N in the service: the bench lifts the soft `nofile` limit to the hard one (the `rlimit`
//! crate) and caps N below it with a warning; raise the hard limit (`ulimit -Hn`) for more.

use kyc_flow_core::ports::{RegistryClient, RegistryReply};
use kyc_flow_core::{Country, RegistryId, RegistryQuery};
use kyc_flow_registry::{HttpRegistryClient, RegistryEndpoint, Secret};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEY_ID: &str = "bench";
const SECRET: &str = "bench-secret";

fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    proc_status("VmRSS:")
}

fn threads() -> u64 {
    proc_status("Threads:")
}

struct Service(Child);
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(delay_ms: u64) -> (Service, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kyc-flow-registry-local"))
        .args(["--bind", "127.0.0.1:0", "--key-id", KEY_ID, "--delay-ms"])
        .arg(delay_ms.to_string())
        .args(["--mode", "sync"])
        .env("KYC_REGISTRY_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start kyc-flow-registry-local");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read service address");
    let url = line
        .trim()
        .strip_prefix("listening ")
        .expect("`listening URL` line")
        .to_string();
    (Service(child), url)
}

fn query(i: usize) -> RegistryQuery {
    RegistryQuery {
        registry: RegistryId("pe-reniec".into()),
        country: Country::new("PE"),
        fields: [("document_number".to_string(), "45678912".to_string())].into(),
        correlation_id: format!("bench-{i}"),
    }
}

struct Row {
    n: usize,
    peak_in_flight: usize,
    ok: usize,
    failed: usize,
    total: Duration,
    rss_base_kib: u64,
    rss_peak_kib: u64,
    threads_peak: u64,
}

async fn round(client: Arc<HttpRegistryClient>, n: usize) -> Row {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let rss_base_kib = rss_kib();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let client = client.clone();
        let in_flight = in_flight.clone();
        tasks.push(tokio::spawn(async move {
            in_flight.fetch_add(1, Ordering::Relaxed);
            let r = client.query(&query(i)).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            matches!(r, Ok(RegistryReply::Answered(_)))
        }));
    }
    let monitor = {
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let (mut peak, mut rss_at_peak, mut threads_peak) = (0usize, 0u64, 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let now = in_flight.load(Ordering::Relaxed);
                threads_peak = threads_peak.max(threads());
                if now >= peak {
                    peak = now;
                    rss_at_peak = rss_at_peak.max(rss_kib());
                }
                if now == 0 && peak > 0 {
                    return (peak, rss_at_peak, threads_peak);
                }
            }
        })
    };
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let total = start.elapsed();
    let (peak_in_flight, rss_peak_kib, threads_peak) = monitor.await.unwrap_or((0, 0, 0));
    Row {
        n,
        peak_in_flight,
        ok,
        failed: n - ok,
        total,
        rss_base_kib,
        rss_peak_kib,
        threads_peak,
    }
}

fn main() {
    let delay_ms: u64 = std::env::var("INFLIGHT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let mut ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if ns.is_empty() {
        ns = vec![100, 1000, 10_000];
    }
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // Headroom for the runtime, the service pipe and stdio.
    let cap = usize::try_from(nofile.saturating_sub(64)).unwrap_or(usize::MAX);
    for n in &mut ns {
        if *n > cap {
            eprintln!(
                "nofile limit {nofile}: capping N={n} to {cap} (raise `ulimit -Hn` for more)"
            );
            *n = cap;
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if std::env::args().any(|a| a == "--one") {
        // Child mode: one N in this fresh process, print the row only.
        let n = ns[0];
        let row = measure(n, delay_ms, cores);
        println!("{}", row.format());
        return;
    }
    println!(
        "registry checks in flight — service answers after {delay_ms} ms; {cores} cores, {cores} runtime workers; nofile {nofile}"
    );
    println!(
        "{:>7} {:>10} {:>7} {:>7} {:>9} {:>10} {:>10} {:>13} {:>8}",
        "N",
        "in flight",
        "ok",
        "failed",
        "total s",
        "RSS0 MiB",
        "RSS MiB",
        "KiB/in-flight",
        "threads"
    );
    // One fresh process per N: a process that already held N connections keeps that memory
    // (allocator arenas, pooled connections), which would hide the next round's cost.
    let exe = std::env::current_exe().expect("current exe");
    for n in ns {
        let out = Command::new(&exe)
            .args(["--one", &n.to_string()])
            .env("INFLIGHT_DELAY_MS", delay_ms.to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run one round");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

impl Row {
    fn format(&self) -> String {
        let per = (self.rss_peak_kib.saturating_sub(self.rss_base_kib)) as f64
            / self.peak_in_flight.max(1) as f64;
        format!(
            "{:>7} {:>10} {:>7} {:>7} {:>9.2} {:>10.1} {:>10.1} {:>13.1} {:>8}",
            self.n,
            self.peak_in_flight,
            self.ok,
            self.failed,
            self.total.as_secs_f64(),
            self.rss_base_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
            per,
            self.threads_peak
        )
    }
}

fn measure(n: usize, delay_ms: u64, cores: usize) -> Row {
    let (_service, url) = start_service(delay_ms);
    let mut endpoint = RegistryEndpoint::new("pe-reniec", url, KEY_ID, Secret::new(SECRET));
    endpoint.timeout = Duration::from_millis(delay_ms) + Duration::from_secs(30);
    endpoint.retries = 0;
    endpoint.breaker.failure_threshold = u32::MAX;
    let client = Arc::new(HttpRegistryClient::new(vec![endpoint]).expect("client"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Warm up: TLS provider, allocator arenas, the first connection.
        let _ = round(client.clone(), 4).await;
        round(client, n).await
    })
}
