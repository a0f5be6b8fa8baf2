//! Meta's limits on outbound messages, checked before anything is sent, and the Cloud API
//! JSON for each message type.
//!
//! Meta rejects an over-limit message with a generic parameter error (131009) after a round
//! trip; checking here gives the flow author a precise, typed error instead, and keeps
//! invalid messages from counting against the throughput limit.

use kyc_flow_core::UserRef;
use kyc_flow_core::ports::{MediaSource, OutboundBody, OutboundMessage};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// Limits as Meta documents them, in characters (Unicode scalar values).
pub mod limit {
    /// `text.body`.
    pub const TEXT_BODY: usize = 4096;
    /// `interactive.body.text`.
    pub const INTERACTIVE_BODY: usize = 1024;
    /// `interactive.header.text`.
    pub const HEADER_TEXT: usize = 60;
    /// `interactive.footer.text`.
    pub const FOOTER_TEXT: usize = 60;
    /// Reply buttons per message.
    pub const BUTTONS: usize = 3;
    /// A reply button's title.
    pub const BUTTON_TITLE: usize = 20;
    /// A reply button's id.
    pub const BUTTON_ID: usize = 256;
    /// The label of the button that opens a list.
    pub const LIST_BUTTON: usize = 20;
    /// Sections per list.
    pub const LIST_SECTIONS: usize = 10;
    /// Rows per list, across all sections.
    pub const LIST_ROWS: usize = 10;
    /// A section's title.
    pub const SECTION_TITLE: usize = 24;
    /// A row's title.
    pub const ROW_TITLE: usize = 24;
    /// A row's id.
    pub const ROW_ID: usize = 200;
    /// A row's description.
    pub const ROW_DESCRIPTION: usize = 72;
    /// Image and document captions.
    pub const CAPTION: usize = 1024;
    /// A template's name.
    pub const TEMPLATE_NAME: usize = 512;
    /// One template body parameter.
    pub const TEMPLATE_PARAM: usize = 1024;
    /// `biz_opaque_callback_data`.
    pub const CALLBACK_DATA: usize = 512;
}

/// An outbound message that breaks a WhatsApp limit. Never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A required text is empty.
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    /// A text is longer than allowed.
    #[error("{field} is {len} characters, the limit is {max}")]
    TooLong {
        field: &'static str,
        max: usize,
        len: usize,
    },
    /// More items than allowed (buttons, rows, sections).
    #[error("{count} {what}, the limit is {max}")]
    TooMany {
        what: &'static str,
        max: usize,
        count: usize,
    },
    /// Two buttons or rows share an id or a title.
    #[error("duplicate {what}")]
    Duplicate { what: &'static str },
    /// A list with several sections must title each of them.
    #[error("every section needs a title when there is more than one")]
    MissingSectionTitle,
    /// Template parameters may not contain newlines, tabs or more than four spaces in a row.
    #[error("template parameter {index} contains newlines, tabs or runs of spaces")]
    BadTemplateParam { index: usize },
    /// Media links must be HTTPS.
    #[error("media link must be an https URL")]
    InsecureLink,
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), LimitError> {
    let len = s.chars().count();
    if len == 0 {
        return Err(LimitError::Empty { field });
    }
    if len > max {
        return Err(LimitError::TooLong { field, max, len });
    }
    Ok(())
}

fn check_opt(field: &'static str, s: Option<&str>, max: usize) -> Result<(), LimitError> {
    match s {
        Some(s) => check_len(field, s, max),
        None => Ok(()),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), LimitError> {
    if count == 0 {
        return Err(LimitError::Empty { field: what });
    }
    if count > max {
        return Err(LimitError::TooMany { what, max, count });
    }
    Ok(())
}

fn check_unique<'a>(
    what: &'static str,
    items: impl Iterator<Item = &'a str>,
) -> Result<(), LimitError> {
    let mut seen = HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return Err(LimitError::Duplicate { what });
        }
    }
    Ok(())
}

/// Check every limit of `message` without building anything.
pub fn validate(message: &OutboundMessage) -> Result<(), LimitError> {
    if let Some(cb) = &message.callback_data {
        check_len("callback_data", cb, limit::CALLBACK_DATA)?;
    }
    if let Some(r) = &message.reply_to {
        check_len("reply_to", r, usize::MAX)?;
    }
    match &message.body {
        OutboundBody::Text { body, .. } => check_len("text body", body, limit::TEXT_BODY),
        OutboundBody::ContactRequest { body } => check_len("body", body, limit::INTERACTIVE_BODY),
        OutboundBody::Buttons {
            header,
            body,
            footer,
            buttons,
        } => {
            check_opt("header", header.as_deref(), limit::HEADER_TEXT)?;
            check_len("body", body, limit::INTERACTIVE_BODY)?;
            check_opt("footer", footer.as_deref(), limit::FOOTER_TEXT)?;
            check_count("buttons", buttons.len(), limit::BUTTONS)?;
            for b in buttons {
                check_len("button title", &b.title, limit::BUTTON_TITLE)?;
                check_len("button id", &b.id, limit::BUTTON_ID)?;
            }
            check_unique("button id", buttons.iter().map(|b| b.id.as_str()))?;
            check_unique("button title", buttons.iter().map(|b| b.title.as_str()))
        }
        OutboundBody::List {
            header,
            body,
            footer,
            button,
            sections,
        } => {
            check_opt("header", header.as_deref(), limit::HEADER_TEXT)?;
            check_len("body", body, limit::INTERACTIVE_BODY)?;
            check_opt("footer", footer.as_deref(), limit::FOOTER_TEXT)?;
            check_len("list button", button, limit::LIST_BUTTON)?;
            check_count("sections", sections.len(), limit::LIST_SECTIONS)?;
            let rows = sections.iter().map(|s| s.rows.len()).sum();
            check_count("rows", rows, limit::LIST_ROWS)?;
            for s in sections {
                if s.rows.is_empty() {
                    return Err(LimitError::Empty {
                        field: "section rows",
                    });
                }
                match &s.title {
                    Some(t) => check_len("section title", t, limit::SECTION_TITLE)?,
                    None if sections.len() > 1 => return Err(LimitError::MissingSectionTitle),
                    None => {}
                }
                for r in &s.rows {
                    check_len("row title", &r.title, limit::ROW_TITLE)?;
                    check_len("row id", &r.id, limit::ROW_ID)?;
                    check_opt(
                        "row description",
                        r.description.as_deref(),
                        limit::ROW_DESCRIPTION,
                    )?;
                }
            }
            check_unique(
                "row id",
                sections
                    .iter()
                    .flat_map(|s| s.rows.iter().map(|r| r.id.as_str())),
            )
        }
        OutboundBody::Template {
            name,
            language,
            body_params,
        } => {
            check_len("template name", name, limit::TEMPLATE_NAME)?;
            check_len("template language", language, 16)?;
            for (index, p) in body_params.iter().enumerate() {
                check_len("template parameter", p, limit::TEMPLATE_PARAM)?;
                if p.contains(['\n', '\t']) || p.contains("     ") {
                    return Err(LimitError::BadTemplateParam { index });
                }
            }
            Ok(())
        }
        OutboundBody::Image { media, caption } => {
            check_media(media)?;
            check_opt("caption", caption.as_deref(), limit::CAPTION)
        }
        OutboundBody::Document {
            media,
            filename,
            caption,
        } => {
            check_media(media)?;
            check_opt("filename", filename.as_deref(), 255)?;
            check_opt("caption", caption.as_deref(), limit::CAPTION)
        }
    }
}

fn check_media(media: &MediaSource) -> Result<(), LimitError> {
    match media {
        MediaSource::Id(id) => check_len("media id", id, 256),
        MediaSource::Link(link) => {
            check_len("media link", link, 2048)?;
            if link
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
            {
                Ok(())
            } else {
                Err(LimitError::InsecureLink)
            }
        }
    }
}

fn media_json(media: &MediaSource) -> Map<String, Value> {
    let mut m = Map::new();
    match media {
        MediaSource::Id(id) => m.insert("id".into(), json!(id)),
        MediaSource::Link(l) => m.insert("link".into(), json!(l)),
    };
    m
}

fn text_obj(s: &str) -> Value {
    json!({ "text": s })
}

/// The Cloud API request body for `message`, after [`validate`].
///
/// Users known by their business-scoped id are addressed with `recipient`, phone numbers with
/// `to`, as the Cloud API expects for username users.
pub fn message_payload(message: &OutboundMessage) -> Result<Value, LimitError> {
    validate(message)?;
    let mut root = Map::new();
    root.insert("messaging_product".into(), json!("whatsapp"));
    root.insert("recipient_type".into(), json!("individual"));
    match &message.to {
        UserRef::Phone(p) => root.insert("to".into(), json!(p)),
        UserRef::Bsuid(b) => root.insert("recipient".into(), json!(b)),
    };
    if let Some(r) = &message.reply_to {
        root.insert("context".into(), json!({ "message_id": r }));
    }
    if let Some(cb) = &message.callback_data {
        root.insert("biz_opaque_callback_data".into(), json!(cb));
    }
    let (kind, body) = match &message.body {
        OutboundBody::Text { body, preview_url } => {
            ("text", json!({ "body": body, "preview_url": preview_url }))
        }
        // The user answers with a `contacts` message whose contact has
        // `origin: contact_request` (see `webhook::parse`).
        OutboundBody::ContactRequest { body } => (
            "interactive",
            json!({
                "type": "request_contact_info",
                "body": text_obj(body),
                "action": { "name": "request_contact_info" },
            }),
        ),
        OutboundBody::Buttons {
            header,
            body,
            footer,
            buttons,
        } => {
            let mut i = Map::new();
            i.insert("type".into(), json!("button"));
            if let Some(h) = header {
                i.insert("header".into(), json!({ "type": "text", "text": h }));
            }
            i.insert("body".into(), text_obj(body));
            if let Some(f) = footer {
                i.insert("footer".into(), text_obj(f));
            }
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
                .collect();
            i.insert("action".into(), json!({ "buttons": buttons }));
            ("interactive", Value::Object(i))
        }
        OutboundBody::List {
            header,
            body,
            footer,
            button,
            sections,
        } => {
            let mut i = Map::new();
            i.insert("type".into(), json!("list"));
            if let Some(h) = header {
                i.insert("header".into(), json!({ "type": "text", "text": h }));
            }
            i.insert("body".into(), text_obj(body));
            if let Some(f) = footer {
                i.insert("footer".into(), text_obj(f));
            }
            let sections: Vec<Value> = sections
                .iter()
                .map(|s| {
                    let rows: Vec<Value> = s
                        .rows
                        .iter()
                        .map(|r| {
                            let mut row = Map::new();
                            row.insert("id".into(), json!(r.id));
                            row.insert("title".into(), json!(r.title));
                            if let Some(d) = &r.description {
                                row.insert("description".into(), json!(d));
                            }
                            Value::Object(row)
                        })
                        .collect();
                    let mut sec = Map::new();
                    if let Some(t) = &s.title {
                        sec.insert("title".into(), json!(t));
                    }
                    sec.insert("rows".into(), Value::Array(rows));
                    Value::Object(sec)
                })
                .collect();
            i.insert(
                "action".into(),
                json!({ "button": button, "sections": sections }),
            );
            ("interactive", Value::Object(i))
        }
        OutboundBody::Template {
            name,
            language,
            body_params,
        } => {
            let mut t = Map::new();
            t.insert("name".into(), json!(name));
            t.insert("language".into(), json!({ "code": language }));
            if !body_params.is_empty() {
                let params: Vec<Value> = body_params
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                t.insert(
                    "components".into(),
                    json!([{ "type": "body", "parameters": params }]),
                );
            }
            ("template", Value::Object(t))
        }
        OutboundBody::Image { media, caption } => {
            let mut m = media_json(media);
            if let Some(c) = caption {
                m.insert("caption".into(), json!(c));
            }
            ("image", Value::Object(m))
        }
        OutboundBody::Document {
            media,
            filename,
            caption,
        } => {
            let mut m = media_json(media);
            if let Some(c) = caption {
                m.insert("caption".into(), json!(c));
            }
            if let Some(f) = filename {
                m.insert("filename".into(), json!(f));
            }
            ("document", Value::Object(m))
        }
    };
    root.insert("type".into(), json!(kind));
    root.insert(kind.into(), body);
    Ok(Value::Object(root))
}

/// The request body that marks `message_id` as read, with a typing indicator if asked.
pub fn mark_read_payload(message_id: &str, typing: bool) -> Value {
    let mut v = json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    });
    if typing {
        v["typing_indicator"] = json!({ "type": "text" });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_core::PhoneNumberId;
    use kyc_flow_core::ports::{ListRow, ListSection, ReplyButton};
    use proptest::prelude::*;

    fn msg(to: UserRef, body: OutboundBody) -> OutboundMessage {
        OutboundMessage {
            from: PhoneNumberId("106540352242922".into()),
            to,
            body,
            reply_to: Some("wamid.IN1".into()),
            callback_data: Some("s:1".into()),
        }
    }

    #[test]
    fn request_bodies_for_every_type() {
        let phone = UserRef::Phone("5215512345678".into());
        let bsuid = UserRef::Bsuid("MX.1502576394655843".into());
        let bodies = [
            msg(
                phone.clone(),
                OutboundBody::Text {
                    body: "Hola".into(),
                    preview_url: true,
                },
            ),
            msg(
                bsuid,
                OutboundBody::Buttons {
                    header: Some("Paso 1".into()),
                    body: "¿Aceptas el aviso de privacidad?".into(),
                    footer: Some("kyc-flow".into()),
                    buttons: vec![
                        ReplyButton {
                            id: "yes".into(),
                            title: "Acepto".into(),
                        },
                        ReplyButton {
                            id: "no".into(),
                            title: "No acepto".into(),
                        },
                    ],
                },
            ),
            msg(
                phone.clone(),
                OutboundBody::List {
                    header: None,
                    body: "Elige".into(),
                    footer: None,
                    button: "Ver".into(),
                    sections: vec![ListSection {
                        title: None,
                        rows: vec![ListRow {
                            id: "ine".into(),
                            title: "INE".into(),
                            description: Some("Credencial".into()),
                        }],
                    }],
                },
            ),
            msg(
                phone.clone(),
                OutboundBody::Template {
                    name: "kyc_resume".into(),
                    language: "es_MX".into(),
                    body_params: vec![],
                },
            ),
            msg(
                phone.clone(),
                OutboundBody::Image {
                    media: MediaSource::Id("123".into()),
                    caption: None,
                },
            ),
            msg(
                phone,
                OutboundBody::Document {
                    media: MediaSource::Link("https://example.invalid/a.pdf".into()),
                    filename: Some("a.pdf".into()),
                    caption: Some("Aviso".into()),
                },
            ),
        ];
        let payloads: Vec<Value> = bodies.iter().map(|m| message_payload(m).unwrap()).collect();
        insta::assert_json_snapshot!(payloads);
        insta::assert_json_snapshot!(
            "mark_read",
            [
                mark_read_payload("wamid.X", true),
                mark_read_payload("wamid.X", false)
            ]
        );
    }

    #[test]
    fn contact_request_is_addressed_by_business_scoped_id_and_checked() {
        let m = msg(
            UserRef::Bsuid("US.13491208655302741918".into()),
            OutboundBody::ContactRequest {
                body: "Comparte tu número".into(),
            },
        );
        assert_eq!(
            message_payload(&m).unwrap(),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "recipient": "US.13491208655302741918",
                "context": { "message_id": "wamid.IN1" },
                "biz_opaque_callback_data": "s:1",
                "type": "interactive",
                "interactive": {
                    "type": "request_contact_info",
                    "body": { "text": "Comparte tu número" },
                    "action": { "name": "request_contact_info" },
                },
            })
        );
        for body in [String::new(), "x".repeat(limit::INTERACTIVE_BODY + 1)] {
            let m = msg(
                UserRef::Bsuid("US.1".into()),
                OutboundBody::ContactRequest { body },
            );
            assert!(validate(&m).is_err(), "empty or too long body refused");
        }
    }

    fn buttons(n: usize, title_len: usize) -> OutboundBody {
        OutboundBody::Buttons {
            header: None,
            body: "b".into(),
            footer: None,
            buttons: (0..n)
                .map(|i| ReplyButton {
                    id: format!("id{i}"),
                    // Distinct titles of exactly `title_len` characters (multi-byte on purpose).
                    title: format!("{i}{}", "ñ".repeat(title_len.saturating_sub(1))),
                })
                .collect(),
        }
    }

    proptest! {
        #[test]
        fn buttons_valid_exactly_within_limits(n in 0usize..6, len in 1usize..30) {
            let m = msg(UserRef::Phone("1".into()), buttons(n, len));
            let ok = (1..=limit::BUTTONS).contains(&n) && len <= limit::BUTTON_TITLE;
            prop_assert_eq!(validate(&m).is_ok(), ok, "n={} len={}", n, len);
        }

        #[test]
        fn text_valid_exactly_within_limits(len in 0usize..5000) {
            let m = msg(UserRef::Phone("1".into()), OutboundBody::Text { body: "é".repeat(len), preview_url: false });
            prop_assert_eq!(validate(&m).is_ok(), (1..=limit::TEXT_BODY).contains(&len));
        }

        #[test]
        fn list_rows_counted_across_sections(a in 1usize..8, b in 1usize..8) {
            let section = |title: &str, n: usize, off: usize| ListSection {
                title: Some(title.into()),
                rows: (0..n).map(|i| ListRow { id: format!("r{}", i + off), title: "t".into(), description: None }).collect(),
            };
            let m = msg(UserRef::Phone("1".into()), OutboundBody::List {
                header: None, body: "b".into(), footer: None, button: "Ver".into(),
                sections: vec![section("A", a, 0), section("B", b, 100)],
            });
            prop_assert_eq!(validate(&m).is_ok(), a + b <= limit::LIST_ROWS);
        }
    }
}
