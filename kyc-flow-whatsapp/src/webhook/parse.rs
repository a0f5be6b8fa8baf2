//! Pure parsing of Cloud API webhook bodies into [`WebhookEvent`]s: no I/O, no failure on
//! shapes it does not know.
//!
//! The body is read as untyped JSON and then walked by hand. A strict `serde` model
//! would reject a whole delivery because one field changed type (Meta sends timestamps as
//! strings today and has sent integers), and a rejected delivery is retried by Meta for days.
//! Here the only error is "this is not JSON"; everything else becomes an event, and anything
//! not understood becomes [`WebhookEvent::Unknown`] carrying the raw JSON, never dropped.
//! The everyday shapes skip the untyped tree (`fast.rs`): decoded typed, and handed to the walk
//! the moment anything differs, so the result is the walk's either way.

use crate::redact::{Redacted, redacted_opt};
use kyc_flow_core::{PhoneNumber, UserRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The body was not JSON at all (the only way parsing fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook body is not JSON: {reason}")]
pub struct ParseError {
    /// serde_json's description (position and category, never the body's content).
    pub reason: String,
}

/// One item of a webhook delivery: a message, a status, an error or something unknown.
///
/// Serializable because events travel through the job queue as JSON.
// Events live briefly in a per-delivery Vec, mostly messages; boxing the large variant would
// cost an allocation per message and make matching clumsier for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A message a user sent to the business.
    Message(InboundMessage),
    /// A delivery status of a message the business sent.
    Status(StatusUpdate),
    /// An error Meta reports at the level of the change (not tied to a message).
    Error(ErrorEvent),
    /// Valid JSON this parser does not understand, kept whole.
    Unknown(UnknownItem),
}

/// Where a change came from: the business number that received or sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Origin {
    /// The WhatsApp Business Account id (`entry[].id`).
    pub waba_id: Option<String>,
    /// The business phone number id (`metadata.phone_number_id`).
    pub phone_number_id: Option<String>,
    /// The business number as displayed (`metadata.display_phone_number`); not a user's.
    pub display_phone_number: Option<String>,
}

/// An error object as Meta embeds it in statuses, messages and change values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Meta's numeric code (131047, 131026, 131051, …); 0 when absent.
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
    pub href: Option<String>,
}

/// Quoting and forwarding information of an inbound message (`context`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageContext {
    /// The message being replied to (`context.id`), for example a button message we sent.
    pub message_id: Option<String>,
    /// Who sent the quoted message (`context.from`; the business number for our messages).
    pub from: Option<String>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
    /// A product enquiry's catalog reference, kept raw.
    pub referred_product: Option<Value>,
}

/// Click-to-WhatsApp ad referral (`referral`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Referral {
    pub source_url: Option<String>,
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub media_type: Option<String>,
    pub ctwa_clid: Option<String>,
}

/// Media attached to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaAttachment {
    /// The media id to look up with the Graph API ("" when Meta omitted it).
    pub id: String,
    pub mime_type: Option<String>,
    /// As Meta declares it: base64 in webhooks, hex in lookups; verified on download.
    pub sha256: Option<String>,
    pub caption: Option<String>,
    /// Documents only.
    pub filename: Option<String>,
    /// Some webhook versions include a download URL; the lookup is still authoritative.
    pub url: Option<String>,
    /// Audio: recorded as a voice note.
    pub voice: Option<bool>,
    /// Stickers: animated.
    pub animated: Option<bool>,
}

/// What the user picked in an interactive message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply_type", rename_all = "snake_case")]
pub enum InteractiveReply {
    /// A reply button.
    ButtonReply { id: String, title: String },
    /// A list row.
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// A Flow response or any other interactive type, kept raw.
    Other {
        interactive_type: String,
        raw: Value,
    },
}

/// The content of an inbound message, by `type`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageContent {
    Text {
        body: String,
    },
    Image(MediaAttachment),
    Video(MediaAttachment),
    Audio(MediaAttachment),
    Document(MediaAttachment),
    Sticker(MediaAttachment),
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        url: Option<String>,
    },
    /// Shared contact cards, kept raw (names and numbers of third parties: PII).
    Contacts {
        contacts: Vec<Value>,
    },
    Interactive {
        reply: InteractiveReply,
    },
    /// A quick-reply button of a template message.
    Button {
        payload: Option<String>,
        text: Option<String>,
    },
    /// A reaction; `emoji: None` means the user removed it.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    /// `user_changed_number` / `user_changed_user_id` and other identity notices.
    System {
        system_type: Option<String>,
        body: Option<String>,
        new_wa_id: Option<String>,
        new_user_id: Option<String>,
    },
    /// The user edited a message they sent earlier.
    Edit {
        original_message_id: Option<String>,
        new_content: Option<Box<MessageContent>>,
    },
    /// The user deleted ("deleted for everyone") a message they sent earlier.
    Revoke {
        original_message_id: Option<String>,
    },
    /// A type WhatsApp itself does not support on the Cloud API; see the message's `errors`.
    Unsupported,
    /// A well-formed message of a type this parser does not know (`type_name` is Meta's).
    Other {
        type_name: String,
        raw: Value,
    },
}

impl MessageContent {
    /// The `type` string as Meta names it (the raw one for [`MessageContent::Other`]).
    pub fn type_name(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Image(_) => "image",
            Self::Video(_) => "video",
            Self::Audio(_) => "audio",
            Self::Document(_) => "document",
            Self::Sticker(_) => "sticker",
            Self::Location { .. } => "location",
            Self::Contacts { .. } => "contacts",
            Self::Interactive { .. } => "interactive",
            Self::Button { .. } => "button",
            Self::Reaction { .. } => "reaction",
            Self::System { .. } => "system",
            Self::Edit { .. } => "edit",
            Self::Revoke { .. } => "revoke",
            Self::Unsupported => "unsupported",
            Self::Other { type_name, .. } => type_name,
        }
    }

    /// The media attachment, for media types.
    pub fn media(&self) -> Option<&MediaAttachment> {
        match self {
            Self::Image(m)
            | Self::Video(m)
            | Self::Audio(m)
            | Self::Document(m)
            | Self::Sticker(m) => Some(m),
            _ => None,
        }
    }
}

/// Why a `contacts` message that says it answers the contact-information request
/// (`origin: contact_request`) carries no number the runtime can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactAnswerError {
    #[error("the contact_request answer has no phones")]
    NoPhone,
    #[error("the contact_request answer's phone is not a phone number")]
    BadPhone,
}

impl MessageContent {
    /// The user's own phone number, when this is the answer to WhatsApp's
    /// contact-information request: a `contacts` message whose contact has
    /// `origin: contact_request`, its first phone (`phone`, else `wa_id`).
    ///
    /// `Ok(None)` for any other message, including a contact card shared by hand (`origin`
    /// `other` or none): that may be someone else's card and is never taken as the user's
    /// number. An answer with no usable number is an error, never a panic.
    pub fn contact_request_answer(&self) -> Result<Option<PhoneNumber>, ContactAnswerError> {
        let Self::Contacts { contacts } = self else {
            return Ok(None);
        };
        let Some(answer) = contacts
            .iter()
            .find(|c| c.get("origin").and_then(Value::as_str) == Some("contact_request"))
        else {
            return Ok(None);
        };
        let phones: Vec<&Value> = answer
            .get("phones")
            .and_then(Value::as_array)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        if phones.is_empty() {
            return Err(ContactAnswerError::NoPhone);
        }
        phones
            .iter()
            .find_map(|p| {
                str_of(p.get("phone"))
                    .and_then(|n| PhoneNumber::parse(&n))
                    .or_else(|| str_of(p.get("wa_id")).and_then(|n| PhoneNumber::parse(&n)))
            })
            .map(Some)
            .ok_or(ContactAnswerError::BadPhone)
    }
}

/// `Debug` shows the shape, never what the user wrote or shared.
impl fmt::Debug for MessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { body } => write!(f, "Text({} chars)", body.chars().count()),
            Self::Interactive { reply } => match reply {
                InteractiveReply::ButtonReply { id, .. } => write!(f, "ButtonReply({id})"),
                InteractiveReply::ListReply { id, .. } => write!(f, "ListReply({id})"),
                InteractiveReply::Other {
                    interactive_type, ..
                } => {
                    write!(f, "Interactive({interactive_type})")
                }
            },
            Self::Edit {
                original_message_id,
                new_content,
            } => f
                .debug_struct("Edit")
                .field("original_message_id", original_message_id)
                .field("new_content", new_content)
                .finish(),
            Self::Revoke {
                original_message_id,
            } => f
                .debug_struct("Revoke")
                .field("original_message_id", original_message_id)
                .finish(),
            Self::Reaction { message_id, emoji } => f
                .debug_struct("Reaction")
                .field("message_id", message_id)
                .field("removed", &emoji.is_none())
                .finish(),
            other => match other.media() {
                Some(m) => write!(f, "{}(media {})", other.type_name(), m.id),
                None => write!(f, "{}", other.type_name()),
            },
        }
    }
}

/// A message from a user.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub origin: Origin,
    /// The wamid; unique per message, the de-duplication key.
    pub id: String,
    /// The user's phone number (wa_id); absent for users who hide it behind a username.
    pub from: Option<String>,
    /// The business-scoped user id (BSUID), when Meta sends one.
    pub user_id: Option<String>,
    /// The profile name from `contacts` (PII).
    pub profile_name: Option<String>,
    /// The user's WhatsApp username, when they set one.
    pub username: Option<String>,
    /// Seconds since the epoch, as Meta stamped it.
    pub timestamp: Option<i64>,
    pub context: Option<MessageContext>,
    pub referral: Option<Referral>,
    /// Message-level errors (for `unsupported` messages).
    pub errors: Vec<ErrorDetail>,
    pub content: MessageContent,
}

impl InboundMessage {
    /// The user as the core identifies them (BSUID preferred over the phone number).
    pub fn user(&self) -> Option<UserRef> {
        UserRef::from_parts(self.user_id.as_deref(), self.from.as_deref())
    }
}

impl fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundMessage")
            .field("phone_number_id", &self.origin.phone_number_id)
            .field("id", &self.id)
            .field("from", &redacted_opt(self.from.as_deref()))
            .field("user_id", &redacted_opt(self.user_id.as_deref()))
            .field("timestamp", &self.timestamp)
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

/// `conversation` of a status (pricing window information).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Option<String>,
    /// `origin.type`: `service`, `marketing`, `utility`, `authentication`, …
    pub origin_type: Option<String>,
    pub expiration_timestamp: Option<i64>,
}

/// `pricing` of a status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pricing {
    pub billable: Option<bool>,
    /// `CBP`, `PMP`, …
    pub pricing_model: Option<String>,
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`, …
    pub pricing_type: Option<String>,
}

/// The delivery state a status reports, for ordering (see [`crate::window::StatusTracker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
    /// The user deleted the message (`deleted`).
    Deleted,
    /// Anything else (`warning`, future values).
    Other,
}

impl DeliveryState {
    /// From Meta's `status` string.
    pub fn parse(status: &str) -> Self {
        match status {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            "deleted" => Self::Deleted,
            _ => Self::Other,
        }
    }
}

/// A status of a message the business sent.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub origin: Origin,
    /// The wamid of our outbound message.
    pub id: String,
    /// Meta's status string (`sent`, `delivered`, `read`, `failed`, …).
    pub status: String,
    pub timestamp: Option<i64>,
    /// The user's phone number (may be absent for username users).
    pub recipient_id: Option<String>,
    /// The user's business-scoped id, when sent.
    pub recipient_user_id: Option<String>,
    pub conversation: Option<Conversation>,
    pub pricing: Option<Pricing>,
    /// What we put in `biz_opaque_callback_data` when sending.
    pub biz_opaque_callback_data: Option<String>,
    pub errors: Vec<ErrorDetail>,
}

impl StatusUpdate {
    /// The status as an ordered state.
    pub fn state(&self) -> DeliveryState {
        DeliveryState::parse(&self.status)
    }
    /// The recipient as the core identifies users.
    pub fn user(&self) -> Option<UserRef> {
        UserRef::from_parts(
            self.recipient_user_id.as_deref(),
            self.recipient_id.as_deref(),
        )
    }
    /// Whether this is a `failed` status with the given error code.
    pub fn failed_with(&self, code: i64) -> bool {
        self.state() == DeliveryState::Failed && self.errors.iter().any(|e| e.code == code)
    }
}

impl fmt::Debug for StatusUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusUpdate")
            .field("phone_number_id", &self.origin.phone_number_id)
            .field("id", &self.id)
            .field("status", &self.status)
            .field("recipient", &redacted_opt(self.recipient_id.as_deref()))
            .field(
                "error_codes",
                &self.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A change-level error (`value.errors[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub origin: Origin,
    pub error: ErrorDetail,
}

/// Something valid but not understood, kept whole so nothing is lost.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UnknownItem {
    pub origin: Origin,
    /// The change's `field` (`messages`, `message_template_status_update`, …) when known.
    pub field: Option<String>,
    /// Why it is unknown (`"not a webhook envelope"`, `"message without id"`, …).
    pub reason: String,
    /// The JSON as received (may contain PII; `Debug` does not print it).
    pub raw: Value,
}

impl fmt::Debug for UnknownItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnknownItem")
            .field("phone_number_id", &self.origin.phone_number_id)
            .field("field", &self.field)
            .field("reason", &self.reason)
            .field("raw", &Redacted)
            .finish()
    }
}

impl fmt::Debug for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(m) => m.fmt(f),
            Self::Status(s) => s.fmt(f),
            Self::Error(e) => e.fmt(f),
            Self::Unknown(u) => u.fmt(f),
        }
    }
}

impl WebhookEvent {
    /// The business phone number id the event concerns, when known.
    pub fn phone_number_id(&self) -> Option<&str> {
        self.origin().phone_number_id.as_deref()
    }

    /// Where the event came from.
    pub fn origin(&self) -> &Origin {
        match self {
            Self::Message(m) => &m.origin,
            Self::Status(s) => &s.origin,
            Self::Error(e) => &e.origin,
            Self::Unknown(u) => &u.origin,
        }
    }

    /// The user the event concerns (sender of a message, recipient of a status).
    pub fn user(&self) -> Option<UserRef> {
        match self {
            Self::Message(m) => m.user(),
            Self::Status(s) => s.user(),
            Self::Error(_) | Self::Unknown(_) => None,
        }
    }

    /// The key under which Meta's retries of this event are recognized: the wamid for
    /// messages; the wamid and status for a *failed* status, the only one the runtime acts on
    /// (a closed 24-hour window). `sent`/`delivered`/`read` statuses are only logged, so a
    /// retried one is harmless and costs no mark: the store holds one mark per inbound message
    /// instead of one per message and status. Errors and unknown items carry no id and are not
    /// de-duplicated.
    pub fn dedup_key(&self) -> Option<String> {
        match self {
            Self::Message(m) if !m.id.is_empty() => Some(format!("wa:msg:{}", m.id)),
            Self::Status(s) if !s.id.is_empty() && s.status == "failed" => {
                Some(format!("wa:status:{}:{}", s.id, s.status))
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

/// Parse one raw webhook body into its events, in payload order: every `entry` × `change` ×
/// (`messages`, then `statuses`, then `errors`).
///
/// Fails only when the body is not JSON. JSON that is not a Cloud API envelope, a change of a
/// field other than `messages`, and items without an id become [`WebhookEvent::Unknown`].
///
/// The common shapes (text and media messages, delivery statuses) are decoded typed, straight
/// from the bytes; anything else is read by the tolerant walk. Both give the same events.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<WebhookEvent>, ParseError> {
    if let Some(events) = super::fast::parse_common(body) {
        return Ok(events);
    }
    parse_tolerant(body)
}

/// [`parse_webhook`] by the tolerant walk alone (untyped JSON, walked by hand).
pub(crate) fn parse_tolerant(body: &[u8]) -> Result<Vec<WebhookEvent>, ParseError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| ParseError {
        reason: format!(
            "{} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        ),
    })?;
    Ok(parse_value(root))
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "data error",
        serde_json::error::Category::Eof => "unexpected end",
    }
}

/// [`parse_webhook`] on an already-decoded JSON value.
pub fn parse_value(root: Value) -> Vec<WebhookEvent> {
    let mut out = Vec::new();
    let entries = match root.get("entry").and_then(Value::as_array) {
        Some(e) => e,
        None => {
            out.push(unknown(
                Origin::default(),
                None,
                "not a webhook envelope",
                root,
            ));
            return out;
        }
    };
    for entry in entries {
        let waba_id = str_of(entry.get("id"));
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            out.push(unknown(
                Origin {
                    waba_id,
                    ..Origin::default()
                },
                None,
                "entry without changes",
                entry.clone(),
            ));
            continue;
        };
        for change in changes {
            parse_change(waba_id.clone(), change, &mut out);
        }
    }
    out
}

fn parse_change(waba_id: Option<String>, change: &Value, out: &mut Vec<WebhookEvent>) {
    let field = str_of(change.get("field"));
    let value = change.get("value");
    let metadata = value.and_then(|v| v.get("metadata"));
    let origin = Origin {
        waba_id,
        phone_number_id: str_of(metadata.and_then(|m| m.get("phone_number_id"))),
        display_phone_number: str_of(metadata.and_then(|m| m.get("display_phone_number"))),
    };
    let (Some(value), true) = (
        value.and_then(Value::as_object),
        field.as_deref() == Some("messages"),
    ) else {
        out.push(unknown(
            origin,
            field,
            "change is not a messages change",
            change.clone(),
        ));
        return;
    };
    let before = out.len();
    let contacts = value.get("contacts").and_then(Value::as_array);
    if let Some(messages) = value.get("messages").and_then(Value::as_array) {
        for m in messages {
            out.push(parse_message(&origin, contacts, m));
        }
    }
    if let Some(statuses) = value.get("statuses").and_then(Value::as_array) {
        for s in statuses {
            out.push(parse_status(&origin, s));
        }
    }
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for e in errors {
            out.push(WebhookEvent::Error(ErrorEvent {
                origin: origin.clone(),
                error: parse_error_detail(e),
            }));
        }
    }
    if out.len() == before {
        out.push(unknown(
            origin,
            field,
            "messages change without messages, statuses or errors",
            Value::Object(value.clone()),
        ));
    }
}

fn unknown(origin: Origin, field: Option<String>, reason: &str, raw: Value) -> WebhookEvent {
    WebhookEvent::Unknown(UnknownItem {
        origin,
        field,
        reason: reason.to_owned(),
        raw,
    })
}

/// A string field, accepting numbers too (ids have been seen as both).
fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field given as a number or a numeric string.
fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A float field given as a number or a numeric string.
fn float_of(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn bool_of(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn parse_error_detail(e: &Value) -> ErrorDetail {
    ErrorDetail {
        code: int_of(e.get("code")).unwrap_or(0),
        title: str_of(e.get("title")),
        message: str_of(e.get("message")),
        details: str_of(e.get("error_data").and_then(|d| d.get("details"))),
        href: str_of(e.get("href")),
    }
}

fn parse_errors(v: Option<&Value>) -> Vec<ErrorDetail> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(parse_error_detail).collect())
        .unwrap_or_default()
}

/// The `contacts[]` entry describing this message's sender: matched by phone or BSUID, or
/// the only one when there is exactly one.
fn contact_for<'a>(
    contacts: Option<&'a Vec<Value>>,
    from: Option<&str>,
    user_id: Option<&str>,
) -> Option<&'a Value> {
    let contacts = contacts?;
    contacts
        .iter()
        .find(|c| {
            let wa = c.get("wa_id").and_then(Value::as_str);
            let uid = c.get("user_id").and_then(Value::as_str);
            (from.is_some() && wa == from) || (user_id.is_some() && uid == user_id)
        })
        .or(if contacts.len() == 1 {
            contacts.first()
        } else {
            None
        })
}

fn parse_message(origin: &Origin, contacts: Option<&Vec<Value>>, m: &Value) -> WebhookEvent {
    let Some(obj) = m.as_object() else {
        return unknown(
            origin.clone(),
            Some("messages".into()),
            "message is not an object",
            m.clone(),
        );
    };
    let Some(id) = str_of(obj.get("id")).filter(|s| !s.is_empty()) else {
        return unknown(
            origin.clone(),
            Some("messages".into()),
            "message without id",
            m.clone(),
        );
    };
    if str_of(obj.get("type")).is_none_or(|t| t.is_empty()) {
        return unknown(
            origin.clone(),
            Some("messages".into()),
            "message without type",
            m.clone(),
        );
    }
    let from = str_of(obj.get("from")).filter(|s| !s.is_empty());
    let own_user_id = str_of(obj.get("from_user_id"))
        .or_else(|| str_of(obj.get("user_id")))
        .filter(|s| !s.is_empty());
    let contact = contact_for(contacts, from.as_deref(), own_user_id.as_deref());
    let user_id = own_user_id
        .or_else(|| str_of(contact.and_then(|c| c.get("user_id"))).filter(|s| !s.is_empty()));
    let profile = contact.and_then(|c| c.get("profile"));
    let context = obj
        .get("context")
        .and_then(Value::as_object)
        .map(|c| MessageContext {
            message_id: str_of(c.get("id")),
            from: str_of(c.get("from")),
            forwarded: bool_of(c.get("forwarded")).unwrap_or(false),
            frequently_forwarded: bool_of(c.get("frequently_forwarded")).unwrap_or(false),
            referred_product: c.get("referred_product").cloned(),
        });
    let referral = obj
        .get("referral")
        .and_then(Value::as_object)
        .map(|r| Referral {
            source_url: str_of(r.get("source_url")),
            source_type: str_of(r.get("source_type")),
            source_id: str_of(r.get("source_id")),
            headline: str_of(r.get("headline")),
            body: str_of(r.get("body")),
            media_type: str_of(r.get("media_type")),
            ctwa_clid: str_of(r.get("ctwa_clid")),
        });
    WebhookEvent::Message(InboundMessage {
        origin: origin.clone(),
        id,
        from,
        user_id,
        profile_name: str_of(profile.and_then(|p| p.get("name"))),
        username: str_of(profile.and_then(|p| p.get("username")))
            .or_else(|| str_of(contact.and_then(|c| c.get("username")))),
        timestamp: int_of(obj.get("timestamp")),
        context,
        referral,
        errors: parse_errors(obj.get("errors")),
        content: parse_content(obj, 0),
    })
}

fn media_of(v: Option<&Value>) -> MediaAttachment {
    let v = v.unwrap_or(&Value::Null);
    MediaAttachment {
        id: str_of(v.get("id")).unwrap_or_default(),
        mime_type: str_of(v.get("mime_type")),
        sha256: str_of(v.get("sha256")),
        caption: str_of(v.get("caption")),
        filename: str_of(v.get("filename")),
        url: str_of(v.get("url")),
        voice: bool_of(v.get("voice")),
        animated: bool_of(v.get("animated")),
    }
}

/// Edits nest the new message inside; the depth bound keeps a hostile body from recursing.
const MAX_EDIT_DEPTH: usize = 4;

fn parse_content(obj: &Map<String, Value>, depth: usize) -> MessageContent {
    let type_name = str_of(obj.get("type")).unwrap_or_default();
    let section = obj.get(type_name.as_str());
    let other = || MessageContent::Other {
        type_name: type_name.clone(),
        raw: Value::Object(obj.clone()),
    };
    match type_name.as_str() {
        "text" => match str_of(section.and_then(|t| t.get("body"))) {
            Some(body) => MessageContent::Text { body },
            None => other(),
        },
        "image" => MessageContent::Image(media_of(section)),
        "video" => MessageContent::Video(media_of(section)),
        "audio" => MessageContent::Audio(media_of(section)),
        "document" => MessageContent::Document(media_of(section)),
        "sticker" => MessageContent::Sticker(media_of(section)),
        "location" => {
            let s = section.unwrap_or(&Value::Null);
            match (float_of(s.get("latitude")), float_of(s.get("longitude"))) {
                (Some(latitude), Some(longitude)) => MessageContent::Location {
                    latitude,
                    longitude,
                    name: str_of(s.get("name")),
                    address: str_of(s.get("address")),
                    url: str_of(s.get("url")),
                },
                _ => other(),
            }
        }
        "contacts" => MessageContent::Contacts {
            contacts: section
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        },
        "interactive" => {
            let s = section.unwrap_or(&Value::Null);
            let itype = str_of(s.get("type")).unwrap_or_default();
            let reply = match itype.as_str() {
                "button_reply" => {
                    let r = s.get("button_reply");
                    match (str_of(r.and_then(|r| r.get("id"))), r) {
                        (Some(id), Some(r)) => InteractiveReply::ButtonReply {
                            id,
                            title: str_of(r.get("title")).unwrap_or_default(),
                        },
                        _ => InteractiveReply::Other {
                            interactive_type: itype.clone(),
                            raw: s.clone(),
                        },
                    }
                }
                "list_reply" => {
                    let r = s.get("list_reply");
                    match (str_of(r.and_then(|r| r.get("id"))), r) {
                        (Some(id), Some(r)) => InteractiveReply::ListReply {
                            id,
                            title: str_of(r.get("title")).unwrap_or_default(),
                            description: str_of(r.get("description")),
                        },
                        _ => InteractiveReply::Other {
                            interactive_type: itype.clone(),
                            raw: s.clone(),
                        },
                    }
                }
                _ => InteractiveReply::Other {
                    interactive_type: itype.clone(),
                    raw: s.clone(),
                },
            };
            MessageContent::Interactive { reply }
        }
        "button" => {
            let s = section.unwrap_or(&Value::Null);
            MessageContent::Button {
                payload: str_of(s.get("payload")),
                text: str_of(s.get("text")),
            }
        }
        "reaction" => {
            let s = section.unwrap_or(&Value::Null);
            match str_of(s.get("message_id")) {
                Some(message_id) => MessageContent::Reaction {
                    message_id,
                    // Meta signals a removed reaction by an empty or absent emoji.
                    emoji: str_of(s.get("emoji")).filter(|e| !e.is_empty()),
                },
                None => other(),
            }
        }
        "system" => {
            let s = section.unwrap_or(&Value::Null);
            MessageContent::System {
                system_type: str_of(s.get("type")),
                body: str_of(s.get("body")),
                new_wa_id: str_of(s.get("wa_id")).or_else(|| str_of(s.get("new_wa_id"))),
                new_user_id: str_of(s.get("new_user_id")).or_else(|| str_of(s.get("user_id"))),
            }
        }
        "edit" => {
            let s = section.unwrap_or(&Value::Null);
            let original_message_id = str_of(s.get("original_message_id"))
                .or_else(|| str_of(s.get("message_id")))
                .or_else(|| str_of(s.get("id")));
            let new_content = s
                .get("message")
                .and_then(Value::as_object)
                .filter(|_| depth < MAX_EDIT_DEPTH)
                .map(|inner| Box::new(parse_content(inner, depth + 1)));
            MessageContent::Edit {
                original_message_id,
                new_content,
            }
        }
        "revoke" => {
            let s = section.unwrap_or(&Value::Null);
            MessageContent::Revoke {
                original_message_id: str_of(s.get("original_message_id"))
                    .or_else(|| str_of(s.get("message_id")))
                    .or_else(|| str_of(s.get("id"))),
            }
        }
        "unsupported" | "unknown" => MessageContent::Unsupported,
        _ => other(),
    }
}

fn parse_status(origin: &Origin, s: &Value) -> WebhookEvent {
    let Some(obj) = s.as_object() else {
        return unknown(
            origin.clone(),
            Some("messages".into()),
            "status is not an object",
            s.clone(),
        );
    };
    let (Some(id), Some(status)) = (
        str_of(obj.get("id")).filter(|s| !s.is_empty()),
        str_of(obj.get("status")),
    ) else {
        return unknown(
            origin.clone(),
            Some("messages".into()),
            "status without id or status",
            s.clone(),
        );
    };
    let conversation = obj
        .get("conversation")
        .and_then(Value::as_object)
        .map(|c| Conversation {
            id: str_of(c.get("id")),
            origin_type: str_of(c.get("origin").and_then(|o| o.get("type"))),
            expiration_timestamp: int_of(c.get("expiration_timestamp")),
        });
    let pricing = obj
        .get("pricing")
        .and_then(Value::as_object)
        .map(|p| Pricing {
            billable: bool_of(p.get("billable")),
            pricing_model: str_of(p.get("pricing_model")),
            category: str_of(p.get("category")),
            pricing_type: str_of(p.get("type")),
        });
    WebhookEvent::Status(StatusUpdate {
        origin: origin.clone(),
        id,
        status,
        timestamp: int_of(obj.get("timestamp")),
        recipient_id: str_of(obj.get("recipient_id")).filter(|s| !s.is_empty()),
        recipient_user_id: str_of(obj.get("recipient_user_id"))
            .or_else(|| str_of(obj.get("user_id")))
            .filter(|s| !s.is_empty()),
        conversation,
        pricing,
        biz_opaque_callback_data: str_of(obj.get("biz_opaque_callback_data")),
        errors: parse_errors(obj.get("errors")),
    })
}
