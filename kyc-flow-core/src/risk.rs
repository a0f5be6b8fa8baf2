//! Risk codes: every fraud signal becomes a named code with a severity, and a flow maps codes
//! to *approve / review / reject* as data, so a bank tunes per country without forking.
//!
//! Why codes and not one score: a reviewer, the decision notice and an auditor need to know
//! *which* check fired (a repeat face is handled differently from a weak liveness score), and
//! a bank's risk team owns the mapping, not the engine. The mapping is a [`RiskPolicy`]:
//! per-country defaults ([`RiskPolicy::preset`]) plus `overrides` from the flow file; it is
//! pure (no I/O, no clock) like the rest of the core.
//!
//! ```
//! use kyc_flow_core::risk::*;
//!
//! let policy = RiskPolicy::preset("mx-ine");
//! let signals = [
//!     RiskSignal::new(RiskCode::LivenessNotCertified),
//!     RiskSignal::new(RiskCode::FaceSeenUnderOtherIdentity),
//! ];
//! let d = policy.assess(&signals);
//! assert_eq!(d.action, RiskAction::Review);
//! assert_eq!(d.codes[0].code, RiskCode::FaceSeenUnderOtherIdentity); // most severe first
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How bad a code is on its own, for ordering and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// What a flow does about a code. Ordered: the strictest action among the codes wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskAction {
    Approve,
    Review,
    Reject,
}

/// A named fraud or quality signal. Serialized in snake_case (`face_seen_under_other_identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RiskCode {
    /// The liveness engine judged the selfie not live.
    LivenessFailed,
    /// The liveness verdict comes from an uncertified engine (the local one).
    LivenessNotCertified,
    /// The model-free screen cues (pixel grid / moiré, bezel) fired.
    ScreenReplaySuspected,
    /// The model-free print cues (halftone, paper edge, raised black level) fired.
    PrintSuspected,
    /// The selfie matches the card portrait only just above the threshold.
    FaceMatchBorderline,
    /// The selfie does not match the card portrait.
    FaceMismatch,
    /// The selfie's face is already enrolled under another identity (1:N search).
    FaceSeenUnderOtherIdentity,
    /// The document number / CURP was already verified with a different face.
    DocumentSeenWithOtherFace,
    /// The same image (perceptual hash) was submitted before in another session.
    ImageResubmitted,
    /// The media arrived as a forwarded message (not taken by the user for this chat).
    ForwardedMedia,
    /// The document is past its expiry date.
    DocumentExpired,
    /// The document says the user is under the flow's minimum age.
    Underage,
    /// A national registry did not confirm the document.
    RegistryNotConfirmed,
    /// The user's WhatsApp identity (phone number, business-scoped id) changed mid-onboarding:
    /// the conversation moved with it, but a number change may be a SIM swap.
    IdentityChanged,
    /// A video note of the video-liveness step showed no head turn as the challenge asked
    /// (raised by a failed attempt; the step passed later or ran out of attempts).
    VideoNoHeadTurn,
    /// A video note showed a face other than the card portrait's, or changed face mid-clip.
    VideoFaceMismatch,
    /// The screen cues (pixel grid, moiré) fired on the frames of a video note.
    VideoScreenReplay,
}

impl RiskCode {
    /// Every code, in declaration order.
    pub const ALL: [RiskCode; 17] = [
        RiskCode::LivenessFailed,
        RiskCode::LivenessNotCertified,
        RiskCode::ScreenReplaySuspected,
        RiskCode::PrintSuspected,
        RiskCode::FaceMatchBorderline,
        RiskCode::FaceMismatch,
        RiskCode::FaceSeenUnderOtherIdentity,
        RiskCode::DocumentSeenWithOtherFace,
        RiskCode::ImageResubmitted,
        RiskCode::ForwardedMedia,
        RiskCode::DocumentExpired,
        RiskCode::Underage,
        RiskCode::RegistryNotConfirmed,
        RiskCode::IdentityChanged,
        RiskCode::VideoNoHeadTurn,
        RiskCode::VideoFaceMismatch,
        RiskCode::VideoScreenReplay,
    ];

    /// The code's name as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskCode::LivenessFailed => "liveness_failed",
            RiskCode::LivenessNotCertified => "liveness_not_certified",
            RiskCode::ScreenReplaySuspected => "screen_replay_suspected",
            RiskCode::PrintSuspected => "print_suspected",
            RiskCode::FaceMatchBorderline => "face_match_borderline",
            RiskCode::FaceMismatch => "face_mismatch",
            RiskCode::FaceSeenUnderOtherIdentity => "face_seen_under_other_identity",
            RiskCode::DocumentSeenWithOtherFace => "document_seen_with_other_face",
            RiskCode::ImageResubmitted => "image_resubmitted",
            RiskCode::ForwardedMedia => "forwarded_media",
            RiskCode::DocumentExpired => "document_expired",
            RiskCode::Underage => "underage",
            RiskCode::RegistryNotConfirmed => "registry_not_confirmed",
            RiskCode::IdentityChanged => "identity_changed",
            RiskCode::VideoNoHeadTurn => "video_no_head_turn",
            RiskCode::VideoFaceMismatch => "video_face_mismatch",
            RiskCode::VideoScreenReplay => "video_screen_replay",
        }
    }

    /// Severity of the code on its own.
    pub fn severity(self) -> Severity {
        match self {
            RiskCode::LivenessNotCertified
            | RiskCode::ForwardedMedia
            | RiskCode::VideoNoHeadTurn => Severity::Low,
            RiskCode::FaceMatchBorderline
            | RiskCode::ImageResubmitted
            | RiskCode::IdentityChanged => Severity::Medium,
            RiskCode::LivenessFailed
            | RiskCode::ScreenReplaySuspected
            | RiskCode::PrintSuspected
            | RiskCode::DocumentExpired
            | RiskCode::RegistryNotConfirmed
            | RiskCode::VideoScreenReplay => Severity::High,
            RiskCode::FaceMismatch
            | RiskCode::VideoFaceMismatch
            | RiskCode::FaceSeenUnderOtherIdentity
            | RiskCode::DocumentSeenWithOtherFace
            | RiskCode::Underage => Severity::Critical,
        }
    }

    /// The action every preset starts from. Signals that can have an innocent explanation
    /// (twins for a repeat face, a user retrying in a new session for a resubmitted image, a
    /// weak local liveness model) go to a human; hard facts (expired, underage, a face that is
    /// not the card's) reject.
    pub fn default_action(self) -> RiskAction {
        match self {
            // A user who did not turn at the first try and did at the next is no suspect.
            RiskCode::ForwardedMedia | RiskCode::VideoNoHeadTurn => RiskAction::Approve,
            RiskCode::LivenessNotCertified
            | RiskCode::FaceMatchBorderline
            | RiskCode::ImageResubmitted
            | RiskCode::LivenessFailed
            | RiskCode::ScreenReplaySuspected
            | RiskCode::PrintSuspected
            | RiskCode::FaceSeenUnderOtherIdentity
            | RiskCode::DocumentSeenWithOtherFace
            | RiskCode::RegistryNotConfirmed
            | RiskCode::IdentityChanged
            // Another face in a video note, or a replay on a screen, even if a later clip
            // passed: a person looks (the local engine is uncertified and may be wrong).
            | RiskCode::VideoFaceMismatch
            | RiskCode::VideoScreenReplay => RiskAction::Review,
            RiskCode::FaceMismatch | RiskCode::DocumentExpired | RiskCode::Underage => {
                RiskAction::Reject
            }
        }
    }
}

impl std::fmt::Display for RiskCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fired code with an optional score and a short non-PII detail (never a name, number or
/// biometric value: the detail is shown to reviewers and goes into logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSignal {
    pub code: RiskCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RiskSignal {
    /// A code with no score or detail.
    pub fn new(code: RiskCode) -> Self {
        Self {
            code,
            score: None,
            detail: None,
        }
    }

    /// Attaches a score (e.g. the similarity of a repeat face).
    pub fn with_score(mut self, score: f32) -> Self {
        self.score = Some(score);
        self
    }

    /// Attaches a detail (no PII).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A code as judged by a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedRisk {
    pub code: RiskCode,
    pub severity: Severity,
    pub action: RiskAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The outcome of a policy on a set of signals: the strictest action, and every code, most
/// severe first (what the decision notice and the review page list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub action: RiskAction,
    pub codes: Vec<JudgedRisk>,
}

/// Codes → actions for one flow. `preset` gives the country's defaults; `overrides` (data in
/// the flow file) replace single entries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RiskPolicy {
    /// A country preset name (`mx-ine`, `co-cedula`, `pe-dni`); empty = the global defaults.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub preset: String,
    /// Per-code actions that replace the preset's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<RiskCode, RiskAction>,
}

impl RiskPolicy {
    /// The policy of a country preset.
    pub fn preset(name: &str) -> Self {
        Self {
            preset: name.to_owned(),
            overrides: BTreeMap::new(),
        }
    }

    fn preset_action(&self, code: RiskCode) -> RiskAction {
        match (self.preset.as_str(), code) {
            // Mexico: the CURP is a unique, registry-checked key (RENAPO), so the same CURP
            // verified with another face is an identity takeover, not an ambiguity.
            ("mx-ine", RiskCode::DocumentSeenWithOtherFace) => RiskAction::Reject,
            // Colombia and Peru: the registry step is the strongest check these flows have;
            // without its confirmation there is nothing a reviewer can add from the chat.
            ("co-cedula" | "pe-dni", RiskCode::RegistryNotConfirmed) => RiskAction::Reject,
            _ => code.default_action(),
        }
    }

    /// The action for one code.
    pub fn action(&self, code: RiskCode) -> RiskAction {
        self.overrides
            .get(&code)
            .copied()
            .unwrap_or_else(|| self.preset_action(code))
    }

    /// The strictest action among `signals` (approve when there are none) and every code
    /// judged, most severe (then strictest action) first; a code fired twice is listed once,
    /// with the first score and detail.
    pub fn assess(&self, signals: &[RiskSignal]) -> RiskAssessment {
        let mut codes: Vec<JudgedRisk> = Vec::new();
        for s in signals {
            if codes.iter().any(|c| c.code == s.code) {
                continue;
            }
            codes.push(JudgedRisk {
                code: s.code,
                severity: s.code.severity(),
                action: self.action(s.code),
                score: s.score,
                detail: s.detail.clone(),
            });
        }
        codes.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.action.cmp(&a.action))
                .then(a.code.cmp(&b.code))
        });
        RiskAssessment {
            action: codes
                .iter()
                .map(|c| c.action)
                .max()
                .unwrap_or(RiskAction::Approve),
            codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_through_serde() {
        for code in RiskCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<RiskCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn overrides_from_toml_replace_the_preset() {
        let p: RiskPolicy = toml::from_str(
            "preset = \"mx-ine\"\n[overrides]\nforwarded_media = \"review\"\nface_match_borderline = \"approve\"\n",
        )
        .unwrap();
        assert_eq!(p.action(RiskCode::ForwardedMedia), RiskAction::Review);
        assert_eq!(p.action(RiskCode::FaceMatchBorderline), RiskAction::Approve);
        assert_eq!(
            p.action(RiskCode::DocumentSeenWithOtherFace),
            RiskAction::Reject
        );
        assert_eq!(
            RiskPolicy::preset("co-cedula").action(RiskCode::DocumentSeenWithOtherFace),
            RiskAction::Review
        );
        assert_eq!(RiskPolicy::default(), toml::from_str("").unwrap());
    }

    #[test]
    fn no_signal_approves_and_the_strictest_wins() {
        let p = RiskPolicy::default();
        assert_eq!(p.assess(&[]).action, RiskAction::Approve);
        let d = p.assess(&[
            RiskSignal::new(RiskCode::ForwardedMedia),
            RiskSignal::new(RiskCode::Underage),
            RiskSignal::new(RiskCode::LivenessNotCertified),
        ]);
        assert_eq!(d.action, RiskAction::Reject);
        assert_eq!(d.codes[0].code, RiskCode::Underage);
        assert_eq!(d.codes.last().unwrap().code, RiskCode::ForwardedMedia);
    }

    proptest! {
        #[test]
        fn the_action_is_the_max_and_every_code_is_listed_once(
            picks in proptest::collection::vec(0usize..RiskCode::ALL.len(), 0..20),
            flips in proptest::collection::btree_map(0usize..RiskCode::ALL.len(), 0usize..3, 0..5),
        ) {
            let overrides = flips
                .into_iter()
                .map(|(c, a)| (RiskCode::ALL[c], [RiskAction::Approve, RiskAction::Review, RiskAction::Reject][a]))
                .collect();
            let p = RiskPolicy { preset: "mx-ine".into(), overrides };
            let signals: Vec<RiskSignal> = picks.iter().map(|&i| RiskSignal::new(RiskCode::ALL[i])).collect();
            let d = p.assess(&signals);
            let want = signals.iter().map(|s| p.action(s.code)).max().unwrap_or(RiskAction::Approve);
            prop_assert_eq!(d.action, want);
            let mut distinct: Vec<RiskCode> = signals.iter().map(|s| s.code).collect();
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(d.codes.len(), distinct.len());
            for w in d.codes.windows(2) {
                prop_assert!(w[0].severity >= w[1].severity);
            }
        }
    }
}
