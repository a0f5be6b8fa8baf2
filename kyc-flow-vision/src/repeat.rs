//! What the 1:N face index compares, from the local engine: [`LocalRepeatFeatures`] (the
//! [`RepeatFeatures`] port the engine calls at the document and selfie jobs — the selfie's
//! embedding, every photo's perceptual hash), and [`selfie_probe`] / [`record_from`], the same
//! in one call for tools and tests (docs/VISION.md, "Repeat faces, documents and images").

use crate::face::{FaceEngine, FaceError, FaceFinding, decode_photo};
use crate::phash::phash;
use async_trait::async_trait;
use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{FaceRecord, RepeatFeatures, RepeatProbe, SelfieFeatures};
use kyc_flow_core::ports::PortResult;
use std::sync::Arc;

/// The [`RepeatFeatures`] port on the local face engine (the one the local face matcher and
/// liveness share): detection and embedding for the selfie, a DCT pHash for every photo. Runs
/// on the blocking pool, like the other local engines.
#[derive(Clone)]
pub struct LocalRepeatFeatures {
    engine: Arc<FaceEngine>,
}

impl std::fmt::Debug for LocalRepeatFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRepeatFeatures")
            .finish_non_exhaustive()
    }
}

impl LocalRepeatFeatures {
    /// On a loaded face engine.
    pub fn new(engine: Arc<FaceEngine>) -> Self {
        Self { engine }
    }
}

fn task_error(e: tokio::task::JoinError) -> FaceError {
    FaceError::Task(e.to_string())
}

#[async_trait]
impl RepeatFeatures for LocalRepeatFeatures {
    async fn selfie(&self, image: &[u8]) -> PortResult<Option<SelfieFeatures>> {
        let engine = Arc::clone(&self.engine);
        let bytes = image.to_vec();
        let found = tokio::task::spawn_blocking(move || -> Result<_, FaceError> {
            // `analyse` remembers the 1:1 match's finding for these bytes: no second
            // detection and embedding of the same selfie.
            let FaceFinding::Face(face) = engine.analyse(&bytes)? else {
                return Ok(None);
            };
            let Some(img) = decode_photo(&bytes) else {
                return Ok(None);
            };
            Ok(Some(SelfieFeatures {
                embedding: face.embedding.as_slice().to_vec(),
                image_hash: phash(&img),
            }))
        })
        .await
        .map_err(task_error)??;
        Ok(found)
    }

    async fn image_hash(&self, image: &[u8]) -> PortResult<Option<u64>> {
        let bytes = image.to_vec();
        let hash = tokio::task::spawn_blocking(move || decode_photo(&bytes).map(|i| phash(&i)))
            .await
            .map_err(task_error)?;
        Ok(hash)
    }
}

/// The probe for `selfie`; `None` when it has no usable face (the selfie step asks for a
/// retake anyway). `other_images` (card sides) contribute their hashes only; ones that do not
/// decode are skipped. `identity` is the caller's keyed hash of the document number / CURP.
pub fn selfie_probe(
    engine: &FaceEngine,
    selfie: &[u8],
    other_images: &[&[u8]],
    session_id: &str,
    identity: Option<String>,
    now: Timestamp,
) -> Result<Option<RepeatProbe>, FaceError> {
    let Some(img) = decode_photo(selfie) else {
        return Ok(None);
    };
    let FaceFinding::Face(face) = engine.analyse_image(&img)? else {
        return Ok(None);
    };
    let mut image_hashes = vec![phash(&img)];
    image_hashes.extend(
        other_images
            .iter()
            .filter_map(|b| decode_photo(b))
            .map(|i| phash(&i)),
    );
    Ok(Some(RepeatProbe {
        session_id: session_id.to_owned(),
        identity,
        embedding: face.embedding.as_slice().to_vec(),
        image_hashes,
        now,
    }))
}

/// The record to enrol for an approved session, from its probe.
pub fn record_from(probe: &RepeatProbe) -> FaceRecord {
    FaceRecord {
        session_id: probe.session_id.clone(),
        identity: probe.identity.clone(),
        embedding: probe.embedding.clone(),
        image_hashes: probe.image_hashes.clone(),
        enrolled_at: probe.now,
    }
}
