//! `kyc-flow serve` and `kyc-flow worker`.

use std::path::Path;

/// Run the service.
pub fn run(_config: &Path, _http: bool) -> anyhow::Result<()> {
    anyhow::bail!("serve: not wired yet")
}
