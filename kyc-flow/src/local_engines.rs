//! The local vision engines (face match, passive liveness, document reader, the 1:N index's
//! embeddings and image hashes) loaded from the
//! assets `scripts/setup.sh` fetched — what `demo`, `simulate` and a `serve` without vision
//! vendors run with.

use kyc_flow_core::face_index::RepeatFeatures;
use kyc_flow_core::ports::{DocumentReader, FaceMatcher, LivenessChecker};
use kyc_flow_vision::assets::{AssetError, AssetPaths};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, FaceError, LocalFaceMatcher};
use kyc_flow_vision::liveness::{LivenessConfig, LocalLiveness};
use kyc_flow_vision::reader::{LocalDocumentReader, ReaderError};
use kyc_flow_vision::repeat::LocalRepeatFeatures;
use std::sync::Arc;

/// Why the local engines could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalEnginesError {
    #[error("vision assets: {0}")]
    Assets(#[from] AssetError),
    #[error("face engines: {0}")]
    Face(#[from] FaceError),
    #[error("document reader: {0}")]
    Reader(#[from] ReaderError),
}

/// The local vision engines behind the core's ports.
#[derive(Clone)]
pub struct LocalVision {
    pub documents: Arc<dyn DocumentReader>,
    pub faces: Arc<dyn FaceMatcher>,
    pub liveness: Arc<dyn LivenessChecker>,
    /// The video-note engine (feature `vision-video`), sharing the face models.
    #[cfg(feature = "vision-video")]
    pub video: Arc<dyn kyc_flow_core::ports::VideoLivenessChecker>,
    /// Embeddings and perceptual hashes for the 1:N face index, on the same face engine
    /// ([`crate::ports::PortsBuilder::repeats`]).
    pub repeat_features: Arc<dyn RepeatFeatures>,
    /// Where the models were found.
    pub assets: AssetPaths,
}

impl std::fmt::Debug for LocalVision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVision")
            .field("documents", &self.documents.capabilities())
            .finish_non_exhaustive()
    }
}

/// Load the local vision engines from the assets directory (`KYC_FLOW_ASSETS`, else the
/// first `.assets` found walking up from the working directory).
pub fn local_vision() -> Result<LocalVision, LocalEnginesError> {
    let assets = AssetPaths::discover()?;
    local_vision_from(assets)
}

/// Load the local vision engines from a given assets directory.
pub fn local_vision_from(assets: AssetPaths) -> Result<LocalVision, LocalEnginesError> {
    let faces = Arc::new(FaceEngine::load(&assets, FaceConfig::default())?);
    let liveness = LocalLiveness::load(&assets, faces.clone(), LivenessConfig::default())?;
    let reader = LocalDocumentReader::load(&assets)?;
    Ok(LocalVision {
        documents: Arc::new(reader),
        repeat_features: Arc::new(LocalRepeatFeatures::new(faces.clone())),
        #[cfg(feature = "vision-video")]
        video: Arc::new(kyc_flow_vision::video::LocalVideoLiveness::new(
            faces.clone(),
        )),
        faces: Arc::new(LocalFaceMatcher::new(faces)),
        liveness: Arc::new(liveness),
        assets,
    })
}
