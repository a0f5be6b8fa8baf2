//! Fuzz target: `parse_webhook` never panics, on arbitrary bytes and on bytes that are
//! a JSON envelope with the fuzzer's data spliced into a message, and its output always
//! survives the JSON round trip the job queue puts it through.
#![no_main]

use kyc_flow_whatsapp::{WebhookEvent, inspect, parse_webhook};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    // Raw bytes rarely form deep envelopes; also splice them in as a message's content.
    if let Ok(s) = std::str::from_utf8(data) {
        let spliced = format!(
            r#"{{"entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"1"}},"messages":[{s}],"statuses":[{s}]}}}}]}}]}}"#
        );
        check(spliced.as_bytes());
    }
});

fn check(data: &[u8]) {
    if let Ok(events) = parse_webhook(data) {
        let json = serde_json::to_vec(&events).expect("events serialize");
        let back: Vec<WebhookEvent> = serde_json::from_slice(&json).expect("events deserialize");
        assert_eq!(back.len(), events.len());
        for e in &events {
            let _ = e.to_core();
            let _ = format!("{e:?}");
        }
        let _ = inspect::webhook(data).expect("inspect agrees with parse");
    }
}
