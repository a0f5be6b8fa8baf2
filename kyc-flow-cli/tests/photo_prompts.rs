//! One prompt for a photo that cannot be opened, at every capture step, through the real local
//! engines: a decompression-bomb PNG at the document step and a cut-off selfie JPEG at the
//! selfie step are both answered with `retake.unsupported_media` ("we couldn't open that
//! photo"), never with a quality or liveness prompt. Regression for issue 15, where the cut-off
//! selfie was answered "we could not confirm the selfie is live".

use kyc_flow_core::catalog::Catalog;
use kyc_flow_core::{Locale, RetakeReason};

fn assets_or_skip() -> Option<kyc_flow_vision::assets::AssetPaths> {
    match kyc_flow_vision::assets::AssetPaths::discover() {
        Ok(a) => Some(a),
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must have the vision assets (scripts/setup.sh): {e}"
            );
            eprintln!("SKIPPED: vision assets missing; run scripts/setup.sh");
            None
        }
    }
}

/// 16,000 × 16,000 grey pixels, all zero: a few hundred KB that would decode to 256 MB+.
fn png_bomb() -> Vec<u8> {
    let side = 16_000u32;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; side as usize];
        for _ in 0..side {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
        writer.finish().unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unopenable_photos_get_the_same_prompt_at_the_document_and_the_selfie_step() {
    let Some(assets) = assets_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kyc-flow-photo-prompts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bomb.png"), png_bomb()).unwrap();
    let selfie = std::fs::read(assets.photo("obama2.jpg").unwrap()).unwrap();
    std::fs::write(dir.join("cut-selfie.jpg"), &selfie[..selfie.len() * 3 / 5]).unwrap();
    let script = r#"
flow = "mx-ine"
engines = "local"

[[turn]]
text = "Hola"
[[turn]]
reply = "consent.accept"
[[turn]]
image = "bomb.png"
[[turn]]
wait = "40s"
image = "sample:front:clean"
[[turn]]
wait = "30s"
image = "sample:back:whatsapp"
[[turn]]
wait = "20s"
image = "cut-selfie.jpg"
[[turn]]
wait = "20s"
image = "sample:selfie"
"#;
    let sim = kyc_flow_testkit::simulate::Simulation::from_toml(script, None, &dir).unwrap();
    let (sim, _registry) = kyc_flow_testkit::engines::attach_local_engines(sim)
        .await
        .unwrap();
    let outcome = sim.run().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = outcome.to_text();

    // Every retake of the run, with the prompt that answered it (the burst's "received"
    // acknowledgement may come first: photos are acknowledged once, just before the answer).
    let received = Catalog::builtin()
        .text("processing", Locale::EsMx)
        .unwrap()
        .to_owned();
    let lines: Vec<&str> = text.lines().collect();
    let retakes: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("capture.retake"))
        .filter_map(|(i, l)| {
            let answer = lines[i + 1..]
                .iter()
                .find(|n| n.contains("bot") && !n.contains(received.as_str()))?;
            Some(format!("{}\n{}", strip_time(l), strip_time(answer)))
        })
        .collect();
    let prompt = Catalog::builtin()
        .text(
            kyc_flow_core::catalog::retake_key(RetakeReason::UnsupportedMedia),
            Locale::EsMx,
        )
        .unwrap()
        .to_owned();
    assert_eq!(retakes.len(), 2, "{text}");
    for r in &retakes {
        assert!(r.ends_with(&prompt), "{r}\n\n{text}");
    }
    insta::assert_snapshot!(retakes.join("\n"));
    // And the good photos after them were read: the onboarding went on to a decision.
    assert!(text.contains("capture.accepted: document_front"), "{text}");
    assert!(text.contains("capture.accepted: selfie"), "{text}");
    assert!(outcome.decision.is_some(), "{text}");
}

/// `[+00:01:10] bot   ‹ …` → `bot   ‹ …`
fn strip_time(line: &str) -> &str {
    line.split_once("] ").map_or(line, |(_, rest)| rest)
}
