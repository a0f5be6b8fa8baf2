//! Test kit for the Redis adapters: [`LocalCluster`], a throwaway Redis Cluster of three
//! masters on loopback ports, for tests and the load test; [`OwnPrefix`], a test's own key
//! prefix on the shared Redis, cleaned up on drop. Nothing here belongs in a
//! production build.
//!
//! Why processes and `redis-cli`, not a client library: the kit must stand up the same cluster
//! an operator would (`redis-server --cluster-enabled yes` + `redis-cli --cluster create`), and
//! it must not depend on the client under test to prove that client works.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Redis server binary the kit starts (Debian's `redis-server` package, Redis 7).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// The CLI that creates the cluster and answers `CLUSTER INFO`.
pub const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// Why a cluster could not be started.
#[derive(Debug)]
pub struct ClusterError(pub String);

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

fn fail(what: impl Into<String>) -> ClusterError {
    ClusterError(what.into())
}

/// A Redis Cluster of `masters` nodes (no replicas) on free loopback ports, its files in a
/// temporary directory. Dropping it kills the servers (`SIGKILL`) and removes the directory.
#[derive(Debug)]
pub struct LocalCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

/// Whether `CI` asks for failures instead of skips.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl LocalCluster {
    /// Starts three masters, or `None` after a loud banner when `redis-server` or `redis-cli`
    /// is not installed and `CI` is not set. Panics when the binaries are missing under
    /// `CI=true`, and whenever they exist but the cluster does not come up.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        let missing: Vec<&str> = [REDIS_SERVER, REDIS_CLI]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            assert!(
                !in_ci(),
                "{test}: {} not installed and CI is set",
                missing.join(" and ")
            );
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING {test}: {} not installed (a local Redis Cluster needs \
                 both; CI=true fails instead) !!!!!!!!\n",
                missing.join(" and ")
            );
            return None;
        }
        Some(Self::start(3).unwrap_or_else(|e| panic!("{test}: local Redis Cluster: {e}")))
    }

    /// Starts `masters` (at least 3, Redis's minimum) cluster-enabled servers and joins them.
    /// A port taken between choosing and binding is retried with fresh ports (twice).
    pub fn start(masters: usize) -> Result<Self, ClusterError> {
        if masters < 3 {
            return Err(fail("a Redis Cluster needs at least 3 masters"));
        }
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(masters) {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| fail("no attempt made")))
    }

    fn try_start(masters: usize) -> Result<Self, ClusterError> {
        let dir = std::env::temp_dir().join(format!(
            "kyc-flow-cluster-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let mut cluster = Self {
            ports: Vec::new(),
            children: Vec::new(),
            dir,
        };
        let ports = free_ports(masters)?;
        for &port in &ports {
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).map_err(|e| fail(e.to_string()))?;
            let log = std::fs::File::create(node_dir.join("redis.log"))
                .map_err(|e| fail(e.to_string()))?;
            let child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "5000"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--protected-mode", "yes"])
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
                .stderr(log)
                .spawn()
                .map_err(|e| fail(format!("cannot start {REDIS_SERVER}: {e}")))?;
            cluster.children.push(child);
            cluster.ports.push(port);
        }
        for &port in &cluster.ports {
            wait_until(Duration::from_secs(10), || {
                cli(port, &["PING"]).is_ok_and(|o| o.trim() == "PONG")
            })
            .map_err(|()| fail(format!("redis-server on port {port} did not answer PING")))?;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new(REDIS_CLI)
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run {REDIS_CLI}: {e}")))?;
        if !out.status.success() {
            // Its last lines say why (a node not empty, not cluster-enabled, unreachable).
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            return Err(fail(format!(
                "redis-cli --cluster create failed: {}",
                lines[lines.len().saturating_sub(3)..].join(" | ")
            )));
        }
        // Every node must agree that all slots are served before a client connects.
        for &port in &cluster.ports {
            wait_until(Duration::from_secs(30), || {
                cli(port, &["CLUSTER", "INFO"]).is_ok_and(|o| o.contains("cluster_state:ok"))
            })
            .map_err(|()| fail(format!("node {port} never reported cluster_state:ok")))?;
        }
        Ok(cluster)
    }

    /// The nodes' URLs (`redis://127.0.0.1:PORT`), the seed list a client is given.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `used_memory` of every node, summed (bytes), read with `INFO memory`.
    pub fn used_memory(&self) -> Result<u64, ClusterError> {
        let mut total = 0;
        for &port in &self.ports {
            let info = cli(port, &["INFO", "memory"])?;
            total += info
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| fail(format!("node {port}: no used_memory in INFO")))?;
        }
        Ok(total)
    }

    /// How many keys each node holds (`DBSIZE`), in port order.
    pub fn key_counts(&self) -> Result<Vec<u64>, ClusterError> {
        self.ports
            .iter()
            .map(|&p| {
                cli(p, &["DBSIZE"])?
                    .trim()
                    .parse()
                    .map_err(|_| fail(format!("node {p}: DBSIZE did not answer a number")))
            })
            .collect()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One test's keys on the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`): a prefix of
/// its own, `kyc-flow-test:{test}-{unique}:`, and every key under it deleted when the guard is
/// dropped (also after a panic). Like [`LocalCluster`], it talks to Redis through `redis-cli`,
/// not through the client library under test.
#[derive(Debug)]
pub struct OwnPrefix {
    url: String,
    prefix: String,
}

impl OwnPrefix {
    /// A fresh prefix on the Redis at `REDIS_URL`, or `None` after a loud message when Redis
    /// does not answer `PING`; under `CI=true` an unreachable Redis fails the test instead.
    pub fn reserve_or_skip(test: &str) -> Option<Self> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let answers = url_cli(&url, &["PING"]).is_ok_and(|out| out.trim() == "PONG");
        if !answers {
            // The URL may carry a password: name the host part only.
            let host = url.rsplit('@').next().unwrap_or(&url).to_owned();
            assert!(
                !in_ci(),
                "{test}: Redis at {host} is unreachable and CI is set"
            );
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING {test}: Redis at {host} is unreachable \
                 (set REDIS_URL, or CI=true to fail) !!!!!!!!\n"
            );
            return None;
        }
        let prefix = format!("kyc-flow-test:{test}-{}:", unique());
        Some(Self { url, prefix })
    }

    /// The Redis URL the prefix lives on.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The prefix: every key the test creates must start with it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The keys under the prefix now (`SCAN` by `redis-cli --scan`).
    pub fn keys(&self) -> Result<Vec<String>, ClusterError> {
        let pattern = format!("{}*", self.prefix);
        let out = url_cli(&self.url, &["--scan", "--pattern", &pattern])?;
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for OwnPrefix {
    fn drop(&mut self) {
        let Ok(keys) = self.keys() else {
            return;
        };
        for chunk in keys.chunks(200) {
            let mut args = vec!["DEL"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = url_cli(&self.url, &args);
        }
    }
}

/// `redis-cli -u URL args…`; its stdout.
fn url_cli(url: &str, args: &[&str]) -> Result<String, ClusterError> {
    let out = Command::new(REDIS_CLI)
        .args(["-u", url, "--no-auth-warning"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run {REDIS_CLI}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("redis-cli exited with {}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `redis-cli -p PORT args…` on loopback; its stdout.
fn cli(port: u16, args: &[&str]) -> Result<String, ClusterError> {
    let out = Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run {REDIS_CLI}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "redis-cli on port {port} exited with {}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> Result<(), ()> {
    let give_up = Instant::now() + limit;
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() >= give_up {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` distinct ports, each free together with its cluster bus port (`port + 10000`).
fn free_ports(n: usize) -> Result<Vec<u16>, ClusterError> {
    let mut out: Vec<u16> = Vec::new();
    let mut held = Vec::new();
    for _ in 0..200 {
        if out.len() == n {
            return Ok(out);
        }
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
        let port = l.local_addr().map_err(|e| fail(e.to_string()))?.port();
        if port > 55_000 || out.contains(&port) {
            held.push(l);
            continue;
        }
        let Ok(bus) = TcpListener::bind(("127.0.0.1", port + 10_000)) else {
            held.push(l);
            continue;
        };
        out.push(port);
        // Held until all are chosen, so the kernel does not hand the same port out twice.
        held.push(l);
        held.push(bus);
    }
    Err(fail("could not find free loopback ports"))
}

/// A per-process counter plus the clock: distinct directory names for clusters started in one
/// test binary.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_serves_every_slot_and_is_gone_after_drop() {
        let Some(cluster) = LocalCluster::start_or_skip("a_cluster_starts") else {
            return;
        };
        let ports = cluster.ports().to_vec();
        assert_eq!(ports.len(), 3);
        for &p in &ports {
            let info = cli(p, &["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
            assert!(info.contains("cluster_known_nodes:3"), "{info}");
        }
        assert!(cluster.used_memory().unwrap() > 0);
        drop(cluster);
        for p in ports {
            let answer = cli(p, &["PING"]);
            assert!(
                !answer.as_ref().is_ok_and(|o| o.trim() == "PONG"),
                "port {p} still answers after drop: {answer:?}"
            );
        }
    }

    #[test]
    fn a_prefix_keeps_its_keys_apart_and_deletes_them_on_drop() {
        let Some(own) = OwnPrefix::reserve_or_skip("own_prefix") else {
            return;
        };
        let other = OwnPrefix::reserve_or_skip("own_prefix").unwrap();
        assert_ne!(own.prefix(), other.prefix());
        for i in 0..250 {
            let key = format!("{}k{i}", own.prefix());
            url_cli(own.url(), &["SET", &key, "v"]).unwrap();
        }
        let neighbour = format!("{}kept", other.prefix());
        url_cli(other.url(), &["SET", &neighbour, "v"]).unwrap();
        assert_eq!(own.keys().unwrap().len(), 250);
        let url = own.url().to_owned();
        let pattern = format!("{}*", own.prefix());
        drop(own);
        let left = url_cli(&url, &["--scan", "--pattern", &pattern]).unwrap();
        assert!(left.trim().is_empty(), "left after drop: {left}");
        assert_eq!(
            other.keys().unwrap(),
            vec![neighbour],
            "another prefix untouched"
        );
    }
}
