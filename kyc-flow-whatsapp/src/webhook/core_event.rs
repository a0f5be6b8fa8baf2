//! Conversion of parsed webhook events into the core's [`Event`] vocabulary.

use super::parse::{InteractiveReply, MessageContent, WebhookEvent};
use kyc_flow_core::event::{Event, Inbound, InboundContent, MediaKind};
use kyc_flow_core::ports::MediaRef;
use kyc_flow_core::{PhoneNumber, PhoneNumberId, Timestamp, UserRef};

impl WebhookEvent {
    /// The core event this webhook event means for a session, with the business number and
    /// the user that identify the session (the caller adds its tenant to make a
    /// [`kyc_flow_core::SessionKey`]).
    ///
    /// `None` for statuses, errors and unknown items (they concern the transport, not a
    /// session's conversation), and for messages that name no business number or no user.
    /// A message without a timestamp is stamped at the epoch, which the window logic reads
    /// as "long ago"; Meta always sends one.
    pub fn to_core(&self) -> Option<(PhoneNumberId, UserRef, Event)> {
        let WebhookEvent::Message(m) = self else {
            return None;
        };
        let pnid = PhoneNumberId(m.origin.phone_number_id.clone()?);
        let user = m.user()?;
        let at = Timestamp::from_secs(m.timestamp.unwrap_or(0));
        let forwarded = m
            .context
            .as_ref()
            .is_some_and(|c| c.forwarded || c.frequently_forwarded);
        // The number WhatsApp gives next to a business-scoped id (the key): a registry keyed
        // by phone then needs no contact-information request. Usernames are never used.
        let phone = match (&m.user_id, &m.from) {
            (Some(_), Some(from)) => PhoneNumber::parse(from),
            _ => None,
        };
        let inbound = |content| {
            Event::Inbound(Inbound {
                message_id: m.id.clone(),
                at,
                content,
                forwarded,
                phone: phone.clone(),
            })
        };
        let other = || {
            inbound(InboundContent::Other {
                kind: m.content.type_name().to_owned(),
            })
        };
        let event = match &m.content {
            MessageContent::Text { body } => inbound(InboundContent::Text { body: body.clone() }),
            MessageContent::Image(a)
            | MessageContent::Video(a)
            | MessageContent::Audio(a)
            | MessageContent::Document(a)
            | MessageContent::Sticker(a) => {
                if a.id.is_empty() {
                    other()
                } else {
                    let kind = match &m.content {
                        MessageContent::Image(_) => MediaKind::Image,
                        MessageContent::Video(_) => MediaKind::Video,
                        MessageContent::Audio(_) => MediaKind::Audio,
                        MessageContent::Document(_) => MediaKind::Document,
                        _ => MediaKind::Sticker,
                    };
                    inbound(InboundContent::Media {
                        kind,
                        media: MediaRef {
                            phone_number_id: pnid.clone(),
                            media_id: a.id.clone(),
                            mime_type: a.mime_type.clone(),
                            sha256: a.sha256.clone(),
                        },
                        caption: a.caption.clone(),
                    })
                }
            }
            // The answer to our contact-information request; a card shared by hand stays
            // `contacts`, and an answer without a usable number is `contacts.malformed`.
            MessageContent::Contacts { .. } => match m.content.contact_request_answer() {
                Ok(Some(phone)) => inbound(InboundContent::ContactInfo { phone }),
                Ok(None) => other(),
                Err(_) => inbound(InboundContent::Other {
                    kind: "contacts.malformed".to_owned(),
                }),
            },
            MessageContent::Location {
                latitude,
                longitude,
                ..
            } => inbound(InboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
            }),
            MessageContent::Interactive {
                reply: InteractiveReply::ButtonReply { id, title },
            }
            | MessageContent::Interactive {
                reply: InteractiveReply::ListReply { id, title, .. },
            } => inbound(InboundContent::Reply {
                id: id.clone(),
                title: title.clone(),
            }),
            // A template quick reply carries the payload we set when sending; it plays the
            // role of a button id.
            MessageContent::Button { payload, text } => match payload.clone().or(text.clone()) {
                Some(id) => inbound(InboundContent::Reply {
                    id,
                    title: text.clone().unwrap_or_default(),
                }),
                None => other(),
            },
            MessageContent::Edit {
                original_message_id: Some(id),
                ..
            } => Event::MessageEdited {
                message_id: id.clone(),
            },
            MessageContent::Revoke {
                original_message_id: Some(id),
            } => Event::MessageRevoked {
                message_id: id.clone(),
            },
            MessageContent::System {
                new_wa_id,
                new_user_id,
                ..
            } => Event::IdentityChanged {
                new_user: UserRef::from_parts(new_user_id.as_deref(), new_wa_id.as_deref()),
            },
            _ => other(),
        };
        Some((pnid, user, event))
    }
}
