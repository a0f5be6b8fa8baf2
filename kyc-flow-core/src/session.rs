//! Sessions: one user's onboarding in progress or decided.
//!
//! A session is everything the transition function needs and nothing else: where the user is
//! in the flow, attempts per step, the evidence collected so far, timers and counters that
//! make stale results and redelivered messages harmless. It carries a schema version and the
//! flow id and version it started on. It stays small (≈1–2 KiB as JSON mid-flow): message ids
//! are kept as 64-bit hashes, media references only while a photo is held (at most [`MAX_HELD_PHOTOS`]), and binary
//! evidence (the card portrait) lives in the evidence store, not here.
//! `Debug` never prints extracted field values or the user identifier.
//!
//! The session is also the **transactional outbox**: a transition's commands are staged in
//! [`Session::outbox`] by the same compare-and-set write that stores the new state, and the
//! runtime removes each one only after its effect happened ([`Outbox::complete`]). A crash at
//! any point leaves the commands in the session for the next worker to finish.

use crate::command::Command;
pub use crate::data::{Decision, DecisionReason};
use crate::data::{DecisionNotice, MediaRef};
use crate::evidence::{CrossCheck, ExtractedField, RegistryId, RegistryStatus, RetakeReason, Side};
use crate::flow::{Flow, FlowSet, Step};
use crate::ids::{PhoneNumber, SessionKey, UserRef};
use crate::locale::Locale;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the serialized session layout.
pub const SCHEMA_VERSION: u16 = 1;

/// How many recent inbound message ids a session remembers for idempotency.
pub const RECENT_MESSAGES: usize = 16;

/// The 64-bit FNV-1a hash of a WhatsApp message id, as sessions remember it (wamids are long;
/// a hash keeps the idempotency window small, and a collision among one user's last few
/// messages is vanishingly unlikely).
pub fn message_hash(message_id: &str) -> u64 {
    crate::ids::fnv1a64(message_id.as_bytes())
}

/// Where a capture step is in its lifecycle (see [`crate::lifecycle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Prompted, waiting for the user's input.
    Awaiting,
    /// An analysis (or registry query) is in flight.
    Processing,
    /// The last photo was rejected with a reason; waiting for a new one.
    Retake,
    /// Accepted; the flow moves on.
    Done,
}

/// Where a session is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum State {
    /// Created; the first inbound message greets and asks for consent.
    New,
    /// At step `index` of the flow.
    Step { index: u16, phase: Phase },
    /// A decision was made (see [`Session::decision`]).
    Decided,
}

/// The step index no step has: a photo held as a spare, claimed by no step yet.
pub const ANY_STEP: u16 = u16::MAX;

/// The most photos a session holds at once (being analysed and kept), whatever the flow. Within
/// it a session holds at most one photo per capture step it still needs (see
/// [`crate::machine`]): an album of front, back and selfie is held whole, and the session's
/// size stays bounded because held photos give way to evidence as steps are accepted. A burst
/// bigger than that keeps its first photos; the rest are deleted unread.
pub const MAX_HELD_PHOTOS: usize = 4;

/// A photo the session holds: being analysed for a step, or kept until a step can use it
/// (a photo that belongs to a later step, or a spare from a burst).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCapture {
    /// Capture number of the analysis in flight, echoed by its result; any other number is
    /// stale. 0 while the photo is kept and not being analysed.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub capture: u32,
    /// Hash of the WhatsApp message id that carried the photo.
    pub message: u64,
    /// Deleted from the platform once analysed.
    pub media: MediaRef,
    /// The step index it is analysed or kept for; [`ANY_STEP`] for a spare. (Sessions stored
    /// before photos were filed by step load with [`ANY_STEP`], read as the current step.)
    #[serde(default = "any_step", skip_serializing_if = "is_any_step")]
    pub step: u16,
    /// `step` was judged from the photo's content (the reader saw that side, or a face and no
    /// card), not from the order photos arrived in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known: bool,
}

impl PendingCapture {
    /// Whether an analysis of this photo is in flight.
    pub fn in_flight(&self) -> bool {
        self.capture != 0
    }
}

fn any_step() -> u16 {
    ANY_STEP
}

fn is_any_step(s: &u16) -> bool {
    *s == ANY_STEP
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// Sessions stored before several photos could be held carry `pending` as one object (or
/// null); read both shapes.
fn held_photos<'de, D>(d: D) -> Result<Vec<PendingCapture>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Many(Vec<PendingCapture>),
        One(PendingCapture),
    }
    Ok(match Option::<Shape>::deserialize(d)? {
        None => Vec::new(),
        Some(Shape::Many(v)) => v,
        Some(Shape::One(p)) => vec![p],
    })
}

/// Why the last photo analysed for a step did not fill it: what the user is told when the
/// conversation gets back to that step, and what decides when its attempts are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFailure {
    /// The engine asked for a retake with this reason.
    Retake(RetakeReason),
    /// The analysis failed or never came back (a retry may work).
    Analysis,
    /// The file could not be analysed at all.
    Unsupported,
    /// The user deleted the photo before its result.
    Revoked,
}

/// The failure recorded for a capture step (see [`CaptureFailure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    pub step: u16,
    pub failure: CaptureFailure,
}

/// A photo that was accepted for a step (kept so a revoked photo can be traced to its step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedCapture {
    pub step: u16,
    pub capture: u32,
    /// Hash of the WhatsApp message id.
    pub message: u64,
}

/// What was read from one side of the document.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SideEvidence {
    pub side: Option<Side>,
    pub fields: BTreeMap<String, ExtractedField>,
    /// Cross-checks the reader ran (names and outcomes, no PII).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CrossCheck>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub portrait: bool,
}

/// `Debug` lists field names only.
impl fmt::Debug for SideEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideEvidence")
            .field("side", &self.side)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("checks", &self.checks.len())
            .field("portrait", &self.portrait)
            .finish()
    }
}

/// Scores from the selfie step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfieEvidence {
    pub face_score: f32,
    pub face_threshold: f32,
    pub face_engine: String,
    pub liveness_score: f32,
    pub liveness_engine: String,
    pub liveness_certified: bool,
}

/// One registry's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEvidence {
    pub registry: RegistryId,
    pub status: RegistryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_fields: Vec<String>,
}

/// Everything collected so far.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<SideEvidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selfie: Option<SelfieEvidence>,
    /// What the video-liveness step measured on the accepted video note (no frame or face
    /// template: figures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<crate::evidence::VideoLiveness>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry: Vec<RegistryEvidence>,
    /// Reasons noted along the way that the decision must weigh (borderline score, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<DecisionReason>,
    /// Named risk codes raised so far (`crate::risk`), one per code: reported with the
    /// decision, and weighed by the flow's risk policy when it has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<crate::risk::RiskSignal>,
}

impl Evidence {
    /// A field read from any side (the later side wins when both carry it).
    pub fn field(&self, name: &str) -> Option<&ExtractedField> {
        self.documents.iter().rev().find_map(|d| d.fields.get(name))
    }
}

/// Progress of the registry step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegistryProgress {
    /// Which check of the step is being asked.
    pub check: u8,
    /// Queries sent to that registry so far.
    pub attempts: u8,
    /// Request number echoed by the answer; 0 when none is in flight.
    pub pending: u32,
}

/// One onboarding conversation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Layout version ([`SCHEMA_VERSION`] when written by this build).
    pub schema: u16,
    /// Opaque id (no PII); also used in registry correlation ids.
    pub id: String,
    /// Tenant × business number × user.
    pub key: SessionKey,
    /// The flow this session runs on, and the version it started on (and finishes on).
    pub flow_id: String,
    pub flow_version: u32,
    /// Number of events applied.
    pub seq: u64,
    /// When [`crate::machine::start`] created it.
    pub started_at: Timestamp,
    /// When the last event was applied.
    pub updated_at: Timestamp,
    /// Where in the flow the session is.
    pub state: State,
    /// The language messages are rendered in.
    pub locale: Locale,
    /// Photos submitted per step index.
    #[serde(default)]
    pub attempts: Vec<u8>,
    /// Last capture number issued.
    #[serde(default)]
    pub captures: u32,
    /// Photos held: being analysed (each for its step, under its own capture number) or kept
    /// for a later step, in the order they arrived; at most [`MAX_HELD_PHOTOS`].
    #[serde(
        default,
        deserialize_with = "held_photos",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pending: Vec<PendingCapture>,
    /// Why the last photo analysed for a capture step failed, per step not yet accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<StepFailure>,
    /// Photos received and not yet acknowledged: acknowledged once, together, when the burst
    /// timer fires or just before the next message, whichever comes first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub burst: u8,
    /// Token of the pending burst timer (0: none).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub burst_timer: u64,
    /// The accepted photo of each capture step so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<AcceptedCapture>,
    /// Last registry request number issued.
    #[serde(default)]
    pub requests: u32,
    /// Progress of the registry step.
    #[serde(default)]
    pub registry: RegistryProgress,
    /// What was collected: document fields, selfie scores, registry answers, flags.
    #[serde(default)]
    pub evidence: Evidence,
    /// When the user last wrote: WhatsApp's 24-hour window runs from here.
    #[serde(default)]
    pub last_inbound_at: Option<Timestamp>,
    /// Reminders and expiry count from here.
    pub last_activity_at: Timestamp,
    /// Reminders sent since the last activity.
    #[serde(default)]
    pub reminders_sent: u8,
    /// Reminders sent over the whole session (the funnel counts the reminded sessions and how
    /// many of them still completed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nudged: u8,
    /// Last timer token issued; each timer's current token is below.
    #[serde(default)]
    pub timer_tokens: u64,
    /// Token of the pending inactivity timer (0: none).
    #[serde(default)]
    pub inactivity_timer: u64,
    /// Token of the pending registry timer (0: none).
    #[serde(default)]
    pub registry_timer: u64,
    /// Hashes of the most recent inbound message ids (newest last), for idempotency.
    #[serde(default)]
    pub recent: Vec<u64>,
    /// The outcome, once decided (an operator may later resolve a manual review).
    pub decision: Option<Decision>,
    /// When [`Session::decision`] was last set.
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    /// How many times the user started over after declining, cancelling or expiring.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u8,
    /// How far the user got: the highest step index entered, plus one (0: no step yet). The
    /// funnel ([`crate::funnel`]) reads it once the session is decided and its state no
    /// longer says where it stopped.
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub reached: u16,
    /// Retakes asked for, by reason, over the whole session (the funnel's retakes per reason).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retakes: BTreeMap<RetakeReason, u8>,
    /// Messages sent to the user, by WhatsApp pricing category (the cost estimate).
    #[serde(default, skip_serializing_if = "MessageTally::is_empty")]
    pub sent: MessageTally,
    /// The user's phone number, kept only when the flow has a registry keyed by it and the
    /// key is not the number itself: shared with WhatsApp's contact-information request, or
    /// given by WhatsApp next to a business-scoped id. PII: masked wherever a session is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
    /// Contact-information requests sent while waiting for the phone (bounded by
    /// [`crate::machine::MAX_CONTACT_REQUESTS`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub contact_requests: u8,
    /// When WhatsApp refused a message because the user opted out of the business's
    /// marketing messages (error 131050): from then on no reminder or re-engagement
    /// template is sent; the session still expires on its own schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_out_at: Option<Timestamp>,
    /// Commands staged by transitions and not yet executed (the transactional outbox).
    #[serde(default, skip_serializing_if = "Outbox::is_empty")]
    pub outbox: Outbox,
    /// The most recent events applied and the audit lines they produced, newest last, at most
    /// [`LOG_ENTRIES`] (written by the runtime; `kyc-flow session show` prints it). No PII:
    /// event kinds and audit details only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<LogEntry>,
}

/// How many entries [`Session::log`] keeps (the oldest are dropped first).
pub const LOG_ENTRIES: usize = 40;

/// One line of a session's log: an event applied (`event`: its kind) or an audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// [`Session::seq`] after the event.
    pub seq: u64,
    pub at: Timestamp,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Messages a session sent, by WhatsApp pricing category: free-form `service` messages inside
/// the 24-hour window, and templates (`utility` for every built-in template; `marketing` for
/// the ones a catalog marks so). Counted when the transition stages the send (the outbox then
/// sends each exactly once or dead-letters it), saturating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageTally {
    #[serde(default, skip_serializing_if = "is_zero_u16", rename = "svc")]
    pub service: u16,
    #[serde(default, skip_serializing_if = "is_zero_u16", rename = "utl")]
    pub utility: u16,
    #[serde(default, skip_serializing_if = "is_zero_u16", rename = "mkt")]
    pub marketing: u16,
}

impl MessageTally {
    /// Nothing sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// All messages.
    pub fn total(&self) -> u32 {
        u32::from(self.service) + u32::from(self.utility) + u32::from(self.marketing)
    }
}

/// A command waiting in the outbox, with the stable coordinates that name it: the session
/// sequence number of the transition that produced it and its position among that
/// transition's commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// [`Session::seq`] right after the transition that staged it.
    pub seq: u64,
    /// Position among that transition's commands.
    pub index: u16,
    /// Attempts that ended without knowing whether the effect happened (a send that timed
    /// out); see [`Outbox::note_ambiguous`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ambiguous: u8,
    pub command: Command,
}

/// The session's transactional outbox: pending commands in execution order, and a high-water
/// mark of the last one completed (completed commands are dropped, so the session stays small).
///
/// ```
/// use kyc_flow_core::command::Command;
/// use kyc_flow_core::session::Outbox;
/// let mut outbox = Outbox::default();
/// outbox.stage(7, [Command::DeleteEvidence, Command::CancelTimer { name: "reminder".into() }]);
/// assert!(outbox.complete_through(7, 0, None));
/// assert!(outbox.is_done(7, 0) && !outbox.is_done(7, 1));
/// assert!(!outbox.complete_through(7, 0, None), "completed once");
/// assert!(outbox.complete_through(7, 1, None));
/// assert!(outbox.pending.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outbox {
    /// Not yet executed, oldest first; executed strictly in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<OutboxEntry>,
    /// `(seq, index)` of the last completed command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<(u64, u16)>,
    /// Hash ([`message_hash`]) of the platform id of the last message sent, so a status
    /// webhook or an operator can tie a delivery to this session without storing the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent: Option<u64>,
}

impl Outbox {
    /// Whether there is nothing to store (no pending command, no mark).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.done.is_none() && self.last_sent.is_none()
    }

    /// Stage a transition's commands, in order, under sequence number `seq`.
    pub fn stage(&mut self, seq: u64, commands: impl IntoIterator<Item = Command>) {
        for (index, command) in commands.into_iter().enumerate() {
            self.pending.push(OutboxEntry {
                seq,
                index: u16::try_from(index).unwrap_or(u16::MAX),
                ambiguous: 0,
                command,
            });
        }
    }

    /// The next command to execute, if any.
    pub fn next(&self) -> Option<&OutboxEntry> {
        self.pending.first()
    }

    /// Whether `(seq, index)` is completed: at or below the high-water mark and not pending.
    pub fn is_done(&self, seq: u64, index: u16) -> bool {
        self.done.is_some_and(|d| (seq, index) <= d) && self.pending_at(seq, index).is_none()
    }

    /// Where command `(seq, index)` stands among the pending ones.
    fn pending_at(&self, seq: u64, index: u16) -> Option<usize> {
        self.pending
            .iter()
            .position(|e| e.seq == seq && e.index == index)
    }

    /// Record that every pending command up to and including `(seq, index)` had its effect
    /// (commands complete in order). `sent` is the platform id of the last message sent among
    /// them. Returns `false` when `(seq, index)` is no longer pending (another worker
    /// completed it).
    pub fn complete_through(&mut self, seq: u64, index: u16, sent: Option<&str>) -> bool {
        let Some(at) = self.pending_at(seq, index) else {
            return false;
        };
        self.pending.drain(..=at);
        self.raise_mark(seq, index);
        if let Some(id) = sent {
            self.last_sent = Some(message_hash(id));
        }
        true
    }

    /// Record that the pending command `(seq, index)` alone had its effect, ahead of the
    /// commands before it: for a command the runtime hands to a delivery of its own (the
    /// decision notice becomes a queue job) so that it never waits behind earlier ones, such
    /// as a WhatsApp send that keeps failing. Returns `false` when it is no longer pending.
    ///
    /// ```
    /// use kyc_flow_core::command::Command;
    /// use kyc_flow_core::session::Outbox;
    /// let mut outbox = Outbox::default();
    /// outbox.stage(3, [Command::DeleteEvidence, Command::CancelTimer { name: "reminder".into() }]);
    /// assert!(outbox.complete_one(3, 1));
    /// assert!(outbox.is_done(3, 1) && !outbox.is_done(3, 0), "the earlier one still pending");
    /// assert!(outbox.complete_through(3, 0, None));
    /// assert!(outbox.is_done(3, 1), "the mark never moves back");
    /// assert!(!outbox.complete_one(3, 1), "completed once");
    /// ```
    pub fn complete_one(&mut self, seq: u64, index: u16) -> bool {
        let Some(at) = self.pending_at(seq, index) else {
            return false;
        };
        self.pending.remove(at);
        self.raise_mark(seq, index);
        true
    }

    fn raise_mark(&mut self, seq: u64, index: u16) {
        self.done = Some(self.done.map_or((seq, index), |d| d.max((seq, index))));
    }

    /// Count an attempt of the pending command `(seq, index)` whose outcome is unknown;
    /// returns the new count, or `None` when it is no longer pending.
    pub fn note_ambiguous(&mut self, seq: u64, index: u16) -> Option<u8> {
        let e = self
            .pending
            .iter_mut()
            .find(|e| e.seq == seq && e.index == index)?;
        e.ambiguous = e.ambiguous.saturating_add(1);
        Some(e.ambiguous)
    }
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// How many times a user may start over (after declining, STOP or expiry) on one session key;
/// bounded so that STOP cannot be used to reset the attempt limits indefinitely.
pub const MAX_RESTARTS: u8 = 3;

impl Session {
    /// Append to the log, keeping the newest [`LOG_ENTRIES`] (details cut at 120 characters).
    pub fn note(&mut self, at: Timestamp, kind: &str, detail: &str) {
        self.log.push(LogEntry {
            seq: self.seq,
            at,
            kind: kind.to_owned(),
            detail: detail.chars().take(120).collect(),
        });
        if self.log.len() > LOG_ENTRIES {
            let extra = self.log.len() - LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }

    /// The id this session was created under: [`Session::id`] without the `.r<n>` suffix a
    /// restart adds (see [`crate::machine`]).
    pub fn base_id(&self) -> &str {
        match self.id.rsplit_once(".r") {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => self.id.as_str(),
        }
    }

    /// The stable idempotency key of the outbox command `(seq, index)`:
    /// `{base id}:{seq}:{index}`. The base id is unique per conversation start (it embeds the
    /// creation time) and `seq` keeps counting across restarts, so no two commands ever share
    /// a key, and every retry of one command sends the same key. Contains no PII.
    pub fn idempotency_key(&self, seq: u64, index: u16) -> String {
        format!("{}:{seq}:{index}", self.base_id())
    }

    /// Whether the user may start over by writing again: the session ended without a verdict
    /// (declined, cancelled, expired) and the restart budget is not spent.
    pub fn can_restart(&self) -> bool {
        matches!(
            self.decision,
            Some(Decision::Declined | Decision::Cancelled | Decision::Expired)
        ) && self.restarts < MAX_RESTARTS
    }

    /// The user's phone number: the session key when it is one, else the one recorded in
    /// [`Session::phone`] (PII: for the registry query only).
    pub fn phone_number(&self) -> Option<PhoneNumber> {
        match &self.key.user {
            UserRef::Phone(p) => PhoneNumber::parse(p),
            UserRef::Bsuid(_) => self.phone.clone(),
        }
    }

    /// Whether reminders and re-engagement templates may be sent: not after the user opted
    /// out of marketing messages (131050), and never once the session is over (STOP, a
    /// decision, expiry).
    pub fn may_nudge(&self) -> bool {
        self.opted_out_at.is_none() && !self.is_terminal()
    }

    /// Whether a decision was made (nothing but operator decisions and status replies follow).
    pub fn is_terminal(&self) -> bool {
        matches!(self.state, State::Decided)
    }

    /// Where the session is, as a metrics label: `new`, the current step's name
    /// (`consent`, `document_front`, `selfie`, …) or `decided`. For funnel metrics (drop-off
    /// per step).
    pub fn step_name(&self, flow: &Flow) -> &'static str {
        match self.state {
            State::New => "new",
            State::Decided => "decided",
            State::Step { index, .. } => flow
                .steps
                .get(usize::from(index))
                .map_or("unknown", Step::name),
        }
    }

    /// The notice for the decision sink, once decided.
    pub fn decision_notice(&self) -> Option<DecisionNotice> {
        Some(DecisionNotice {
            session_id: self.id.clone(),
            key: self.key.clone(),
            flow_id: self.flow_id.clone(),
            flow_version: self.flow_version,
            decision: self.decision.clone()?,
            decided_at: self.decided_at.unwrap_or(self.updated_at),
            evidence: self.evidence_summary(),
            idempotency_key: String::new(),
        })
    }

    /// The evidence in the shape the decision webhook carries (PII included: fields are the
    /// document's data; sinks send it over authenticated, encrypted channels only).
    /// The capture number of the accepted photo of the flow's front side, whose card portrait
    /// the selfie is matched against.
    pub fn accepted_front_capture(&self, flow: &crate::flow::Flow) -> Option<u32> {
        let index = flow.steps.iter().position(
            |s| matches!(s, crate::flow::Step::Document(d) if d.side == crate::evidence::Side::Front),
        )?;
        let step = u16::try_from(index).ok()?;
        self.accepted
            .iter()
            .find(|a| a.step == step)
            .map(|a| a.capture)
    }

    pub fn evidence_summary(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let mut fields = Map::new();
        let mut checks = Vec::new();
        for d in &self.evidence.documents {
            for (name, f) in &d.fields {
                fields.insert(
                    name.clone(),
                    json!({
                        "value": f.value,
                        "confidence": f.confidence,
                        "source": f.source,
                        "side": d.side,
                    }),
                );
            }
            for c in &d.checks {
                checks.push(json!({"name": c.name, "passed": c.passed, "side": d.side}));
            }
        }
        let selfie = self.evidence.selfie.as_ref().map_or(Value::Null, |s| {
            json!({
                "face_score": s.face_score,
                "face_threshold": s.face_threshold,
                "face_engine": s.face_engine,
                "liveness_score": s.liveness_score,
                "liveness_engine": s.liveness_engine,
                "liveness_certified": s.liveness_certified,
            })
        });
        json!({
            "schema": self.schema,
            "flow": {"id": self.flow_id, "version": self.flow_version},
            "locale": self.locale,
            "started_at": self.started_at,
            "decided_at": self.decided_at,
            "attempts": self.attempts,
            "fields": fields,
            "checks": checks,
            "portrait": self.evidence.documents.iter().any(|d| d.portrait),
            "selfie": selfie,
            "registry": self.evidence.registry,
            "flags": self.evidence.flags,
            // Each raised code with its severity (the flow's action for it is in the audit
            // trail and, when it changed the decision, in the reasons as `risk_policy`).
            "risk": self.evidence.risk.iter().map(|r| json!({
                "code": r.code,
                "severity": r.code.severity(),
                "score": r.score,
                "detail": r.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

/// `Debug` never prints field values or the user identifier.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("schema", &self.schema)
            .field("id", &self.id)
            .field("key", &self.key)
            .field(
                "flow",
                &format_args!("{}@{}", self.flow_id, self.flow_version),
            )
            .field("seq", &self.seq)
            .field("state", &self.state)
            .field("locale", &self.locale)
            .field("attempts", &self.attempts)
            .field("captures", &self.captures)
            .field("held", &self.pending.len())
            .field("evidence", &self.evidence)
            .field("decision", &self.decision)
            .field("outbox", &self.outbox.pending.len())
            .field("phone", &self.phone.is_some())
            .field("opted_out_at", &self.opted_out_at)
            .finish_non_exhaustive()
    }
}

// Sessions depend on flows, never the other way round: this lookup lives here so that
// `flow` does not import `session`.
impl FlowSet {
    /// The flow a session runs on (the version it started on).
    pub fn for_session(&self, session: &Session) -> Option<&Flow> {
        self.get(&session.flow_id, session.flow_version)
    }
}
