//! Conformance suite for [`ReviewQueue`]: idempotent open and close, lookup, ordering and
//! pagination, isolation of what adapters seal.
//!
//! An adapter implements [`ReviewHarness`] (fresh, isolated queues) and calls [`run_all`] from a
//! test on its own executor. Every check panics with a message naming the behaviour that broke.

use crate::conformance::storage::sample_key;
use crate::data::DecisionReason;
use crate::ports::{ReviewCase, ReviewQueue};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::sync::Arc;

/// What an adapter gives the suite.
#[async_trait]
pub trait ReviewHarness: Send + Sync {
    /// A fresh, empty review queue sharing no state with queues returned earlier.
    async fn review_queue(&self) -> Arc<dyn ReviewQueue>;
}

/// A case for checks: `n` varies the user, `at` the time it was filed.
pub fn sample_case(n: u32, at: i64) -> ReviewCase {
    ReviewCase {
        id: format!("case-{n:04}"),
        key: sample_key(n),
        queued_at: Timestamp(1_700_000_000_000 + at),
        reasons: vec![DecisionReason::LivenessNotCertified],
    }
}

/// Run every review queue check.
pub async fn run_all(h: &dyn ReviewHarness) {
    review_open_get_close(h).await;
    review_open_is_idempotent(h).await;
    review_list_oldest_first_and_pages(h).await;
    review_queues_are_isolated(h).await;
}

/// A filed case can be read back whole, and is gone once closed; closing twice is not an error.
pub async fn review_open_get_close(h: &dyn ReviewHarness) {
    let q = h.review_queue().await;
    let case = sample_case(1, 0);
    assert_eq!(
        q.get(&case.id).await.unwrap(),
        None,
        "empty queue has no case"
    );
    q.open(&case).await.unwrap();
    assert_eq!(
        q.get(&case.id).await.unwrap().as_ref(),
        Some(&case),
        "an opened case reads back whole (key, time, reasons)"
    );
    assert_eq!(q.count().await.unwrap(), 1);
    assert!(
        q.close(&case.id).await.unwrap(),
        "close reports an open case"
    );
    assert_eq!(
        q.get(&case.id).await.unwrap(),
        None,
        "a closed case is gone"
    );
    assert!(
        !q.close(&case.id).await.unwrap(),
        "closing again reports nothing was open"
    );
    assert_eq!(q.count().await.unwrap(), 0);
    assert!(q.list(0, 10).await.unwrap().is_empty());
}

/// Opening the same case again (a repeated outbox step after a crash) leaves one case.
pub async fn review_open_is_idempotent(h: &dyn ReviewHarness) {
    let q = h.review_queue().await;
    let case = sample_case(2, 5);
    q.open(&case).await.unwrap();
    q.open(&case).await.unwrap();
    assert_eq!(q.count().await.unwrap(), 1, "one case per id");
    let mut newer = case.clone();
    newer.reasons.push(DecisionReason::BorderlineScore);
    q.open(&newer).await.unwrap();
    assert_eq!(q.count().await.unwrap(), 1, "re-filing replaces");
    assert_eq!(q.get(&case.id).await.unwrap(), Some(newer));
}

/// Cases list oldest first (ties by id), and `offset`/`limit` page through them.
pub async fn review_list_oldest_first_and_pages(h: &dyn ReviewHarness) {
    let q = h.review_queue().await;
    // Filed out of order; two share a time.
    for (n, at) in [(3, 300), (1, 100), (4, 300), (2, 200), (5, 50)] {
        q.open(&sample_case(n, at)).await.unwrap();
    }
    let ids = |cases: Vec<ReviewCase>| cases.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(q.list(0, 10).await.unwrap()),
        [
            "case-0005",
            "case-0001",
            "case-0002",
            "case-0003",
            "case-0004"
        ],
        "oldest first, ties by id"
    );
    assert_eq!(ids(q.list(1, 2).await.unwrap()), ["case-0001", "case-0002"]);
    assert_eq!(ids(q.list(4, 10).await.unwrap()), ["case-0004"]);
    assert!(q.list(5, 10).await.unwrap().is_empty(), "past the end");
    assert!(q.list(0, 0).await.unwrap().is_empty(), "limit 0");
    q.close("case-0002").await.unwrap();
    assert_eq!(
        ids(q.list(0, 10).await.unwrap()),
        ["case-0005", "case-0001", "case-0003", "case-0004"],
        "a closed case leaves the listing"
    );
    assert_eq!(q.count().await.unwrap(), 4);
}

/// Two queues from the harness share nothing.
pub async fn review_queues_are_isolated(h: &dyn ReviewHarness) {
    let a = h.review_queue().await;
    let b = h.review_queue().await;
    a.open(&sample_case(7, 0)).await.unwrap();
    assert_eq!(b.count().await.unwrap(), 0, "queues are isolated");
    assert_eq!(b.get("case-0007").await.unwrap(), None);
}
