//! `kyc-flow demo` listens on loopback unless told otherwise (it has no authentication and its
//! page shows every simulated conversation), and serves `/readyz` once its workers run.

mod process;
use process::Reaper;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn get(addr: &str, path: &str) -> Option<String> {
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    conn.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_demo_binds_loopback_by_default_and_reports_ready() {
    if kyc_flow_vision::assets::AssetPaths::discover().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the vision assets (scripts/setup.sh)"
        );
        eprintln!("SKIPPED: vision assets missing; run scripts/setup.sh");
        return;
    }
    let mut demo = Reaper(
        Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
            .args(["demo", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    // The demo prints its URL on stdout once it listens.
    let stdout = demo.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let url = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("the demo printed its URL");
    let addr: std::net::SocketAddr = url
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {url}"));
    assert_eq!(
        addr.ip(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        "the demo must listen on loopback by default: {url}"
    );
    let addr = addr.to_string();
    assert!(get(&addr, "/healthz").unwrap().starts_with("HTTP/1.1 200"));
    // Ready once every worker loop has polled: two on the events lane, two on the analyses lane.
    let mut last = String::new();
    for _ in 0..100 {
        last = get(&addr, "/readyz").unwrap_or_default();
        if last.starts_with("HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(last.starts_with("HTTP/1.1 200"), "{last}");
    assert!(last.contains("\"status\":\"ready\""), "{last}");
    assert!(last.contains("\"running\":4"), "{last}");
}
