//! Every script in `examples/scripts/` through `kyc-flow simulate`'s runner, transcripts
//! reviewed as snapshots: what the user sees, what the engine did, and the decision.

use kyc_flow_testkit::simulate::Simulation;
use std::path::Path;

#[tokio::test]
async fn example_scripts_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scripts");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/scripts exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 8, "the eight scenarios are there");
    for path in scripts {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let outcome = Simulation::from_toml(&text, None, &dir)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .run()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            outcome.decision.is_some(),
            "{name}: every scenario reaches a decision"
        );
        insta::assert_snapshot!(name, outcome.to_text());
    }
}

#[tokio::test]
async fn a_script_with_an_unknown_field_is_refused_with_the_reason() {
    let err = Simulation::from_toml(
        "flow = \"mx-ine\"\n[[turn]]\ntxet = \"hola\"\n",
        None,
        Path::new("."),
    )
    .expect_err("typo refused");
    assert!(err.to_string().contains("txet"), "{err}");
}

#[tokio::test]
async fn a_script_naming_an_unknown_flow_is_refused() {
    let err = Simulation::from_toml("flow = \"zz-nothing\"\n", None, Path::new("."))
        .expect_err("refused");
    assert!(err.to_string().contains("zz-nothing"), "{err}");
}
