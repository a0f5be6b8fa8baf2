//! The local face matcher and liveness checker against the core's vision conformance suite,
//! on the real test photos.
#![cfg(feature = "local")]

use image::{ImageEncoder, RgbImage};
use kyc_flow_core::conformance::vision::{
    FaceSamples, LivenessSamples, run_face_matcher, run_liveness,
};
use kyc_flow_vision::assets::assets_for_test;
use kyc_flow_vision::face::{FaceConfig, FaceEngine, LocalFaceMatcher};
use kyc_flow_vision::liveness::{LivenessConfig, LocalLiveness};
use std::sync::Arc;

fn blank_jpeg() -> Vec<u8> {
    let img = RgbImage::from_pixel(640, 480, image::Rgb([120, 130, 140]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), 640, 480, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

#[tokio::test]
async fn local_engines_pass_the_vision_conformance_suite() {
    let Some(assets) = assets_for_test("local_engines_pass_the_vision_conformance_suite") else {
        return;
    };
    let read = |n: &str| std::fs::read(assets.photo(n).unwrap()).unwrap();
    let engine = Arc::new(FaceEngine::load(&assets, FaceConfig::default()).unwrap());
    let matcher = LocalFaceMatcher::new(engine.clone());
    run_face_matcher(
        &matcher,
        &FaceSamples {
            person_a: read("obama.jpg"),
            person_a_again: read("obama3.jpg"),
            person_b: read("biden.jpg"),
            no_face: blank_jpeg(),
        },
    )
    .await;
    let liveness = LocalLiveness::load(&assets, engine, LivenessConfig::default()).unwrap();
    run_liveness(
        &liveness,
        &LivenessSamples {
            live: read("obama2.jpg"),
            no_face: blank_jpeg(),
        },
    )
    .await;
}
