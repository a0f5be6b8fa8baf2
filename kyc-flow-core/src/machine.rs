//! The transition function: `(flow, catalog, session, event, now) -> (session, commands)`.
//!
//! [`step`] is total and pure: whatever the event, it returns a session and commands, never
//! panics, reads no clock and does no I/O, so the same inputs always give the same outputs and
//! a session can be rebuilt from its event log. Bad input is a state transition (a retake, a
//! guidance message), never an error.
//!
//! What it guarantees:
//! - **Idempotency per WhatsApp message id**: a redelivered inbound message returns the session
//!   unchanged and no commands.
//! - **Photos are filed by content, not arrival order**: several photos can be in flight at
//!   once, each analysed for the step it is filed under (the first capture step with no photo);
//!   a document photo the reader says shows the other side, or a face and no card, is filed
//!   under that step silently and analysed for it (the selfie only once its step is reached).
//! - **Stale results are ignored**: every analysis gets a capture number and every registry
//!   query a request number; a result for anything but an analysis in flight — a photo the user
//!   replaced with a newer one of the same step, revoked, or one whose analysis was lost — only
//!   bumps `seq` and audits.
//! - **One acknowledgement per burst**: photos are acknowledged once, together ("Recibí 3
//!   fotos"), when the burst timer fires or before the next message if that comes first; the
//!   conversation asks for what is missing only once no analysis is in flight.
//! - **Timers are tokens**: a timer that was replaced meanwhile fires with an old token and is
//!   ignored.
//! - **Every waiting session has a timer** (inactivity while the user is expected to act, the
//!   registry deadline while a registry is asked), so running the clock forward always ends a
//!   session — with a decision or with expiry.
//! - **Registry unavailable is not negative**: it is retried with exponential backoff, then sent
//!   to manual review; only an answer other than `valid` or `unavailable` rejects.
//! - **Uncertified liveness never approves on its own** unless the flow says
//!   [`UncertifiedLiveness::ApproveWithFlag`], and then the flag is in the decision's reasons.
//! - **Attempts never exceed the step's limit**: when a retake is needed at the limit, the
//!   step's `on_exhausted` policy decides.

use crate::catalog::{self, Catalog, Keyword};
use crate::command::{AuditEntry, ButtonSpec, Command, MessageDelivery, MessageSpec};
use crate::data::MediaRef;
use crate::event::{Event, Inbound, InboundContent, MediaKind};
use crate::evidence::{
    DocumentOutcome, RegistryQuery, RegistryResult, RegistryStatus, RetakeReason, SelfieOutcome,
    Side, VideoOutcome,
};
use crate::flow::{Flow, OnExhausted, Step, UncertifiedLiveness};
use crate::ids::{SessionKey, UserRef};
use crate::lifecycle::{self, CaptureInput};
use crate::locale::Locale;
use crate::risk::{RiskAction, RiskCode, RiskSignal};
use crate::session::{
    ANY_STEP, AcceptedCapture, CaptureFailure, Decision, DecisionReason, Evidence, MAX_HELD_PHOTOS,
    PendingCapture, Phase, RECENT_MESSAGES, RegistryEvidence, RegistryProgress, SCHEMA_VERSION,
    SelfieEvidence, Session, SideEvidence, State, StepFailure, message_hash,
};
use crate::time::{Date, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Name of the inactivity timer (reminders, then expiry).
pub const INACTIVITY_TIMER: &str = "inactivity";
/// Name of the registry timer (answer deadline, or the wait before a retry).
pub const REGISTRY_TIMER: &str = "registry";
/// Name of the timer that acknowledges a burst of photos once.
pub const BURST_TIMER: &str = "burst";
/// How long after the first photo of a burst the acknowledgement waits for the rest (an album
/// arrives as one message per photo, within a second or two). A message sent before then is
/// preceded by the acknowledgement.
pub const BURST_WINDOW: Duration = Duration::from_secs(2);
/// WhatsApp's customer-service window: free-form messages only this long after the user's
/// last message.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How many contact-information requests a session sends while a registry waits for the
/// user's phone number (the first, and one with each reply that is not the answer); a reply
/// after the last one sends the session to manual review (`missing_data`).
pub const MAX_CONTACT_REQUESTS: u8 = 3;

/// The result of one step: the new session and what to do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub session: Session,
    pub commands: Vec<Command>,
}

/// New session for `key` on `flow` (state "new"; the first inbound message greets and asks consent).
pub fn start(
    flow: &Flow,
    key: SessionKey,
    id: String,
    locale: Option<Locale>,
    now: Timestamp,
) -> Session {
    Session {
        schema: SCHEMA_VERSION,
        id,
        key,
        flow_id: flow.id.clone(),
        flow_version: flow.version,
        seq: 0,
        started_at: now,
        updated_at: now,
        state: State::New,
        locale: locale.unwrap_or(flow.default_locale),
        attempts: vec![0; flow.steps.len()],
        captures: 0,
        pending: Vec::new(),
        failures: Vec::new(),
        burst: 0,
        burst_timer: 0,
        accepted: Vec::new(),
        requests: 0,
        registry: RegistryProgress::default(),
        evidence: Evidence::default(),
        last_inbound_at: None,
        last_activity_at: now,
        reminders_sent: 0,
        nudged: 0,
        timer_tokens: 0,
        inactivity_timer: 0,
        registry_timer: 0,
        recent: Vec::new(),
        decision: None,
        decided_at: None,
        restarts: 0,
        reached: 0,
        retakes: Default::default(),
        sent: Default::default(),
        phone: None,
        contact_requests: 0,
        opted_out_at: None,
        outbox: crate::session::Outbox::default(),
        log: Vec::new(),
    }
}

/// The transition function. Total: never panics, whatever the event.
///
/// `flow` must be the flow the session started on (`FlowSet::for_session`); given another,
/// the session is returned unchanged with an audit entry saying so.
pub fn step(
    flow: &Flow,
    catalog: &Catalog,
    session: Session,
    event: &Event,
    now: Timestamp,
) -> Transition {
    if flow.id != session.flow_id || flow.version != session.flow_version {
        let detail = format!(
            "session runs {}@{}, was given {}@{}",
            session.flow_id, session.flow_version, flow.id, flow.version
        );
        return Transition {
            session,
            commands: vec![Command::Audit(AuditEntry {
                at: now,
                kind: "flow.mismatch".into(),
                detail,
            })],
        };
    }
    if let Event::Inbound(m) = event
        && session.recent.contains(&message_hash(&m.message_id))
    {
        return Transition {
            session,
            commands: Vec::new(),
        };
    }
    let mut m = Machine {
        flow,
        catalog,
        s: session,
        out: Vec::with_capacity(6),
        now,
        rearm: false,
        ask: false,
        lead: None,
    };
    m.s.seq = m.s.seq.saturating_add(1);
    m.s.updated_at = now;
    // Sessions created under an older flow of the same version cannot have fewer slots, but a
    // deserialized one might; never index out of range.
    if m.s.attempts.len() < flow.steps.len() {
        m.s.attempts.resize(flow.steps.len(), 0);
    }
    // A session stored when one photo at a time was analysed holds it for the current step.
    let current = u16::try_from(m.current_index()).unwrap_or(ANY_STEP);
    for p in &mut m.s.pending {
        if p.step == ANY_STEP && p.in_flight() {
            p.step = current;
        }
    }
    m.handle(event);
    m.ensure_timers();
    if let Some(lead) = m.lead.take() {
        m.push_send(lead, Vec::new());
    }
    Transition {
        session: m.s,
        commands: m.out,
    }
}

struct Machine<'a> {
    flow: &'a Flow,
    catalog: &'a Catalog,
    s: Session,
    out: Vec<Command>,
    now: Timestamp,
    /// The user acted: the inactivity timer restarts from now.
    rearm: bool,
    /// The current capture step was just entered: ask for it once nothing is in flight.
    ask: bool,
    /// A greeting waiting to open the transition's next message (see [`MessageSpec::lead`]);
    /// said on its own if nothing follows.
    lead: Option<&'static str>,
}

/// Where the session is, resolved against the flow.
#[derive(Clone, Copy)]
enum At<'a> {
    New,
    Decided,
    Step {
        index: usize,
        phase: Phase,
        step: &'a Step,
    },
}

impl<'a> Machine<'a> {
    fn at(&self) -> At<'a> {
        match self.s.state {
            State::New => At::New,
            State::Decided => At::Decided,
            State::Step { index, phase } => match self.flow.steps.get(usize::from(index)) {
                Some(step) => At::Step {
                    index: usize::from(index),
                    phase,
                    step,
                },
                // A step index past the end cannot be acted on: treat it as reaching the end.
                None => At::Decided,
            },
        }
    }

    fn set_phase(&mut self, index: usize, phase: Phase) {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        self.s.reached = self.s.reached.max(index.saturating_add(1));
        self.s.state = State::Step { index, phase };
    }

    /// Greet: the welcome opens the next message of this transition (the consent question),
    /// so it is not a paid message of its own.
    fn greet(&mut self) {
        self.acknowledge_burst();
        self.lead = Some("welcome");
    }

    /// Stage a message, counted by its pricing category. A pending greeting opens it when it
    /// is a session message; a template cannot carry it, so the greeting goes first, alone.
    fn push_message(&mut self, mut spec: MessageSpec) {
        if let Some(lead) = self.lead.take() {
            if matches!(spec.delivery, MessageDelivery::Session) {
                spec.lead = Some(lead.to_owned());
            } else {
                self.push_send(lead, Vec::new());
            }
        }
        let tally = &mut self.s.sent;
        let count = match &spec.delivery {
            MessageDelivery::Session => &mut tally.service,
            MessageDelivery::Template { name } if self.catalog.is_marketing(name) => {
                &mut tally.marketing
            }
            MessageDelivery::Template { .. } => &mut tally.utility,
        };
        *count = count.saturating_add(1);
        self.out.push(Command::Send(spec));
    }

    // ----------------------------------------------------------------------------------------
    // Outputs
    // ----------------------------------------------------------------------------------------

    fn audit(&mut self, kind: &str, detail: impl Into<String>) {
        self.out.push(Command::Audit(AuditEntry {
            at: self.now,
            kind: kind.to_owned(),
            detail: detail.into(),
        }));
    }

    fn in_window(&self) -> bool {
        self.s
            .last_inbound_at
            .is_some_and(|t| t.plus(SERVICE_WINDOW) > self.now)
    }

    fn delivery(&self, key: &str) -> MessageDelivery {
        if self.in_window() {
            return MessageDelivery::Session;
        }
        match self.catalog.template_name(key) {
            Some(name) => MessageDelivery::Template {
                name: name.to_owned(),
            },
            // No template for this key: send it anyway; the transport reports OutsideWindow.
            None => MessageDelivery::Session,
        }
    }

    fn send(&mut self, key: &str) {
        self.send_with(key, Vec::new());
    }

    fn send_with(&mut self, key: &str, params: Vec<(String, String)>) {
        // A single photo is acknowledged by whatever is said next in the same breath — its
        // verdict, the next step's prompt — so a separate "received" would be a paid message
        // saying nothing more. Several photos still hear how many arrived, first.
        if self.s.burst == 1 {
            self.s.burst = 0;
        } else {
            self.acknowledge_burst();
        }
        self.push_send(key, params);
    }

    fn push_send(&mut self, key: &str, params: Vec<(String, String)>) {
        let delivery = self.delivery(key);
        self.push_message(MessageSpec {
            key: key.to_owned(),
            params,
            buttons: Vec::new(),
            delivery,
            lead: None,
            request_contact: false,
        });
    }

    fn send_consent(&mut self, key: &str) {
        self.acknowledge_burst();
        self.push_message(MessageSpec {
            key: key.to_owned(),
            params: Vec::new(),
            buttons: vec![
                ButtonSpec {
                    id: catalog::CONSENT_ACCEPT.to_owned(),
                    label_key: "button.accept".to_owned(),
                },
                ButtonSpec {
                    id: catalog::CONSENT_DECLINE.to_owned(),
                    label_key: "button.decline".to_owned(),
                },
            ],
            delivery: MessageDelivery::Session,
            lead: None,
            request_contact: false,
        });
    }

    /// Ask again for what step `index` needs.
    fn prompt(&mut self, index: usize) {
        match self.flow.steps.get(index) {
            Some(Step::Consent(_)) => self.send_consent("consent.ask"),
            Some(Step::Registry(_)) if self.awaiting_phone() => self.request_contact(None),
            Some(_) => {
                if let Some(key) = self.flow.prompt_key(index) {
                    self.send(key);
                }
            }
            None => {}
        }
    }

    fn delete_media(&mut self, media: &MediaRef) {
        self.out.push(Command::DeleteMedia {
            media: media.clone(),
        });
    }

    /// Let go of every photo held (deleting it from the platform); in-flight results go stale.
    fn drop_held(&mut self) {
        for p in std::mem::take(&mut self.s.pending) {
            self.out.push(Command::DeleteMedia { media: p.media });
        }
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    fn next_token(&mut self) -> u64 {
        self.s.timer_tokens = self.s.timer_tokens.wrapping_add(1).max(1);
        self.s.timer_tokens
    }

    fn set_timer(&mut self, name: &'static str, at: Timestamp) -> u64 {
        let token = self.next_token();
        self.out.push(Command::SetTimer {
            name: name.to_owned(),
            at,
            token,
        });
        token
    }

    fn cancel_timer(&mut self, name: &'static str) {
        self.out.push(Command::CancelTimer {
            name: name.to_owned(),
        });
    }

    fn current_index(&self) -> usize {
        match self.s.state {
            State::Step { index, .. } => usize::from(index),
            _ => 0,
        }
    }

    /// Schedule the next reminder (or the expiry) counted from the last activity.
    fn arm_inactivity(&mut self) {
        let policy = self.flow.reminders_at(self.current_index());
        let offset = policy
            .after_secs
            .get(usize::from(self.s.reminders_sent))
            .copied()
            .unwrap_or(policy.expire_after_secs);
        let at = self
            .s
            .last_activity_at
            .plus(Duration::from_secs(offset))
            .max(Timestamp(self.now.0.saturating_add(1)));
        self.s.inactivity_timer = self.set_timer(INACTIVITY_TIMER, at);
    }

    fn disarm_inactivity(&mut self) {
        if self.s.inactivity_timer != 0 {
            self.s.inactivity_timer = 0;
            self.cancel_timer(INACTIVITY_TIMER);
        }
    }

    fn disarm_burst(&mut self) {
        self.s.burst = 0;
        if self.s.burst_timer != 0 {
            self.s.burst_timer = 0;
            self.cancel_timer(BURST_TIMER);
        }
    }

    fn disarm_registry(&mut self) {
        if self.s.registry_timer != 0 {
            self.s.registry_timer = 0;
            self.cancel_timer(REGISTRY_TIMER);
        }
    }

    /// The invariant that makes every session end: while the user is expected to act there is
    /// an inactivity timer; while a registry is asked there is a registry timer; a decided
    /// session has none.
    fn ensure_timers(&mut self) {
        match self.at() {
            At::New => {}
            At::Decided => {
                self.disarm_inactivity();
                self.disarm_registry();
                self.disarm_burst();
            }
            At::Step { step, phase, .. } => match step {
                Step::Registry(_) if phase != Phase::Awaiting => {
                    self.disarm_inactivity();
                    if self.s.registry_timer == 0 {
                        // Lost track of the registry (cannot happen through `step`, but a
                        // hand-edited session might): ask again from the current check.
                        self.query_registry();
                    }
                }
                _ => {
                    self.disarm_registry();
                    if self.s.inactivity_timer == 0 || self.rearm {
                        self.arm_inactivity();
                    }
                }
            },
        }
    }

    // ----------------------------------------------------------------------------------------
    // Dispatch
    // ----------------------------------------------------------------------------------------

    fn handle(&mut self, event: &Event) {
        match event {
            Event::Inbound(m) => self.inbound(m),
            Event::DocumentAnalysed {
                capture,
                side,
                outcome,
            } => self.document_result(*capture, *side, outcome),
            Event::SelfieAnalysed { capture, outcome } => self.selfie_result(*capture, outcome),
            Event::VideoAnalysed { capture, outcome } => self.video_result(*capture, outcome),
            Event::AnalysisFailed {
                capture,
                retryable,
                reason,
            } => self.analysis_failed(*capture, *retryable, reason),
            Event::RegistryAnswered { request, result } => self.registry_answer(*request, result),
            Event::RegistryFailed { request, reason } => {
                if self.registry_pending(*request) {
                    self.registry_failed(reason);
                } else {
                    self.audit("registry.stale", format!("failure for request {request}"));
                }
            }
            Event::TimerFired { name, token } => self.timer(name, *token),
            Event::OperatorDecision {
                decision, operator, ..
            } => self.operator(decision, operator),
            Event::MessageEdited { message_id } => {
                let h = message_hash(message_id);
                if self.is_photo(h) {
                    // WhatsApp edits change a caption, never the photo itself.
                    self.audit(
                        "photo.edited",
                        "caption edited; the analysed photo is unchanged",
                    );
                }
            }
            Event::MessageRevoked { message_id } => self.revoked(message_hash(message_id)),
            Event::IdentityChanged { new_user } => self.identity_changed(new_user.as_ref()),
            Event::OptedOut => self.opted_out(),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Inbound messages
    // ----------------------------------------------------------------------------------------

    fn inbound(&mut self, m: &Inbound) {
        let h = message_hash(&m.message_id);
        if self.s.recent.len() >= RECENT_MESSAGES {
            self.s.recent.remove(0);
        }
        self.s.recent.push(h);
        self.s.last_inbound_at = Some(self.s.last_inbound_at.map_or(m.at, |t| t.max(m.at)));
        self.out.push(Command::MarkRead {
            message_id: m.message_id.clone(),
        });
        if let Some(phone) = &m.phone
            && self.s.phone.is_none()
            && matches!(self.s.key.user, UserRef::Bsuid(_))
            && self.flow.needs_phone()
        {
            // WhatsApp gave the number next to the business-scoped id: never ask for it.
            self.s.phone = Some(phone.clone());
            self.audit("contact.phone_known", "given by WhatsApp with the message");
        }
        let media = match &m.content {
            InboundContent::Media { media, .. } => Some(media),
            _ => None,
        };
        let keyword = match &m.content {
            InboundContent::Text { body } => catalog::keyword(body),
            InboundContent::Reply { id, .. } if id == catalog::CONSENT_ACCEPT => Some(Keyword::Yes),
            InboundContent::Reply { id, .. } if id == catalog::CONSENT_DECLINE => Some(Keyword::No),
            _ => None,
        };

        if let Some(Keyword::Language(l)) = keyword {
            self.s.locale = match (l, self.flow.default_locale) {
                (Locale::EsMx, d @ (Locale::EsMx | Locale::EsCo | Locale::EsPe)) => d,
                _ => l,
            };
            self.audit("locale.changed", self.s.locale.tag());
        }

        let (index, phase, step) = match self.at() {
            At::Decided if keyword == Some(Keyword::Stop) => {
                // Already over: STOP gets silence, never a restart or a status message.
                if let Some(media) = media {
                    self.delete_media(media);
                }
                self.audit("user.stop", "after the decision");
                return;
            }
            At::Decided if self.s.can_restart() => {
                // Declined, cancelled or expired: writing again starts over (welcome, consent).
                if let Some(media) = media {
                    self.delete_media(media);
                }
                self.restart();
                self.greet();
                self.enter(0);
                return;
            }
            At::Decided => {
                if let Some(media) = media {
                    self.delete_media(media);
                }
                let key = match &self.s.decision {
                    Some(Decision::Approved { .. }) => "status.approved",
                    Some(Decision::Rejected { .. }) => "status.rejected",
                    Some(Decision::ManualReview { .. }) => "status.review",
                    _ => "status.closed",
                };
                self.send(key);
                return;
            }
            At::New => {
                if let Some(media) = media {
                    self.delete_media(media);
                }
                self.touch();
                if keyword == Some(Keyword::Stop) {
                    self.audit("user.stop", "before consent");
                    self.decide(Decision::Cancelled, None);
                    return;
                }
                self.greet();
                self.enter(0);
                return;
            }
            At::Step { index, phase, step } => (index, phase, step),
        };

        let resumed = self.s.reminders_sent > 0;
        self.touch();
        match keyword {
            Some(Keyword::Stop) => {
                if let Some(media) = media {
                    self.delete_media(media);
                }
                self.audit("user.stop", format!("at {}", step.name()));
                self.decide(Decision::Cancelled, None);
                return;
            }
            Some(Keyword::Help) => {
                self.send("help");
                if phase == Phase::Processing {
                    self.send("guidance.wait");
                } else {
                    self.prompt(index);
                }
                return;
            }
            Some(Keyword::Language(_)) => {
                // Say the current step again, in the new language.
                if phase == Phase::Processing {
                    self.send("guidance.wait");
                } else {
                    self.prompt(index);
                }
                return;
            }
            _ => {}
        }

        match step {
            Step::Consent(_) => {
                if let Some(media) = media {
                    self.delete_media(media);
                }
                match keyword {
                    Some(Keyword::Yes) => {
                        // Which text was agreed to, in which language (no PII).
                        let version = self
                            .catalog
                            .consent_version(self.s.locale)
                            .unwrap_or_else(|| "unknown".to_owned());
                        self.audit(
                            "consent.given",
                            format!("text {version} ({})", self.s.locale.tag()),
                        );
                        self.advance(index);
                    }
                    Some(Keyword::No) => {
                        self.audit("consent.declined", "");
                        self.decide(Decision::Declined, None);
                    }
                    _ if resumed => {
                        self.send("resume");
                        self.send_consent("consent.ask");
                    }
                    _ => self.send_consent("consent.guidance"),
                }
            }
            Step::Document(_) | Step::Selfie(_) => match &m.content {
                InboundContent::Media {
                    kind, media: mref, ..
                } => {
                    if is_heic_file(*kind, mref) {
                        // WhatsApp passes an iPhone's HEIC file through untouched when it is
                        // sent as a document (as a photo it is converted to JPEG): say so at
                        // once instead of failing its analysis.
                        self.delete_media(mref);
                        self.send("guidance.heic");
                    } else if is_photo(*kind, mref) {
                        if m.forwarded
                            && self.raise(
                                RiskSignal::new(RiskCode::ForwardedMedia)
                                    .with_detail("a photo arrived marked as forwarded"),
                            )
                        {
                            self.audit("risk.raised", RiskCode::ForwardedMedia.as_str());
                        }
                        self.photo_arrived(index, mref.clone(), h);
                    } else {
                        self.delete_media(mref);
                        self.send(if *kind == MediaKind::Document {
                            "retake.unsupported_media"
                        } else {
                            "guidance.unsupported_media"
                        });
                    }
                }
                _ if phase == Phase::Processing => self.send("guidance.wait"),
                _ if resumed => {
                    self.send("resume");
                    self.prompt(index);
                }
                InboundContent::Text { .. } | InboundContent::Reply { .. } => {
                    self.send("guidance.photo_expected")
                }
                // WhatsApp delivers what the Cloud API cannot carry (a view-once photo, a poll)
                // as `unsupported`: at a photo step it is most likely a view-once photo.
                InboundContent::Other { kind } if kind == "unsupported" => {
                    self.send("guidance.unreadable_message")
                }
                _ => self.send("guidance.unsupported_media"),
            },
            Step::VideoLiveness(_) => match &m.content {
                InboundContent::Media {
                    kind, media: mref, ..
                } if is_video(*kind, mref) => {
                    if m.forwarded
                        && self.raise(
                            RiskSignal::new(RiskCode::ForwardedMedia)
                                .with_detail("a video note arrived marked as forwarded"),
                        )
                    {
                        self.audit("risk.raised", RiskCode::ForwardedMedia.as_str());
                    }
                    self.video_arrived(index, mref.clone(), h);
                }
                // A photo, a voice note, a sticker: this step takes a video note only.
                InboundContent::Media { media: mref, .. } => {
                    self.delete_media(mref);
                    self.send("guidance.video_expected");
                }
                _ if phase == Phase::Processing => self.send("guidance.wait"),
                _ if resumed => {
                    self.send("resume");
                    self.prompt(index);
                }
                _ => self.send("guidance.video_expected"),
            },
            Step::Registry(_) if phase == Phase::Awaiting => self.phone_reply(index, m),
            Step::Registry(_) | Step::Decision => {
                if let Some(media) = media {
                    self.delete_media(media);
                }
                self.send("guidance.wait");
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // The user's phone number, for a registry keyed by it
    // ----------------------------------------------------------------------------------------

    /// The registry check about to be asked needs the user's phone and the session has none:
    /// ask with WhatsApp's contact-information request and wait (the inactivity timer runs:
    /// reminders, then expiry).
    fn await_phone(&mut self) {
        let index = self.current_index();
        self.disarm_registry();
        self.s.registry.pending = 0;
        self.set_phase(index, Phase::Awaiting);
        self.s.contact_requests = 0;
        self.audit(
            "contact.requested",
            "a registry needs the user's phone number",
        );
        self.request_contact(None);
    }

    /// Send the contact-information request, opened by `lead`'s text when given (one message,
    /// not two: every message is priced).
    fn request_contact(&mut self, lead: Option<&str>) {
        // Like any message said right after one photo, it acknowledges that photo.
        if self.s.burst == 1 {
            self.s.burst = 0;
        } else {
            self.acknowledge_burst();
        }
        self.s.contact_requests = self.s.contact_requests.saturating_add(1);
        self.push_message(MessageSpec {
            key: "contact.request".to_owned(),
            params: Vec::new(),
            buttons: Vec::new(),
            // Interactive: only inside the 24-hour window (no template can carry it).
            delivery: MessageDelivery::Session,
            lead: lead.map(str::to_owned),
            request_contact: true,
        });
    }

    /// A message while the registry step waits for the user's phone number: the answer to the
    /// contact-information request records it and the registry is asked; anything else —
    /// a contact card shared by hand (it may be anyone's), a text, a photo — gets a short
    /// guidance with the request again, [`MAX_CONTACT_REQUESTS`] times at most.
    fn phone_reply(&mut self, index: usize, m: &Inbound) {
        let guidance = match &m.content {
            InboundContent::ContactInfo { phone } => {
                self.s.phone = Some(phone.clone());
                self.s.contact_requests = 0;
                self.audit("contact.shared", "the user shared their phone number");
                self.set_phase(index, Phase::Processing);
                self.send("registry.checking");
                self.query_registry();
                return;
            }
            InboundContent::Media { media, .. } => {
                self.delete_media(media);
                "contact.expected"
            }
            InboundContent::Other { kind } if kind == "contacts" => {
                self.audit(
                    "contact.refused",
                    "a contact card shared by hand is not an answer",
                );
                "contact.card_shared"
            }
            _ => "contact.expected",
        };
        if self.s.contact_requests >= MAX_CONTACT_REQUESTS {
            let n = self.s.contact_requests;
            self.audit(
                "contact.unanswered",
                format!("{n} requests for the phone number unanswered"),
            );
            self.decide(
                Decision::ManualReview {
                    reasons: vec![DecisionReason::MissingData],
                },
                None,
            );
            return;
        }
        self.request_contact(Some(guidance));
    }

    /// Whether the session waits for the user's phone number (a registry step's check needs
    /// it).
    fn awaiting_phone(&self) -> bool {
        matches!(
            self.at(),
            At::Step {
                step: Step::Registry(_),
                phase: Phase::Awaiting,
                ..
            }
        )
    }

    /// WhatsApp refused a message because the user opted out of marketing messages (131050):
    /// record it once; reminders and re-engagement templates stop.
    fn opted_out(&mut self) {
        if self.s.opted_out_at.is_some() {
            return;
        }
        self.s.opted_out_at = Some(self.now);
        self.audit(
            "user.opted_out",
            "WhatsApp 131050: marketing opt-out; no more reminders",
        );
    }

    /// A fresh session on the same key and flow, under a derived id (`<id>.r<n>`), keeping what
    /// must survive: the idempotency window, the timer token counter (so the old session's
    /// timers are stale), the event count and the restart count.
    fn restart(&mut self) {
        let restarts = self.s.restarts.saturating_add(1);
        let id = format!("{}.r{restarts}", self.s.base_id());
        let previous = self.s.decision.as_ref().map_or("?", Decision::as_str);
        let mut fresh = start(
            self.flow,
            self.s.key.clone(),
            id,
            Some(self.s.locale),
            self.now,
        );
        fresh.restarts = restarts;
        fresh.seq = self.s.seq;
        fresh.recent = std::mem::take(&mut self.s.recent);
        fresh.timer_tokens = self.s.timer_tokens;
        fresh.last_inbound_at = self.s.last_inbound_at;
        // An opt-out of marketing messages outlives the attempt it was learnt in.
        fresh.opted_out_at = self.s.opted_out_at;
        // Commands of the old session not yet executed still must be (a decision notice).
        fresh.outbox = std::mem::take(&mut self.s.outbox);
        self.s = fresh;
        self.touch();
        self.audit(
            "session.restarted",
            format!("after {previous}; restart {restarts}"),
        );
    }

    /// The user did something: reminders start over.
    fn touch(&mut self) {
        self.s.last_activity_at = self.now;
        self.s.reminders_sent = 0;
        // Re-armed from the new activity time by `ensure_timers` (unless the session ends).
        self.rearm = true;
    }

    // ----------------------------------------------------------------------------------------
    // Photos: filing, analysing, settling
    // ----------------------------------------------------------------------------------------

    /// A step that takes media and counts attempts: a photo step or the video-note step.
    fn is_capture_step(&self, index: usize) -> bool {
        matches!(
            self.flow.steps.get(index),
            Some(Step::Document(_) | Step::Selfie(_) | Step::VideoLiveness(_))
        )
    }

    /// A step photos are filed under (a card side, the selfie); never the video-note step.
    fn is_photo_step(&self, index: usize) -> bool {
        matches!(
            self.flow.steps.get(index),
            Some(Step::Document(_) | Step::Selfie(_))
        )
    }

    fn step_name(&self, index: usize) -> &'static str {
        self.flow.steps.get(index).map_or("?", Step::name)
    }

    fn is_accepted(&self, index: usize) -> bool {
        self.s.accepted.iter().any(|a| usize::from(a.step) == index)
    }

    fn in_flight_for(&self, index: usize) -> bool {
        self.s
            .pending
            .iter()
            .any(|p| p.in_flight() && usize::from(p.step) == index)
    }

    fn any_in_flight(&self) -> bool {
        self.s.pending.iter().any(PendingCapture::in_flight)
    }

    /// Whether step `index` may count one more photo.
    fn has_room(&self, index: usize) -> bool {
        let used = self.s.attempts.get(index).copied().unwrap_or(0);
        self.flow
            .steps
            .get(index)
            .and_then(Step::max_attempts)
            .is_some_and(|max| used < max)
    }

    /// Whether a photo can be analysed for step `index` now: a document side any time; a
    /// selfie only once its step is reached, because face matching needs the card portrait.
    fn analysable(&self, index: usize) -> bool {
        match self.flow.steps.get(index) {
            Some(Step::Document(_)) => true,
            Some(Step::Selfie(_)) => index == self.current_index(),
            _ => false,
        }
    }

    fn failure_of(&self, index: usize) -> Option<CaptureFailure> {
        self.s
            .failures
            .iter()
            .find(|f| usize::from(f.step) == index)
            .map(|f| f.failure)
    }

    fn set_failure(&mut self, index: usize, failure: Option<CaptureFailure>) {
        let step = u16::try_from(index).unwrap_or(ANY_STEP);
        self.s.failures.retain(|f| f.step != step);
        if let Some(failure) = failure {
            self.s.failures.push(StepFailure { step, failure });
        }
    }

    fn uncount_attempt(&mut self, index: usize) {
        if let Some(a) = self.s.attempts.get_mut(index) {
            *a = a.saturating_sub(1);
        }
    }

    /// A photo arrived at capture step `index`: file it under the first capture step from here
    /// on that has no photo (accepted, in flight or kept) and attempts left — analysed now if
    /// it can be, kept otherwise — or keep it as a spare. Arrival order is only the first
    /// guess: the reader's answer re-files a photo that shows another step's content.
    fn photo_arrived(&mut self, index: usize, media: MediaRef, message: u64) {
        self.s.burst = self.s.burst.saturating_add(1);
        if self.s.burst == 1 {
            self.s.burst_timer = self.set_timer(BURST_TIMER, self.now.plus(BURST_WINDOW));
        }
        // One photo held per capture step still needed: enough for a whole album, and the
        // session stays small as evidence replaces photos.
        let needed = (self.current_index()..self.flow.steps.len())
            .filter(|&i| self.is_photo_step(i) && !self.is_accepted(i))
            .count();
        let limit = needed.min(MAX_HELD_PHOTOS);
        if self.s.pending.len() >= limit {
            self.audit(
                "capture.overflow",
                format!("{limit} photos held already; this one is not read"),
            );
            self.delete_media(&media);
            return;
        }
        let target = (index..self.flow.steps.len()).find(|&i| {
            self.is_photo_step(i)
                && !self.is_accepted(i)
                && self.has_room(i)
                && !self.s.pending.iter().any(|p| usize::from(p.step) == i)
        });
        let step = target.map_or(ANY_STEP, |i| u16::try_from(i).unwrap_or(ANY_STEP));
        self.s.pending.push(PendingCapture {
            capture: 0,
            message,
            media,
            step,
            known: false,
        });
        match target {
            Some(i) if self.analysable(i) => {
                let at = self.s.pending.len() - 1;
                self.analyse(at);
            }
            Some(i) => {
                let name = self.step_name(i);
                self.audit("capture.kept", format!("for {name}"));
            }
            None => self.audit("capture.kept", "spare"),
        }
        self.settle();
    }

    /// Start analysing the held photo at `at` for its step: one attempt of that step, a new
    /// capture number (an earlier analysis of the same photo goes stale).
    fn analyse(&mut self, at: usize) {
        let Some(p) = self.s.pending.get(at) else {
            return;
        };
        let index = usize::from(p.step);
        let media = p.media.clone();
        let step = match self.flow.steps.get(index) {
            Some(step @ (Step::Document(_) | Step::Selfie(_) | Step::VideoLiveness(_))) => step,
            _ => return,
        };
        if let Some(a) = self.s.attempts.get_mut(index) {
            *a = a.saturating_add(1);
        }
        self.s.captures = self.s.captures.wrapping_add(1).max(1);
        let capture = self.s.captures;
        if let Some(p) = self.s.pending.get_mut(at) {
            p.capture = capture;
        }
        self.out.push(match step {
            Step::Document(d) => Command::AnalyseDocument {
                capture,
                side: d.side,
                document: self.flow.document,
                media,
            },
            Step::VideoLiveness(v) => Command::AnalyseVideo {
                capture,
                media,
                portrait: self.s.accepted_front_capture(self.flow),
                challenge: v.challenge,
            },
            _ => Command::AnalyseSelfie {
                capture,
                media,
                portrait: self.s.accepted_front_capture(self.flow),
            },
        });
    }

    /// Start analyses for capture steps from the current one on that have none in flight:
    /// the photo kept for the step by its content first, then one kept for it by arrival order,
    /// then a spare, then one kept for a later step by arrival order only (its content is
    /// unknown: a "selfie" that came third may be the back). Kept photos of steps already
    /// accepted are duplicates and let go.
    fn dispatch(&mut self) {
        let mut at = 0;
        while at < self.s.pending.len() {
            let p = &self.s.pending[at];
            if !p.in_flight() && p.step != ANY_STEP && self.is_accepted(usize::from(p.step)) {
                let name = self.step_name(usize::from(p.step));
                let p = self.s.pending.remove(at);
                self.audit("capture.duplicate", format!("{name} already accepted"));
                self.delete_media(&p.media);
            } else {
                at += 1;
            }
        }
        for index in self.current_index()..self.flow.steps.len() {
            if !self.is_photo_step(index)
                || self.is_accepted(index)
                || self.in_flight_for(index)
                || !self.has_room(index)
                || !self.analysable(index)
            {
                continue;
            }
            let step = u16::try_from(index).unwrap_or(ANY_STEP);
            let kept = |known: bool| {
                move |p: &PendingCapture| !p.in_flight() && p.step == step && p.known == known
            };
            let pick = self
                .s
                .pending
                .iter()
                .position(kept(true))
                .or_else(|| self.s.pending.iter().position(kept(false)))
                .or_else(|| {
                    self.s
                        .pending
                        .iter()
                        .position(|p| !p.in_flight() && p.step == ANY_STEP)
                })
                .or_else(|| {
                    self.s.pending.iter().position(|p| {
                        !p.in_flight() && !p.known && p.step != ANY_STEP && p.step > step
                    })
                });
            if let Some(at) = pick {
                self.s.pending[at].step = step;
                self.analyse(at);
            }
        }
    }

    /// After anything that changed the photos: start what can be analysed, move past steps
    /// already filled, and — once no analysis is in flight — say what is still missing.
    fn settle(&mut self) {
        let At::Step { index, phase, step } = self.at() else {
            return;
        };
        if !self.is_capture_step(index) {
            return;
        }
        self.dispatch();
        if self.is_accepted(index) {
            self.advance(index);
            return;
        }
        if self.any_in_flight() {
            // Speak once every answer of the burst is in: a photo in flight for another step
            // may still turn out to be this one.
            self.set_phase(index, Phase::Processing);
            return;
        }
        if phase != Phase::Processing && !self.ask {
            // Already asked; nothing changed for this step.
            return;
        }
        let entered = std::mem::take(&mut self.ask);
        let failure = self.failure_of(index);
        if !self.has_room(index) {
            self.set_phase(index, Phase::Retake);
            match failure {
                Some(CaptureFailure::Analysis | CaptureFailure::Unsupported) => {
                    // The engines failed, not the user: a person looks, whatever the policy.
                    self.decide(
                        Decision::ManualReview {
                            reasons: vec![DecisionReason::AnalysisFailed],
                        },
                        None,
                    )
                }
                Some(CaptureFailure::Retake(r)) => self.exhausted(index, Some(r)),
                Some(CaptureFailure::Revoked) | None => self.exhausted(index, None),
            }
            return;
        }
        match failure {
            Some(f) => {
                let next = lifecycle::capture(Phase::Processing, CaptureInput::Rejected)
                    .map_or(Phase::Retake, |(p, _)| p);
                self.set_phase(index, next);
                let video = matches!(step, Step::VideoLiveness(_));
                self.send(match f {
                    CaptureFailure::Retake(r) if video => catalog::video_retake_key(r),
                    CaptureFailure::Retake(r) => catalog::retake_key(r),
                    CaptureFailure::Analysis => "analysis.failed",
                    CaptureFailure::Unsupported if video => "video.retake.unreadable",
                    CaptureFailure::Unsupported => "retake.unsupported_media",
                    CaptureFailure::Revoked => "revoked.photo",
                });
            }
            None => {
                self.set_phase(index, Phase::Awaiting);
                // The user's photos here were all filed under later steps: say so once, then
                // ask for this step.
                let later = !entered
                    && (index + 1..self.flow.steps.len()).any(|i| {
                        self.is_capture_step(i)
                            && (self.is_accepted(i)
                                || self.s.pending.iter().any(|p| usize::from(p.step) == i))
                    });
                if later {
                    self.send("photos.kept");
                }
                if let Some(key) = self.flow.prompt_key(index) {
                    self.send(key);
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Steps
    // ----------------------------------------------------------------------------------------

    fn advance(&mut self, index: usize) {
        self.enter(index + 1);
    }

    fn enter(&mut self, index: usize) {
        self.set_phase(index, Phase::Awaiting);
        if index > 0 && self.flow.reminders_at(index) != self.flow.reminders_at(index - 1) {
            // This step has its own reminder schedule: restart the timer on it.
            self.rearm = true;
        }
        match self.flow.steps.get(index) {
            Some(Step::Consent(_)) => self.send_consent("consent.ask"),
            Some(Step::Document(_) | Step::Selfie(_)) => {
                // Photos sent ahead may already fill it; otherwise ask for it.
                self.ask = true;
                self.settle();
            }
            Some(Step::VideoLiveness(_)) => {
                // Every photo step is behind (`Flow::validate`): photos still held are spares
                // nobody needs.
                self.let_go_unused();
                self.ask = true;
                self.settle();
            }
            Some(Step::Registry(r)) => {
                self.let_go_unused();
                self.set_phase(index, Phase::Processing);
                self.s.registry = RegistryProgress::default();
                let first_needs_phone = r.checks.first().is_some_and(|c| c.phone.is_some());
                if first_needs_phone && self.s.phone_number().is_none() {
                    // Say "checking" once the phone is there, not before asking for it.
                    self.await_phone();
                } else {
                    self.send("registry.checking");
                    self.query_registry();
                }
            }
            Some(Step::Decision) | None => {
                self.let_go_unused();
                self.final_decision();
            }
        }
    }

    /// Every capture step is filled: spares and duplicates still held are not needed.
    fn let_go_unused(&mut self) {
        if !self.s.pending.is_empty() {
            let n = self.s.pending.len();
            self.audit("capture.unused", format!("{n} not needed"));
            self.drop_held();
        }
        self.s.failures.clear();
    }

    /// The held photo whose analysis in flight is `capture`, if `fits` its step.
    fn in_flight(&self, capture: u32, fits: impl Fn(&Step) -> bool) -> Option<usize> {
        if capture == 0 {
            return None;
        }
        self.s.pending.iter().position(|p| {
            p.capture == capture && self.flow.steps.get(usize::from(p.step)).is_some_and(&fits)
        })
    }

    fn stale(&mut self, what: &str, capture: u32) {
        self.audit(
            "result.stale",
            format!("{what} for capture {capture} ignored"),
        );
    }

    /// The photo at `at`, analysed for step `from`, shows step `to`'s content: file it there
    /// (it was not an attempt of `from`, and `from` is asked for afresh). Among photos the
    /// content puts under one step the newest wins; an older photo filed there only by arrival
    /// order goes back to the spares (its analysis in flight, if any, goes stale); a newer one
    /// in flight there is answered first.
    fn refile(&mut self, at: usize, from: usize, to: usize) {
        self.uncount_attempt(from);
        self.set_failure(from, None);
        let (from_name, to_name) = (self.step_name(from), self.step_name(to));
        self.audit("capture.refiled", format!("{from_name} → {to_name}"));
        let to16 = u16::try_from(to).unwrap_or(ANY_STEP);
        if let Some(p) = self.s.pending.get_mut(at) {
            p.capture = 0;
            p.step = to16;
            p.known = true;
        }
        let mut superseded = Vec::new();
        for i in 0..self.s.pending.len() {
            if i == at || self.s.pending[i].step != to16 {
                continue;
            }
            let (known, newer, in_flight) = {
                let q = &self.s.pending[i];
                (q.known, i > at, q.in_flight())
            };
            match (known, newer) {
                (true, true) => superseded.push(at),
                (true, false) => superseded.push(i),
                (false, false) => {
                    if in_flight {
                        self.uncount_attempt(to);
                    }
                    let q = &mut self.s.pending[i];
                    q.capture = 0;
                    q.step = ANY_STEP;
                    self.audit("capture.requeued", to_name);
                }
                (false, true) => {}
            }
        }
        superseded.sort_unstable();
        superseded.dedup();
        for i in superseded.into_iter().rev() {
            let q = self.s.pending.remove(i);
            // A replaced photo stays an attempt of its step.
            self.audit("capture.superseded", to_name);
            self.delete_media(&q.media);
        }
    }

    /// Where a document photo that showed something else belongs, if a step there still
    /// needs it: the other side's step for `wrong_side`, the selfie step for a face and no card.
    fn refile_target(&self, from: usize, reason: RetakeReason) -> Option<usize> {
        let side = match self.flow.steps.get(from) {
            Some(Step::Document(d)) => d.side,
            _ => return None,
        };
        let to = self
            .flow
            .steps
            .iter()
            .enumerate()
            .position(|(i, s)| match (reason, s) {
                (RetakeReason::WrongSide, Step::Document(d)) => d.side != side && i != from,
                (RetakeReason::FaceNotDocument, Step::Selfie(_)) => true,
                _ => false,
            })?;
        (!self.is_accepted(to) && self.has_room(to)).then_some(to)
    }

    fn document_result(&mut self, capture: u32, side: Side, outcome: &DocumentOutcome) {
        let flow = self.flow;
        let Some(at) = self.in_flight(
            capture,
            |s| matches!(s, Step::Document(d) if d.side == side),
        ) else {
            self.stale("document result", capture);
            return;
        };
        let index = usize::from(self.s.pending[at].step);
        let Some(Step::Document(policy)) = flow.steps.get(index) else {
            return;
        };
        // A photo already filed by its content is not moved again (an engine that changes its
        // mind cannot bounce it between steps).
        let known = self.s.pending[at].known;
        let verdict =
            match outcome {
                DocumentOutcome::Retake { reason, .. } => {
                    if let Some(to) = self.refile_target(index, *reason).filter(|_| !known) {
                        self.refile(at, index, to);
                        self.settle();
                        return;
                    }
                    Err(*reason)
                }
                DocumentOutcome::Accepted { data } => {
                    if data.fields.values().any(|f| {
                        f.confidence.is_nan() || f.confidence < policy.min_field_confidence
                    }) {
                        Err(RetakeReason::Unreadable)
                    } else if data.checks.iter().any(|c| !c.passed) {
                        Err(RetakeReason::DataMismatch)
                    } else {
                        Ok(data)
                    }
                }
            };
        let p = self.s.pending.remove(at);
        self.out.push(Command::DeleteMedia { media: p.media });
        match verdict {
            Err(reason) => self.failed(index, CaptureFailure::Retake(reason)),
            Ok(data) => {
                self.s.evidence.documents.retain(|d| d.side != Some(side));
                self.s.evidence.documents.push(SideEvidence {
                    side: Some(side),
                    fields: data.fields.clone(),
                    checks: data.checks.clone(),
                    portrait: data.portrait_found,
                });
                // Evidence in flow order whatever order the sides arrived in: where both sides
                // carry a field, the later side of the flow wins (`Evidence::field`).
                let order = |d: &SideEvidence| {
                    flow.steps
                        .iter()
                        .position(|s| matches!(s, Step::Document(x) if Some(x.side) == d.side))
                };
                self.s.evidence.documents.sort_by_key(order);
                self.accept(index, capture, p.message);
                self.audit(
                    "capture.accepted",
                    format!("{}: {} fields", flow.steps[index].name(), data.fields.len()),
                );
            }
        }
        self.settle();
    }

    fn selfie_result(&mut self, capture: u32, outcome: &SelfieOutcome) {
        let flow = self.flow;
        let Some(at) = self.in_flight(capture, |s| matches!(s, Step::Selfie(_))) else {
            self.stale("selfie result", capture);
            return;
        };
        let p = self.s.pending.remove(at);
        let index = usize::from(p.step);
        self.out.push(Command::DeleteMedia { media: p.media });
        let Some(Step::Selfie(policy)) = flow.steps.get(index) else {
            return;
        };
        match outcome {
            SelfieOutcome::Retake { reason, .. } => {
                self.failed(index, CaptureFailure::Retake(*reason))
            }
            SelfieOutcome::Analysed {
                face,
                liveness,
                signals,
            } => {
                let threshold = policy.min_face_score.unwrap_or(face.threshold);
                let face_ok =
                    face.score >= threshold && (policy.min_face_score.is_some() || face.matched);
                let live_ok = liveness.live && liveness.score >= policy.min_liveness_score;
                if !live_ok {
                    self.failed(index, CaptureFailure::Retake(RetakeReason::NotLive));
                } else if !face_ok {
                    self.failed(index, CaptureFailure::Retake(RetakeReason::FaceMismatch));
                } else {
                    let flags = &mut self.s.evidence.flags;
                    flags.retain(|f| {
                        !matches!(
                            f,
                            DecisionReason::BorderlineScore | DecisionReason::LivenessNotCertified
                        )
                    });
                    let borderline = face.score < threshold + policy.review_margin;
                    if borderline {
                        flags.push(DecisionReason::BorderlineScore);
                    }
                    if !liveness.certified {
                        flags.push(DecisionReason::LivenessNotCertified);
                    }
                    // The accepted selfie's risk codes replace an earlier selfie's (codes of
                    // other origins, such as a forwarded photo, stay): what the liveness engine
                    // raised, and what this step itself knows.
                    self.s
                        .evidence
                        .risk
                        .retain(|r| !SELFIE_CODES.contains(&r.code));
                    for signal in liveness.signals.iter().chain(signals) {
                        self.raise(signal.clone());
                    }
                    if borderline {
                        self.raise(
                            RiskSignal::new(RiskCode::FaceMatchBorderline).with_score(face.score),
                        );
                    }
                    if !liveness.certified {
                        self.raise(RiskSignal::new(RiskCode::LivenessNotCertified));
                    }
                    self.s.evidence.selfie = Some(SelfieEvidence {
                        face_score: face.score,
                        face_threshold: threshold,
                        face_engine: face.engine.clone(),
                        liveness_score: liveness.score,
                        liveness_engine: liveness.engine.clone(),
                        liveness_certified: liveness.certified,
                    });
                    self.accept(index, capture, p.message);
                    // The card portrait has served its purpose (this face match; a retake
                    // above still needs it): delete it now rather than at the decision, which
                    // registry checks can put hours away — unless a video-note step comes,
                    // which compares the clip's face with it too (and deletes it then).
                    let video_follows = flow.steps[index + 1..]
                        .iter()
                        .any(|s| matches!(s, Step::VideoLiveness(_)));
                    if !video_follows {
                        self.out.push(Command::DeleteEvidence);
                    }
                    self.audit(
                        "capture.accepted",
                        format!(
                            "selfie: face {:.3} (threshold {:.3}), liveness {:.3}{}",
                            face.score,
                            threshold,
                            liveness.score,
                            if liveness.certified {
                                " certified"
                            } else {
                                " uncertified"
                            }
                        ),
                    );
                }
            }
        }
        self.settle();
    }

    /// A video note arrived at the video-liveness step `index`: analyse it at once. A newer
    /// note replaces one still being analysed (that one's result goes stale; it stays an
    /// attempt); with no attempt left it is not read.
    fn video_arrived(&mut self, index: usize, media: MediaRef, message: u64) {
        if !self.has_room(index) {
            self.audit(
                "capture.overflow",
                "no video attempt left while one is analysed; this one is not read",
            );
            self.delete_media(&media);
            return;
        }
        let step = u16::try_from(index).unwrap_or(ANY_STEP);
        if let Some(at) = self.s.pending.iter().position(|p| p.step == step) {
            let old = self.s.pending.remove(at);
            self.audit("capture.superseded", self.step_name(index));
            self.delete_media(&old.media);
        } else {
            // A note that replaces another is not news: only one is judged, and the user
            // hears about that one ("checking your video", then its verdict), not "2 photos".
            self.s.burst = self.s.burst.saturating_add(1);
            if self.s.burst == 1 {
                self.s.burst_timer = self.set_timer(BURST_TIMER, self.now.plus(BURST_WINDOW));
            }
        }
        self.s.pending.push(PendingCapture {
            capture: 0,
            message,
            media,
            step,
            known: true,
        });
        let at = self.s.pending.len() - 1;
        self.analyse(at);
        self.settle();
    }

    fn video_result(&mut self, capture: u32, outcome: &VideoOutcome) {
        let Some(at) = self.in_flight(capture, |s| matches!(s, Step::VideoLiveness(_))) else {
            self.stale("video result", capture);
            return;
        };
        let p = self.s.pending.remove(at);
        let index = usize::from(p.step);
        self.out.push(Command::DeleteMedia { media: p.media });
        match outcome {
            VideoOutcome::Retake { reason, .. } => {
                // What a failed clip showed stays evidence even if a later clip passes: a
                // reviewer should know another face, or a screen, was tried.
                let code = match reason {
                    RetakeReason::NoHeadTurn => Some(RiskCode::VideoNoHeadTurn),
                    RetakeReason::FaceMismatch => Some(RiskCode::VideoFaceMismatch),
                    RetakeReason::ScreenReplay => Some(RiskCode::VideoScreenReplay),
                    _ => None,
                };
                if let Some(code) = code
                    && self
                        .raise(RiskSignal::new(code).with_detail("a video note was refused for it"))
                {
                    self.audit("risk.raised", code.as_str());
                }
                self.failed(index, CaptureFailure::Retake(*reason));
            }
            VideoOutcome::Passed { liveness } => {
                for signal in &liveness.signals {
                    self.raise(signal.clone());
                }
                let mut kept = liveness.clone();
                kept.signals.clear();
                self.s.evidence.video = Some(kept);
                self.accept(index, capture, p.message);
                // The card portrait's last use: delete it now.
                self.out.push(Command::DeleteEvidence);
                self.audit(
                    "capture.accepted",
                    format!(
                        "video_liveness: {}/{} frames with the face, yaw {:.2}..{:.2}, portrait {}",
                        liveness.face_frames,
                        liveness.frames,
                        liveness.yaw_min,
                        liveness.yaw_max,
                        liveness
                            .portrait_similarity
                            .map_or_else(|| "not compared".to_owned(), |s| format!("{s:.3}")),
                    ),
                );
            }
        }
        self.settle();
    }

    /// Record a risk code in the evidence, once per code; `false` when it was already there.
    fn raise(&mut self, signal: RiskSignal) -> bool {
        if self.s.evidence.risk.iter().any(|r| r.code == signal.code) {
            return false;
        }
        self.s.evidence.risk.push(signal);
        true
    }

    fn accept(&mut self, index: usize, capture: u32, message: u64) {
        let step = u16::try_from(index).unwrap_or(u16::MAX);
        self.s.accepted.retain(|a| a.step != step);
        self.s.accepted.push(AcceptedCapture {
            step,
            capture,
            message,
        });
        self.set_failure(index, None);
    }

    /// The photo analysed for step `index` did not fill it: remember why. The user hears it
    /// when the conversation is at that step and no analysis is in flight ([`Self::settle`]).
    fn failed(&mut self, index: usize, failure: CaptureFailure) {
        let name = self.step_name(index);
        if let CaptureFailure::Retake(reason) = failure {
            self.audit("capture.retake", format!("{name}: {}", reason.as_str()));
            let n = self.s.retakes.entry(reason).or_default();
            *n = n.saturating_add(1);
        }
        self.set_failure(index, Some(failure));
    }

    fn exhausted(&mut self, index: usize, reason: Option<RetakeReason>) {
        let policy = match self.flow.steps.get(index) {
            Some(Step::Document(d)) => d.on_exhausted,
            Some(Step::Selfie(s)) => s.on_exhausted,
            Some(Step::VideoLiveness(v)) => v.on_exhausted,
            _ => OnExhausted::ManualReview,
        };
        let mut reasons = vec![DecisionReason::TooManyRetakes];
        match reason {
            Some(RetakeReason::FaceMismatch) => reasons.push(DecisionReason::FaceMismatch),
            Some(RetakeReason::NotLive | RetakeReason::NoHeadTurn | RetakeReason::ScreenReplay) => {
                reasons.push(DecisionReason::NotLive)
            }
            Some(RetakeReason::DataMismatch) => reasons.push(DecisionReason::DataMismatch),
            Some(RetakeReason::Expired) => reasons.push(DecisionReason::DocumentExpired),
            _ => {}
        }
        let decision = match policy {
            OnExhausted::ManualReview => Decision::ManualReview { reasons },
            OnExhausted::Reject => Decision::Rejected { reasons },
        };
        self.decide(decision, None);
    }

    fn analysis_failed(&mut self, capture: u32, retryable: bool, reason: &str) {
        let Some(at) = self.in_flight(capture, |_| true) else {
            self.stale("analysis failure", capture);
            return;
        };
        let p = self.s.pending.remove(at);
        let index = usize::from(p.step);
        self.out.push(Command::DeleteMedia { media: p.media });
        let name = self.step_name(index);
        self.audit(
            "capture.failed",
            format!(
                "{name}: {} ({reason})",
                if retryable { "retryable" } else { "permanent" }
            ),
        );
        self.failed(
            index,
            if retryable {
                CaptureFailure::Analysis
            } else {
                CaptureFailure::Unsupported
            },
        );
        self.settle();
    }

    // ----------------------------------------------------------------------------------------
    // Registry
    // ----------------------------------------------------------------------------------------

    fn registry_step(&self) -> Option<&'a crate::flow::RegistryStep> {
        match self.at() {
            At::Step {
                step: Step::Registry(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    fn registry_pending(&self, request: u32) -> bool {
        self.registry_step().is_some() && request != 0 && self.s.registry.pending == request
    }

    fn query_registry(&mut self) {
        let Some(r) = self.registry_step() else {
            return;
        };
        let Some(check) = r.checks.get(usize::from(self.s.registry.check)) else {
            // Every check answered valid (or there were none): the step is done.
            let index = self.current_index();
            self.advance(index);
            return;
        };
        let mut fields = std::collections::BTreeMap::new();
        if let Some(field) = &check.phone {
            match self.s.phone_number() {
                Some(phone) => {
                    fields.insert(field.clone(), phone.raw().to_owned());
                    self.audit(
                        "registry.phone",
                        format!("{} is asked with the user's phone number", check.registry.0),
                    );
                }
                None => {
                    self.await_phone();
                    return;
                }
            }
        }
        for name in &check.fields {
            match self.s.evidence.field(name) {
                Some(f) => {
                    fields.insert(name.clone(), f.value.clone());
                }
                None => {
                    self.audit(
                        "registry.missing_field",
                        format!("{} needs {name}", check.registry.0),
                    );
                    self.decide(
                        Decision::ManualReview {
                            reasons: vec![DecisionReason::MissingData],
                        },
                        None,
                    );
                    return;
                }
            }
        }
        self.s.requests = self.s.requests.wrapping_add(1).max(1);
        let request = self.s.requests;
        self.s.registry.pending = request;
        self.s.registry.attempts = self.s.registry.attempts.saturating_add(1);
        let query = RegistryQuery {
            registry: check.registry.clone(),
            country: self.flow.country.clone(),
            fields,
            correlation_id: format!("{}.{request}", self.s.id),
        };
        self.out.push(Command::QueryRegistry { request, query });
        let deadline = self.now.plus(Duration::from_secs(r.answer_timeout_secs));
        self.s.registry_timer = self.set_timer(REGISTRY_TIMER, deadline);
    }

    fn registry_answer(&mut self, request: u32, result: &RegistryResult) {
        if !self.registry_pending(request) {
            self.audit(
                "registry.stale",
                format!("answer for request {request} ignored"),
            );
            return;
        }
        self.s.registry.pending = 0;
        self.disarm_registry();
        self.audit(
            "registry.answer",
            format!("{}: {}", result.registry.0, result.status.as_str()),
        );
        if result.status == RegistryStatus::Unavailable {
            self.registry_failed("answered unavailable");
            return;
        }
        self.s
            .evidence
            .registry
            .retain(|e| e.registry != result.registry);
        self.s.evidence.registry.push(RegistryEvidence {
            registry: result.registry.clone(),
            status: result.status,
            raw_label: result.raw_label.clone(),
            matched_fields: result.matched_fields.clone(),
        });
        let reason = match result.status {
            RegistryStatus::Valid => {
                self.s.registry.check = self.s.registry.check.saturating_add(1);
                self.s.registry.attempts = 0;
                self.query_registry();
                return;
            }
            RegistryStatus::Expired => DecisionReason::RegistryExpired,
            RegistryStatus::LostOrStolen => DecisionReason::RegistryLostOrStolen,
            RegistryStatus::Cancelled => DecisionReason::RegistryCancelled,
            RegistryStatus::Deceased => DecisionReason::RegistryDeceased,
            RegistryStatus::NotFound => DecisionReason::RegistryNotFound,
            RegistryStatus::DataMismatch => DecisionReason::RegistryDataMismatch,
            RegistryStatus::Unavailable => DecisionReason::RegistryUnavailable,
        };
        self.decide(
            Decision::Rejected {
                reasons: vec![reason],
            },
            None,
        );
    }

    /// The registry could not answer: retry after a backoff, or give up to manual review.
    fn registry_failed(&mut self, reason: &str) {
        let Some(r) = self.registry_step() else {
            return;
        };
        self.s.registry.pending = 0;
        self.disarm_registry();
        let registry = r
            .checks
            .get(usize::from(self.s.registry.check))
            .map_or("?", |c| c.registry.0.as_str());
        let attempts = self.s.registry.attempts;
        self.audit(
            "registry.unavailable",
            format!("{registry}: {reason} (attempt {attempts})"),
        );
        if attempts >= r.max_attempts {
            self.decide(
                Decision::ManualReview {
                    reasons: vec![DecisionReason::RegistryUnavailable],
                },
                None,
            );
            return;
        }
        let factor = 1u64 << u32::from(attempts.saturating_sub(1)).min(16);
        let wait = Duration::from_secs(r.backoff_secs.saturating_mul(factor));
        self.s.registry_timer = self.set_timer(REGISTRY_TIMER, self.now.plus(wait));
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    fn timer(&mut self, name: &str, token: u64) {
        match name {
            INACTIVITY_TIMER if token != 0 && token == self.s.inactivity_timer => {
                self.s.inactivity_timer = 0;
                self.inactivity();
            }
            REGISTRY_TIMER if token != 0 && token == self.s.registry_timer => {
                self.s.registry_timer = 0;
                if self.registry_step().is_none() {
                    return;
                }
                if self.s.registry.pending != 0 {
                    self.registry_failed("no answer before the deadline");
                } else {
                    self.query_registry();
                }
            }
            BURST_TIMER if token != 0 && token == self.s.burst_timer => {
                self.s.burst_timer = 0;
                self.acknowledge_burst();
            }
            // A burst acknowledged before its timer fired: nothing to say or audit.
            BURST_TIMER => {}
            _ => self.audit("timer.stale", format!("{name} token {token} ignored")),
        }
    }

    /// Acknowledge the photos received since the last message, once for all of them: when
    /// the burst timer fires, or before the next message if that comes first.
    fn acknowledge_burst(&mut self) {
        let video = matches!(
            self.at(),
            At::Step {
                step: Step::VideoLiveness(_),
                ..
            }
        );
        match std::mem::take(&mut self.s.burst) {
            0 => {}
            _ if video => self.push_send("video.received", Vec::new()),
            1 => self.push_send("processing", Vec::new()),
            n => self.push_send("photos.received", vec![("count".into(), n.to_string())]),
        }
    }

    fn inactivity(&mut self) {
        let At::Step { index, phase, step } = self.at() else {
            return;
        };
        if matches!(step, Step::Decision)
            || (matches!(step, Step::Registry(_)) && !self.awaiting_phone())
        {
            return;
        }
        let policy = self.flow.reminders_at(index);
        let idle = self.now.since(self.s.last_activity_at).as_secs();
        if idle >= policy.expire_after_secs {
            self.audit("session.expired", format!("at {}", step.name()));
            self.decide(Decision::Expired, None);
            return;
        }
        if phase == Phase::Processing && self.any_in_flight() {
            // The analyses never came back: those photos are lost. Ask for what is missing
            // (that message stands in for the reminder) — or, with no attempts left, let a
            // person look.
            self.audit("capture.lost", step.name());
            let mut at = 0;
            while at < self.s.pending.len() {
                if self.s.pending[at].in_flight() {
                    let p = self.s.pending.remove(at);
                    self.delete_media(&p.media);
                    self.failed(usize::from(p.step), CaptureFailure::Analysis);
                } else {
                    at += 1;
                }
            }
            self.settle();
            if self.s.decision.is_some() {
                return;
            }
        } else if self.s.opted_out_at.is_some() {
            // The user opted out of marketing messages: no nudge, only expiry on schedule.
            self.audit(
                "reminder.skipped",
                "the user opted out of marketing messages",
            );
        } else {
            self.send("reminder");
            self.s.nudged = self.s.nudged.saturating_add(1);
        }
        // A timer that fired late must not fire every overdue reminder at once.
        let due = policy.after_secs.iter().filter(|&&a| a <= idle).count();
        self.s.reminders_sent = u8::try_from(due)
            .unwrap_or(u8::MAX)
            .max(self.s.reminders_sent.saturating_add(1));
        self.arm_inactivity();
    }

    // ----------------------------------------------------------------------------------------
    // Revocations, identity, operators
    // ----------------------------------------------------------------------------------------

    fn is_photo(&self, h: u64) -> bool {
        self.s.pending.iter().any(|p| p.message == h)
            || self.s.accepted.iter().any(|a| a.message == h)
    }

    fn revoked(&mut self, h: u64) {
        if !self.is_photo(h) {
            return;
        }
        if self.s.decision.is_some() {
            self.audit("photo.revoked", "after the decision; the decision stands");
            return;
        }
        if let Some(at) = self.s.pending.iter().position(|p| p.message == h) {
            // Not accepted yet: nothing was built on it. Let it go; if it was being analysed
            // the step asks again once nothing is in flight.
            let p = self.s.pending.remove(at);
            self.delete_media(&p.media);
            let index = usize::from(p.step);
            self.audit(
                "photo.revoked",
                format!("{}: before its result", self.step_name(index)),
            );
            self.touch();
            if p.in_flight() {
                self.set_failure(index, Some(CaptureFailure::Revoked));
            }
            self.settle();
            return;
        }
        let Some(index) = self
            .s
            .accepted
            .iter()
            .find(|a| a.message == h)
            .map(|a| usize::from(a.step))
        else {
            return;
        };
        let name = self.step_name(index);
        if index > self.current_index() {
            // Accepted ahead of the conversation (sent in a burst): nothing was built on it yet.
            // Forget it; its step asks for a photo when the conversation gets there.
            self.audit("photo.revoked", format!("{name}: accepted ahead, dropped"));
            self.s.accepted.retain(|a| usize::from(a.step) != index);
            self.forget_evidence(index);
            self.touch();
            self.settle();
            return;
        }
        self.audit("photo.revoked", format!("{name}: asking again"));
        // Everything from that step on was built on the deleted photo. Photos held for later
        // steps are independent of it: analyses in flight for them go stale and they are
        // analysed again when their step comes.
        for p in &mut self.s.pending {
            if usize::from(p.step) > index && p.in_flight() {
                p.capture = 0;
            }
        }
        self.s.failures.clear();
        self.disarm_registry();
        self.s.registry = RegistryProgress::default();
        self.s.evidence.registry.clear();
        let from = u16::try_from(index).unwrap_or(u16::MAX);
        self.s.accepted.retain(|a| a.step < from);
        // Later steps start over (their photos were taken against the deleted one); the
        // reopened step keeps its count, so revoking cannot buy unlimited attempts.
        for a in self.s.attempts.iter_mut().skip(index + 1) {
            *a = 0;
        }
        for i in index..self.flow.steps.len() {
            self.forget_evidence(i);
        }
        self.touch();
        let used = self.s.attempts.get(index).copied().unwrap_or(0);
        let max = self
            .flow
            .steps
            .get(index)
            .and_then(Step::max_attempts)
            .unwrap_or(0);
        if used >= max {
            self.set_phase(index, Phase::Retake);
            self.exhausted(index, None);
            return;
        }
        self.set_phase(index, Phase::Retake);
        self.send("revoked.photo");
    }

    /// Drop what step `index` contributed to the evidence.
    fn forget_evidence(&mut self, index: usize) {
        match self.flow.steps.get(index) {
            Some(Step::Document(d)) => {
                let side = d.side;
                self.s.evidence.documents.retain(|e| e.side != Some(side));
            }
            Some(Step::Selfie(_)) => {
                self.s.evidence.selfie = None;
                self.s.evidence.flags.clear();
            }
            Some(Step::VideoLiveness(_)) => self.s.evidence.video = None,
            _ => {}
        }
    }

    fn identity_changed(&mut self, new_user: Option<&UserRef>) {
        if self.s.decision.is_some() {
            self.audit("identity.changed", "after the decision");
            return;
        }
        let same_kind = |a: &UserRef, b: &UserRef| {
            matches!(
                (a, b),
                (UserRef::Bsuid(_), UserRef::Bsuid(_)) | (UserRef::Phone(_), UserRef::Phone(_))
            )
        };
        match new_user {
            // The runtime moved the conversation to the new id: it goes on where it was, and
            // the change is evidence for the flow's risk policy (a SIM swap looks like this).
            Some(new) if *new == self.s.key.user => {
                self.audit("identity.changed", "mid-onboarding: moved to the new id");
                self.raise(RiskSignal::new(RiskCode::IdentityChanged));
                return;
            }
            // A new number for a conversation keyed by the business-scoped id (or the other
            // way round): the key still names the user; Meta announces a new id separately.
            Some(new) if !same_kind(new, &self.s.key.user) => {
                self.audit(
                    "identity.changed",
                    "mid-onboarding: the other identifier changed",
                );
                self.raise(RiskSignal::new(RiskCode::IdentityChanged));
                return;
            }
            _ => {}
        }
        // A number change mid-onboarding may be a SIM swap: a person decides.
        self.audit("identity.changed", "mid-onboarding: manual review");
        self.decide(
            Decision::ManualReview {
                reasons: vec![DecisionReason::IdentityChanged],
            },
            Some("identity.changed"),
        );
    }

    /// A person's decision. The audit line names the operator (a reviewer id, not user data);
    /// the operator's note is not audited (free text may quote the user's data).
    fn operator(&mut self, decision: &Decision, operator: &str) {
        let mut decision = decision.clone();
        if let Decision::Approved { reasons }
        | Decision::Rejected { reasons }
        | Decision::ManualReview { reasons } = &mut decision
            && !reasons.contains(&DecisionReason::OperatorDecision)
        {
            reasons.push(DecisionReason::OperatorDecision);
        }
        match &self.s.decision {
            None | Some(Decision::ManualReview { .. }) => {
                self.audit(
                    "operator.decision",
                    format!("{} by {operator}", decision.as_str()),
                );
                self.decide(decision, None);
                // A person closed it: the user cannot start over by writing again.
                self.s.restarts = crate::session::MAX_RESTARTS;
            }
            Some(d) => {
                let d = d.as_str();
                self.audit(
                    "operator.ignored",
                    format!("session already {d}; from {operator}"),
                );
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Decisions
    // ----------------------------------------------------------------------------------------

    fn final_decision(&mut self) {
        let mut reject = Vec::new();
        let mut review = Vec::new();
        let mut approve = vec![DecisionReason::AllChecksPassed];
        let today = self.now.date();
        let policy = &self.flow.decision;
        let date = |name: &str| {
            self.s
                .evidence
                .field(name)
                .and_then(|f| Date::parse_iso_or_year(&f.value))
        };
        if policy.reject_expired_document && date("expiry_date").is_some_and(|d| d < today) {
            reject.push(DecisionReason::DocumentExpired);
        }
        if let (Some(min), Some(birth)) = (policy.min_age, date("birth_date"))
            && birth.years_until(today) < i32::from(min)
        {
            reject.push(DecisionReason::Underage);
        }
        let uncertified = self
            .flow
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Selfie(p) => Some(p.uncertified_liveness),
                _ => None,
            })
            .unwrap_or_default();
        for &flag in &self.s.evidence.flags {
            match (flag, uncertified) {
                (DecisionReason::LivenessNotCertified, UncertifiedLiveness::ApproveWithFlag) => {
                    approve.push(flag)
                }
                (DecisionReason::LivenessNotCertified, UncertifiedLiveness::Reject) => {
                    reject.push(flag)
                }
                _ => review.push(flag),
            }
        }
        // Risk codes decide only when the flow says how (`decision.risk`); otherwise they are
        // recorded and reported with the decision, and the policies above decide alone.
        if let Some(risk) = &self.flow.decision.risk {
            let assessed = risk.assess(&self.s.evidence.risk);
            let codes: Vec<&str> = assessed.codes.iter().map(|c| c.code.as_str()).collect();
            match assessed.action {
                RiskAction::Reject => reject.push(DecisionReason::RiskPolicy),
                RiskAction::Review => review.push(DecisionReason::RiskPolicy),
                RiskAction::Approve => {}
            }
            if !codes.is_empty() {
                self.audit(
                    "risk.assessed",
                    format!("{:?}: {}", assessed.action, codes.join(", ")),
                );
            }
        }
        let decision = if !reject.is_empty() {
            Decision::Rejected { reasons: reject }
        } else if !review.is_empty() {
            Decision::ManualReview { reasons: review }
        } else {
            Decision::Approved { reasons: approve }
        };
        self.decide(decision, None);
    }

    /// End the session (or, for an operator resolving a manual review, re-decide it).
    fn decide(&mut self, decision: Decision, message: Option<&str>) {
        let key = message.unwrap_or(match decision {
            Decision::Approved { .. } => "decision.approved",
            Decision::Rejected { .. } => "decision.rejected",
            Decision::ManualReview { .. } => "decision.review",
            Decision::Declined => "consent.declined",
            Decision::Cancelled => "cancelled",
            Decision::Expired => "expired",
        });
        self.drop_held();
        self.s.failures.clear();
        self.s.registry.pending = 0;
        self.s.state = State::Decided;
        self.send(key);
        let reasons: Vec<&str> = decision.reasons().iter().map(|r| reason_name(*r)).collect();
        self.audit(
            "decision",
            format!("{} [{}]", decision.as_str(), reasons.join(", ")),
        );
        self.out.push(Command::DeliverDecision {
            decision: decision.clone(),
        });
        self.out.push(Command::DeleteEvidence);
        self.s.decision = Some(decision);
        self.s.decided_at = Some(self.now);
    }
}

/// The risk codes a selfie analysis raises: an accepted selfie replaces an earlier one's.
const SELFIE_CODES: [RiskCode; 9] = [
    RiskCode::LivenessFailed,
    RiskCode::LivenessNotCertified,
    RiskCode::ScreenReplaySuspected,
    RiskCode::PrintSuspected,
    RiskCode::FaceMatchBorderline,
    RiskCode::FaceMismatch,
    RiskCode::FaceSeenUnderOtherIdentity,
    RiskCode::DocumentSeenWithOtherFace,
    RiskCode::ImageResubmitted,
];

/// Photos arrive as images, or as files when sent "as document" to keep full resolution: an
/// image file, or a PDF (its first page is what the engines read; a digital ID is often
/// downloaded as one).
fn is_photo(kind: MediaKind, media: &MediaRef) -> bool {
    match kind {
        MediaKind::Image => true,
        MediaKind::Document => media.mime_type.as_deref().is_none_or(|m| {
            let m = m.trim().to_ascii_lowercase();
            m.starts_with("image/") || m.starts_with("application/pdf")
        }),
        _ => false,
    }
}

/// Video notes arrive as `video` messages; a video sent as a file is taken too.
fn is_video(kind: MediaKind, media: &MediaRef) -> bool {
    match kind {
        MediaKind::Video => true,
        MediaKind::Document => media
            .mime_type
            .as_deref()
            .is_some_and(|m| m.trim().to_ascii_lowercase().starts_with("video/")),
        _ => false,
    }
}

/// An iPhone photo sent as a document keeps its HEIC/HEIF format, which no engine here opens
/// (no well-kept pure-Rust HEVC decoder exists; see docs/VISION.md).
fn is_heic_file(kind: MediaKind, media: &MediaRef) -> bool {
    kind == MediaKind::Document
        && media.mime_type.as_deref().is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m.starts_with("image/heic") || m.starts_with("image/heif")
        })
}

/// snake_case name of a decision reason (as serialized).
pub fn reason_name(r: DecisionReason) -> &'static str {
    match r {
        DecisionReason::AllChecksPassed => "all_checks_passed",
        DecisionReason::ConsentDeclined => "consent_declined",
        DecisionReason::UserCancelled => "user_cancelled",
        DecisionReason::Inactivity => "inactivity",
        DecisionReason::TooManyRetakes => "too_many_retakes",
        DecisionReason::DocumentExpired => "document_expired",
        DecisionReason::Underage => "underage",
        DecisionReason::DataMismatch => "data_mismatch",
        DecisionReason::FaceMismatch => "face_mismatch",
        DecisionReason::NotLive => "not_live",
        DecisionReason::RegistryExpired => "registry_expired",
        DecisionReason::RegistryLostOrStolen => "registry_lost_or_stolen",
        DecisionReason::RegistryCancelled => "registry_cancelled",
        DecisionReason::RegistryDeceased => "registry_deceased",
        DecisionReason::RegistryNotFound => "registry_not_found",
        DecisionReason::RegistryDataMismatch => "registry_data_mismatch",
        DecisionReason::RegistryUnavailable => "registry_unavailable",
        DecisionReason::BorderlineScore => "borderline_score",
        DecisionReason::LivenessNotCertified => "liveness_not_certified",
        DecisionReason::OperatorDecision => "operator_decision",
        DecisionReason::MissingData => "missing_data",
        DecisionReason::IdentityChanged => "identity_changed",
        DecisionReason::AnalysisFailed => "analysis_failed",
        DecisionReason::RiskPolicy => "risk_policy",
    }
}
