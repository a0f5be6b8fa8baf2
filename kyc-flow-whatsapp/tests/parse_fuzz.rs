//! Property tests of the parser on hostile input: arbitrary bytes, arbitrary JSON, arbitrary
//! JSON spliced into real envelopes, and real fixtures with bytes flipped. The parser must
//! never panic, must only fail on non-JSON, and its events must survive the queue's JSON
//! round trip. (The cargo-fuzz target in `fuzz/` explores the same property with coverage
//! guidance; see docs/WHATSAPP.md.) Raise `PROPTEST_CASES` for a longer run.

use kyc_flow_whatsapp::{WebhookEvent, inspect, parse_webhook};
use proptest::prelude::*;
use serde_json::{Value, json};

fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let is_json = serde_json::from_slice::<Value>(body).is_ok();
    match parse_webhook(body) {
        Ok(events) => {
            prop_assert!(is_json, "only JSON parses");
            prop_assert!(!events.is_empty(), "JSON always yields at least one event");
            let back: Vec<WebhookEvent> =
                serde_json::from_slice(&serde_json::to_vec(&events).unwrap()).unwrap();
            prop_assert_eq!(&back, &events);
            for e in &events {
                let _ = e.to_core();
                let _ = format!("{e:?}");
                let _ = e.dedup_key();
            }
            let cli = inspect::webhook(body).unwrap();
            prop_assert_eq!(cli["events"].as_array().unwrap().len(), events.len());
        }
        Err(_) => prop_assert!(!is_json, "JSON never fails"),
    }
    Ok(())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("text"),
            Just("image"),
            Just("interactive"),
            Just("button_reply"),
            Just("edit"),
            Just("revoke"),
            Just("system"),
            Just("reaction"),
            Just("messages"),
            Just("statuses"),
            Just("errors"),
            Just("id"),
            Just("from"),
            Just("read"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("id".to_owned()),
                        Just("from".to_owned()),
                        Just("timestamp".to_owned()),
                        Just("text".to_owned()),
                        Just("body".to_owned()),
                        Just("image".to_owned()),
                        Just("interactive".to_owned()),
                        Just("message".to_owned()),
                        Just("status".to_owned()),
                        Just("errors".to_owned()),
                        Just("context".to_owned()),
                        Just("code".to_owned()),
                        "[a-z]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&body)?;
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        check(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn arbitrary_items_in_a_real_envelope_never_panic(
        messages in prop::collection::vec(arb_json(), 0..4),
        statuses in prop::collection::vec(arb_json(), 0..3),
        errors in prop::collection::vec(arb_json(), 0..2),
        contacts in arb_json(),
    ) {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "metadata": { "phone_number_id": "106540352242922" },
                "contacts": contacts,
                "messages": messages, "statuses": statuses, "errors": errors,
            }}]}],
        });
        check(&serde_json::to_vec(&body).unwrap())?;
    }

    #[test]
    fn fixtures_with_flipped_bytes_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let all = fixtures();
        let mut body = all[which.index(all.len())].clone();
        for (i, b) in flips {
            let i = i.index(body.len());
            body[i] = b;
        }
        check(&body)?;
    }
}

#[test]
fn deeply_nested_edits_are_bounded() {
    // An edit of an edit of an edit… must not recurse without bound.
    let mut inner = json!({ "type": "text", "text": { "body": "x" } });
    // 50 levels stay under serde_json's nesting limit of 128 (deeper bodies are not JSON to us).
    for _ in 0..50 {
        inner = json!({ "type": "edit", "edit": { "original_message_id": "w", "message": inner } });
    }
    let mut msg = inner;
    msg["id"] = json!("wamid.deep");
    msg["from"] = json!("1");
    let body = json!({ "entry": [{ "changes": [{ "field": "messages", "value": { "messages": [msg] } }] }] });
    let events = parse_webhook(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(events.len(), 1);
}
