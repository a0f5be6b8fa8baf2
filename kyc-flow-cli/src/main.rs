//! The `kyc-flow` command line (see `docs/CLI.md`).
//!
//! Exit codes for every subcommand: 0 success or "valid", 1 a well-formed answer of
//! "invalid", 2 a usage error or unreadable input (one line on stderr). `inspect` commands print
//! exactly one JSON document on stdout; logs go to stderr.

use clap::{Parser, Subcommand};
mod cli;
mod demo;
mod dlq;
mod http;
mod inspect;
mod metrics;
mod records;
mod report;
mod review;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kyc-flow",
    version,
    about = "Identity verification (KYC) inside WhatsApp"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything on embedded defaults with a local WhatsApp simulator page.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on. Loopback by default: the demo has no authentication, and
        /// its page shows every simulated conversation.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// The real service from a config file (webhook endpoint, workers, timers).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Background workers only.
    Worker {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a scripted conversation through the real engine and print the transcript.
    Simulate {
        script: PathBuf,
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show or check flows.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// List, re-drive or drop the dead letters of the `serve` config's Redis.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// The onboarding funnel of the `serve` config's Redis: per flow and step, completion
    /// times, retakes, outcomes, messages and their estimated cost, against the targets.
    Report {
        #[arg(long)]
        config: PathBuf,
        /// Only sessions started within this window (`7d`, `12h`, `30m`).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one stored session (personal data masked unless revealed).
    Session {
        #[command(subcommand)]
        command: records::SessionCommand,
    },
    /// Erase every stored conversation of one user (session, evidence, timers, review case).
    Erase {
        #[arg(long)]
        config: PathBuf,
        /// The user's phone number (international, digits), or with `--bsuid` their
        /// business-scoped user id.
        #[arg(long)]
        user: String,
        #[arg(long)]
        bsuid: bool,
        /// Business phone number ids besides the routing's (repeatable).
        #[arg(long = "number")]
        numbers: Vec<String>,
    },
    /// Inspect one payload, identifier, MRZ, image or face pair.
    Inspect {
        #[command(subcommand)]
        command: cli::InspectCommand,
    },
}

#[derive(Subcommand, Debug)]
enum FlowCommand {
    /// Print a flow (preset name or file) as TOML, JSON or a Mermaid diagram.
    Show {
        flow: String,
        #[arg(long)]
        mermaid: bool,
        #[arg(long, conflicts_with = "mermaid")]
        json: bool,
    },
    /// Validate a flow file: exit 0, or 1 with every problem listed.
    Check { file: PathBuf },
}

/// Logs go to stderr. `RUST_LOG` (the standard variable) sets the filter, `KYC_FLOW_LOG` is
/// still read when `RUST_LOG` is unset, and the default is `warn`. `KYC_FLOW_LOG_FORMAT=json`
/// writes one JSON object per line for log collectors.
fn init_logs() {
    let filter = ["RUST_LOG", "KYC_FLOW_LOG"]
        .iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    let json = std::env::var("KYC_FLOW_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc instead of glibc's malloc (feature `mimalloc`, on by default): the webhook path
/// allocates per request (JSON values, the job, the sealed payload), and glibc's allocator was
/// a sixth of its CPU (docs/PERFORMANCE.md has the profile and the figures with each).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logs();
    let result = match args.command {
        Command::Simulate { script, flow, json } => cli::simulate(&script, flow.as_deref(), json),
        Command::Flow { command } => match command {
            FlowCommand::Show {
                flow,
                mermaid,
                json,
            } => cli::flow_show(&flow, mermaid, json),
            FlowCommand::Check { file } => cli::flow_check(&file),
        },
        Command::Inspect { command } => cli::inspect(command),
        Command::Dlq { command } => dlq::run(command),
        Command::Report {
            config,
            since,
            json,
        } => report::run(&config, since.as_deref(), json),
        Command::Session { command } => records::run_session(command),
        Command::Erase {
            config,
            user,
            bsuid,
            numbers,
        } => records::erase(&config, &user, bsuid, &numbers),
        Command::Demo { port, host } => cli::demo(host, port),
        Command::Serve { config } => cli::serve(&config, true),
        Command::Worker { config } => cli::serve(&config, false),
    };
    match result {
        Ok(cli::Verdict::Ok) => ExitCode::SUCCESS,
        Ok(cli::Verdict::Invalid) => ExitCode::from(1),
        Err(e) => {
            // `{:#}`: the whole chain of causes, where the key at fault is named.
            eprintln!("kyc-flow: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}
