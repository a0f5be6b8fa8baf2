//! Jobs that adapters put on the queue (the WhatsApp webhook), turned into core events.

use kyc_flow_core::SessionKey;
use kyc_flow_core::event::Event;

/// Decode a job of an adapter's kind. `Ok(None)`: understood, nothing for a session to do
/// (a status update, an unknown item kept for the audit trail).
pub fn decode_foreign(
    kind: &str,
    _payload: &[u8],
    _tenant: &str,
) -> Result<Option<(SessionKey, Event)>, String> {
    Err(format!("no decoder for job kind `{kind}`"))
}
