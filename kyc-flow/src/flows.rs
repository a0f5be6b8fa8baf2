//! Loading flows by preset name or from a file.

use kyc_flow_core::flow::Flow;
use std::path::Path;

/// A preset (`mx-ine`, `co-cedula`, `pe-dni`) or a flow file (`.toml` or `.json`), relative
/// paths resolved against `base_dir` first, then the current directory.
pub fn load_flow(name: &str, base_dir: &Path) -> Result<Flow, String> {
    if let Some(flow) = Flow::preset(name) {
        return Ok(flow);
    }
    let candidates = [base_dir.join(name), Path::new(name).to_path_buf()];
    let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "`{name}` is neither a preset ({}) nor a readable flow file",
            Flow::PRESETS.join(", ")
        )
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_flow_text(&text, path)
}

/// Parse a flow file's text by its extension (JSON for `.json`, TOML otherwise).
pub fn parse_flow_text(text: &str, path: &Path) -> Result<Flow, String> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Flow::from_json(text)
    } else {
        Flow::from_toml(text)
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}
