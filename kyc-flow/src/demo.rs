//! `kyc-flow demo`.

/// Run the demo.
pub fn run(_port: u16) -> anyhow::Result<()> {
    anyhow::bail!("demo: not wired yet")
}
