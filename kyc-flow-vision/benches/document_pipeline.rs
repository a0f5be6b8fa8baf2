//! Milliseconds per ID photo (quality + barcode + OCR + extraction) on one inference thread,
//! on generated SPECIMEN photos (WhatsApp-like 1600 px JPEGs). Prints a table; `harness = false`.
//! Run: `cargo bench -p kyc-flow-vision --bench document_pipeline`.

use kyc_flow_core::evidence::Side;
use kyc_flow_vision::reader::{LocalDocumentReader, Timings};
use kyc_flow_vision_testkit::synth::{self, Perturbation, SampleKind};

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
        "| document | side | ms/photo (mean) | min | quality | rectify | barcode | detect | recognize | extract |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for kind in SampleKind::ALL {
        for side in [Side::Front, Side::Back] {
            let photos: Vec<Vec<u8>> = (0..iterations)
                .map(|seed| {
                    synth::generate(kind, side, seed, Perturbation::WhatsApp)
                        .expect("sample")
                        .image
                })
                .collect();
            // Warm-up: the first run pays for ONNX Runtime's lazy initialisation.
            let _ = reader.analyse(&photos[0], kind.document(), side);
            let mut total = Vec::new();
            let mut sum = Timings::default();
            for p in &photos {
                let t = std::time::Instant::now();
                let a = reader.analyse(p, kind.document(), side).expect("analysis");
                total.push(t.elapsed().as_secs_f64() * 1000.0);
                sum.quality_ms += a.timings.quality_ms;
                sum.rectify_ms += a.timings.rectify_ms;
                sum.barcode_ms += a.timings.barcode_ms;
                sum.detect_ms += a.timings.detect_ms;
                sum.recognize_ms += a.timings.recognize_ms;
                sum.extract_ms += a.timings.extract_ms;
            }
            let n = total.len() as f64;
            let mean = total.iter().sum::<f64>() / n;
            let min = total.iter().copied().fold(f64::MAX, f64::min);
            println!(
                "| {} | {:?} | {mean:.0} | {min:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
                kind.country(),
                side,
                sum.quality_ms / n,
                sum.rectify_ms / n,
                sum.barcode_ms / n,
                sum.detect_ms / n,
                sum.recognize_ms / n,
                sum.extract_ms / n
            );
        }
    }
}
