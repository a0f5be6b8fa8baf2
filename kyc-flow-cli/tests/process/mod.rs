//! Shared by the tests that start `kyc-flow demo` (and ChromeDriver) as child processes.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when the test ends, however it ends.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `probe` until it returns `Some`, for at most `limit` (a bound, not a measurement).
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the vision assets are there (`scripts/setup.sh`); under `CI` they must be.
pub fn assets_or_skip() -> bool {
    if kyc_flow_vision::assets::AssetPaths::discover().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must have the vision assets (scripts/setup.sh)"
    );
    eprintln!("SKIPPED: vision assets missing; run scripts/setup.sh");
    false
}

/// `kyc-flow demo` started as a user starts it, on a free loopback port, once its page
/// answers: the process (killed when dropped) and the demo's base URL.
pub async fn start_demo(http: &reqwest::Client) -> (Reaper, String) {
    let port = free_port();
    let demo = Reaper(
        Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
            .args(["demo", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the demo page", Duration::from_secs(120), || {
        let http = http.clone();
        let url = format!("{base}/");
        async move {
            http.get(url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
    (demo, base)
}
