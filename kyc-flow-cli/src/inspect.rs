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
        InspectCommand::Id { kind, value } => {
            let (json, valid) =
                kyc_flow_documents::inspect::id(&kind, &value).map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::from_valid(valid))
        }
        InspectCommand::Mrz { file } => {
            let bytes = read_input(&file)?;
            let text =
                String::from_utf8(bytes).map_err(|_| anyhow!("the MRZ input is not UTF-8 text"))?;
            let (json, valid) = kyc_flow_documents::inspect::mrz(&text).map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::from_valid(valid))
        }
        InspectCommand::Payload { kind, hex, file } => {
            let mut bytes = read_input(&file)?;
            if hex {
                let text =
                    String::from_utf8(bytes).map_err(|_| anyhow!("--hex input is not text"))?;
                bytes = kyc_flow_documents::inspect::decode_hex(&text).map_err(|e| anyhow!(e))?;
            }
            let (json, parsed) =
                kyc_flow_documents::inspect::payload(&kind, &bytes).map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::from_valid(parsed))
        }
        InspectCommand::Image {
            image,
            country,
            side,
        } => {
            let bytes = std::fs::read(&image)
                .map_err(|e| anyhow!("cannot read {}: {e}", image.display()))?;
            let json =
                kyc_flow_vision::reader::inspect_image(&bytes, country.as_deref(), side.as_deref())
                    .map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::Ok)
        }
        InspectCommand::Face {
            selfie,
            portrait,
            liveness,
        } => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| anyhow!("cannot read {}: {e}", p.display()))
            };
            let json = kyc_flow_vision::inspect_face(&read(&selfie)?, &read(&portrait)?, liveness)
                .map_err(|e| anyhow!(e))?;
            print_json(&json)?;
            Ok(Verdict::Ok)
        }
    }
}
