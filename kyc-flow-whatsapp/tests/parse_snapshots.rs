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

/// One `contacts` message from a username user (business-scoped id, no number), with
/// `contacts` as given.
fn contacts_message(contacts: serde_json::Value) -> Vec<kyc_flow_whatsapp::WebhookEvent> {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "phone_number_id": "106540352242922" },
            "contacts": [{ "user_id": "US.13491208655302741918" }],
            "messages": [{
                "id": "wamid.C1", "timestamp": "1760000300", "type": "contacts",
                "from_user_id": "US.13491208655302741918", "contacts": contacts,
            }],
        }}]}],
    });
    parse_webhook(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn answer_of(
    events: &[kyc_flow_whatsapp::WebhookEvent],
) -> Result<Option<String>, kyc_flow_whatsapp::webhook::parse::ContactAnswerError> {
    let kyc_flow_whatsapp::WebhookEvent::Message(m) = &events[0] else {
        panic!("a message: {events:?}");
    };
    m.content
        .contact_request_answer()
        .map(|p| p.map(|p| p.raw().to_owned()))
}

fn core_content(events: &[kyc_flow_whatsapp::WebhookEvent]) -> kyc_flow_core::InboundContent {
    match events[0].to_core() {
        Some((_, user, kyc_flow_core::Event::Inbound(m))) => {
            assert_eq!(
                user,
                kyc_flow_core::UserRef::Bsuid("US.13491208655302741918".into()),
                "keyed by the business-scoped id, never a username"
            );
            assert_eq!(m.phone, None, "no `from`: no number given");
            m.content
        }
        other => panic!("an inbound message: {other:?}"),
    }
}

#[test]
fn the_answer_to_the_contact_request_is_the_users_number_and_nothing_else_is() {
    use kyc_flow_core::InboundContent;
    use kyc_flow_whatsapp::webhook::parse::ContactAnswerError;
    let phone = |p: serde_json::Value| json!([{ "origin": "contact_request", "phones": p }]);

    // The answer: its number, `+` and digits.
    let e = contacts_message(phone(json!([
        { "phone": "+16505551234", "wa_id": "16505551234", "type": "CELL" }
    ])));
    assert_eq!(answer_of(&e), Ok(Some("+16505551234".into())));
    assert!(matches!(
        core_content(&e),
        InboundContent::ContactInfo { phone } if phone.raw() == "+16505551234"
    ));
    // Formatted numbers are normalised; a missing `phone` falls back to `wa_id`.
    let e = contacts_message(phone(json!([{ "phone": "+1 (650) 555-1234" }])));
    assert_eq!(answer_of(&e), Ok(Some("+16505551234".into())));
    let e = contacts_message(phone(json!([{ "wa_id": 16505551234u64 }])));
    assert_eq!(answer_of(&e), Ok(Some("+16505551234".into())));

    // A card shared by hand (origin `other`, or none) is not an answer: it may be anyone's.
    for origin in [json!("other"), json!(null)] {
        let e = contacts_message(json!([{
            "origin": origin,
            "phones": [{ "phone": "+5215598765432", "wa_id": "5215598765432" }],
        }]));
        assert_eq!(answer_of(&e), Ok(None));
        assert!(matches!(core_content(&e), InboundContent::Other { kind } if kind == "contacts"));
    }

    // Malformed answers: a typed error, and a `contacts.malformed` message for the core.
    for (phones, error) in [
        (json!([]), ContactAnswerError::NoPhone),
        (json!(null), ContactAnswerError::NoPhone),
        (json!("16505551234"), ContactAnswerError::NoPhone),
        (
            json!([{ "phone": "call me", "wa_id": true }]),
            ContactAnswerError::BadPhone,
        ),
        (json!([{ "phone": "+1 650" }]), ContactAnswerError::BadPhone),
        (json!([7, null, []]), ContactAnswerError::BadPhone),
    ] {
        let e = contacts_message(phone(phones.clone()));
        assert_eq!(answer_of(&e), Err(error), "{phones}");
        assert!(
            matches!(core_content(&e), InboundContent::Other { kind } if kind == "contacts.malformed"),
            "{phones}"
        );
    }
    // `contacts` that is not a list of objects at all: no answer, no panic.
    for contacts in [json!(null), json!("x"), json!([1, "a", null])] {
        let e = contacts_message(contacts);
        assert_eq!(answer_of(&e), Ok(None));
    }
    // Debug never shows the number.
    let e = contacts_message(phone(json!([{ "phone": "+16505551234" }])));
    let d = format!("{e:?} {:?}", e[0].to_core());
    assert!(!d.contains("5551234"), "{d}");
}

#[test]
fn the_number_given_next_to_a_business_scoped_id_rides_with_the_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    // `from` and a business-scoped id: keyed by the id, the number carried for the flow.
    let body = std::fs::read(dir.join("bsuid_in_contacts_only.json")).unwrap();
    let events = parse_webhook(&body).unwrap();
    let Some((_, user, kyc_flow_core::Event::Inbound(m))) = events[0].to_core() else {
        panic!("inbound");
    };
    assert!(matches!(user, kyc_flow_core::UserRef::Bsuid(_)));
    assert_eq!(
        m.phone.map(|p| p.raw().to_owned()).as_deref(),
        Some("+5215512345678")
    );
    // Keyed by the number: nothing more to carry.
    let body = std::fs::read(dir.join("text.json")).unwrap();
    let events = parse_webhook(&body).unwrap();
    let Some((_, user, kyc_flow_core::Event::Inbound(m))) = events[0].to_core() else {
        panic!("inbound");
    };
    assert!(matches!(user, kyc_flow_core::UserRef::Phone(_)));
    assert_eq!(m.phone, None);
}
