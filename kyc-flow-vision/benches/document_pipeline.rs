//! Milliseconds per ID photo (decode + quality + find + OCR + extraction + barcode +
//! cross-checks) on one inference thread, on generated SPECIMEN photos: WhatsApp-like
//! 1600×1200 JPEGs, and the same scenes upscaled in the bench to 4000×3000 (a camera original
//! sent as a document). Prints a table; `harness = false`.
//! Run: `cargo bench -p kyc-flow-vision --bench document_pipeline` (`BENCH_ITERATIONS`, default
//! 5 photos per row).

use image::{DynamicImage, imageops::FilterType};
use kyc_flow_core::evidence::Side;
use kyc_flow_vision::reader::{LocalDocumentReader, Timings};
use kyc_flow_vision_testkit::synth::{self, Perturbation, SampleKind};

/// A 1600 px WhatsApp photo, or a clean 2000 px scene upscaled to a 4000 px JPEG (q 90).
fn photo(kind: SampleKind, side: Side, seed: u64, camera: bool) -> Vec<u8> {
    if !camera {
        return synth::generate(kind, side, seed, Perturbation::WhatsApp)
            .expect("sample")
            .image;
    }
    let scene = synth::generate(kind, side, seed, Perturbation::Clean).expect("sample");
    let img = image::load_from_memory(&scene.image).expect("decodes");
    let big = image::imageops::resize(&img.to_rgb8(), 4000, 3000, FilterType::CatmullRom);
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&DynamicImage::ImageRgb8(big))
        .expect("jpeg");
    out.into_inner()
}

/// CPU time of the calling thread, ms (`/proc/thread-self/schedstat`): with one ONNX Runtime
/// thread the models run on this thread, so this is the photo's cost on one core whatever
/// else the machine is doing; `None` off Linux.
fn thread_cpu_ms() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e6)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("bench document_pipeline") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets).expect("reader loads");
    let iterations = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5u64);
    println!(
        "| photo | document | side | ms/photo (median) | min | max | CPU ms (median) | quality | warp | detect | recognize | barcode | extract |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all = [Vec::new(), Vec::new()];
    let mut all_cpu = [Vec::new(), Vec::new()];
    for (c, camera) in [false, true].into_iter().enumerate() {
        for kind in SampleKind::ALL {
            for side in [Side::Front, Side::Back] {
                let photos: Vec<Vec<u8>> = (0..iterations)
                    .map(|seed| photo(kind, side, seed, camera))
                    .collect();
                // Warm-up: the first run pays for ONNX Runtime's lazy initialisation.
                let _ = reader.analyse(&photos[0], kind.document(), side);
                let mut total = Vec::new();
                let mut cpu = Vec::new();
                let mut sum = Timings::default();
                for p in &photos {
                    let c = thread_cpu_ms();
                    let t = std::time::Instant::now();
                    let a = reader.analyse(p, kind.document(), side).expect("analysis");
                    total.push(t.elapsed().as_secs_f64() * 1000.0);
                    if let (Some(c0), Some(c1)) = (c, thread_cpu_ms()) {
                        cpu.push(c1 - c0);
                    }
                    sum.quality_ms += a.timings.quality_ms;
                    sum.rectify_ms += a.timings.rectify_ms;
                    sum.barcode_ms += a.timings.barcode_ms;
                    sum.detect_ms += a.timings.detect_ms;
                    sum.recognize_ms += a.timings.recognize_ms;
                    sum.extract_ms += a.timings.extract_ms;
                }
                all[c].extend_from_slice(&total);
                all_cpu[c].extend_from_slice(&cpu);
                let n = total.len() as f64;
                let min = total.iter().copied().fold(f64::MAX, f64::min);
                let max = total.iter().copied().fold(0.0, f64::max);
                println!(
                    "| {} | {} | {:?} | {:.0} | {min:.0} | {max:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
                    if camera {
                        "4000×3000 JPEG q90"
                    } else {
                        "1600×1200 WhatsApp"
                    },
                    kind.country(),
                    side,
                    median(&mut total),
                    median(&mut cpu),
                    sum.quality_ms / n,
                    sum.rectify_ms / n,
                    sum.detect_ms / n,
                    sum.recognize_ms / n,
                    sum.barcode_ms / n,
                    sum.extract_ms / n
                );
            }
        }
    }
    println!(
        "\nmedian of all photos: {:.0} ms ({:.0} ms CPU) at 1600 px ({} photos), {:.0} ms ({:.0} ms CPU) at 4000 px ({} photos)",
        median(&mut all[0]),
        median(&mut all_cpu[0]),
        all[0].len(),
        median(&mut all[1]),
        median(&mut all_cpu[1]),
        all[1].len()
    );
}
