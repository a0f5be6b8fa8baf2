//! Erasure on request and retention: removing one person's data, and expiring decided sessions.
//!
//! [`Engine::erase`] removes, under the conversation's lease (so no event of that conversation
//! runs meanwhile): the session, every card portrait it may have left and its registry
//! correlation records (evidence store), the forwarding record a move to a new user id left
//! (`crate::identity`), photos still held on the platform, its timers, its
//! review case, its session index entry, and (with a face index) the records it enrolled in
//! the 1:N index with the card-photo hashes and pending record it kept for it
//! (`crate::repeats`); then one tombstone audit line (`erasure.done`, the
//! keyed session id and counts — no PII). What it cannot remove: jobs already in the queue for
//! that conversation (a Redis stream entry is not addressable by session; their payloads are
//! sealed at rest, and each becomes an `event.orphaned` no-op when a worker reaches it — an
//! inbound *message* queued after the erasure starts a new conversation, as the user writing
//! again would), dead letters (`kyc-flow dlq drop`), acknowledged stream entries until the
//! stream is trimmed, and what was already sent to the bank or a registry.
//!
//! Retention: when a session is decided (other than `manual_review`, which waits for a person)
//! the engine sets a [`RETENTION_TIMER`] at `decided_at + retention`; when it fires, a session
//! still decided at least that long ago is erased like a request (`retention.expired`). A
//! session that started over meanwhile is left alone (its next decision sets the timer again).
//! The retention erasure leaves the face index's records alone: they expire on the index's own
//! retention, so a repeat is still found after the session is gone.

use crate::engine::{Engine, EngineError};
use kyc_flow_core::ports::PortResult;
use kyc_flow_core::session::Session;
use kyc_flow_core::{Decision, EvidenceKey, PhoneNumberId, SessionKey, TenantId, UserRef};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Name of the timer that expires a decided session's personal data.
pub const RETENTION_TIMER: &str = "retention";

/// The reason of a retention erasure (the face index keeps its records then).
const RETENTION_REASON: &str = "retention.expired";

/// Timers a session may have pending (the core's and the retention timer).
const TIMERS: [&str; 4] = [
    kyc_flow_core::machine::INACTIVITY_TIMER,
    kyc_flow_core::machine::REGISTRY_TIMER,
    kyc_flow_core::machine::BURST_TIMER,
    RETENTION_TIMER,
];

/// How long decided sessions keep personal data (`[retention]` in the serve config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds after a final decision (approved, rejected, declined, cancelled, expired) the
    /// session and its evidence are erased. 0: no retention timer (the store's `session_ttl`
    /// still bounds an untouched session).
    pub decided_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            decided_secs: 30 * 24 * 3600,
        }
    }
}

impl RetentionConfig {
    /// The retention period, `None` when disabled.
    pub fn period(&self) -> Option<Duration> {
        (self.decided_secs > 0).then(|| Duration::from_secs(self.decided_secs))
    }
}

/// What one erasure removed (no PII: the keyed session id and counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The conversation's keyed id.
    pub session_id: String,
    /// A session was stored and is deleted.
    pub session: bool,
    /// Evidence items deleted (card portraits, correlation records, the session index).
    pub evidence: usize,
    /// Timers that were pending and are cancelled.
    pub timers: usize,
    /// An open review case was closed.
    pub review_case: bool,
    /// Photos still held whose deletion was asked of the platform.
    pub media: usize,
    /// Records forgotten by the 1:N face index (erasure on request only).
    pub face_records: usize,
}

impl Erasure {
    /// Whether anything was found.
    pub fn found(&self) -> bool {
        self.session
            || self.evidence > 0
            || self.timers > 0
            || self.review_case
            || self.face_records > 0
    }
}

/// The evidence-store name of a conversation's index entry (keyed id → session key).
pub(crate) fn index_key(session_id: &str) -> EvidenceKey {
    EvidenceKey(format!("session-key/{session_id}"))
}

impl Engine {
    /// Erase everything stored for `key` (see the module docs), leaving an `erasure.done`
    /// tombstone in the audit trail with `reason` (a code, no PII).
    pub async fn erase(&self, key: &SessionKey, reason: &str) -> Result<Erasure, EngineError> {
        let held = self.hold(key).await?;
        let session = self.ports().sessions.load(key).await;
        let result = match session {
            Ok(s) => self.erase_held(key, s.map(|v| v.value), reason).await,
            Err(e) => Err(e.into()),
        };
        self.release(held).await;
        result
    }

    /// Erase every conversation of `user` with the business numbers `numbers` (the routing's
    /// numbers are always included) under the engine's tenant.
    pub async fn erase_user(
        &self,
        user: &UserRef,
        numbers: &[PhoneNumberId],
        reason: &str,
    ) -> Result<Vec<Erasure>, EngineError> {
        let mut all: Vec<PhoneNumberId> = self
            .routing()
            .per_number
            .keys()
            .map(|n| PhoneNumberId(n.clone()))
            .collect();
        all.extend(numbers.iter().cloned());
        all.sort();
        all.dedup();
        let mut out = Vec::with_capacity(all.len());
        for number in all {
            let key = SessionKey {
                tenant: TenantId(self.routing().tenant.clone()),
                phone_number_id: number,
                user: user.clone(),
            };
            out.push(self.erase(&key, reason).await?);
        }
        Ok(out)
    }

    async fn erase_held(
        &self,
        key: &SessionKey,
        session: Option<Session>,
        reason: &str,
    ) -> Result<Erasure, EngineError> {
        let ports = self.ports();
        let sid = self.session_id(key);
        let mut done = Erasure {
            session_id: sid.clone(),
            ..Erasure::default()
        };
        let mut evidence = vec![
            EvidenceKey::portrait(&sid),
            EvidenceKey::portrait(&key.storage_id()),
            index_key(&sid),
            // A conversation that moved to the user's new id left this behind.
            crate::identity::forward_key(&sid),
            crate::repeats::pending_key(&sid),
        ];
        if let Some(s) = &session {
            evidence.extend((1..=s.captures).map(|c| EvidenceKey::portrait_of(&sid, c)));
            evidence.extend((1..=s.captures).map(|c| crate::repeats::card_hash_key(&sid, c)));
            evidence.extend(
                (1..=s.requests).map(|r| EvidenceKey(format!("registry-correlation/{}.{r}", s.id))),
            );
            for held in &s.pending {
                // Best effort: the platform deletes media by itself after a while anyway.
                if ports.media.delete(&held.media).await.is_ok() {
                    done.media += 1;
                }
            }
        }
        for e in &evidence {
            if ports.evidence.delete(e).await? {
                done.evidence += 1;
            }
        }
        for name in TIMERS {
            if ports.timers.cancel(key, name).await? {
                done.timers += 1;
            }
        }
        done.review_case = ports.reviews.close(&sid).await?;
        if reason != RETENTION_REASON {
            done.face_records = self.forget_repeats(&sid, session.as_ref()).await?;
        }
        // Last: until the session is gone, a failed erasure can be run again and finds it.
        done.session = ports.sessions.delete(key).await?;
        self.audit(
            key,
            self.now(),
            "erasure.done",
            &format!(
                "{reason}: session {}, {} evidence, {} timers, review case {}, {} media{}",
                if done.session { "deleted" } else { "absent" },
                done.evidence,
                done.timers,
                if done.review_case { "closed" } else { "none" },
                done.media,
                // Only with a face index, so the tombstone is unchanged without one.
                match &ports.repeats {
                    Some(_) => format!(", {} face records", done.face_records),
                    None => String::new(),
                },
            ),
        );
        Ok(done)
    }

    /// Set (or, for a review decision, leave) the retention timer of a just-decided session.
    pub(crate) async fn schedule_retention(
        &self,
        key: &SessionKey,
        session: &Session,
        decision: &Decision,
    ) -> PortResult<()> {
        let Some(period) = self.config().retention.period() else {
            return Ok(());
        };
        if matches!(decision, Decision::ManualReview { .. }) {
            return Ok(());
        }
        let decided = session.decided_at.unwrap_or(session.updated_at);
        self.ports()
            .timers
            .schedule(kyc_flow_core::ports::TimerEntry {
                session: key.clone(),
                name: RETENTION_TIMER.to_owned(),
                fire_at: decided.plus(period),
                token: 0,
            })
            .await
    }

    /// The retention timer fired: erase the session if it is still decided and its retention
    /// has run out; a session decided again later gets a later timer.
    pub(crate) async fn expire_retention(&self, key: &SessionKey) -> Result<(), EngineError> {
        let Some(period) = self.config().retention.period() else {
            return Ok(());
        };
        let held = self.hold(key).await?;
        let result = async {
            let Some(s) = self.ports().sessions.load(key).await?.map(|v| v.value) else {
                return Ok(());
            };
            let decided = s.decided_at.unwrap_or(s.updated_at);
            let final_decision = s.is_terminal()
                && !matches!(s.decision, Some(Decision::ManualReview { .. }) | None);
            if !final_decision {
                return Ok(());
            }
            if decided.plus(period) > self.now() {
                // Fired early (clocks of two processes): set it again for the right time.
                let decision = s.decision.clone().expect("decided");
                return Ok(self.schedule_retention(key, &s, &decision).await?);
            }
            self.erase_held(key, Some(s), RETENTION_REASON).await?;
            Ok(())
        }
        .await;
        self.release(held).await;
        result
    }
}
