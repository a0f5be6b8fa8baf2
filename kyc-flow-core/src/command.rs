//! Commands: what the transition function asks the runtime to do.
//!
//! The core decides, the runtime acts. Every command is plain data; executing one may produce
//! an [`crate::Event`] (an analysis result, a registry answer, a timer firing) that is fed back
//! into [`crate::machine::step`]. Message texts are not here: a [`MessageSpec`] names a catalog
//! key and the runtime renders it with [`crate::Catalog::render`] in the session's locale.

use crate::data::{Decision, MediaRef};
use crate::evidence::{DocumentKind, RegistryQuery, Side, VideoChallenge};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One thing for the runtime to do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Send a catalog message to the session's user.
    Send(MessageSpec),
    /// Mark an inbound message as read.
    MarkRead { message_id: String },
    /// Download `media` and read it as `side` of `document`; answer with
    /// [`crate::Event::DocumentAnalysed`] (or [`crate::Event::AnalysisFailed`]) for `capture`.
    AnalyseDocument {
        capture: u32,
        side: Side,
        document: DocumentKind,
        media: MediaRef,
    },
    /// Compare the selfie with the card portrait and judge liveness; answer with
    /// [`crate::Event::SelfieAnalysed`] for `capture`.
    /// The runtime loads the card portrait from the evidence store itself: the one read from
    /// document capture `portrait` (the accepted front), when the session had one.
    AnalyseSelfie {
        capture: u32,
        media: MediaRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        portrait: Option<u32>,
    },
    /// Judge a video note's liveness — one face, the same across frames and as the card
    /// portrait's, turning the head as `challenge` asks, no screen replay; answer with
    /// [`crate::Event::VideoAnalysed`] for `capture`. The portrait is loaded like
    /// `AnalyseSelfie`'s; without one, only the frames are compared with each other.
    AnalyseVideo {
        capture: u32,
        media: MediaRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        portrait: Option<u32>,
        #[serde(default)]
        challenge: VideoChallenge,
    },
    /// Ask a registry; answer with [`crate::Event::RegistryAnswered`] or
    /// [`crate::Event::RegistryFailed`] for `request`.
    QueryRegistry { request: u32, query: RegistryQuery },
    /// Schedule (or replace) the session's timer `name`; it fires as
    /// [`crate::Event::TimerFired`] with the same `token`.
    SetTimer {
        name: String,
        at: Timestamp,
        token: u64,
    },
    /// Cancel the session's timer `name` if pending.
    CancelTimer { name: String },
    /// Hand the final decision to the embedding backend ([`crate::ports::DecisionSink`]).
    DeliverDecision { decision: Decision },
    /// Delete inbound media from the platform (after it was analysed or ignored).
    DeleteMedia { media: MediaRef },
    /// Remove the session's evidence-store blobs (portrait) — after the decision.
    DeleteEvidence,
    /// Append to the session's audit trail.
    Audit(AuditEntry),
}

impl Command {
    /// Whether executing it again changes nothing anyone sees twice: read receipts, audit
    /// lines, timers (scheduling replaces by name and token; a stale token is ignored),
    /// cancellations and deletions. The runtime may record several of these as done in one
    /// write; every other command (a message, a decision, an analysis or registry request) is
    /// recorded done on its own, right after its effect.
    pub fn is_repeatable(&self) -> bool {
        matches!(
            self,
            Self::MarkRead { .. }
                | Self::Audit(_)
                | Self::SetTimer { .. }
                | Self::CancelTimer { .. }
                | Self::DeleteMedia { .. }
                | Self::DeleteEvidence
        )
    }

    /// A short, PII-free name of the command's kind (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Send(_) => "send",
            Self::MarkRead { .. } => "mark_read",
            Self::AnalyseDocument { .. } => "analyse_document",
            Self::AnalyseSelfie { .. } => "analyse_selfie",
            Self::AnalyseVideo { .. } => "analyse_video",
            Self::QueryRegistry { .. } => "query_registry",
            Self::SetTimer { .. } => "set_timer",
            Self::CancelTimer { .. } => "cancel_timer",
            Self::DeliverDecision { .. } => "deliver_decision",
            Self::DeleteMedia { .. } => "delete_media",
            Self::DeleteEvidence => "delete_evidence",
            Self::Audit(_) => "audit",
        }
    }
}

/// A message to send, by catalog key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSpec {
    /// Catalog key, e.g. `consent.ask`, `retake.glare`.
    pub key: String,
    /// Values for `{name}` placeholders (and, in order, a template's body parameters).
    pub params: Vec<(String, String)>,
    /// Reply buttons (WhatsApp allows at most 3).
    pub buttons: Vec<ButtonSpec>,
    pub delivery: MessageDelivery,
    /// A catalog key (no placeholders) whose text opens this message, a blank line before the
    /// key's own: the greeting rides on the first question instead of being a message — and,
    /// since every message is priced, a charge — of its own. Session messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    /// Send it as WhatsApp's contact-information request (the key's text, and a button with
    /// which the user shares their own phone number). Session messages only; no buttons.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_contact: bool,
}

impl MessageSpec {
    /// A plain in-window message without parameters or buttons.
    pub fn text(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            params: Vec::new(),
            buttons: Vec::new(),
            delivery: MessageDelivery::Session,
            lead: None,
            request_contact: false,
        }
    }
}

/// `Debug` shows parameter names, never their values.
impl fmt::Debug for MessageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageSpec")
            .field("key", &self.key)
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("buttons", &self.buttons)
            .field("delivery", &self.delivery)
            .field("lead", &self.lead)
            .field("request_contact", &self.request_contact)
            .finish()
    }
}

/// A reply button: the id the reply comes back with and the catalog key of its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonSpec {
    pub id: String,
    pub label_key: String,
}

/// How a message may be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum MessageDelivery {
    /// Free-form, inside WhatsApp's 24-hour customer-service window.
    Session,
    /// A pre-approved template: the only thing allowed outside the 24-hour window.
    Template { name: String },
}

/// One line of the audit trail. `detail` never contains PII.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Dotted kind, e.g. `consent.given`, `capture.retake`, `decision`.
    pub kind: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_json() {
        use crate::evidence::{Country, RegistryId};
        use crate::ids::PhoneNumberId;
        let media = MediaRef {
            phone_number_id: PhoneNumberId("pn".into()),
            media_id: "m".into(),
            mime_type: None,
            sha256: None,
        };
        let commands = vec![
            Command::Send(MessageSpec {
                key: "consent.ask".into(),
                params: vec![("n".into(), "1".into())],
                buttons: vec![ButtonSpec {
                    id: "consent.accept".into(),
                    label_key: "button.accept".into(),
                }],
                delivery: MessageDelivery::Template {
                    name: "kyc_x".into(),
                },
                lead: None,
                request_contact: false,
            }),
            Command::Send(MessageSpec {
                request_contact: true,
                ..MessageSpec::text("contact.request")
            }),
            Command::Send(MessageSpec {
                lead: Some("welcome".into()),
                ..MessageSpec::text("consent.ask")
            }),
            Command::MarkRead {
                message_id: "wamid.1".into(),
            },
            Command::AnalyseDocument {
                capture: 1,
                side: Side::Back,
                document: DocumentKind::PeDni,
                media: media.clone(),
            },
            Command::AnalyseSelfie {
                capture: 2,
                media: media.clone(),
                portrait: None,
            },
            Command::QueryRegistry {
                request: 3,
                query: RegistryQuery {
                    registry: RegistryId("pe-reniec".into()),
                    country: Country::new("pe"),
                    fields: [("document_number".to_owned(), "1".to_owned())].into(),
                    correlation_id: "s.3".into(),
                },
            },
            Command::SetTimer {
                name: "inactivity".into(),
                at: Timestamp(5),
                token: 4,
            },
            Command::CancelTimer {
                name: "registry".into(),
            },
            Command::DeliverDecision {
                decision: Decision::Expired,
            },
            Command::DeleteMedia { media },
            Command::DeleteEvidence,
            Command::Audit(AuditEntry {
                at: Timestamp(6),
                kind: "decision".into(),
                detail: "expired []".into(),
            }),
        ];
        for c in commands {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), c, "{json}");
            assert!(
                json.contains(&format!("\"type\":\"{}\"", c.kind())),
                "{json}"
            );
        }
    }

    #[test]
    fn message_spec_debug_hides_param_values() {
        let mut spec = MessageSpec::text("status.review");
        spec.params.push(("name".into(), "Juan Pérez".into()));
        let d = format!("{spec:?}");
        assert!(d.contains("name"), "{d}");
        assert!(!d.contains("Juan"), "{d}");
    }
}
