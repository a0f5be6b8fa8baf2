//! A user's WhatsApp identity changes mid-onboarding: the conversation moves with them.
//!
//! Conversations are keyed by the business-scoped user id (BSUID) when the webhook carries one,
//! by the phone number otherwise (`UserRef::from_parts`; usernames are never identifiers). A
//! user who changes their phone number gets a new BSUID, and Meta says so with a
//! `user_changed_user_id` system message (`user_changed_number` for users known by their
//! number). Both reach the engine as [`Event::IdentityChanged`] for the old key, naming the new
//! identity. When the new identity is of the same kind as the key's (BSUID for BSUID, number
//! for number), [`Engine::handle_event`] moves the conversation:
//!
//! 1. Both conversations are held (leases taken in a fixed order, so two moves never wait on
//!    each other). A session with analyses in flight is not moved yet: the event's job is
//!    retried (`EngineError::Settling`) until they have finished, because an analysis writes
//!    the card portrait under the key it started with.
//! 2. The card portraits are copied to the new key's names, a forwarding record
//!    (`moved/{old id}` in the evidence store, for the session's time to live) names the new
//!    key, and the session is stored under the new key (created, never overwritten).
//! 3. The old session, its portraits and its index entry are deleted; the new key is indexed.
//! 4. The event is applied at the new key: the machine notes the change in the audit trail and
//!    raises the `identity_changed` risk code (a number change mid-onboarding may be a SIM
//!    swap; the flow's risk policy decides whether a person looks), and the onboarding goes on
//!    where it was. Pending commands (in the session's outbox) are carried out for the new
//!    identity.
//!
//! A crash anywhere is repaired by the redelivered event: a session found under both keys with
//! the same session id is a move that stopped before step 3, and step 4 is idempotent (the risk
//! code is kept once). Events that still name the old key afterwards — a registry answer, a
//! timer, a late analysis result — find no session there and follow the forwarding record
//! (at most [`MAX_HOPS`] records). When the new key already has a live conversation of its
//! own, or the session is decided, nothing moves and the machine handles the event as before
//! (manual review mid-onboarding; a note after the decision). Erasure deletes the forwarding
//! record with the session it points from.

use crate::engine::{Engine, EngineError};
use kyc_flow_core::ports::{PortError, PortErrorKind};
use kyc_flow_core::{Event, EvidenceKey, SessionKey, UserRef};

/// Forwarding records followed for one event before it is treated as orphaned.
pub const MAX_HOPS: u8 = 4;

/// The evidence-store name of the record that forwards a moved conversation's late events.
pub(crate) fn forward_key(session_id: &str) -> EvidenceKey {
    EvidenceKey(format!("moved/{session_id}"))
}

/// What [`Engine::move_conversation`] did.
enum Moved {
    /// The conversation now lives at the new key (moved now, or by an earlier attempt).
    Yes,
    /// Nothing moved: no session, a decided one, or a live conversation already at the new key.
    No,
}

/// Whether `a` and `b` are the same kind of identity (both BSUIDs or both phone numbers).
pub(crate) fn same_kind(a: &UserRef, b: &UserRef) -> bool {
    matches!(
        (a, b),
        (UserRef::Bsuid(_), UserRef::Bsuid(_)) | (UserRef::Phone(_), UserRef::Phone(_))
    )
}

impl Engine {
    /// The key a moved conversation's late events go to, if `key`'s conversation moved.
    pub(crate) async fn forwarded(
        &self,
        key: &SessionKey,
    ) -> Result<Option<SessionKey>, EngineError> {
        let record = self
            .ports()
            .evidence
            .get(&forward_key(&self.session_id(key)))
            .await?;
        Ok(match record {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                EngineError::Port(PortError::new(
                    PortErrorKind::Integrity,
                    format!("forwarding record does not decode: {e}"),
                ))
            })?),
            None => None,
        })
    }

    /// Move the conversation of `from` to `to` if it can be (see the module docs); then the
    /// caller applies the event where the conversation is.
    pub(crate) async fn move_conversation(
        &self,
        from: &SessionKey,
        to: &SessionKey,
    ) -> Result<SessionKey, EngineError> {
        let (first, second) = if self.session_id(from) <= self.session_id(to) {
            (from, to)
        } else {
            (to, from)
        };
        let a = self.hold(first).await?;
        let b = match self.hold(second).await {
            Ok(b) => b,
            Err(e) => {
                self.release(a).await;
                return Err(e);
            }
        };
        let result = self.move_held(from, to).await;
        self.release(b).await;
        self.release(a).await;
        Ok(match result? {
            Moved::Yes => to.clone(),
            Moved::No => from.clone(),
        })
    }

    async fn move_held(&self, from: &SessionKey, to: &SessionKey) -> Result<Moved, EngineError> {
        let ports = self.ports();
        let config = self.config();
        let (from_id, to_id) = (self.session_id(from), self.session_id(to));
        let existing = ports.sessions.load(to).await?.map(|v| v.value);
        let Some(old) = ports.sessions.load(from).await?.map(|v| v.value) else {
            // Moved by an earlier attempt (the event was redelivered), or nothing to move.
            let moved = existing.is_some() && self.forwarded(from).await?.as_ref() == Some(to);
            return Ok(if moved { Moved::Yes } else { Moved::No });
        };
        if old.decision.is_some() || old.is_terminal() {
            return Ok(Moved::No);
        }
        match &existing {
            // A move that stopped between storing the new session and deleting the old one.
            Some(new) if new.id == old.id => {}
            Some(_) => return Ok(Moved::No),
            None => {
                if old.pending.iter().any(|p| p.in_flight()) {
                    return Err(EngineError::Settling);
                }
                for capture in 1..=old.captures {
                    let name = EvidenceKey::portrait_of(&from_id, capture);
                    if let Some(bytes) = ports.evidence.get(&name).await? {
                        ports
                            .evidence
                            .put(
                                &EvidenceKey::portrait_of(&to_id, capture),
                                &bytes,
                                config.evidence_ttl,
                            )
                            .await?;
                    }
                }
                let record = serde_json::to_vec(to).expect("a session key serializes");
                ports
                    .evidence
                    .put(&forward_key(&from_id), &record, config.session_ttl)
                    .await?;
                let mut moved = old.clone();
                moved.key = to.clone();
                moved.note(self.now(), "identity.moved", "to the user's new id");
                ports
                    .sessions
                    .save(to, &moved, None, config.session_ttl)
                    .await?;
            }
        }
        for capture in 1..=old.captures {
            ports
                .evidence
                .delete(&EvidenceKey::portrait_of(&from_id, capture))
                .await?;
        }
        ports
            .evidence
            .delete(&crate::erasure::index_key(&from_id))
            .await?;
        ports.sessions.delete(from).await?;
        self.index_session(to).await?;
        self.audit(
            from,
            self.now(),
            "identity.moved",
            "conversation moved to the new id",
        );
        Ok(Moved::Yes)
    }

    /// Where an event for `key` should be applied: an identity change of the same kind moves
    /// the conversation first (see the module docs).
    pub(crate) async fn route_identity_change(
        &self,
        key: &SessionKey,
        event: &Event,
    ) -> Result<SessionKey, EngineError> {
        match event {
            Event::IdentityChanged {
                new_user: Some(new),
            } if *new != key.user && same_kind(new, &key.user) => {
                let to = SessionKey {
                    user: new.clone(),
                    ..key.clone()
                };
                self.move_conversation(key, &to).await
            }
            _ => Ok(key.clone()),
        }
    }
}
