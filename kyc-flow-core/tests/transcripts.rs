//! Transcript snapshots: a scripted conversation in, a readable transcript out.
//!
//! Every scenario goes through [`check`], which plays the user from a script and the engines
//! (document reader, face match and liveness, registries) from a list of canned answers,
//! executing the machine's commands the way the runtime would: messages are rendered with the
//! catalog in the preset's locale, timers fire when the script waits past them, analyses and
//! registry queries are answered in order. Review changes with `cargo insta review`.
//!
//! Analyses take [`ANALYSIS_TIME`] each, longer than the machine's burst window, so a photo is
//! acknowledged before its result, as in the demo. The reader answers from the photo's
//! *content* (its name: `front…`, `back…`, `selfie…`) unless a scenario scripts its answers:
//! the other side is `wrong_side`, a selfie `face_not_document`.

use kyc_flow_core::catalog::{CONSENT_ACCEPT, CONSENT_DECLINE};
use kyc_flow_core::machine::BURST_TIMER;
use kyc_flow_core::ports::{MediaRef, OutboundBody};
use kyc_flow_core::{
    Catalog, Command, CrossCheck, Decision, DocumentData, DocumentOutcome, Event, ExtractedField,
    FaceComparison, FieldSource, Flow, Inbound, InboundContent, LivenessVerdict, MediaKind,
    MessageDelivery, PhoneNumberId, RegistryResult, RegistryStatus, RetakeReason, SelfieOutcome,
    Session, SessionKey, Side, Step, Timestamp, UserRef, VideoLiveness, VideoOutcome, VideoStep,
    start, step,
};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

/// 2026-03-02T15:00:00Z.
const T0: i64 = 1_772_463_600_000;

/// How long the engines take over one analysis (more than the burst window).
const ANALYSIS_TIME: Duration = Duration::from_secs(3);

/// One line of a script: what the user does, or time passing.
#[derive(Clone)]
enum Say {
    Text(&'static str),
    Tap(&'static str),
    Photo(&'static str),
    /// Several photos a second apart (an album, or quick messages), before any result.
    Album(&'static [&'static str]),
    Video,
    Wait(Duration),
    Revoke(&'static str),
    Operator(Decision),
}

/// What the document reader answers for the next photo (default: accepted with the preset's
/// fields for the side asked).
#[derive(Clone)]
enum Doc {
    Retake(RetakeReason),
    Accept,
}

/// What face match + liveness answer for the next selfie.
#[derive(Clone)]
enum Selfie {
    Pass { certified: bool },
    Retake(RetakeReason),
}

/// What the video-liveness engine answers for the next video note.
#[derive(Clone)]
enum Vid {
    Pass,
    Retake(RetakeReason),
}

/// What the registry answers for the next query.
#[derive(Clone)]
enum Reg {
    Answer(RegistryStatus),
    Down,
}

#[derive(Default, Clone)]
struct Engines {
    documents: Vec<Doc>,
    selfies: Vec<Selfie>,
    videos: Vec<Vid>,
    registry: Vec<Reg>,
    /// The engines finish the newest analysis first (two workers, the later photo quicker).
    newest_first: bool,
}

/// What a photo shows, from its name in the script.
#[derive(Clone, Copy, PartialEq)]
enum Shows {
    Side(Side),
    Face,
    Nothing,
}

fn shows(name: &str) -> Shows {
    if name.starts_with("front") {
        Shows::Side(Side::Front)
    } else if name.starts_with("back") {
        Shows::Side(Side::Back)
    } else if name.starts_with("selfie") {
        Shows::Face
    } else {
        Shows::Nothing
    }
}

/// Audit lines shown in transcripts: how photos were filed, and results ignored as stale.
const FILING: [&str; 8] = [
    "capture.kept",
    "capture.refiled",
    "capture.superseded",
    "capture.requeued",
    "capture.duplicate",
    "capture.unused",
    "capture.overflow",
    "result.stale",
];

fn h(hours: u64) -> Duration {
    Duration::from_secs(hours * 3600)
}

fn field(v: &str, source: FieldSource) -> ExtractedField {
    ExtractedField {
        value: v.to_owned(),
        confidence: 0.95,
        source,
    }
}

/// Fields a reader would extract from each side of each preset's document (made-up people).
fn document_fields(flow: &str, side: Side) -> BTreeMap<String, ExtractedField> {
    let p = FieldSource::Printed;
    let rows: Vec<(&str, ExtractedField)> = match (flow, side) {
        ("mx-ine", Side::Front) => vec![
            ("surnames", field("GARCIA LOPEZ", p)),
            ("given_names", field("ANA MARIA", p)),
            ("birth_date", field("1990-05-14", p)),
            ("sex", field("F", p)),
            ("curp", field("GALA900514MDFRPN07", p)),
            ("expiry_date", field("2031-12-31", p)),
        ],
        ("mx-ine", Side::Back) => vec![
            ("cic", field("123456789", FieldSource::Mrz)),
            ("citizen_id", field("1234567890123", FieldSource::Mrz)),
        ],
        ("co-cedula", Side::Front) => vec![
            ("document_number", field("1020304050", p)),
            ("surnames", field("RODRIGUEZ PEREZ", p)),
            ("given_names", field("CARLOS ANDRES", p)),
        ],
        ("co-cedula", Side::Back) => vec![
            ("birth_date", field("1988-02-03", FieldSource::Barcode)),
            ("issue_date", field("2006-02-10", p)),
            ("sex", field("M", FieldSource::Barcode)),
        ],
        ("pe-dni", Side::Front) => vec![
            ("document_number", field("45678912", p)),
            ("surnames", field("QUISPE MAMANI", p)),
            ("given_names", field("ROSA", p)),
            ("expiry_date", field("2030-07-01", p)),
        ],
        (_, _) => vec![
            ("birth_date", field("1985-09-30", FieldSource::Mrz)),
            ("sex", field("F", FieldSource::Mrz)),
        ],
    };
    rows.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

struct Harness {
    flow: Flow,
    catalog: Catalog,
    session: Session,
    now: Timestamp,
    engines: Engines,
    /// name -> (at, token)
    timers: BTreeMap<String, (Timestamp, u64)>,
    photos: BTreeMap<&'static str, String>,
    next_message: u32,
    /// Analyses asked for and not yet answered, oldest first.
    analyses: VecDeque<Command>,
    out: String,
}

impl Harness {
    fn on(flow: Flow, engines: Engines) -> Self {
        let key = SessionKey::new("acme", "15550001111", UserRef::Bsuid("MX.123".into()));
        let now = Timestamp(T0);
        let session = start(&flow, key, "s-1".into(), None, now);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# {} v{} · {}",
            flow.id,
            flow.version,
            session.locale.tag()
        );
        Self {
            flow,
            catalog: Catalog::builtin(),
            session,
            now,
            engines,
            timers: BTreeMap::new(),
            photos: BTreeMap::new(),
            next_message: 0,
            analyses: VecDeque::new(),
            out,
        }
    }

    fn line(&mut self, s: impl AsRef<str>) {
        self.out.push_str(s.as_ref());
        self.out.push('\n');
    }

    fn media(&self, id: &str) -> MediaRef {
        MediaRef {
            phone_number_id: PhoneNumberId("15550001111".into()),
            media_id: id.to_owned(),
            mime_type: Some("image/jpeg".into()),
            sha256: None,
        }
    }

    fn inbound(&mut self, content: InboundContent) -> String {
        self.inbound_after(Duration::from_secs(20), content)
    }

    fn inbound_after(&mut self, gap: Duration, content: InboundContent) -> String {
        self.next_message += 1;
        let id = format!("wamid.{}", self.next_message);
        self.now = self.now.plus(gap);
        self.feed(Event::Inbound(Inbound {
            message_id: id.clone(),
            at: self.now,
            content,
            forwarded: false,
            phone: None,
        }));
        id
    }

    fn say(&mut self, s: &Say) {
        self.act(s);
        self.answer_analyses();
    }

    fn photo(&mut self, name: &'static str, gap: Duration) {
        self.line(format!("user: [photo {name}]"));
        let media = self.media(name);
        let id = self.inbound_after(
            gap,
            InboundContent::Media {
                kind: MediaKind::Image,
                media,
                caption: None,
            },
        );
        self.photos.insert(name, id);
    }

    /// The engines work through the analyses asked for, each taking [`ANALYSIS_TIME`];
    /// timers due meanwhile (the burst acknowledgement) fire first.
    fn answer_analyses(&mut self) {
        for _ in 0..64 {
            let next = if self.engines.newest_first {
                self.analyses.pop_back()
            } else {
                self.analyses.pop_front()
            };
            let Some(c) = next else { break };
            let until = self.now.plus(ANALYSIS_TIME);
            self.run_timers(until);
            self.now = self.now.max(until);
            if let Some(e) = self.analyse(c) {
                self.feed(e);
            }
        }
    }

    fn act(&mut self, s: &Say) {
        match s {
            Say::Text(t) => {
                self.line(format!("user: {t}"));
                self.inbound(InboundContent::Text {
                    body: (*t).to_owned(),
                });
            }
            Say::Tap(id) => {
                let label = if *id == CONSENT_ACCEPT {
                    "button.accept"
                } else {
                    "button.decline"
                };
                let title = self
                    .catalog
                    .text(label, self.session.locale)
                    .unwrap_or(id)
                    .to_owned();
                self.line(format!("user: (taps {title})"));
                self.inbound(InboundContent::Reply {
                    id: (*id).to_owned(),
                    title,
                });
            }
            Say::Photo(name) => self.photo(name, Duration::from_secs(20)),
            Say::Album(names) => {
                for (i, name) in names.iter().enumerate() {
                    let gap = if i == 0 { 20 } else { 1 };
                    self.photo(name, Duration::from_secs(gap));
                }
            }
            Say::Video => {
                self.line("user: [video]");
                let media = self.media("video");
                self.inbound(InboundContent::Media {
                    kind: MediaKind::Video,
                    media,
                    caption: None,
                });
            }
            Say::Wait(d) => {
                let until = self.now.plus(*d);
                self.line(format!(
                    "  … {}h {}m later",
                    d.as_secs() / 3600,
                    d.as_secs() / 60 % 60
                ));
                self.run_timers(until);
                self.now = self.now.max(until);
            }
            Say::Revoke(name) => {
                self.line(format!("user: (deletes photo {name})"));
                let id = self.photos.get(name).cloned().unwrap_or_default();
                self.now = self.now.plus(Duration::from_secs(20));
                self.feed(Event::MessageRevoked { message_id: id });
            }
            Say::Operator(d) => {
                self.line(format!("operator: {}", d.as_str()));
                self.now = self.now.plus(Duration::from_secs(20));
                self.feed(Event::OperatorDecision {
                    decision: d.clone(),
                    operator: "op-7".into(),
                    note: None,
                });
            }
        }
    }

    fn run_timers(&mut self, until: Timestamp) {
        loop {
            let due = self
                .timers
                .iter()
                .filter(|(_, (at, _))| *at <= until)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(n, (at, t))| (n.clone(), *at, *t));
            let Some((name, at, token)) = due else { break };
            self.timers.remove(&name);
            self.now = self.now.max(at);
            let mins = at.since(Timestamp(T0)).as_secs() / 60;
            if name != BURST_TIMER {
                // The burst timer shows as the acknowledgement it sends.
                self.line(format!("  ⏰ {name} (t+{}h{:02}m)", mins / 60, mins % 60));
            }
            self.feed(Event::TimerFired { name, token });
        }
    }

    /// Apply an event and execute the commands, feeding engine answers back in order.
    fn feed(&mut self, first: Event) {
        let mut queue = VecDeque::from([first]);
        while let Some(event) = queue.pop_front() {
            let t = step(
                &self.flow,
                &self.catalog,
                self.session.clone(),
                &event,
                self.now,
            );
            self.session = t.session;
            for c in t.commands {
                if let Some(e) = self.execute(c) {
                    queue.push_back(e);
                }
            }
        }
    }

    /// The engines' answer to an analysis, from the scripted answers or the photo's content.
    fn analyse(&mut self, c: Command) -> Option<Event> {
        match c {
            Command::AnalyseDocument {
                capture,
                side,
                media,
                ..
            } => {
                let next = if self.engines.documents.is_empty() {
                    match shows(&media.media_id) {
                        Shows::Side(s) if s == side => Doc::Accept,
                        Shows::Side(_) => Doc::Retake(RetakeReason::WrongSide),
                        Shows::Face => Doc::Retake(RetakeReason::FaceNotDocument),
                        Shows::Nothing => Doc::Retake(RetakeReason::Unreadable),
                    }
                } else {
                    self.engines.documents.remove(0)
                };
                let outcome = match next {
                    Doc::Accept => DocumentOutcome::Accepted {
                        data: DocumentData {
                            fields: document_fields(&self.flow.id, side),
                            checks: vec![CrossCheck {
                                name: "check_digits".into(),
                                passed: true,
                                detail: String::new(),
                            }],
                            portrait_found: side == Side::Front,
                        },
                    },
                    Doc::Retake(reason) => DocumentOutcome::Retake {
                        reason,
                        detail: String::new(),
                    },
                };
                let what = match &outcome {
                    DocumentOutcome::Accepted { data } => {
                        format!("accepted, {} fields", data.fields.len())
                    }
                    DocumentOutcome::Retake { reason, .. } => {
                        format!("retake ({})", reason.as_str())
                    }
                };
                // The photo is named when it is not what was asked for.
                let photo = if shows(&media.media_id) == Shows::Side(side) {
                    String::new()
                } else {
                    format!(" [{}]", media.media_id)
                };
                self.line(format!("  reader: {side:?} #{capture}{photo} → {what}"));
                Some(Event::DocumentAnalysed {
                    capture,
                    side,
                    outcome,
                })
            }
            Command::AnalyseSelfie { capture, media, .. } => {
                let next = if !self.engines.selfies.is_empty() {
                    self.engines.selfies.remove(0)
                } else if shows(&media.media_id) == Shows::Face {
                    Selfie::Pass { certified: true }
                } else {
                    Selfie::Retake(RetakeReason::NoFace)
                };
                let outcome = match next {
                    Selfie::Pass { certified } => SelfieOutcome::Analysed {
                        face: FaceComparison {
                            score: 0.82,
                            threshold: 0.6,
                            matched: true,
                            engine: "test-face".into(),
                        },
                        liveness: LivenessVerdict {
                            live: true,
                            score: 0.97,
                            engine: if certified {
                                "vendor:test".into()
                            } else {
                                "local-minifasnet".into()
                            },
                            certified,
                            certification: certified.then(|| "iBeta PAD Level 2".into()),
                            signals: Vec::new(),
                        },
                        signals: Vec::new(),
                    },
                    Selfie::Retake(reason) => SelfieOutcome::Retake {
                        reason,
                        detail: String::new(),
                    },
                };
                let what = match &outcome {
                    SelfieOutcome::Analysed { face, liveness, .. } => format!(
                        "face {:.2}/{:.2}, live {:.2} ({})",
                        face.score,
                        face.threshold,
                        liveness.score,
                        if liveness.certified {
                            "certified"
                        } else {
                            "not certified"
                        }
                    ),
                    SelfieOutcome::Retake { reason, .. } => format!("retake ({})", reason.as_str()),
                };
                let photo = if shows(&media.media_id) == Shows::Face {
                    String::new()
                } else {
                    format!(" [{}]", media.media_id)
                };
                self.line(format!("  face+liveness: #{capture}{photo} → {what}"));
                Some(Event::SelfieAnalysed { capture, outcome })
            }
            Command::AnalyseVideo {
                capture,
                portrait,
                challenge,
                ..
            } => {
                let next = if self.engines.videos.is_empty() {
                    Vid::Pass
                } else {
                    self.engines.videos.remove(0)
                };
                let outcome = match next {
                    Vid::Pass => VideoOutcome::Passed {
                        liveness: VideoLiveness {
                            frames: 12,
                            face_frames: 12,
                            yaw_min: -0.41,
                            yaw_max: 0.38,
                            min_frame_similarity: 0.62,
                            portrait_similarity: portrait.map(|_| 0.57),
                            screen_frames: 0.0,
                            engine: "scripted".into(),
                            certified: false,
                            signals: Vec::new(),
                        },
                    },
                    Vid::Retake(reason) => VideoOutcome::Retake {
                        reason,
                        detail: String::new(),
                    },
                };
                let what = match &outcome {
                    VideoOutcome::Passed { .. } => "passed".to_owned(),
                    VideoOutcome::Retake { reason, .. } => format!("retake ({})", reason.as_str()),
                };
                let against = if portrait.is_some() {
                    " vs portrait"
                } else {
                    ""
                };
                self.line(format!(
                    "  video: #{capture} ({}){against} → {what}",
                    challenge.as_str()
                ));
                Some(Event::VideoAnalysed { capture, outcome })
            }
            _ => None,
        }
    }

    fn execute(&mut self, c: Command) -> Option<Event> {
        match c {
            Command::Send(spec) => {
                let via = match &spec.delivery {
                    MessageDelivery::Session => String::new(),
                    MessageDelivery::Template { name } => format!(" (template {name})"),
                };
                match self.catalog.render(&spec, self.session.locale) {
                    Ok(OutboundBody::Text { body, .. }) => self.line(format!("bot{via}: {body}")),
                    Ok(OutboundBody::Buttons { body, buttons, .. }) => {
                        let b: Vec<_> = buttons.iter().map(|b| b.title.as_str()).collect();
                        self.line(format!("bot{via}: {body} [{}]", b.join(" | ")));
                    }
                    Ok(OutboundBody::Template { .. }) => {
                        let text = self
                            .catalog
                            .text(&spec.key, self.session.locale)
                            .unwrap_or("?")
                            .to_owned();
                        self.line(format!("bot{via}: {text}"));
                    }
                    Ok(other) => self.line(format!("bot{via}: {other:?}")),
                    Err(e) => self.line(format!("bot: RENDER ERROR {e}")),
                }
                None
            }
            c @ (Command::AnalyseDocument { .. }
            | Command::AnalyseSelfie { .. }
            | Command::AnalyseVideo { .. }) => {
                self.analyses.push_back(c);
                None
            }
            Command::QueryRegistry { request, query } => {
                let next = if self.engines.registry.is_empty() {
                    Reg::Answer(RegistryStatus::Valid)
                } else {
                    self.engines.registry.remove(0)
                };
                let fields: Vec<_> = query.fields.keys().map(String::as_str).collect();
                match next {
                    Reg::Answer(status) => {
                        self.line(format!(
                            "  registry: {} by {} #{request} → {}",
                            query.registry.0,
                            fields.join("+"),
                            status.as_str()
                        ));
                        Some(Event::RegistryAnswered {
                            request,
                            result: RegistryResult {
                                registry: query.registry,
                                status,
                                raw_label: None,
                                matched_fields: Vec::new(),
                                source: "test".into(),
                                requested_at: self.now,
                                answered_at: self.now,
                            },
                        })
                    }
                    Reg::Down => {
                        self.line(format!(
                            "  registry: {} #{request} → unreachable",
                            query.registry.0
                        ));
                        Some(Event::RegistryFailed {
                            request,
                            reason: "connection refused".into(),
                        })
                    }
                }
            }
            Command::SetTimer { name, at, token } => {
                self.timers.insert(name, (at, token));
                None
            }
            Command::CancelTimer { name } => {
                self.timers.remove(&name);
                None
            }
            Command::DeliverDecision { decision } => {
                let reasons: Vec<_> = decision
                    .reasons()
                    .iter()
                    .map(|r| kyc_flow_core::machine::reason_name(*r))
                    .collect();
                self.line(format!(
                    "== decision: {} [{}]",
                    decision.as_str(),
                    reasons.join(", ")
                ));
                None
            }
            Command::Audit(a) if FILING.contains(&a.kind.as_str()) => {
                self.line(format!("  · {}: {}", a.kind, a.detail));
                None
            }
            Command::MarkRead { .. }
            | Command::DeleteMedia { .. }
            | Command::DeleteEvidence
            | Command::Audit(_) => None,
        }
    }
}

/// Run `script` on `preset` with the engines answering from `engines`; the transcript.
fn check(preset: &str, script: &[Say], engines: Engines) -> String {
    check_flow(Flow::preset(preset).expect("preset"), script, engines)
}

/// [`check`] on any flow.
fn check_flow(flow: Flow, script: &[Say], engines: Engines) -> String {
    let mut h = Harness::on(flow, engines);
    for s in script {
        h.say(s);
    }
    let _ = writeln!(
        h.out,
        "-- session {} ({} restarts), state: {:?}, attempts {:?}, pending timers {:?}",
        h.session.id,
        h.session.restarts,
        h.session.state,
        h.session.attempts,
        h.timers.keys().collect::<Vec<_>>()
    );
    h.out
}

fn happy() -> Vec<Say> {
    vec![
        Say::Text("Hola"),
        Say::Tap(CONSENT_ACCEPT),
        Say::Photo("front"),
        Say::Photo("back"),
        Say::Photo("selfie"),
    ]
}

/// The eight scenarios every preset is put through.
fn scenarios() -> Vec<(&'static str, Vec<Say>, Engines)> {
    use RetakeReason::*;
    let glare = Engines {
        documents: vec![Doc::Retake(Glare), Doc::Accept],
        ..Engines::default()
    };
    let mut glare_script = happy();
    glare_script.insert(3, Say::Photo("front-again"));
    let too_many = Engines {
        documents: vec![Doc::Retake(Glare), Doc::Retake(Blur), Doc::Retake(TooDark)],
        ..Engines::default()
    };
    let too_many_script = vec![
        Say::Text("Hola"),
        Say::Tap(CONSENT_ACCEPT),
        Say::Photo("front-1"),
        Say::Photo("front-2"),
        Say::Photo("front-3"),
    ];
    let deceased = Engines {
        registry: vec![Reg::Answer(RegistryStatus::Deceased)],
        ..Engines::default()
    };
    let down = Engines {
        registry: vec![Reg::Down, Reg::Down, Reg::Down],
        ..Engines::default()
    };
    let mut down_script = happy();
    down_script.push(Say::Wait(Duration::from_secs(5 * 60)));
    let abandon_script = vec![
        Say::Text("Hola"),
        Say::Tap(CONSENT_ACCEPT),
        Say::Photo("front"),
        Say::Wait(h(80)),
    ];
    let stop_script = vec![
        Say::Text("Hola"),
        Say::Tap(CONSENT_ACCEPT),
        Say::Photo("front"),
        Say::Text("STOP"),
    ];
    let mut after_script = happy();
    after_script.push(Say::Text("¿ya quedó?"));
    after_script.push(Say::Photo("another"));
    vec![
        ("happy_path", happy(), Engines::default()),
        ("glare_then_success", glare_script, glare),
        ("too_many_retakes", too_many_script, too_many),
        ("registry_deceased", happy(), deceased),
        ("registry_down", down_script, down),
        (
            "abandoned_reminders_expiry",
            abandon_script,
            Engines::default(),
        ),
        ("stop_midway", stop_script, Engines::default()),
        ("message_after_decision", after_script, Engines::default()),
    ]
}

#[test]
fn preset_transcripts() {
    for preset in Flow::PRESETS {
        for (name, script, engines) in scenarios() {
            let transcript = check(preset, &script, engines);
            insta::assert_snapshot!(format!("{preset}__{name}"), transcript);
        }
    }
}

/// Scenarios beyond the eight, run on one preset each.
#[test]
fn edge_transcripts() {
    use RetakeReason::*;
    let cases: Vec<(&str, &str, Vec<Say>, Engines)> = vec![
        (
            "mx-ine",
            "decline_consent_restarts_and_their_limit",
            vec![
                Say::Text("hola"),
                Say::Tap(CONSENT_DECLINE),
                Say::Text("hola?"),
                Say::Text("STOP"),
                Say::Text("STOP"),
                Say::Text("perdón, sí quiero"),
                Say::Text("no"),
                Say::Text("hola"),
                Say::Tap(CONSENT_DECLINE),
                Say::Text("hola"),
            ],
            Engines::default(),
        ),
        (
            "pe-dni",
            "guidance_help_and_resume",
            vec![
                Say::Text("hello"),
                Say::Photo("too-early"),
                Say::Text("yes"),
                Say::Text("here it goes"),
                Say::Video,
                Say::Text("ayuda"),
                Say::Wait(h(2)),
                Say::Text("sorry, back"),
                Say::Photo("front"),
            ],
            Engines::default(),
        ),
        (
            "co-cedula",
            "uncertified_liveness_goes_to_review_then_operator_approves",
            vec![
                Say::Text("Hola"),
                Say::Tap(CONSENT_ACCEPT),
                Say::Photo("front"),
                Say::Photo("back"),
                Say::Photo("selfie"),
                Say::Wait(h(30)),
                Say::Operator(Decision::Approved { reasons: vec![] }),
            ],
            Engines {
                selfies: vec![Selfie::Pass { certified: false }],
                ..Engines::default()
            },
        ),
        (
            "mx-ine",
            "selfie_not_live_then_revoked_back_photo",
            vec![
                Say::Text("Hola"),
                Say::Tap(CONSENT_ACCEPT),
                Say::Photo("front"),
                Say::Photo("back"),
                Say::Photo("selfie-1"),
                Say::Revoke("back"),
                Say::Photo("back-2"),
                Say::Photo("selfie-2"),
            ],
            Engines {
                selfies: vec![Selfie::Retake(NotLive)],
                ..Engines::default()
            },
        ),
    ];
    for (preset, name, script, engines) in cases {
        let transcript = check(preset, &script, engines);
        insta::assert_snapshot!(format!("{preset}__{name}"), transcript);
    }
}

/// Issue 11: photos in any order and any grouping, on every preset. The reader answers from
/// each photo's content; every photo that shows what a step needs ends up filed under it.
fn album_scenarios() -> Vec<(&'static str, Vec<Say>, Engines)> {
    use RetakeReason::*;
    let consent = || vec![Say::Text("Hola"), Say::Tap(CONSENT_ACCEPT)];
    let with = |mut head: Vec<Say>, tail: &[Say]| {
        head.extend_from_slice(tail);
        head
    };
    vec![
        (
            "album_front_back",
            with(
                consent(),
                &[Say::Album(&["front", "back"]), Say::Photo("selfie")],
            ),
            Engines::default(),
        ),
        (
            "album_front_back_selfie",
            with(consent(), &[Say::Album(&["front", "back", "selfie"])]),
            Engines::default(),
        ),
        (
            "album_back_front",
            with(
                consent(),
                &[Say::Album(&["back", "front"]), Say::Photo("selfie")],
            ),
            Engines::default(),
        ),
        (
            "back_before_front",
            with(
                consent(),
                &[
                    Say::Photo("back"),
                    Say::Photo("front"),
                    Say::Photo("selfie"),
                ],
            ),
            Engines::default(),
        ),
        (
            "selfie_before_card",
            with(
                consent(),
                &[
                    Say::Photo("selfie"),
                    Say::Photo("front"),
                    Say::Photo("back"),
                ],
            ),
            Engines::default(),
        ),
        (
            // Two photos of the front: the newer is the one analysed for it, the older one's
            // result arrives late and is ignored, and the back is asked for.
            "album_same_side_twice_newest_wins",
            with(
                consent(),
                &[
                    Say::Album(&["front", "front-2"]),
                    Say::Photo("back"),
                    Say::Photo("selfie"),
                ],
            ),
            Engines {
                newest_first: true,
                ..Engines::default()
            },
        ),
        (
            // The front has glare, the back is fine: only the front is asked for again.
            "album_front_glare_back_ok",
            with(
                consent(),
                &[
                    Say::Album(&["front", "back"]),
                    Say::Photo("front-2"),
                    Say::Photo("selfie"),
                ],
            ),
            Engines {
                documents: vec![Doc::Retake(Glare), Doc::Accept],
                ..Engines::default()
            },
        ),
    ]
}

#[test]
fn album_transcripts() {
    for preset in Flow::PRESETS {
        for (name, script, engines) in album_scenarios() {
            let transcript = check(preset, &script, engines);
            insta::assert_snapshot!(format!("{preset}__{name}"), transcript);
        }
    }
}

/// Four quick photos (the demo's "four quick photos end in manual review"): one photo is held
/// per step still needed, so the fourth is not read, and the three that are fill the steps.
#[test]
fn album_bound_transcripts() {
    let cases: Vec<(&str, Vec<Say>)> = vec![(
        "album_four_photos",
        vec![
            Say::Text("Hola"),
            Say::Tap(CONSENT_ACCEPT),
            Say::Album(&["front", "back", "selfie", "selfie-2"]),
        ],
    )];
    for (name, script) in cases {
        let transcript = check("mx-ine", &script, Engines::default());
        insta::assert_snapshot!(format!("mx-ine__{name}"), transcript);
    }
}

/// The `video_liveness` step (issue 12): a flow with it after the selfie, on `mx-ine`.
fn video_flow() -> Flow {
    let mut flow = Flow::preset("mx-ine").expect("preset");
    // The id stays `mx-ine`: the scripted reader answers with that preset's fields.
    let at = flow
        .steps
        .iter()
        .position(|s| matches!(s, Step::Selfie(_)))
        .expect("selfie")
        + 1;
    flow.steps
        .insert(at, Step::VideoLiveness(VideoStep::default()));
    flow
}

#[test]
fn video_liveness_transcripts() {
    use RetakeReason::*;
    let cases: Vec<(&str, Vec<Say>, Engines)> = vec![
        (
            "happy_path",
            happy().into_iter().chain([Say::Video]).collect(),
            Engines::default(),
        ),
        (
            "photo_then_no_head_turn_then_pass",
            happy()
                .into_iter()
                .chain([
                    Say::Photo("selfie-again"),
                    Say::Text("listo"),
                    Say::Video,
                    Say::Video,
                ])
                .collect(),
            Engines {
                videos: vec![Vid::Retake(NoHeadTurn), Vid::Pass],
                ..Engines::default()
            },
        ),
        (
            "face_mismatch_until_exhausted",
            happy()
                .into_iter()
                .chain([Say::Video, Say::Video, Say::Video])
                .collect(),
            Engines {
                videos: vec![
                    Vid::Retake(FaceMismatch),
                    Vid::Retake(UnsupportedMedia),
                    Vid::Retake(ScreenReplay),
                ],
                ..Engines::default()
            },
        ),
    ];
    for (name, script, engines) in cases {
        let transcript = check_flow(video_flow(), &script, engines);
        insta::assert_snapshot!(format!("mx-ine-video__{name}"), transcript);
    }
}
