//! Properties of the transition function, over random conversations.
//!
//! A conversation is a list of abstract actions resolved against the session as it runs (an
//! "answer the photo in flight" action uses the capture number the session is waiting for, or
//! a stale one), so random sequences reach deep states instead of bouncing off the consent
//! gate. The concrete events are recorded for replay.

use kyc_flow_core::catalog::{CONSENT_ACCEPT, CONSENT_DECLINE};
use kyc_flow_core::ports::MediaRef;
use kyc_flow_core::{
    Catalog, Command, CrossCheck, Decision, DocumentData, DocumentOutcome, Event, ExtractedField,
    FaceComparison, FieldSource, Flow, Inbound, InboundContent, LivenessVerdict, MediaKind,
    OnExhausted, PhoneNumberId, RegistryResult, RegistryStatus, RetakeReason, SelfieOutcome,
    Session, SessionKey, Side, State, Step, Timestamp, UncertifiedLiveness, UserRef, start, step,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const T0: i64 = 1_772_463_600_000;

#[derive(Debug, Clone)]
enum Action {
    /// Whatever moves the session forward (accept consent, send a photo, a passing analysis,
    /// a valid registry answer), so random conversations also reach the deep states.
    Progress,
    Text(usize),
    Tap(bool),
    Media(usize),
    Location,
    Other,
    Redeliver(usize),
    /// An analysis result for one of the photos in flight (`pick` chooses which), or a stale
    /// capture number.
    Doc {
        stale: bool,
        outcome: u8,
        low_confidence: bool,
        pick: u8,
    },
    Selfie {
        stale: bool,
        outcome: u8,
        score: f32,
        pick: u8,
    },
    Failed {
        stale: bool,
        retryable: bool,
        pick: u8,
    },
    Registry {
        stale: bool,
        status: usize,
    },
    RegistryDown {
        stale: bool,
    },
    Timer {
        registry: bool,
        stale: bool,
    },
    Clock(u64),
    Operator(u8),
    Edit(usize),
    Revoke(usize),
    IdentityChanged,
    /// The user shares a number: the answer to the contact-information request (`true`) or a
    /// card by hand.
    Contact(bool),
    /// WhatsApp refused a message: marketing opt-out (131050).
    OptedOut,
}

const TEXTS: [&str; 12] = [
    "hola",
    "STOP",
    "ayuda",
    "sí",
    "no",
    "Não",
    "ok",
    "cancelar",
    "here it is",
    "😀",
    "English",
    "português",
];

impl Action {
    /// Actions that end a session at once whatever its state (STOP, declining, operators,
    /// identity changes). Half the cases leave them out so conversations get deep.
    fn ends_session(&self) -> bool {
        match self {
            Action::Text(i) => matches!(TEXTS[*i], "STOP" | "cancelar" | "no" | "Não"),
            Action::Tap(yes) => !yes,
            Action::Operator(_) | Action::IdentityChanged => true,
            _ => false,
        }
    }
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => Just(Action::Progress),
        3 => (0..TEXTS.len()).prop_map(Action::Text),
        3 => any::<bool>().prop_map(Action::Tap),
        6 => (0usize..6).prop_map(Action::Media),
        1 => Just(Action::Location),
        1 => Just(Action::Other),
        2 => (0usize..8).prop_map(Action::Redeliver),
        6 => (any::<bool>(), 0u8..6, any::<bool>(), any::<u8>())
            .prop_map(|(s, o, l, pick)| Action::Doc { stale: s && o % 2 == 0, outcome: o, low_confidence: l && o == 5, pick }),
        4 => (any::<bool>(), 0u8..6, prop_oneof![Just(f32::NAN), 0.0f32..1.0], any::<u8>())
            .prop_map(|(s, o, score, pick)| Action::Selfie { stale: s && o % 2 == 0, outcome: o, score, pick }),
        1 => (any::<bool>(), any::<bool>(), any::<u8>()).prop_map(|(s, r, pick)| Action::Failed { stale: s, retryable: r, pick }),
        4 => (any::<bool>(), 0..RegistryStatus::ALL.len())
            .prop_map(|(s, st)| Action::Registry { stale: s && st % 3 == 0, status: st }),
        2 => any::<bool>().prop_map(|s| Action::RegistryDown { stale: s }),
        3 => (any::<bool>(), any::<bool>()).prop_map(|(r, s)| Action::Timer { registry: r, stale: s }),
        2 => (0u64..200_000).prop_map(Action::Clock),
        1 => (0u8..4).prop_map(Action::Operator),
        1 => (0usize..8).prop_map(Action::Edit),
        1 => (0usize..8).prop_map(Action::Revoke),
        1 => Just(Action::IdentityChanged),
        2 => any::<bool>().prop_map(Action::Contact),
        1 => Just(Action::OptedOut),
    ]
}

fn flow(which: u8) -> Flow {
    match which {
        0 => Flow::preset("mx-ine"),
        1 => Flow::preset("co-cedula"),
        2 => Flow::preset("pe-dni"),
        _ => Flow::preset("mx-ine").map(|mut f| {
            // Strict variant: one photo per step, rejects on exhaustion, approve-with-flag, and
            // a first registry keyed by the user's phone (the test key has none: it is asked).
            f.id = "strict".into();
            for s in &mut f.steps {
                match s {
                    Step::Document(d) => {
                        d.max_attempts = 1;
                        d.on_exhausted = OnExhausted::Reject;
                    }
                    Step::Selfie(p) => {
                        p.max_attempts = 2;
                        p.uncertified_liveness = UncertifiedLiveness::ApproveWithFlag;
                    }
                    Step::Registry(r) => {
                        r.max_attempts = 1;
                        r.checks[0].phone = Some("msisdn".into());
                    }
                    _ => {}
                }
            }
            f
        }),
    }
    .expect("preset")
}

/// Runs events, tracking what a runtime would (timers, sent message ids).
struct Driver<'a> {
    flow: &'a Flow,
    catalog: &'a Catalog,
    session: Session,
    now: Timestamp,
    timers: BTreeMap<String, (Timestamp, u64)>,
    messages: Vec<Inbound>,
    log: Vec<(Event, Timestamp)>,
    commands: Vec<Command>,
    /// Check the invariants after every step (off for deliberately corrupted sessions).
    check: bool,
}

impl<'a> Driver<'a> {
    fn new(flow: &'a Flow, catalog: &'a Catalog) -> Self {
        let key = SessionKey::new("t", "pn", UserRef::Phone("5215550000000".into()));
        let now = Timestamp(T0);
        Self {
            flow,
            catalog,
            session: start(flow, key, "s".into(), None, now),
            now,
            timers: BTreeMap::new(),
            messages: Vec::new(),
            log: Vec::new(),
            commands: Vec::new(),
            check: true,
        }
    }

    fn apply(&mut self, event: Event) -> Result<(), TestCaseError> {
        self.now = self.now.plus(Duration::from_secs(1));
        let before = self.session.clone();
        let t = step(self.flow, self.catalog, before.clone(), &event, self.now);
        if self.check {
            check_invariants(self.flow, self.catalog, &before, &t.session, &t.commands)?;
            check_result_classified(&event, &t.commands)?;
        }
        for c in &t.commands {
            match c {
                Command::SetTimer { name, at, token } => {
                    self.timers.insert(name.clone(), (*at, *token));
                }
                Command::CancelTimer { name } => {
                    self.timers.remove(name);
                }
                _ => {}
            }
        }
        self.commands.extend(t.commands);
        self.session = t.session;
        self.log.push((event, self.now));
        Ok(())
    }

    fn inbound(&mut self, content: InboundContent) -> Result<(), TestCaseError> {
        let m = Inbound {
            message_id: format!("wamid.{}", self.messages.len()),
            at: self.now,
            content,
            forwarded: false,
            phone: None,
        };
        self.messages.push(m.clone());
        self.apply(Event::Inbound(m))
    }

    /// One of the photos in flight (chosen by `pick`): its capture number (or a stale one) and
    /// the step it is analysed for.
    fn capture(&self, stale: bool, pick: u8) -> (u32, Option<&'a Step>) {
        let flying: Vec<_> = self
            .session
            .pending
            .iter()
            .filter(|p| p.in_flight())
            .collect();
        let chosen = flying.get(usize::from(pick) % flying.len().max(1));
        let current = chosen.map_or(0, |p| p.capture);
        let step = chosen.and_then(|p| self.flow.steps.get(usize::from(p.step)));
        if stale {
            (current.wrapping_sub(1), step)
        } else {
            (current, step)
        }
    }

    fn act(&mut self, a: &Action) -> Result<(), TestCaseError> {
        let media = |i: usize| MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: format!("m{i}"),
            mime_type: Some(
                if i == 5 {
                    "application/pdf"
                } else {
                    "image/jpeg"
                }
                .into(),
            ),
            sha256: None,
        };
        match a {
            Action::Progress => {
                let State::Step { index, phase } = self.session.state else {
                    return Ok(());
                };
                let processing = phase == kyc_flow_core::Phase::Processing;
                let flying = self.capture(false, 0).1;
                let next = match self.flow.steps.get(usize::from(index)) {
                    Some(Step::Consent(_)) => Action::Tap(true),
                    Some(Step::Document(_) | Step::Selfie(_)) if processing => match flying {
                        Some(Step::Selfie(_)) => Action::Selfie {
                            stale: false,
                            outcome: 5,
                            score: 0.9,
                            pick: 0,
                        },
                        _ => Action::Doc {
                            stale: false,
                            outcome: 4,
                            low_confidence: false,
                            pick: 0,
                        },
                    },
                    Some(Step::Document(_) | Step::Selfie(_)) => Action::Media(0),
                    Some(Step::Registry(_)) => Action::Registry {
                        stale: false,
                        status: 0,
                    },
                    _ => return Ok(()),
                };
                self.act(&next)
            }
            Action::Text(i) => self.inbound(InboundContent::Text {
                body: TEXTS[*i].into(),
            }),
            Action::Tap(yes) => self.inbound(InboundContent::Reply {
                id: if *yes {
                    CONSENT_ACCEPT
                } else {
                    CONSENT_DECLINE
                }
                .into(),
                title: String::new(),
            }),
            Action::Media(i) => {
                let kind = [
                    MediaKind::Image,
                    MediaKind::Image,
                    MediaKind::Image,
                    MediaKind::Video,
                    MediaKind::Sticker,
                    MediaKind::Document,
                ][*i];
                self.inbound(InboundContent::Media {
                    kind,
                    media: media(self.messages.len() * 10 + i),
                    caption: Some("Ana".into()),
                })
            }
            Action::Location => self.inbound(InboundContent::Location {
                latitude: 1.0,
                longitude: 2.0,
            }),
            Action::Other => self.inbound(InboundContent::Other {
                kind: "contacts".into(),
            }),
            Action::Redeliver(i) => {
                let Some(m) = self.messages.get(*i).cloned() else {
                    return Ok(());
                };
                // A redelivered message changes nothing — if still within the remembered window.
                let before = self.session.clone();
                let remembered = before
                    .recent
                    .contains(&kyc_flow_core::session::message_hash(&m.message_id));
                let t = step(
                    self.flow,
                    self.catalog,
                    before.clone(),
                    &Event::Inbound(m.clone()),
                    self.now,
                );
                if remembered {
                    prop_assert_eq!(&t.session, &before);
                    prop_assert!(t.commands.is_empty());
                }
                self.apply(Event::Inbound(m))
            }
            Action::Doc {
                stale,
                outcome,
                low_confidence,
                pick,
            } => {
                let (capture, flying) = self.capture(*stale, *pick);
                let side = match flying {
                    Some(Step::Document(d)) => d.side,
                    _ => Side::Back,
                };
                let outcome = if *outcome < 4 {
                    DocumentOutcome::Retake {
                        reason: [
                            RetakeReason::Glare,
                            RetakeReason::WrongSide,
                            RetakeReason::FaceNotDocument,
                            RetakeReason::Expired,
                        ][usize::from(*outcome)],
                        detail: String::new(),
                    }
                } else {
                    let mut fields = BTreeMap::new();
                    for (k, v) in [
                        ("curp", "GALA900514MDFRPN07"),
                        ("cic", "1"),
                        ("citizen_id", "2"),
                        ("document_number", "3"),
                        ("issue_date", "2010-01-01"),
                        (
                            "birth_date",
                            if *outcome == 4 {
                                "1990-01-01"
                            } else {
                                "2015-01-01"
                            },
                        ),
                        ("expiry_date", "2030-01-01"),
                    ] {
                        fields.insert(
                            k.to_owned(),
                            ExtractedField {
                                value: v.into(),
                                confidence: if *low_confidence { 0.1 } else { 0.9 },
                                source: FieldSource::Printed,
                            },
                        );
                    }
                    DocumentOutcome::Accepted {
                        data: DocumentData {
                            fields,
                            checks: vec![CrossCheck {
                                name: "x".into(),
                                passed: true,
                                detail: String::new(),
                            }],
                            portrait_found: true,
                        },
                    }
                };
                self.apply(Event::DocumentAnalysed {
                    capture,
                    side,
                    outcome,
                })
            }
            Action::Selfie {
                stale,
                outcome,
                score,
                pick,
            } => {
                let (capture, _) = self.capture(*stale, *pick);
                let outcome = if *outcome < 2 {
                    SelfieOutcome::Retake {
                        reason: RetakeReason::ALL[10 + usize::from(*outcome)],
                        detail: String::new(),
                    }
                } else {
                    SelfieOutcome::Analysed {
                        face: FaceComparison {
                            score: *score,
                            threshold: 0.5,
                            matched: *score >= 0.5,
                            engine: "t".into(),
                        },
                        liveness: LivenessVerdict {
                            live: *outcome != 2,
                            score: 0.9,
                            engine: "t".into(),
                            certified: *outcome == 5,
                            certification: None,
                            signals: Vec::new(),
                        },
                        signals: Vec::new(),
                    }
                };
                self.apply(Event::SelfieAnalysed { capture, outcome })
            }
            Action::Failed {
                stale,
                retryable,
                pick,
            } => {
                let (capture, _) = self.capture(*stale, *pick);
                self.apply(Event::AnalysisFailed {
                    capture,
                    retryable: *retryable,
                    reason: "engine".into(),
                })
            }
            Action::Registry { stale, status } => {
                let request = self
                    .session
                    .registry
                    .pending
                    .wrapping_add(u32::from(*stale));
                let registry = match self.session.state {
                    State::Step { index, .. } => match self.flow.steps.get(usize::from(index)) {
                        Some(Step::Registry(r)) => r
                            .checks
                            .get(usize::from(self.session.registry.check))
                            .map(|c| c.registry.clone()),
                        _ => None,
                    },
                    _ => None,
                }
                .unwrap_or(kyc_flow_core::RegistryId("x".into()));
                self.apply(Event::RegistryAnswered {
                    request,
                    result: RegistryResult {
                        registry,
                        status: RegistryStatus::ALL[*status],
                        raw_label: None,
                        matched_fields: vec![],
                        source: "t".into(),
                        requested_at: self.now,
                        answered_at: self.now,
                    },
                })
            }
            Action::RegistryDown { stale } => self.apply(Event::RegistryFailed {
                request: self
                    .session
                    .registry
                    .pending
                    .wrapping_add(u32::from(*stale)),
                reason: "down".into(),
            }),
            Action::Timer { registry, stale } => {
                // The burst timer fires whenever it is due, before the timer asked for.
                if let Some((at, token)) = self.timers.remove("burst") {
                    self.now = self.now.max(at);
                    self.apply(Event::TimerFired {
                        name: "burst".into(),
                        token,
                    })?;
                }
                let name = if *registry { "registry" } else { "inactivity" };
                let token = self.timers.get(name).map_or(0, |t| t.1);
                if let Some((at, _)) = self.timers.get(name) {
                    self.now = self.now.max(*at);
                }
                if !stale {
                    self.timers.remove(name);
                }
                self.apply(Event::TimerFired {
                    name: name.into(),
                    token: if *stale { token.wrapping_add(7) } else { token },
                })
            }
            Action::Clock(secs) => {
                self.now = self.now.plus(Duration::from_secs(*secs));
                Ok(())
            }
            Action::Operator(d) => self.apply(Event::OperatorDecision {
                decision: match d {
                    0 => Decision::Approved { reasons: vec![] },
                    1 => Decision::Rejected { reasons: vec![] },
                    2 => Decision::ManualReview { reasons: vec![] },
                    _ => Decision::Cancelled,
                },
                operator: "op".into(),
                note: None,
            }),
            Action::Edit(i) => self.apply(Event::MessageEdited {
                message_id: format!("wamid.{i}"),
            }),
            Action::Revoke(i) => self.apply(Event::MessageRevoked {
                message_id: format!("wamid.{i}"),
            }),
            Action::IdentityChanged => self.apply(Event::IdentityChanged { new_user: None }),
            Action::Contact(true) => self.inbound(InboundContent::ContactInfo {
                phone: kyc_flow_core::PhoneNumber::parse("+16505551234").expect("a number"),
            }),
            Action::Contact(false) => self.inbound(InboundContent::Other {
                kind: "contacts".into(),
            }),
            Action::OptedOut => self.apply(Event::OptedOut),
        }
    }

    /// Fire every pending timer, earliest first, the way a runtime would as the clock runs.
    fn run_clock_out(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..100 {
            if self.session.is_terminal() {
                break;
            }
            let Some((name, (at, token))) = self
                .timers
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(n, v)| (n.clone(), *v))
            else {
                break;
            };
            self.timers.remove(&name);
            self.now = self.now.max(at);
            self.apply(Event::TimerFired { name, token })?;
        }
        Ok(())
    }
}

/// The photos a session holds: bounded; every analysis in flight has its own capture number,
/// is for a capture step from the current one on that is not accepted, one per step; a selfie
/// is analysed only at its own step.
fn check_held(flow: &Flow, s: &Session, current: usize) -> Result<(), TestCaseError> {
    prop_assert!(s.pending.len() <= kyc_flow_core::session::MAX_HELD_PHOTOS);
    let flying: Vec<_> = s.pending.iter().filter(|p| p.in_flight()).collect();
    for (i, p) in flying.iter().enumerate() {
        let step = usize::from(p.step);
        prop_assert!(step >= current, "in flight for an earlier step");
        prop_assert!(
            !s.accepted.iter().any(|a| a.step == p.step),
            "in flight for an accepted step"
        );
        match flow.steps.get(step) {
            Some(Step::Document(_)) => {}
            Some(Step::Selfie(_)) => prop_assert_eq!(step, current, "selfie analysed early"),
            _ => prop_assert!(false, "in flight for a step that takes no photo"),
        }
        for q in &flying[i + 1..] {
            prop_assert_ne!(p.capture, q.capture);
            prop_assert_ne!(p.step, q.step, "two analyses in flight for one step");
        }
    }
    Ok(())
}

/// Every analysis result is classified exactly once: accepted, retaken (or failed), re-filed
/// under the step its content belongs to, or stale.
fn check_result_classified(event: &Event, commands: &[Command]) -> Result<(), TestCaseError> {
    if !matches!(
        event,
        Event::DocumentAnalysed { .. }
            | Event::SelfieAnalysed { .. }
            | Event::AnalysisFailed { .. }
    ) {
        return Ok(());
    }
    let kinds: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Audit(a) => Some(a.kind.as_str()),
            _ => None,
        })
        .filter(|k| {
            matches!(
                *k,
                "capture.accepted"
                    | "capture.retake"
                    | "capture.failed"
                    | "capture.refiled"
                    | "result.stale"
            )
        })
        .collect();
    prop_assert_eq!(kinds.len(), 1, "{:?} classified as {:?}", event, kinds);
    Ok(())
}

fn check_invariants(
    flow: &Flow,
    catalog: &Catalog,
    before: &Session,
    after: &Session,
    commands: &[Command],
) -> Result<(), TestCaseError> {
    for (i, step) in flow.steps.iter().enumerate() {
        if let Some(max) = step.max_attempts() {
            let used = after.attempts.get(i).copied().unwrap_or(0);
            prop_assert!(used <= max, "step {} used {used} of {max}", step.name());
        }
    }
    prop_assert_eq!(after.is_terminal(), after.decision.is_some());
    // Timers and the photo in flight match the state.
    match after.state {
        State::Decided => {
            prop_assert_eq!(after.inactivity_timer, 0);
            prop_assert_eq!(after.registry_timer, 0);
            prop_assert_eq!(after.burst_timer, 0);
            prop_assert!(after.pending.is_empty());
        }
        State::Step { index, phase } => match flow.steps.get(usize::from(index)) {
            Some(Step::Registry(_)) => {
                prop_assert!(after.registry_timer != 0);
                prop_assert!(
                    after.pending.is_empty(),
                    "photos held past the capture steps"
                );
            }
            Some(step) => {
                prop_assert!(
                    after.inactivity_timer != 0,
                    "no inactivity timer at {}",
                    step.name()
                );
                let capture = matches!(step, Step::Document(_) | Step::Selfie(_));
                prop_assert_eq!(
                    capture && phase == kyc_flow_core::Phase::Processing,
                    after.pending.iter().any(|p| p.in_flight()),
                    "processing exactly while an analysis is in flight"
                );
                if !capture {
                    prop_assert!(after.pending.is_empty());
                }
                check_held(flow, after, usize::from(index))?;
            }
            None => prop_assert!(false, "step index out of range"),
        },
        State::New => {}
    }
    // A capture step waiting for a photo always has an attempt left to take it (no dead end).
    if let State::Step { index, phase } = after.state
        && let (Some(max), true) = (
            flow.steps
                .get(usize::from(index))
                .and_then(Step::max_attempts),
            matches!(
                phase,
                kyc_flow_core::Phase::Awaiting | kyc_flow_core::Phase::Retake
            ),
        )
    {
        let used = after.attempts.get(usize::from(index)).copied().unwrap_or(0);
        prop_assert!(
            used < max,
            "waiting at step {index} with {used}/{max} attempts used"
        );
    }
    prop_assert!(after.seq == before.seq || after.seq == before.seq + 1);
    if before.is_terminal() && !after.is_terminal() {
        // Only a user starting over after declining, STOP or expiry reopens — as a new session.
        prop_assert!(before.can_restart(), "a decided session reopened");
        prop_assert_eq!(after.restarts, before.restarts + 1);
        prop_assert_ne!(&after.id, &before.id);
        prop_assert!(after.evidence.documents.is_empty() && after.attempts.iter().all(|&a| a == 0));
    }
    prop_assert!(after.restarts <= kyc_flow_core::session::MAX_RESTARTS);
    if after.is_terminal() && !before.is_terminal() {
        prop_assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::DeliverDecision { .. })),
            "a decision is delivered"
        );
        prop_assert!(after.pending.is_empty());
    }
    for c in commands {
        if let Command::Send(spec) = c {
            // Everything the machine says renders in the session's language.
            let rendered = catalog.render(spec, after.locale);
            prop_assert!(rendered.is_ok(), "{:?}: {:?}", spec, rendered);
            if spec.key.starts_with("retake.") {
                // A retake is asked only for the step the conversation is at, never for a step
                // whose photo was accepted.
                let State::Step { index, phase } = after.state else {
                    prop_assert!(false, "retake prompt outside a step: {}", spec.key);
                    continue;
                };
                prop_assert_eq!(phase, kyc_flow_core::Phase::Retake, "{}", spec.key);
                prop_assert!(
                    !after.accepted.iter().any(|a| a.step == index),
                    "retake prompt {} for an accepted step",
                    spec.key
                );
            }
        }
    }
    let json = serde_json::to_string(after).expect("serialize");
    let back: Session = serde_json::from_str(&json).expect("deserialize");
    prop_assert_eq!(&back, after);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// No sequence panics; attempts stay within limits; the clock run past expiry ends every
    /// session; replaying the log rebuilds the same session and commands, also across a
    /// save/load in the middle.
    #[test]
    fn random_conversations(which in 0u8..4, actions in prop::collection::vec(action(), 0..80), cut in 0usize..60, calm: bool) {
        let flow = flow(which);
        let catalog = Catalog::builtin();
        let mut d = Driver::new(&flow, &catalog);
        // The runtime creates a session on the user's first message.
        d.inbound(InboundContent::Text { body: "hola".into() })?;
        for a in actions.iter().filter(|a| !(calm && a.ends_session())) {
            d.act(a)?;
        }
        d.run_clock_out()?;
        prop_assert!(d.session.is_terminal(), "not terminal after the clock ran out: {:?}", d.session.state);

        // Replay from start.
        let mut replay = start(&flow, d.session.key.clone(), "s".into(), None, Timestamp(T0));
        let mut commands = Vec::new();
        for (i, (event, now)) in d.log.iter().enumerate() {
            if i == cut.min(d.log.len()) {
                // Save and load in the middle: the stored form loses nothing.
                let json = serde_json::to_vec(&replay).expect("serialize");
                replay = serde_json::from_slice(&json).expect("deserialize");
            }
            let t = step(&flow, &catalog, replay, event, *now);
            replay = t.session;
            commands.extend(t.commands);
        }
        prop_assert_eq!(&replay, &d.session);
        prop_assert_eq!(&commands, &d.commands);

        // Every photo, video or file the user sent was deleted from the platform by the end.
        let received: std::collections::BTreeSet<&str> = d
            .log
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Inbound(Inbound { content: InboundContent::Media { media, .. }, .. }) => {
                    Some(media.media_id.as_str())
                }
                _ => None,
            })
            .collect();
        let deleted: std::collections::BTreeSet<&str> = commands
            .iter()
            .filter_map(|c| match c {
                Command::DeleteMedia { media } => Some(media.media_id.as_str()),
                _ => None,
            })
            .collect();
        prop_assert!(received.is_subset(&deleted), "kept media: {:?}", received.difference(&deleted).collect::<Vec<_>>());
    }

    /// Totality: even a session corrupted in storage (step index out of range, attempt counts
    /// of the wrong length, a pending capture or registry request that never existed) is
    /// stepped without a panic.
    #[test]
    fn corrupted_sessions_never_panic(
        which in 0u8..4,
        index in 0u16..12,
        phase in 0u8..4,
        attempts in prop::collection::vec(any::<u8>(), 0..10),
        captures in any::<u32>(),
        requests in any::<u32>(),
        reg_check in any::<u8>(),
        reg_pending in any::<u32>(),
        timers in any::<(u64, u64, u64)>(),
        actions in prop::collection::vec(action(), 1..30),
    ) {
        let flow = flow(which);
        let catalog = Catalog::builtin();
        let mut d = Driver::new(&flow, &catalog);
        d.check = false;
        d.inbound(InboundContent::Text { body: "hola".into() })?;
        let s = &mut d.session;
        s.state = State::Step {
            index,
            phase: [
                kyc_flow_core::Phase::Awaiting,
                kyc_flow_core::Phase::Processing,
                kyc_flow_core::Phase::Retake,
                kyc_flow_core::Phase::Done,
            ][usize::from(phase)],
        };
        s.attempts = attempts;
        s.captures = captures;
        s.requests = requests;
        s.registry.check = reg_check;
        s.registry.pending = reg_pending;
        (s.timer_tokens, s.inactivity_timer, s.registry_timer) = timers;
        for a in &actions {
            d.act(a)?;
        }
        d.run_clock_out()?;
    }

    /// Whatever the message, the machine answers an active session and never sends to a user
    /// after a STOP except status replies.
    #[test]
    fn stop_always_ends(which in 0u8..3, actions in prop::collection::vec(action(), 0..20)) {
        let flow = flow(which);
        let catalog = Catalog::builtin();
        let mut d = Driver::new(&flow, &catalog);
        d.inbound(InboundContent::Text { body: "hola".into() })?;
        for a in &actions {
            d.act(a)?;
        }
        let was_terminal = d.session.is_terminal();
        let before = d.commands.len();
        d.inbound(InboundContent::Text { body: "Stop".into() })?;
        prop_assert!(d.session.is_terminal());
        if was_terminal {
            // Silence after the end: no message, no restart.
            prop_assert!(!d.commands[before..].iter().any(|c| matches!(c, Command::Send(_))));
        } else {
            prop_assert_eq!(&d.session.decision, &Some(Decision::Cancelled));
        }
    }
}

/// What a photo in an album property shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shows {
    Front,
    Back,
    Face,
}

/// One step of a schedule: the user sends the next photo, an analysis in flight (chosen by
/// the number) finishes, or the burst timer fires.
#[derive(Debug, Clone)]
enum Tick {
    Send,
    Answer(u8),
    Burst,
}

fn tick() -> impl Strategy<Value = Tick> {
    prop_oneof![
        3 => Just(Tick::Send),
        3 => any::<u8>().prop_map(Tick::Answer),
        1 => Just(Tick::Burst),
    ]
}

/// The largest a stored session may be while photos are being taken (issue 2's budget).
const SESSION_BUDGET: usize = 2048;

/// Realistic references (long ids, a hash), so the size bound is measured on what WhatsApp sends.
fn real_media(n: usize) -> MediaRef {
    MediaRef {
        phone_number_id: PhoneNumberId("106540352242922".into()),
        media_id: format!("{}", 1_204_567_890_123_456u64 + n as u64),
        mime_type: Some("image/jpeg".into()),
        sha256: Some("zjU5ZGQ0ZjVhNGVkZjg2YzA2NmY5ZTVkYzE3ZjE5ZGQ=".into()),
    }
}

/// The engines answer from the photo's content, as a correct reader and face engine would.
fn content_answer(
    flow: &Flow,
    shows: Shows,
    capture: u32,
    step: &Step,
    side: Option<Side>,
) -> Event {
    let good = |side: Side| {
        // What each preset's reader extracts from each side (as many fields as the real ones).
        let rows: &[(&str, &str)] = match (flow.id.as_str(), side) {
            ("co-cedula", Side::Front) => &[
                ("document_number", "1020304050"),
                ("surnames", "RODRIGUEZ PEREZ"),
                ("given_names", "CARLOS ANDRES"),
            ],
            ("co-cedula", _) => &[
                ("birth_date", "1988-02-03"),
                ("issue_date", "2006-02-10"),
                ("sex", "M"),
            ],
            ("pe-dni", Side::Front) => &[
                ("document_number", "45678912"),
                ("surnames", "QUISPE MAMANI"),
                ("given_names", "ROSA"),
                ("expiry_date", "2030-07-01"),
            ],
            ("pe-dni", _) => &[("birth_date", "1985-09-30"), ("sex", "F")],
            (_, Side::Front) => &[
                ("surnames", "GARCIA LOPEZ"),
                ("given_names", "ANA MARIA"),
                ("birth_date", "1990-05-14"),
                ("sex", "F"),
                ("curp", "GALA900514MDFRPN07"),
                ("voter_key", "GRLPAN90051409M700"),
                ("expiry_date", "2031-12-31"),
            ],
            (_, _) => &[
                ("cic", "IDMEX2345678901"),
                ("citizen_id", "1234567890123"),
                ("birth_date", "1990-05-14"),
            ],
        };
        let mut fields = BTreeMap::new();
        for &(k, v) in rows {
            fields.insert(
                k.to_owned(),
                ExtractedField {
                    value: v.into(),
                    confidence: 0.9,
                    source: FieldSource::Printed,
                },
            );
        }
        DocumentOutcome::Accepted {
            data: DocumentData {
                fields,
                checks: vec![CrossCheck {
                    name: "mrz_check_digits".into(),
                    passed: true,
                    detail: String::new(),
                }],
                portrait_found: side == Side::Front,
            },
        }
    };
    let retake = |reason| DocumentOutcome::Retake {
        reason,
        detail: String::new(),
    };
    match step {
        Step::Document(_) => {
            let side = side.unwrap_or(Side::Front);
            let outcome = match (shows, side) {
                (Shows::Front, Side::Front) | (Shows::Back, Side::Back) => good(side),
                (Shows::Front | Shows::Back, _) => retake(RetakeReason::WrongSide),
                (Shows::Face, _) => retake(RetakeReason::FaceNotDocument),
            };
            Event::DocumentAnalysed {
                capture,
                side,
                outcome,
            }
        }
        _ => Event::SelfieAnalysed {
            capture,
            outcome: if shows == Shows::Face {
                SelfieOutcome::Analysed {
                    face: FaceComparison {
                        score: 0.9,
                        threshold: 0.5,
                        matched: true,
                        engine: "t".into(),
                    },
                    liveness: LivenessVerdict {
                        live: true,
                        score: 0.9,
                        engine: "t".into(),
                        certified: true,
                        certification: None,
                        signals: Vec::new(),
                    },
                    signals: Vec::new(),
                }
            } else {
                SelfieOutcome::Retake {
                    reason: RetakeReason::NoFace,
                    detail: String::new(),
                }
            },
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Issue 11: the front, the back and the selfie (all or some, once each) sent in any order
    /// and any grouping, with the engines finishing in any order: each photo is filed under
    /// the step its content belongs to; no retake prompt is ever sent; every result is
    /// accepted, re-filed or stale; sessions stay within the size budget; with all three the
    /// onboarding is approved without `too_many_retakes`.
    #[test]
    fn photos_in_any_order_and_grouping(
        which in 0u8..3,
        photos in Just(vec![Shows::Front, Shows::Back, Shows::Face]).prop_shuffle(),
        keep in 1usize..=3,
        ticks in prop::collection::vec(tick(), 0..24),
    ) {
        let flow = flow(which);
        let catalog = Catalog::builtin();
        let mut d = Driver::new(&flow, &catalog);
        d.inbound(InboundContent::Text { body: "hola".into() })?;
        d.inbound(InboundContent::Reply { id: CONSENT_ACCEPT.into(), title: String::new() })?;
        let photos = &photos[..keep];
        let mut content = BTreeMap::new();
        let mut sent = 0;
        let mut outstanding: Vec<(u32, Side, bool)> = Vec::new();
        let mut seen = 0;
        let run = |d: &mut Driver, e: Event| -> Result<(), TestCaseError> { d.apply(e) };
        // Ticks, then whatever is left: every photo sent, every analysis answered.
        let tail = std::iter::repeat_n(Tick::Send, photos.len())
            .chain(std::iter::repeat_n(Tick::Answer(0), 16));
        for t in ticks.into_iter().chain(tail) {
            // Analyses asked for since the last tick.
            for c in &d.commands[seen..] {
                match c {
                    Command::AnalyseDocument { capture, side, media, .. } => {
                        outstanding.push((*capture, *side, true));
                        prop_assert!(content.contains_key(&media.media_id));
                    }
                    Command::AnalyseSelfie { capture, .. } => {
                        outstanding.push((*capture, Side::Front, false));
                    }
                    Command::Send(spec) => {
                        prop_assert!(
                            !spec.key.starts_with("retake.")
                                && spec.key != "analysis.failed"
                                && spec.key != "revoked.photo",
                            "false retake prompt {} (photos {:?})", spec.key, photos
                        );
                    }
                    _ => {}
                }
            }
            seen = d.commands.len();
            if !d.session.is_terminal() && d.session.decision.is_none() {
                let json = serde_json::to_vec(&d.session).expect("serialize");
                prop_assert!(json.len() <= SESSION_BUDGET, "session is {} bytes", json.len());
            }
            match t {
                Tick::Send if sent < photos.len() => {
                    let media = real_media(sent);
                    content.insert(media.media_id.clone(), photos[sent]);
                    sent += 1;
                    d.inbound(InboundContent::Media { kind: MediaKind::Image, media, caption: None })?;
                }
                Tick::Burst => {
                    if let Some((at, token)) = d.timers.remove("burst") {
                        d.now = d.now.max(at);
                        run(&mut d, Event::TimerFired { name: "burst".into(), token })?;
                    }
                }
                Tick::Answer(_) | Tick::Send if !outstanding.is_empty() => {
                    let k = if let Tick::Answer(k) = t { usize::from(k) } else { 0 };
                    let (capture, side, document) = outstanding.remove(k % outstanding.len());
                    // Which photo this analysis is of: the session may have let go of it
                    // (a replaced photo); its content is then any, and the result stale.
                    let held = d.session.pending.iter().find(|p| p.capture == capture).cloned();
                    let (shows, step) = match &held {
                        Some(p) => (
                            content[&p.media.media_id],
                            flow.steps[usize::from(p.step)].clone(),
                        ),
                        None => (Shows::Front, flow.steps[1].clone()),
                    };
                    let e = content_answer(&flow, shows, capture, &step, document.then_some(side));
                    run(&mut d, e)?;
                }
                _ => {}
            }
        }
        // Registries answer valid.
        for _ in 0..8 {
            let at_registry = matches!(d.session.state, State::Step { index, .. }
                if matches!(flow.steps.get(usize::from(index)), Some(Step::Registry(_))));
            if !at_registry { break; }
            d.act(&Action::Progress)?;
        }
        for c in &d.commands[seen..] {
            if let Command::Send(spec) = c {
                prop_assert!(!spec.key.starts_with("retake."), "false retake prompt {}", spec.key);
            }
        }
        let reasons = d.session.decision.as_ref().map(|x| x.reasons().to_vec()).unwrap_or_default();
        prop_assert!(!reasons.contains(&kyc_flow_core::DecisionReason::TooManyRetakes));
        if keep == 3 {
            prop_assert!(
                matches!(d.session.decision, Some(Decision::Approved { .. })),
                "{:?} after {:?}", d.session.decision, photos
            );
        } else {
            // Waiting, with no retake asked, for the first step still missing.
            prop_assert!(!d.session.is_terminal(), "{:?}", d.session.decision);
            prop_assert!(matches!(d.session.state, State::Step { phase: kyc_flow_core::Phase::Awaiting, .. }), "{:?}", d.session.state);
        }
    }
}
