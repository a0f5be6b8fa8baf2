//! `kyc-flow simulate`: a scripted conversation through the real engine.
//!
//! A script (TOML) lists the user's turns — texts, button replies, photos — and the clock
//! (`wait = "25h"`). The engine, the in-memory stores, the queue and the timers are the real
//! ones; only the transport records instead of sending. The engines are either *scripted*
//! (each photo turn says what the document reader, face matcher and liveness check report, and
//! the `[registry]` table says what each registry answers) or real ones supplied by the caller
//! through [`Simulation::with_engines`]; the output always says which.
//!
//! ```toml
//! flow = "mx-ine"
//! [[turn]]
//! text = "Hola"
//! [[turn]]
//! reply = "consent.accept"
//! [[turn]]
//! image = "front"
//! document = "glare"          # or "accepted", or { outcome = "accepted", fields = { … } }
//! [[turn]]
//! wait = "30s"
//! image = "selfie"
//! selfie = "match"            # "mismatch", "not_live", "no_face", or a table of scores
//! [registry]
//! mx-renapo = ["unavailable", "valid"]
//! ```

use crate::sim::{
    MemoryMedia, RecordingTransport, ScriptedDocumentReader, ScriptedFaceMatcher, ScriptedLiveness,
    SimPorts,
};
use kyc_flow::clock::{Clock, ManualClock};
use kyc_flow::engine::{AuditLog, Engine, EngineBuilder, EngineError, Routing};
use kyc_flow_core::event::{Event, Inbound, InboundContent, MediaKind};
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::ports::{
    DocumentReader, DocumentReading, FaceMatchOutcome, FaceMatcher, LivenessChecker,
    LivenessOutcome, MediaRef, OutboundBody, RegistryClient,
};
use kyc_flow_core::session::Decision;
use kyc_flow_core::{
    DocumentData, DocumentKind, DocumentOutcome, ExtractedField, FaceComparison, FieldSource,
    LivenessVerdict, RegistryId, RegistryStatus, RetakeReason, SessionKey, Side, Timestamp,
    UserRef,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A simulation script.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Preset name or flow file; `--flow` overrides it.
    pub flow: Option<String>,
    /// The user: a phone number (digits), or a business-scoped user id (`US.1349…`, with a
    /// dot) for a user who reaches the business without showing their number. Never printed
    /// in clear.
    #[serde(default = "default_user")]
    pub user: String,
    /// For a business-scoped `user`: the number WhatsApp gives with each message (`from`).
    /// Absent: the user hides it behind a username, and a registry keyed by phone makes the
    /// flow ask for it.
    #[serde(default)]
    pub phone: Option<String>,
    /// The business phone number id.
    #[serde(default = "default_number")]
    pub phone_number_id: String,
    /// Start of the simulated clock, milliseconds since the epoch.
    #[serde(default = "default_start")]
    pub start_ms: i64,
    /// The turns, in order.
    #[serde(default, rename = "turn")]
    pub turns: Vec<Turn>,
    /// Scripted registry answers, in order, per registry id (the last one repeats):
    /// a status (`valid`, `deceased`, …) or `unavailable`/`timeout` for an outage.
    #[serde(default)]
    pub registry: BTreeMap<String, Vec<String>>,
    /// `scripted` (default): photo turns say what the engines report. `local`: the local
    /// vision engines read the photos (files, or `sample:SIDE[:PERTURBATION]` SPECIMEN cards
    /// with SIDE `front`, `back`, `selfie`, `other`) and the local registry service answers.
    #[serde(default)]
    pub engines: Option<String>,
}

fn default_user() -> String {
    "5215500000001".to_owned()
}
fn default_number() -> String {
    "100000000000001".to_owned()
}
fn default_start() -> i64 {
    // 2026-01-15T15:00:00Z: a fixed start keeps transcripts reproducible.
    1_768_489_200_000
}

/// One turn of the script: optionally wait, then optionally send one message.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Advance the clock first (`90s`, `5m`, `25h`, `3d`); due timers fire on the way.
    pub wait: Option<String>,
    /// The user writes text.
    pub text: Option<String>,
    /// The user taps a button (its id).
    pub reply: Option<String>,
    /// The user sends a photo: a file path (relative to the script) or a label.
    pub image: Option<String>,
    /// Send the photo as a WhatsApp document instead of an image.
    #[serde(default)]
    pub as_document: bool,
    /// The photo's declared MIME type (default `image/jpeg`): `application/pdf`, `image/heic`, …
    pub mime: Option<String>,
    /// The photo arrives marked as forwarded.
    #[serde(default)]
    pub forwarded: bool,
    /// Scripted document reader answer for this photo.
    pub document: Option<DocumentScript>,
    /// Scripted face match and liveness answer for this photo.
    pub selfie: Option<SelfieScript>,
    /// The user shares a location.
    pub location: Option<(f64, f64)>,
    /// The user sends something else (sticker, contacts, …): its type.
    pub other: Option<String>,
    /// The user shares a contact: their own number with the button of WhatsApp's
    /// contact-information request (`origin = "contact_request"`), or a card by hand
    /// (`origin = "other"`, the default).
    pub contact: Option<ContactScript>,
    /// A human reviewer decides: `approve` or `reject`.
    pub operator: Option<String>,
    /// WhatsApp reports that the user's identity changed to this one (`user_changed_number`
    /// with a phone number of digits, `user_changed_user_id` with a business-scoped id such
    /// as `MX.1234`). Later turns come from the new identity when the conversation moved.
    pub new_user: Option<String>,
}

/// A contact the user shares.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactScript {
    /// The number on the card (`+16505551234`).
    pub phone: String,
    /// `contact_request` (the answer to the request) or `other` (a card shared by hand).
    #[serde(default = "default_origin")]
    pub origin: String,
}

fn default_origin() -> String {
    "other".to_owned()
}

/// What the scripted document reader says about a photo.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DocumentScript {
    /// `accepted` (plausible specimen fields for the flow's document and side) or a retake
    /// reason (`glare`, `blur`, `wrong_side`, …).
    Short(String),
    /// Full control.
    Full {
        outcome: String,
        #[serde(default)]
        fields: BTreeMap<String, String>,
        #[serde(default = "yes")]
        portrait: bool,
    },
}

fn yes() -> bool {
    true
}

/// What the scripted face matcher and liveness check say about a selfie.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SelfieScript {
    /// `match`, `mismatch`, `not_live`, or a retake reason (`no_face`, `multiple_faces`, …).
    Short(String),
    /// Scores.
    Full {
        face_score: f32,
        #[serde(default = "default_threshold")]
        threshold: f32,
        liveness_score: f32,
        #[serde(default)]
        certified: bool,
    },
}

fn default_threshold() -> f32 {
    0.45
}

/// Why a script cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    #[error("script is not valid TOML: {0}")]
    Parse(String),
    #[error("turn {turn}: {message}")]
    Turn { turn: usize, message: String },
    #[error("flow: {0}")]
    Flow(String),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Milliseconds since the start of the simulation.
    pub t_ms: i64,
    /// `user`, `bot` or `engine`.
    pub who: &'static str,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
}

/// What a simulation produced.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub flow: String,
    pub flow_version: u32,
    /// `scripted` or the engines' names.
    pub engines: String,
    pub note: Option<String>,
    pub transcript: Vec<Line>,
    pub decision: Option<Decision>,
}

impl Outcome {
    /// The transcript as text, one line per message.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "flow {} v{} · engines: {}\n",
            self.flow, self.flow_version, self.engines
        );
        if let Some(note) = &self.note {
            out.push_str(&format!("note: {note}\n"));
        }
        for line in &self.transcript {
            let secs = line.t_ms / 1000;
            let stamp = format!(
                "+{:02}:{:02}:{:02}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            let arrow = match line.who {
                "user" => "user  ›",
                "bot" => "bot   ‹",
                _ => "engine·",
            };
            let text = line.text.replace('\n', "\n                    ");
            out.push_str(&format!("[{stamp}] {arrow} {text}"));
            if !line.buttons.is_empty() {
                out.push_str(&format!("  [{}]", line.buttons.join("] [")));
            }
            out.push('\n');
        }
        match &self.decision {
            Some(d) => out.push_str(&format!("last decision delivered: {}\n", decision_text(d))),
            None => out.push_str("last decision delivered: none\n"),
        }
        out
    }
}

/// A short text for a decision.
pub fn decision_text(d: &Decision) -> String {
    let reasons = |r: &[kyc_flow_core::session::DecisionReason]| {
        r.iter()
            .map(|x| {
                serde_json::to_value(x)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match d {
        Decision::Approved { reasons: r } => format!("approved ({})", reasons(r)),
        Decision::Rejected { reasons: r } => format!("rejected ({})", reasons(r)),
        Decision::ManualReview { reasons: r } => format!("manual review ({})", reasons(r)),
        Decision::Declined => "declined consent".to_owned(),
        Decision::Cancelled => "cancelled by the user".to_owned(),
        Decision::Expired => "expired".to_owned(),
    }
}

#[derive(Default)]
struct AuditRecorder {
    lines: Mutex<Vec<(u64, Timestamp, String)>>,
}

impl AuditLog for AuditRecorder {
    fn record(&self, _key: &SessionKey, at: Timestamp, kind: &str, detail: &str) {
        let line = if detail.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}: {detail}")
        };
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push((
            crate::sim::next_order(),
            at,
            line,
        ));
    }
}

/// Real engines to use instead of the scripted ones.
#[derive(Clone)]
pub struct Engines {
    pub name: String,
    pub documents: Arc<dyn DocumentReader>,
    pub faces: Arc<dyn FaceMatcher>,
    pub liveness: Arc<dyn LivenessChecker>,
    pub registry: Arc<dyn RegistryClient>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A prepared simulation.
#[derive(Debug)]
pub struct Simulation {
    script: Script,
    base_dir: PathBuf,
    flow: Flow,
    engines: Option<Engines>,
    samples: Option<Arc<dyn SampleSource>>,
}

/// Makes the photos a script names as `sample:SIDE[:PERTURBATION]` (for instance the
/// SPECIMEN generator of `kyc-flow-testkit`'s `local` feature).
pub trait SampleSource: Send + Sync + std::fmt::Debug {
    /// A photo of `side` (`front`, `back`, `selfie`, `other`) of the country's (`mx`, `co`,
    /// `pe`) document, with a perturbation (`clean`, `glare`, …).
    fn generate(&self, country: &str, side: &str, perturbation: &str) -> Result<Vec<u8>, String>;
}

impl Simulation {
    /// Parse a script; `flow` overrides the script's flow; `base_dir` resolves image paths.
    pub fn from_toml(text: &str, flow: Option<&str>, base_dir: &Path) -> Result<Self, ScriptError> {
        let script: Script = toml::from_str(text).map_err(|e| ScriptError::Parse(e.to_string()))?;
        let flow_name = flow
            .map(str::to_owned)
            .or_else(|| script.flow.clone())
            .unwrap_or_else(|| "mx-ine".to_owned());
        let flow = kyc_flow::flows::load_flow(&flow_name, base_dir).map_err(ScriptError::Flow)?;
        Ok(Self {
            script,
            base_dir: base_dir.to_owned(),
            flow,
            engines: None,
            samples: None,
        })
    }

    /// Use real engines; photo turns' `document`/`selfie` answers are then ignored.
    pub fn with_engines(mut self, engines: Engines) -> Self {
        self.engines = Some(engines);
        self
    }

    /// Generate `sample:` photos with this generator.
    pub fn with_samples(mut self, samples: Arc<dyn SampleSource>) -> Self {
        self.samples = Some(samples);
        self
    }

    /// Whether the script asks for the local engines (`engines = "local"`).
    pub fn wants_local_engines(&self) -> bool {
        self.script.engines.as_deref() == Some("local")
    }

    /// Run the script to its end.
    pub async fn run(self) -> Result<Outcome, ScriptError> {
        let clock = Arc::new(ManualClock::new(Timestamp(self.script.start_ms)));
        let sim = SimPorts::new(self.flow.registries());
        for (id, answers) in &self.script.registry {
            for a in answers {
                sim.registry.push(
                    RegistryId(id.clone()),
                    parse_registry_answer(a).map_err(ScriptError::Flow)?,
                );
            }
        }
        let mut ports = sim.ports();
        let engines_name = match &self.engines {
            Some(e) => {
                ports.documents = e.documents.clone();
                ports.faces = e.faces.clone();
                ports.liveness = e.liveness.clone();
                ports.registry = e.registry.clone();
                e.name.clone()
            }
            None => "scripted".to_owned(),
        };
        let (transport, media, decisions) = (&sim.transport, &sim.media, &sim.decisions);
        let (reader, faces, live) = (&sim.documents, &sim.faces, &sim.liveness);
        let mut flows = FlowSet::new();
        flows.insert(self.flow.clone());
        let audit = Arc::new(AuditRecorder::default());
        // A simulation's users are made up: the public development secret is the right one
        // (chosen explicitly, so the engine does not warn about it).
        let ids = kyc_flow_core::SessionIdSecret::from_hex(kyc_flow::engine::DEV_SESSION_ID_SECRET)
            .map_err(|e| ScriptError::Flow(e.to_string()))?;
        let engine = EngineBuilder::new(ports, flows, Routing::single(self.flow.id.clone()))
            .clock(clock.clone())
            .audit(audit.clone())
            .config(kyc_flow::EngineConfig {
                session_id_secret: Some(ids),
                ..kyc_flow::EngineConfig::default()
            })
            .build()
            .map_err(|e| ScriptError::Flow(e.to_string()))?;
        let mut key = SessionKey::new(
            "simulation",
            self.script.phone_number_id.clone(),
            if self.script.user.contains('.') {
                UserRef::Bsuid(self.script.user.clone())
            } else {
                UserRef::Phone(self.script.user.clone())
            },
        );

        let start = self.script.start_ms;
        let mut transcript = Vec::new();
        let mut seen_sent = 0;
        let mut seen_audit = 0;
        let mut next_msg = 0u32;
        for (i, turn) in self.script.turns.iter().enumerate() {
            let n = i + 1;
            if let Some(w) = &turn.wait {
                let d =
                    parse_duration(w).map_err(|message| ScriptError::Turn { turn: n, message })?;
                advance(
                    &engine,
                    &clock,
                    d,
                    transport,
                    &audit,
                    start,
                    &mut transcript,
                    &mut seen_sent,
                    &mut seen_audit,
                )
                .await?;
            }
            let Some((event, shown)) = self.turn_event(
                n,
                turn,
                &key,
                clock.now(),
                media,
                reader,
                faces,
                live,
                &mut next_msg,
            )?
            else {
                continue;
            };
            transcript.push(Line {
                t_ms: clock.now().0 - start,
                who: "user",
                text: shown,
                buttons: Vec::new(),
            });
            engine.submit(key.clone(), event).await?;
            engine.run_until_idle("simulate").await?;
            if let Some(user) = &turn.new_user {
                // The user writes from the new identity once the conversation moved there.
                let moved = SessionKey {
                    user: if user.contains('.') {
                        UserRef::Bsuid(user.clone())
                    } else {
                        UserRef::Phone(user.clone())
                    },
                    ..key.clone()
                };
                if engine.session(&moved).await?.is_some() {
                    key = moved;
                }
            }
            collect(
                transport,
                &audit,
                start,
                clock.now(),
                &mut transcript,
                &mut seen_sent,
                &mut seen_audit,
            );
        }
        let decision = decisions.delivered().last().map(|n| n.decision.clone());
        Ok(Outcome {
            flow: self.flow.id.clone(),
            flow_version: self.flow.version,
            note: (engines_name == "scripted").then(|| {
                "scripted engines: the document, selfie and registry answers come from the script, not from models or registries".to_owned()
            }),
            engines: engines_name,
            transcript,
            decision,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn turn_event(
        &self,
        n: usize,
        turn: &Turn,
        key: &SessionKey,
        now: Timestamp,
        media: &MemoryMedia,
        reader: &ScriptedDocumentReader,
        faces: &ScriptedFaceMatcher,
        live: &ScriptedLiveness,
        next_msg: &mut u32,
    ) -> Result<Option<(Event, String)>, ScriptError> {
        let err = |message: String| ScriptError::Turn { turn: n, message };
        let mut message_id = || {
            *next_msg += 1;
            format!("wamid.sim.user.{next_msg}")
        };
        if let Some(user) = &turn.new_user {
            let (new_user, shown) = if user.contains('.') {
                (
                    UserRef::Bsuid(user.clone()),
                    "(WhatsApp: the user's id changed)",
                )
            } else {
                (
                    UserRef::Phone(user.clone()),
                    "(WhatsApp: the user changed number)",
                )
            };
            let event = Event::IdentityChanged {
                new_user: Some(new_user),
            };
            return Ok(Some((event, shown.to_owned())));
        }
        if let Some(op) = &turn.operator {
            let decision = match op.as_str() {
                "approve" => Decision::Approved {
                    reasons: vec![kyc_flow_core::session::DecisionReason::OperatorDecision],
                },
                "reject" => Decision::Rejected {
                    reasons: vec![kyc_flow_core::session::DecisionReason::OperatorDecision],
                },
                other => {
                    return Err(err(format!(
                        "operator must be approve or reject, not `{other}`"
                    )));
                }
            };
            let event = Event::OperatorDecision {
                decision,
                operator: "simulated-reviewer".to_owned(),
                note: None,
            };
            return Ok(Some((event, format!("(operator: {op})"))));
        }
        let (content, shown) = if let Some(text) = &turn.text {
            (InboundContent::Text { body: text.clone() }, text.clone())
        } else if let Some(id) = &turn.reply {
            (
                InboundContent::Reply {
                    id: id.clone(),
                    title: id.clone(),
                },
                format!("(taps {id})"),
            )
        } else if let Some(image) = &turn.image {
            let path = self.base_dir.join(image);
            let bytes = if let Some(spec) = image.strip_prefix("sample:") {
                let samples = self.samples.as_ref().ok_or_else(|| {
                    err("`sample:` photos need `engines = \"local\"` and the vision assets".into())
                })?;
                let (side, perturbation) = spec.split_once(':').unwrap_or((spec, "clean"));
                let country = self.flow.country.0.to_ascii_lowercase();
                samples
                    .generate(&country, side, perturbation)
                    .map_err(err)?
            } else if path.is_file() {
                std::fs::read(&path)
                    .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?
            } else {
                format!("scripted-image:{n}:{image}").into_bytes()
            };
            if let Some(doc) = &turn.document {
                reader.answer(
                    bytes.clone(),
                    self.document_reading(doc, turn).map_err(err)?,
                );
            }
            if let Some(selfie) = &turn.selfie {
                let (face, liveness) = selfie_answers(selfie).map_err(err)?;
                faces.answer(bytes.clone(), face);
                live.answer(bytes.clone(), liveness);
            }
            let id = media.add(bytes);
            let kind = if turn.as_document {
                MediaKind::Document
            } else {
                MediaKind::Image
            };
            (
                InboundContent::Media {
                    kind,
                    media: MediaRef {
                        phone_number_id: key.phone_number_id.clone(),
                        media_id: id,
                        mime_type: Some(
                            turn.mime.clone().unwrap_or_else(|| "image/jpeg".to_owned()),
                        ),
                        sha256: None,
                    },
                    caption: None,
                },
                match (&turn.mime, turn.forwarded) {
                    (Some(mime), _) => format!("(file {mime}: {image})"),
                    (None, true) => format!("(forwarded photo: {image})"),
                    (None, false) => format!("(photo: {image})"),
                },
            )
        } else if let Some((lat, lon)) = turn.location {
            (
                InboundContent::Location {
                    latitude: lat,
                    longitude: lon,
                },
                "(location)".to_owned(),
            )
        } else if let Some(contact) = &turn.contact {
            let phone = kyc_flow_core::PhoneNumber::parse(&contact.phone)
                .ok_or_else(|| err(format!("`{}` is not a phone number", contact.phone)))?;
            match contact.origin.as_str() {
                "contact_request" => (
                    InboundContent::ContactInfo {
                        phone: phone.clone(),
                    },
                    format!("(taps \"share my number\": {})", phone.redacted()),
                ),
                "other" => (
                    InboundContent::Other {
                        kind: "contacts".to_owned(),
                    },
                    format!("(shares a contact card: {})", phone.redacted()),
                ),
                o => {
                    return Err(err(format!(
                        "contact origin must be contact_request or other, not `{o}`"
                    )));
                }
            }
        } else if let Some(kind) = &turn.other {
            (
                InboundContent::Other { kind: kind.clone() },
                format!("({kind})"),
            )
        } else {
            return Ok(None);
        };
        let event = Event::Inbound(Inbound {
            message_id: message_id(),
            at: now,
            content,
            forwarded: turn.forwarded,
            phone: match (&key.user, &self.script.phone) {
                (UserRef::Bsuid(_), Some(p)) => kyc_flow_core::PhoneNumber::parse(p),
                _ => None,
            },
        });
        Ok(Some((event, shown)))
    }

    fn document_reading(
        &self,
        script: &DocumentScript,
        turn: &Turn,
    ) -> Result<DocumentReading, String> {
        let side = guess_side(turn.image.as_deref().unwrap_or_default());
        let (outcome, extra, portrait) = match script {
            DocumentScript::Short(s) => (s.as_str(), BTreeMap::new(), true),
            DocumentScript::Full {
                outcome,
                fields,
                portrait,
            } => (outcome.as_str(), fields.clone(), *portrait),
        };
        if outcome == "accepted" {
            let mut reading = accepted_reading(self.flow.document, side);
            if let DocumentOutcome::Accepted { data } = &mut reading.outcome {
                for (k, v) in extra {
                    data.fields.insert(k, specimen_field(v));
                }
                data.portrait_found &= portrait;
            }
            if !portrait {
                reading.portrait = None;
            }
            return Ok(reading);
        }
        let reason = parse_retake(outcome)?;
        Ok(DocumentReading {
            outcome: DocumentOutcome::Retake {
                reason,
                detail: "scripted".to_owned(),
            },
            portrait: None,
        })
    }
}

#[allow(clippy::too_many_arguments)]
async fn advance(
    engine: &Engine,
    clock: &ManualClock,
    d: Duration,
    transport: &RecordingTransport,
    audit: &AuditRecorder,
    start: i64,
    transcript: &mut Vec<Line>,
    seen_sent: &mut usize,
    seen_audit: &mut usize,
) -> Result<(), ScriptError> {
    // Walk the clock a minute at a time so each timer fires at (about) its own time.
    let target = clock.now().plus(d);
    let step = Duration::from_secs(60);
    while clock.now() < target {
        let next = clock.now().plus(step).min(target);
        clock.set(next);
        engine.run_until_idle("simulate").await?;
        collect(
            transport,
            audit,
            start,
            clock.now(),
            transcript,
            seen_sent,
            seen_audit,
        );
    }
    Ok(())
}

fn collect(
    transport: &RecordingTransport,
    audit: &AuditRecorder,
    start: i64,
    now: Timestamp,
    transcript: &mut Vec<Line>,
    seen_sent: &mut usize,
    seen_audit: &mut usize,
) {
    let mut new: Vec<(u64, Line)> = Vec::new();
    let lines = audit
        .lines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for (order, at, text) in lines.iter().skip(*seen_audit) {
        let line = Line {
            t_ms: at.0 - start,
            who: "engine",
            text: text.clone(),
            buttons: Vec::new(),
        };
        new.push((*order, line));
    }
    *seen_audit = lines.len();
    let sent = transport.sent_since(*seen_sent);
    *seen_sent += sent.len();
    for record in sent {
        let (text, buttons) = body_text(&record.message.body);
        let line = Line {
            t_ms: now.0 - start,
            who: "bot",
            text,
            buttons,
        };
        new.push((record.order, line));
    }
    new.sort_by_key(|(order, _)| *order);
    transcript.extend(new.into_iter().map(|(_, line)| line));
}

/// A readable form of an outbound message and its button titles.
pub fn body_text(body: &OutboundBody) -> (String, Vec<String>) {
    match body {
        OutboundBody::Text { body, .. } => (body.clone(), Vec::new()),
        OutboundBody::Buttons {
            header,
            body,
            buttons,
            ..
        } => {
            let text = match header {
                Some(h) => format!("{h}\n{body}"),
                None => body.clone(),
            };
            (text, buttons.iter().map(|b| b.title.clone()).collect())
        }
        OutboundBody::List { body, sections, .. } => (
            body.clone(),
            sections
                .iter()
                .flat_map(|s| s.rows.iter().map(|r| r.title.clone()))
                .collect(),
        ),
        OutboundBody::Template {
            name,
            language,
            body_params,
        } => (
            format!("(template {name} [{language}] {})", body_params.join(" | ")),
            Vec::new(),
        ),
        OutboundBody::ContactRequest { body } => (
            body.clone(),
            vec!["📱 share my number (WhatsApp's contact request)".to_owned()],
        ),
        OutboundBody::Image { caption, .. } => (
            format!("(image) {}", caption.clone().unwrap_or_default()),
            Vec::new(),
        ),
        OutboundBody::Document { caption, .. } => (
            format!("(document) {}", caption.clone().unwrap_or_default()),
            Vec::new(),
        ),
    }
}

fn guess_side(label: &str) -> Side {
    if label.to_ascii_lowercase().contains("back") || label.contains("reverso") {
        Side::Back
    } else {
        Side::Front
    }
}

fn parse_retake(s: &str) -> Result<RetakeReason, String> {
    RetakeReason::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| format!("`{s}` is neither `accepted` nor a retake reason"))
}

fn selfie_answers(s: &SelfieScript) -> Result<(FaceMatchOutcome, LivenessOutcome), String> {
    let verdict = |score: f32, certified: bool| LivenessVerdict {
        live: score >= 0.5,
        score,
        engine: "scripted".to_owned(),
        certified,
        certification: certified.then(|| "scripted certificate".to_owned()),
        signals: Vec::new(),
    };
    let compared = |score: f32, threshold: f32| {
        FaceMatchOutcome::Compared(FaceComparison {
            score,
            threshold,
            matched: score >= threshold,
            engine: "scripted".to_owned(),
        })
    };
    Ok(match s {
        SelfieScript::Full {
            face_score,
            threshold,
            liveness_score,
            certified,
        } => (
            compared(*face_score, *threshold),
            LivenessOutcome::Judged(verdict(*liveness_score, *certified)),
        ),
        SelfieScript::Short(s) => match s.as_str() {
            "match" => (
                compared(0.78, 0.45),
                LivenessOutcome::Judged(verdict(0.97, false)),
            ),
            "mismatch" => (
                compared(0.08, 0.45),
                LivenessOutcome::Judged(verdict(0.97, false)),
            ),
            "not_live" => (
                compared(0.78, 0.45),
                LivenessOutcome::Judged(verdict(0.03, false)),
            ),
            other => {
                let reason = parse_retake(other)?;
                (
                    FaceMatchOutcome::Retake {
                        reason,
                        detail: "scripted".to_owned(),
                    },
                    LivenessOutcome::Judged(verdict(0.97, false)),
                )
            }
        },
    })
}

fn parse_registry_answer(s: &str) -> Result<crate::sim::ScriptedRegistryAnswer, String> {
    use crate::sim::ScriptedRegistryAnswer as A;
    use kyc_flow_core::ports::PortErrorKind;
    match s {
        "unavailable" | "down" => Ok(A::Fail(PortErrorKind::Unavailable)),
        "timeout" => Ok(A::Fail(PortErrorKind::Timeout)),
        other => RegistryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == other)
            .map(|st| A::Status(st, Some(format!("scripted {other}"))))
            .ok_or_else(|| format!("unknown registry answer `{other}`")),
    }
}

/// Parse `90s`, `5m`, `25h`, `3d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("bad duration unit `{other}` in `{s}`")),
    };
    Ok(Duration::from_secs(secs))
}

fn specimen_field(value: String) -> ExtractedField {
    ExtractedField {
        value,
        confidence: 0.98,
        source: FieldSource::Printed,
    }
}

/// An accepted reading of `side` with SPECIMEN fields and, on the front, a portrait
/// (scripted engines only).
pub fn accepted_reading(kind: DocumentKind, side: Side) -> DocumentReading {
    let data = DocumentData {
        fields: specimen_fields(kind, side)
            .into_iter()
            .map(|(k, v)| (k, specimen_field(v)))
            .collect(),
        checks: Vec::new(),
        portrait_found: side == Side::Front,
    };
    DocumentReading {
        outcome: DocumentOutcome::Accepted { data },
        portrait: (side == Side::Front).then(|| b"scripted-portrait".to_vec()),
    }
}

/// Plausible SPECIMEN field values for a document side (scripted engines only).
pub fn specimen_fields(kind: DocumentKind, side: Side) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match (kind, side) {
        (DocumentKind::MxIne, Side::Front) => &[
            ("surnames", "HERNANDEZ LOPEZ"),
            ("given_names", "MARIA GUADALUPE"),
            ("birth_date", "1990-05-14"),
            ("sex", "F"),
            ("curp", "HELG900514MDFRPD05"),
            ("clave_elector", "HRLPGD90051409M100"),
            ("expiry_date", "2031-12-31"),
            ("state", "DF"),
        ],
        (DocumentKind::MxIne, Side::Back) => &[
            ("cic", "123456789"),
            ("citizen_id", "1234567890123"),
            ("document_number", "123456789"),
            ("birth_date", "1990-05-14"),
            ("sex", "F"),
            ("expiry_date", "2031-12-31"),
        ],
        (DocumentKind::CoCedula | DocumentKind::CoCedulaDigital, Side::Front) => &[
            ("document_number", "1020304050"),
            ("surnames", "RODRIGUEZ GARCIA"),
            ("given_names", "JUAN CARLOS"),
        ],
        (DocumentKind::CoCedula | DocumentKind::CoCedulaDigital, Side::Back) => &[
            ("document_number", "1020304050"),
            ("birth_date", "1988-03-02"),
            ("sex", "M"),
            ("issue_date", "2006-04-10"),
            ("blood_type", "O+"),
        ],
        (DocumentKind::PeDni, Side::Front) => &[
            ("document_number", "45678912"),
            ("surnames", "QUISPE MAMANI"),
            ("given_names", "ROSA ELENA"),
            ("birth_date", "1992-11-23"),
            ("sex", "F"),
            ("expiry_date", "2030-08-15"),
        ],
        (DocumentKind::PeDni, Side::Back) => &[
            ("document_number", "45678912"),
            ("birth_date", "1992-11-23"),
            ("sex", "F"),
            ("expiry_date", "2030-08-15"),
        ],
        (_, Side::Front) => &[
            ("document_number", "12345678"),
            ("surnames", "PEREZ"),
            ("given_names", "ANA"),
            ("birth_date", "1991-01-01"),
            ("sex", "F"),
            ("expiry_date", "2032-01-01"),
        ],
        (_, Side::Back) => &[("document_number", "12345678")],
    };
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
