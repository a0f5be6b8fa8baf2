//! Parse throughput: webhook bodies per second on one core, for typical payload shapes, plus
//! signature verification (which runs on every delivery before parsing).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kyc_flow_whatsapp::fake::{self, FakeUser};
use kyc_flow_whatsapp::{parse_webhook, sign, verify_signature};
use serde_json::json;
use std::hint::black_box;

const PNID: &str = "106540352242922";

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let user = FakeUser::phone("5215512345678");
    let text = fake::text_message(
        PNID,
        &user,
        "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDMEE01",
        1_760_000_000,
        "Hola, quiero abrir mi cuenta",
    );
    let image = fake::message_payload(
        PNID,
        &user,
        "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDMEE02",
        1_760_000_000,
        "image",
        json!({ "id": "1479537139650973", "mime_type": "image/jpeg",
                "sha256": "J5c8RCq9uMW84Q8V5lVmt8XbQI8RJC4x6H2cO+qJj6Y=", "caption": "Frente" }),
    );
    let status = fake::status_update(PNID, "wamid.OUT1", "delivered", &user, 1_760_000_000, None);
    let mut batch = fake::text_message(PNID, &user, "wamid.B0", 1_760_000_000, "uno");
    let msgs = batch["entry"][0]["changes"][0]["value"]["messages"]
        .as_array_mut()
        .unwrap();
    for i in 1..50 {
        let mut m = msgs[0].clone();
        m["id"] = json!(format!("wamid.B{i}"));
        msgs.push(m);
    }
    vec![
        ("text", serde_json::to_vec(&text).unwrap()),
        ("image", serde_json::to_vec(&image).unwrap()),
        ("status", serde_json::to_vec(&status).unwrap()),
        ("batch_50_messages", serde_json::to_vec(&batch).unwrap()),
    ]
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_webhook");
    for (name, body) in bodies() {
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| parse_webhook(black_box(&body)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify_signature");
    for (name, body) in bodies() {
        let sig = sign(b"app-secret", &body);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| verify_signature(b"app-secret", Some(black_box(&sig)), black_box(&body)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
