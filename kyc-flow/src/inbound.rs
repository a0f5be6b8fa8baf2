//! Jobs that adapters put on the queue (the WhatsApp webhook), turned into core events.

use kyc_flow_core::SessionKey;
use kyc_flow_core::event::Event;
#[cfg(feature = "whatsapp")]
use kyc_flow_core::{PhoneNumberId, TenantId};
#[cfg(feature = "whatsapp")]
use kyc_flow_whatsapp::{JOB_KIND as WHATSAPP_EVENT, WebhookEvent};

/// What an adapter's job means for the engine.
#[derive(Debug)]
pub enum Foreign {
    /// An event for a session.
    Event(SessionKey, Event),
    /// WhatsApp refused one of our free-form messages to this user because the 24-hour window
    /// had closed (a `failed` status with code 131047): send the re-engagement template.
    WindowClosed(SessionKey),
    /// Understood; nothing for a session to do (other statuses, value-level errors, unknown
    /// items — logged without PII for an operator).
    Nothing,
}

/// Decode a job of an adapter's kind. Without the `whatsapp` feature no adapter puts jobs of
/// its own on the queue, so every such job is refused.
#[cfg(not(feature = "whatsapp"))]
pub fn decode_foreign(kind: &str, _payload: &[u8], _tenant: &str) -> Result<Foreign, String> {
    Err(format!(
        "no decoder for job kind `{kind}` (built without the `whatsapp` feature)"
    ))
}

/// Decode a job of an adapter's kind.
#[cfg(feature = "whatsapp")]
pub fn decode_foreign(kind: &str, payload: &[u8], tenant: &str) -> Result<Foreign, String> {
    if kind != WHATSAPP_EVENT {
        return Err(format!("no decoder for job kind `{kind}`"));
    }
    let event: WebhookEvent = serde_json::from_slice(payload)
        .map_err(|e| format!("bad {WHATSAPP_EVENT} payload: {e}"))?;
    let key = |phone_number_id, user| SessionKey {
        tenant: TenantId(tenant.to_owned()),
        phone_number_id,
        user,
    };
    if let Some((phone_number_id, user, core)) = event.to_core() {
        return Ok(Foreign::Event(key(phone_number_id, user), core));
    }
    if let WebhookEvent::Status(s) = &event
        && s.failed_with(kyc_flow_whatsapp::window::OUTSIDE_WINDOW_CODE)
        && let (Some(pnid), Some(user)) = (event.phone_number_id(), s.user())
    {
        return Ok(Foreign::WindowClosed(key(
            PhoneNumberId(pnid.to_owned()),
            user,
        )));
    }
    // A message refused because the user opted out of marketing messages (131050): the
    // session records it and stops nudging.
    if let WebhookEvent::Status(s) = &event
        && s.failed_with(kyc_flow_whatsapp::error::OPTED_OUT_CODE)
        && let (Some(pnid), Some(user)) = (event.phone_number_id(), s.user())
    {
        return Ok(Foreign::Event(
            key(PhoneNumberId(pnid.to_owned()), user),
            Event::OptedOut,
        ));
    }
    log_transport_event(&event);
    Ok(Foreign::Nothing)
}

#[cfg(feature = "whatsapp")]
fn log_transport_event(event: &WebhookEvent) {
    match event {
        WebhookEvent::Status(s) => tracing::debug!(status = ?s.state(), "delivery status"),
        WebhookEvent::Error(_) => tracing::warn!("the platform reported a value-level error"),
        WebhookEvent::Unknown(_) => {
            tracing::info!("webhook item of an unknown shape kept for the audit trail")
        }
        WebhookEvent::Message(_) => {
            tracing::info!("message without a business number or a user ignored")
        }
        _ => tracing::info!("webhook item of a kind this runtime does not handle yet"),
    }
}
