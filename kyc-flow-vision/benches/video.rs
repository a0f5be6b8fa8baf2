//! Video-note benchmark: milliseconds per clip on one thread — MP4 demux and H.264 decode of
//! the sampled frames, face detection, landmarks, embedding and the screen cue on each, and the
//! verdict — for a 5 s 480×480 clip built from still photos (`kyc_flow_vision_testkit::clips`).
//!
//! Run: `cargo bench -p kyc-flow-vision --features video --bench video` (needs
//! `scripts/fetch-assets.sh`). Prints a table; numbers go to `docs/VISION.md` and
//! `docs/PERFORMANCE.md`.

use kyc_flow_core::VideoChallenge;
use kyc_flow_vision::assets::assets_for_test;
use kyc_flow_vision::face::{FaceConfig, FaceEngine, decode_photo};
use kyc_flow_vision::video::{LocalVideoLiveness, VideoLimits, decode_frames};
use kyc_flow_vision_testkit::clips::{ClipOptions, encode_mp4, face_frame, hold, mirrored};
use std::sync::Arc;
use timing::{Stats, time};

mod timing;

const WARMUP: usize = 2;
const RUNS: usize = 15;

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent; keep that cheap.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(assets) = assets_for_test("video bench") else {
        return;
    };
    let faces = Arc::new(FaceEngine::load(&assets, FaceConfig::default()).unwrap());
    let engine = LocalVideoLiveness::new(faces.clone());
    let frame = |n: &str| {
        let img = decode_photo(&std::fs::read(assets.photo(n).unwrap()).unwrap()).unwrap();
        face_frame(&faces, &img, 480).unwrap()
    };
    let (front, turned) = (frame("obama.jpg"), frame("obama3.jpg"));
    // 5 s at 30 fps: frontal → turned → the other way → frontal.
    let poses = hold(
        &[front.clone(), turned.clone(), mirrored(&turned), front],
        150,
    );
    let limits = VideoLimits::DEFAULT;

    println!(
        "\nVideo note, 5 s 480x480 30 fps (150 frames), {} frames sampled, 1 thread (ORT \
         intra_threads=1, OpenH264 single-threaded), {RUNS} runs after {WARMUP} warm-up",
        limits.max_frames
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p95 ms", "min ms"
    );
    let row = |name: &str, s: Stats| {
        println!(
            "{name:<52} {:>10.1} {:>10.1} {:>10.1}",
            s.median, s.p95, s.min
        )
    };
    for (label, key_every) in [("key frame every 1 s", 30), ("one key frame (first)", 0)] {
        let mp4 = encode_mp4(
            &poses,
            &ClipOptions {
                fps: 30,
                bitrate_bps: 1_200_000,
                key_every,
            },
        )
        .unwrap();
        let (_, decoded) = decode_frames(&mp4, &limits).unwrap();
        println!("-- {label}, 1.2 Mbit/s, {} KiB", mp4.len() / 1024);
        row(
            "demux + decode the sampled frames",
            time(WARMUP, RUNS, || decode_frames(&mp4, &limits).unwrap()),
        );
        row(
            "per-frame analysis (detect, landmarks, embed, cue)",
            time(WARMUP, RUNS, || {
                decoded
                    .iter()
                    .map(|f| engine.frame_finding(&f.image).unwrap())
                    .collect::<Vec<_>>()
            }),
        );
        row(
            "TOTAL: check (decode + analysis + verdict)",
            time(WARMUP, RUNS, || {
                engine
                    .check(&mp4, VideoChallenge::TurnLeftAndRight, None)
                    .unwrap()
            }),
        );
    }
}
