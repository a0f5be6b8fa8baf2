//! The `kyc-flow` binary: exit codes and the JSON contract of docs/CLI.md.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kyc_flow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn kyc_flow_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn tmp(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kyc-flow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn flow_show_prints_presets_as_toml_json_and_mermaid() {
    let out = kyc_flow(&["flow", "show", "mx-ine"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("id = \"mx-ine\""), "{text}");
    let out = kyc_flow(&["flow", "show", "co-cedula", "--json"]);
    assert_eq!(json(&out)["id"], "co-cedula");
    let out = kyc_flow(&["flow", "show", "pe-dni", "--mermaid"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("flowchart") || text.starts_with("stateDiagram"),
        "{text}"
    );
}

#[test]
fn flow_check_exit_codes() {
    // A preset round-trips through a file and checks clean.
    let shown = kyc_flow(&["flow", "show", "pe-dni"]);
    let good = tmp("good.toml", &shown.stdout);
    let out = kyc_flow(&["flow", "check", good.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Every problem is listed, not just the first.
    let text = String::from_utf8(shown.stdout).unwrap();
    let broken = text
        .replacen("max_attempts = 3", "max_attempts = 0", 1)
        .replacen(
            "expire_after_secs = 259200",
            "expire_after_secs = 99999999",
            1,
        );
    let bad = tmp("bad.toml", broken.as_bytes());
    let out = kyc_flow(&["flow", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.lines().count() >= 2,
        "every problem listed: {listed}"
    );

    let out = kyc_flow(&["flow", "check", "/nonexistent/flow.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}

const WEBHOOK: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"100"},"contacts":[{"wa_id":"5215500000001","profile":{"name":"A"}}],"messages":[{"from":"5215500000001","id":"wamid.A","timestamp":"1768489200","type":"text","text":{"body":"hola"}},{"from":"5215500000001","id":"wamid.B","timestamp":1768489201,"type":"image","image":{"id":"m1","mime_type":"image/jpeg","sha256":"abc"}}],"statuses":[{"id":"wamid.C","status":"failed","timestamp":"1768489202","recipient_id":"5215500000001","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}"#;

#[test]
fn inspect_webhook_prints_one_event_per_item_in_order() {
    let out = kyc_flow_stdin(&["inspect", "webhook", "-"], WEBHOOK.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["kind"], "message");
    assert_eq!(events[0]["type"], "text");
    assert_eq!(events[0]["id"], "wamid.A");
    assert_eq!(events[0]["timestamp"], 1_768_489_200);
    assert_eq!(events[0]["phone_number_id"], "100");
    assert_eq!(events[1]["media_id"], "m1");
    assert_eq!(events[2]["kind"], "status");
    assert_eq!(events[2]["status"], "failed");
    assert_eq!(events[2]["error_codes"], serde_json::json!([131047]));
}

#[test]
fn inspect_webhook_understands_nothing_without_failing() {
    let out = kyc_flow_stdin(&["inspect", "webhook", "-"], br#"{"hello":"world"}"#);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "unknown")
    );
    let out = kyc_flow_stdin(&["inspect", "webhook", "-"], b"not json");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_signature_valid_and_invalid() {
    let body = tmp("body.json", WEBHOOK.as_bytes());
    let header = kyc_flow_whatsapp::sign(b"s3cret", WEBHOOK.as_bytes());
    let out = kyc_flow(&[
        "inspect",
        "signature",
        "--secret",
        "s3cret",
        "--header",
        &header,
        body.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out), serde_json::json!({ "valid": true }));
    let out = kyc_flow(&[
        "inspect",
        "signature",
        "--secret",
        "other",
        "--header",
        &header,
        body.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out), serde_json::json!({ "valid": false }));
}

#[test]
fn simulate_json_has_the_documented_shape() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/scripts/mx-ine-happy.toml"
    );
    let out = kyc_flow(&["simulate", script, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["flow"], "mx-ine");
    assert_eq!(v["engines"], "scripted");
    assert!(v["note"].as_str().unwrap().contains("scripted"));
    assert_eq!(v["decision"]["decision"], "approved");
    assert!(v["transcript"].as_array().unwrap().len() > 5);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(kyc_flow(&["inspect"]).status.code(), Some(2));
    assert_eq!(
        kyc_flow(&["flow", "show", "no-such-flow"]).status.code(),
        Some(2)
    );
}

#[test]
fn inspect_id_valid_invalid_and_unknown_kind() {
    let out = kyc_flow(&["inspect", "id", "mx-curp", "hegg560427mvzrrl04"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["normalized"], "HEGG560427MVZRRL04");
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["fields"]["birth_date"], "1956-04-27");
    assert_eq!(v["fields"]["sex"], "F");
    let out = kyc_flow(&["inspect", "id", "mx-curp", "HEGG560427MVZRRL05"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["valid"], false);
    assert!(json(&out)["reason"].is_string());
    let out = kyc_flow(&["inspect", "id", "xx-nothing", "123"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_mrz_td1_checks() {
    let mrz = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<\n";
    let out = kyc_flow_stdin(&["inspect", "mrz", "-"], mrz.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["format"], "TD1");
    assert_eq!(v["fields"]["surname"], "ERIKSSON");
    assert_eq!(v["fields"]["given_names"], "ANNA MARIA");
    assert_eq!(v["fields"]["birth_date"], "740812");
    assert_eq!(v["checks"]["composite"], true);
    // One digit of the birth date changed: its check fails, and so does the composite.
    let bad = mrz.replace("7408122", "7408132");
    let out = kyc_flow_stdin(&["inspect", "mrz", "-"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["checks"]["birth_date"], false);
}

#[test]
fn inspect_payload_rejects_what_is_not_a_payload() {
    let file = tmp("garbage.bin", b"definitely not a PDF417 payload");
    let out = kyc_flow(&[
        "inspect",
        "payload",
        "--kind",
        "co-cedula-pdf417",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["kind"], "co-cedula-pdf417");
    let out = kyc_flow(&[
        "inspect",
        "payload",
        "--kind",
        "nope",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rust_log_sets_the_filter_and_json_logs_are_one_object_per_line() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/scripts/mx-ine-happy.toml"
    );
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc-flow"));
        cmd.args(["simulate", script, "--json"])
            .env_remove("RUST_LOG")
            .env_remove("KYC_FLOW_LOG")
            .env_remove("KYC_FLOW_LOG_FORMAT");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().expect("binary runs")
    };
    // Default: warnings only, and a clean simulation has none.
    let quiet = run(&[]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    // The standard variable turns logs on, as JSON lines when asked.
    let loud = run(&[("RUST_LOG", "debug"), ("KYC_FLOW_LOG_FORMAT", "json")]);
    assert!(loud.status.success());
    let stderr = String::from_utf8_lossy(&loud.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "RUST_LOG=debug produced no logs");
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    // stdout stays the one JSON document.
    json(&loud);
}
