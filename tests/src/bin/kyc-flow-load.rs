//! `kyc-flow-load`: the load test of issue 15 on loopback. N simulated users onboard at once
//! through signed webhooks against real `kyc-flow serve` and `kyc-flow worker` processes on
//! Redis (or, with `--redis-cluster`, a three-master Redis Cluster on loopback that the run
//! starts itself); one worker process is `kill -9`ed mid-run. Prints a Markdown report and exits 1 when
//! a check fails, 2 when the run could not be set up. See `docs/PERFORMANCE.md`.
//!
//! ```text
//! kyc-flow-load [--users 1000] [--engines vendor|local] [--deadline-secs 300]
//!               [--bin PATH] [--redis URL | --redis-cluster] [--worker-processes 1] [--tasks 4]
//!               [--kill-at 0.4 | --no-kill] [--restart] [--vendor-latency-ms 50]
//!               [--registry-delay-ms 200] [--in-flight 256] [--keep-dir DIR]
//!               [--analyses-tasks N (0: no lane)] [--text-users 0] [--text-after-ms 2000]
//!               [--text-every-ms 25 | --text-every-us 25000]
//! ```

use anyhow::{Context, Result, bail};
use kyc_flow_tests::load::{self, EngineMode, LoadOptions};
use std::path::PathBuf;
use std::time::Duration;

fn parse_args() -> Result<LoadOptions> {
    let mut opts = LoadOptions::new(1000, PathBuf::new());
    let mut bin = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--users" => opts.users = value()?.parse().context("--users")?,
            "--engines" => {
                opts.engines = match value()?.as_str() {
                    "vendor" => EngineMode::Vendor,
                    "local" => EngineMode::Local,
                    other => bail!("--engines: `{other}` is not vendor or local"),
                }
            }
            "--deadline-secs" => {
                opts.deadline = Duration::from_secs(value()?.parse().context("--deadline-secs")?)
            }
            "--bin" => bin = Some(PathBuf::from(value()?)),
            "--redis" => opts.redis_url = value()?,
            "--redis-cluster" => opts.redis_cluster = true,
            "--worker-processes" => {
                opts.worker_processes = value()?.parse().context("--worker-processes")?
            }
            "--tasks" => opts.tasks_per_process = value()?.parse().context("--tasks")?,
            "--analyses-tasks" => {
                opts.analyses_tasks = Some(value()?.parse().context("--analyses-tasks")?)
            }
            "--text-users" => opts.text_users = value()?.parse().context("--text-users")?,
            "--text-after-ms" => {
                opts.text_after =
                    Duration::from_millis(value()?.parse().context("--text-after-ms")?)
            }
            "--text-every-ms" => {
                opts.text_every =
                    Duration::from_millis(value()?.parse().context("--text-every-ms")?)
            }
            "--text-every-us" => {
                opts.text_every =
                    Duration::from_micros(value()?.parse().context("--text-every-us")?)
            }
            "--kill-at" => opts.kill_at = Some(value()?.parse().context("--kill-at")?),
            "--no-kill" => opts.kill_at = None,
            "--restart" => opts.restart_after_kill = true,
            "--vendor-latency-ms" => {
                opts.vendor_latency =
                    Duration::from_millis(value()?.parse().context("--vendor-latency-ms")?)
            }
            "--registry-delay-ms" => {
                opts.registry_delay =
                    Duration::from_millis(value()?.parse().context("--registry-delay-ms")?)
            }
            "--in-flight" => opts.max_in_flight = value()?.parse().context("--in-flight")?,
            "--keep-dir" => opts.keep_dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "usage: kyc-flow-load [--users N] [--engines vendor|local] [--deadline-secs S] \
                     [--bin PATH] [--redis URL | --redis-cluster] [--worker-processes N] [--tasks N] \
                     [--kill-at FRACTION | --no-kill] [--restart] [--vendor-latency-ms MS] \
                     [--registry-delay-ms MS] [--in-flight N] [--keep-dir DIR] \
                     [--analyses-tasks N] [--text-users N] [--text-after-ms MS] [--text-every-ms MS | --text-every-us US]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    opts.kyc_flow_bin = match bin {
        Some(b) => b,
        None => load::find_kyc_flow_bin()
            .context("no kyc-flow binary next to this one: build it or pass --bin PATH")?,
    };
    Ok(opts)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kyc-flow-load: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc-flow-load: {e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "kyc-flow-load: {} users, {:?} engines, {} worker process(es), {}, deadline {} s",
        opts.users,
        opts.engines,
        opts.worker_processes,
        if opts.redis_cluster {
            "a local Redis Cluster of 3 masters"
        } else {
            "one Redis"
        },
        opts.deadline.as_secs()
    );
    // Ctrl-C or SIGTERM drops the run: its guards kill the children and delete the Redis keys.
    let outcome = runtime.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = load::run(opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
            () = terminated => None,
        }
    });
    match outcome {
        Some(Ok(report)) => {
            println!("{}", report.to_markdown());
            std::process::exit(if report.passed() { 0 } else { 1 });
        }
        Some(Err(e)) => {
            eprintln!("kyc-flow-load: {e}");
            std::process::exit(2);
        }
        None => {
            eprintln!("kyc-flow-load: interrupted; children killed, Redis keys deleted");
            std::process::exit(130);
        }
    }
}
