//! From a selfie (and the session's other images) to a 1:N [`RepeatProbe`] for the
//! [`kyc_flow_core::face_index::FaceIndex`] port, with the local engine's embedding and the
//! images' perceptual hashes. The engine calls this at the selfie step, searches, and enrols
//! the same data as a [`FaceRecord`] once the session is approved (docs/VISION.md, "Repeat
//! faces, documents and images").

use crate::face::{FaceEngine, FaceError, FaceFinding, decode_photo};
use crate::phash::phash;
use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{FaceRecord, RepeatProbe};

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
