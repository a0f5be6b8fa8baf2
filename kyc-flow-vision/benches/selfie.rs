//! Selfie benchmark: milliseconds per selfie (decode + detect + landmarks + embed + match +
//! liveness) on one thread, and the peak resident memory of a process with every model loaded.
//!
//! Run: `cargo bench -p kyc-flow-vision --bench selfie` (needs `scripts/fetch-assets.sh`).
//! Prints a table; numbers go to `docs/VISION.md` (PERFORMANCE).

use image::{ImageEncoder, imageops};
use kyc_flow_vision::assets::{AssetPaths, assets_for_test};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, FaceFinding, align_face, decode_photo};
use kyc_flow_vision::liveness::{LivenessConfig, LivenessModel};
use kyc_flow_vision::onnx::{Model, ModelOptions};
use std::time::Instant;
use timing::{Stats, time};

mod timing;

const WARMUP: usize = 3;
const RUNS: usize = 25;

fn vm_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn jpeg_1600(assets: &AssetPaths) -> Vec<u8> {
    // A WhatsApp-like selfie: long side 1600 px, JPEG q80.
    let img = decode_photo(&std::fs::read(assets.photo("obama3.jpg").unwrap()).unwrap()).unwrap();
    let scale = 1600.0 / img.width().max(img.height()) as f32;
    let img = imageops::resize(
        &img,
        (img.width() as f32 * scale) as u32,
        (img.height() as f32 * scale) as u32,
        imageops::FilterType::Triangle,
    );
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent; keep that cheap.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(assets) = assets_for_test("selfie bench") else {
        return;
    };
    let rss_start = vm_kib("VmRSS:");
    let t = Instant::now();
    let engine = FaceEngine::load(&assets, FaceConfig::default()).unwrap();
    let liveness = LivenessModel::load(&assets, LivenessConfig::default()).unwrap();
    let load_face = t.elapsed();
    let hwm_face = vm_kib("VmHWM:");

    let portrait = std::fs::read(assets.photo("obama.jpg").unwrap()).unwrap();
    let portrait_img = decode_photo(&portrait).unwrap();
    let FaceFinding::Face(portrait_face) = engine.analyse_image(&portrait_img).unwrap() else {
        panic!("no face in the portrait");
    };

    println!(
        "\nSelfie pipeline, 1 thread (ORT intra_threads=1), {RUNS} runs after {WARMUP} warm-up"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p95 ms", "min ms"
    );
    let row = |name: &str, s: Stats| {
        println!(
            "{name:<44} {:>10.1} {:>10.1} {:>10.1}",
            s.median, s.p95, s.min
        )
    };
    for (label, selfie) in [
        (
            "obama2.jpg (626x1200 JPEG)",
            std::fs::read(assets.photo("obama2.jpg").unwrap()).unwrap(),
        ),
        ("WhatsApp-like 1600 px JPEG q80", jpeg_1600(&assets)),
    ] {
        println!("-- selfie: {label}");
        let img = decode_photo(&selfie).unwrap();
        let faces = engine.detect(&img).unwrap();
        let face = faces[0];
        let points = engine.landmarks5(&img, &face).unwrap();
        row(
            "decode (+EXIF, bound to 1600 px)",
            time(WARMUP, RUNS, || decode_photo(&selfie)),
        );
        row(
            "detect (RFB-320)",
            time(WARMUP, RUNS, || engine.detect(&img).unwrap()),
        );
        row(
            "landmarks (68 pt)",
            time(WARMUP, RUNS, || engine.landmarks5(&img, &face).unwrap()),
        );
        row(
            "align (5-point similarity warp to 112 px)",
            time(WARMUP, RUNS, || align_face(&img, &points).unwrap()),
        );
        row(
            "align + embed (512-d)",
            time(WARMUP, RUNS, || engine.embed(&img, &points).unwrap()),
        );
        row(
            "liveness network (2.7x + 4.0x crops)",
            time(WARMUP, RUNS, || liveness.score(&img, &face).unwrap()),
        );
        row(
            "PAD signals (spectrum, frame, black level)",
            time(WARMUP, RUNS, || kyc_flow_vision::pad::signals(&img, &face)),
        );
        row(
            "pHash of the selfie",
            time(WARMUP, RUNS, || kyc_flow_vision::phash::phash(&img)),
        );
        // The 1:N features after the 1:1 match analysed the same bytes (`FaceEngine::analyse`
        // remembers the finding): what `[face_index]` adds besides the search itself.
        engine.analyse(&selfie).unwrap();
        row(
            "1:N features after the match (cached finding, decode, pHash)",
            time(WARMUP, RUNS, || {
                let found = engine.analyse(&selfie).unwrap();
                let img = decode_photo(&selfie).unwrap();
                (found, kyc_flow_vision::phash::phash(&img))
            }),
        );
        row(
            "TOTAL: decode+detect+embed+match+liveness+PAD",
            time(WARMUP, RUNS, || {
                let img = decode_photo(&selfie).unwrap();
                let FaceFinding::Face(f) = engine.analyse_image(&img).unwrap() else {
                    panic!("no face");
                };
                let score = f.embedding.cosine(&portrait_face.embedding);
                let live = liveness.assess(&img, &f.bbox).unwrap();
                (score, live)
            }),
        );
    }

    // The OCR models of the document reader, so the figure is a worker with everything loaded.
    let t = Instant::now();
    let opts = ModelOptions::default();
    let ocr = [assets.ocr_detector(), assets.ocr_recognizer()]
        .into_iter()
        .filter_map(Result::ok)
        .map(|p| Model::load(&p, &opts).unwrap())
        .collect::<Vec<_>>();
    let load_ocr = t.elapsed();
    println!("\nMemory (from /proc/self/status)");
    println!("{:<44} {:>12}", "RSS at start", mib(rss_start));
    println!(
        "{:<44} {:>12}",
        "peak RSS, face+liveness models loaded (VmHWM)",
        mib(hwm_face)
    );
    println!(
        "{:<44} {:>12}",
        format!("peak RSS, + {} OCR models, after runs", ocr.len()),
        mib(vm_kib("VmHWM:"))
    );
    println!(
        "{:<44} {:>9.0} ms",
        "load face+landmark+embed+liveness models",
        load_face.as_secs_f64() * 1000.0
    );
    println!(
        "{:<44} {:>9.0} ms",
        "load OCR det+rec models",
        load_ocr.as_secs_f64() * 1000.0
    );
}
