//! `kyc-flow-registry-local`: runs the local registry service from a fixture file, for demos,
//! integration environments and the in-flight benchmark.
//!
//! ```text
//! kyc-flow-registry-local [--bind 127.0.0.1:8091] [--fixtures FILE] [--key-id ID]
//!                         [--secret-env VAR] [--delay-ms N] [--mode fixture|sync|callback]
//!                         [--list]
//! ```
//! The shared secret is read from the environment (`KYC_REGISTRY_SECRET` unless `--secret-env`
//! names another variable), never from the command line where `ps` would show it. Without it a
//! fixed development secret is used and a warning says so. The first line on stdout is
//! `listening http://ADDR`, for scripts that start it on port 0.

use anyhow::{Context, Result, bail};
use kyc_flow_registry::Secret;
use kyc_flow_registry::local::{self, AnswerMode, Behaviour, Fixtures, LocalRegistryConfig};
use std::time::Duration;

/// The secret used when none is configured: for local demos only.
const DEV_SECRET: &str = "kyc-flow-local-registry-dev-secret";

struct Args {
    bind: String,
    fixtures: Option<String>,
    key_id: String,
    secret_env: String,
    delay_ms: u64,
    mode: AnswerMode,
    list: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        bind: "127.0.0.1:8091".into(),
        fixtures: None,
        key_id: "local".into(),
        secret_env: "KYC_REGISTRY_SECRET".into(),
        delay_ms: 0,
        mode: AnswerMode::Fixture,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => a.bind = value()?,
            "--fixtures" => a.fixtures = Some(value()?),
            "--key-id" => a.key_id = value()?,
            "--secret-env" => a.secret_env = value()?,
            "--delay-ms" => a.delay_ms = value()?.parse().context("--delay-ms")?,
            "--mode" => {
                a.mode = match value()?.as_str() {
                    "fixture" => AnswerMode::Fixture,
                    "sync" => AnswerMode::Sync,
                    "callback" => AnswerMode::Callback,
                    other => bail!("--mode: unknown mode {other:?}"),
                }
            }
            "--list" => a.list = true,
            "-h" | "--help" => {
                println!(
                    "usage: kyc-flow-registry-local [--bind ADDR] [--fixtures FILE] [--key-id ID] \
                     [--secret-env VAR] [--delay-ms N] [--mode fixture|sync|callback] [--list]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = parse_args()?;
    let fixtures = match &args.fixtures {
        Some(path) => Fixtures::load(path.as_ref()).with_context(|| format!("loading {path}"))?,
        None => Fixtures::default(),
    };
    if args.list {
        for i in &fixtures.identities {
            let lookup: Vec<String> = i.lookup.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("{:<20} {:<40} {}", i.registry, lookup.join(" "), i.name);
        }
        return Ok(());
    }
    // Each in-flight check holds a socket: lift the soft descriptor limit to the hard one.
    if let Ok(n) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(nofile = n, "descriptor limit");
    }
    let secret = match std::env::var(&args.secret_env) {
        Ok(s) if !s.is_empty() => Secret::new(s),
        _ => {
            tracing::warn!(
                var = %args.secret_env,
                "no shared secret in the environment; using the development secret"
            );
            Secret::new(DEV_SECRET)
        }
    };
    let mut config = LocalRegistryConfig::new(args.key_id, secret);
    config.bind = args.bind.parse().context("--bind")?;
    config.fixtures = fixtures;
    config.behaviour = Behaviour {
        delay: Duration::from_millis(args.delay_ms),
        mode: args.mode,
        ..Behaviour::default()
    };
    let handle = local::start(config).await?;
    println!("listening {}", handle.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    handle.shutdown().await;
    Ok(())
}
