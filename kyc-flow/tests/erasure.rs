//! Erasure on request and retention of decided sessions (`kyc_flow::erasure`), on the
//! in-memory ports with a hand-driven clock.

use kyc_flow::engine::{AuditLog, Engine, EngineBuilder, Routing};
use kyc_flow::erasure::RetentionConfig;
use kyc_flow::{EngineConfig, ManualClock};
use kyc_flow_core::command::Command;
use kyc_flow_core::event::{Event, Inbound, InboundContent};
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::ports::TimerEntry;
use kyc_flow_core::session::State;
use kyc_flow_core::{
    Decision, DecisionReason, EvidenceKey, SessionIdSecret, SessionKey, Timestamp, UserRef, machine,
};
use kyc_flow_testkit::sim::SimPorts;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const START: Timestamp = Timestamp(1_772_463_600_000);
const PHONE: &str = "5215512345678";

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);
impl AuditLog for Lines {
    fn record(&self, _key: &SessionKey, _at: Timestamp, kind: &str, detail: &str) {
        self.0.lock().unwrap().push(format!("{kind}: {detail}"));
    }
}
impl Lines {
    fn of(&self, prefix: &str) -> Vec<String> {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }
}

struct Fixture {
    engine: Engine,
    clock: Arc<ManualClock>,
    audit: Arc<Lines>,
    key: SessionKey,
}

fn fixture(retention_secs: u64) -> Fixture {
    let flows = FlowSet::presets();
    let sim = SimPorts::new(flows.latest("mx-ine").unwrap().registries());
    let clock = Arc::new(ManualClock::new(START));
    let audit = Arc::new(Lines::default());
    let engine = EngineBuilder::new(sim.ports(), flows, Routing::single("mx-ine"))
        .clock(clock.clone())
        .config(EngineConfig {
            session_id_secret: Some(SessionIdSecret::from_hex(&"5e".repeat(32)).unwrap()),
            retention: RetentionConfig {
                decided_secs: retention_secs,
            },
            ..EngineConfig::default()
        })
        .audit(audit.clone())
        .build()
        .unwrap();
    let key = SessionKey::new("default", "100200300", UserRef::Phone(PHONE.into()));
    Fixture {
        engine,
        clock,
        audit,
        key,
    }
}

/// A session decided `decision` now, with the decision still in its outbox and a card portrait
/// in the evidence store, as the machine and the analyses leave it; the engine then drains it.
async fn decide(f: &Fixture, decision: Decision) {
    let flow = f.engine.flows().latest("mx-ine").unwrap();
    let now = f.engine.now();
    let mut s = machine::start(flow, f.key.clone(), "sess-1".into(), None, START);
    s.state = State::Decided;
    s.seq = 9;
    s.captures = 2;
    s.decision = Some(decision.clone());
    s.decided_at = Some(now);
    s.updated_at = now;
    s.outbox.stage(9, [Command::DeliverDecision { decision }]);
    let ports = f.engine.ports();
    ports
        .sessions
        .save(&f.key, &s, None, Duration::from_secs(90 * 24 * 3600))
        .await
        .unwrap();
    let sid = f.engine.session_id(&f.key);
    ports
        .evidence
        .put(
            &EvidenceKey::portrait_of(&sid, 2),
            b"portrait",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    f.engine.finish_pending(&f.key).await.unwrap();
    f.engine.run_until_idle("test").await.unwrap();
}

async fn stored(f: &Fixture) -> bool {
    f.engine.session(&f.key).await.unwrap().is_some()
}

#[tokio::test]
async fn decided_sessions_are_erased_once_their_retention_has_run_out() {
    let f = fixture(3600);
    decide(
        &f,
        Decision::Approved {
            reasons: vec![DecisionReason::AllChecksPassed],
        },
    )
    .await;
    assert!(stored(&f).await);
    f.clock.advance(Duration::from_secs(3599));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(stored(&f).await, "kept until the retention has run out");
    f.clock.advance(Duration::from_secs(2));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(!stored(&f).await, "erased after the retention");
    let tombstone = f.audit.of("erasure.done");
    assert_eq!(
        tombstone,
        [
            "erasure.done: retention.expired: session deleted, 2 evidence, 0 timers, review case none, 0 media"
        ]
    );
    assert!(!format!("{:?}", f.audit.0.lock().unwrap()).contains(PHONE));
    let sid = f.engine.session_id(&f.key);
    assert_eq!(
        f.engine
            .ports()
            .evidence
            .get(&EvidenceKey::portrait_of(&sid, 2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.engine.session_key_of(&sid).await.unwrap(),
        None,
        "index entry gone"
    );
}

#[tokio::test]
async fn a_session_in_review_is_kept_until_a_person_decides_then_retained() {
    let f = fixture(3600);
    decide(
        &f,
        Decision::ManualReview {
            reasons: vec![DecisionReason::LivenessNotCertified],
        },
    )
    .await;
    f.clock.advance(Duration::from_secs(10 * 3600));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(stored(&f).await, "no retention while awaiting review");
    let sid = f.engine.session_id(&f.key);
    assert_eq!(f.engine.ports().reviews.count().await.unwrap(), 1);
    f.engine
        .review_decide(
            &sid,
            kyc_flow::review::Verdict::Approve,
            "ana",
            "documents_verified",
            None,
        )
        .await
        .unwrap();
    f.engine.run_until_idle("test").await.unwrap();
    assert_eq!(f.engine.ports().reviews.count().await.unwrap(), 0);
    f.clock.advance(Duration::from_secs(3601));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(
        !stored(&f).await,
        "erased one retention after the reviewer's decision"
    );
}

/// The retention timer of a session that started over (declined, then wrote again) leaves the
/// new onboarding alone.
#[tokio::test]
async fn retention_spares_a_session_that_started_over() {
    let f = fixture(3600);
    decide(&f, Decision::Declined).await;
    f.engine
        .submit(
            f.key.clone(),
            Event::Inbound(Inbound {
                message_id: "wamid.again".into(),
                at: f.engine.now(),
                content: InboundContent::Text {
                    body: "hola".into(),
                },
                forwarded: false,
                phone: None,
            }),
        )
        .await
        .unwrap();
    f.engine.run_until_idle("test").await.unwrap();
    let s = f.engine.session(&f.key).await.unwrap().unwrap();
    assert!(!s.is_terminal(), "started over");
    f.clock.advance(Duration::from_secs(3601));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(stored(&f).await, "an onboarding in progress is not expired");
}

#[tokio::test]
async fn erasure_removes_session_evidence_timers_and_review_case_and_leaves_a_tombstone() {
    let f = fixture(0);
    decide(
        &f,
        Decision::ManualReview {
            reasons: vec![DecisionReason::RegistryUnavailable],
        },
    )
    .await;
    let ports = f.engine.ports();
    ports
        .timers
        .schedule(TimerEntry {
            session: f.key.clone(),
            name: kyc_flow_core::machine::INACTIVITY_TIMER.into(),
            fire_at: START.plus(Duration::from_secs(86_400)),
            token: 3,
        })
        .await
        .unwrap();
    let sid = f.engine.session_id(&f.key);
    assert_eq!(
        f.engine.session_key_of(&sid).await.unwrap(),
        Some(f.key.clone())
    );
    let erased = f
        .engine
        .erase_user(
            &UserRef::Phone(PHONE.into()),
            &[kyc_flow_core::PhoneNumberId("100200300".into())],
            "user_request",
        )
        .await
        .unwrap();
    assert_eq!(erased.len(), 1);
    let e = &erased[0];
    assert!(e.session && e.review_case, "{e:?}");
    assert_eq!(
        (e.evidence, e.timers),
        (2, 1),
        "portrait and index entry; the inactivity timer"
    );
    assert!(!stored(&f).await);
    assert_eq!(ports.reviews.count().await.unwrap(), 0);
    f.clock.advance(Duration::from_secs(2 * 86_400));
    f.engine.run_until_idle("test").await.unwrap();
    assert!(!stored(&f).await, "no timer brings it back");
    let tombstone = f.audit.of("erasure.done");
    assert_eq!(
        tombstone,
        [
            "erasure.done: user_request: session deleted, 2 evidence, 1 timers, review case closed, 0 media"
        ]
    );
    assert!(!format!("{:?}", f.audit.0.lock().unwrap()).contains(PHONE));
    let again = f
        .engine
        .erase_user(
            &UserRef::Phone(PHONE.into()),
            &[kyc_flow_core::PhoneNumberId("100200300".into())],
            "user_request",
        )
        .await
        .unwrap();
    assert!(!again[0].found(), "nothing left: {again:?}");
}
