//! Conformance suite for the registry port, [`RegistryClient`].
//!
//! An adapter proves itself by calling [`run_all`] from a test on its own executor, with a client
//! and the cases its fixtures answer in a known way ([`RegistryCase`]): at least one `valid`
//! identity and one unknown to the registry (`not_found`). Every check panics with a message
//! naming the behaviour that broke.
//!
//! What every adapter must show:
//! - it declares the registries it serves, and refuses (non-retryably) one it does not;
//! - answers carry the normalized status, the registry asked, the source, sane timestamps,
//!   and only field names the query carried;
//! - an outage is a retryable `Err`, never an `Answered` negative status;
//! - the same identity asked again gives the same status; concurrent queries do not mix up.
//!
//! Nothing here measures time, so a slow machine cannot fail a correct adapter.

use crate::evidence::{Country, RegistryId, RegistryQuery, RegistryStatus};
use crate::ports::{PortResult, RegistryClient, RegistryReply};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// What a case must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A synchronous answer with this status.
    Answered(RegistryStatus),
    /// Accepted for a later callback.
    Pending,
    /// A retryable error (the registry is down): never an answer.
    RetryableError,
}

/// A query whose outcome the adapter's fixtures determine.
#[derive(Debug, Clone)]
pub struct RegistryCase {
    /// Names the case in failure messages (no PII).
    pub name: String,
    /// The query (its correlation id is replaced by the suite).
    pub query: RegistryQuery,
    /// What it must produce.
    pub expect: Expected,
}

impl RegistryCase {
    /// A case for `registry` with identifier `fields`.
    pub fn new(
        name: impl Into<String>,
        registry: &str,
        country: &str,
        fields: &[(&str, &str)],
        expect: Expected,
    ) -> Self {
        Self {
            name: name.into(),
            query: RegistryQuery {
                registry: RegistryId(registry.into()),
                country: Country::new(country),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                correlation_id: String::new(),
            },
            expect,
        }
    }

    fn query_with(&self, correlation: &str) -> RegistryQuery {
        RegistryQuery {
            correlation_id: format!("conformance-{correlation}"),
            ..self.query.clone()
        }
    }
}

/// Run every check.
pub async fn run_all(client: &dyn RegistryClient, cases: &[RegistryCase]) {
    assert!(
        cases
            .iter()
            .any(|c| c.expect == Expected::Answered(RegistryStatus::Valid)),
        "conformance: give at least one case answered `valid`"
    );
    assert!(
        cases
            .iter()
            .any(|c| c.expect == Expected::Answered(RegistryStatus::NotFound)),
        "conformance: give at least one case answered `not_found`"
    );
    declares_registries(client, cases).await;
    refuses_unknown_registry(client).await;
    answers_match(client, cases).await;
    repeats_are_stable(client, cases).await;
    concurrent_queries_do_not_mix(client, cases).await;
}

/// `registries()` is non-empty, sorted-or-not without duplicates, and covers every case.
pub async fn declares_registries(client: &dyn RegistryClient, cases: &[RegistryCase]) {
    let declared = client.registries();
    assert!(!declared.is_empty(), "registries(): declares none");
    let mut unique = declared.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), declared.len(), "registries(): duplicates");
    for c in cases {
        assert!(
            declared.contains(&c.query.registry),
            "registries(): does not declare {} used by case {}",
            c.query.registry.0,
            c.name
        );
    }
}

/// A registry the client does not serve is an `Err` that retrying cannot fix.
pub async fn refuses_unknown_registry(client: &dyn RegistryClient) {
    let q = RegistryQuery {
        registry: RegistryId("zz-conformance-unknown".into()),
        country: Country::new("ZZ"),
        fields: BTreeMap::from([("document_number".to_string(), "1".to_string())]),
        correlation_id: "conformance-unknown".into(),
    };
    match client.query(&q).await {
        Err(e) => assert!(
            !e.is_retryable(),
            "unknown registry: error must not be retryable, got {e}"
        ),
        Ok(r) => panic!("unknown registry: must be refused, got {r:?}"),
    }
}

fn check_outcome(case: &RegistryCase, query: &RegistryQuery, got: &PortResult<RegistryReply>) {
    let name = &case.name;
    match (case.expect, got) {
        (Expected::Answered(status), Ok(RegistryReply::Answered(r))) => {
            assert_eq!(r.status, status, "case {name}: status");
            assert_eq!(r.registry, query.registry, "case {name}: registry echoed");
            assert!(!r.source.is_empty(), "case {name}: source is empty");
            assert!(
                r.answered_at >= r.requested_at,
                "case {name}: answered before it was asked"
            );
            for f in &r.matched_fields {
                assert!(
                    query.fields.contains_key(f),
                    "case {name}: matched field {f:?} was not asked"
                );
            }
            if status == RegistryStatus::NotFound {
                assert!(
                    r.matched_fields.is_empty(),
                    "case {name}: not_found cannot confirm fields"
                );
            }
        }
        (Expected::Pending, Ok(RegistryReply::Pending)) => {}
        (Expected::RetryableError, Err(e)) => {
            assert!(
                e.is_retryable(),
                "case {name}: outage must be retryable, got {e}"
            )
        }
        (Expected::RetryableError, Ok(RegistryReply::Answered(r))) => panic!(
            "case {name}: an outage must never be an answer (got status {:?})",
            r.status
        ),
        (want, got) => panic!("case {name}: expected {want:?}, got {got:?}"),
    }
}

/// Each case gives its expected outcome, with a well-formed result.
pub async fn answers_match(client: &dyn RegistryClient, cases: &[RegistryCase]) {
    for (i, c) in cases.iter().enumerate() {
        let q = c.query_with(&format!("answers-{i}"));
        let got = client.query(&q).await;
        check_outcome(c, &q, &got);
    }
}

/// Asking again about the same identity (new correlation id) gives the same status.
pub async fn repeats_are_stable(client: &dyn RegistryClient, cases: &[RegistryCase]) {
    for (i, c) in cases.iter().enumerate() {
        if let Expected::Answered(_) = c.expect {
            for round in 0..2 {
                let q = c.query_with(&format!("repeat-{i}-{round}"));
                check_outcome(c, &q, &client.query(&q).await);
            }
        }
    }
}

/// All cases at once: every answer belongs to its own query.
pub async fn concurrent_queries_do_not_mix(client: &dyn RegistryClient, cases: &[RegistryCase]) {
    let queries: Vec<RegistryQuery> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| c.query_with(&format!("concurrent-{i}")))
        .collect();
    let futures: Vec<Pin<Box<dyn Future<Output = PortResult<RegistryReply>> + Send + '_>>> =
        queries.iter().map(|q| client.query(q)).collect();
    let results = join_all(futures).await;
    for ((c, q), got) in cases.iter().zip(&queries).zip(&results) {
        check_outcome(c, q, got);
    }
}

/// Poll every future until all are done (the core has no executor and no `futures` crate).
async fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future completed"))
        .collect()
}
