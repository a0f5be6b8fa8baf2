//! The 1:N repeat check in the engine: search the face index at the selfie job, enrol at the
//! decision, forget on erasure, purge on the timers loop ([`crate::ports::RepeatCheck`]).
//!
//! - **Search** (analyses lane, selfie job, only for a selfie the engines accepted): the probe
//!   is the selfie's embedding, the perceptual hashes of the selfie and of the session's
//!   accepted card photos (hashed at the document job, kept in the evidence store), and the
//!   identity: a keyed hash of the CURP (else the document number) the session read, keyed
//!   with the engine's session id secret under its own domain — never the number. The
//!   findings' codes join the selfie's signals, so the session's evidence, the decision notice
//!   and the flow's `[decision.risk]` policy see them like any other code.
//! - **Enrolment** at the decision: `approved` and `manual_review` sessions are enrolled (a
//!   face that reached a person or an approval is what a later repeat must be compared with);
//!   a later `rejected` (a reviewer's) forgets the record again, and rejections are never
//!   enrolled: a session rejected because its face is not the card's, or its CURP was seen
//!   with another face, pairs an identity with a face nobody verified — enrolling it would let
//!   an impostor who tried a victim's CURP make the victim's own onboarding look like a
//!   repeat. Declined, cancelled and expired sessions verified nothing.
//! - **Erasure on request** forgets every record the conversation enrolled (listed in the
//!   evidence store for the index's retention, so a request after the session itself was
//!   erased still finds them). The *retention* erasure of a decided session does not: the
//!   index keeps its records for its own retention (`[face_index] retention_secs`), which is
//!   the point of a cross-session check.

use crate::engine::{Engine, EngineError};
use kyc_flow_core::face_index::{FaceRecord, RepeatProbe};
use kyc_flow_core::ports::{PortError, PortErrorKind, PortResult};
use kyc_flow_core::risk::RiskSignal;
use kyc_flow_core::session::Session;
use kyc_flow_core::{Decision, EvidenceKey, SessionKey};
use std::time::Duration;

/// How often the timers loop purges the face index's expired records.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The perceptual hash of an accepted card photo of capture `capture`.
pub(crate) fn card_hash_key(session_id: &str, capture: u32) -> EvidenceKey {
    EvidenceKey(format!("repeat-image/{session_id}/{capture}"))
}

/// The accepted selfie's record, waiting for the decision to be enrolled.
pub(crate) fn pending_key(session_id: &str) -> EvidenceKey {
    EvidenceKey(format!("repeat-pending/{session_id}"))
}

/// The record ids a conversation enrolled (for erasure on request).
pub(crate) fn enrolled_key(session_id: &str) -> EvidenceKey {
    EvidenceKey(format!("repeat-enrolled/{session_id}"))
}

fn bad_record(e: serde_json::Error) -> PortError {
    PortError::new(PortErrorKind::Internal, format!("bad repeat record: {e}"))
}

/// The identity fields, most specific first: the CURP is a unique, registry-checked key; a
/// document number identifies one card.
const IDENTITY_FIELDS: [&str; 2] = ["curp", "document_number"];

impl Engine {
    /// At the document job: keep the accepted card photo's perceptual hash for the selfie's
    /// probe. Best effort — without it the search still runs on the face and the selfie.
    pub(crate) async fn hash_card_photo(&self, key: &SessionKey, capture: u32, photo: &[u8]) {
        let Some(repeats) = &self.ports().repeats else {
            return;
        };
        let stored = async {
            if let Some(hash) = repeats.features.image_hash(photo).await? {
                self.ports()
                    .evidence
                    .put(
                        &card_hash_key(&self.session_id(key), capture),
                        &hash.to_le_bytes(),
                        self.config().session_ttl,
                    )
                    .await?;
            }
            PortResult::Ok(())
        };
        if let Err(e) = stored.await {
            tracing::warn!(error = %e, "card photo not hashed for the repeat check");
        }
    }

    /// The keyed identity of what the session read (`None` without a CURP or number).
    fn identity_of(&self, session: &Session) -> Option<String> {
        let country = self
            .flows()
            .get(&session.flow_id, session.flow_version)
            .map(|f| f.country.0.to_ascii_lowercase())
            .unwrap_or_default();
        IDENTITY_FIELDS.iter().find_map(|name| {
            let value: String = session
                .evidence
                .field(name)?
                .value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect();
            (!value.is_empty()).then(|| self.identity_key(&format!("{country}/{name}/{value}")))
        })
    }

    /// At the selfie job, for a selfie the engines accepted: search the index and keep the
    /// record to enrol at the decision. The repeats' risk codes (empty without an index, or
    /// when the selfie shows no face the index can use). A retryable failure is an error (the
    /// job is retried); a permanent one is logged and the selfie goes on without the check.
    pub(crate) async fn search_repeats(
        &self,
        key: &SessionKey,
        session_id: &str,
        selfie: &[u8],
    ) -> PortResult<Vec<RiskSignal>> {
        match self.search_repeats_inner(key, session_id, selfie).await {
            Err(e) if !e.is_retryable() => {
                tracing::warn!(error = %e, "repeat check skipped");
                self.audit(key, self.now(), "repeat.skipped", &format!("{:?}", e.kind));
                Ok(Vec::new())
            }
            other => other,
        }
    }

    async fn search_repeats_inner(
        &self,
        key: &SessionKey,
        session_id: &str,
        selfie: &[u8],
    ) -> PortResult<Vec<RiskSignal>> {
        let Some(repeats) = &self.ports().repeats else {
            return Ok(Vec::new());
        };
        let started = std::time::Instant::now();
        let features = repeats.features.selfie(selfie).await;
        crate::metrics::port("repeat_features", started.elapsed(), &features);
        let Some(features) = features? else {
            return Ok(Vec::new());
        };
        let ports = self.ports();
        let sid = self.session_id(key);
        let session = ports.sessions.load(key).await?.map(|v| v.value);
        let mut image_hashes = vec![features.image_hash];
        let mut identity = None;
        if let Some(s) = &session {
            identity = self.identity_of(s);
            for a in &s.accepted {
                if let Some(b) = ports.evidence.get(&card_hash_key(&sid, a.capture)).await?
                    && let Ok(bytes) = <[u8; 8]>::try_from(b.as_slice())
                {
                    image_hashes.push(u64::from_le_bytes(bytes));
                }
            }
        }
        let now = self.now();
        let probe = RepeatProbe {
            session_id: session_id.to_owned(),
            identity,
            embedding: features.embedding,
            image_hashes,
            now,
        };
        let started = std::time::Instant::now();
        let findings = repeats.index.search(&probe).await;
        crate::metrics::port("face_index", started.elapsed(), &findings);
        let findings = findings?;
        let record = FaceRecord {
            session_id: probe.session_id,
            identity: probe.identity,
            embedding: probe.embedding,
            image_hashes: probe.image_hashes,
            enrolled_at: now,
        };
        ports
            .evidence
            .put(
                &pending_key(&sid),
                &serde_json::to_vec(&record).map_err(bad_record)?,
                self.config().session_ttl,
            )
            .await?;
        self.audit(
            key,
            now,
            "repeat.searched",
            &format!(
                "{} face hit(s) under another identity, {} other face(s) for this identity, \
                 {} image hit(s)",
                findings.face_other_identity.len(),
                findings.identity_other_face.len(),
                findings.image_resubmitted.len()
            ),
        );
        Ok(findings.risk_signals())
    }

    /// At the decision: enrol, or forget, the session's record (see the module docs).
    pub(crate) async fn settle_repeats(
        &self,
        key: &SessionKey,
        session: &Session,
        decision: &Decision,
    ) -> Result<(), EngineError> {
        let Some(repeats) = &self.ports().repeats else {
            return Ok(());
        };
        let ports = self.ports();
        let sid = self.session_id(key);
        let pending = pending_key(&sid);
        match decision {
            Decision::Approved { .. } | Decision::ManualReview { .. } => {
                let Some(raw) = ports.evidence.get(&pending).await? else {
                    return Ok(());
                };
                let mut record: FaceRecord = serde_json::from_slice(&raw).map_err(bad_record)?;
                // A record left by an earlier onboarding of this conversation is not this
                // session's face.
                if record.session_id == session.id {
                    record.enrolled_at = session.decided_at.unwrap_or(session.updated_at);
                    match repeats.index.enroll(record).await {
                        Ok(()) => {
                            self.remember_enrolled(&sid, &session.id).await?;
                            self.audit(key, self.now(), "repeat.enrolled", decision.as_str());
                        }
                        Err(e) if e.is_retryable() => return Err(e.into()),
                        // A full index or a record it refuses: the decision must not wait.
                        Err(e) => {
                            tracing::warn!(error = %e, "face not enrolled");
                            self.audit(key, self.now(), "repeat.not_enrolled", &e.to_string());
                        }
                    }
                }
            }
            _ => {
                if repeats.index.forget(&session.id).await? {
                    self.audit(key, self.now(), "repeat.forgotten", decision.as_str());
                }
            }
        }
        if !matches!(decision, Decision::ManualReview { .. }) {
            ports.evidence.delete(&pending).await?;
        }
        Ok(())
    }

    async fn remember_enrolled(&self, sid: &str, record: &str) -> PortResult<()> {
        let Some(repeats) = &self.ports().repeats else {
            return Ok(());
        };
        let evidence = &self.ports().evidence;
        let name = enrolled_key(sid);
        let mut ids: Vec<String> = match evidence.get(&name).await? {
            Some(raw) => serde_json::from_slice(&raw).map_err(bad_record)?,
            None => Vec::new(),
        };
        if !ids.iter().any(|i| i == record) {
            ids.push(record.to_owned());
        }
        evidence
            .put(
                &name,
                &serde_json::to_vec(&ids).map_err(bad_record)?,
                repeats.index.retention(),
            )
            .await
    }

    /// Erasure on request: forget every record the conversation enrolled, and the session's
    /// own. Returns how many the index held.
    pub(crate) async fn forget_repeats(
        &self,
        sid: &str,
        session: Option<&Session>,
    ) -> PortResult<usize> {
        let Some(repeats) = &self.ports().repeats else {
            return Ok(0);
        };
        let evidence = &self.ports().evidence;
        let name = enrolled_key(sid);
        let mut ids: Vec<String> = match evidence.get(&name).await? {
            Some(raw) => serde_json::from_slice(&raw).map_err(bad_record)?,
            None => Vec::new(),
        };
        ids.extend(session.map(|s| s.id.clone()));
        ids.sort();
        ids.dedup();
        let mut forgotten = 0;
        for id in &ids {
            if repeats.index.forget(id).await? {
                forgotten += 1;
            }
        }
        evidence.delete(&name).await?;
        Ok(forgotten)
    }

    /// Delete the face index's expired records (the timers loop calls this every
    /// [`PURGE_EVERY`]); how many.
    pub async fn purge_expired_faces(&self) -> PortResult<usize> {
        let Some(repeats) = &self.ports().repeats else {
            return Ok(0);
        };
        let n = repeats.index.purge_expired(self.now()).await?;
        if n > 0 {
            tracing::info!(records = n, "face index: expired records purged");
        }
        Ok(n)
    }
}
