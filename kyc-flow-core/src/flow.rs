//! Flows: the step sequence of an onboarding and the policies of each step, as data.
//!
//! A flow is a linear sequence of steps — consent, one capture per document side, a selfie,
//! registry checks, the decision — each with its own policy (attempt limit, thresholds,
//! reminder schedule). Retakes, reminders, expiry, STOP and registry retries are loops and
//! exits every step has, so they are policies rather than edges: a team edits a sequence and
//! numbers, never a graph, and [`Flow::validate`] can prove every path reaches a decision.
//! Flows load from TOML or JSON, are built in code, and come as presets (`mx-ine`,
//! `co-cedula`, `pe-dni`). A [`FlowSet`] keeps every version so a session finishes on the
//! version it started on.

use crate::catalog::Catalog;
use crate::data::VisionCapabilities;
use crate::evidence::{Country, DocumentKind, RegistryId, Side, VideoChallenge};
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Longest expiry a flow may set (30 days): sessions hold PII and must not linger.
pub const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;
/// Most attempts a capture step may allow; more only helps an attacker iterate.
pub const MAX_ATTEMPTS_LIMIT: u8 = 10;
/// Most reminders a flow may send before expiry.
pub const MAX_REMINDERS: usize = 5;

/// An onboarding flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Stable name, e.g. `mx-ine`.
    pub id: String,
    /// Bumped on every change; sessions keep the version they started on.
    pub version: u32,
    pub country: Country,
    pub document: DocumentKind,
    /// Used when the runtime does not know the user's language.
    pub default_locale: Locale,
    /// Flow-wide reminder schedule and expiry (a step may override it).
    #[serde(default)]
    pub reminders: ReminderPolicy,
    /// What the decision step requires beyond the per-step checks.
    #[serde(default)]
    pub decision: DecisionPolicy,
    /// The steps, in order. Must start with consent and end with the decision.
    pub steps: Vec<Step>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Ask for consent to process personal data; declining ends the session.
    Consent(ConsentStep),
    /// A photo of one side of the flow's document.
    Document(DocumentStep),
    /// A selfie, compared with the card portrait and judged for liveness.
    Selfie(SelfieStep),
    /// A WhatsApp video note (a round video message) of the user turning the head: optional,
    /// after the selfie; judged for one live face, the same as the card portrait's.
    VideoLiveness(VideoStep),
    /// Ask national registries about the document, one after the other.
    Registry(RegistryStep),
    /// Decide from the evidence collected.
    Decision,
}

impl Step {
    /// A stable, readable name for this step (`consent`, `document_front`, `selfie`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Consent(_) => "consent",
            Self::Document(d) => match d.side {
                Side::Front => "document_front",
                Side::Back => "document_back",
            },
            Self::Selfie(_) => "selfie",
            Self::VideoLiveness(_) => "video_liveness",
            Self::Registry(_) => "registry",
            Self::Decision => "decision",
        }
    }

    /// The step's own reminder schedule, if it overrides the flow's.
    pub fn reminders(&self) -> Option<&ReminderPolicy> {
        match self {
            Self::Consent(s) => s.reminders.as_ref(),
            Self::Document(s) => s.reminders.as_ref(),
            Self::Selfie(s) => s.reminders.as_ref(),
            Self::VideoLiveness(s) => s.reminders.as_ref(),
            Self::Registry(_) | Self::Decision => None,
        }
    }

    /// How many photos (or video notes) the step accepts (capture steps only).
    pub fn max_attempts(&self) -> Option<u8> {
        match self {
            Self::Document(s) => Some(s.max_attempts),
            Self::Selfie(s) => Some(s.max_attempts),
            Self::VideoLiveness(s) => Some(s.max_attempts),
            _ => None,
        }
    }

    /// The catalog key of the prompt that asks for this step's input, on its own; the flow
    /// may word it for what follows ([`Flow::prompt_key`]).
    pub fn prompt_key(&self) -> Option<&'static str> {
        match self {
            Self::Consent(_) => Some("consent.ask"),
            Self::Document(d) => Some(match d.side {
                Side::Front => "capture.front",
                Side::Back => "capture.back",
            }),
            Self::Selfie(_) => Some("capture.selfie"),
            Self::VideoLiveness(v) => Some(match v.challenge {
                VideoChallenge::TurnLeftAndRight => "capture.video",
                VideoChallenge::TurnEitherWay => "capture.video_one_side",
            }),
            Self::Registry(_) => Some("registry.checking"),
            Self::Decision => None,
        }
    }
}

/// The consent step's policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<ReminderPolicy>,
}

/// What happens when a capture step runs out of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// A person looks at what was collected.
    #[default]
    ManualReview,
    /// The session is rejected.
    Reject,
}

/// A document side capture step's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DocumentStep {
    pub side: Side,
    /// Photos accepted for this side, retakes included.
    pub max_attempts: u8,
    /// Every extracted field must be read with at least this confidence (0–1), else the user
    /// is asked for a sharper photo (`retake.unreadable`).
    pub min_field_confidence: f32,
    pub on_exhausted: OnExhausted,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<ReminderPolicy>,
}

impl Default for DocumentStep {
    fn default() -> Self {
        Self {
            side: Side::Front,
            max_attempts: 3,
            min_field_confidence: 0.6,
            on_exhausted: OnExhausted::ManualReview,
            reminders: None,
        }
    }
}

impl DocumentStep {
    /// A step for `side` with default policy.
    pub fn new(side: Side) -> Self {
        Self {
            side,
            ..Self::default()
        }
    }
}

/// What to do when everything passes but the liveness signal is not certified.
///
/// The local liveness engine is not certified (no iBeta or equivalent report), so a flow must
/// say explicitly whether its verdict may approve on its own. The default sends such sessions
/// to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncertifiedLiveness {
    /// Manual review with reason `liveness_not_certified`.
    #[default]
    ManualReview,
    /// Approve, with `liveness_not_certified` among the decision's reasons.
    ApproveWithFlag,
    /// Reject: this flow requires a certified liveness engine.
    Reject,
}

/// The selfie step's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelfieStep {
    pub max_attempts: u8,
    /// Minimum face similarity; `None` uses the engine's own threshold (its `matched` flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_face_score: Option<f32>,
    /// A face score less than this far above the threshold is borderline: manual review.
    pub review_margin: f32,
    /// Minimum liveness score (0–1).
    pub min_liveness_score: f32,
    pub uncertified_liveness: UncertifiedLiveness,
    pub on_exhausted: OnExhausted,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<ReminderPolicy>,
}

impl Default for SelfieStep {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            min_face_score: None,
            review_margin: 0.05,
            min_liveness_score: 0.5,
            uncertified_liveness: UncertifiedLiveness::ManualReview,
            on_exhausted: OnExhausted::ManualReview,
            reminders: None,
        }
    }
}

/// The video-liveness step's policy: a video note, judged by a video liveness checker
/// (`kyc_flow_core::ports::VideoLivenessChecker`). Its verdict can only hold a session back
/// (a retake, risk codes, manual review when attempts run out), never approve it on its own:
/// the selfie step's liveness policy still decides what an uncertified engine may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoStep {
    /// Video notes accepted, retakes included.
    pub max_attempts: u8,
    /// What the user is asked to do on camera.
    pub challenge: VideoChallenge,
    pub on_exhausted: OnExhausted,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<ReminderPolicy>,
}

impl Default for VideoStep {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            challenge: VideoChallenge::TurnLeftAndRight,
            on_exhausted: OnExhausted::ManualReview,
            reminders: None,
        }
    }
}

/// One registry to ask and which extracted fields to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryCheck {
    pub registry: RegistryId,
    /// Canonical field names (`curp`, `cic`, `citizen_id`, `document_number`, `issue_date`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// This registry is keyed by the user's phone number: the query field that carries it
    /// (`+` and digits), for example `phone = "msisdn"`. A user who reached the business by a
    /// business-scoped id without a number is asked for it first, with WhatsApp's
    /// contact-information request ([`crate::machine`]); a user who wrote from their number
    /// is never asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl RegistryCheck {
    /// A check sending `fields` from the document to `registry`.
    pub fn new(registry: impl Into<String>, fields: &[&str]) -> Self {
        Self {
            registry: RegistryId(registry.into()),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            phone: None,
        }
    }
}

/// The registry step's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryStep {
    /// Asked in order; every one must answer `valid`.
    pub checks: Vec<RegistryCheck>,
    /// Queries per registry while it is unavailable, before manual review.
    #[serde(default = "default_registry_attempts")]
    pub max_attempts: u8,
    /// Wait before the first retry; doubles on each further retry.
    #[serde(default = "default_backoff_secs")]
    pub backoff_secs: u64,
    /// A query without an answer after this long counts as unavailable.
    #[serde(default = "default_answer_timeout_secs")]
    pub answer_timeout_secs: u64,
}

fn default_registry_attempts() -> u8 {
    3
}
fn default_backoff_secs() -> u64 {
    30
}
fn default_answer_timeout_secs() -> u64 {
    120
}

impl RegistryStep {
    /// A step asking `checks` with the default retry policy.
    pub fn new(checks: Vec<RegistryCheck>) -> Self {
        Self {
            checks,
            max_attempts: default_registry_attempts(),
            backoff_secs: default_backoff_secs(),
            answer_timeout_secs: default_answer_timeout_secs(),
        }
    }
}

/// Reminders after inactivity, then expiry.
///
/// Offsets count from the user's last message. A reminder inside WhatsApp's 24-hour window is
/// free text; outside it, the catalog's template for `reminder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReminderPolicy {
    /// When to remind, in seconds after the last activity, strictly increasing.
    pub after_secs: Vec<u64>,
    /// When the session expires, in seconds after the last activity.
    pub expire_after_secs: u64,
}

impl Default for ReminderPolicy {
    fn default() -> Self {
        Self {
            // One nudge soon, one just before the window closes, one by template next day.
            after_secs: vec![3600, 23 * 3600, 47 * 3600],
            expire_after_secs: 72 * 3600,
        }
    }
}

/// Flow-wide decision rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionPolicy {
    /// Reject when the document's `birth_date` says the user is younger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u8>,
    /// Reject when the document's `expiry_date` is past.
    pub reject_expired_document: bool,
    /// Risk codes → approve / review / reject (`crate::risk`): the strictest action among the
    /// raised codes joins the decision (reason `risk_policy`). Absent: codes are recorded and
    /// reported with the decision but do not change it (the policies above decide alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::risk::RiskPolicy>,
}

impl Default for DecisionPolicy {
    fn default() -> Self {
        Self {
            min_age: Some(18),
            reject_expired_document: true,
            risk: None,
        }
    }
}

/// Why a flow could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    #[error("invalid flow TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("invalid flow JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl FlowError {
    /// Loading a flow never succeeds by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// One thing wrong with a flow. [`Flow::validate`] reports all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum FlowProblem {
    #[error("the flow id is empty")]
    EmptyId,
    #[error("the flow version must be at least 1")]
    ZeroVersion,
    #[error("the flow has no steps")]
    NoSteps,
    #[error("the flow has no consent step; personal data may not be collected without it")]
    MissingConsent,
    #[error("consent must be the first step (it is step {index})")]
    ConsentNotFirst { index: usize },
    #[error("the flow never reaches a decision: the last step must be `decision`")]
    NoDecision,
    #[error("step {index} ({step}) comes after the decision and can never be reached")]
    Unreachable { index: usize, step: String },
    #[error("step {step} appears more than once (again at {index})")]
    DuplicateStep { index: usize, step: String },
    #[error("the document {document:?} needs a {side:?} capture step")]
    MissingSide { document: DocumentKind, side: Side },
    #[error(
        "the selfie (step {index}) must come after the front capture, which yields the portrait"
    )]
    SelfieBeforePortrait { index: usize },
    #[error(
        "the video_liveness step (step {index}) must come after the selfie and every document side"
    )]
    VideoBeforeCaptures { index: usize },
    #[error("the registry step (step {index}) must come after a document capture")]
    RegistryBeforeDocument { index: usize },
    #[error("the registry step (step {index}) asks no registry")]
    NoRegistries { index: usize },
    #[error("registry {registry} (step {index}) is sent no fields")]
    RegistryWithoutFields { index: usize, registry: String },
    #[error(
        "registry {registry} (step {index}): the phone's query field `{field}` is empty or also a document field"
    )]
    BadPhoneField {
        index: usize,
        registry: String,
        field: String,
    },
    #[error("step {step}: {name} = {value} is not sane ({why})")]
    InsaneLimit {
        step: String,
        name: String,
        value: String,
        why: String,
    },
    #[error("message `{key}` is missing in {locale}")]
    MissingMessage { key: String, locale: String },
    #[error("message `{key}` can be sent outside the 24-hour window but has no template name")]
    MissingTemplate { key: String },
    #[error("document {document:?} is not issued by country {country}")]
    CountryMismatch {
        document: DocumentKind,
        country: String,
    },
}

impl Flow {
    /// A built-in flow: `mx-ine`, `co-cedula` or `pe-dni`.
    pub fn preset(name: &str) -> Option<Flow> {
        let (country, document, locale, checks) = match name {
            "mx-ine" => (
                "MX",
                DocumentKind::MxIne,
                Locale::EsMx,
                vec![
                    RegistryCheck {
                        registry: RegistryId("mx-renapo".into()),
                        fields: vec!["curp".into()],
                        phone: None,
                    },
                    RegistryCheck {
                        registry: RegistryId("mx-ine".into()),
                        fields: vec!["cic".into(), "citizen_id".into()],
                        phone: None,
                    },
                ],
            ),
            "co-cedula" => (
                "CO",
                DocumentKind::CoCedula,
                Locale::EsCo,
                vec![RegistryCheck {
                    registry: RegistryId("co-registraduria".into()),
                    fields: vec!["document_number".into(), "issue_date".into()],
                    phone: None,
                }],
            ),
            "pe-dni" => (
                "PE",
                DocumentKind::PeDni,
                Locale::EsPe,
                vec![RegistryCheck {
                    registry: RegistryId("pe-reniec".into()),
                    fields: vec!["document_number".into()],
                    phone: None,
                }],
            ),
            _ => return None,
        };
        Some(Flow {
            id: name.to_owned(),
            version: 1,
            country: Country::new(country),
            document,
            default_locale: locale,
            reminders: ReminderPolicy::default(),
            decision: DecisionPolicy::default(),
            steps: vec![
                Step::Consent(ConsentStep::default()),
                Step::Document(DocumentStep::new(Side::Front)),
                Step::Document(DocumentStep::new(Side::Back)),
                Step::Selfie(SelfieStep::default()),
                Step::Registry(RegistryStep::new(checks)),
                Step::Decision,
            ],
        })
    }

    /// The names [`Flow::preset`] knows.
    pub const PRESETS: [&'static str; 3] = ["mx-ine", "co-cedula", "pe-dni"];

    /// Load a flow from TOML. The result is not validated: call [`Flow::validate`].
    pub fn from_toml(s: &str) -> Result<Flow, FlowError> {
        Ok(toml::from_str(s)?)
    }

    /// Load a flow from JSON. The result is not validated: call [`Flow::validate`].
    pub fn from_json(s: &str) -> Result<Flow, FlowError> {
        Ok(serde_json::from_str(s)?)
    }

    /// The flow as TOML (the format teams edit).
    pub fn to_toml(&self) -> String {
        // Every field is a plain string, number, enum or table: serialization cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// The reminder policy in force at step `index`.
    pub fn reminders_at(&self, index: usize) -> &ReminderPolicy {
        self.steps
            .get(index)
            .and_then(Step::reminders)
            .unwrap_or(&self.reminders)
    }

    /// Whether a registry check of this flow needs the user's phone number.
    pub fn needs_phone(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Registry(r) if r.checks.iter().any(|c| c.phone.is_some())))
    }

    /// The catalog key of the prompt of step `index` in this flow: the step's own
    /// ([`Step::prompt_key`]), except the selfie's when a video-note step comes after it — the
    /// plain selfie prompt says it is the last thing asked ("Por último…"), which it then is not.
    pub fn prompt_key(&self, index: usize) -> Option<&'static str> {
        let step = self.steps.get(index)?;
        let video_follows = || {
            self.steps[index + 1..]
                .iter()
                .any(|s| matches!(s, Step::VideoLiveness(_)))
        };
        match step {
            Step::Selfie(_) if video_follows() => Some("capture.selfie_before_video"),
            other => other.prompt_key(),
        }
    }

    /// Every catalog key this flow can send, with whether it may go out of the 24-hour window
    /// (and therefore needs a template).
    pub fn message_keys(&self) -> BTreeMap<&'static str, bool> {
        let mut keys: BTreeMap<&'static str, bool> = BTreeMap::new();
        for k in crate::catalog::COMMON_KEYS {
            keys.insert(k, false);
        }
        for k in crate::catalog::OUT_OF_WINDOW_KEYS {
            keys.insert(k, true);
        }
        for (index, step) in self.steps.iter().enumerate() {
            if let Some(k) = self.prompt_key(index) {
                keys.entry(k).or_insert(false);
            }
            match step {
                Step::Consent(_) => {
                    for k in crate::catalog::CONSENT_KEYS {
                        keys.entry(k).or_insert(false);
                    }
                }
                Step::Document(_) | Step::Selfie(_) => {
                    for r in crate::evidence::RetakeReason::ALL {
                        keys.entry(crate::catalog::retake_key(r)).or_insert(false);
                    }
                }
                Step::VideoLiveness(_) => {
                    for k in crate::catalog::VIDEO_KEYS {
                        keys.entry(k).or_insert(false);
                    }
                    for r in crate::evidence::RetakeReason::ALL {
                        keys.entry(crate::catalog::video_retake_key(r))
                            .or_insert(false);
                    }
                }
                Step::Registry(r) if r.checks.iter().any(|c| c.phone.is_some()) => {
                    for k in crate::catalog::CONTACT_KEYS {
                        keys.entry(k).or_insert(false);
                    }
                }
                _ => {}
            }
        }
        keys
    }

    /// Check the flow; every problem is reported, not just the first.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), Vec<FlowProblem>> {
        let mut p = Vec::new();
        self.check_structure(&mut p);
        self.check_limits(&mut p);
        for (key, out_of_window) in self.message_keys() {
            for locale in Locale::ALL {
                if !catalog.has(key, locale) {
                    p.push(FlowProblem::MissingMessage {
                        key: key.to_owned(),
                        locale: locale.tag().to_owned(),
                    });
                }
            }
            if out_of_window && catalog.template_name(key).is_none() {
                p.push(FlowProblem::MissingTemplate {
                    key: key.to_owned(),
                });
            }
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    fn check_structure(&self, p: &mut Vec<FlowProblem>) {
        if self.id.trim().is_empty() {
            p.push(FlowProblem::EmptyId);
        }
        if self.version == 0 {
            p.push(FlowProblem::ZeroVersion);
        }
        if let Some(expected) = self.document.country()
            && expected != self.country.0
        {
            p.push(FlowProblem::CountryMismatch {
                document: self.document,
                country: self.country.0.clone(),
            });
        }
        if self.steps.is_empty() {
            p.push(FlowProblem::NoSteps);
            return;
        }
        match self
            .steps
            .iter()
            .position(|s| matches!(s, Step::Consent(_)))
        {
            None => p.push(FlowProblem::MissingConsent),
            Some(0) => {}
            Some(index) => p.push(FlowProblem::ConsentNotFirst { index }),
        }
        let decision_at = self.steps.iter().position(|s| matches!(s, Step::Decision));
        match decision_at {
            None => p.push(FlowProblem::NoDecision),
            Some(d) => {
                for (index, step) in self.steps.iter().enumerate().skip(d + 1) {
                    p.push(FlowProblem::Unreachable {
                        index,
                        step: step.name().to_owned(),
                    });
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (index, step) in self.steps.iter().enumerate() {
            if !seen.insert(step.name()) {
                p.push(FlowProblem::DuplicateStep {
                    index,
                    step: step.name().to_owned(),
                });
            }
        }
        let position_of = |side: Side| {
            self.steps
                .iter()
                .position(|s| matches!(s, Step::Document(d) if d.side == side))
        };
        for &side in self.document.sides() {
            if position_of(side).is_none() {
                p.push(FlowProblem::MissingSide {
                    document: self.document,
                    side,
                });
            }
        }
        let first_document = self
            .steps
            .iter()
            .position(|s| matches!(s, Step::Document(_)));
        for (index, step) in self.steps.iter().enumerate() {
            match step {
                Step::Selfie(_) if position_of(Side::Front).is_none_or(|f| f > index) => {
                    p.push(FlowProblem::SelfieBeforePortrait { index });
                }
                // Photos are filed under photo steps ahead of the conversation; a video note
                // only at its own step. With every photo step before it, nothing is held for
                // later when the video step is reached.
                Step::VideoLiveness(_)
                    if !self.steps.iter().any(|s| matches!(s, Step::Selfie(_)))
                        || self.steps[index..]
                            .iter()
                            .any(|s| matches!(s, Step::Document(_) | Step::Selfie(_))) =>
                {
                    p.push(FlowProblem::VideoBeforeCaptures { index });
                }
                Step::Registry(r) => {
                    if first_document.is_none_or(|f| f > index) {
                        p.push(FlowProblem::RegistryBeforeDocument { index });
                    }
                    if r.checks.is_empty() {
                        p.push(FlowProblem::NoRegistries { index });
                    }
                    for c in &r.checks {
                        if let Some(field) = &c.phone
                            && (field.trim().is_empty() || c.fields.contains(field))
                        {
                            p.push(FlowProblem::BadPhoneField {
                                index,
                                registry: c.registry.0.clone(),
                                field: field.clone(),
                            });
                        }
                        if c.fields.is_empty() && c.phone.is_none() {
                            p.push(FlowProblem::RegistryWithoutFields {
                                index,
                                registry: c.registry.0.clone(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn check_limits(&self, p: &mut Vec<FlowProblem>) {
        let mut insane = |step: &str, name: &str, value: String, why: &str| {
            p.push(FlowProblem::InsaneLimit {
                step: step.to_owned(),
                name: name.to_owned(),
                value,
                why: why.to_owned(),
            })
        };
        let check_reminders =
            |step: &str, r: &ReminderPolicy, insane: &mut dyn FnMut(&str, &str, String, &str)| {
                if r.expire_after_secs == 0 || r.expire_after_secs > MAX_EXPIRY_SECS {
                    insane(
                        step,
                        "expire_after_secs",
                        r.expire_after_secs.to_string(),
                        "must be between 1 second and 30 days",
                    );
                }
                if r.after_secs.len() > MAX_REMINDERS {
                    insane(
                        step,
                        "after_secs",
                        format!("{:?}", r.after_secs),
                        "at most 5 reminders",
                    );
                }
                if r.after_secs.first() == Some(&0)
                    || r.after_secs.windows(2).any(|w| w[0] >= w[1])
                    || r.after_secs
                        .last()
                        .is_some_and(|&l| l >= r.expire_after_secs)
                {
                    insane(
                        step,
                        "after_secs",
                        format!("{:?}", r.after_secs),
                        "reminders must be positive, strictly increasing and before expiry",
                    );
                }
            };
        check_reminders("flow", &self.reminders, &mut insane);
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        for step in &self.steps {
            let name = step.name();
            if let Some(r) = step.reminders() {
                check_reminders(name, r, &mut insane);
            }
            if let Some(m) = step.max_attempts() {
                if m == 0 {
                    insane(name, "max_attempts", m.to_string(), "0 is a dead end");
                } else if m > MAX_ATTEMPTS_LIMIT {
                    insane(name, "max_attempts", m.to_string(), "at most 10");
                }
            }
            match step {
                Step::Document(d) if !unit(d.min_field_confidence) => insane(
                    name,
                    "min_field_confidence",
                    d.min_field_confidence.to_string(),
                    "must be within 0–1",
                ),
                Step::Selfie(s) => {
                    if !unit(s.min_liveness_score) {
                        insane(
                            name,
                            "min_liveness_score",
                            s.min_liveness_score.to_string(),
                            "must be within 0–1",
                        );
                    }
                    if !unit(s.review_margin) {
                        insane(
                            name,
                            "review_margin",
                            s.review_margin.to_string(),
                            "must be within 0–1",
                        );
                    }
                    if let Some(f) = s.min_face_score.filter(|f| !f.is_finite()) {
                        insane(name, "min_face_score", f.to_string(), "must be a number");
                    }
                }
                Step::Registry(r) => {
                    if r.max_attempts == 0 || r.max_attempts > MAX_ATTEMPTS_LIMIT {
                        insane(
                            name,
                            "max_attempts",
                            r.max_attempts.to_string(),
                            "must be between 1 and 10",
                        );
                    }
                    if r.backoff_secs == 0 || r.backoff_secs > 3600 {
                        insane(
                            name,
                            "backoff_secs",
                            r.backoff_secs.to_string(),
                            "must be between 1 second and 1 hour",
                        );
                    }
                    if r.answer_timeout_secs == 0 || r.answer_timeout_secs > 24 * 3600 {
                        insane(
                            name,
                            "answer_timeout_secs",
                            r.answer_timeout_secs.to_string(),
                            "must be between 1 second and 1 day",
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// What the vision engines must offer for this flow.
    pub fn requirements(&self) -> VisionCapabilities {
        let mut caps = VisionCapabilities::default();
        for step in &self.steps {
            match step {
                Step::Document(d) => caps.documents.push((self.document, d.side)),
                Step::Selfie(s) => {
                    caps.face_match = true;
                    caps.liveness = true;
                    caps.liveness_certified = s.uncertified_liveness == UncertifiedLiveness::Reject;
                }
                Step::VideoLiveness(_) => caps.video_liveness = true,
                _ => {}
            }
        }
        caps
    }

    /// The registries this flow asks.
    pub fn registries(&self) -> Vec<RegistryId> {
        let mut out: Vec<RegistryId> = Vec::new();
        for step in &self.steps {
            if let Step::Registry(r) = step {
                for c in &r.checks {
                    if !out.contains(&c.registry) {
                        out.push(c.registry.clone());
                    }
                }
            }
        }
        out
    }

    /// A Mermaid `stateDiagram-v2` of the flow: its steps, their retake loops and limits, and
    /// the exits every waiting step has (STOP, expiry).
    pub fn to_mermaid(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "stateDiagram-v2");
        let document = serde_json::to_string(&self.document).unwrap_or_default();
        let _ = writeln!(
            m,
            "    %% {} v{}: {} {}",
            self.id,
            self.version,
            self.country.0,
            document.trim_matches('"')
        );
        let mut prev = "[*]";
        let mut label = "first message";
        for (index, step) in self.steps.iter().enumerate() {
            let name = step.name();
            let _ = writeln!(m, "    {prev} --> {name}: {label}");
            match step {
                Step::Consent(_) => {
                    let _ = writeln!(m, "    consent --> declined: decline");
                    label = "accept";
                }
                Step::Document(d) => {
                    let _ = writeln!(
                        m,
                        "    {name} --> {name}: retake with reason (max {} photos)",
                        d.max_attempts
                    );
                    let _ = writeln!(
                        m,
                        "    {name} --> {}: retakes exhausted",
                        exhausted_state(d.on_exhausted)
                    );
                    label = "accepted";
                }
                Step::Selfie(s) => {
                    let _ = writeln!(
                        m,
                        "    selfie --> selfie: retake with reason (max {} photos)",
                        s.max_attempts
                    );
                    let _ = writeln!(
                        m,
                        "    selfie --> {}: retakes exhausted",
                        exhausted_state(s.on_exhausted)
                    );
                    label = "face match and liveness pass";
                }
                Step::VideoLiveness(v) => {
                    let _ = writeln!(
                        m,
                        "    {name} --> {name}: retake with reason (max {} videos)",
                        v.max_attempts
                    );
                    let _ = writeln!(
                        m,
                        "    {name} --> {}: retakes exhausted",
                        exhausted_state(v.on_exhausted)
                    );
                    label = "head turn seen, same face";
                }
                Step::Registry(r) => {
                    let names: Vec<&str> = r.checks.iter().map(|c| c.registry.0.as_str()).collect();
                    let _ = writeln!(m, "    note right of registry : asks {}", names.join(", "));
                    let _ = writeln!(
                        m,
                        "    registry --> registry: unavailable, retry after {}s doubling (max {} queries)",
                        r.backoff_secs, r.max_attempts
                    );
                    let _ = writeln!(m, "    registry --> manual_review: still unavailable");
                    let _ = writeln!(m, "    registry --> rejected: negative answer");
                    label = "all valid";
                }
                Step::Decision => {
                    let _ = writeln!(m, "    decision --> approved: all checks pass");
                    let _ = writeln!(m, "    decision --> rejected: expired document, underage");
                    let _ = writeln!(
                        m,
                        "    decision --> manual_review: borderline score, uncertified liveness"
                    );
                }
            }
            if matches!(
                step,
                Step::Consent(_) | Step::Document(_) | Step::Selfie(_) | Step::VideoLiveness(_)
            ) {
                let r = self.reminders_at(index);
                let _ = writeln!(m, "    {name} --> cancelled: STOP");
                let _ = writeln!(
                    m,
                    "    {name} --> expired: {} reminders, then {} idle",
                    r.after_secs.len(),
                    human_secs(r.expire_after_secs)
                );
            }
            prev = name;
        }
        for end in [
            "approved",
            "rejected",
            "manual_review",
            "declined",
            "cancelled",
            "expired",
        ] {
            let _ = writeln!(m, "    {end} --> [*]");
        }
        m
    }
}

/// `72h`, `90min`, `45s`: the largest unit that divides evenly.
fn human_secs(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}min", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn exhausted_state(o: OnExhausted) -> &'static str {
    match o {
        OnExhausted::ManualReview => "manual_review",
        OnExhausted::Reject => "rejected",
    }
}

/// Every version of every flow a runtime serves: `(id, version) -> Flow`.
/// Serializes as a plain list of flows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Flow>", into = "Vec<Flow>")]
pub struct FlowSet {
    flows: BTreeMap<(String, u32), Flow>,
}

impl From<Vec<Flow>> for FlowSet {
    fn from(flows: Vec<Flow>) -> Self {
        let mut set = Self::new();
        for f in flows {
            set.insert(f);
        }
        set
    }
}

impl From<FlowSet> for Vec<Flow> {
    fn from(set: FlowSet) -> Self {
        set.flows.into_values().collect()
    }
}

impl FlowSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// The three presets.
    pub fn presets() -> Self {
        let mut set = Self::new();
        for name in Flow::PRESETS {
            if let Some(f) = Flow::preset(name) {
                set.insert(f);
            }
        }
        set
    }
    /// Add (or replace) a flow version.
    pub fn insert(&mut self, flow: Flow) {
        self.flows.insert((flow.id.clone(), flow.version), flow);
    }
    /// A specific version (the one a session started on).
    pub fn get(&self, id: &str, version: u32) -> Option<&Flow> {
        self.flows.get(&(id.to_owned(), version))
    }
    /// The newest version of `id` (for new sessions).
    pub fn latest(&self, id: &str) -> Option<&Flow> {
        self.flows
            .range((id.to_owned(), 0)..=(id.to_owned(), u32::MAX))
            .next_back()
            .map(|(_, f)| f)
    }
    /// Every flow, ordered by id then version.
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.flows.values()
    }
    /// Number of flow versions held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}
