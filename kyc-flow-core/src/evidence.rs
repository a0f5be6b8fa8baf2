//! What the engines report about the user's photos and documents, in the core's vocabulary.
//!
//! Vision and registry adapters translate their engines' answers into these types; the
//! transition function decides from them. They are plain data so that sessions and event logs
//! serialize and replay.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ISO 3166-1 alpha-2 country code, upper case (`MX`, `CO`, `PE`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Country(pub String);

impl Country {
    /// Upper-cases the code.
    pub fn new(code: &str) -> Self {
        Self(code.trim().to_ascii_uppercase())
    }
}

/// The workspace's one document kind and card side, defined with the document knowledge.
pub use kyc_flow_documents::{DocumentKind, Side};

/// Why a photo must be taken again. Each maps to its own prompt in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetakeReason {
    Glare,
    Blur,
    TooDark,
    Cropped,
    TooSmall,
    WrongDocument,
    WrongSide,
    Unreadable,
    DataMismatch,
    Expired,
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    NotLive,
    FaceMismatch,
    UnsupportedMedia,
    /// A face and no card where a side of the document was asked for (a selfie sent early):
    /// the core keeps such a photo for the selfie step when it still needs one.
    FaceNotDocument,
    /// A video note where the head never turned as the challenge asked.
    NoHeadTurn,
    /// A video note that looks like a recording played on a screen.
    ScreenReplay,
    /// A video note longer, larger or bigger in pixels than the step accepts.
    VideoTooLong,
}

impl RetakeReason {
    /// Every reason, for catalogs and tests.
    pub const ALL: [RetakeReason; 20] = [
        Self::Glare,
        Self::Blur,
        Self::TooDark,
        Self::Cropped,
        Self::TooSmall,
        Self::WrongDocument,
        Self::WrongSide,
        Self::Unreadable,
        Self::DataMismatch,
        Self::Expired,
        Self::NoFace,
        Self::MultipleFaces,
        Self::FaceTooSmall,
        Self::NotLive,
        Self::FaceMismatch,
        Self::UnsupportedMedia,
        Self::FaceNotDocument,
        Self::NoHeadTurn,
        Self::ScreenReplay,
        Self::VideoTooLong,
    ];

    /// The snake_case name, used to build message keys (`retake.glare`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Glare => "glare",
            Self::Blur => "blur",
            Self::TooDark => "too_dark",
            Self::Cropped => "cropped",
            Self::TooSmall => "too_small",
            Self::WrongDocument => "wrong_document",
            Self::WrongSide => "wrong_side",
            Self::Unreadable => "unreadable",
            Self::DataMismatch => "data_mismatch",
            Self::Expired => "expired",
            Self::NoFace => "no_face",
            Self::MultipleFaces => "multiple_faces",
            Self::FaceTooSmall => "face_too_small",
            Self::NotLive => "not_live",
            Self::FaceMismatch => "face_mismatch",
            Self::UnsupportedMedia => "unsupported_media",
            Self::FaceNotDocument => "face_not_document",
            Self::NoHeadTurn => "no_head_turn",
            Self::ScreenReplay => "screen_replay",
            Self::VideoTooLong => "video_too_long",
        }
    }
}

/// Where a field value was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    Printed,
    Mrz,
    Barcode,
    Derived,
}

/// One extracted field (PII: adapters never log `value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedField {
    pub value: String,
    /// 0.0–1.0.
    pub confidence: f32,
    pub source: FieldSource,
}

/// Outcome of one cross-check (e.g. `curp_vs_birth_date`, `mrz_vs_printed.document_number`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossCheck {
    pub name: String,
    pub passed: bool,
    /// Human-readable explanation, free of PII.
    pub detail: String,
}

/// What a document reader extracted from one accepted side.
///
/// Field names are the document crate's canonical names: `document_number`, `surnames`,
/// `given_names`, `birth_date` (`YYYY-MM-DD`), `sex`, `expiry_date`, `curp`, `cic`,
/// `citizen_id`, `issue_date`, `nationality`, ….
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocumentData {
    pub fields: BTreeMap<String, ExtractedField>,
    pub checks: Vec<CrossCheck>,
    /// True when the reader found a face on this side; the crop is kept in the evidence store
    /// under [`EvidenceKey::portrait`], not in the session.
    pub portrait_found: bool,
}

/// The result of analysing one photo of a document side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DocumentOutcome {
    Accepted {
        data: DocumentData,
    },
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// A liveness verdict, local or from a certified vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessVerdict {
    pub live: bool,
    /// 0.0–1.0, higher is more likely live.
    pub score: f32,
    /// Engine name (`local-minifasnet`, `vendor:acme`).
    pub engine: String,
    /// True only when a certified vendor says so (e.g. iBeta level 1/2).
    pub certified: bool,
    /// Certification level as the vendor states it, e.g. `iBeta PAD Level 2`.
    pub certification: Option<String>,
    /// Named signals the engine raised beside its verdict (a screen's pixel grid, a print's
    /// edges, …), for the flow's risk policy (`crate::risk`). Empty when it raised none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<crate::risk::RiskSignal>,
}

/// A 1:1 comparison of the selfie against the card portrait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceComparison {
    /// Similarity; its scale is the engine's, `threshold` tells where a match starts.
    pub score: f32,
    pub threshold: f32,
    pub matched: bool,
    pub engine: String,
}

/// The result of analysing a selfie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SelfieOutcome {
    Analysed {
        face: FaceComparison,
        liveness: LivenessVerdict,
        /// Codes the selfie job raised beside the engines' verdicts: the 1:N repeats
        /// (`crate::face_index`). Empty when no face index is configured.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        signals: Vec<crate::risk::RiskSignal>,
    },
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// What a video-liveness step asks the user to do on camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoChallenge {
    /// Turn the head to one side, then the other: both directions must be seen.
    #[default]
    TurnLeftAndRight,
    /// Turn the head clearly to either side (for users who find two turns awkward).
    TurnEitherWay,
}

impl VideoChallenge {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TurnLeftAndRight => "turn_left_and_right",
            Self::TurnEitherWay => "turn_either_way",
        }
    }
}

/// What a video-liveness engine measured on a video note it accepts. Plain figures for the
/// audit trail and reviewers; no frame, landmark or embedding leaves the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoLiveness {
    /// Frames decoded and analysed.
    pub frames: u16,
    /// Frames with exactly one usable face.
    pub face_frames: u16,
    /// Head yaw seen, most to the user's left and right (landmark estimate, −1…1; 0 frontal).
    pub yaw_min: f32,
    pub yaw_max: f32,
    /// Lowest face similarity between a frame and the clip's reference frame.
    pub min_frame_similarity: f32,
    /// Similarity with the card portrait, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portrait_similarity: Option<f32>,
    /// Share of face frames where the screen cue (pixel grid, moiré) fired, 0–1.
    pub screen_frames: f32,
    /// Engine name (`local-video-liveness`).
    pub engine: String,
    /// Never true for the local engine: a video note never approves on its own.
    pub certified: bool,
    /// Codes raised beside the verdict (weak screen cues on an accepted clip, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<crate::risk::RiskSignal>,
}

/// The result of analysing a video note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VideoOutcome {
    /// The challenge was met by one live-looking face (the same as the portrait's, if given).
    Passed { liveness: VideoLiveness },
    /// The video must be recorded again, for `reason` (`no_face`, `face_mismatch`,
    /// `no_head_turn`, `screen_replay`, `unsupported_media`, `video_too_long`, …).
    Retake {
        reason: RetakeReason,
        detail: String,
    },
}

/// The normalized answer of a national registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryStatus {
    Valid,
    Expired,
    LostOrStolen,
    Cancelled,
    Deceased,
    NotFound,
    DataMismatch,
    /// The registry could not answer (down, timeout, unknown label). Never a negative.
    Unavailable,
}

impl RegistryStatus {
    /// Every status.
    pub const ALL: [RegistryStatus; 8] = [
        Self::Valid,
        Self::Expired,
        Self::LostOrStolen,
        Self::Cancelled,
        Self::Deceased,
        Self::NotFound,
        Self::DataMismatch,
        Self::Unavailable,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Expired => "expired",
            Self::LostOrStolen => "lost_or_stolen",
            Self::Cancelled => "cancelled",
            Self::Deceased => "deceased",
            Self::NotFound => "not_found",
            Self::DataMismatch => "data_mismatch",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Which registry to ask (`mx-renapo`, `mx-ine`, `co-registraduria`, `pe-reniec`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistryId(pub String);

/// A question to a registry: identifiers by canonical field name (`curp`, `cic`,
/// `citizen_id`, `document_number`, `issue_date`, …).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryQuery {
    pub registry: RegistryId,
    pub country: Country,
    pub fields: BTreeMap<String, String>,
    /// Correlates an asynchronous callback with the session (opaque, no PII).
    pub correlation_id: String,
}

impl std::fmt::Debug for RegistryQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryQuery")
            .field("registry", &self.registry)
            .field("country", &self.country)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

/// A registry's normalized answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryResult {
    pub registry: RegistryId,
    pub status: RegistryStatus,
    /// The registry's own label, verbatim (e.g. `Cancelada por Muerte`).
    pub raw_label: Option<String>,
    /// Names of the fields the registry confirmed.
    pub matched_fields: Vec<String>,
    /// Where the answer came from (gateway name, `local-fixtures`, …).
    pub source: String,
    pub requested_at: Timestamp,
    pub answered_at: Timestamp,
}

/// A key in the evidence store (short-lived, encrypted blobs such as the card portrait).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EvidenceKey(pub String);

impl EvidenceKey {
    /// Where the card portrait of a session's document capture is kept.
    pub fn portrait(session_storage_id: &str) -> Self {
        Self(format!("{session_storage_id}/portrait"))
    }

    /// The card portrait read from one document capture: several photos of one side can be in
    /// flight at once, so each keeps its own and the selfie is matched against the accepted
    /// one's (a replaced photo's late analysis cannot overwrite it).
    pub fn portrait_of(session_storage_id: &str, capture: u32) -> Self {
        Self(format!("{session_storage_id}/portrait/{capture}"))
    }
}
