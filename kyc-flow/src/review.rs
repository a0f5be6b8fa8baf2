//! Manual review: the sessions decided [`Decision::ManualReview`], what a reviewer sees of them,
//! and the reviewer's decision.
//!
//! Cases live in the [`ReviewQueue`] port (the session store has no listing). The engine files
//! a case in the outbox step that hands the review decision to the bank and closes it in the
//! step that hands over the final one (see `Engine::drain`), so the queue follows the sessions
//! through crashes. A reviewer's decision is an [`Event::OperatorDecision`] submitted to the
//! queue like any event: the machine records it, the decision notice reaches the bank through
//! the durable path every decision takes, and the user hears the outcome.
//!
//! What a reviewer sees is masked ([`mask`]): scores, checks, reasons and risk codes in full,
//! document fields by name with their values masked, the user as a redacted tail — never a
//! document number or a name in clear.

use crate::engine::{Engine, EngineError};
use kyc_flow_core::evidence::{CrossCheck, FieldSource, Side};
use kyc_flow_core::ports::ReviewCase;
use kyc_flow_core::session::{RegistryEvidence, SelfieEvidence, Session};
use kyc_flow_core::{Decision, DecisionReason, Event, Locale, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most cases one listing returns.
pub const MAX_PAGE: usize = 200;
/// Longest reviewer note kept (characters).
pub const MAX_NOTE: usize = 2000;

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    /// `approve` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// Why a review action was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// No open case with that id.
    #[error("no open review case with that id")]
    NotFound,
    /// The session is no longer awaiting review (decided meanwhile, or gone).
    #[error("the session is not awaiting review (it is {0})")]
    NotAwaitingReview(String),
    /// A malformed reviewer id, reason or note.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<kyc_flow_core::ports::PortError> for ReviewError {
    fn from(e: kyc_flow_core::ports::PortError) -> Self {
        Self::Engine(e.into())
    }
}

/// A page of open cases.
#[derive(Debug, Clone, Serialize)]
pub struct CasePage {
    /// Open cases in all.
    pub total: usize,
    pub offset: usize,
    pub cases: Vec<CaseView>,
}

/// One case as a reviewer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    /// The session's opaque id: the case's name in URLs.
    pub id: String,
    /// When it was sent to review (ms since the epoch).
    pub queued_at: Timestamp,
    /// The user, redacted (`phone:…78`).
    pub user: String,
    /// Why it went to review.
    pub reasons: Vec<DecisionReason>,
    /// The session's evidence; `None` when the session is gone (expired or erased) — such a
    /// case is closed as it is found.
    pub session: Option<SessionView>,
}

/// The reviewed session, masked.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub flow_id: String,
    pub flow_version: u32,
    pub started_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub locale: Locale,
    pub decision: Option<Decision>,
    /// Photos submitted per step index.
    pub attempts: Vec<u8>,
    /// The phone number a registry keyed by phone was asked with, masked (only for such
    /// flows, when the session is not keyed by the number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// When the user opted out of marketing messages (WhatsApp 131050).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opted_out_at: Option<Timestamp>,
    pub evidence: EvidenceView,
}

/// What was collected, with field values masked.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceView {
    pub documents: Vec<DocumentView>,
    pub selfie: Option<SelfieEvidence>,
    pub registry: Vec<RegistryEvidence>,
    pub flags: Vec<DecisionReason>,
    pub risk: Vec<RiskView>,
}

/// One accepted document side.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub side: Option<Side>,
    pub fields: BTreeMap<String, FieldView>,
    pub checks: Vec<CrossCheck>,
    pub portrait: bool,
}

/// One extracted field: its value masked.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub masked: String,
    pub confidence: f32,
    pub source: FieldSource,
}

/// One raised risk code.
#[derive(Debug, Clone, Serialize)]
pub struct RiskView {
    pub code: kyc_flow_core::risk::RiskCode,
    pub severity: kyc_flow_core::risk::Severity,
    pub score: Option<f32>,
    pub detail: Option<String>,
}

/// Mask a personal value for display: every letter and digit becomes `•` except the first
/// one, and the last two when the value has at least eight (enough to tell two identifiers
/// apart, never enough to rebuild one); separators stay, so a date still looks like a date.
///
/// ```
/// use kyc_flow::review::mask;
/// assert_eq!(mask("GALA900514MDFRPN07"), "G•••••••••••••••07");
/// assert_eq!(mask("ANA MARIA"), "A•• •••IA");
/// assert_eq!(mask("LUIS"), "L•••");
/// assert_eq!(mask("1990-05-14"), "1•••-••-14");
/// ```
pub fn mask(value: &str) -> String {
    let alnum = value.chars().filter(|c| c.is_alphanumeric()).count();
    let tail = if alnum >= 8 { 2 } else { 0 };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen == 1 || seen > alnum - tail {
                c
            } else {
                '•'
            }
        })
        .collect()
}

/// A reviewer id: 1–64 of `A–Z a–z 0–9 . _ @ -` (it is written to the audit trail).
pub fn valid_reviewer(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// A reason code: 1–64 of `a–z 0–9 _ . -` (audited as given, so no free text).
pub fn valid_reason(reason: &str) -> bool {
    (1..=64).contains(&reason.len())
        && reason.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

impl SessionView {
    /// The masked view of `session`.
    pub fn of(session: &Session) -> Self {
        let e = &session.evidence;
        Self {
            flow_id: session.flow_id.clone(),
            flow_version: session.flow_version,
            started_at: session.started_at,
            decided_at: session.decided_at,
            locale: session.locale,
            decision: session.decision.clone(),
            attempts: session.attempts.clone(),
            phone: session.phone.as_ref().map(|p| mask(p.raw())),
            opted_out_at: session.opted_out_at,
            evidence: EvidenceView {
                documents: e
                    .documents
                    .iter()
                    .map(|d| DocumentView {
                        side: d.side,
                        fields: d
                            .fields
                            .iter()
                            .map(|(name, f)| {
                                (
                                    name.clone(),
                                    FieldView {
                                        masked: mask(&f.value),
                                        confidence: f.confidence,
                                        source: f.source,
                                    },
                                )
                            })
                            .collect(),
                        checks: d.checks.clone(),
                        portrait: d.portrait,
                    })
                    .collect(),
                selfie: e.selfie.clone(),
                registry: e.registry.clone(),
                flags: e.flags.clone(),
                risk: e
                    .risk
                    .iter()
                    .map(|r| RiskView {
                        code: r.code,
                        severity: r.code.severity(),
                        score: r.score,
                        detail: r.detail.clone(),
                    })
                    .collect(),
            },
        }
    }
}

impl Engine {
    /// Open review cases, oldest first, with their sessions' masked evidence. At most
    /// [`MAX_PAGE`] per call. A case whose session is gone is listed once (`session: null`)
    /// and closed.
    pub async fn review_cases(&self, offset: usize, limit: usize) -> Result<CasePage, EngineError> {
        let reviews = &self.ports().reviews;
        let cases = reviews.list(offset, limit.min(MAX_PAGE)).await?;
        let total = reviews.count().await?;
        let mut out = Vec::with_capacity(cases.len());
        for case in cases {
            out.push(self.case_view(case).await?);
        }
        Ok(CasePage {
            total,
            offset,
            cases: out,
        })
    }

    /// One open case, as [`Engine::review_cases`] shows it; the view is audited with the
    /// reviewer's id (`review.viewed`).
    pub async fn review_case(
        &self,
        id: &str,
        reviewer: &str,
    ) -> Result<Option<CaseView>, EngineError> {
        let Some(case) = self.ports().reviews.get(id).await? else {
            return Ok(None);
        };
        self.audit(
            &case.key,
            self.now(),
            "review.viewed",
            &format!("by {reviewer}"),
        );
        Ok(Some(self.case_view(case).await?))
    }

    async fn case_view(&self, case: ReviewCase) -> Result<CaseView, EngineError> {
        let session = self.session(&case.key).await?;
        if session.is_none() && self.ports().reviews.close(&case.id).await? {
            self.audit(
                &case.key,
                self.now(),
                "review.closed",
                "session gone (expired or erased)",
            );
        }
        Ok(CaseView {
            user: case.key.user.redacted(),
            session: session.as_ref().map(SessionView::of),
            id: case.id,
            queued_at: case.queued_at,
            reasons: case.reasons,
        })
    }

    /// A reviewer's decision on case `id`: audited (`review.approve` / `review.reject`, with
    /// the reviewer id and reason code), then submitted as [`Event::OperatorDecision`] — the
    /// machine records it, the case is closed and the decision notice goes to the bank when a
    /// worker applies it. `note` (free text) travels in the event and is never logged.
    pub async fn review_decide(
        &self,
        id: &str,
        verdict: Verdict,
        reviewer: &str,
        reason: &str,
        note: Option<String>,
    ) -> Result<(), ReviewError> {
        if !valid_reviewer(reviewer) {
            return Err(ReviewError::Invalid(
                "reviewer must be 1-64 characters of A-Z a-z 0-9 . _ @ -".into(),
            ));
        }
        if !valid_reason(reason) {
            return Err(ReviewError::Invalid(
                "reason must be a code of 1-64 characters of a-z 0-9 _ . - (put free text in note)"
                    .into(),
            ));
        }
        if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(ReviewError::Invalid(format!(
                "note is longer than {MAX_NOTE} characters"
            )));
        }
        let case = self
            .ports()
            .reviews
            .get(id)
            .await?
            .ok_or(ReviewError::NotFound)?;
        match self.session(&case.key).await? {
            Some(s) if matches!(s.decision, Some(Decision::ManualReview { .. })) => {}
            Some(s) => {
                let now = s.decision.as_ref().map_or("undecided", Decision::as_str);
                return Err(ReviewError::NotAwaitingReview(now.to_owned()));
            }
            None => return Err(ReviewError::NotAwaitingReview("gone".to_owned())),
        }
        let decision = match verdict {
            Verdict::Approve => Decision::Approved { reasons: vec![] },
            Verdict::Reject => Decision::Rejected { reasons: vec![] },
        };
        self.audit(
            &case.key,
            self.now(),
            &format!("review.{}", verdict.as_str()),
            &format!("by {reviewer}: {reason}"),
        );
        self.submit(
            case.key,
            Event::OperatorDecision {
                decision,
                operator: reviewer.to_owned(),
                note,
            },
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A masked value keeps its length and separators, and reveals at most three of its
        /// letters and digits (and none of a short one but the first).
        #[test]
        fn masking_reveals_at_most_three_characters(value in "[A-Za-z0-9 ./-]{0,40}") {
            let masked = mask(&value);
            prop_assert_eq!(masked.chars().count(), value.chars().count());
            let revealed = masked.chars().filter(|c| c.is_alphanumeric()).count();
            let alnum = value.chars().filter(|c| c.is_alphanumeric()).count();
            prop_assert!(revealed <= 3);
            if alnum < 8 {
                prop_assert!(revealed <= 1);
            }
            for (a, b) in value.chars().zip(masked.chars()) {
                if !a.is_alphanumeric() {
                    prop_assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn reviewer_ids_and_reasons_are_closed_sets() {
        assert!(valid_reviewer("ana.lopez@bank-a"));
        assert!(!valid_reviewer(""));
        assert!(!valid_reviewer("ana lopez"));
        assert!(!valid_reviewer(&"a".repeat(65)));
        assert!(valid_reason("documents_verified"));
        assert!(!valid_reason("Name is JUAN PEREZ"));
        assert!(!valid_reason(""));
    }
}
