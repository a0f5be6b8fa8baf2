//! Conformance suite for the storage ports: [`SessionStore`], [`EvidenceStore`], [`JobQueue`],
//! [`TimerStore`], [`Deduplicator`], [`Inbox`] and [`LeaseStore`].
//!
//! An adapter proves itself by implementing [`StorageHarness`] (fresh, isolated instances plus a
//! way to sleep) and calling [`run_all`] — or the per-port entry points [`sessions`],
//! [`evidence`], [`queue`], [`timers`], [`dedup`], [`inbox`], [`leases`] — from a test on its own executor. Every check
//! panics with a message naming the behaviour that broke.
//!
//! Checks that need time to pass use short TTLs and delays (tens to hundreds of milliseconds) and
//! then wait generously. The only timing assertions are of the form "not before X": nothing here
//! asserts that something happened *quickly*, so a slow machine cannot make a correct adapter
//! fail.

use crate::evidence::EvidenceKey;
use crate::ids::{SessionKey, UserRef};
use crate::ports::{
    Accepted, Deduplicator, Delivery, EvidenceStore, InboundJob, Inbox, JobQueue, LeaseStore,
    NewJob, PortErrorKind, SessionStore, SplitInbox, TimerEntry, TimerStore,
};
use crate::session::{SCHEMA_VERSION, Session};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// What an adapter gives the suite: fresh instances and a clock to wait on.
///
/// Every call must return an instance that shares no state with instances returned earlier
/// (a new in-memory store, or a new key prefix on a shared Redis), so checks cannot see each
/// other's data.
#[async_trait]
pub trait StorageHarness: Send + Sync {
    /// A fresh, empty session store.
    async fn session_store(&self) -> Arc<dyn SessionStore>;
    /// A fresh, empty evidence store.
    async fn evidence_store(&self) -> Arc<dyn EvidenceStore>;
    /// A fresh, empty job queue that holds at most `capacity` jobs (ready, in flight or
    /// waiting for a delayed retry).
    async fn job_queue(&self, capacity: usize) -> Arc<dyn JobQueue>;
    /// A fresh, empty timer store.
    async fn timer_store(&self) -> Arc<dyn TimerStore>;
    /// A fresh, empty de-duplicator.
    async fn deduplicator(&self) -> Arc<dyn Deduplicator>;
    /// A fresh lease store with no lease held.
    async fn lease_store(&self) -> Arc<dyn LeaseStore>;
    /// A fresh inbox and the queue it enqueues into, holding at most `capacity` jobs. The
    /// default composes [`StorageHarness::job_queue`] and [`StorageHarness::deduplicator`]
    /// with [`SplitInbox`]; a backend with an inbox of its own returns that.
    async fn inbox(&self, capacity: usize) -> (Arc<dyn Inbox>, Arc<dyn JobQueue>) {
        let queue = self.job_queue(capacity).await;
        let dedup = self.deduplicator().await;
        (Arc::new(SplitInbox::new(queue.clone(), dedup)), queue)
    }
    /// Wait for `d` on the adapter's executor (the core has no executor of its own).
    async fn sleep(&self, d: Duration);
}

/// A short TTL or idle time the suite lets pass.
const SHORT: Duration = Duration::from_millis(60);
/// How long the suite waits for `SHORT` to have passed, with room for a slow machine.
const PAST_SHORT: Duration = Duration::from_millis(250);
/// An upper bound for "eventually" loops; only reached when an adapter is broken.
const EVENTUALLY: Duration = Duration::from_secs(5);
/// A TTL long enough never to expire during a check.
const LONG: Duration = Duration::from_secs(600);

/// The one place that builds a [`Session`] for storage checks.
///
/// Storage adapters treat the session as opaque; `marker` makes values distinguishable so a
/// check can tell which write a load returned. It is built from the smallest JSON document
/// the session deserializes from (every other field has a serde default), so it keeps working
/// while the session's shape grows; switch to `machine::start` if that ever stops being true.
/// Adapter tests should use this helper too.
pub fn sample_session(key: &SessionKey, marker: u64) -> Session {
    let started = Timestamp(1_700_000_000_000);
    let updated = started.plus(Duration::from_millis(marker));
    let doc = serde_json::json!({
        "schema": SCHEMA_VERSION,
        "id": format!("conformance-{marker}"),
        "key": key,
        "flow_id": "conformance",
        "flow_version": 1,
        "seq": marker,
        "started_at": started,
        "updated_at": updated,
        "last_activity_at": updated,
        "state": { "at": "new" },
        "locale": "es-MX",
        "decision": null,
    });
    serde_json::from_value(doc).expect("the sample session document matches the session shape")
}

/// A session key for checks; `n` varies the user (a phone number, to exercise key hashing).
pub fn sample_key(n: u32) -> SessionKey {
    SessionKey::new(
        "tenant-conformance",
        "100200300",
        UserRef::Phone(format!("5215512{n:06}")),
    )
}

fn job(kind: &str, payload: &[u8]) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        partition: Some(format!("part-{kind}")),
        payload: payload.to_vec(),
    }
}

/// Poll all futures concurrently on the current task and collect their outputs in order.
///
/// The core has no executor, so concurrency here is interleaving at await points; for an
/// adapter talking to a server that is exactly where races happen.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(
                out.iter_mut()
                    .map(|o| o.take().expect("polled once"))
                    .collect(),
            )
        }
    })
    .await
}

/// Run every storage check.
pub async fn run_all(h: &dyn StorageHarness) {
    sessions(h).await;
    evidence(h).await;
    queue(h).await;
    timers(h).await;
    dedup(h).await;
    inbox(h).await;
    leases(h).await;
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// All [`SessionStore`] checks.
pub async fn sessions(h: &dyn StorageHarness) {
    session_absent_is_none(h).await;
    session_create_only_when_absent(h).await;
    session_compare_and_set(h).await;
    session_concurrent_writers_one_wins(h).await;
    session_ttl_expiry(h).await;
    session_save_refreshes_ttl(h).await;
    session_delete(h).await;
    session_keys_are_isolated(h).await;
}

/// Loading a key never saved gives `None`.
pub async fn session_absent_is_none(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let got = store.load(&sample_key(1)).await.expect("load");
    assert!(got.is_none(), "load of a never-saved key must be None");
}

/// `save(.., None, ..)` creates, and only when absent; the first version is 1.
pub async fn session_create_only_when_absent(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(2);
    let v1 = store
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .expect("create");
    assert_eq!(v1, 1, "the first version is 1");
    let again = store
        .save(&key, &sample_session(&key, 2), None, LONG)
        .await
        .expect_err("a second create must conflict");
    assert_eq!(
        again.kind,
        PortErrorKind::Conflict,
        "create over existing: {again}"
    );
    let got = store.load(&key).await.expect("load").expect("present");
    assert_eq!(got.version, 1);
    assert_eq!(
        got.value,
        sample_session(&key, 1),
        "the losing create must not write"
    );
}

/// Stale or invented versions conflict; the right one wins with a strictly greater version.
pub async fn session_compare_and_set(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(3);
    let missing = store
        .save(&key, &sample_session(&key, 0), Some(1), LONG)
        .await
        .expect_err("an update of an absent session must conflict");
    assert_eq!(missing.kind, PortErrorKind::Conflict);

    let mut version = store
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .expect("create");
    for marker in 2..=6u64 {
        let next = store
            .save(&key, &sample_session(&key, marker), Some(version), LONG)
            .await
            .expect("save at the current version");
        assert!(
            next > version,
            "versions strictly increase: {version} then {next}"
        );
        let stale = store
            .save(
                &key,
                &sample_session(&key, 100 + marker),
                Some(version),
                LONG,
            )
            .await
            .expect_err("a save at a stale version must conflict");
        assert_eq!(stale.kind, PortErrorKind::Conflict, "stale save: {stale}");
        let future = store
            .save(
                &key,
                &sample_session(&key, 200 + marker),
                Some(next + 7),
                LONG,
            )
            .await
            .expect_err("a save at a version never issued must conflict");
        assert_eq!(future.kind, PortErrorKind::Conflict);
        version = next;
        let got = store.load(&key).await.expect("load").expect("present");
        assert_eq!(
            got.version, version,
            "load returns the version save returned"
        );
        assert_eq!(
            got.value,
            sample_session(&key, marker),
            "load returns the last write"
        );
    }
}

/// Of several writers racing from the same version, exactly one wins.
pub async fn session_concurrent_writers_one_wins(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(4);
    let v = store
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .expect("create");
    let sessions: Vec<Session> = (10..18).map(|m| sample_session(&key, m)).collect();
    let results = join_all(
        sessions
            .iter()
            .map(|s| store.save(&key, s, Some(v), LONG))
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racing writer wins: {results:?}"
    );
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.kind, PortErrorKind::Conflict, "losers get Conflict: {e}");
        }
    }
    let got = store.load(&key).await.expect("load").expect("present");
    assert_eq!(
        got.value, sessions[winners[0]],
        "the winner's write is stored"
    );
}

/// An untouched session is gone after its TTL, and the key can be created again.
pub async fn session_ttl_expiry(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(5);
    store
        .save(&key, &sample_session(&key, 1), None, SHORT)
        .await
        .expect("create");
    h.sleep(PAST_SHORT).await;
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "a session is gone after its TTL"
    );
    let v = store
        .save(&key, &sample_session(&key, 2), None, LONG)
        .await
        .expect("create again after expiry");
    assert!(v >= 1);
}

/// Each save sets the TTL anew (the TTL bounds how long an *untouched* session lives).
pub async fn session_save_refreshes_ttl(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(6);
    let v = store
        .save(&key, &sample_session(&key, 1), None, SHORT)
        .await
        .expect("create");
    store
        .save(&key, &sample_session(&key, 2), Some(v), LONG)
        .await
        .expect("update");
    h.sleep(PAST_SHORT).await;
    let got = store.load(&key).await.expect("load");
    assert_eq!(
        got.map(|g| g.value),
        Some(sample_session(&key, 2)),
        "a save with a long TTL keeps the session past the earlier short TTL"
    );
}

/// Delete removes and reports whether something was there.
pub async fn session_delete(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let key = sample_key(7);
    assert!(
        !store.delete(&key).await.expect("delete absent"),
        "nothing to delete"
    );
    let v = store
        .save(&key, &sample_session(&key, 1), None, LONG)
        .await
        .expect("create");
    assert!(
        store.delete(&key).await.expect("delete"),
        "delete reports it existed"
    );
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "deleted means gone"
    );
    let stale = store
        .save(&key, &sample_session(&key, 2), Some(v), LONG)
        .await
        .expect_err("an update of a deleted session must conflict");
    assert_eq!(stale.kind, PortErrorKind::Conflict);
    assert!(
        !store.delete(&key).await.expect("delete again"),
        "second delete finds nothing"
    );
}

/// Keys that differ only in the user, the number or the tenant are different sessions.
pub async fn session_keys_are_isolated(h: &dyn StorageHarness) {
    let store = h.session_store().await;
    let a = sample_key(8);
    let b = sample_key(9);
    let c = SessionKey::new("other-tenant", "100200300", a.user.clone());
    let d = SessionKey::new(
        a.tenant.0.clone(),
        "100200300",
        UserRef::Bsuid(a.user.raw().to_owned()),
    );
    for (i, k) in [&a, &b, &c, &d].into_iter().enumerate() {
        let v = store
            .save(k, &sample_session(k, i as u64), None, LONG)
            .await
            .expect("create each key once");
        assert_eq!(v, 1, "each key has its own version sequence");
    }
    for (i, k) in [&a, &b, &c, &d].into_iter().enumerate() {
        let got = store.load(k).await.expect("load").expect("present");
        assert_eq!(got.value, sample_session(k, i as u64));
    }
}

// ---------------------------------------------------------------------------------------------
// Evidence
// ---------------------------------------------------------------------------------------------

/// All [`EvidenceStore`] checks.
pub async fn evidence(h: &dyn StorageHarness) {
    let store = h.evidence_store().await;
    let key = EvidenceKey::portrait(&sample_key(1).storage_id());
    let other = EvidenceKey::portrait(&sample_key(2).storage_id());
    assert_eq!(store.get(&key).await.expect("get"), None, "absent is None");

    let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    store.put(&key, &bytes, LONG).await.expect("put");
    assert_eq!(
        store.get(&key).await.expect("get"),
        Some(bytes.clone()),
        "round trip"
    );
    assert_eq!(
        store.get(&other).await.expect("get other"),
        None,
        "keys are isolated"
    );

    store.put(&key, b"replaced", LONG).await.expect("replace");
    assert_eq!(
        store.get(&key).await.expect("get"),
        Some(b"replaced".to_vec()),
        "put replaces"
    );

    store.put(&other, b"", LONG).await.expect("put empty");
    assert_eq!(
        store.get(&other).await.expect("get"),
        Some(Vec::new()),
        "empty is not absent"
    );

    assert!(
        store.delete(&key).await.expect("delete"),
        "delete reports it existed"
    );
    assert_eq!(
        store.get(&key).await.expect("get"),
        None,
        "deleted means gone"
    );
    assert!(
        !store.delete(&key).await.expect("delete again"),
        "nothing left to delete"
    );

    store
        .put(&key, b"short-lived", SHORT)
        .await
        .expect("put short");
    h.sleep(PAST_SHORT).await;
    assert_eq!(
        store.get(&key).await.expect("get"),
        None,
        "gone after its TTL"
    );
    assert_eq!(
        store.get(&other).await.expect("get other"),
        Some(Vec::new()),
        "a long TTL survives"
    );
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// All [`JobQueue`] checks.
pub async fn queue(h: &dyn StorageHarness) {
    queue_round_trip(h).await;
    queue_enqueue_nothing(h).await;
    queue_reserve_respects_max(h).await;
    queue_reserve_wakes_on_enqueue(h).await;
    queue_reclaim_after_idle(h).await;
    queue_extend(h).await;
    queue_retry_with_delay(h).await;
    queue_retry_without_delay(h).await;
    queue_dead_letter(h).await;
    queue_capacity_all_or_nothing(h).await;
}

/// Reserve until `n` deliveries arrived (adapters may hand out fewer than `max` per call).
async fn reserve_n(q: &dyn JobQueue, consumer: &str, n: usize) -> Vec<Delivery> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < EVENTUALLY {
        let got = q
            .reserve(consumer, n - out.len(), Duration::from_millis(200))
            .await
            .expect("reserve");
        assert!(got.len() <= n - out.len(), "reserve returned more than max");
        out.extend(got);
    }
    assert_eq!(out.len(), n, "expected {n} deliveries, got {}", out.len());
    out
}

/// Jobs come out in order, intact (binary payloads, partitions), at attempt 1; acked jobs are
/// neither delivered nor reclaimed again.
pub async fn queue_round_trip(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    let binary: Vec<u8> = (0..=255u8).collect();
    let jobs = vec![
        job("whatsapp.event", &binary),
        NewJob {
            kind: "engine.command".to_owned(),
            partition: None,
            payload: Vec::new(),
        },
        job("registry.callback", b"{\"ok\":true}"),
    ];
    let ids = q.enqueue(jobs.clone()).await.expect("enqueue");
    assert_eq!(ids.len(), 3, "one id per job");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        3,
        "ids are distinct"
    );

    let got = reserve_n(&*q, "worker-a", 3).await;
    for ((d, j), id) in got.iter().zip(&jobs).zip(&ids) {
        assert_eq!(&d.job, j, "the job comes out as it went in, in order");
        assert_eq!(&d.id, id, "the delivery id is the id enqueue returned");
        assert_eq!(d.attempt, 1, "first delivery is attempt 1");
    }
    for d in &got {
        q.ack(&d.id).await.expect("ack");
    }
    // Acking twice is harmless: at-least-once workers may ack a reclaimed delivery late.
    q.ack(&got[0].id).await.expect("ack twice");
    let more = q
        .reserve("worker-a", 10, Duration::from_millis(50))
        .await
        .expect("reserve");
    assert!(
        more.is_empty(),
        "acked jobs are not delivered again: {more:?}"
    );
    h.sleep(PAST_SHORT).await;
    let reclaimed = q.reclaim("worker-b", SHORT, 10).await.expect("reclaim");
    assert!(
        reclaimed.is_empty(),
        "acked jobs are not reclaimed: {reclaimed:?}"
    );
}

/// Enqueueing nothing succeeds and returns nothing.
pub async fn queue_enqueue_nothing(h: &dyn StorageHarness) {
    let q = h.job_queue(1).await;
    assert!(
        q.enqueue(Vec::new())
            .await
            .expect("enqueue nothing")
            .is_empty()
    );
}

/// A reserve never hands out more than `max`, and every job is handed out exactly once.
pub async fn queue_reserve_respects_max(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    let jobs: Vec<NewJob> = (0..5).map(|i| job(&format!("k{i}"), &[i])).collect();
    q.enqueue(jobs.clone()).await.expect("enqueue");
    let first = q
        .reserve("w", 2, Duration::from_secs(2))
        .await
        .expect("reserve");
    assert!(
        (1..=2).contains(&first.len()),
        "reserve(max=2) gave {}",
        first.len()
    );
    let rest = reserve_n(&*q, "w", 5 - first.len()).await;
    let kinds: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|d| d.job.kind.clone())
        .collect();
    let expected: Vec<String> = jobs.iter().map(|j| j.kind.clone()).collect();
    assert_eq!(kinds, expected, "each job exactly once, in order");
}

/// A reserve that is waiting picks up a job enqueued meanwhile.
pub async fn queue_reserve_wakes_on_enqueue(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    let empty = q
        .reserve("w", 1, Duration::from_millis(30))
        .await
        .expect("reserve on empty");
    assert!(empty.is_empty(), "nothing to reserve yet");
    let waiting = q.reserve("w", 1, EVENTUALLY);
    let producer = async {
        h.sleep(Duration::from_millis(100)).await;
        q.enqueue(vec![job("late", b"x")]).await.expect("enqueue");
        Ok(Vec::new())
    };
    let results =
        join_all::<Pin<Box<dyn Future<Output = _> + Send + '_>>>(vec![waiting, Box::pin(producer)])
            .await;
    let got = results[0].as_ref().expect("reserve");
    assert_eq!(got.len(), 1, "the waiting reserve got the late job");
    assert_eq!(got[0].job.kind, "late");
}

/// An unacked delivery is reclaimed by another consumer after `min_idle`, not before, with
/// the attempt incremented; it is not handed out as new.
pub async fn queue_reclaim_after_idle(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    q.enqueue(vec![job("orphan", b"payload")])
        .await
        .expect("enqueue");
    let d = reserve_n(&*q, "dies", 1).await.remove(0);
    let reserved_at = Instant::now();

    let early = q
        .reclaim("rescuer", Duration::from_secs(60), 10)
        .await
        .expect("reclaim");
    assert!(early.is_empty(), "nothing is idle for 60 s yet: {early:?}");

    h.sleep(PAST_SHORT).await;
    let got = q.reclaim("rescuer", SHORT, 10).await.expect("reclaim");
    assert!(reserved_at.elapsed() >= SHORT);
    assert_eq!(got.len(), 1, "the orphaned delivery is reclaimed: {got:?}");
    assert_eq!(got[0].id, d.id, "a reclaimed delivery keeps its id");
    assert_eq!(got[0].job, d.job);
    assert_eq!(
        got[0].attempt,
        d.attempt + 1,
        "reclaiming counts an attempt"
    );

    let twice = q.reclaim("third", SHORT, 10).await.expect("reclaim");
    assert!(twice.is_empty(), "a fresh claim is not idle: {twice:?}");
    let fresh = q
        .reserve("another", 10, Duration::from_millis(50))
        .await
        .expect("reserve");
    assert!(
        fresh.is_empty(),
        "a pending job is not handed out as new: {fresh:?}"
    );

    q.ack(&got[0].id).await.expect("ack");
    h.sleep(PAST_SHORT).await;
    let after_ack = q.reclaim("third", SHORT, 10).await.expect("reclaim");
    assert!(
        after_ack.is_empty(),
        "acked after reclaim: gone ({after_ack:?})"
    );
}

/// A heartbeat ([`JobQueue::extend`]) keeps a delivery from being reclaimed while its worker
/// is alive; a delivery nobody extends (a dead worker's) is reclaimed beside it. Only the
/// holder can extend, and a settled or stolen delivery reports `false`.
pub async fn queue_extend(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    q.enqueue(vec![job("long", b"1"), job("orphan", b"2")])
        .await
        .expect("enqueue");
    let mut ds = reserve_n(&*q, "busy", 2).await;
    ds.sort_by(|a, b| a.job.kind.cmp(&b.job.kind));
    let (long, orphan) = (ds[0].clone(), ds[1].clone());
    assert_eq!(long.job.kind, "long");

    // Both idle for longer than the reclaim bound below; only `long` is extended.
    h.sleep(PAST_SHORT * 2).await;
    let held = q
        .extend("busy", std::slice::from_ref(&long.id))
        .await
        .expect("extend");
    assert_eq!(held, vec![true], "the holder extends its own delivery");
    let stolen = q
        .reclaim("rescuer", PAST_SHORT + SHORT, 10)
        .await
        .expect("reclaim");
    let ids: Vec<&str> = stolen.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![orphan.id.as_str()],
        "only the delivery nobody extended is taken over"
    );

    // The orphan now belongs to the rescuer: the old holder cannot take it back.
    let lost = q
        .extend("busy", &[orphan.id.clone(), long.id.clone()])
        .await
        .expect("extend");
    assert_eq!(lost, vec![false, true], "a stolen delivery is not extended");

    q.ack(&long.id).await.expect("ack");
    q.ack(&orphan.id).await.expect("ack");
    let gone = q
        .extend("busy", std::slice::from_ref(&long.id))
        .await
        .expect("extend");
    assert_eq!(gone, vec![false], "an acked delivery is no longer held");
    assert!(
        q.extend("busy", &[])
            .await
            .expect("extend nothing")
            .is_empty(),
        "extending nothing is nothing"
    );
}

/// A retried job is not delivered before its delay, then comes back with attempt + 1; the
/// original delivery is acked.
pub async fn queue_retry_with_delay(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    q.enqueue(vec![job("flaky", b"p")]).await.expect("enqueue");
    let d = reserve_n(&*q, "w", 1).await.remove(0);
    let delay = Duration::from_millis(400);
    let before_retry = Instant::now();
    q.retry(&d, delay).await.expect("retry");

    h.sleep(Duration::from_millis(150)).await;
    let reclaimed = q
        .reclaim("r", Duration::from_millis(100), 10)
        .await
        .expect("reclaim");
    assert!(
        reclaimed.is_empty(),
        "retry acks the delivery it replaces, so there is nothing to reclaim: {reclaimed:?}"
    );

    let start = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && start.elapsed() < EVENTUALLY {
        got = q
            .reserve("w", 10, Duration::from_millis(50))
            .await
            .expect("reserve");
        if !got.is_empty() {
            assert!(
                before_retry.elapsed() >= delay,
                "delivered {:?} after retry, before the {delay:?} delay",
                before_retry.elapsed()
            );
        }
    }
    assert_eq!(got.len(), 1, "the retried job comes back");
    assert_eq!(got[0].job, d.job);
    assert_eq!(got[0].attempt, d.attempt + 1, "a retry counts an attempt");
    q.ack(&got[0].id).await.expect("ack");
}

/// A retry without delay is available at once; attempts keep counting.
pub async fn queue_retry_without_delay(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    q.enqueue(vec![job("again", b"p")]).await.expect("enqueue");
    let mut d = reserve_n(&*q, "w", 1).await.remove(0);
    for expected in 2..=4u32 {
        q.retry(&d, Duration::ZERO).await.expect("retry");
        d = reserve_n(&*q, "w", 1).await.remove(0);
        assert_eq!(d.attempt, expected);
        assert_eq!(d.job.kind, "again");
    }
    q.ack(&d.id).await.expect("ack");
}

/// A dead-lettered job is neither delivered nor reclaimed again.
pub async fn queue_dead_letter(h: &dyn StorageHarness) {
    let q = h.job_queue(100).await;
    q.enqueue(vec![job("poison", b"p")]).await.expect("enqueue");
    let d = reserve_n(&*q, "w", 1).await.remove(0);
    q.dead_letter(&d, "payload does not parse")
        .await
        .expect("dead letter");
    let again = q
        .reserve("w", 10, Duration::from_millis(50))
        .await
        .expect("reserve");
    assert!(
        again.is_empty(),
        "dead letters are not delivered: {again:?}"
    );
    h.sleep(PAST_SHORT).await;
    let reclaimed = q.reclaim("r", SHORT, 10).await.expect("reclaim");
    assert!(
        reclaimed.is_empty(),
        "dead letters are not reclaimed: {reclaimed:?}"
    );
}

/// A full queue refuses a batch with `Full` and enqueues none of it; capacity frees on ack.
pub async fn queue_capacity_all_or_nothing(h: &dyn StorageHarness) {
    let q = h.job_queue(3).await;
    q.enqueue(vec![job("a", b""), job("b", b"")])
        .await
        .expect("fits");
    let full = q
        .enqueue(vec![job("c", b""), job("d", b"")])
        .await
        .expect_err("2 more do not fit in 3");
    assert_eq!(full.kind, PortErrorKind::Full, "over capacity: {full}");
    assert!(full.is_retryable(), "Full is retryable");
    q.enqueue(vec![job("c", b"")])
        .await
        .expect("the third fits");
    let full = q
        .enqueue(vec![job("e", b"")])
        .await
        .expect_err("a fourth does not");
    assert_eq!(full.kind, PortErrorKind::Full);

    let got = reserve_n(&*q, "w", 3).await;
    let kinds: Vec<&str> = got.iter().map(|d| d.job.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["a", "b", "c"],
        "a refused batch left nothing behind"
    );
    let still_full = q
        .enqueue(vec![job("f", b"")])
        .await
        .expect_err("in-flight jobs count");
    assert_eq!(still_full.kind, PortErrorKind::Full);
    q.ack(&got[0].id).await.expect("ack");
    q.enqueue(vec![job("g", b"")])
        .await
        .expect("an ack frees a slot");
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

fn timer(n: u32, name: &str, fire_at: i64, token: u64) -> TimerEntry {
    TimerEntry {
        session: sample_key(n),
        name: name.to_owned(),
        fire_at: Timestamp(fire_at),
        token,
    }
}

/// All [`TimerStore`] checks.
pub async fn timers(h: &dyn StorageHarness) {
    timers_due_once(h).await;
    timers_replace_and_cancel(h).await;
    timers_max_and_order(h).await;
    timers_concurrent_take_due(h).await;
}

/// Only due timers are taken, each once.
pub async fn timers_due_once(h: &dyn StorageHarness) {
    let t = h.timer_store().await;
    t.schedule(timer(1, "reminder", 1_000, 1))
        .await
        .expect("schedule");
    t.schedule(timer(1, "expiry", 2_000, 2))
        .await
        .expect("schedule");
    assert!(
        t.take_due(Timestamp(999), 10)
            .await
            .expect("take")
            .is_empty(),
        "not yet due"
    );
    let due = t.take_due(Timestamp(1_000), 10).await.expect("take");
    assert_eq!(
        due,
        vec![timer(1, "reminder", 1_000, 1)],
        "due at exactly fire_at"
    );
    assert!(
        t.take_due(Timestamp(1_500), 10)
            .await
            .expect("take")
            .is_empty(),
        "a taken timer is not returned again"
    );
    let due = t.take_due(Timestamp(10_000), 10).await.expect("take");
    assert_eq!(due, vec![timer(1, "expiry", 2_000, 2)]);
}

/// Scheduling the same (session, name) replaces; cancel removes and reports.
pub async fn timers_replace_and_cancel(h: &dyn StorageHarness) {
    let t = h.timer_store().await;
    t.schedule(timer(1, "reminder", 1_000, 1))
        .await
        .expect("schedule");
    t.schedule(timer(1, "reminder", 5_000, 2))
        .await
        .expect("replace");
    t.schedule(timer(2, "reminder", 1_000, 3))
        .await
        .expect("another session");
    let due = t.take_due(Timestamp(2_000), 10).await.expect("take");
    assert_eq!(
        due,
        vec![timer(2, "reminder", 1_000, 3)],
        "the replaced timer moved to its new time; other sessions' timers are separate"
    );
    assert!(
        !t.cancel(&sample_key(3), "reminder").await.expect("cancel"),
        "nothing to cancel"
    );
    assert!(
        t.cancel(&sample_key(1), "reminder").await.expect("cancel"),
        "cancel reports"
    );
    assert!(
        !t.cancel(&sample_key(1), "reminder").await.expect("cancel"),
        "only once"
    );
    assert!(
        t.take_due(Timestamp(i64::MAX), 10)
            .await
            .expect("take")
            .is_empty(),
        "cancelled"
    );
}

/// `max` bounds a take; the earliest timers come first.
pub async fn timers_max_and_order(h: &dyn StorageHarness) {
    let t = h.timer_store().await;
    for (i, at) in [500, 100, 400, 200, 300].into_iter().enumerate() {
        t.schedule(timer(i as u32, "t", at, i as u64))
            .await
            .expect("schedule");
    }
    let first = t.take_due(Timestamp(1_000), 2).await.expect("take");
    let at: Vec<i64> = first.iter().map(|e| e.fire_at.0).collect();
    assert_eq!(at, [100, 200], "earliest first, at most max");
    let rest = t.take_due(Timestamp(1_000), 10).await.expect("take");
    let at: Vec<i64> = rest.iter().map(|e| e.fire_at.0).collect();
    assert_eq!(at, [300, 400, 500]);
}

/// Concurrent `take_due` callers never get the same timer, and together get all of them.
pub async fn timers_concurrent_take_due(h: &dyn StorageHarness) {
    let t = h.timer_store().await;
    let n = 60u32;
    for i in 0..n {
        t.schedule(timer(i, "race", 1_000 + i64::from(i), u64::from(i)))
            .await
            .expect("schedule");
    }
    let worker = |t: Arc<dyn TimerStore>| async move {
        let mut mine = Vec::new();
        loop {
            let got = t.take_due(Timestamp(10_000), 3).await.expect("take");
            if got.is_empty() {
                return mine;
            }
            mine.extend(got.into_iter().map(|e| e.token));
        }
    };
    let results = join_all((0..4).map(|_| worker(t.clone())).collect()).await;
    let all: Vec<u64> = results.into_iter().flatten().collect();
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a timer was taken twice: {all:?}");
    assert_eq!(
        unique,
        (0..u64::from(n)).collect(),
        "every due timer was taken"
    );
}

// ---------------------------------------------------------------------------------------------
// De-duplication
// ---------------------------------------------------------------------------------------------

/// All [`Deduplicator`] checks.
pub async fn dedup(h: &dyn StorageHarness) {
    let d = h.deduplicator().await;
    assert!(
        d.first_seen("wamid.A", LONG).await.expect("mark"),
        "new key"
    );
    assert!(
        !d.first_seen("wamid.A", LONG).await.expect("mark"),
        "seen key"
    );
    assert!(
        d.first_seen("wamid.B", LONG).await.expect("mark"),
        "keys are separate"
    );

    d.forget("wamid.A").await.expect("forget");
    assert!(
        d.first_seen("wamid.A", LONG).await.expect("mark"),
        "new again after forget"
    );
    d.forget("never-seen")
        .await
        .expect("forgetting the unknown is fine");

    assert!(d.first_seen("wamid.C", SHORT).await.expect("mark"));
    assert!(!d.first_seen("wamid.C", SHORT).await.expect("mark"));
    h.sleep(PAST_SHORT).await;
    assert!(
        d.first_seen("wamid.C", LONG).await.expect("mark"),
        "new again after its TTL"
    );

    let racers = join_all((0..8).map(|_| d.first_seen("wamid.RACE", LONG)).collect()).await;
    let firsts = racers.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(
        firsts, 1,
        "exactly one concurrent caller sees a key first: {racers:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Inbox: de-duplication and enqueue in one step
// ---------------------------------------------------------------------------------------------

fn inbound(key: Option<&str>, payload: &str) -> InboundJob {
    InboundJob {
        dedup_key: key.map(str::to_owned),
        job: job("inbound", payload.as_bytes()),
    }
}

/// The payloads a queue holds, reserved (and acked) in order.
async fn drain_payloads(q: &dyn JobQueue) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = q
            .reserve("inbox-check", 100, Duration::from_millis(20))
            .await
            .expect("reserve");
        if got.is_empty() {
            return out;
        }
        for d in got {
            q.ack(&d.id).await.expect("ack");
            out.push(String::from_utf8(d.job.payload).expect("utf-8 payload"));
        }
    }
}

/// All [`Inbox`] checks.
pub async fn inbox(h: &dyn StorageHarness) {
    inbox_enqueues_new_and_skips_duplicates(h).await;
    inbox_full_leaves_no_mark(h).await;
    inbox_marks_expire(h).await;
    inbox_concurrent_callers_one_wins(h).await;
}

/// New items are enqueued in order with their ids; an item whose key was seen before, or
/// earlier in the same call, is a duplicate and not enqueued; items without a key are new.
pub async fn inbox_enqueues_new_and_skips_duplicates(h: &dyn StorageHarness) {
    let (inbox, queue) = h.inbox(100).await;
    let got = inbox
        .accept(
            vec![
                inbound(Some("wamid.1"), "a"),
                inbound(None, "b"),
                inbound(Some("wamid.1"), "a again"),
                inbound(Some("wamid.2"), "c"),
            ],
            LONG,
        )
        .await
        .expect("accept");
    assert_eq!(got.len(), 4, "one outcome per item: {got:?}");
    assert!(
        matches!(&got[0], Accepted::New(id) if !id.is_empty()),
        "{got:?}"
    );
    assert!(
        matches!(&got[1], Accepted::New(id) if !id.is_empty()),
        "{got:?}"
    );
    assert_eq!(got[2], Accepted::Duplicate, "same key later in one call");
    assert!(
        matches!(&got[3], Accepted::New(id) if !id.is_empty()),
        "{got:?}"
    );
    let again = inbox
        .accept(
            vec![
                inbound(Some("wamid.2"), "c again"),
                inbound(Some("wamid.3"), "d"),
            ],
            LONG,
        )
        .await
        .expect("accept");
    assert_eq!(again[0], Accepted::Duplicate, "key seen in an earlier call");
    assert!(matches!(&again[1], Accepted::New(_)), "{again:?}");
    assert_eq!(
        drain_payloads(queue.as_ref()).await,
        ["a", "b", "c", "d"],
        "exactly the new items, in order"
    );
    let none = inbox
        .accept(vec![inbound(Some("wamid.1"), "dup")], LONG)
        .await
        .expect("accept");
    assert_eq!(
        none,
        [Accepted::Duplicate],
        "only duplicates: nothing to enqueue"
    );
    assert!(drain_payloads(queue.as_ref()).await.is_empty());
}

/// A call whose new items do not fit is `Full`, enqueues none and marks none: once there is
/// room, the same items are new.
pub async fn inbox_full_leaves_no_mark(h: &dyn StorageHarness) {
    let (inbox, queue) = h.inbox(2).await;
    let first = inbox
        .accept(vec![inbound(Some("wamid.f1"), "1")], LONG)
        .await
        .expect("accept");
    assert!(matches!(&first[0], Accepted::New(_)));
    let two = || {
        vec![
            inbound(Some("wamid.f2"), "2"),
            inbound(Some("wamid.f3"), "3"),
        ]
    };
    let err = inbox
        .accept(two(), LONG)
        .await
        .expect_err("two more do not fit a queue of 2 holding 1");
    assert_eq!(err.kind, PortErrorKind::Full, "{err}");
    assert_eq!(
        drain_payloads(queue.as_ref()).await,
        ["1"],
        "nothing of the refused call"
    );
    let retried = inbox.accept(two(), LONG).await.expect("room now");
    assert!(
        retried.iter().all(|a| matches!(a, Accepted::New(_))),
        "a refused call left no mark: {retried:?}"
    );
    assert_eq!(drain_payloads(queue.as_ref()).await, ["2", "3"]);
}

/// A mark lasts its TTL, no longer.
pub async fn inbox_marks_expire(h: &dyn StorageHarness) {
    let (inbox, queue) = h.inbox(100).await;
    let a = inbox
        .accept(vec![inbound(Some("wamid.t"), "1")], SHORT)
        .await
        .expect("accept");
    assert!(matches!(&a[0], Accepted::New(_)));
    let b = inbox
        .accept(vec![inbound(Some("wamid.t"), "2")], SHORT)
        .await
        .expect("accept");
    assert_eq!(b, [Accepted::Duplicate], "within the TTL");
    h.sleep(PAST_SHORT).await;
    let c = inbox
        .accept(vec![inbound(Some("wamid.t"), "3")], LONG)
        .await
        .expect("accept");
    assert!(matches!(&c[0], Accepted::New(_)), "new again after its TTL");
    assert_eq!(drain_payloads(queue.as_ref()).await, ["1", "3"]);
}

/// Eight callers racing with one key: one is new, one job is enqueued.
pub async fn inbox_concurrent_callers_one_wins(h: &dyn StorageHarness) {
    let (inbox, queue) = h.inbox(100).await;
    let racers = join_all(
        (0..8)
            .map(|i| inbox.accept(vec![inbound(Some("wamid.RACE"), &format!("{i}"))], LONG))
            .collect(),
    )
    .await;
    let firsts = racers
        .iter()
        .filter(|r| matches!(r.as_deref(), Ok([Accepted::New(_)])))
        .count();
    assert_eq!(
        firsts, 1,
        "exactly one caller sees the key first: {racers:?}"
    );
    assert_eq!(
        drain_payloads(queue.as_ref()).await.len(),
        1,
        "one job enqueued"
    );
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

/// All [`LeaseStore`] checks.
pub async fn leases(h: &dyn StorageHarness) {
    let l = h.lease_store().await;
    assert!(l.acquire("s1", "a", LONG).await.expect("acquire"), "free");
    assert!(
        !l.acquire("s1", "b", LONG).await.expect("acquire"),
        "held by another owner"
    );
    assert!(
        l.acquire("s1", "a", LONG).await.expect("acquire"),
        "re-entrant for its owner"
    );
    assert!(
        l.acquire("s2", "b", LONG).await.expect("acquire"),
        "names are separate"
    );
    assert!(
        !l.renew("s1", "b", LONG).await.expect("renew"),
        "only the owner renews"
    );
    assert!(
        l.renew("s1", "a", LONG).await.expect("renew"),
        "owner renews"
    );
    l.release("s1", "b").await.expect("release by another");
    assert!(
        !l.acquire("s1", "b", LONG).await.expect("acquire"),
        "a release by another owner is a no-op"
    );
    l.release("s1", "a").await.expect("release");
    assert!(
        l.acquire("s1", "b", LONG).await.expect("acquire"),
        "free after its owner released it"
    );

    assert!(l.acquire("s3", "a", SHORT).await.expect("acquire"));
    h.sleep(PAST_SHORT).await;
    assert!(
        !l.renew("s3", "a", LONG).await.expect("renew"),
        "an expired lease cannot be renewed"
    );
    assert!(
        l.acquire("s3", "b", LONG).await.expect("acquire"),
        "free after its TTL"
    );

    // Renewal sets a new TTL: the lease outlives its first one.
    assert!(l.acquire("s4", "a", SHORT).await.expect("acquire"));
    assert!(l.renew("s4", "a", LONG).await.expect("renew"), "renewed");
    h.sleep(PAST_SHORT).await;
    assert!(
        !l.acquire("s4", "b", LONG).await.expect("acquire"),
        "still held after renewals outlasting the first TTL"
    );

    let owners: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    let racers = join_all(
        owners
            .iter()
            .map(|o| l.acquire("s-race", o, LONG))
            .collect(),
    )
    .await;
    let winners = racers.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent caller takes a lease: {racers:?}"
    );
}
