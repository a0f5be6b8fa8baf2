//! The local engines for `demo` and `simulate`: the local vision engines, the local registry
//! service with the demo's fixtures, and the SPECIMEN photos of the demo page.

use crate::simulate::{SampleSource, Simulation};
use kyc_flow::local_engines::local_vision;
use kyc_flow_core::Side;
use kyc_flow_registry::local::fixtures::FixtureIdentity;
use kyc_flow_registry::local::{LocalRegistryConfig, LocalRegistryHandle};
use kyc_flow_registry::{CallbackKeys, HttpRegistryClient, KeyRing, Secret};
use kyc_flow_vision::assets::AssetPaths;
use kyc_flow_vision_testkit::synth::{self, Perturbation, SampleKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Attach the local engines (vision, the local registry service with the demo fixtures) to a
/// simulation whose script asks for them. The registry handle must outlive the run.
pub async fn attach_local_engines(
    sim: Simulation,
) -> Result<(Simulation, Option<LocalRegistry>), LocalKitError> {
    if !sim.wants_local_engines() {
        return Ok((sim, None));
    }
    let vision = local_vision()?;
    let samples = Samples::new(vision.assets.clone());
    let extra = samples.demo_fixtures();
    let registry = start_local_registry(extra).await?;
    let engines = crate::simulate::Engines {
        name: "local (vision: local ONNX engines; registry: local registry service)".to_owned(),
        documents: vision.documents,
        faces: vision.faces,
        liveness: vision.liveness,
        registry: registry.client.clone(),
    };
    let sim = sim.with_engines(engines).with_samples(Arc::new(samples));
    Ok((sim, Some(registry)))
}

/// Why the local engines or the local registry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalKitError {
    #[error(transparent)]
    Vision(#[from] kyc_flow::local_engines::LocalEnginesError),
    #[error("local registry service: {0}")]
    Registry(#[from] kyc_flow_registry::local::LocalRegistryError),
    #[error("registry client: {0}")]
    Client(#[from] kyc_flow_registry::RegistryError),
    #[error("invalid key id for the local registry")]
    KeyId,
}

/// The local registry service, running in-process, and a client for it.
#[derive(Debug)]
pub struct LocalRegistry {
    pub handle: LocalRegistryHandle,
    pub client: Arc<HttpRegistryClient>,
    /// The keys its callbacks are signed with.
    pub callback_keys: CallbackKeys,
}

/// Start the local registry service on a free loopback port with the shipped fixtures plus
/// `extra` identities.
pub async fn start_local_registry(
    extra: Vec<FixtureIdentity>,
) -> Result<LocalRegistry, LocalKitError> {
    let key_id = "local-demo";
    let secret = Secret::new(format!("local-registry-{:x}", std::process::id()));
    let mut config = LocalRegistryConfig::new(key_id, secret.clone());
    config.fixtures.identities.extend(extra);
    let handle = kyc_flow_registry::local::start(config).await?;
    let client = Arc::new(HttpRegistryClient::new(handle.endpoints())?);
    let keys = KeyRing::single(key_id, secret).map_err(|_| LocalKitError::KeyId)?;
    Ok(LocalRegistry {
        handle,
        client,
        callback_keys: CallbackKeys::new(keys),
    })
}

/// Generates SPECIMEN photos for the demo page: synthetic cards (seeded so the demo's
/// registry fixtures know their identities) and public-domain selfies.
#[derive(Debug, Clone)]
pub struct Samples {
    assets: AssetPaths,
}

/// The seed of the demo's cards: its portrait is the first test photo's face, so the
/// "same person" selfie (another photo of that person) matches it.
pub const DEMO_SEED: u64 = 3;

impl SampleSource for Samples {
    /// A photo of `side` (`front`, `back`; `selfie` = the card holder, `other` = someone else)
    /// of the country's (`mx`, `co`, `pe`) document, with a perturbation (`clean`, `glare`, …).
    fn generate(&self, country: &str, side: &str, perturbation: &str) -> Result<Vec<u8>, String> {
        let photo = |name: &str| {
            self.assets
                .photo(name)
                .map_err(|e| e.to_string())
                .and_then(|p| std::fs::read(p).map_err(|e| e.to_string()))
        };
        let side = match side {
            "front" => Side::Front,
            "back" => Side::Back,
            "selfie" => return photo("obama2.jpg"),
            "other" => return photo("biden.jpg"),
            other => return Err(format!("unknown side `{other}`")),
        };
        let kind =
            SampleKind::parse(country).ok_or_else(|| format!("unknown country `{country}`"))?;
        let perturbation = Perturbation::parse(if perturbation.is_empty() {
            "clean"
        } else {
            perturbation
        })
        .ok_or_else(|| format!("unknown perturbation `{perturbation}`"))?;
        synth::generate(kind, side, DEMO_SEED, perturbation)
            .map(|s| s.image)
            .map_err(|e| e.to_string())
    }
}

impl Samples {
    /// A generator whose selfies come from the test photos in `assets`.
    pub fn new(assets: AssetPaths) -> Self {
        Self { assets }
    }

    /// Registry fixtures that know the demo's cards as current documents, so a clean demo
    /// run can be approved (every other fixture identity still answers as shipped).
    pub fn demo_fixtures(&self) -> Vec<FixtureIdentity> {
        let mut out = Vec::new();
        for kind in SampleKind::ALL {
            let mut truth = BTreeMap::new();
            for side in [Side::Front, Side::Back] {
                if let Ok(s) = synth::generate(kind, side, DEMO_SEED, Perturbation::Clean) {
                    truth.extend(s.truth);
                }
            }
            // (registry, field on the card, the registry's lookup key, its "current" label)
            let checks: &[(&str, &str, &str, &str)] = match kind {
                SampleKind::MxIne => &[
                    ("mx-renapo", "curp", "curp", "AN"),
                    ("mx-ine", "cic", "cic", "Coincide"),
                ],
                SampleKind::CoCedula => {
                    &[("co-registraduria", "document_number", "nuip", "Vigente")]
                }
                SampleKind::PeDni => {
                    &[("pe-reniec", "document_number", "document_number", "VIGENTE")]
                }
            };
            for (registry, field, lookup, label) in checks {
                let Some(value) = truth.get(*field) else {
                    continue;
                };
                out.push(FixtureIdentity {
                    name: format!("{registry}: the demo's SPECIMEN card"),
                    registry: (*registry).to_owned(),
                    lookup: BTreeMap::from([((*lookup).to_owned(), value.clone())]),
                    check: BTreeMap::new(),
                    found: true,
                    label: Some((*label).to_owned()),
                    attributes: BTreeMap::new(),
                    answer: Default::default(),
                    delay_ms: 1500,
                    fail_status: None,
                });
            }
        }
        out
    }
}
