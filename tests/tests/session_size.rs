//! What a mid-flow user holds in Redis (issue 13): one user of mx-ine taken to "awaiting
//! selfie" (consent and both card sides done, the outbox drained) through the engine on the
//! Redis adapters, each inbound message handed on through the queue's inbox as the webhook
//! does. Asserts on bytes (`MEMORY USAGE`), never on time, and prints the per-user total by
//! kind of key. Skips loudly without Redis unless `CI` is set; deletes its own keys.

mod support;
use kyc_flow_core::Side;
use kyc_flow_core::event::Event;
use kyc_flow_core::ports::{Accepted, InboundJob, Inbox};
use kyc_flow_redis_testkit::OwnPrefix;
use kyc_flow_tests::Harness;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The aim for one stored session, outbox inside, as Redis counts it.
const SESSION_BUDGET: i64 = 2048;

fn connection(own: &OwnPrefix) -> redis::Connection {
    redis::Client::open(own.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The kind of a key under the prefix, for the per-user table.
fn kind(prefix: &str, key: &str) -> &'static str {
    let rest = &key[prefix.len()..];
    if rest.starts_with("s:") {
        "session"
    } else if rest.starts_with("e:") {
        "evidence (card portrait)"
    } else if rest.starts_with("l:") {
        "lease"
    } else if rest.starts_with("{jobs}:d:") {
        "de-duplication marks"
    } else if rest.starts_with("{timers}") {
        "timers (due + entries)"
    } else if rest.starts_with("{jobs}") {
        "queue stream (shared, drained)"
    } else {
        "other"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_flow_session_fits_in_two_kib_in_redis_and_each_message_leaves_one_mark() {
    let Some((storage, own)) = support::redis_storage("session_size").await else {
        return;
    };
    let mut h = Harness::new("mx-ine");
    let mut ports = h.sim.ports();
    ports.sessions = Arc::new(storage.sessions());
    ports.queue = Arc::new(storage.queue());
    ports.timers = Arc::new(storage.timers());
    ports.leases = Arc::new(storage.leases());
    ports.evidence = Arc::new(storage.evidence());
    let mut flows = kyc_flow_core::flow::FlowSet::new();
    flows.insert(h.flow.clone());
    let engine = kyc_flow::EngineBuilder::new(ports, flows, Harness::routing(&h.flow))
        .clock(h.clock.clone())
        .build()
        .unwrap();
    let inbox = storage.queue();
    let events = [
        h.text("hola"),
        h.reply("consent.accept"),
        h.document_photo(Side::Front),
        h.document_photo(Side::Back),
    ];
    for e in events {
        let Event::Inbound(inbound) = &e else {
            unreachable!("user messages")
        };
        let item = InboundJob {
            dedup_key: Some(format!("t:wa:msg:{}", inbound.message_id)),
            job: kyc_flow::engine::event_job(&h.key, e.clone()).unwrap(),
        };
        // Meta delivers it twice: the second is a duplicate and adds no mark.
        let first = inbox
            .accept(vec![item.clone()], Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(matches!(first[..], [Accepted::New(_)]), "{first:?}");
        let again = inbox
            .accept(vec![item], Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(again, [Accepted::Duplicate]);
        engine.run_until_idle("size").await.unwrap();
    }
    let stored = engine.session(&h.key).await.unwrap().unwrap();
    assert!(
        matches!(stored.state, kyc_flow_core::State::Step { index: 3, .. }),
        "awaiting the selfie: {:?}",
        stored.state
    );
    assert!(stored.outbox.pending.is_empty(), "the outbox is drained");
    let json = serde_json::to_vec(&stored).unwrap().len();

    let mut conn = connection(&own);
    let mut by_kind: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    let session_key = storage.sessions().redis_key(&h.key);
    let mut session_bytes = 0;
    for key in own.keys().expect("redis-cli --scan") {
        let usage: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query(&mut conn)
            .unwrap();
        if key == session_key {
            session_bytes = usage;
        }
        let e = by_kind.entry(kind(own.prefix(), &key)).or_default();
        e.0 += 1;
        e.1 += usage;
    }
    // The same session as it was stored before sessions were deflated (sealed plain JSON in
    // the same hash layout), under a scratch key: the figure this encoding is measured against.
    let config = storage.config();
    let sealer =
        kyc_flow_redis::Sealer::new(&config.encryption_keys, config.active_key_id).unwrap();
    let plain_key = format!("{}size-check:plain-json", own.prefix());
    let sealed_plain = sealer
        .seal(&serde_json::to_vec(&stored).unwrap(), b"size-check")
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&plain_key)
        .arg("v")
        .arg(9)
        .arg("d")
        .arg(&sealed_plain)
        .query(&mut conn)
        .unwrap();
    let plain_bytes: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&plain_key)
        .query(&mut conn)
        .unwrap();
    println!("the same session stored as sealed plain JSON (before): MEMORY USAGE {plain_bytes} B");
    let per_user: i64 = by_kind
        .iter()
        .filter(|(k, _)| !k.starts_with("queue stream"))
        .map(|(_, (_, b))| b)
        .sum();
    println!(
        "mid-flow session (awaiting selfie): JSON {json} B, Redis MEMORY USAGE {session_bytes} B"
    );
    println!("| key kind | keys | MEMORY USAGE bytes |\n|---|---:|---:|");
    for (k, (n, b)) in &by_kind {
        println!("| {k} | {n} | {b} |");
    }
    println!("| per user (all but the shared stream) | | {per_user} |");

    assert!(
        session_bytes > 0,
        "the session is stored under {session_key}"
    );
    assert!(
        session_bytes <= SESSION_BUDGET,
        "a mid-flow session takes {session_bytes} B in Redis (aim ≤ {SESSION_BUDGET})"
    );
    assert_eq!(
        by_kind.get("de-duplication marks").map(|e| e.0),
        Some(4),
        "one mark per inbound message: {by_kind:?}"
    );
}
