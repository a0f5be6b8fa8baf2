//! `kyc-flow inspect …`: each subcommand prints one JSON document (the contract in docs/CLI.md).

use crate::cli::{InspectCommand, Verdict};
use anyhow::anyhow;

/// Run one inspect subcommand.
pub fn run(command: InspectCommand) -> anyhow::Result<Verdict> {
    Err(anyhow!(
        "inspect {:?}: this build has no engine for it yet",
        command
    ))
}
