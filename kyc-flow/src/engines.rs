//! Which engines the binary runs with: the local vision engines and the local registry
//! service, for `demo` and `simulate`.

use crate::simulate::{Engines, Simulation};
use kyc_flow_core::ports::{DocumentReader, FaceMatcher, LivenessChecker};
use kyc_flow_registry::local::{LocalRegistryConfig, LocalRegistryHandle};
use kyc_flow_registry::{CallbackKeys, HttpRegistryClient, KeyRing, Secret};
use std::sync::Arc;

/// Attach the local engines to a simulation when this build has them.
pub fn attach_local_engines(sim: Simulation) -> Simulation {
    sim
}

/// The local registry service, running in-process, and a client for it.
#[derive(Debug)]
pub struct LocalRegistry {
    pub handle: LocalRegistryHandle,
    pub client: Arc<HttpRegistryClient>,
    /// The keys its callbacks are signed with.
    pub callback_keys: CallbackKeys,
}

/// Start the local registry service on a free loopback port with the shipped fixtures.
pub async fn start_local_registry() -> anyhow::Result<LocalRegistry> {
    let key_id = "local-demo";
    let secret = Secret::new(format!("local-registry-{:x}", std::process::id()));
    let handle =
        kyc_flow_registry::local::start(LocalRegistryConfig::new(key_id, secret.clone())).await?;
    let client = Arc::new(HttpRegistryClient::new(handle.endpoints())?);
    let keys = KeyRing::single(key_id, secret).map_err(|_| anyhow::anyhow!("invalid key id"))?;
    Ok(LocalRegistry {
        handle,
        client,
        callback_keys: CallbackKeys::new(keys),
    })
}

/// The local vision engines (and, where built, the SPECIMEN sample generator).
#[derive(Clone)]
pub struct LocalVision {
    pub documents: Arc<dyn DocumentReader>,
    pub faces: Arc<dyn FaceMatcher>,
    pub liveness: Arc<dyn LivenessChecker>,
    pub samples: Option<Samples>,
}

impl std::fmt::Debug for LocalVision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVision")
            .field("documents", &self.documents.capabilities())
            .finish_non_exhaustive()
    }
}

/// Generates SPECIMEN photos for the demo page.
#[derive(Debug, Clone)]
pub struct Samples;

impl Samples {
    /// A photo of `side` (`front`, `back`, `selfie`) of the country's document.
    pub fn generate(
        &self,
        _country: &str,
        _side: &str,
        _perturbation: &str,
    ) -> Result<Vec<u8>, String> {
        Err("sample generation is not built in yet".to_owned())
    }
}

/// Load the local vision engines from the assets `scripts/setup.sh` fetched.
pub fn local_vision() -> anyhow::Result<LocalVision> {
    anyhow::bail!("local vision engines are not wired yet")
}

#[allow(dead_code)]
fn _engines_for(_v: &LocalVision, _r: &LocalRegistry) -> Option<Engines> {
    None
}
