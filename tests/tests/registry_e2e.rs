//! The engine against the local registry service over the signed protocol: fixture identities
//! decide, outages go to review, and asynchronous answers arrive by signed callback.

use kyc_flow_core::session::{Decision, DecisionReason};
use kyc_flow_registry::local::{LocalRegistryConfig, LocalRegistryHandle};
use kyc_flow_registry::{CallbackKeys, HttpRegistryClient, KeyRing, Secret};
use kyc_flow_tests::Harness;
use std::sync::Arc;
use std::time::Duration;

async fn local_registry() -> LocalRegistryHandle {
    kyc_flow_registry::local::start(LocalRegistryConfig::new("e2e", Secret::new("e2e-secret")))
        .await
        .expect("local registry starts")
}

/// Consent, both sides with `front`/`back` fields, a certified selfie; then wait for answers.
async fn onboard(h: &mut Harness, front: &[(&str, &str)], back: &[(&str, &str)]) -> Vec<Decision> {
    h.onboard(front, back, true).await;
    for _ in 0..50 {
        if !h.decisions().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.engine.run_until_idle("e2e").await.unwrap();
    }
    h.decisions()
}

fn with_client(h: &mut Harness, registry: &LocalRegistryHandle) {
    let client = Arc::new(HttpRegistryClient::new(registry.endpoints()).unwrap());
    h.rewire(|p| p.registry = client);
}

/// Also pins a bug: the Registraduría's lookup key is `nuip`, while the core names the
/// cédula's number `document_number`; the client must translate, or every Colombian user is
/// "not found".
#[tokio::test]
async fn fixture_identities_decide_each_preset() {
    let registry = local_registry().await;
    type Fields = &'static [(&'static str, &'static str)];
    let cases: [(&str, Fields, Fields, bool); 5] = [
        (
            "mx-ine",
            &[("curp", "GOMA850101HDFRRL06"), ("birth_date", "1985-01-01")],
            &[("cic", "123456789"), ("citizen_id", "987654321")],
            true,
        ),
        (
            "mx-ine",
            &[("curp", "PEHL720315MJCRRS05")],
            &[("cic", "123456789"), ("citizen_id", "987654321")],
            false,
        ),
        (
            "co-cedula",
            &[("document_number", "1020304050")],
            &[("issue_date", "2010-03-15")],
            true,
        ),
        ("co-cedula", &[("document_number", "79111222")], &[], false),
        (
            "pe-dni",
            &[("document_number", "45678912")],
            &[("document_number", "45678912")],
            true,
        ),
    ];
    for (preset, front, back, approve) in cases {
        let mut h = Harness::new(preset);
        with_client(&mut h, &registry);
        let decisions = onboard(&mut h, front, back).await;
        assert_eq!(decisions.len(), 1, "{preset} {front:?}: {decisions:?}");
        if approve {
            assert!(
                matches!(decisions[0], Decision::Approved { .. }),
                "{preset} {front:?}: {:?}",
                decisions[0]
            );
        } else {
            assert!(
                matches!(decisions[0], Decision::Rejected { .. }),
                "{preset} {front:?}: {:?}",
                decisions[0]
            );
        }
    }
}

#[tokio::test]
async fn a_registry_answering_503_goes_to_manual_review() {
    let registry = local_registry().await;
    let mut h = Harness::new("mx-ine");
    with_client(&mut h, &registry);
    // The fixture identity whose registry is down.
    let decisions = {
        h.onboard(&[("curp", "SAGA880229HOCNRL00")], &[], true)
            .await;
        h.advance(Duration::from_secs(3600)).await;
        h.decisions()
    };
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    match &decisions[0] {
        Decision::ManualReview { reasons } => assert!(
            reasons.contains(&DecisionReason::RegistryUnavailable),
            "{reasons:?}"
        ),
        other => panic!("an outage must never reject: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_by_signed_callback_completes_the_session() {
    let registry = local_registry().await;
    // Our callback endpoint, served before the client exists so its URL can be configured.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let callback_url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        kyc_flow_registry::CALLBACK_PATH
    );
    let mut endpoints = registry.endpoints();
    for e in &mut endpoints {
        e.callback_url = Some(callback_url.clone());
    }
    let mut h = Harness::new("mx-ine");
    let client = Arc::new(HttpRegistryClient::new(endpoints).unwrap());
    h.rewire(|p| p.registry = client);
    let keys = CallbackKeys::new(KeyRing::single("e2e", Secret::new("e2e-secret")).unwrap());
    let app = kyc_flow_registry::callback_router(keys, Arc::new(h.engine.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // TOVE950820MMCRLS01 is answered by callback after 2 s.
    let decisions = onboard(
        &mut h,
        &[("curp", "TOVE950820MMCRLS01")],
        &[("cic", "123456789"), ("citizen_id", "987654321")],
    )
    .await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(
        matches!(decisions[0], Decision::Approved { .. }),
        "{:?}",
        decisions[0]
    );
}
