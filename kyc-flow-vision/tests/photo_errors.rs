//! Photos that cannot be opened — cut off, not an image, or a decompression bomb — are the
//! same `unsupported_media` retake from every local engine: the document reader, the face
//! matcher and the liveness check. Regression for issue 15: a truncated selfie JPEG was judged
//! by the liveness model (answered "we could not confirm the selfie is live"), and 16,000 ×
//! 16,000 PNGs of 275 KB took `serve` to a 4 GB peak.
#![cfg(feature = "local")]

use kyc_flow_core::RetakeReason;
use kyc_flow_core::evidence::{DocumentKind, DocumentOutcome, Side};
use kyc_flow_core::ports::{DocumentImage, DocumentReader, LivenessOutcome};
use kyc_flow_vision::assets::{AssetPaths, assets_for_test};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, FaceFinding};
use kyc_flow_vision::liveness::{LivenessConfig, LocalLiveness};
use kyc_flow_vision::reader::LocalDocumentReader;
use std::sync::Arc;

/// A 16,000 × 16,000 grey PNG, all zeros: a few hundred KB on the wire, 256 MB to 1 GB once
/// decoded (the measured attack).
fn png_bomb() -> Vec<u8> {
    let (w, h) = (16_000u32, 16_000u32);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; w as usize];
        for _ in 0..h {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
        writer.finish().unwrap();
    }
    out
}

fn truncated_selfie(assets: &AssetPaths) -> Vec<u8> {
    let whole = std::fs::read(assets.photo("obama2.jpg").unwrap()).unwrap();
    whole[..whole.len() * 3 / 5].to_vec()
}

fn liveness(assets: &AssetPaths) -> (Arc<FaceEngine>, LocalLiveness) {
    let faces = Arc::new(FaceEngine::load(assets, FaceConfig::default()).unwrap());
    let live = LocalLiveness::load(assets, faces.clone(), LivenessConfig::default()).unwrap();
    (faces, live)
}

fn assert_unsupported(reason: RetakeReason, detail: &str, what: &str) {
    assert_eq!(reason, RetakeReason::UnsupportedMedia, "{what}: {detail}");
}

#[test]
fn a_truncated_selfie_is_unsupported_media_not_a_liveness_verdict() {
    let Some(assets) = assets_for_test("a_truncated_selfie_is_unsupported_media") else {
        return;
    };
    let (faces, live) = liveness(&assets);
    let cut = truncated_selfie(&assets);
    // What the engines did before: the lenient decoder fills in the missing rows and the
    // models judge that picture.
    let filled_in = image::load_from_memory(&cut)
        .expect("the lenient decoder accepts a cut-off JPEG")
        .to_rgb8();
    assert!(
        !matches!(
            live.check_image(&filled_in).unwrap(),
            LivenessOutcome::Retake {
                reason: RetakeReason::UnsupportedMedia,
                ..
            }
        ),
        "a decoded picture always gets a verdict or a face retake"
    );
    // Now: the photo is refused before any model runs, by both selfie engines alike.
    match live.check_bytes(&cut).unwrap() {
        LivenessOutcome::Retake { reason, detail } => {
            assert_unsupported(reason, &detail, "liveness")
        }
        other => panic!("liveness judged a cut-off photo: {other:?}"),
    }
    match faces.analyse(&cut).unwrap() {
        FaceFinding::Retake { reason, detail } => assert_unsupported(reason, &detail, "face"),
        other => panic!("face engine used a cut-off photo: {other:?}"),
    }
    // The whole photo still goes through.
    let whole = std::fs::read(assets.photo("obama2.jpg").unwrap()).unwrap();
    assert!(matches!(
        live.check_bytes(&whole).unwrap(),
        LivenessOutcome::Judged(_)
    ));
}

#[test]
fn garbage_and_bombs_are_unsupported_media_at_the_selfie_step() {
    let Some(assets) = assets_for_test("garbage_and_bombs_at_the_selfie_step") else {
        return;
    };
    let (faces, live) = liveness(&assets);
    let mut garbage = vec![0xFF, 0xD8, 0xFF, 0xE0];
    garbage.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    for (what, bytes) in [("garbage", garbage), ("bomb", png_bomb())] {
        match live.check_bytes(&bytes).unwrap() {
            LivenessOutcome::Retake { reason, detail } => assert_unsupported(reason, &detail, what),
            other => panic!("{what}: {other:?}"),
        }
        match faces.analyse(&bytes).unwrap() {
            FaceFinding::Retake { reason, detail } => assert_unsupported(reason, &detail, what),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn bombs_and_cut_off_photos_are_unsupported_media_at_the_document_step() {
    let Some(assets) = assets_for_test("bombs_and_cut_off_photos_at_the_document_step") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets).unwrap();
    let card = kyc_flow_vision_testkit::synth::generate(
        kyc_flow_vision_testkit::synth::SampleKind::MxIne,
        Side::Front,
        3,
        kyc_flow_vision_testkit::synth::Perturbation::Clean,
    )
    .unwrap()
    .image;
    let cut = card[..card.len() / 2].to_vec();
    for (what, bytes) in [("bomb", png_bomb()), ("cut-off card", cut)] {
        let reading = reader
            .read(DocumentImage {
                document: DocumentKind::MxIne,
                side: Side::Front,
                image: &bytes,
            })
            .await
            .unwrap();
        match reading.outcome {
            DocumentOutcome::Retake { reason, detail } => assert_unsupported(reason, &detail, what),
            other => panic!("{what}: {other:?}"),
        }
    }
}
