//! The command line's subcommands as library functions (the binary only parses arguments).

use anyhow::{Context, anyhow};
use kyc_flow::flows::{load_flow, parse_flow_text};
use kyc_flow_core::catalog::Catalog;
use kyc_flow_testkit::simulate::Simulation;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A subcommand's well-formed answer: valid/success (exit 0) or invalid (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Invalid,
}

impl Verdict {
    pub(crate) fn from_valid(valid: bool) -> Self {
        if valid { Self::Ok } else { Self::Invalid }
    }
}

/// `kyc-flow inspect …`
#[derive(clap::Subcommand, Debug)]
pub enum InspectCommand {
    /// Parse one raw Cloud API webhook body.
    Webhook {
        /// File, or `-` for standard input.
        file: String,
    },
    /// Check `X-Hub-Signature-256` over a file's exact bytes.
    Signature {
        #[arg(long)]
        secret: String,
        #[arg(long)]
        header: String,
        file: String,
    },
    /// Validate one identifier (`mx-curp`, `co-cedula`, `br-cpf`, …).
    Id { kind: String, value: String },
    /// Parse a machine-readable zone (TD1, TD2, TD3).
    Mrz {
        /// File, or `-` for standard input.
        file: String,
    },
    /// Parse a decoded barcode payload.
    Payload {
        #[arg(long)]
        kind: String,
        /// The file holds hex text rather than raw bytes.
        #[arg(long)]
        hex: bool,
        file: String,
    },
    /// Run the local vision pipeline on one photo of an ID card.
    Image {
        image: PathBuf,
        #[arg(long)]
        country: Option<String>,
        #[arg(long)]
        side: Option<String>,
    },
    /// Compare the face in a selfie with a portrait.
    Face {
        selfie: PathBuf,
        portrait: PathBuf,
        #[arg(long)]
        liveness: bool,
    },
}

pub(crate) fn read_input(file: &str) -> anyhow::Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        Ok(buf)
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {file}"))
    }
}

pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `kyc-flow inspect …`
pub fn inspect(command: InspectCommand) -> anyhow::Result<Verdict> {
    crate::inspect::run(command)
}

/// `kyc-flow simulate SCRIPT [--flow FLOW] [--json]`
pub fn simulate(script: &Path, flow: Option<&str>, json: bool) -> anyhow::Result<Verdict> {
    let text = std::fs::read_to_string(script)
        .with_context(|| format!("cannot read {}", script.display()))?;
    let base = script
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let sim = Simulation::from_toml(&text, flow, &base)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let (sim, _registry) = kyc_flow_testkit::engines::attach_local_engines(sim).await?;
        anyhow::Ok(sim.run().await?)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", outcome.to_text());
    }
    Ok(Verdict::Ok)
}

/// `kyc-flow flow show FLOW [--mermaid|--json]`
pub fn flow_show(flow: &str, mermaid: bool, json: bool) -> anyhow::Result<Verdict> {
    let flow = load_flow(flow, Path::new(".")).map_err(|e| anyhow!(e))?;
    if mermaid {
        print!("{}", flow.to_mermaid());
    } else if json {
        println!("{}", serde_json::to_string_pretty(&flow)?);
    } else {
        print!("{}", flow.to_toml());
    }
    Ok(Verdict::Ok)
}

/// `kyc-flow flow check FILE`: every problem, one per line on stdout.
pub fn flow_check(file: &Path) -> anyhow::Result<Verdict> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let flow = match parse_flow_text(&text, file) {
        Ok(f) => f,
        Err(e) => {
            println!("{e}");
            return Ok(Verdict::Invalid);
        }
    };
    match flow.validate(&Catalog::builtin()) {
        Ok(()) => {
            println!(
                "ok: flow {} v{} ({} steps)",
                flow.id,
                flow.version,
                flow.steps.len()
            );
            Ok(Verdict::Ok)
        }
        Err(problems) => {
            for p in &problems {
                println!("{p}");
            }
            Ok(Verdict::Invalid)
        }
    }
}

/// `kyc-flow demo [--port PORT]`
pub fn demo(host: std::net::IpAddr, port: u16) -> anyhow::Result<Verdict> {
    crate::demo::run(host, port)?;
    Ok(Verdict::Ok)
}

/// `kyc-flow serve --config FILE` (and `worker`, without the HTTP endpoint).
pub fn serve(config: &Path, http: bool) -> anyhow::Result<Verdict> {
    crate::serve::run(config, http)?;
    Ok(Verdict::Ok)
}
