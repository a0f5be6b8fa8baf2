//! The demo's SPECIMEN cards, read by the local engines, are known to the demo's registry
//! fixtures — otherwise a clean demo run ends in "not found".

mod process;
use kyc_flow_core::ports::DocumentImage;
use kyc_flow_core::{DocumentOutcome, Side};
use kyc_flow_testkit::simulate::SampleSource as _;
use process::assets_or_skip;

#[tokio::test]
async fn the_demo_cards_read_back_as_the_identities_the_fixtures_hold() {
    if !assets_or_skip() {
        return;
    }
    let vision = kyc_flow::local_engines::local_vision().expect("local engines load");
    let samples = kyc_flow_testkit::engines::Samples::new(vision.assets.clone());
    let fixtures = samples.demo_fixtures();
    for (country, kind) in [
        ("mx", kyc_flow_core::DocumentKind::MxIne),
        ("co", kyc_flow_core::DocumentKind::CoCedula),
        ("pe", kyc_flow_core::DocumentKind::PeDni),
    ] {
        let mut read = std::collections::BTreeMap::new();
        for (side, name) in [(Side::Front, "front"), (Side::Back, "back")] {
            let image = samples.generate(country, name, "clean").unwrap();
            let reading = vision
                .documents
                .read(DocumentImage {
                    document: kind,
                    side,
                    image: &image,
                })
                .await
                .unwrap();
            match reading.outcome {
                DocumentOutcome::Accepted { data } => {
                    read.extend(data.fields.into_iter().map(|(k, v)| (k, v.value)))
                }
                DocumentOutcome::Retake { reason, detail } => {
                    panic!(
                        "{country} {name}: clean SPECIMEN asked for a retake: {reason:?} {detail}"
                    )
                }
            }
        }
        let mine: Vec<_> = fixtures
            .iter()
            .filter(|f| f.registry.starts_with(country))
            .collect();
        assert!(!mine.is_empty(), "{country}: fixtures exist");
        for f in mine {
            for (lookup, value) in &f.lookup {
                let field = if lookup == "nuip" {
                    "document_number"
                } else {
                    lookup.as_str()
                };
                assert_eq!(
                    read.get(field),
                    Some(value),
                    "{country}: {} looks up {lookup}; the reader read {:?}",
                    f.registry,
                    read.keys().collect::<Vec<_>>()
                );
            }
        }
    }
}

#[tokio::test]
async fn the_demo_registry_knows_the_demo_cards() {
    if !assets_or_skip() {
        return;
    }
    let vision = kyc_flow::local_engines::local_vision().expect("local engines load");
    let fixtures = kyc_flow_testkit::engines::Samples::new(vision.assets.clone()).demo_fixtures();
    assert_eq!(
        fixtures.len(),
        4,
        "mx-renapo, mx-ine, co-registraduria, pe-reniec: {fixtures:?}"
    );
    let registry = kyc_flow_testkit::engines::start_local_registry(fixtures.clone())
        .await
        .unwrap();
    for f in &fixtures {
        let query = kyc_flow_core::RegistryQuery {
            registry: kyc_flow_core::RegistryId(f.registry.clone()),
            country: kyc_flow_core::Country::new(&f.registry[..2]),
            fields: f
                .lookup
                .iter()
                .map(|(k, v)| {
                    (
                        if k == "nuip" {
                            "document_number".to_owned()
                        } else {
                            k.clone()
                        },
                        v.clone(),
                    )
                })
                .collect(),
            correlation_id: format!("demo-{}", f.registry),
        };
        let reply = kyc_flow_core::ports::RegistryClient::query(registry.client.as_ref(), &query)
            .await
            .unwrap();
        match reply {
            kyc_flow_core::ports::RegistryReply::Answered(r) => {
                assert_eq!(
                    r.status,
                    kyc_flow_core::RegistryStatus::Valid,
                    "{}: {r:?}",
                    f.registry
                )
            }
            other => panic!("{}: {other:?}", f.registry),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_with_the_local_engines_reads_real_photos_end_to_end() {
    if !assets_or_skip() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scripts/local");
    let text = std::fs::read_to_string(dir.join("mx-ine-local-engines.toml")).unwrap();
    let sim = kyc_flow_testkit::simulate::Simulation::from_toml(&text, None, &dir).unwrap();
    let (sim, _registry) = kyc_flow_testkit::engines::attach_local_engines(sim)
        .await
        .unwrap();
    let outcome = sim.run().await.unwrap();
    let text = outcome.to_text();
    assert!(outcome.engines.starts_with("local"), "{text}");
    assert!(
        outcome.note.is_none(),
        "no 'scripted' note with real engines"
    );
    // The glare photo was refused by the quality gate with its own reason, the clean one read.
    assert!(
        text.contains("capture.retake: document_front: glare"),
        "{text}"
    );
    assert!(text.contains("capture.accepted: document_front"), "{text}");
    assert!(text.contains("capture.accepted: document_back"), "{text}");
    assert!(text.contains("registry.answer: mx-renapo: valid"), "{text}");
    // The local liveness engine is not certified: the preset never approves on it alone.
    assert_eq!(
        outcome.decision,
        Some(kyc_flow_core::session::Decision::ManualReview {
            reasons: vec![kyc_flow_core::session::DecisionReason::LivenessNotCertified]
        }),
        "{text}"
    );
}

fn photo(name: &str) -> String {
    kyc_flow_vision::assets::AssetPaths::discover()
        .unwrap()
        .photo(name)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn inspect_face_matches_the_same_person_and_not_another() {
    if !assets_or_skip() {
        return;
    }
    let run = |a: &str, b: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
            .args(["inspect", "face", &photo(a), &photo(b), "--liveness"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let same = run("obama2.jpg", "obama.jpg");
    assert_eq!(same["match"], true, "{same}");
    assert!(same["score"].as_f64().unwrap() > same["threshold"].as_f64().unwrap());
    assert_eq!(same["liveness"]["certified"], false);
    assert!(same["faces"].as_array().is_some());
    let other = run("obama2.jpg", "biden.jpg");
    assert_eq!(other["match"], false, "{other}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
        .args(["inspect", "face", "/nonexistent.jpg", &photo("biden.jpg")])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
