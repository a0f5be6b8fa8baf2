//! Issue 10, part 1: a card photographed turned in its plane (15°, 25°) or in strong
//! perspective is levelled or rectified before it is read. The real specimens of
//! `documents-dev` are turned and warped here, by the test, onto a plain table (the images are
//! read from the shared folder, never copied into the repository; the test skips where the
//! folder or the models are absent), and the generator's own skew perturbation is read too.
#![cfg(feature = "local")]

use image::{DynamicImage, Rgb, RgbImage, imageops::FilterType};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};
use kyc_flow_core::evidence::{DocumentOutcome, Side};
use kyc_flow_vision::assets::assets_for_test;
use kyc_flow_vision::reader::LocalDocumentReader;
use kyc_flow_vision::reader::page;
use kyc_flow_vision_testkit::dev_eval;
use kyc_flow_vision_testkit::synth::{self, Perturbation, SampleKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

fn reader(test: &str) -> Option<&'static LocalDocumentReader> {
    static READER: OnceLock<LocalDocumentReader> = OnceLock::new();
    let assets = assets_for_test(test)?;
    Some(READER.get_or_init(|| LocalDocumentReader::load(&assets).expect("reader loads")))
}

/// Specimens covering the three kinds of reading: printed labels (INE, Colombian digital
/// cédula), a TD1 MRZ (card front above back) and a TD3 MRZ.
const SPECIMENS: [&str; 4] = [
    "mx_ine_specimen_2014_front.jpg",
    "co_cedula_digital_specimen_front.jpg",
    "other_td1_latvia.png",
    "other_td3_canada.png",
];

/// How the specimen is placed on the table.
#[derive(Debug, Clone, Copy)]
enum Pose {
    /// Turned clockwise by this many degrees.
    Turned(f32),
    /// Seen from the right and above: the left edge 25 % shorter than the right one, the top
    /// edge 15 % shorter than the bottom one.
    Perspective,
}

/// The specimen scaled to a 1400 px long side (what a phone would have captured of it), then
/// posed on a plain, slightly textured table with a margin around it: a PNG.
fn pose(specimen: &DynamicImage, pose: Pose) -> Vec<u8> {
    let src = specimen.to_rgb8();
    let s = 1400.0 / src.width().max(src.height()) as f32;
    let (w, h) = (src.width() as f32 * s, src.height() as f32 * s);
    let src = image::imageops::resize(&src, w as u32, h as u32, FilterType::CatmullRom);
    let (cw, ch) = ((w * 1.45) as u32, (h * 1.45 + 0.3 * w) as u32);
    let mut table = RgbImage::from_fn(cw, ch, |x, y| {
        let n = ((x * 7 + y * 13) % 11) as u8;
        Rgb([70 + n, 82 + n, 95 + n])
    });
    let (cx, cy) = (cw as f32 / 2.0, ch as f32 / 2.0);
    let projection = match pose {
        Pose::Turned(deg) => {
            Projection::translate(cx, cy)
                * Projection::rotate(deg.to_radians())
                * Projection::translate(-w / 2.0, -h / 2.0)
        }
        Pose::Perspective => {
            let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
            let (l, r) = (cx - w / 2.0, cx + w / 2.0);
            let (t, b) = (cy - h / 2.0, cy + h / 2.0);
            let to = [
                (l + 0.075 * w, t + 0.125 * h),
                (r - 0.075 * w, t),
                (r, b),
                (l, b - 0.125 * h),
            ];
            Projection::from_control_points(from, to).expect("a projective warp")
        }
    };
    warp_into(
        &src,
        projection,
        Interpolation::Bilinear,
        // Outside the card: the table (a constant here, overwritten below).
        Border::Constant(Rgb([1, 2, 3])),
        &mut table,
    );
    let inverse = projection.invert();
    for (x, y, p) in table.enumerate_pixels_mut() {
        let (u, v) = inverse * (x as f32 + 0.5, y as f32 + 0.5);
        if u < 0.0 || v < 0.0 || u >= w || v >= h {
            let n = ((x * 7 + y * 13) % 11) as u8;
            *p = Rgb([70 + n, 82 + n, 95 + n]);
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(table)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// Writes the posed specimens and their labels to a scratch folder (outside the repository)
/// and scores them like `kyc-flow-vision-eval dev`.
fn evaluate_posed(r: &LocalDocumentReader, dev: &Path, p: Pose, tag: &str) {
    let labels: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dev.join("labels.json")).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("kyc-flow-skewed-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut chosen = BTreeMap::new();
    for file in SPECIMENS {
        let img = image::open(dev.join(file)).unwrap();
        let name = format!("{}.png", file.rsplit_once('.').unwrap().0);
        std::fs::write(dir.join(&name), pose(&img, p)).unwrap();
        chosen.insert(name, labels[file].clone());
    }
    std::fs::write(
        dir.join("labels.json"),
        serde_json::to_vec(&chosen).unwrap(),
    )
    .unwrap();
    let results = dev_eval::evaluate(r, &dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = dev_eval::report(&results);
    assert_eq!(results.len(), SPECIMENS.len());
    for res in &results {
        assert_eq!(
            res.model.as_deref(),
            Some(res.expected_model.as_str()),
            "{p:?} {}: model\n{report}",
            res.file
        );
        assert_eq!(
            res.mrz_lines.0, res.mrz_lines.1,
            "{p:?} {}: MRZ lines\n{report}",
            res.file
        );
        assert!(
            res.fields.1 + 1 >= res.fields.0,
            "{p:?} {}: fields {:?} missed {:?}\n{report}",
            res.file,
            res.fields,
            res.missed
        );
        assert!(
            res.accepted || res.retake.as_deref() == Some("expired"),
            "{p:?} {}: wrong retake {:?}\n{report}",
            res.file,
            res.retake
        );
    }
}

#[test]
fn specimens_turned_15_degrees_are_read() {
    let (Some(r), Some(dev)) = (reader("skew_15"), dev_eval::dev_dir()) else {
        eprintln!("models or documents-dev absent: skipping");
        return;
    };
    evaluate_posed(r, &dev, Pose::Turned(15.0), "15");
}

#[test]
fn specimens_turned_25_degrees_the_other_way_are_read() {
    let (Some(r), Some(dev)) = (reader("skew_25"), dev_eval::dev_dir()) else {
        eprintln!("models or documents-dev absent: skipping");
        return;
    };
    evaluate_posed(r, &dev, Pose::Turned(-25.0), "25");
}

#[test]
fn specimens_in_strong_perspective_are_read() {
    let (Some(r), Some(dev)) = (reader("perspective"), dev_eval::dev_dir()) else {
        eprintln!("models or documents-dev absent: skipping");
        return;
    };
    evaluate_posed(r, &dev, Pose::Perspective, "perspective");
}

/// The page reader reports what it did: levelled by the opposite of the applied turn; a card
/// outline that is plainly wrong (a corner of the table) is not followed, and the page is
/// still read.
#[test]
fn the_page_is_levelled_and_a_wrong_card_outline_is_not_followed() {
    let (Some(_), Some(dev)) = (reader("skew_page"), dev_eval::dev_dir()) else {
        return;
    };
    let assets = assets_for_test("skew_page").unwrap();
    let ocr = kyc_flow_vision::ocr::OcrEngine::load(
        &assets,
        &kyc_flow_vision::onnx::ModelOptions::default(),
    )
    .unwrap();
    let img = image::open(dev.join("other_td3_canada.png")).unwrap();
    let turned = image::load_from_memory(&pose(&img, Pose::Turned(15.0))).unwrap();
    let wrong = [(5.0, 5.0), (305.0, 25.0), (290.0, 215.0), (10.0, 200.0)];
    let p = page::read_page_with(&ocr, &turned, Some(&wrong)).unwrap();
    assert!(
        (p.deskew_degrees + 15.0).abs() < 1.5,
        "levelled by {}",
        p.deskew_degrees
    );
    assert!(!p.rectified);
    assert!(page::find_mrz(&p).is_some_and(|m| m.valid()));
}

/// The generator's skew perturbation (7–9°): every printed field right, and the MRZ of a back.
#[test]
fn generated_skewed_cards_are_read() {
    let Some(r) = reader("synth_skew") else {
        return;
    };
    for seed in [1, 2] {
        let s = synth::generate(SampleKind::MxIne, Side::Front, seed, Perturbation::Skew).unwrap();
        let a = r
            .analyse(&s.image, SampleKind::MxIne.document(), Side::Front)
            .unwrap();
        let DocumentOutcome::Accepted { data } = &a.outcome else {
            panic!("seed {seed}: {:?}", a.outcome);
        };
        for (k, v) in &s.truth {
            assert_eq!(
                data.fields.get(k).map(|f| &f.value),
                Some(v),
                "seed {seed}: field {k}"
            );
        }
    }
    let s = synth::generate(SampleKind::PeDni, Side::Back, 4, Perturbation::Skew).unwrap();
    let a = r
        .analyse(&s.image, SampleKind::PeDni.document(), Side::Back)
        .unwrap();
    assert!(a.mrz.as_ref().is_some_and(|m| m.valid()), "{:?}", a.outcome);
}
