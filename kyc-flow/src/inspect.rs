//! `kyc-flow inspect …`: each subcommand prints one JSON document (the contract in docs/CLI.md).
//! The JSON itself is built by the crate that owns the knowledge; this module only reads input,
//! prints, and maps the answer to an exit code.

use crate::cli::{InspectCommand, Verdict, print_json, read_input};
use anyhow::anyhow;

/// Run one inspect subcommand.
pub fn run(command: InspectCommand) -> anyhow::Result<Verdict> {
    match command {
        InspectCommand::Webhook { file } => {
            let body = read_input(&file)?;
            let json = kyc_flow_whatsapp::inspect::webhook(&body).map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::Ok)
        }
        InspectCommand::Signature {
            secret,
            header,
            file,
        } => {
            let body = read_input(&file)?;
            let valid = kyc_flow_whatsapp::inspect::signature(&secret, &header, &body);
            print_json(&serde_json::json!({ "valid": valid }))?;
            Ok(Verdict::from_valid(valid))
        }
        other => Err(anyhow!(
            "inspect {}: not available in this build yet",
            name(&other)
        )),
    }
}

fn name(c: &InspectCommand) -> &'static str {
    match c {
        InspectCommand::Webhook { .. } => "webhook",
        InspectCommand::Signature { .. } => "signature",
        InspectCommand::Id { .. } => "id",
        InspectCommand::Mrz { .. } => "mrz",
        InspectCommand::Payload { .. } => "payload",
        InspectCommand::Image { .. } => "image",
        InspectCommand::Face { .. } => "face",
    }
}
