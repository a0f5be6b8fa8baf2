//! Real processes under load (issue 13 item 6, issue 15 part 3, small): `kyc-flow serve` and two
//! `kyc-flow worker` processes on Redis, 20 users onboarding at once through signed webhooks,
//! one worker process `kill -9`ed mid-run. The fake Graph API's log must show no message lost,
//! none duplicated, order kept per user. No time is asserted. The same run again on a Redis
//! Cluster of three masters on loopback ports that the run starts itself.
//!
//! Needs Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`) — for the cluster run,
//! `/usr/bin/redis-server` and `redis-cli` instead — and the built `kyc-flow` binary
//! (`cargo build -p kyc-flow-cli --bin kyc-flow`, found next to the test's directory); without
//! either it skips with a banner, unless `CI` is set, where it fails. The two runs take turns
//! (each is several processes on a shared machine).

use kyc_flow_tests::load::{self, EngineMode, LoadOptions};
use std::time::Duration;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(why: &str) {
    assert!(!in_ci(), "{why} and CI is set");
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPING the real-process load test: {why} !!!!!!!!\n"
    );
}

/// One run at a time: each starts `serve`, two workers and the fakes.
static RUNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_onboarding_loses_nothing_sends_nothing_twice_and_keeps_order() {
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = redis::Client::open(redis_url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .is_ok();
    if !reachable {
        return skip("Redis is unreachable");
    }
    let Some(bin) = load::find_kyc_flow_bin() else {
        return skip("the kyc-flow binary is not built");
    };
    let mut opts = LoadOptions::new(20, bin);
    opts.redis_url = redis_url;
    small_run(opts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_worker_killed_mid_onboarding_loses_nothing_and_keeps_order() {
    for tool in [
        kyc_flow_redis_testkit::REDIS_SERVER,
        kyc_flow_redis_testkit::REDIS_CLI,
    ] {
        if !std::path::Path::new(tool).exists() {
            return skip(&format!(
                "{tool} is not installed (the cluster run needs it)"
            ));
        }
    }
    let Some(bin) = load::find_kyc_flow_bin() else {
        return skip("the kyc-flow binary is not built");
    };
    let mut opts = LoadOptions::new(20, bin);
    opts.redis_cluster = true;
    let report = small_run(opts).await;
    assert!(
        report.redis_topology.contains("Redis Cluster"),
        "{}",
        report.to_markdown()
    );
}

/// 20 users, two worker processes with two tasks each, `kill -9` of one at 40 % of the steps;
/// every check must pass.
async fn small_run(mut opts: LoadOptions) -> load::LoadReport {
    let _turn = RUNS.lock().await;
    opts.engines = EngineMode::Vendor;
    opts.worker_processes = 2;
    opts.tasks_per_process = 2;
    opts.kill_at = Some(0.4);
    // A bound on a stuck run, not a timing assertion: the run stops by itself.
    opts.deadline = Duration::from_secs(45);
    let report = load::run(opts).await.expect("the run could be set up");
    let text = report.to_markdown();
    assert!(report.kill.is_some(), "a worker was killed:\n{text}");
    for name in [
        "every started session ended in a decision or an expiry",
        "no message sent twice",
        "order kept per user",
        "one decision message per decided user",
        "the bank received every decision",
    ] {
        let check = report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("check `{name}` missing:\n{text}"));
        assert!(check.passed, "{name}: {}\n{text}", check.detail);
    }
    assert!(report.passed(), "{text}");
    assert_eq!(report.completed, 20, "{text}");
    report
}
