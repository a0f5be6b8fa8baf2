//! The OCR engine on a synthetic card from the test kit (moved from `ocr.rs` unit tests).
#![cfg(feature = "local")]

use kyc_flow_vision::ocr::OcrEngine;
use kyc_flow_vision::onnx::ModelOptions;

#[test]
fn reads_a_synthetic_card() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("ocr::reads_a_synthetic_card")
    else {
        return;
    };
    let engine = OcrEngine::load(&assets, &ModelOptions::default()).unwrap();
    assert!(engine.dictionary_len() > 10_000);
    let card = kyc_flow_vision_testkit::synth::render_upright(
        kyc_flow_vision_testkit::synth::SampleKind::PeDni,
        kyc_flow_core::evidence::Side::Back,
        3,
    )
    .unwrap();
    let lines = engine.read(&card).unwrap();
    let all: String = lines
        .iter()
        .map(|l| l.text.replace(' ', ""))
        .collect::<Vec<_>>()
        .join("\n");
    // The 18k-class dictionary may return a Greek capital for a Latin one; the reader maps
    // those back before parsing, and so does this check.
    assert!(
        kyc_flow_vision::reader::mrz_chars(&all).contains("I<PER"),
        "MRZ line 1 not read"
    );
    assert!(all.contains("SPECIMEN"), "specimen mark not read");
}
