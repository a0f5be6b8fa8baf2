//! The local liveness model on real photos and on simulated attacks (a printed photo held up
//! to the camera, a photo replayed on a screen). The attacks are simulations, not real
//! presentation attacks: these tests pin the behaviour, they do not certify anything.
#![cfg(feature = "local")]

use image::{ImageEncoder, Rgb, RgbImage};
use kyc_flow_core::RetakeReason;
use kyc_flow_core::ports::{LivenessChecker, LivenessOutcome};
use kyc_flow_vision::assets::{AssetPaths, assets_for_test};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, decode_photo};
use kyc_flow_vision::liveness::{LivenessConfig, LocalLiveness};
use kyc_flow_vision_testkit::liveness_sim::{printed_photo, screen_replay};
use std::sync::{Arc, OnceLock};

fn checker(assets: &AssetPaths) -> LocalLiveness {
    static CHECKER: OnceLock<LocalLiveness> = OnceLock::new();
    CHECKER
        .get_or_init(|| {
            let faces = Arc::new(FaceEngine::load(assets, FaceConfig::default()).unwrap());
            LocalLiveness::load(assets, faces, LivenessConfig::default()).unwrap()
        })
        .clone()
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn judged(outcome: LivenessOutcome) -> (bool, f32) {
    match outcome {
        LivenessOutcome::Judged(v) => {
            assert!(
                !v.certified,
                "the local model must never claim certification"
            );
            assert!(v.certification.is_none());
            assert_eq!(v.engine, "local-minifasnet");
            (v.live, v.score)
        }
        other => panic!("expected a verdict, got {other:?}"),
    }
}

/// Real photos must be judged live, and the fused score (network at 2.7× and 4.0×, spectral
/// peaks, frame edges, black level) must catch the generator's simulated attacks that the
/// network alone let through half of (4 of 8 accepted at 0.5 before the fusion). Measured now:
/// 7 of 8 caught (obama3's screen replay scores 0.58). Two of the four photos were looked at
/// while the fusion weights were set (docs/VISION.md, "Presentation-attack detection"), so
/// this pins behaviour; it is not an error-rate estimate.
#[test]
fn real_photos_score_live_and_simulated_attacks_are_caught() {
    let Some(assets) = assets_for_test("real_photos_score_live_and_simulated_attacks_are_caught")
    else {
        return;
    };
    let checker = checker(&assets);
    let (mut real, mut attacks) = (Vec::new(), Vec::new());
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let bytes = std::fs::read(assets.photo(name).unwrap()).unwrap();
        let (live, score) = judged(checker.check_bytes(&bytes).unwrap());
        eprintln!("real {name}: {score:.3}");
        assert!(live, "{name} scored {score}");
        real.push(score);
        let img = decode_photo(&bytes).unwrap();
        let (printed_live, printed) = judged(
            checker
                .check_bytes(&jpeg(&printed_photo(&img), 85))
                .unwrap(),
        );
        let (screen_live, screen) = judged(
            checker
                .check_bytes(&jpeg(&screen_replay(&img), 85))
                .unwrap(),
        );
        eprintln!("printed {name}: {printed:.3}\nscreen {name}: {screen:.3}");
        attacks.extend([printed_live, screen_live]);
    }
    let caught = attacks.iter().filter(|live| !**live).count();
    assert!(caught >= 7, "only {caught} of 8 simulated attacks caught");
}

/// A selfie stored sideways with an EXIF orientation tag (as phones do) is judged like the
/// upright photo: the face is found and scored live.
#[test]
fn exif_rotated_selfie_is_judged_upright() {
    let Some(assets) = assets_for_test("exif_rotated_selfie_is_judged_upright") else {
        return;
    };
    let checker = checker(&assets);
    let img = decode_photo(&std::fs::read(assets.photo("biden.jpg").unwrap()).unwrap()).unwrap();
    let rotated = kyc_flow_vision_testkit::pad_eval::exif_rotated_jpeg(&img, 90);
    let (live, score) = judged(checker.check_bytes(&rotated).unwrap());
    assert!(live, "scored {score}");
}

#[tokio::test]
async fn port_reports_uncertified_and_retakes_bad_input() {
    let Some(assets) = assets_for_test("port_reports_uncertified_and_retakes_bad_input") else {
        return;
    };
    let checker = checker(&assets);
    let caps = checker.capabilities();
    assert!(caps.liveness);
    assert!(!caps.liveness_certified);
    match checker.check(b"not an image").await.unwrap() {
        LivenessOutcome::Retake { reason, .. } => {
            assert_eq!(reason, RetakeReason::UnsupportedMedia)
        }
        other => panic!("{other:?}"),
    }
    let blank = RgbImage::from_pixel(640, 480, Rgb([90, 90, 90]));
    match checker.check(&jpeg(&blank, 90)).await.unwrap() {
        LivenessOutcome::Retake { reason, .. } => assert_eq!(reason, RetakeReason::NoFace),
        other => panic!("{other:?}"),
    }
    let bytes = std::fs::read(assets.photo("obama.jpg").unwrap()).unwrap();
    let (live, _) = judged(checker.check(&bytes).await.unwrap());
    assert!(live);
}
