//! A user's WhatsApp identity changes mid-onboarding (`kyc_flow::identity`): the conversation
//! moves to the new id and goes on; late events of the old id follow it; an interrupted move is
//! finished by the redelivered event; a live conversation at the new id is never overwritten;
//! erasure takes the forwarding record too.

use kyc_flow::engine::EngineError;
use kyc_flow_core::ports::EvidenceStore;
use kyc_flow_core::risk::RiskCode;
use kyc_flow_core::session::Decision;
use kyc_flow_core::{Event, EvidenceKey, SessionKey, Side, UserRef};
use kyc_flow_tests::Harness;
use std::time::Duration;

fn moved_to(key: &SessionKey, phone: &str) -> SessionKey {
    SessionKey {
        user: UserRef::Phone(phone.to_owned()),
        ..key.clone()
    }
}

fn changed(key: &SessionKey) -> Event {
    Event::IdentityChanged {
        new_user: Some(key.user.clone()),
    }
}

async fn evidence(h: &Harness, name: &EvidenceKey) -> Option<Vec<u8>> {
    EvidenceStore::get(h.sim.evidence.as_ref(), name)
        .await
        .unwrap()
}

/// Hello, consent, both sides of the card: the conversation waits for the selfie.
async fn up_to_the_selfie(h: &mut Harness) {
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let front = h.document_photo(Side::Front);
    h.send(front).await;
    let back = h.document_photo(Side::Back);
    h.send(back).await;
}

#[tokio::test]
async fn a_number_change_mid_onboarding_moves_the_conversation_and_it_goes_on() {
    let mut h = Harness::new("mx-ine");
    up_to_the_selfie(&mut h).await;
    let old = h.key.clone();
    let new = moved_to(&old, "5215599990000");
    let before = h.engine.session(&old).await.unwrap().expect("a session");
    let front = before
        .accepted_front_capture(&h.flow)
        .expect("front accepted");
    let (old_id, new_id) = (h.engine.session_id(&old), h.engine.session_id(&new));
    let sent_before = h.sim.transport.sent().len();

    h.send(changed(&new)).await;

    assert!(
        h.engine.session(&old).await.unwrap().is_none(),
        "old key emptied"
    );
    let after = h.engine.session(&new).await.unwrap().expect("moved");
    assert_eq!(after.id, before.id, "the same conversation");
    assert_eq!(after.key, new);
    assert_eq!(after.state, before.state, "it goes on where it was");
    assert_eq!(after.decision, None, "no decision for a move");
    assert_eq!(
        after
            .evidence
            .risk
            .iter()
            .filter(|r| r.code == RiskCode::IdentityChanged)
            .count(),
        1,
        "the change is evidence: {:?}",
        after.evidence.risk
    );
    assert!(
        evidence(&h, &EvidenceKey::portrait_of(&new_id, front))
            .await
            .is_some(),
        "the card portrait moved with it"
    );
    assert_eq!(
        evidence(&h, &EvidenceKey::portrait_of(&old_id, front)).await,
        None,
        "and is not left under the old id"
    );
    assert_eq!(
        h.sim.transport.sent().len(),
        sent_before,
        "a move sends nothing by itself"
    );

    // The same notice again (a webhook redelivery) changes nothing.
    h.send(changed(&new)).await;
    let again = h.engine.session(&new).await.unwrap().unwrap();
    assert_eq!(again.evidence.risk, after.evidence.risk);
    assert!(h.engine.session(&old).await.unwrap().is_none());

    // The user sends the selfie from the new number: matched against the moved portrait,
    // decided, and every later message goes to the new number.
    h.key = new.clone();
    let selfie = h.selfie(true);
    h.send(selfie).await;
    let decisions = h.decisions();
    assert!(
        matches!(decisions.as_slice(), [Decision::Approved { .. }]),
        "{decisions:?}"
    );
    assert_eq!(h.sim.decisions.delivered()[0].key, new);
    let later = h.sim.transport.sent();
    assert!(later.len() > sent_before);
    for m in &later[sent_before..] {
        assert_eq!(m.message.to, new.user, "sent to the new number");
    }
}

#[tokio::test]
async fn a_timer_of_the_old_id_follows_the_conversation_to_the_new_one() {
    let mut h = Harness::new("mx-ine");
    up_to_the_selfie(&mut h).await;
    let new = moved_to(&h.key, "5215599990001");
    h.send(changed(&new)).await;
    let sent_before = h.sim.transport.sent().len();
    // The inactivity timer was set under the old key; it fires there and is forwarded.
    h.advance(Duration::from_secs(3 * 3600)).await;
    let later = h.sim.transport.sent();
    assert!(
        later.len() > sent_before,
        "a reminder (or the expiry notice) reached the user"
    );
    for m in &later[sent_before..] {
        assert_eq!(m.message.to, new.user);
    }
}

#[tokio::test]
async fn a_move_cut_short_before_the_old_session_was_deleted_is_finished_on_redelivery() {
    let mut h = Harness::new("mx-ine");
    up_to_the_selfie(&mut h).await;
    let old = h.key.clone();
    let new = moved_to(&old, "5215599990002");
    // As if a worker died right after storing the moved copy.
    let mut copy = h.engine.session(&old).await.unwrap().unwrap();
    copy.key = new.clone();
    kyc_flow_core::ports::SessionStore::save(
        h.sim.sessions.as_ref(),
        &new,
        &copy,
        None,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();

    h.send(changed(&new)).await;
    assert!(h.engine.session(&old).await.unwrap().is_none());
    let moved = h.engine.session(&new).await.unwrap().unwrap();
    assert_eq!(moved.id, copy.id);
    assert!(
        moved
            .evidence
            .risk
            .iter()
            .any(|r| r.code == RiskCode::IdentityChanged)
    );
}

#[tokio::test]
async fn a_live_conversation_at_the_new_id_is_never_overwritten() {
    let mut h = Harness::new("mx-ine");
    up_to_the_selfie(&mut h).await;
    let old = h.key.clone();
    let new = moved_to(&old, "5215599990003");
    // The new number already started a conversation of its own.
    h.key = new.clone();
    let hello = h.text("hola");
    h.send(hello).await;
    let theirs = h.engine.session(&new).await.unwrap().unwrap();

    h.key = old.clone();
    h.send(changed(&new)).await;
    assert_eq!(
        h.engine.session(&new).await.unwrap().unwrap().id,
        theirs.id,
        "left alone"
    );
    // Nothing moved: a person looks at the conversation left at the old id (as before moves).
    let left = h.engine.session(&old).await.unwrap().unwrap();
    assert!(
        matches!(left.decision, Some(Decision::ManualReview { .. })),
        "{:?}",
        left.decision
    );
}

#[tokio::test]
async fn a_conversation_with_an_analysis_in_flight_moves_once_it_is_done() {
    let mut h = Harness::new("mx-ine");
    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    let old = h.key.clone();
    let new = moved_to(&old, "5215599990004");
    // The photo's event is applied; its analysis waits in the queue.
    let front = h.document_photo(Side::Front);
    h.engine.handle_event(&old, &front).await.unwrap();
    let err = h
        .engine
        .handle_event(&old, &changed(&new))
        .await
        .expect_err("waits for the analysis");
    assert!(matches!(err, EngineError::Settling), "{err:?}");
    assert!(err.is_retryable());
    assert!(h.engine.session(&old).await.unwrap().is_some());

    h.engine.run_until_idle("test").await.unwrap();
    h.engine.handle_event(&old, &changed(&new)).await.unwrap();
    assert!(h.engine.session(&old).await.unwrap().is_none());
    assert!(h.engine.session(&new).await.unwrap().is_some());
}

#[tokio::test]
async fn erasing_the_old_id_takes_the_forwarding_record() {
    let mut h = Harness::new("mx-ine");
    up_to_the_selfie(&mut h).await;
    let old = h.key.clone();
    let new = moved_to(&old, "5215599990005");
    h.send(changed(&new)).await;
    let record = EvidenceKey(format!("moved/{}", h.engine.session_id(&old)));
    assert!(evidence(&h, &record).await.is_some(), "forwarding record");
    h.engine.erase(&old, "erasure.request").await.unwrap();
    assert_eq!(evidence(&h, &record).await, None);
    let erased = h.engine.erase(&new, "erasure.request").await.unwrap();
    assert!(
        erased.session,
        "the moved conversation is erased by its new id"
    );
}
