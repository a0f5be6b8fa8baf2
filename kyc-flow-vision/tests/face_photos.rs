//! The local face engine on real photos (public-domain portraits from the `face_recognition`
//! sdist): same person matches, different people do not, bad inputs are retakes.
#![cfg(feature = "local")]

use image::{ImageEncoder, RgbImage, imageops};
use kyc_flow_core::RetakeReason;
use kyc_flow_core::ports::{FaceMatchOutcome, FaceMatcher};
use kyc_flow_vision::assets::{AssetPaths, assets_for_test};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, FaceFinding, LocalFaceMatcher, decode_photo};
use std::sync::{Arc, OnceLock};

fn engine(assets: &AssetPaths) -> Arc<FaceEngine> {
    static ENGINE: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(FaceEngine::load(assets, FaceConfig::default()).unwrap()))
        .clone()
}

fn photo(assets: &AssetPaths, name: &str) -> Vec<u8> {
    std::fs::read(assets.photo(name).unwrap()).unwrap()
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

/// The photo shrunk so its face is about `face_px` wide, re-encoded as JPEG q70: roughly a
/// portrait printed on an ID card and photographed.
fn card_portrait(engine: &FaceEngine, bytes: &[u8], face_px: f32) -> Vec<u8> {
    let img = decode_photo(bytes).unwrap();
    let FaceFinding::Face(face) = engine.analyse_image(&img).unwrap() else {
        panic!("no face in source photo");
    };
    let f = (face_px / face.bbox.width()).min(1.0);
    let small = imageops::resize(
        &img,
        ((img.width() as f32 * f) as u32).max(1),
        ((img.height() as f32 * f) as u32).max(1),
        imageops::FilterType::Triangle,
    );
    jpeg(&small, 70)
}

fn score(engine: &FaceEngine, a: &[u8], b: &[u8]) -> f32 {
    let report = engine.compare(a, b).unwrap();
    report
        .score
        .unwrap_or_else(|| panic!("no comparison: {:?}", report.outcome()))
}

#[test]
fn same_person_matches_and_different_people_do_not() {
    let Some(assets) = assets_for_test("same_person_matches_and_different_people_do_not") else {
        return;
    };
    let engine = engine(&assets);
    let threshold = engine.config().match_threshold;
    let obamas: Vec<(&str, Vec<u8>)> = ["obama.jpg", "obama2.jpg", "obama3.jpg"]
        .iter()
        .map(|n| (*n, photo(&assets, n)))
        .collect();
    let biden = photo(&assets, "biden.jpg");
    let mut genuine = Vec::new();
    for i in 0..obamas.len() {
        for j in i + 1..obamas.len() {
            let s = score(&engine, &obamas[i].1, &obamas[j].1);
            eprintln!("genuine {} vs {}: {s:.3}", obamas[i].0, obamas[j].0);
            genuine.push(s);
        }
        // Against a card-portrait rendering of another photo of the same person.
        let other = &obamas[(i + 1) % obamas.len()];
        let portrait = card_portrait(&engine, &other.1, 115.0);
        let s = score(&engine, &obamas[i].1, &portrait);
        eprintln!(
            "genuine {} vs card portrait of {}: {s:.3}",
            obamas[i].0, other.0
        );
        genuine.push(s);
    }
    let mut impostor = Vec::new();
    for (name, o) in &obamas {
        let s = score(&engine, o, &biden);
        eprintln!("impostor {name} vs biden.jpg: {s:.3}");
        impostor.push(s);
        let s = score(&engine, o, &card_portrait(&engine, &biden, 115.0));
        eprintln!("impostor {name} vs card portrait of biden.jpg: {s:.3}");
        impostor.push(s);
    }
    let min_genuine = genuine.iter().copied().fold(f32::MAX, f32::min);
    let max_impostor = impostor.iter().copied().fold(f32::MIN, f32::max);
    eprintln!(
        "min genuine {min_genuine:.3}, max impostor {max_impostor:.3}, threshold {threshold}"
    );
    assert!(
        min_genuine >= threshold,
        "a genuine pair scored {min_genuine}"
    );
    assert!(
        max_impostor < threshold,
        "an impostor pair scored {max_impostor}"
    );
}

#[test]
fn a_photo_matches_itself_almost_exactly() {
    let Some(assets) = assets_for_test("a_photo_matches_itself_almost_exactly") else {
        return;
    };
    let engine = engine(&assets);
    let o = photo(&assets, "obama.jpg");
    assert!(score(&engine, &o, &o) > 0.99);
    // A WhatsApp-like re-encode of the same photo stays very close.
    let reencoded = jpeg(&decode_photo(&o).unwrap(), 60);
    assert!(score(&engine, &o, &reencoded) > 0.9);
}

#[test]
fn unusable_photos_are_retakes_with_the_right_reason() {
    let Some(assets) = assets_for_test("unusable_photos_are_retakes_with_the_right_reason") else {
        return;
    };
    let engine = engine(&assets);
    let reason = |bytes: &[u8]| match engine.analyse(bytes).unwrap() {
        FaceFinding::Retake { reason, .. } => Some(reason),
        FaceFinding::Face(_) => None,
    };
    assert_eq!(
        reason(b"definitely not an image"),
        Some(RetakeReason::UnsupportedMedia)
    );
    assert_eq!(reason(&[]), Some(RetakeReason::UnsupportedMedia));
    // A truncated JPEG.
    let o = photo(&assets, "obama.jpg");
    assert_eq!(reason(&o[..200]), Some(RetakeReason::UnsupportedMedia));
    // A blank frame has no face.
    let blank = RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    assert_eq!(reason(&jpeg(&blank, 90)), Some(RetakeReason::NoFace));
    // The same face far away in a big frame is too small.
    let img = decode_photo(&o).unwrap();
    let tiny = imageops::resize(
        &img,
        img.width() / 8,
        img.height() / 8,
        imageops::FilterType::Triangle,
    );
    let mut frame = RgbImage::from_pixel(1200, 900, image::Rgb([200, 200, 200]));
    imageops::overlay(&mut frame, &tiny, 500, 400);
    assert_eq!(reason(&jpeg(&frame, 90)), Some(RetakeReason::FaceTooSmall));
    // Two people side by side.
    let b = decode_photo(&photo(&assets, "biden.jpg")).unwrap();
    let h = img.height().max(b.height());
    let mut pair = RgbImage::from_pixel(img.width() + b.width(), h, image::Rgb([255, 255, 255]));
    imageops::overlay(&mut pair, &img, 0, 0);
    imageops::overlay(&mut pair, &b, i64::from(img.width()), 0);
    assert_eq!(reason(&jpeg(&pair, 90)), Some(RetakeReason::MultipleFaces));
}

#[tokio::test]
async fn local_matcher_reports_through_the_port() {
    let Some(assets) = assets_for_test("local_matcher_reports_through_the_port") else {
        return;
    };
    let matcher = LocalFaceMatcher::new(engine(&assets));
    assert!(matcher.capabilities().face_match);
    let o = photo(&assets, "obama.jpg");
    let o2 = photo(&assets, "obama2.jpg");
    let b = photo(&assets, "biden.jpg");
    match matcher.compare(&o, &o2).await.unwrap() {
        FaceMatchOutcome::Compared(c) => assert!(c.matched, "{c:?}"),
        other => panic!("{other:?}"),
    }
    match matcher.compare(&o, &b).await.unwrap() {
        FaceMatchOutcome::Compared(c) => assert!(!c.matched, "{c:?}"),
        other => panic!("{other:?}"),
    }
    match matcher.compare(b"garbage", &o).await.unwrap() {
        FaceMatchOutcome::Retake { reason, .. } => {
            assert_eq!(reason, RetakeReason::UnsupportedMedia)
        }
        other => panic!("{other:?}"),
    }
}

/// The JSON's shape with every number and string replaced by its type, so the snapshot pins
/// the CLI contract and not machine-dependent scores.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        other => other.clone(),
    }
}

#[test]
fn inspect_face_prints_the_cli_contract() {
    let Some(assets) = assets_for_test("inspect_face_prints_the_cli_contract") else {
        return;
    };
    let o = photo(&assets, "obama.jpg");
    let o2 = photo(&assets, "obama2.jpg");
    let out = kyc_flow_vision::inspect_face(&o, &o2, true).unwrap();
    assert_eq!(out["match"], true);
    assert_eq!(out["liveness"]["certified"], false);
    assert_eq!(out["liveness"]["engine"], "local-minifasnet");
    assert!(out["score"].as_f64().unwrap() >= out["threshold"].as_f64().unwrap());
    insta::assert_json_snapshot!("inspect_face_match", shape(&out));

    let blank = jpeg(
        &RgbImage::from_pixel(320, 240, image::Rgb([40, 40, 40])),
        90,
    );
    let out = kyc_flow_vision::inspect_face(&blank, &o2, false).unwrap();
    assert_eq!(out["match"], false);
    assert_eq!(out["score"], serde_json::Value::Null);
    assert_eq!(out["retake"], "no_face");
    insta::assert_json_snapshot!("inspect_face_no_face", shape(&out));

    let err = kyc_flow_vision::inspect_face(b"nope", &o2, false).unwrap_err();
    assert!(err.contains("selfie"), "{err}");
}

/// The calibration sweep behind `DEFAULT_MATCH_THRESHOLD` (docs/VISION.md): every photo pair
/// under several card-portrait renderings. Slow in debug builds; run with
/// `cargo test --release -p kyc-flow-vision --test face_photos -- --ignored --nocapture`.
#[test]
#[ignore = "calibration report, run on demand in release mode"]
fn calibration_sweep() {
    let Some(assets) = assets_for_test("calibration_sweep") else {
        return;
    };
    let engine = engine(&assets);
    let names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
    let photos: Vec<Vec<u8>> = names.iter().map(|n| photo(&assets, n)).collect();
    let person = |i: usize| if names[i].starts_with("obama") { 0 } else { 1 };
    eprintln!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "portrait rendering", "gen min", "gen max", "imp min", "imp max"
    );
    for (label, face_px, quality) in [
        ("original photo", 0.0, 0),
        ("card portrait 115 px q70", 115.0, 70),
        ("card portrait 80 px q70", 80.0, 70),
        ("card portrait 60 px q50", 60.0, 50),
    ] {
        let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
        for i in 0..photos.len() {
            for j in 0..photos.len() {
                if i == j {
                    continue;
                }
                let portrait = if face_px > 0.0 {
                    let img = decode_photo(&photos[j]).unwrap();
                    let FaceFinding::Face(face) = engine.analyse_image(&img).unwrap() else {
                        panic!("no face");
                    };
                    let f = (face_px / face.bbox.width()).min(1.0);
                    let small = imageops::resize(
                        &img,
                        ((img.width() as f32 * f) as u32).max(1),
                        ((img.height() as f32 * f) as u32).max(1),
                        imageops::FilterType::Triangle,
                    );
                    jpeg(&small, quality)
                } else {
                    photos[j].clone()
                };
                let report = engine.compare(&photos[i], &portrait).unwrap();
                let Some(s) = report.score else {
                    eprintln!(
                        "  {} vs {label} of {}: {:?}",
                        names[i],
                        names[j],
                        report.outcome()
                    );
                    continue;
                };
                if person(i) == person(j) {
                    genuine.push(s)
                } else {
                    impostor.push(s)
                }
            }
        }
        let min = |v: &[f32]| v.iter().copied().fold(f32::NAN, f32::min);
        let max = |v: &[f32]| v.iter().copied().fold(f32::NAN, f32::max);
        eprintln!(
            "{label:<28} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            min(&genuine),
            max(&genuine),
            min(&impostor),
            max(&impostor)
        );
    }
}

#[test]
fn evaluation_reports_rates_at_the_threshold() {
    let Some(assets) = assets_for_test("evaluation_reports_rates_at_the_threshold") else {
        return;
    };
    let eval = kyc_flow_vision_testkit::face_eval::evaluate(&assets).unwrap();
    // 3 photos of A: 6 ordered genuine pairs, 6 impostor pairs, each against the photo and
    // its card-portrait rendering.
    assert_eq!(eval.pairs.iter().filter(|p| p.genuine).count(), 12);
    assert_eq!(eval.pairs.iter().filter(|p| !p.genuine).count(), 12);
    assert_eq!(eval.true_match_rate, 1.0);
    assert_eq!(eval.false_match_rate, 0.0);
    assert!(eval.genuine_min > eval.impostor_max);
    assert_eq!(eval.liveness.len(), 12);
    assert_eq!(eval.real_rejected_rate, 0.0);
    let json = serde_json::to_value(&eval).unwrap();
    assert!(json["limits"].as_str().unwrap().contains("simulated"));
    eprintln!("{}", serde_json::to_string_pretty(&json).unwrap());
}
