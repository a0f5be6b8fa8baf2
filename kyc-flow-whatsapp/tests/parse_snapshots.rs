//! Snapshot tests of parsed webhook payloads: every fixture under `tests/fixtures/webhooks`
//! (written from Meta's public webhook reference) is parsed, and the parsed events, the CLI
//! JSON and the core events are reviewed as one snapshot per fixture.

use kyc_flow_whatsapp::{inspect, parse_webhook};
use serde_json::json;
use std::path::Path;

fn check(path: &Path) {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let body = std::fs::read(path).unwrap();
    let events = parse_webhook(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let core: Vec<_> = events.iter().map(|e| e.to_core()).collect();
    let cli = inspect::webhook(&body).unwrap();
    // The CLI contract: one entry per event, each with a known kind.
    assert_eq!(
        cli["events"].as_array().unwrap().len(),
        events.len(),
        "{name}"
    );
    // Events survive the queue (JSON round trip) unchanged.
    let again: Vec<kyc_flow_whatsapp::WebhookEvent> =
        serde_json::from_slice(&serde_json::to_vec(&events).unwrap()).unwrap();
    assert_eq!(again, events, "{name}: JSON round trip");
    insta::with_settings!({
        snapshot_path => "snapshots/webhooks",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_json_snapshot!(name, json!({ "cli": cli, "events": events, "core": core }));
    });
}

#[test]
fn every_fixture_parses_to_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 40, "fixtures present");
    for p in &paths {
        check(p);
    }
}

#[test]
fn only_non_json_is_an_error() {
    assert!(parse_webhook(b"").is_err());
    assert!(parse_webhook(b"{\"entry\": [").is_err());
    assert!(parse_webhook(b"\xff\xfe").is_err());
    assert!(inspect::webhook(b"not json").is_err());
    for ok in [&b"null"[..], b"1", b"\"s\"", b"{}", b"[]"] {
        let events = parse_webhook(ok).unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(
            events[0],
            kyc_flow_whatsapp::WebhookEvent::Unknown(_)
        ));
    }
}

#[test]
fn debug_output_has_no_pii() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    for name in [
        "text",
        "contacts",
        "location",
        "status_read",
        "username_user_without_phone",
    ] {
        let body = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
        for e in parse_webhook(&body).unwrap() {
            let d = format!("{e:?}");
            for secret in [
                "5215512345678",
                "Ana",
                "Hola",
                "Juan",
                "19.43",
                "MX.150257639465584",
            ] {
                assert!(!d.contains(secret), "{name}: {secret} in {d}");
            }
        }
    }
}

#[test]
fn inspect_signature_matches_the_cli_contract() {
    let body = b"{\"object\":\"whatsapp_business_account\"}";
    let header = kyc_flow_whatsapp::sign(b"s3cret", body);
    assert!(inspect::signature("s3cret", &header, body));
    assert!(!inspect::signature("other", &header, body));
    assert!(!inspect::signature("s3cret", "sha256=00", body));
}
