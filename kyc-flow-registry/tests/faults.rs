//! Timeouts, retries, the breaker and signatures, against the local registry service with
//! injected faults. No test asserts how long anything took: outcomes and request counts only.

mod common;

use common::*;
use kyc_flow_core::RegistryStatus;
use kyc_flow_core::ports::{PortErrorKind, RegistryClient, RegistryReply};
use kyc_flow_registry::breaker::BreakerState;
use kyc_flow_registry::local::Behaviour;
use kyc_flow_registry::{KeyRing, Secret};
use std::time::Duration;

const VALID_CURP: &[(&str, &str)] = &[("curp", "GOMA850101HDFRRL06")];

fn status(reply: RegistryReply) -> RegistryStatus {
    match reply {
        RegistryReply::Answered(r) => r.status,
        RegistryReply::Pending => panic!("expected an answer, got pending"),
    }
}

#[tokio::test]
async fn a_slow_registry_times_out_as_retryable_never_as_negative() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        delay: Duration::from_secs(3),
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.timeout = Duration::from_millis(200);
    e.retries = 1;
    let c = client(vec![e]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "t1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Timeout);
    assert!(err.is_retryable());
    // The first attempt and one retry reached the registry.
    assert_eq!(reg.stats().checks, 2);
}

#[tokio::test]
async fn retryable_failures_are_retried_until_success() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 2,
        fail_status: 503,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 2;
    let c = client(vec![e]);
    let reply = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "r1"))
        .await
        .unwrap();
    assert_eq!(status(reply), RegistryStatus::Valid);
    let s = reg.stats();
    assert_eq!((s.checks, s.injected_failures), (3, 2));
    // Every attempt carried the question's correlation id as its idempotency key.
    assert_eq!(reg.idempotency_keys(), ["r1", "r1", "r1"]);
}

#[tokio::test]
async fn retries_are_bounded() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 10,
        fail_status: 502,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 1;
    let c = client(vec![e]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "r2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
    assert_eq!(reg.stats().checks, 2);
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 10,
        fail_status: 422,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 3;
    let c = client(vec![e]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "p1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert_eq!(reg.stats().checks, 1);
}

#[tokio::test]
async fn rate_limits_are_retryable_but_do_not_trip_the_breaker() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 5,
        fail_status: 429,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 0;
    e.breaker.failure_threshold = 1;
    let c = client(vec![e]);
    for i in 0..3 {
        let err = c
            .query(&query("mx-renapo", "MX", VALID_CURP, &format!("rl{i}")))
            .await
            .unwrap_err();
        assert_eq!(err.kind, PortErrorKind::RateLimited);
    }
    assert_eq!(
        c.breaker_state(&kyc_flow_core::RegistryId("mx-renapo".into())),
        Some(BreakerState::Closed)
    );
}

#[tokio::test]
async fn breaker_opens_fails_fast_then_recovers_through_a_probe() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 100,
        fail_status: 503,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 0;
    e.breaker.failure_threshold = 3;
    e.breaker.open_for = Duration::from_millis(300);
    let id = e.id.clone();
    let c = client(vec![e]);
    let q = |i: u32| query("mx-renapo", "MX", VALID_CURP, &format!("b{i}"));
    for i in 0..3 {
        assert_eq!(
            c.query(&q(i)).await.unwrap_err().kind,
            PortErrorKind::Unavailable
        );
    }
    assert_eq!(c.breaker_state(&id), Some(BreakerState::Open));
    // Open: refused without touching the registry, with a hint of when to come back.
    let err = c.query(&q(3)).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
    assert!(err.message.contains("circuit open"), "{err}");
    assert!(err.retry_after.is_some());
    assert_eq!(reg.stats().checks, 3);
    // The registry recovers; after open_for one probe goes through and closes the breaker.
    reg.set_behaviour(Behaviour::default());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(status(c.query(&q(4)).await.unwrap()), RegistryStatus::Valid);
    assert_eq!(c.breaker_state(&id), Some(BreakerState::Closed));
    assert_eq!(reg.stats().checks, 4);
}

#[tokio::test]
async fn breakers_are_per_registry() {
    let reg = local_registry().await;
    let mut down = fast_endpoint(&reg, "mx-renapo");
    down.retries = 0;
    down.breaker.failure_threshold = 1;
    let up = fast_endpoint(&reg, "pe-reniec");
    let c = client(vec![down, up]);
    // The fixture identity whose registry is down opens mx-renapo's breaker…
    let err = c
        .query(&query(
            "mx-renapo",
            "MX",
            &[("curp", "SAGA880229HOCNRL00")],
            "d1",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
    assert_eq!(
        c.breaker_state(&kyc_flow_core::RegistryId("mx-renapo".into())),
        Some(BreakerState::Open)
    );
    // …and RENIEC is unaffected.
    let r = c
        .query(&query(
            "pe-reniec",
            "PE",
            &[("document_number", "45678912")],
            "d2",
        ))
        .await
        .unwrap();
    assert_eq!(status(r), RegistryStatus::Valid);
}

#[tokio::test]
async fn a_client_with_an_unknown_key_is_refused_permanently() {
    let reg = local_registry().await;
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.key_id = "rotated-out".into();
    e.retries = 3;
    let c = client(vec![e]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "k1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unauthorized);
    assert!(!err.is_retryable());
    assert_eq!(reg.stats().refused, 1);
}

#[tokio::test]
async fn a_client_with_the_right_id_but_wrong_secret_is_refused() {
    let reg = local_registry().await;
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.secret = Secret::new("guessed");
    let c = client(vec![e]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "k2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unauthorized);
    assert_eq!(reg.stats().refused, 1);
}

#[tokio::test]
async fn answers_signed_with_an_unknown_key_are_rejected_as_integrity_failures() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        wrong_signing_key: true,
        ..Behaviour::default()
    });
    let c = client(vec![fast_endpoint(&reg, "mx-renapo")]);
    let err = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "s1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Integrity);
    // Not retried: re-asking cannot make a forged answer genuine.
    assert_eq!(reg.stats().checks, 1);
}

#[tokio::test]
async fn key_rotation_without_downtime() {
    // The registry accepts the old and the new key during the rotation.
    let mut config =
        kyc_flow_registry::local::LocalRegistryConfig::new(KEY_ID, Secret::new(SECRET));
    let mut extra = KeyRing::new();
    extra
        .insert("next-key", Secret::new("next-secret"))
        .unwrap();
    config.extra_keys = extra;
    let reg = kyc_flow_registry::local::start(config).await.unwrap();
    let old = client(vec![fast_endpoint(&reg, "mx-renapo")]);
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.key_id = "next-key".into();
    e.secret = Secret::new("next-secret");
    // Answers are still signed with the registry's current key: the client accepts it as an
    // extra answer key while the registry has not switched yet.
    e.extra_answer_keys = vec![(KEY_ID.into(), Secret::new(SECRET))];
    let new = client(vec![e]);
    for (c, corr) in [(&old, "rot-old"), (&new, "rot-new")] {
        let r = c
            .query(&query("mx-renapo", "MX", VALID_CURP, corr))
            .await
            .unwrap();
        assert_eq!(status(r), RegistryStatus::Valid);
    }
    assert_eq!(reg.stats().refused, 0);
}

#[tokio::test]
async fn dropped_calls_release_the_half_open_probe() {
    let reg = local_registry().await;
    reg.set_behaviour(Behaviour {
        fail_next: 1,
        ..Behaviour::default()
    });
    let mut e = fast_endpoint(&reg, "mx-renapo");
    e.retries = 0;
    e.breaker.failure_threshold = 1;
    e.breaker.open_for = Duration::from_millis(50);
    let id = e.id.clone();
    let c = client(vec![e]);
    let _ = c.query(&query("mx-renapo", "MX", VALID_CURP, "h0")).await;
    assert_eq!(c.breaker_state(&id), Some(BreakerState::Open));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The probe is abandoned by its caller mid-flight…
    reg.set_behaviour(Behaviour {
        delay: Duration::from_secs(5),
        ..Behaviour::default()
    });
    let q1 = query("mx-renapo", "MX", VALID_CURP, "h1");
    let probe = c.query(&q1);
    let _ = tokio::time::timeout(Duration::from_millis(100), probe).await;
    // …so the next caller may probe instead of being refused forever.
    reg.set_behaviour(Behaviour::default());
    let r = c
        .query(&query("mx-renapo", "MX", VALID_CURP, "h2"))
        .await
        .unwrap();
    assert_eq!(status(r), RegistryStatus::Valid);
}
