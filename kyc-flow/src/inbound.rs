//! Jobs that adapters put on the queue (the WhatsApp webhook), turned into core events.

use kyc_flow_core::event::Event;
use kyc_flow_core::{SessionKey, TenantId};
use kyc_flow_whatsapp::{JOB_KIND as WHATSAPP_EVENT, WebhookEvent};

/// Decode a job of an adapter's kind into the session it concerns and the event.
///
/// `Ok(None)`: understood, but nothing for a session to do — delivery statuses, value-level
/// errors and items the parser kept as unknown (they are logged without PII for an operator).
pub fn decode_foreign(
    kind: &str,
    payload: &[u8],
    tenant: &str,
) -> Result<Option<(SessionKey, Event)>, String> {
    if kind != WHATSAPP_EVENT {
        return Err(format!("no decoder for job kind `{kind}`"));
    }
    let event: WebhookEvent = serde_json::from_slice(payload)
        .map_err(|e| format!("bad {WHATSAPP_EVENT} payload: {e}"))?;
    match event.to_core() {
        Some((phone_number_id, user, event)) => Ok(Some((
            SessionKey {
                tenant: TenantId(tenant.to_owned()),
                phone_number_id,
                user,
            },
            event,
        ))),
        None => {
            log_transport_event(&event);
            Ok(None)
        }
    }
}

fn log_transport_event(event: &WebhookEvent) {
    match event {
        WebhookEvent::Status(s) => {
            tracing::debug!(status = ?s.state(), "delivery status");
            if s.failed_with(131_047) {
                tracing::info!("a message was refused outside the 24-hour window");
            }
        }
        WebhookEvent::Error(_) => tracing::warn!("the platform reported a value-level error"),
        WebhookEvent::Unknown(_) => {
            tracing::info!("webhook item of an unknown shape kept for the audit trail")
        }
        WebhookEvent::Message(_) => {
            tracing::info!("message without a business number or a user ignored")
        }
    }
}
