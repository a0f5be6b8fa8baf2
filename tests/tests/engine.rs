//! The engine end to end on in-memory ports: ordering, idempotency, races between processes,
//! crashed workers, transport faults, registry outages.

use async_trait::async_trait;
use kyc_flow::engine::EngineConfig;
use kyc_flow::{EngineBuilder, Routing};
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::ports::{
    JobQueue, MessageTransport, OutboundMessage, PortError, PortErrorKind, PortResult, SentMessage,
};
use kyc_flow_core::session::{Decision, DecisionReason};
use kyc_flow_core::{PhoneNumberId, RegistryId};
use kyc_flow_tests::Harness;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[tokio::test]
async fn every_preset_approves_a_clean_onboarding_with_certified_liveness() {
    for preset in ["mx-ine", "co-cedula", "pe-dni"] {
        let mut h = Harness::new(preset);
        h.onboard(&[], &[], true).await;
        let decisions = h.decisions();
        assert_eq!(
            decisions.len(),
            1,
            "{preset}: one decision delivered, got {decisions:?}"
        );
        assert!(
            matches!(decisions[0], Decision::Approved { .. }),
            "{preset}: {:?}",
            decisions[0]
        );
        // Media and the card portraits (one per document capture) do not outlive the
        // decision.
        let id = h.engine.session_id(&h.key);
        let session = h.engine.session(&h.key).await.unwrap().unwrap();
        assert!(session.captures >= 2, "{preset}: captures counted");
        let names = (1..=session.captures)
            .map(|c| kyc_flow_core::EvidenceKey::portrait_of(&id, c))
            .chain([kyc_flow_core::EvidenceKey::portrait(&id)]);
        for portrait in names {
            assert_eq!(
                kyc_flow_core::ports::EvidenceStore::get(h.sim.evidence.as_ref(), &portrait)
                    .await
                    .unwrap(),
                None,
                "{preset}: portrait {} deleted",
                portrait.0
            );
        }
        assert!(
            !h.sim.media.contains("media-1"),
            "{preset}: media deleted after analysis"
        );
    }
}

/// The card portrait is deleted as soon as the accepted selfie's face match has used it, not
/// only with the decision (registry checks can keep a session open for hours); before that, a
/// selfie retake still finds it.
#[tokio::test]
async fn the_card_portrait_is_deleted_once_the_selfie_is_accepted() {
    use kyc_flow_testkit::sim::ScriptedRegistryAnswer;
    let mut h = Harness::new("mx-ine");
    // Registries down: the session waits on them (retried on a timer the clock never reaches).
    for r in h.flow.registries() {
        h.sim.registry.push(
            r,
            ScriptedRegistryAnswer::Fail(kyc_flow_core::ports::PortErrorKind::Unavailable),
        );
    }
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let front = h.document_photo(kyc_flow_core::Side::Front);
    h.send(front).await;
    let back = h.document_photo(kyc_flow_core::Side::Back);
    h.send(back).await;
    let id = h.engine.session_id(&h.key);
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    let front = session
        .accepted_front_capture(&h.flow)
        .expect("front accepted");
    let portrait = kyc_flow_core::EvidenceKey::portrait_of(&id, front);
    let stored = |h: &Harness| {
        let (evidence, portrait) = (h.sim.evidence.clone(), portrait.clone());
        async move {
            kyc_flow_core::ports::EvidenceStore::get(evidence.as_ref(), &portrait)
                .await
                .unwrap()
        }
    };
    assert!(stored(&h).await.is_some(), "kept for the face match");

    let selfie = h.selfie(true);
    h.send(selfie).await;
    assert!(h.decisions().is_empty(), "still waiting on the registries");
    assert_eq!(
        stored(&h).await,
        None,
        "deleted once the face match used it"
    );
}

/// The id that names a conversation outside the store (logs, the registry's correlation id,
/// the bank's idempotency key, the portrait's evidence key) is keyed: it holds neither the
/// phone number nor its unkeyed hash, another secret gives another id, and the same secret
/// the same id (an engine built again after a restart finds the conversation's portrait).
#[tokio::test]
async fn session_ids_are_keyed_hashes_stable_for_one_secret() {
    use kyc_flow_core::SessionIdSecret;
    let secret = |b: u8| SessionIdSecret::new(&[b; 32]).unwrap();
    let mut h = Harness::new("mx-ine");
    let build = |h: &Harness, s: SessionIdSecret| {
        let mut flows = FlowSet::new();
        flows.insert(h.flow.clone());
        EngineBuilder::new(h.sim.ports(), flows, Harness::routing(&h.flow))
            .clock(h.clock.clone())
            .config(EngineConfig {
                session_id_secret: Some(s),
                ..EngineConfig::default()
            })
            .build()
            .unwrap()
    };
    h.engine = build(&h, secret(1));
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let front = h.document_photo_with(kyc_flow_core::Side::Front, &[]);
    h.send(front).await;

    let id = h.engine.session_id(&h.key);
    assert_eq!(id, build(&h, secret(1)).session_id(&h.key), "same secret");
    assert_ne!(id, build(&h, secret(2)).session_id(&h.key), "other secret");
    let phone = h.key.user.raw().to_owned();
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    for shown in [&id, &session.id] {
        assert!(!shown.contains(&phone), "{shown}");
        assert!(!shown.contains(&h.key.storage_id()), "{shown}");
    }
    // Correlation and idempotency keys are built on the session's id, which starts with it.
    assert!(session.id.starts_with(&id), "{} / {id}", session.id);
    // The front's portrait is stored under the keyed id; an engine rebuilt with the same
    // secret (a restart) finishes the onboarding with it.
    let front = session
        .accepted_front_capture(&h.flow)
        .expect("the front is accepted");
    let portrait = kyc_flow_core::EvidenceKey::portrait_of(&id, front);
    let stored = kyc_flow_core::ports::EvidenceStore::get(h.sim.evidence.as_ref(), &portrait);
    assert!(
        stored.await.unwrap().is_some(),
        "portrait under the keyed id"
    );
    h.engine = build(&h, secret(1));
    let back = h.document_photo_with(kyc_flow_core::Side::Back, &[]);
    h.send(back).await;
    let selfie = h.selfie(true);
    h.send(selfie).await;
    let decisions = h.decisions();
    assert!(
        matches!(decisions.as_slice(), [Decision::Approved { .. }]),
        "{decisions:?}"
    );
}

#[tokio::test]
async fn uncertified_liveness_never_approves_on_its_own() {
    let mut h = Harness::new("mx-ine");
    h.onboard(&[], &[], false).await;
    let decisions = h.decisions();
    assert_eq!(decisions.len(), 1);
    match &decisions[0] {
        Decision::ManualReview { reasons } => {
            assert!(
                reasons.contains(&DecisionReason::LivenessNotCertified),
                "{reasons:?}"
            )
        }
        other => panic!("expected manual review, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let mut h = Harness::new("co-cedula");
    let hello = h.text("hola");
    h.send(hello.clone()).await;
    let after_first = h.sim.transport.sent().len();
    assert!(after_first > 0, "the greeting was sent");
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    h.send(hello).await;
    assert_eq!(
        h.sim.transport.sent().len(),
        after_first,
        "no second greeting"
    );
    let again = h.engine.session(&h.key).await.unwrap().unwrap();
    assert_eq!(session, again, "the session did not move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_on_one_session_lose_no_event() {
    let mut h = Harness::new("pe-dni");
    let hello = h.text("hola");
    h.send(hello).await;
    let before = h.engine.session(&h.key).await.unwrap().unwrap().seq;
    // Two engines with separate locks, as two worker processes behind one store would be.
    let other = Harness::engine_on(&h.sim, &h.flow, h.clock.clone());
    let n = 20;
    let events: Vec<_> = (0..n).map(|i| h.text(&format!("¿qué hago? {i}"))).collect();
    let mut tasks = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let engine = if i % 2 == 0 {
            h.engine.clone()
        } else {
            other.clone()
        };
        let key = h.key.clone();
        tasks.push(tokio::spawn(async move {
            engine.handle_event(&key, &event).await
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("every event applied despite compare-and-set conflicts");
    }
    let after = h.engine.session(&h.key).await.unwrap().unwrap().seq;
    assert_eq!(after - before, n as u64, "each event applied exactly once");
}

#[tokio::test]
async fn a_crashed_workers_job_is_reclaimed_by_another() {
    let mut h = Harness::new("mx-ine");
    let hello = h.text("hola");
    h.engine.submit(h.key.clone(), hello).await.unwrap();
    // A worker takes the job and dies without acking it.
    let taken = h
        .sim
        .queue
        .reserve("dead-worker", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(h.sim.transport.sent().is_empty());
    let mut flows = FlowSet::new();
    flows.insert(h.flow.clone());
    let survivor = EngineBuilder::new(h.sim.ports(), flows, Routing::single("mx-ine"))
        .clock(h.clock.clone())
        .config(EngineConfig {
            reclaim_after: Duration::from_millis(30),
            ..EngineConfig::default()
        })
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    survivor.run_until_idle("survivor").await.unwrap();
    assert!(
        !h.sim.transport.sent().is_empty(),
        "the greeting went out after the reclaim"
    );
}

/// Fails the first `failures` sends with a retryable error.
struct FlakyTransport {
    inner: Arc<kyc_flow_testkit::sim::RecordingTransport>,
    failures: AtomicU32,
}

#[async_trait]
impl MessageTransport for FlakyTransport {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::unavailable("graph api 503"));
        }
        self.inner.send(message).await
    }
    async fn mark_read(&self, from: &PhoneNumberId, id: &str, typing: bool) -> PortResult<()> {
        self.inner.mark_read(from, id, typing).await
    }
}

#[tokio::test]
async fn a_transport_outage_is_retried_and_nothing_is_sent_twice() {
    let mut h = Harness::new("mx-ine");
    let mut ports = h.sim.ports();
    ports.transport = Arc::new(FlakyTransport {
        inner: h.sim.transport.clone(),
        failures: AtomicU32::new(1),
    });
    let mut flows = FlowSet::new();
    flows.insert(h.flow.clone());
    let engine = EngineBuilder::new(ports, flows, Routing::single("mx-ine"))
        .clock(h.clock.clone())
        .build()
        .unwrap();
    let hello = h.text("hola");
    engine.submit(h.key.clone(), hello).await.unwrap();
    engine.run_until_idle("w").await.unwrap();
    assert!(h.sim.transport.sent().is_empty(), "first send failed");
    // The job comes back after its backoff (1 s for a first retry).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    engine.run_until_idle("w").await.unwrap();
    let sent = h.sent_texts();
    assert!(!sent.is_empty(), "sent after the retry");
    let mut unique = sent.clone();
    unique.dedup();
    assert_eq!(unique, sent, "no message went out twice");
}

#[tokio::test]
async fn a_registry_outage_ends_in_manual_review_never_in_rejection() {
    let mut h = Harness::new("pe-dni");
    h.sim.registry.push(
        RegistryId("pe-reniec".into()),
        kyc_flow_testkit::sim::ScriptedRegistryAnswer::Fail(PortErrorKind::Unavailable),
    );
    h.onboard(&[], &[], true).await;
    assert!(
        h.decisions().is_empty(),
        "no decision while the registry is being retried"
    );
    h.advance(Duration::from_secs(3600)).await;
    let decisions = h.decisions();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    match &decisions[0] {
        Decision::ManualReview { reasons } => {
            assert!(
                reasons.contains(&DecisionReason::RegistryUnavailable),
                "{reasons:?}"
            )
        }
        other => panic!("expected manual review, got {other:?}"),
    }
}

#[tokio::test]
async fn a_late_result_for_a_deleted_session_is_dropped_quietly() {
    let h = Harness::new("mx-ine");
    let event = kyc_flow_core::event::Event::TimerFired {
        name: "reminder".into(),
        token: 1,
    };
    h.send(event).await;
    assert!(h.sim.transport.sent().is_empty());
    assert!(h.engine.session(&h.key).await.unwrap().is_none());
}

/// Issue 11: photos sent together (an album, or quick messages) in any order go through the
/// runtime to a decision: every photo filed under its step, no retake prompt, no
/// `too_many_retakes`, and one acknowledgement at most for the burst.
#[tokio::test]
async fn an_album_in_any_order_ends_in_approval_without_retakes() {
    for preset in ["mx-ine", "co-cedula", "pe-dni"] {
        for order in [
            "front back selfie",
            "back front selfie",
            "selfie back front",
        ] {
            let mut h = Harness::new(preset);
            let hello = h.text("hola");
            h.send(hello).await;
            let consent = h.reply("consent.accept");
            h.send(consent).await;
            let before = h.sent_texts().len();
            let photos: Vec<_> = order
                .split(' ')
                .map(|p| match p {
                    "front" => h.document_photo(kyc_flow_core::Side::Front),
                    "back" => h.document_photo(kyc_flow_core::Side::Back),
                    _ => h.selfie(true),
                })
                .collect();
            // The album arrives before any photo is analysed.
            for p in photos {
                h.engine.submit(h.key.clone(), p).await.unwrap();
            }
            h.engine.run_until_idle("test").await.unwrap();
            h.advance(Duration::from_secs(60)).await;
            let decisions = h.decisions();
            assert_eq!(decisions.len(), 1, "{preset} {order}: {decisions:?}");
            assert!(
                matches!(decisions[0], Decision::Approved { .. }),
                "{preset} {order}: {:?}",
                decisions[0]
            );
            let catalog = kyc_flow_core::Catalog::builtin();
            let locale = h.flow.default_locale;
            let text = |key: &str| catalog.text(key, locale).unwrap().to_owned();
            let said = &h.sent_texts()[before..];
            let retakes: Vec<_> = kyc_flow_core::RetakeReason::ALL
                .iter()
                .map(|r| text(kyc_flow_core::catalog::retake_key(*r)))
                .collect();
            assert!(
                !said.iter().any(|s| retakes.contains(s)),
                "{preset} {order}: a retake prompt in {said:?}"
            );
            let acks = said
                .iter()
                .filter(|s| **s == text("processing") || s.starts_with("Recib"))
                .count();
            assert!(
                acks <= 1,
                "{preset} {order}: {acks} acknowledgements in {said:?}"
            );
            // Nothing asked for a photo already sent: the only prompt after the burst is the
            // registry's.
            for key in ["capture.front", "capture.back", "capture.selfie"] {
                assert!(
                    !said.contains(&text(key)),
                    "{preset} {order}: asked {key} in {said:?}"
                );
            }
        }
    }
}
