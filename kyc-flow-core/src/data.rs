//! Plain data the ports and the transition function share: outbound message bodies, media
//! references, what the vision engines and registries return, decisions and the notice a bank
//! receives. A leaf module: it depends only on [`crate::evidence`], [`crate::ids`] and
//! [`crate::time`], so `ports`, `session`, `command`, `catalog` and `machine` can all use it
//! without importing each other in a circle.

use crate::evidence::{
    DocumentKind, DocumentOutcome, FaceComparison, LivenessVerdict, RegistryResult, RetakeReason,
    Side,
};
use crate::ids::{PhoneNumberId, SessionKey, UserRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Why a session ended the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecisionReason {
    AllChecksPassed,
    ConsentDeclined,
    UserCancelled,
    Inactivity,
    TooManyRetakes,
    DocumentExpired,
    Underage,
    DataMismatch,
    FaceMismatch,
    NotLive,
    RegistryExpired,
    RegistryLostOrStolen,
    RegistryCancelled,
    RegistryDeceased,
    RegistryNotFound,
    RegistryDataMismatch,
    RegistryUnavailable,
    BorderlineScore,
    LivenessNotCertified,
    OperatorDecision,
    /// A field a registry needs was not read from the document.
    MissingData,
    /// The user's WhatsApp identity (number) changed mid-onboarding.
    IdentityChanged,
    /// The engines repeatedly failed to analyse the user's photos.
    AnalysisFailed,
    /// The flow's risk policy (`DecisionPolicy::risk`) mapped a raised risk code to review or
    /// reject; the codes are in the evidence (`risk`).
    RiskPolicy,
}

/// The final outcome of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Approved {
        reasons: Vec<DecisionReason>,
    },
    Rejected {
        reasons: Vec<DecisionReason>,
    },
    ManualReview {
        reasons: Vec<DecisionReason>,
    },
    /// The user declined consent.
    Declined,
    /// The user wrote STOP.
    Cancelled,
    /// No activity until the flow's expiry.
    Expired,
}

impl Decision {
    /// snake_case name of the outcome (`approved`, `manual_review`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Approved { .. } => "approved",
            Self::Rejected { .. } => "rejected",
            Self::ManualReview { .. } => "manual_review",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
    /// The reasons, empty for declined / cancelled / expired.
    pub fn reasons(&self) -> &[DecisionReason] {
        match self {
            Self::Approved { reasons }
            | Self::Rejected { reasons }
            | Self::ManualReview { reasons } => reasons,
            _ => &[],
        }
    }
}

/// A reply button (WhatsApp allows 3, titles up to 20 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

/// A row of an interactive list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

/// A section of an interactive list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

/// Where outbound media comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    /// A media id previously uploaded.
    Id(String),
    /// A public HTTPS link.
    Link(String),
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundBody {
    Text {
        body: String,
        preview_url: bool,
    },
    Buttons {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
    },
    List {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        /// The label of the button that opens the list (max 20 characters).
        button: String,
        sections: Vec<ListSection>,
    },
    /// A pre-approved template, the only thing allowed outside the 24-hour window.
    Template {
        name: String,
        /// Template language code (`es_MX`, `pt_BR`, `en`).
        language: String,
        body_params: Vec<String>,
    },
    Image {
        media: MediaSource,
        caption: Option<String>,
    },
    Document {
        media: MediaSource,
        filename: Option<String>,
        caption: Option<String>,
    },
    /// WhatsApp's contact-information request: `body` and a button with which the user shares
    /// their own phone number in one tap (answered by a `contacts` message whose `origin` is
    /// `contact_request`). For users who reach the business by a business-scoped id only.
    ContactRequest {
        body: String,
    },
}

/// One outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The business number sending it.
    pub from: PhoneNumberId,
    pub to: UserRef,
    pub body: OutboundBody,
    /// Quote this inbound message (`context.message_id`).
    pub reply_to: Option<String>,
    /// Echoed back in status webhooks (`biz_opaque_callback_data`); no PII.
    pub callback_data: Option<String>,
}

/// The platform's id for a sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub message_id: String,
}

/// A reference to inbound media, as the webhook gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Which business number received it (its token fetches it).
    pub phone_number_id: PhoneNumberId,
    pub media_id: String,
    /// As declared by the sender; adapters sniff the content instead of trusting it.
    pub mime_type: Option<String>,
    /// As declared by the webhook (hex or base64); verified on download when present.
    pub sha256: Option<String>,
}

/// Downloaded media.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaBlob {
    pub bytes: Vec<u8>,
    /// Sniffed from the content (`image/jpeg`, `image/png`, `application/pdf`, …).
    pub mime_type: String,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
}

impl std::fmt::Debug for MediaBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaBlob")
            .field("len", &self.bytes.len())
            .field("mime_type", &self.mime_type)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// What a vision engine can do, declared up front (see [`crate::capability`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VisionCapabilities {
    /// Document kinds and sides the reader has templates for.
    pub documents: Vec<(DocumentKind, Side)>,
    /// Can compare two faces.
    pub face_match: bool,
    /// Has a liveness signal.
    pub liveness: bool,
    /// The liveness signal is certified (e.g. iBeta level 2) and may approve on its own.
    pub liveness_certified: bool,
    /// Can judge a video note's liveness (a head turn, one face, no screen replay).
    #[serde(default)]
    pub video_liveness: bool,
}

/// One side of a document to read.
#[derive(Debug, Clone, Copy)]
pub struct DocumentImage<'a> {
    pub document: DocumentKind,
    pub side: Side,
    /// Encoded image bytes (JPEG, PNG, WebP).
    pub image: &'a [u8],
}

/// What a document reader returns.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentReading {
    pub outcome: DocumentOutcome,
    /// The card portrait crop (encoded image) when this side carries one.
    pub portrait: Option<Vec<u8>>,
}

/// A face comparison, or why it could not be done with these photos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FaceMatchOutcome {
    Compared(FaceComparison),
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// A liveness verdict, or why the selfie cannot be judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LivenessOutcome {
    Judged(LivenessVerdict),
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// A registry's reply to a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum RegistryReply {
    /// Answered synchronously.
    Answered(RegistryResult),
    /// Accepted; the answer will arrive by callback with the query's `correlation_id`.
    Pending,
}

/// A decision delivered to the embedding backend.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionNotice {
    /// Opaque session id.
    pub session_id: String,
    pub key: SessionKey,
    pub flow_id: String,
    pub flow_version: u32,
    pub decision: Decision,
    pub decided_at: Timestamp,
    /// The session's serialized evidence summary (fields, scores, registry status).
    /// PII: sinks send it only over authenticated, encrypted channels.
    pub evidence: serde_json::Value,
    /// Stable across retries of this delivery (`Session::idempotency_key`): the receiver
    /// dedupes on it (the webhook sink sends it as the `Idempotency-Key` header).
    #[serde(default)]
    pub idempotency_key: String,
}

/// The evidence is personal data: `Debug` names its top-level keys only.
impl std::fmt::Debug for DecisionNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let evidence: Vec<&str> = self
            .evidence
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("DecisionNotice")
            .field("session_id", &self.session_id)
            .field("key", &self.key)
            .field("flow_id", &self.flow_id)
            .field("flow_version", &self.flow_version)
            .field("decision", &self.decision)
            .field("decided_at", &self.decided_at)
            .field("evidence_keys", &evidence)
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}
