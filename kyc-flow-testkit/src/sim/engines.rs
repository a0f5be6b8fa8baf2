//! Engines that answer from a script instead of a model or a registry.

use async_trait::async_trait;
use kyc_flow_core::ports::{
    DocumentImage, DocumentReader, DocumentReading, FaceMatchOutcome, FaceMatcher, LivenessChecker,
    LivenessOutcome, PortError, PortErrorKind, PortResult, RegistryClient, RegistryReply,
    VisionCapabilities,
};
use kyc_flow_core::{
    DocumentKind, DocumentOutcome, RegistryId, RegistryQuery, RegistryResult, RegistryStatus,
    RetakeReason, Side,
};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

fn all_documents() -> Vec<(DocumentKind, Side)> {
    DocumentKind::ALL
        .into_iter()
        .flat_map(|k| [(k, Side::Front), (k, Side::Back)])
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers document reads by the exact image bytes it was told about.
#[derive(Debug, Default)]
pub struct ScriptedDocumentReader {
    answers: Mutex<HashMap<Vec<u8>, DocumentReading>>,
    /// What the image shows, when told: read as another side it is `wrong_side`.
    shows: Mutex<HashMap<Vec<u8>, Shows>>,
}

/// What a scripted image shows, so that reading it for another step answers as a real reader
/// would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    Side(Side),
    Face,
}

impl ScriptedDocumentReader {
    /// When these bytes are read, answer `reading` (whatever side was asked for).
    pub fn answer(&self, image: Vec<u8>, reading: DocumentReading) {
        lock(&self.answers).insert(image, reading);
    }

    /// These bytes show `side` of the card: read as that side they answer `reading`, read as
    /// the other side they are a `wrong_side` retake.
    pub fn answer_side(&self, image: Vec<u8>, side: Side, reading: DocumentReading) {
        lock(&self.shows).insert(image.clone(), Shows::Side(side));
        self.answer(image, reading);
    }

    /// These bytes show a face and no card (a selfie): read as a document they are a
    /// `face_not_document` retake.
    pub fn face(&self, image: Vec<u8>) {
        lock(&self.shows).insert(image, Shows::Face);
    }
}

#[async_trait]
impl DocumentReader for ScriptedDocumentReader {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            documents: all_documents(),
            ..VisionCapabilities::default()
        }
    }
    async fn read(&self, image: DocumentImage<'_>) -> PortResult<DocumentReading> {
        let retake = |reason: RetakeReason, detail: &str| DocumentReading {
            outcome: DocumentOutcome::Retake {
                reason,
                detail: detail.to_owned(),
            },
            portrait: None,
        };
        match lock(&self.shows).get(image.image) {
            Some(Shows::Face) => {
                return Ok(retake(
                    RetakeReason::FaceNotDocument,
                    "a face and no identity document",
                ));
            }
            Some(Shows::Side(s)) if *s != image.side => {
                return Ok(retake(
                    RetakeReason::WrongSide,
                    &format!("expected the {} side", image.side.as_str()),
                ));
            }
            _ => {}
        }
        Ok(lock(&self.answers)
            .get(image.image)
            .cloned()
            .unwrap_or(DocumentReading {
                outcome: DocumentOutcome::Retake {
                    reason: RetakeReason::Unreadable,
                    detail: "the script says nothing about this image".to_owned(),
                },
                portrait: None,
            }))
    }
}

/// Answers face comparisons by the selfie's bytes.
#[derive(Debug, Default)]
pub struct ScriptedFaceMatcher {
    answers: Mutex<HashMap<Vec<u8>, FaceMatchOutcome>>,
}

impl ScriptedFaceMatcher {
    /// When this selfie is compared, answer `outcome`.
    pub fn answer(&self, selfie: Vec<u8>, outcome: FaceMatchOutcome) {
        lock(&self.answers).insert(selfie, outcome);
    }
}

#[async_trait]
impl FaceMatcher for ScriptedFaceMatcher {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            face_match: true,
            ..VisionCapabilities::default()
        }
    }
    async fn compare(&self, selfie: &[u8], _portrait: &[u8]) -> PortResult<FaceMatchOutcome> {
        Ok(lock(&self.answers)
            .get(selfie)
            .cloned()
            .unwrap_or(FaceMatchOutcome::Retake {
                reason: RetakeReason::NoFace,
                detail: "the script says nothing about this selfie".to_owned(),
            }))
    }
}

/// Answers liveness checks by the selfie's bytes.
#[derive(Debug, Default)]
pub struct ScriptedLiveness {
    answers: Mutex<HashMap<Vec<u8>, LivenessOutcome>>,
}

impl ScriptedLiveness {
    /// When this selfie is checked, answer `outcome`.
    pub fn answer(&self, selfie: Vec<u8>, outcome: LivenessOutcome) {
        lock(&self.answers).insert(selfie, outcome);
    }
}

#[async_trait]
impl LivenessChecker for ScriptedLiveness {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            liveness: true,
            ..VisionCapabilities::default()
        }
    }
    async fn check(&self, selfie: &[u8]) -> PortResult<LivenessOutcome> {
        Ok(lock(&self.answers)
            .get(selfie)
            .cloned()
            .unwrap_or(LivenessOutcome::Retake {
                reason: RetakeReason::NoFace,
                detail: "the script says nothing about this selfie".to_owned(),
            }))
    }
}

/// What a scripted registry does on one query.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedRegistryAnswer {
    Status(RegistryStatus, Option<String>),
    Fail(PortErrorKind),
}

/// Answers registry queries from a queue of scripted answers per registry (the last answer
/// repeats); `valid` when nothing is scripted.
#[derive(Debug, Default)]
pub struct ScriptedRegistry {
    answers: Mutex<HashMap<RegistryId, VecDeque<ScriptedRegistryAnswer>>>,
    known: Mutex<Vec<RegistryId>>,
}

impl ScriptedRegistry {
    /// These registries are reachable (answers `valid` unless scripted).
    pub fn with_registries(ids: impl IntoIterator<Item = RegistryId>) -> Self {
        let s = Self::default();
        lock(&s.known).extend(ids);
        s
    }
    /// Queue an answer for `registry`.
    pub fn push(&self, registry: RegistryId, answer: ScriptedRegistryAnswer) {
        {
            let mut known = lock(&self.known);
            if !known.contains(&registry) {
                known.push(registry.clone());
            }
        }
        lock(&self.answers)
            .entry(registry)
            .or_default()
            .push_back(answer);
    }
}

#[async_trait]
impl RegistryClient for ScriptedRegistry {
    fn registries(&self) -> Vec<RegistryId> {
        lock(&self.known).clone()
    }
    async fn query(&self, query: &RegistryQuery) -> PortResult<RegistryReply> {
        let answer = {
            let mut answers = lock(&self.answers);
            match answers.get_mut(&query.registry) {
                Some(q) if q.len() > 1 => q.pop_front(),
                Some(q) => q.front().cloned(),
                None => None,
            }
        };
        match answer.unwrap_or(ScriptedRegistryAnswer::Status(RegistryStatus::Valid, None)) {
            ScriptedRegistryAnswer::Fail(kind) => {
                Err(PortError::new(kind, "scripted registry failure"))
            }
            ScriptedRegistryAnswer::Status(status, raw_label) => {
                Ok(RegistryReply::Answered(RegistryResult {
                    registry: query.registry.clone(),
                    status,
                    raw_label,
                    matched_fields: query.fields.keys().cloned().collect(),
                    source: "scripted".to_owned(),
                    requested_at: kyc_flow_core::Timestamp(0),
                    answered_at: kyc_flow_core::Timestamp(0),
                }))
            }
        }
    }
}
