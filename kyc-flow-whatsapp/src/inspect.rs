//! The JSON behind `kyc-flow inspect webhook` and `kyc-flow inspect signature`
//! (field names are a contract: see the CLI documentation).

use crate::webhook::parse::{InteractiveReply, MessageContent, WebhookEvent, parse_webhook};
use serde_json::{Value, json};

/// `{"events": [...]}` for one raw webhook body; `Err` (exit code 2) only for non-JSON.
pub fn webhook(body: &[u8]) -> Result<Value, String> {
    let events = parse_webhook(body).map_err(|e| e.to_string())?;
    Ok(json!({ "events": events.iter().map(event_json).collect::<Vec<_>>() }))
}

/// Whether `header` is the valid `X-Hub-Signature-256` of `body` under `secret`.
pub fn signature(secret: &str, header: &str, body: &[u8]) -> bool {
    crate::signature::verify_signature(secret.as_bytes(), Some(header), body).is_ok()
}

/// One event in the CLI's shape.
pub fn event_json(event: &WebhookEvent) -> Value {
    match event {
        WebhookEvent::Message(m) => {
            let mut v = json!({
                "kind": "message",
                "id": m.id,
                "type": m.content.type_name(),
                "from": m.from,
                "user_id": m.user_id,
                "timestamp": m.timestamp,
                "phone_number_id": m.origin.phone_number_id,
            });
            if let Some(media) = m.content.media() {
                v["media_id"] = json!(media.id);
            }
            match &m.content {
                MessageContent::Interactive { reply } => {
                    v["reply_id"] = match reply {
                        InteractiveReply::ButtonReply { id, .. }
                        | InteractiveReply::ListReply { id, .. } => json!(id),
                        InteractiveReply::Other { .. } => Value::Null,
                    };
                }
                MessageContent::Button { payload, .. } => v["payload"] = json!(payload),
                MessageContent::Reaction { message_id, emoji } => {
                    v["reacted_to"] = json!(message_id);
                    v["removed"] = json!(emoji.is_none());
                }
                MessageContent::Edit {
                    original_message_id,
                    ..
                }
                | MessageContent::Revoke {
                    original_message_id,
                } => v["original_message_id"] = json!(original_message_id),
                _ => {}
            }
            if let Some(ctx) = &m.context {
                v["context_id"] = json!(ctx.message_id);
                v["forwarded"] = json!(ctx.forwarded || ctx.frequently_forwarded);
            }
            if !m.errors.is_empty() {
                v["error_codes"] = json!(m.errors.iter().map(|e| e.code).collect::<Vec<_>>());
            }
            v
        }
        WebhookEvent::Status(s) => json!({
            "kind": "status",
            "id": s.id,
            "status": s.status,
            "recipient_id": s.recipient_id,
            "recipient_user_id": s.recipient_user_id,
            "timestamp": s.timestamp,
            "phone_number_id": s.origin.phone_number_id,
            "error_codes": s.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            "pricing_category": s.pricing.as_ref().and_then(|p| p.category.clone()),
        }),
        WebhookEvent::Error(e) => json!({
            "kind": "error",
            "code": e.error.code,
            "title": e.error.title,
            "phone_number_id": e.origin.phone_number_id,
        }),
        WebhookEvent::Unknown(u) => json!({
            "kind": "unknown",
            "reason": u.reason,
            "field": u.field,
            "phone_number_id": u.origin.phone_number_id,
        }),
    }
}
