//! The video-note engine on real MP4 files: clips built in the test from the face photos of
//! `.assets/photos` (H.264 by OpenH264's encoder, MP4 by the `mp4` crate's writer, see
//! `kyc_flow_vision_testkit::clips`), demuxed, decoded and judged by `video::LocalVideoLiveness`.
//!
//! The clips are still photos held for a few frames each — a cut from one pose to the next,
//! not a filmed head turn — so these tests prove the file path (demux, decode, sampling) and
//! the per-frame analysis on real faces, and set the yaw threshold from what real photos
//! measure; they say nothing about real video notes or real replay attacks. Every figure is
//! printed (`--nocapture`) and listed in `docs/VISION.md`.
#![cfg(feature = "video")]

use image::RgbImage;
use kyc_flow_core::{RetakeReason, VideoChallenge, VideoOutcome};
use kyc_flow_vision::assets::{AssetPaths, assets_for_test};
use kyc_flow_vision::face::{FaceConfig, FaceEngine, decode_photo};
use kyc_flow_vision::video::{
    FrameFinding, LocalVideoLiveness, MIN_TURN_YAW, VideoError, VideoLimits, VideoLivenessReport,
    VideoVerdict, decode_frames,
};
use kyc_flow_vision_testkit::clips::{
    ClipOptions, encode_h264, encode_mp4, face_frame, hold, mirrored, mux_mp4, screen_grid,
};
use std::sync::{Arc, OnceLock};

/// Frame side and length of the test clips: 480×480, 3 s at 15 fps.
const SIDE: u32 = 480;
const FRAMES: usize = 45;
const BOTH: VideoChallenge = VideoChallenge::TurnLeftAndRight;

fn faces(assets: &AssetPaths) -> Arc<FaceEngine> {
    static ENGINE: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(FaceEngine::load(assets, FaceConfig::default()).unwrap()))
        .clone()
}

fn engine(assets: &AssetPaths) -> LocalVideoLiveness {
    LocalVideoLiveness::new(faces(assets))
}

fn photo_bytes(assets: &AssetPaths, name: &str) -> Vec<u8> {
    std::fs::read(assets.photo(name).unwrap()).unwrap()
}

/// The photo as a 480×480 video-note frame centred on its face.
fn frame(assets: &AssetPaths, name: &str) -> RgbImage {
    let img = decode_photo(&photo_bytes(assets, name)).unwrap();
    face_frame(&faces(assets), &img, SIDE).unwrap()
}

fn clip(poses: &[RgbImage]) -> Vec<u8> {
    encode_mp4(&hold(poses, FRAMES), &ClipOptions::default()).unwrap()
}

fn analyse(
    assets: &AssetPaths,
    name: &str,
    mp4: &[u8],
    portrait: Option<&[u8]>,
) -> VideoLivenessReport {
    let report = engine(assets).analyse(mp4, BOTH, portrait).unwrap();
    eprintln!(
        "{name}: {} bytes, {}×{} {:.1} s {} samples; {}/{} face frames, yaw {:.3}..{:.3}, \
         frame similarity {:.3}, portrait {:?}, screen {:.2} → {:?}",
        mp4.len(),
        report.info.width,
        report.info.height,
        report.info.duration.as_secs_f32(),
        report.info.samples,
        report.face_frames,
        report.frames,
        report.yaw_min,
        report.yaw_max,
        report.min_frame_similarity,
        report.portrait_similarity,
        report.screen_frames,
        report.verdict
    );
    report
}

fn retake_reason(outcome: VideoOutcome) -> Option<RetakeReason> {
    match outcome {
        VideoOutcome::Retake { reason, .. } => Some(reason),
        VideoOutcome::Passed { .. } => None,
    }
}

/// The yaw each photo measures after the trip through H.264, and its mirror's: the real-photo
/// counterpart of the proptest on landmark sets. These figures set `MIN_TURN_YAW`.
#[test]
fn photos_and_their_mirrors_measure_opposite_yaws_after_encoding() {
    let Some(assets) = assets_for_test("photos_and_their_mirrors_measure_opposite_yaws") else {
        return;
    };
    let engine = engine(&assets);
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let f = frame(&assets, name);
        let frames = [f.clone(), mirrored(&f)];
        // Through the codec: one key frame each, decoded back.
        let mp4 = encode_mp4(
            &frames,
            &ClipOptions {
                key_every: 1,
                ..ClipOptions::default()
            },
        )
        .unwrap();
        let (_, decoded) = decode_frames(&mp4, &VideoLimits::DEFAULT).unwrap();
        assert_eq!(decoded.len(), 2, "{name}: both frames decoded");
        let yaw = |img: &RgbImage| match engine.frame_finding(img).unwrap() {
            FrameFinding::Face { yaw, .. } => yaw,
            other => panic!("{name}: {other:?}"),
        };
        let (a, b) = (yaw(&decoded[0].image), yaw(&decoded[1].image));
        eprintln!("{name}: yaw {a:.3}, mirrored {b:.3}");
        // The landmark model is not exactly symmetric: a photo and its mirror measured
        // +0.02 to +0.07 apart from opposite (docs/VISION.md).
        assert!(
            (a + b).abs() < 0.15,
            "{name}: mirroring flips the yaw ({a} vs {b})"
        );
        if name == "obama.jpg" {
            assert!(
                a.abs().max(b.abs()) < MIN_TURN_YAW / 2.0,
                "{name} is frontal"
            );
        } else {
            assert!(
                a.abs().min(b.abs()) > MIN_TURN_YAW && a.signum() != b.signum(),
                "{name} is turned, its mirror the other way"
            );
        }
    }
}

/// (a) One still photo for the whole clip: a face, the same person throughout, no turn.
#[test]
fn a_still_photo_is_a_clip_without_head_turn() {
    let Some(assets) = assets_for_test("a_still_photo_is_a_clip_without_head_turn") else {
        return;
    };
    let mp4 = clip(&[frame(&assets, "obama.jpg")]);
    let r = analyse(&assets, "still obama", &mp4, None);
    assert_eq!(r.frames, 12, "12 frames sampled over 45");
    assert_eq!(r.face_frames, r.frames);
    assert!(r.yaw_max - r.yaw_min < 0.05, "a still photo does not turn");
    assert!(r.min_frame_similarity > 0.9, "the same frame decoded again");
    assert_eq!(r.verdict, VideoVerdict::NoHeadTurn);
    assert_eq!(
        retake_reason(engine(&assets).check(&mp4, BOTH, None).unwrap()),
        Some(RetakeReason::NoHeadTurn)
    );
}

/// (b) The head turned one way and the other: obama3.jpg and its mirror around the frontal
/// obama.jpg; the same man as obama2.jpg's card portrait.
#[test]
fn a_turn_both_ways_by_the_same_person_passes() {
    let Some(assets) = assets_for_test("a_turn_both_ways_by_the_same_person_passes") else {
        return;
    };
    let front = frame(&assets, "obama.jpg");
    let turned = frame(&assets, "obama3.jpg");
    let mp4 = clip(&[front.clone(), turned.clone(), mirrored(&turned), front]);
    let portrait = photo_bytes(&assets, "obama2.jpg");
    let r = analyse(&assets, "obama turn", &mp4, Some(&portrait));
    assert_eq!(r.face_frames, r.frames);
    assert!(r.yaw_max >= MIN_TURN_YAW && r.yaw_min <= -MIN_TURN_YAW);
    assert!(r.portrait_similarity.unwrap() >= r.threshold);
    assert_eq!(r.screen_frames, 0.0, "no screen cue on a clean clip");
    assert_eq!(r.verdict, VideoVerdict::Passed);
    let outcome = engine(&assets).check(&mp4, BOTH, Some(&portrait)).unwrap();
    let VideoOutcome::Passed { liveness } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(!liveness.certified, "never an approval on its own");
    // One side only: enough for `TurnEitherWay`, not for `TurnLeftAndRight`.
    let one_way = clip(&[frame(&assets, "obama.jpg"), turned]);
    let r = analyse(&assets, "obama one way", &one_way, None);
    assert_eq!(r.verdict, VideoVerdict::NoHeadTurn);
    let either = engine(&assets)
        .check(&one_way, VideoChallenge::TurnEitherWay, None)
        .unwrap();
    assert_eq!(retake_reason(either), None);
}

/// The passing clip of (b) encoded at lower bit rates still passes: what pulls the 150 kbit/s
/// screen clip of (d) under the match threshold is the grid eating the bit budget, not the bit
/// rate alone. The frame similarity is the figure to watch: 0.58 at 100 kbit/s, 0.46 at 150
/// (not monotonic), against the 0.40 threshold.
#[test]
fn a_genuine_turn_still_passes_at_low_bit_rates() {
    let Some(assets) = assets_for_test("a_genuine_turn_still_passes_at_low_bit_rates") else {
        return;
    };
    let front = frame(&assets, "obama.jpg");
    let turned = frame(&assets, "obama3.jpg");
    let poses = [front.clone(), turned.clone(), mirrored(&turned), front];
    let portrait = photo_bytes(&assets, "obama2.jpg");
    for bps in [100_000, 150_000, 300_000] {
        let mp4 = encode_mp4(
            &hold(&poses, FRAMES),
            &ClipOptions {
                bitrate_bps: bps,
                ..ClipOptions::default()
            },
        )
        .unwrap();
        let r = analyse(
            &assets,
            &format!("obama turn, {bps} bit/s"),
            &mp4,
            Some(&portrait),
        );
        assert_eq!(
            r.screen_frames, 0.0,
            "{bps}: no screen cue from the codec alone"
        );
        assert_eq!(r.verdict, VideoVerdict::Passed, "{bps}");
    }
}

/// (c) Someone else halfway through, and a clip against another person's portrait.
#[test]
fn another_face_in_the_clip_or_on_the_card_is_a_mismatch() {
    let Some(assets) = assets_for_test("another_face_in_the_clip_or_on_the_card_is_a_mismatch")
    else {
        return;
    };
    let turned = frame(&assets, "obama3.jpg");
    let biden = frame(&assets, "biden.jpg");
    let swap = clip(&[
        turned.clone(),
        mirrored(&turned),
        biden.clone(),
        mirrored(&biden),
    ]);
    let r = analyse(&assets, "obama then biden", &swap, None);
    assert!(r.min_frame_similarity < r.threshold);
    assert_eq!(r.verdict, VideoVerdict::FaceMismatch);
    assert_eq!(
        retake_reason(engine(&assets).check(&swap, BOTH, None).unwrap()),
        Some(RetakeReason::FaceMismatch)
    );

    let front = frame(&assets, "obama.jpg");
    let turn = clip(&[front.clone(), turned.clone(), mirrored(&turned), front]);
    let portrait = photo_bytes(&assets, "biden.jpg");
    let r = analyse(&assets, "obama vs biden's portrait", &turn, Some(&portrait));
    assert!(
        r.min_frame_similarity >= r.threshold,
        "one person in the clip"
    );
    assert!(r.portrait_similarity.unwrap() < r.threshold);
    assert_eq!(r.verdict, VideoVerdict::FaceMismatch);
}

/// (d) Every frame filmed off a screen (simulated sub-pixel stripes and scan lines). Whether
/// the cue survives H.264 depends on the bit rate: at 1.2 Mbit/s it fired on 12 of 12 sampled
/// frames and the clip is refused as a replay; at 150 kbit/s on about a third of them, below
/// the replay share, and the clip fails on something else (the codec blurs the face too). The
/// test pins both, so a change in either shows.
#[test]
fn a_clip_filmed_off_a_screen_is_a_replay_when_the_grid_survives_encoding() {
    let Some(assets) = assets_for_test("a_clip_filmed_off_a_screen_is_a_replay") else {
        return;
    };
    let front = screen_grid(&frame(&assets, "obama.jpg"));
    let turned = frame(&assets, "obama3.jpg");
    let poses = [
        front.clone(),
        screen_grid(&turned),
        screen_grid(&mirrored(&turned)),
        front,
    ];
    let sharp = encode_mp4(&hold(&poses, FRAMES), &ClipOptions::default()).unwrap();
    let r = analyse(&assets, "screen, 1.2 Mbit/s", &sharp, None);
    assert!(r.screen_frames >= 0.5, "the stripes survive at 1.2 Mbit/s");
    assert_eq!(r.verdict, VideoVerdict::ScreenReplay);
    assert_eq!(
        retake_reason(engine(&assets).check(&sharp, BOTH, None).unwrap()),
        Some(RetakeReason::ScreenReplay)
    );

    let soft = encode_mp4(
        &hold(&poses, FRAMES),
        &ClipOptions {
            bitrate_bps: 150_000,
            ..ClipOptions::default()
        },
    )
    .unwrap();
    let r = analyse(&assets, "screen, 150 kbit/s", &soft, None);
    assert!(
        r.screen_frames < 0.5,
        "at 150 kbit/s the codec weakens the cue (measured {})",
        r.screen_frames
    );
    assert!(!matches!(
        r.verdict,
        VideoVerdict::ScreenReplay | VideoVerdict::Passed
    ));
}

/// (e) Files that are not a readable video note: typed errors, each a retake, before any
/// frame is decoded.
#[test]
fn broken_and_oversized_files_are_typed_errors_before_decoding() {
    let Some(assets) = assets_for_test("broken_and_oversized_files_are_typed_errors") else {
        return;
    };
    let limits = VideoLimits::DEFAULT;
    let poses = [frame(&assets, "obama.jpg")];
    let frames = hold(&poses, 15);
    let track = encode_h264(&frames, &ClipOptions::default()).unwrap();
    let good = mux_mp4(&track).unwrap();
    let (info, decoded) = decode_frames(&good, &limits).unwrap();
    assert_eq!((info.width, info.height, info.samples), (SIDE, SIDE, 15));
    assert_eq!(decoded.len(), 12);

    // Cut off: `mp4`'s writer puts the movie header last, so half a file has none.
    let cut = &good[..good.len() / 2];
    assert!(matches!(
        decode_frames(cut, &limits),
        Err(VideoError::Corrupt(_))
    ));
    // The header intact, the frames garbage: the decoder refuses them, no panic.
    let mut noisy = track.clone();
    for (sample, _) in &mut noisy.samples {
        let len = sample.len();
        sample.truncate(5);
        sample.extend((0..len.saturating_sub(5)).map(|i| (i * 7919 % 251) as u8));
    }
    let noisy = mux_mp4(&noisy).unwrap();
    match decode_frames(&noisy, &limits) {
        Err(VideoError::Corrupt(_)) => {}
        other => panic!("garbage frames: {other:?}"),
    }
    // Garbage bytes, and a PNG sent as a video note.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(
        decode_frames(&garbage, &limits),
        Err(VideoError::NotAVideo(_))
    ));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(poses[0].clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert!(matches!(
        decode_frames(&png, &limits),
        Err(VideoError::NotAVideo(_))
    ));
    // A header declaring 20000×20000 frames over samples that are not H.264 at all: refused
    // on the header (TooLarge), so the samples were never decoded (that would be Corrupt).
    let huge = mp4_with(&track, |t| {
        t.width = 20_000;
        t.height = 20_000;
        for (s, _) in &mut t.samples {
            s.iter_mut().for_each(|b| *b = 0xff);
        }
    });
    assert!(matches!(
        decode_frames(&huge, &limits),
        Err(VideoError::TooLarge(_))
    ));
    // A header that understates the frame size: within the limit on paper, the bitstream's
    // 480-px frames are not, and are refused once decoded, before they are converted.
    let small_claim = mp4_with(&track, |t| {
        t.width = 64;
        t.height = 64;
    });
    let strict = VideoLimits {
        max_side: 100,
        ..VideoLimits::DEFAULT
    };
    match decode_frames(&small_claim, &strict) {
        Err(VideoError::TooLarge(why)) => assert!(why.contains("decoded"), "{why}"),
        other => panic!("understated frame size: {other:?}"),
    }
    // 15 samples of 30 s each: a 7.5-minute clip, refused on its declared duration.
    let long = mp4_with(&track, |t| t.sample_ms = 30_000);
    assert!(matches!(
        decode_frames(&long, &limits),
        Err(VideoError::TooLong { .. })
    ));
    // Each is a retake with the reason the user hears.
    let engine = engine(&assets);
    for (bytes, reason) in [
        (cut, RetakeReason::UnsupportedMedia),
        (&garbage[..], RetakeReason::UnsupportedMedia),
        (&png[..], RetakeReason::UnsupportedMedia),
        (&huge[..], RetakeReason::VideoTooLong),
        (&long[..], RetakeReason::VideoTooLong),
    ] {
        assert_eq!(
            retake_reason(engine.check(bytes, BOTH, None).unwrap()),
            Some(reason)
        );
    }
}

fn mp4_with(
    track: &kyc_flow_vision_testkit::clips::EncodedTrack,
    change: impl FnOnce(&mut kyc_flow_vision_testkit::clips::EncodedTrack),
) -> Vec<u8> {
    let mut t = track.clone();
    change(&mut t);
    mux_mp4(&t).unwrap()
}
