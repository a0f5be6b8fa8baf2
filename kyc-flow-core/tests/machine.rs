//! Behaviour of the transition function, one rule per test.

mod common;

use kyc_flow_core::machine::{BURST_TIMER, INACTIVITY_TIMER, MAX_CONTACT_REQUESTS, REGISTRY_TIMER};
use kyc_flow_core::ports::MediaRef;
use kyc_flow_core::risk::{RiskAction, RiskCode, RiskPolicy, RiskSignal};
use kyc_flow_core::{
    Catalog, Command, Decision, DecisionReason, DocumentOutcome, Event, FaceComparison, Flow,
    Inbound, InboundContent, LivenessVerdict, MediaKind, MessageDelivery, Phase, PhoneNumber,
    PhoneNumberId, RegistryCheck, RegistryResult, RegistryStatus, RetakeReason, SelfieOutcome,
    Session, Side, State, Step, Timestamp, Transition, UncertifiedLiveness, start, step,
};
use std::time::Duration;

const HOUR: i64 = 3_600_000;

struct T {
    flow: Flow,
    catalog: Catalog,
    s: Session,
    now: Timestamp,
    n: u32,
    /// The next inbound messages are marked forwarded.
    forwarded: bool,
}

impl T {
    fn new(flow: Flow) -> Self {
        let now = Timestamp(common::T0);
        let s = start(&flow, common::key(), "s-9".into(), None, now);
        Self {
            flow,
            catalog: Catalog::builtin(),
            s,
            now,
            n: 0,
            forwarded: false,
        }
    }
    fn mx() -> Self {
        Self::new(Flow::preset("mx-ine").unwrap())
    }
    fn ev(&mut self, e: Event) -> Vec<Command> {
        self.now = self.now.plus(Duration::from_secs(10));
        let Transition { session, commands } =
            step(&self.flow, &self.catalog, self.s.clone(), &e, self.now);
        self.s = session;
        commands
    }
    fn inbound(&mut self, content: InboundContent) -> Vec<Command> {
        self.n += 1;
        let at = self.now.plus(Duration::from_secs(10));
        self.ev(Event::Inbound(Inbound {
            message_id: format!("wamid.{}", self.n),
            at,
            content,
            forwarded: self.forwarded,
            phone: None,
        }))
    }
    fn text(&mut self, body: &str) -> Vec<Command> {
        self.inbound(InboundContent::Text { body: body.into() })
    }
    /// A photo, and (analyses taking longer than the burst window) the burst timer firing.
    fn photo(&mut self) -> Vec<Command> {
        let mut out = self.photo_quick();
        let burst = out.iter().find_map(|c| match c {
            Command::SetTimer { name, token, .. } if name == BURST_TIMER => Some(*token),
            _ => None,
        });
        if let Some(token) = burst {
            out.extend(self.ev(Event::TimerFired {
                name: BURST_TIMER.into(),
                token,
            }));
        }
        out
    }
    /// A photo within the burst window of the previous one (or answered before it closes).
    fn photo_quick(&mut self) -> Vec<Command> {
        let media = MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: format!("m{}", self.n + 1),
            mime_type: Some("image/jpeg".into()),
            sha256: None,
        };
        self.inbound(InboundContent::Media {
            kind: MediaKind::Image,
            media,
            caption: None,
        })
    }
    fn capture(&self) -> u32 {
        self.s
            .pending
            .iter()
            .find(|p| p.in_flight())
            .map_or(0, |p| p.capture)
    }
    fn doc(&mut self, side: Side) -> Vec<Command> {
        let c = self.capture();
        self.ev(Event::DocumentAnalysed {
            capture: c,
            side,
            outcome: DocumentOutcome::Accepted {
                data: common::ine_side(side),
            },
        })
    }
    fn selfie(&mut self, score: f32, certified: bool) -> Vec<Command> {
        let c = self.capture();
        self.ev(Event::SelfieAnalysed {
            capture: c,
            outcome: SelfieOutcome::Analysed {
                face: FaceComparison {
                    score,
                    threshold: 0.6,
                    matched: score >= 0.6,
                    engine: "f".into(),
                },
                liveness: LivenessVerdict {
                    live: true,
                    score: 0.95,
                    engine: "l".into(),
                    certified,
                    certification: None,
                    signals: Vec::new(),
                },
                signals: Vec::new(),
            },
        })
    }
    fn registry(&mut self, status: RegistryStatus) -> Vec<Command> {
        let request = self.s.registry.pending;
        let registry = match &self.flow.steps[4] {
            Step::Registry(r) => r.checks[usize::from(self.s.registry.check)]
                .registry
                .clone(),
            _ => unreachable!(),
        };
        self.ev(Event::RegistryAnswered {
            request,
            result: RegistryResult {
                registry,
                status,
                raw_label: None,
                matched_fields: vec![],
                source: "t".into(),
                requested_at: self.now,
                answered_at: self.now,
            },
        })
    }
    /// Consent given, both sides accepted: awaiting the selfie.
    fn reach_selfie(&mut self) {
        self.text("hola");
        self.text("sí");
        self.photo();
        self.doc(Side::Front);
        self.photo();
        self.doc(Side::Back);
        assert_eq!(
            self.s.state,
            State::Step {
                index: 3,
                phase: Phase::Awaiting
            }
        );
    }
    fn timer(&self, name: &str, commands: &[Command]) -> Option<(Timestamp, u64)> {
        commands.iter().rev().find_map(|c| match c {
            Command::SetTimer { name: n, at, token } if n == name => Some((*at, *token)),
            _ => None,
        })
    }
}

fn sent(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send(s) => Some(match &s.delivery {
                MessageDelivery::Session => s.key.clone(),
                MessageDelivery::Template { name } => format!("{}@{name}", s.key),
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn redelivered_message_changes_nothing() {
    let mut t = T::mx();
    t.text("hola");
    let before = t.s.clone();
    let again = Event::Inbound(Inbound {
        message_id: "wamid.1".into(),
        at: t.now,
        content: InboundContent::Text {
            body: "hola".into(),
        },
        forwarded: false,
        phone: None,
    });
    let tr = step(
        &t.flow,
        &t.catalog,
        before.clone(),
        &again,
        t.now.plus(Duration::from_secs(5)),
    );
    assert_eq!(tr.session, before);
    assert!(tr.commands.is_empty());
}

/// The capture number in flight for step `index`, 0 if none.
fn in_flight(s: &Session, index: u16) -> u32 {
    s.pending
        .iter()
        .find(|p| p.in_flight() && p.step == index)
        .map_or(0, |p| p.capture)
}

fn wrong_side() -> DocumentOutcome {
    DocumentOutcome::Retake {
        reason: RetakeReason::WrongSide,
        detail: String::new(),
    }
}

#[test]
fn result_for_a_replaced_photo_is_ignored() {
    let mut t = T::mx();
    t.text("hola");
    t.text("ok");
    t.photo();
    let first = in_flight(&t.s, 1);
    // A second photo while the first is in flight is analysed for the back...
    let c = t.photo_quick();
    assert!(sent(&c).is_empty(), "{:?}", sent(&c));
    let second = in_flight(&t.s, 2);
    assert!(first != 0 && second != 0 && first != second);
    // ...but shows the front: the newer photo of the front replaces the older one.
    let c = t.ev(Event::DocumentAnalysed {
        capture: second,
        side: Side::Back,
        outcome: wrong_side(),
    });
    assert!(sent(&c).is_empty(), "silent: {:?}", sent(&c));
    let refiled = in_flight(&t.s, 1);
    assert!(refiled != 0 && refiled != first && refiled != second);
    // The older photo's result is stale whatever it says.
    let c = t.ev(Event::DocumentAnalysed {
        capture: first,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted {
            data: common::ine_side(Side::Front),
        },
    });
    assert!(sent(&c).is_empty());
    assert!(t.s.evidence.documents.is_empty());
    assert!(matches!(
        t.s.state,
        State::Step {
            index: 1,
            phase: Phase::Processing
        }
    ));
    let c = t.ev(Event::DocumentAnalysed {
        capture: refiled,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted {
            data: common::ine_side(Side::Front),
        },
    });
    assert!(
        c.iter()
            .any(|c| matches!(c, Command::DeleteMedia { media } if media.media_id == "m4"))
    );
    // The older photo went back to the spares and was analysed for the back meanwhile.
    assert!(matches!(
        t.s.state,
        State::Step {
            index: 2,
            phase: Phase::Processing
        }
    ));
    let retry = in_flight(&t.s, 2);
    let c = t.ev(Event::DocumentAnalysed {
        capture: retry,
        side: Side::Back,
        outcome: wrong_side(),
    });
    // It showed the front too: the front is accepted, so this is a real wrong side. (The
    // second photo's acknowledgement, still due, is the retake prompt itself: one photo is not
    // acknowledged by a message of its own when something is said about it at once.)
    assert_eq!(sent(&c), ["retake.wrong_side"]);
    assert_eq!(t.s.attempts[1], 1);
    assert_eq!(t.s.attempts[2], 1);
}

/// Issue 11: the front and the back sent together were read as a retake of the front.
#[test]
fn regression_front_and_back_together_are_not_a_retake() {
    for back_answers_first in [false, true] {
        let mut t = T::mx();
        t.text("hola");
        t.text("ok");
        t.photo_quick();
        t.photo_quick();
        let (front, back) = (in_flight(&t.s, 1), in_flight(&t.s, 2));
        let answer = |side: Side, capture: u32| Event::DocumentAnalysed {
            capture,
            side,
            outcome: DocumentOutcome::Accepted {
                data: common::ine_side(side),
            },
        };
        let mut said = Vec::new();
        let order = if back_answers_first {
            [(Side::Back, back), (Side::Front, front)]
        } else {
            [(Side::Front, front), (Side::Back, back)]
        };
        for (side, capture) in order {
            let c = t.ev(answer(side, capture));
            said.extend(sent(&c));
        }
        // One acknowledgement for both (the window had not closed), then the next step.
        assert_eq!(
            said,
            ["photos.received", "capture.selfie"],
            "back first: {back_answers_first}"
        );
        assert_eq!(
            t.s.state,
            State::Step {
                index: 3,
                phase: Phase::Awaiting
            }
        );
        assert_eq!(&t.s.attempts[1..3], &[1, 1]);
        assert_eq!(
            t.s.evidence
                .documents
                .iter()
                .map(|d| d.side)
                .collect::<Vec<_>>(),
            [Some(Side::Front), Some(Side::Back)],
            "evidence in flow order"
        );
    }
}

#[test]
fn low_confidence_and_failed_cross_checks_ask_for_a_retake() {
    let mut t = T::mx();
    t.text("hola");
    t.text("acepto");
    t.photo();
    let mut data = common::ine_side(Side::Front);
    data.fields.get_mut("curp").unwrap().confidence = 0.3;
    let c = t.capture();
    let out = t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted { data },
    });
    assert_eq!(sent(&out), ["retake.unreadable"]);
    t.photo();
    let mut data = common::ine_side(Side::Front);
    data.checks[0].passed = false;
    let c = t.capture();
    let out = t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted { data },
    });
    assert_eq!(sent(&out), ["retake.data_mismatch"]);
    assert_eq!(
        t.s.state,
        State::Step {
            index: 1,
            phase: Phase::Retake
        }
    );
}

#[test]
fn retakes_at_the_limit_follow_the_step_policy() {
    let mut flow = Flow::preset("mx-ine").unwrap();
    if let Step::Selfie(s) = &mut flow.steps[3] {
        s.max_attempts = 2;
        s.on_exhausted = kyc_flow_core::OnExhausted::Reject;
    }
    let mut t = T::new(flow);
    t.reach_selfie();
    for _ in 0..2 {
        t.photo();
        let c = t.capture();
        t.ev(Event::SelfieAnalysed {
            capture: c,
            outcome: SelfieOutcome::Retake {
                reason: RetakeReason::FaceMismatch,
                detail: String::new(),
            },
        });
    }
    assert_eq!(
        t.s.decision,
        Some(Decision::Rejected {
            reasons: vec![DecisionReason::TooManyRetakes, DecisionReason::FaceMismatch]
        })
    );
    assert_eq!(t.s.attempts[3], 2);
}

fn with_liveness_policy(p: UncertifiedLiveness) -> Option<Decision> {
    let mut flow = Flow::preset("mx-ine").unwrap();
    if let Step::Selfie(s) = &mut flow.steps[3] {
        s.uncertified_liveness = p;
    }
    let mut t = T::new(flow);
    t.reach_selfie();
    t.photo();
    t.selfie(0.9, false);
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    t.s.decision
}

#[test]
fn uncertified_liveness_never_approves_silently() {
    use DecisionReason::*;
    assert_eq!(
        with_liveness_policy(UncertifiedLiveness::ManualReview),
        Some(Decision::ManualReview {
            reasons: vec![LivenessNotCertified]
        })
    );
    assert_eq!(
        with_liveness_policy(UncertifiedLiveness::ApproveWithFlag),
        Some(Decision::Approved {
            reasons: vec![AllChecksPassed, LivenessNotCertified]
        })
    );
    assert_eq!(
        with_liveness_policy(UncertifiedLiveness::Reject),
        Some(Decision::Rejected {
            reasons: vec![LivenessNotCertified]
        })
    );
}

/// One onboarding of `mx-ine` whose certified liveness engine raised `signals`, under the
/// flow's risk policy `risk`; the decision and the notice's evidence.
fn with_risk(
    risk: Option<RiskPolicy>,
    signals: Vec<RiskSignal>,
) -> (Option<Decision>, serde_json::Value) {
    let mut flow = Flow::preset("mx-ine").unwrap();
    flow.decision.risk = risk;
    let mut t = T::new(flow);
    t.reach_selfie();
    t.photo();
    let c = t.capture();
    t.ev(Event::SelfieAnalysed {
        capture: c,
        outcome: SelfieOutcome::Analysed {
            face: FaceComparison {
                score: 0.9,
                threshold: 0.6,
                matched: true,
                engine: "f".into(),
            },
            liveness: LivenessVerdict {
                live: true,
                score: 0.95,
                engine: "l".into(),
                certified: true,
                certification: None,
                signals,
            },
            signals: Vec::new(),
        },
    });
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    let evidence = t.s.decision_notice().unwrap().evidence;
    (t.s.decision, evidence)
}

#[test]
fn risk_codes_decide_only_under_the_flows_risk_policy_and_are_always_reported() {
    let screen = || vec![RiskSignal::new(RiskCode::ScreenReplaySuspected).with_score(0.8)];
    // No policy: the code is reported with the decision and does not change it.
    let (decision, evidence) = with_risk(None, screen());
    assert_eq!(
        decision,
        Some(Decision::Approved {
            reasons: vec![DecisionReason::AllChecksPassed]
        })
    );
    assert_eq!(evidence["risk"][0]["code"], "screen_replay_suspected");
    assert_eq!(evidence["risk"][0]["severity"], "high");
    // The preset sends a suspected screen to review…
    let (decision, _) = with_risk(Some(RiskPolicy::preset("mx-ine")), screen());
    assert_eq!(
        decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::RiskPolicy]
        })
    );
    // …a bank's override rejects it, without forking the flow…
    let mut strict = RiskPolicy::preset("mx-ine");
    strict
        .overrides
        .insert(RiskCode::ScreenReplaySuspected, RiskAction::Reject);
    let (decision, _) = with_risk(Some(strict), screen());
    assert_eq!(
        decision,
        Some(Decision::Rejected {
            reasons: vec![DecisionReason::RiskPolicy]
        })
    );
    // …and nothing raised approves under any policy.
    let (decision, evidence) = with_risk(Some(RiskPolicy::preset("mx-ine")), vec![]);
    assert_eq!(
        decision,
        Some(Decision::Approved {
            reasons: vec![DecisionReason::AllChecksPassed]
        })
    );
    assert_eq!(evidence["risk"], serde_json::json!([]));
}

#[test]
fn the_selfie_step_raises_its_own_codes_once() {
    // Uncertified and borderline: both codes, each once even when the engine raised one too.
    let mut t = T::mx();
    t.reach_selfie();
    t.photo();
    t.selfie(0.62, false);
    let codes: Vec<RiskCode> = t.s.evidence.risk.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            RiskCode::FaceMatchBorderline,
            RiskCode::LivenessNotCertified
        ]
    );
}

#[test]
fn a_forwarded_photo_raises_forwarded_media_which_a_later_selfie_keeps() {
    let mut t = T::mx();
    t.text("hola");
    t.text("sí");
    t.forwarded = true;
    t.photo();
    t.forwarded = false;
    let codes = |t: &T| t.s.evidence.risk.iter().map(|r| r.code).collect::<Vec<_>>();
    assert_eq!(codes(&t), [RiskCode::ForwardedMedia]);
    t.doc(Side::Front);
    t.photo();
    t.doc(Side::Back);
    t.photo();
    t.selfie(0.9, false);
    assert_eq!(
        codes(&t),
        [RiskCode::ForwardedMedia, RiskCode::LivenessNotCertified]
    );
}

#[test]
fn borderline_face_score_goes_to_manual_review() {
    let mut t = T::mx();
    t.reach_selfie();
    t.photo();
    t.selfie(0.62, true); // threshold 0.6, margin 0.05
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    assert_eq!(
        t.s.decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::BorderlineScore]
        })
    );
}

#[test]
fn underage_and_expired_documents_are_rejected() {
    let mut t = T::mx();
    t.text("hola");
    t.text("sí");
    t.photo();
    let mut data = common::ine_side(Side::Front);
    data.fields.get_mut("birth_date").unwrap().value = "2012-01-01".into();
    data.fields.get_mut("expiry_date").unwrap().value = "2020-12-31".into();
    let c = t.capture();
    t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted { data },
    });
    t.photo();
    let mut data = common::ine_side(Side::Back);
    data.fields.remove("birth_date");
    let c = t.capture();
    t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Back,
        outcome: DocumentOutcome::Accepted { data },
    });
    t.photo();
    t.selfie(0.9, true);
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    assert_eq!(
        t.s.decision,
        Some(Decision::Rejected {
            reasons: vec![DecisionReason::DocumentExpired, DecisionReason::Underage]
        })
    );
}

#[test]
fn registry_silence_is_retried_with_backoff_then_reviewed_and_late_answers_ignored() {
    let mut t = T::mx();
    t.reach_selfie();
    t.photo();
    let out = t.selfie(0.9, true);
    let (deadline, token) = t.timer(REGISTRY_TIMER, &out).expect("deadline");
    let first_request = t.s.registry.pending;
    t.now = deadline;
    let out = t.ev(Event::TimerFired {
        name: REGISTRY_TIMER.into(),
        token,
    });
    // No answer in time: a retry after the base backoff (30 s), not a rejection.
    let (retry_at, token) = t.timer(REGISTRY_TIMER, &out).expect("retry");
    assert_eq!(retry_at.0 - t.now.0, 30_000);
    assert!(t.s.decision.is_none());
    t.now = retry_at;
    t.ev(Event::TimerFired {
        name: REGISTRY_TIMER.into(),
        token,
    });
    assert_ne!(t.s.registry.pending, first_request);
    // The first query's answer arrives late: ignored.
    let late = t.ev(Event::RegistryAnswered {
        request: first_request,
        result: RegistryResult {
            registry: kyc_flow_core::RegistryId("mx-renapo".into()),
            status: RegistryStatus::Deceased,
            raw_label: None,
            matched_fields: vec![],
            source: "t".into(),
            requested_at: t.now,
            answered_at: t.now,
        },
    });
    assert!(t.s.decision.is_none(), "{late:?}");
    // Two more failures: second retry waits 60 s, then manual review.
    let out = t.ev(Event::RegistryFailed {
        request: t.s.registry.pending,
        reason: "503".into(),
    });
    let (retry_at, token) = t.timer(REGISTRY_TIMER, &out).expect("retry");
    assert_eq!(retry_at.0 - t.now.0, 60_000);
    t.now = retry_at;
    t.ev(Event::TimerFired {
        name: REGISTRY_TIMER.into(),
        token,
    });
    t.ev(Event::RegistryFailed {
        request: t.s.registry.pending,
        reason: "503".into(),
    });
    assert_eq!(
        t.s.decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::RegistryUnavailable]
        })
    );
}

#[test]
fn a_registry_field_missing_from_the_document_goes_to_review() {
    let mut t = T::mx();
    t.text("hola");
    t.text("sí");
    t.photo();
    let mut data = common::ine_side(Side::Front);
    data.fields.remove("curp");
    let c = t.capture();
    t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted { data },
    });
    t.photo();
    t.doc(Side::Back);
    t.photo();
    t.selfie(0.9, true);
    assert_eq!(
        t.s.decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::MissingData]
        })
    );
}

#[test]
fn reminders_use_templates_outside_the_window_and_late_timers_do_not_flood() {
    let mut t = T::mx();
    let out = t.text("hola");
    let (at, token) = t.timer(INACTIVITY_TIMER, &out).unwrap();
    assert_eq!(at.0 - t.now.0, HOUR);
    // The runtime was down for two days: the timer fires at +50 h.
    t.now = Timestamp(t.now.0 + 50 * HOUR);
    let out = t.ev(Event::TimerFired {
        name: INACTIVITY_TIMER.into(),
        token,
    });
    assert_eq!(sent(&out), ["reminder@kyc_reminder"]);
    // Every overdue reminder counts as sent; the next timer is the expiry at +72 h.
    let (next, token) = t.timer(INACTIVITY_TIMER, &out).unwrap();
    assert_eq!(next.0 - t.s.last_activity_at.0, 72 * HOUR);
    t.now = next;
    let out = t.ev(Event::TimerFired {
        name: INACTIVITY_TIMER.into(),
        token,
    });
    assert_eq!(sent(&out), ["expired@kyc_expired"]);
    assert_eq!(t.s.decision, Some(Decision::Expired));
    // A stale inactivity token afterwards changes nothing but seq.
    let out = t.ev(Event::TimerFired {
        name: INACTIVITY_TIMER.into(),
        token,
    });
    assert!(sent(&out).is_empty());
}

#[test]
fn the_wrong_flow_version_leaves_the_session_alone() {
    let mut t = T::mx();
    t.text("hola");
    let mut v2 = t.flow.clone();
    v2.version = 2;
    let before = t.s.clone();
    let tr = step(
        &v2,
        &t.catalog,
        before.clone(),
        &Event::IdentityChanged { new_user: None },
        t.now,
    );
    assert_eq!(tr.session, before);
    assert!(matches!(&tr.commands[..], [Command::Audit(a)] if a.kind == "flow.mismatch"));
}

#[test]
fn identity_change_mid_flow_goes_to_review_and_is_audited_after() {
    let mut t = T::mx();
    t.reach_selfie();
    let out = t.ev(Event::IdentityChanged { new_user: None });
    assert_eq!(sent(&out), ["identity.changed"]);
    assert_eq!(
        t.s.decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::IdentityChanged]
        })
    );
    assert!(out.iter().any(|c| matches!(c, Command::DeleteEvidence)));
    let out = t.ev(Event::IdentityChanged { new_user: None });
    assert!(sent(&out).is_empty());
}

#[test]
fn revoking_the_photo_in_flight_reopens_the_step() {
    let mut t = T::mx();
    t.text("hola");
    t.text("sí");
    t.photo();
    let c = t.capture();
    let out = t.ev(Event::MessageRevoked {
        message_id: format!("wamid.{}", t.n),
    });
    assert_eq!(sent(&out), ["revoked.photo"]);
    assert!(t.s.pending.is_empty());
    let out = t.ev(Event::DocumentAnalysed {
        capture: c,
        side: Side::Front,
        outcome: DocumentOutcome::Accepted {
            data: common::ine_side(Side::Front),
        },
    });
    assert!(sent(&out).is_empty(), "the deleted photo's result is stale");
    assert_eq!(
        t.s.state,
        State::Step {
            index: 1,
            phase: Phase::Retake
        }
    );
}

#[test]
fn operators_resolve_manual_review_only() {
    let mut t = T::mx();
    t.reach_selfie();
    t.photo();
    t.selfie(0.9, true);
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    assert!(matches!(t.s.decision, Some(Decision::Approved { .. })));
    let out = t.ev(Event::OperatorDecision {
        decision: Decision::Rejected { reasons: vec![] },
        operator: "ana".into(),
        note: None,
    });
    assert!(matches!(t.s.decision, Some(Decision::Approved { .. })));
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::DeliverDecision { .. }))
    );
}

#[test]
fn debug_never_shows_pii_and_the_summary_carries_the_evidence() {
    let mut t = T::mx();
    t.reach_selfie();
    let d = format!("{:?}", t.s);
    for secret in [
        "GALA900514MDFRPN07",
        "GARCIA",
        "ANA MARIA",
        "1a2b3c4d5e6f7a8b9c0d",
        "1990-05-14",
    ] {
        assert!(!d.contains(secret), "{secret} in {d}");
    }
    t.photo();
    t.selfie(0.9, true);
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    let summary = t.s.evidence_summary();
    assert_eq!(summary["fields"]["curp"]["value"], "GALA900514MDFRPN07");
    assert_eq!(summary["fields"]["cic"]["side"], "back");
    assert_eq!(summary["registry"][1]["registry"], "mx-ine");
    assert_eq!(summary["registry"][1]["status"], "valid");
    assert_eq!(summary["selfie"]["liveness_certified"], true);
    assert_eq!(summary["flow"]["id"], "mx-ine");
}

#[test]
fn wrong_kind_of_input_gets_guidance() {
    let mut t = T::mx();
    t.text("hola");
    assert_eq!(sent(&t.photo()), ["consent.guidance"]);
    t.text("sí");
    assert_eq!(sent(&t.text("lista")), ["guidance.photo_expected"]);
    let out = t.inbound(InboundContent::Media {
        kind: MediaKind::Audio,
        media: MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: "a1".into(),
            mime_type: Some("audio/ogg".into()),
            sha256: None,
        },
        caption: None,
    });
    assert_eq!(sent(&out), ["guidance.unsupported_media"]);
    assert!(out.iter().any(|c| matches!(c, Command::DeleteMedia { .. })));
    let file = |id: &str, mime: &str| InboundContent::Media {
        kind: MediaKind::Document,
        media: MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: id.into(),
            mime_type: Some(mime.into()),
            sha256: None,
        },
        caption: None,
    };
    let out = t.inbound(file("d1", "application/zip"));
    assert_eq!(sent(&out), ["retake.unsupported_media"]);
    // An iPhone photo sent as a file: told at once what to do, without an analysis.
    let out = t.inbound(file("d2", "image/heic"));
    assert_eq!(sent(&out), ["guidance.heic"]);
    assert!(out.iter().any(|c| matches!(c, Command::DeleteMedia { .. })));
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::AnalyseDocument { .. }))
    );
    // What the Cloud API cannot carry (a view-once photo) arrives as `unsupported`.
    let out = t.inbound(InboundContent::Other {
        kind: "unsupported".into(),
    });
    assert_eq!(sent(&out), ["guidance.unreadable_message"]);
    let out = t.inbound(InboundContent::Other {
        kind: "contacts".into(),
    });
    assert_eq!(sent(&out), ["guidance.unsupported_media"]);
    assert_eq!(t.s.attempts[1], 0, "unusable media does not use an attempt");
    t.photo();
    assert_eq!(sent(&t.text("ya?")), ["guidance.wait"]);
}

#[test]
fn a_pdf_or_an_image_file_is_analysed_like_a_photo() {
    for mime in ["application/pdf", "image/jpeg", "IMAGE/PNG"] {
        let mut t = T::mx();
        t.text("hola");
        t.text("sí");
        let out = t.inbound(InboundContent::Media {
            kind: MediaKind::Document,
            media: MediaRef {
                phone_number_id: PhoneNumberId("pn".into()),
                media_id: "f1".into(),
                mime_type: Some(mime.into()),
                sha256: None,
            },
            caption: None,
        });
        assert!(
            !sent(&out)
                .iter()
                .any(|k| k.starts_with("retake.") || k.starts_with("guidance.")),
            "{mime}: {:?}",
            sent(&out)
        );
        assert!(t.s.burst > 0, "{mime} is held as a photo");
    }
}

#[test]
fn users_can_switch_language() {
    let mut t = T::new(Flow::preset("co-cedula").unwrap());
    t.text("hola");
    assert_eq!(t.s.locale, kyc_flow_core::Locale::EsCo);
    assert_eq!(sent(&t.text("English")), ["consent.ask"]);
    assert_eq!(t.s.locale, kyc_flow_core::Locale::En);
    t.text("Português");
    assert_eq!(t.s.locale, kyc_flow_core::Locale::PtBr);
    // Spanish means the flow's own variant.
    t.text("español");
    assert_eq!(t.s.locale, kyc_flow_core::Locale::EsCo);
    assert!(t.s.decision.is_none());
}

#[test]
fn the_decision_notice_carries_the_decision_and_evidence() {
    let mut t = T::mx();
    assert_eq!(t.s.step_name(&t.flow), "new");
    t.reach_selfie();
    assert_eq!(t.s.step_name(&t.flow), "selfie");
    assert!(t.s.decision_notice().is_none());
    t.photo();
    t.selfie(0.9, true);
    t.registry(RegistryStatus::Valid);
    t.registry(RegistryStatus::Valid);
    assert_eq!(t.s.step_name(&t.flow), "decided");
    let n = t.s.decision_notice().unwrap();
    assert_eq!(n.session_id, "s-9");
    assert_eq!(n.flow_id, "mx-ine");
    assert_eq!(n.decided_at, t.now);
    assert!(matches!(n.decision, Decision::Approved { .. }));
    assert_eq!(n.evidence["fields"]["curp"]["value"], "GALA900514MDFRPN07");
    // Logging a notice never prints the evidence (personal data).
    let debug = format!("{n:?}");
    assert!(!debug.contains("GALA900514MDFRPN07"), "{debug}");
    assert!(debug.contains("evidence_keys"));
}

#[test]
fn a_step_with_its_own_reminder_schedule_restarts_the_timer() {
    let mut flow = Flow::preset("mx-ine").unwrap();
    if let Step::Selfie(s) = &mut flow.steps[3] {
        s.reminders = Some(kyc_flow_core::ReminderPolicy {
            after_secs: vec![600],
            expire_after_secs: 3600,
        });
    }
    let mut t = T::new(flow);
    t.text("hola");
    t.text("sí");
    t.photo();
    t.doc(Side::Front);
    t.photo();
    let out = t.doc(Side::Back);
    let (at, _) = t
        .timer(INACTIVITY_TIMER, &out)
        .expect("re-armed on the selfie step");
    assert_eq!(at.0 - t.s.last_activity_at.0, 600_000);
}

#[test]
fn an_analysis_that_never_returns_is_asked_again_or_reviewed_at_the_limit() {
    let mut flow = Flow::preset("mx-ine").unwrap();
    if let Step::Document(d) = &mut flow.steps[1] {
        d.max_attempts = 2;
    }
    let mut t = T::new(flow);
    t.text("hola");
    t.text("sí");
    for round in 0..2 {
        let out = t.photo();
        let (at, token) = t.timer(INACTIVITY_TIMER, &out).unwrap();
        t.now = at;
        let out = t.ev(Event::TimerFired {
            name: INACTIVITY_TIMER.into(),
            token,
        });
        if round == 0 {
            assert_eq!(sent(&out), ["analysis.failed"]);
            assert_eq!(
                t.s.state,
                State::Step {
                    index: 1,
                    phase: Phase::Retake
                }
            );
        } else {
            assert_eq!(
                t.s.decision,
                Some(Decision::ManualReview {
                    reasons: vec![DecisionReason::AnalysisFailed]
                })
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A registry keyed by the user's phone; marketing opt-out
// ---------------------------------------------------------------------------------------------

/// mx-ine whose first registry is keyed by the user's phone (`msisdn`) as well as the CURP.
fn phone_registry_flow() -> Flow {
    let mut flow = Flow::preset("mx-ine").unwrap();
    flow.id = "mx-ine-phone".into();
    let Step::Registry(r) = &mut flow.steps[4] else {
        unreachable!()
    };
    r.checks.insert(
        0,
        RegistryCheck {
            phone: Some("msisdn".into()),
            ..RegistryCheck::new("mx-telco", &["curp"])
        },
    );
    assert_eq!(flow.validate(&Catalog::builtin()), Ok(()));
    flow
}

/// The contact-information requests among `commands`, with the key of their opening text.
fn contact_requests(commands: &[Command]) -> Vec<Option<String>> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send(s) if s.request_contact => {
                assert_eq!(s.key, "contact.request");
                Some(s.lead.clone())
            }
            _ => None,
        })
        .collect()
}

fn queries(commands: &[Command]) -> Vec<&kyc_flow_core::RegistryQuery> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::QueryRegistry { query, .. } => Some(query),
            _ => None,
        })
        .collect()
}

const SHARED: &str = "+16505551234";

#[test]
fn a_user_without_a_number_is_asked_for_it_and_the_registry_gets_it() {
    let mut t = T::new(phone_registry_flow());
    t.reach_selfie();
    t.photo();
    let out = t.selfie(0.9, true);
    assert_eq!(contact_requests(&out), [None], "asked once, on its own");
    assert!(
        !sent(&out).contains(&"registry.checking".to_owned()),
        "not 'checking' before the number is there: {:?}",
        sent(&out)
    );
    assert!(queries(&out).is_empty(), "no registry asked without it");
    assert_eq!(
        t.s.state,
        State::Step {
            index: 4,
            phase: Phase::Awaiting
        }
    );
    assert!(
        t.timer(INACTIVITY_TIMER, &out).is_some() || t.s.inactivity_timer != 0,
        "the user is expected to act: reminders and expiry run"
    );
    // A card shared by hand may be anyone's: not an answer.
    let out = t.inbound(InboundContent::Other {
        kind: "contacts".into(),
    });
    assert_eq!(
        contact_requests(&out),
        [Some("contact.card_shared".to_owned())],
        "guidance and the request again, in one message"
    );
    assert!(queries(&out).is_empty());
    assert_eq!(t.s.phone, None);
    // Anything else: a short guidance with the request.
    let out = t.text("mi número es 5512345678");
    assert_eq!(
        contact_requests(&out),
        [Some("contact.expected".to_owned())]
    );
    assert_eq!(t.s.phone, None, "a typed number is not taken");
    // The answer to the request.
    let out = t.inbound(InboundContent::ContactInfo {
        phone: PhoneNumber::parse(SHARED).unwrap(),
    });
    assert_eq!(sent(&out), ["registry.checking"]);
    let q = queries(&out);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].registry.0, "mx-telco");
    assert_eq!(q[0].fields["msisdn"], SHARED);
    assert!(q[0].fields.contains_key("curp"));
    assert_eq!(t.s.phone.as_ref().map(PhoneNumber::raw), Some(SHARED));
    assert!(!format!("{:?}", t.s).contains("5551234"), "never in Debug");
    assert!(
        !format!("{out:?}").contains("5551234"),
        "nor in commands' Debug"
    );
    for _ in 0..3 {
        t.registry(RegistryStatus::Valid);
    }
    assert!(matches!(t.s.decision, Some(Decision::Approved { .. })));
}

#[test]
fn a_user_who_writes_from_their_number_is_never_asked() {
    // Keyed by the business-scoped id, with the number WhatsApp gives next to it.
    let mut t = T::new(phone_registry_flow());
    t.n += 1;
    let at = t.now.plus(Duration::from_secs(10));
    t.ev(Event::Inbound(Inbound {
        message_id: "wamid.hello".into(),
        at,
        content: InboundContent::Text {
            body: "hola".into(),
        },
        forwarded: false,
        phone: PhoneNumber::parse("5215512345678"),
    }));
    t.text("sí");
    t.photo();
    t.doc(Side::Front);
    t.photo();
    t.doc(Side::Back);
    t.photo();
    let out = t.selfie(0.9, true);
    assert!(contact_requests(&out).is_empty());
    assert_eq!(queries(&out)[0].fields["msisdn"], "+5215512345678");

    // Keyed by the number itself.
    let flow = phone_registry_flow();
    let key = kyc_flow_core::SessionKey::new(
        "acme-bank",
        "106540352242922",
        kyc_flow_core::UserRef::Phone("5215599998888".into()),
    );
    let mut t = T::new(flow.clone());
    t.s = start(&flow, key, "s-p".into(), None, t.now);
    t.reach_selfie();
    t.photo();
    let out = t.selfie(0.9, true);
    assert!(contact_requests(&out).is_empty());
    assert_eq!(queries(&out)[0].fields["msisdn"], "+5215599998888");
    assert_eq!(t.s.phone, None, "nothing stored beyond the key");
}

#[test]
fn unanswered_contact_requests_end_in_review_and_silence_expires() {
    let mut t = T::new(phone_registry_flow());
    t.reach_selfie();
    t.photo();
    t.selfie(0.9, true);
    for n in 2..=MAX_CONTACT_REQUESTS {
        let out = t.text("¿qué?");
        assert_eq!(contact_requests(&out).len(), 1, "request {n}");
    }
    let out = t.text("no quiero");
    assert!(contact_requests(&out).is_empty());
    assert_eq!(
        t.s.decision,
        Some(Decision::ManualReview {
            reasons: vec![DecisionReason::MissingData]
        })
    );

    // Silence: reminders, then expiry, as at any step that waits for the user.
    let mut t = T::new(phone_registry_flow());
    t.reach_selfie();
    t.photo();
    t.selfie(0.9, true);
    let mut fired = Vec::new();
    for _ in 0..6 {
        if t.s.decision.is_some() {
            break;
        }
        let token = t.s.inactivity_timer;
        assert_ne!(token, 0, "a timer while waiting for the number");
        t.now = Timestamp(t.now.0 + 30 * HOUR);
        fired.extend(sent(&t.ev(Event::TimerFired {
            name: INACTIVITY_TIMER.into(),
            token,
        })));
    }
    assert!(fired.iter().any(|k| k.starts_with("reminder")), "{fired:?}");
    assert_eq!(t.s.decision, Some(Decision::Expired));
}

#[test]
fn an_opted_out_user_is_never_reminded_and_neither_is_one_who_stopped() {
    let mut t = T::mx();
    let out = t.text("hola");
    let (_, token) = t.timer(INACTIVITY_TIMER, &out).unwrap();
    let before = t.s.seq;
    let out = t.ev(Event::OptedOut);
    assert_eq!(t.s.opted_out_at, Some(t.now));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Audit(a) if a.kind == "user.opted_out"))
    );
    assert_eq!(t.s.seq, before + 1);
    // Recorded once: a second refusal changes nothing.
    let recorded = t.s.opted_out_at;
    t.ev(Event::OptedOut);
    assert_eq!(t.s.opted_out_at, recorded);
    // Every reminder time passes in silence; the session still expires on schedule.
    t.now = Timestamp(t.now.0 + 2 * HOUR);
    let out = t.ev(Event::TimerFired {
        name: INACTIVITY_TIMER.into(),
        token,
    });
    assert!(sent(&out).is_empty(), "{:?}", sent(&out));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Audit(a) if a.kind == "reminder.skipped"))
    );
    assert_eq!(t.s.nudged, 0);
    let mut n = 0;
    while t.s.decision.is_none() && n < 10 {
        let (at, token) = (t.s.last_activity_at, t.s.inactivity_timer);
        t.now = Timestamp(at.0 + 80 * HOUR);
        let out = t.ev(Event::TimerFired {
            name: INACTIVITY_TIMER.into(),
            token,
        });
        assert!(sent(&out).iter().all(|k| !k.starts_with("reminder")));
        n += 1;
    }
    assert_eq!(t.s.decision, Some(Decision::Expired));
    assert!(!t.s.may_nudge());

    // STOP: decided, its timers cancelled; a late timer sends nothing.
    let mut t = T::mx();
    let out = t.text("hola");
    let (_, token) = t.timer(INACTIVITY_TIMER, &out).unwrap();
    t.text("STOP");
    assert_eq!(t.s.decision, Some(Decision::Cancelled));
    assert!(!t.s.may_nudge());
    t.now = Timestamp(t.now.0 + 2 * HOUR);
    let out = t.ev(Event::TimerFired {
        name: INACTIVITY_TIMER.into(),
        token,
    });
    assert!(sent(&out).is_empty());
}

/// The video-note step (issue 12) on mx-ine, after the selfie: a newer video note replaces one
/// still being analysed, and the replaced note's result is stale whatever it says; the card
/// portrait outlives the accepted selfie while a video note may still compare with it, and is
/// deleted when a note passes — not at a retake.
#[test]
fn a_stale_video_result_is_ignored_and_the_portrait_waits_for_the_video() {
    use kyc_flow_core::{VideoLiveness, VideoOutcome, VideoStep};
    let mut flow = Flow::preset("mx-ine").unwrap();
    flow.steps
        .insert(4, Step::VideoLiveness(VideoStep::default()));
    let mut t = T::new(flow);
    t.reach_selfie();
    t.photo();
    let c = t.selfie(0.9, true);
    assert!(
        !c.iter().any(|c| matches!(c, Command::DeleteEvidence)),
        "the portrait is kept for the video step: {c:?}"
    );
    assert_eq!(sent(&c).last().map(String::as_str), Some("capture.video"));
    let video = |t: &mut T| {
        let media = MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: format!("v{}", t.n + 1),
            mime_type: Some("video/mp4".into()),
            sha256: None,
        };
        t.inbound(InboundContent::Media {
            kind: MediaKind::Video,
            media,
            caption: None,
        })
    };
    let analysed = |c: &[Command]| {
        c.iter()
            .find_map(|c| match c {
                Command::AnalyseVideo {
                    capture, portrait, ..
                } => Some((*capture, *portrait)),
                _ => None,
            })
            .expect("AnalyseVideo")
    };
    let passed = || VideoOutcome::Passed {
        liveness: VideoLiveness {
            frames: 12,
            face_frames: 12,
            yaw_min: -0.3,
            yaw_max: 0.3,
            min_frame_similarity: 0.7,
            portrait_similarity: Some(0.6),
            screen_frames: 0.0,
            engine: "v".into(),
            certified: false,
            signals: Vec::new(),
        },
    };
    let deletes_portrait = |c: &[Command]| c.iter().any(|c| matches!(c, Command::DeleteEvidence));

    let (first, portrait) = analysed(&video(&mut t));
    assert!(
        portrait.is_some(),
        "compared with the accepted front's portrait"
    );
    // A second note while the first is analysed: it replaces the first (whose media goes).
    let c = video(&mut t);
    let (second, _) = analysed(&c);
    assert!(first != 0 && second != first);
    let first_media = format!("v{}", t.n - 1);
    assert!(
        c.iter()
            .any(|c| matches!(c, Command::DeleteMedia { media } if media.media_id == first_media)),
        "{c:?}"
    );
    // The first note's result is stale, even a pass: nothing said, nothing kept, nothing
    // deleted.
    let c = t.ev(Event::VideoAnalysed {
        capture: first,
        outcome: passed(),
    });
    assert!(sent(&c).is_empty(), "{:?}", sent(&c));
    assert!(!deletes_portrait(&c));
    assert_eq!(t.s.evidence.video, None);
    assert_eq!(
        t.s.state,
        State::Step {
            index: 4,
            phase: Phase::Processing
        }
    );
    // The second one showed no head turn: a retake worded for a video note; the portrait stays.
    let c = t.ev(Event::VideoAnalysed {
        capture: second,
        outcome: VideoOutcome::Retake {
            reason: RetakeReason::NoHeadTurn,
            detail: String::new(),
        },
    });
    assert_eq!(sent(&c), ["retake.no_head_turn"]);
    assert!(!deletes_portrait(&c));
    assert!(
        t.s.evidence
            .risk
            .iter()
            .any(|r| r.code == RiskCode::VideoNoHeadTurn)
    );
    // A third note passes: accepted, the portrait deleted, on to the registries.
    let (third, _) = analysed(&video(&mut t));
    let c = t.ev(Event::VideoAnalysed {
        capture: third,
        outcome: passed(),
    });
    assert!(deletes_portrait(&c), "{c:?}");
    assert!(t.s.evidence.video.is_some());
    assert!(
        matches!(t.s.state, State::Step { index: 5, .. }),
        "{:?}",
        t.s.state
    );
}
