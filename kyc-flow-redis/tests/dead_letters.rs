//! Operators' dead-letter tools on a real Redis (needs Redis at `REDIS_URL`; skipped loudly
//! without it unless `CI` is set): list, re-drive once, drop. Each test runs again on a local
//! Redis Cluster (`on_cluster::…`; needs `/usr/bin/redis-server`).

#[macro_use]
mod common;

use common::RedisHarness;
use kyc_flow_core::ports::{JobQueue, NewJob};
use kyc_flow_redis::{RedisJobQueue, RedisStoreError, Redriven};
use std::time::Duration;

fn job(payload: &[u8]) -> NewJob {
    NewJob {
        kind: "engine.decision".into(),
        partition: Some("p1".into()),
        payload: payload.to_vec(),
    }
}

/// Enqueue, take and dead-letter one job; returns the dead letter's id.
async fn dead(q: &RedisJobQueue, payload: &[u8], reason: &str) -> String {
    q.enqueue(vec![job(payload)]).await.unwrap();
    let d = q
        .reserve("w", 1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    q.dead_letter(&d, reason).await.unwrap();
    let all = q.dead_letters(usize::MAX).await.unwrap();
    all.iter()
        .find(|l| l.original_id == d.id)
        .expect("listed")
        .id
        .clone()
}

async fn a_dead_letter_is_listed_redriven_once_and_delivered_as_a_fresh_job(h: RedisHarness) {
    let s = h.storage(100).await;
    let q = s.queue();
    let id = dead(&q, b"notice", "horizon passed").await;
    let listed = q.dead_letters(usize::MAX).await.unwrap();
    assert_eq!(listed.len(), 1);
    let letter = &listed[0];
    assert_eq!(letter.id, id);
    assert_eq!(letter.reason, "horizon passed");
    let when = letter.dead_lettered_at_ms().expect("a time");
    assert!(letter.enqueued_at_ms().expect("a time") <= when);

    let got = q
        .redrive_dead_letter(&id, |j| j.payload.extend_from_slice(b"+"))
        .await
        .unwrap();
    assert!(matches!(got, Redriven::Requeued(_)), "{got:?}");
    assert!(q.dead_letters(10).await.unwrap().is_empty(), "removed");
    let d = q
        .reserve("w", 1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempt, 1, "a fresh job");
    assert_eq!(d.job.payload, b"notice+", "edited before it went back");
    assert_eq!(
        q.redrive_dead_letter(&id, |_| {}).await.unwrap(),
        Redriven::Missing,
        "re-driven once"
    );
    assert_eq!(
        q.redrive_dead_letter("not-an-id", |_| {}).await.unwrap(),
        Redriven::Missing
    );
}

async fn a_full_queue_keeps_the_dead_letter(h: RedisHarness) {
    let s = h.storage(1).await;
    let q = s.queue();
    let id = dead(&q, b"a", "gave up").await;
    q.enqueue(vec![job(b"b")]).await.unwrap();
    let e = q.redrive_dead_letter(&id, |_| {}).await.unwrap_err();
    assert!(matches!(e, RedisStoreError::Full { .. }), "{e:?}");
    assert_eq!(q.dead_letters(10).await.unwrap().len(), 1, "still there");
}

async fn drop_removes_only_the_named_dead_letters(h: RedisHarness) {
    let s = h.storage(100).await;
    let q = s.queue();
    let a = dead(&q, b"a", "gave up").await;
    let b = dead(&q, b"b", "gave up").await;
    assert_eq!(
        q.drop_dead_letters(&[a.clone(), "bogus".into(), "1-1".into()])
            .await
            .unwrap(),
        1
    );
    let left = q.dead_letters(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, b);
    assert_eq!(q.drop_dead_letters(&[a]).await.unwrap(), 0, "already gone");
}

async fn an_unreadable_dead_letter_is_listed_and_left_alone(h: RedisHarness) {
    let s = h.storage(100).await;
    let q = s.queue();
    let mut conn = s.connection();
    let dead_key = format!("{}{{jobs}}:dead", s.config().key_prefix);
    let id: String = redis::cmd("XADD")
        .arg(&dead_key)
        .arg("*")
        .arg("j")
        .arg("garbage")
        .arg("reason")
        .arg("gave up")
        .arg("id")
        .arg("1-0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed = q.dead_letters(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].delivery.is_none());
    assert_eq!(
        q.redrive_dead_letter(&id, |_| {}).await.unwrap(),
        Redriven::Unreadable
    );
    assert_eq!(q.dead_letters(10).await.unwrap().len(), 1);
}

on_single_and_cluster!(
    a_dead_letter_is_listed_redriven_once_and_delivered_as_a_fresh_job,
    a_full_queue_keeps_the_dead_letter,
    drop_removes_only_the_named_dead_letters,
    an_unreadable_dead_letter_is_listed_and_left_alone
);
