//! Events: everything that can happen to a session, as the transition function sees it.
//!
//! Events are plain, serializable data so that a session can be rebuilt by replaying its event
//! log from [`crate::machine::start`]. The runtime produces them from webhooks (user messages),
//! from the results of the commands it executed (analyses, registry answers) and from timers.
//! Their `Debug` output never shows what the user wrote, captions, coordinates or operator notes.

use crate::data::{Decision, MediaRef};
use crate::evidence::{DocumentOutcome, RegistryResult, SelfieOutcome, Side, VideoOutcome};
use crate::ids::{PhoneNumber, UserRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Something that happened to a session.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The user sent a message.
    Inbound(Inbound),
    /// A document photo was analysed (answer to [`crate::Command::AnalyseDocument`]).
    DocumentAnalysed {
        capture: u32,
        side: Side,
        outcome: DocumentOutcome,
    },
    /// A selfie was analysed (answer to [`crate::Command::AnalyseSelfie`]).
    SelfieAnalysed {
        capture: u32,
        outcome: SelfieOutcome,
    },
    /// A video note was analysed (answer to [`crate::Command::AnalyseVideo`]).
    VideoAnalysed { capture: u32, outcome: VideoOutcome },
    /// The runtime could not analyse a capture (media download failed, engine error).
    AnalysisFailed {
        capture: u32,
        retryable: bool,
        reason: String,
    },
    /// A registry answered (answer to [`crate::Command::QueryRegistry`]).
    RegistryAnswered {
        request: u32,
        result: RegistryResult,
    },
    /// Registry unreachable/timeout/5xx (never a negative answer): retry with backoff, then manual review.
    RegistryFailed { request: u32, reason: String },
    /// A timer set with [`crate::Command::SetTimer`] fired.
    TimerFired { name: String, token: u64 },
    /// A human reviewer decided (usually on a session in manual review).
    OperatorDecision {
        decision: Decision,
        operator: String,
        note: Option<String>,
    },
    /// The user edited (WhatsApp `edit`) a message they sent earlier.
    MessageEdited { message_id: String },
    /// The user deleted (WhatsApp `revoke`) a message they sent earlier.
    MessageRevoked { message_id: String },
    /// WhatsApp `system` identity / number change.
    IdentityChanged { new_user: Option<UserRef> },
    /// WhatsApp refused a message to the user because they opted out of the business's
    /// marketing messages (error 131050). From then on the session sends no reminder or
    /// re-engagement template.
    OptedOut,
}

impl Event {
    /// A short, PII-free name of the event's kind (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Inbound(m) => match m.content {
                InboundContent::Text { .. } => "inbound.text",
                InboundContent::Media { .. } => "inbound.media",
                InboundContent::Reply { .. } => "inbound.reply",
                InboundContent::Location { .. } => "inbound.location",
                InboundContent::ContactInfo { .. } => "inbound.contact_info",
                InboundContent::Other { .. } => "inbound.other",
            },
            Self::DocumentAnalysed { .. } => "document_analysed",
            Self::SelfieAnalysed { .. } => "selfie_analysed",
            Self::VideoAnalysed { .. } => "video_analysed",
            Self::AnalysisFailed { .. } => "analysis_failed",
            Self::RegistryAnswered { .. } => "registry_answered",
            Self::RegistryFailed { .. } => "registry_failed",
            Self::TimerFired { .. } => "timer_fired",
            Self::OperatorDecision { .. } => "operator_decision",
            Self::MessageEdited { .. } => "message_edited",
            Self::MessageRevoked { .. } => "message_revoked",
            Self::IdentityChanged { .. } => "identity_changed",
            Self::OptedOut => "opted_out",
        }
    }
}

/// `Debug` hides operator names and notes; inbound content has its own redacting `Debug`.
impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inbound(m) => f.debug_tuple("Inbound").field(m).finish(),
            Self::DocumentAnalysed {
                capture,
                side,
                outcome,
            } => {
                let outcome = match outcome {
                    DocumentOutcome::Accepted { data } => {
                        format!("accepted({} fields)", data.fields.len())
                    }
                    DocumentOutcome::Retake { reason, .. } => {
                        format!("retake({})", reason.as_str())
                    }
                };
                f.debug_struct("DocumentAnalysed")
                    .field("capture", capture)
                    .field("side", side)
                    .field("outcome", &outcome)
                    .finish()
            }
            Self::SelfieAnalysed { capture, outcome } => f
                .debug_struct("SelfieAnalysed")
                .field("capture", capture)
                .field("outcome", outcome)
                .finish(),
            Self::VideoAnalysed { capture, outcome } => f
                .debug_struct("VideoAnalysed")
                .field("capture", capture)
                .field("outcome", outcome)
                .finish(),
            Self::AnalysisFailed {
                capture,
                retryable,
                reason,
            } => f
                .debug_struct("AnalysisFailed")
                .field("capture", capture)
                .field("retryable", retryable)
                .field("reason", reason)
                .finish(),
            Self::RegistryAnswered { request, result } => f
                .debug_struct("RegistryAnswered")
                .field("request", request)
                .field("registry", &result.registry)
                .field("status", &result.status)
                .finish(),
            Self::RegistryFailed { request, reason } => f
                .debug_struct("RegistryFailed")
                .field("request", request)
                .field("reason", reason)
                .finish(),
            Self::TimerFired { name, token } => f
                .debug_struct("TimerFired")
                .field("name", name)
                .field("token", token)
                .finish(),
            Self::OperatorDecision { decision, note, .. } => f
                .debug_struct("OperatorDecision")
                .field("decision", decision)
                .field("operator", &"<redacted>")
                .field("note", &note.as_ref().map(|n| Redacted(n.chars().count())))
                .finish(),
            Self::MessageEdited { message_id } => f
                .debug_struct("MessageEdited")
                .field("message_id", message_id)
                .finish(),
            Self::MessageRevoked { message_id } => f
                .debug_struct("MessageRevoked")
                .field("message_id", message_id)
                .finish(),
            Self::IdentityChanged { new_user } => f
                .debug_struct("IdentityChanged")
                .field("new_user", new_user)
                .finish(),
            Self::OptedOut => f.write_str("OptedOut"),
        }
    }
}

/// A message from the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The WhatsApp message id (wamid); the unit of idempotency.
    pub message_id: String,
    /// When the user sent it (the webhook's timestamp); opens the 24-hour window.
    pub at: Timestamp,
    pub content: InboundContent,
    /// WhatsApp marked it forwarded (the user did not take it in this chat): a photo sent this
    /// way raises the `forwarded_media` risk code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
    /// The sender's phone number when WhatsApp gave one (`from`) next to a business-scoped
    /// user id: a flow whose registry needs the phone then has it without asking. `None` for
    /// a user who hides their number behind a username, and where the key already is the
    /// number. PII: redacted in `Debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
}

/// What the user sent.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundContent {
    /// Free text.
    Text { body: String },
    /// An image, document, video, audio or sticker.
    Media {
        kind: MediaKind,
        media: MediaRef,
        caption: Option<String>,
    },
    /// Button reply, list reply, or template quick-reply button.
    Reply { id: String, title: String },
    /// A shared location.
    Location { latitude: f64, longitude: f64 },
    /// The user's answer to WhatsApp's contact-information request: their own number, shared
    /// with one tap (a `contacts` message with `origin: contact_request`). A contact card
    /// shared by hand is not this (it may be anyone's): it arrives as `Other { kind:
    /// "contacts" }`.
    ContactInfo { phone: PhoneNumber },
    /// Anything else (sticker-less reactions, contacts, unsupported, unknown): its type string.
    Other { kind: String },
}

/// A length stand-in for redacted text in `Debug` output.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} chars>", self.0)
    }
}

/// `Debug` shows the shape of the message, never its text, caption or coordinates.
impl fmt::Debug for InboundContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { body } => f
                .debug_struct("Text")
                .field("body", &Redacted(body.chars().count()))
                .finish(),
            Self::Media {
                kind,
                media,
                caption,
            } => f
                .debug_struct("Media")
                .field("kind", kind)
                .field("media", media)
                .field(
                    "caption",
                    &caption.as_ref().map(|c| Redacted(c.chars().count())),
                )
                .finish(),
            Self::Reply { id, .. } => f.debug_struct("Reply").field("id", id).finish(),
            Self::Location { .. } => f.write_str("Location(<redacted>)"),
            Self::ContactInfo { phone } => {
                f.debug_struct("ContactInfo").field("phone", phone).finish()
            }
            Self::Other { kind } => f.debug_struct("Other").field("kind", kind).finish(),
        }
    }
}

/// The kind of media the user sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    /// A file; photos sent "as document" keep full resolution, so an image file is accepted.
    Document,
    Video,
    Audio,
    Sticker,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PhoneNumberId;

    #[test]
    fn debug_hides_text_caption_and_coordinates() {
        let events = [
            Event::Inbound(Inbound {
                message_id: "wamid.1".into(),
                at: Timestamp(0),
                content: InboundContent::Text {
                    body: "Juan Pérez 5215551234567".into(),
                },
                forwarded: false,
                phone: None,
            }),
            Event::Inbound(Inbound {
                message_id: "wamid.2".into(),
                at: Timestamp(0),
                content: InboundContent::Media {
                    kind: MediaKind::Image,
                    media: MediaRef {
                        phone_number_id: PhoneNumberId("pn".into()),
                        media_id: "m1".into(),
                        mime_type: Some("image/jpeg".into()),
                        sha256: None,
                    },
                    caption: Some("Juan Pérez".into()),
                },
                forwarded: false,
                phone: None,
            }),
            Event::Inbound(Inbound {
                message_id: "wamid.3".into(),
                at: Timestamp(0),
                content: InboundContent::Location {
                    latitude: 19.4326,
                    longitude: -99.1332,
                },
                forwarded: false,
                phone: None,
            }),
            Event::OperatorDecision {
                decision: Decision::Declined,
                operator: "Juan Pérez".into(),
                note: Some("Juan Pérez looked fine".into()),
            },
        ];
        for e in &events {
            let d = format!("{e:?}");
            assert!(!d.contains("Juan"), "{d}");
            assert!(!d.contains("5215551234567"), "{d}");
            assert!(!d.contains("19.43"), "{d}");
        }
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = Event::TimerFired {
            name: "inactivity".into(),
            token: 7,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"type":"timer_fired","name":"inactivity","token":7}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }
}
