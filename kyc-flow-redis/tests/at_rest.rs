//! Redis-specific guarantees the port-level suite cannot see: what actually sits in Redis
//! (no phone numbers in key names, nothing readable in values), key rotation, tampering,
//! dead letters, and blocked readers on several threads.

mod common;

use common::RedisHarness;
use kyc_flow_core::conformance::storage::{sample_key, sample_session};
use kyc_flow_core::ports::{
    EvidenceStore, JobQueue, NewJob, PortErrorKind, SessionStore, TimerEntry, TimerStore,
};
use kyc_flow_core::{EvidenceKey, Timestamp};
use kyc_flow_redis::{EncryptionKey, RedisConfig, RedisStorage};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(600);

fn raw_conn(h: &RedisHarness) -> redis::Connection {
    redis::Client::open(h.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Every value under the harness's prefix, as raw bytes, whatever its type.
fn dump(h: &RedisHarness) -> Vec<(String, Vec<u8>)> {
    let mut conn = raw_conn(h);
    let mut out = Vec::new();
    for key in h.keys() {
        let t: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
        let bytes: Vec<u8> = match t.as_str() {
            "string" => redis::cmd("GET").arg(&key).query(&mut conn).unwrap(),
            "hash" => {
                let v: Vec<Vec<u8>> = redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap();
                v.concat()
            }
            "zset" => {
                let v: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(&mut conn)
                    .unwrap();
                v.concat()
            }
            "stream" => {
                let v: redis::Value = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query(&mut conn)
                    .unwrap();
                format!("{v:?}").into_bytes()
            }
            other => panic!("unexpected type {other} at {key}"),
        };
        out.push((key, bytes));
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn nothing_readable_at_rest() {
    let Some(h) = RedisHarness::new("nothing_readable_at_rest").await else {
        return;
    };
    let s = h.storage(100).await;
    let key = sample_key(777_777);
    let phone = key.user.raw().to_owned();

    s.sessions()
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .unwrap();
    let ev = EvidenceKey::portrait(&key.storage_id());
    s.evidence()
        .put(&ev, b"PORTRAIT-BYTES-JPEG", LONG)
        .await
        .unwrap();
    s.timers()
        .schedule(TimerEntry {
            session: key.clone(),
            name: "reminder".into(),
            fire_at: Timestamp(5),
            token: 1,
        })
        .await
        .unwrap();
    let payload = format!("{{\"from\":\"{phone}\",\"text\":\"mi nombre es Ana\"}}");
    s.queue()
        .enqueue(vec![NewJob {
            kind: "whatsapp.event".into(),
            partition: None,
            payload: payload.clone().into_bytes(),
        }])
        .await
        .unwrap();
    use kyc_flow_core::ports::Deduplicator;
    s.dedup()
        .first_seen(&format!("wamid.{phone}"), LONG)
        .await
        .unwrap();

    let all = dump(&h);
    assert!(
        all.len() >= 5,
        "session, evidence, timers, stream and dedup keys exist: {:?}",
        all.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    for (k, v) in &all {
        assert!(!k.contains(&phone), "key name holds the phone number: {k}");
        assert!(
            !k.contains(&key.storage_id()),
            "key name holds the unkeyed storage id: {k}"
        );
        for needle in [
            phone.as_bytes(),
            b"PORTRAIT-BYTES",
            b"mi nombre",
            b"tenant-conformance",
            b"\"reminder\"",
        ] {
            assert!(
                !contains(v, needle),
                "value at {k} holds {:?} in clear",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[tokio::test]
async fn rotated_keys_still_read_old_values() {
    let Some(h) = RedisHarness::new("rotated_keys_still_read_old_values").await else {
        return;
    };
    let before = h.config(100);
    let key = sample_key(1);
    let old = RedisStorage::connect(before.clone()).await.unwrap();
    let v = old
        .sessions()
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .unwrap();

    let mut after = before.clone();
    after
        .encryption_keys
        .push(EncryptionKey::generate(2).unwrap());
    let new = RedisStorage::connect(after.clone()).await.unwrap();
    let got = new.sessions().load(&key).await.unwrap().unwrap();
    assert_eq!(
        got.value,
        sample_session(&key, 1),
        "old key still opens old values"
    );
    new.sessions()
        .save(&key, &sample_session(&key, 2), Some(v), LONG)
        .await
        .unwrap();

    let mut retired = after.clone();
    retired.encryption_keys.remove(0);
    let only_new = RedisStorage::connect(retired).await.unwrap();
    assert_eq!(
        only_new.sessions().load(&key).await.unwrap().unwrap().value,
        sample_session(&key, 2),
        "the rewrite used the new active key"
    );
    let err = old
        .sessions()
        .load(&key)
        .await
        .expect_err("old config lacks the new key");
    assert_eq!(err.kind, PortErrorKind::Integrity);
}

#[tokio::test]
async fn tampered_or_moved_values_fail_integrity() {
    let Some(h) = RedisHarness::new("tampered_or_moved_values_fail_integrity").await else {
        return;
    };
    let s = h.storage(100).await;
    let sessions = s.sessions();
    let (a, b) = (sample_key(1), sample_key(2));
    sessions
        .save(&a, &sample_session(&a, 1), None, LONG)
        .await
        .unwrap();
    sessions
        .save(&b, &sample_session(&b, 1), None, LONG)
        .await
        .unwrap();
    let mut conn = raw_conn(&h);
    // Copy a's sealed value over b's: same version, wrong key.
    let sealed: Vec<u8> = redis::cmd("HGET")
        .arg(sessions.redis_key(&a))
        .arg("d")
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(sessions.redis_key(&b))
        .arg("d")
        .arg(&sealed)
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        sessions.load(&b).await.unwrap_err().kind,
        PortErrorKind::Integrity
    );
    // Bump a's version without rewriting the value: an old value under a new version.
    let _: () = redis::cmd("HSET")
        .arg(sessions.redis_key(&a))
        .arg("v")
        .arg(2)
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        sessions.load(&a).await.unwrap_err().kind,
        PortErrorKind::Integrity
    );
}

#[tokio::test]
async fn dead_letters_keep_job_and_reason() {
    let Some(h) = RedisHarness::new("dead_letters_keep_job_and_reason").await else {
        return;
    };
    let s = h.storage(100).await;
    let q = s.queue();
    let job = NewJob {
        kind: "registry.callback".into(),
        partition: Some("p1".into()),
        payload: vec![0, 1, 2],
    };
    q.enqueue(vec![job.clone()]).await.unwrap();
    let d = q
        .reserve("w", 1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    q.retry(&d, Duration::ZERO).await.unwrap();
    let d = q
        .reserve("w", 1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempt, 2);
    q.dead_letter(&d, "gave up after 2 attempts").await.unwrap();
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "gave up after 2 attempts");
    assert_eq!(dead[0].original_id, d.id);
    assert_eq!(dead[0].delivery.as_ref(), Some(&d));
    assert_eq!(
        q.backlog().await.unwrap(),
        0,
        "dead letters do not count against capacity"
    );
}

#[tokio::test]
async fn unreadable_entries_are_parked_not_fatal() {
    let Some(h) = RedisHarness::new("unreadable_entries_are_parked_not_fatal").await else {
        return;
    };
    let s = h.storage(100).await;
    let q = s.queue();
    let good = NewJob {
        kind: "k".into(),
        partition: None,
        payload: b"ok".to_vec(),
    };
    q.enqueue(vec![good.clone()]).await.unwrap();
    // A foreign entry (wrong key, garbage) lands in the stream.
    let mut conn = raw_conn(&h);
    let stream = format!("{}{{jobs}}", s.config().key_prefix);
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("j")
        .arg("garbage")
        .query(&mut conn)
        .unwrap();
    q.enqueue(vec![good.clone()]).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(
            q.reserve("w", 10, Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    assert_eq!(got.len(), 2, "both readable jobs delivered: {got:?}");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].delivery.is_none());
    assert!(
        dead[0].reason.starts_with("unreadable"),
        "{}",
        dead[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_readers_on_threads_share_without_duplicates() {
    let Some(h) = RedisHarness::new("blocked_readers_on_threads_share_without_duplicates").await
    else {
        return;
    };
    let s = h.storage(10_000).await;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let q = s.queue();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut idle = 0;
                while idle < 3 {
                    let batch = q
                        .reserve(&format!("w{w}"), 7, Duration::from_millis(300))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        idle += 1;
                        continue;
                    }
                    idle = 0;
                    for d in batch {
                        q.ack(&d.id).await.unwrap();
                        got.push(d.job.payload);
                    }
                }
                got
            })
        })
        .collect();
    let q = s.queue();
    for chunk in 0..20u8 {
        let jobs = (0..10u8)
            .map(|i| NewJob {
                kind: "k".into(),
                partition: None,
                payload: vec![chunk, i],
            })
            .collect();
        q.enqueue(jobs).await.unwrap();
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(n, all.len(), "no job delivered twice");
    assert_eq!(n, 200, "every job delivered");
    assert_eq!(q.backlog().await.unwrap(), 0, "acked jobs leave the stream");
}

#[tokio::test]
async fn misconfiguration_is_rejected_before_connecting() {
    let mut c = RedisConfig::default();
    assert!(RedisStorage::connect(c.clone()).await.is_err(), "no keys");
    c = RedisConfig::with_random_secrets().unwrap();
    c.key_hash_secret = "short".into();
    let err = RedisStorage::connect(c).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Invalid);
}

#[tokio::test]
async fn timers_survive_a_reconnect() {
    let Some(h) = RedisHarness::new("timers_survive_a_reconnect").await else {
        return;
    };
    let config = h.config(100);
    let first = RedisStorage::connect(config.clone()).await.unwrap();
    let e = TimerEntry {
        session: sample_key(3),
        name: "expiry".into(),
        fire_at: Timestamp(10),
        token: 9,
    };
    first.timers().schedule(e.clone()).await.unwrap();
    drop(first);
    let second = RedisStorage::connect(config).await.unwrap();
    assert_eq!(
        second.timers().take_due(Timestamp(10), 5).await.unwrap(),
        vec![e]
    );
}

/// A delayed retry scheduled by one process is delivered by another process's reserve (the
/// promotion hint is per process; the other one polls for due retries).
#[tokio::test]
async fn delayed_retry_crosses_processes() {
    let Some(h) = RedisHarness::new("delayed_retry_crosses_processes").await else {
        return;
    };
    let config = h.config(100);
    let a = RedisStorage::connect(config.clone()).await.unwrap().queue();
    let b = RedisStorage::connect(config).await.unwrap().queue();
    a.enqueue(vec![NewJob {
        kind: "k".into(),
        partition: None,
        payload: vec![1],
    }])
    .await
    .unwrap();
    let d = a
        .reserve("a", 1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    let before = std::time::Instant::now();
    a.retry(&d, Duration::from_millis(200)).await.unwrap();
    drop(a);
    let mut got = Vec::new();
    while got.is_empty() && before.elapsed() < Duration::from_secs(10) {
        got = b.reserve("b", 1, Duration::from_millis(500)).await.unwrap();
    }
    assert!(
        before.elapsed() >= Duration::from_millis(200),
        "not before the delay"
    );
    assert_eq!(got.len(), 1, "the other process picked the retry up");
    assert_eq!(got[0].attempt, 2);
}
