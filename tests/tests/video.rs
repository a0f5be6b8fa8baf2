//! The `video_liveness` step (issue 12) end to end in the engine, with the local video-note
//! engine on real MP4 bytes: clips encoded in the test from `.assets/photos`
//! (`kyc_flow_vision_testkit::clips`), served by the in-memory media fetcher, analysed in the
//! analyses lane, the media deleted after. The other engines are scripted (the harness's), so
//! the card portrait handed to the video engine is a real photo set on the scripted reading.
//! Skipped (loudly) without the vision assets.

use kyc_flow::EngineBuilder;
use kyc_flow::engine::BuildError;
use kyc_flow_core::event::{Event, Inbound, InboundContent};
use kyc_flow_core::flow::{Flow, FlowSet, Step, VideoStep};
use kyc_flow_core::ports::EvidenceStore;
use kyc_flow_core::risk::RiskCode;
use kyc_flow_core::session::Decision;
use kyc_flow_core::{Catalog, EvidenceKey, RetakeReason, Side};
use kyc_flow_tests::Harness;
use kyc_flow_vision::assets::assets_for_test;
use kyc_flow_vision::face::{FaceConfig, FaceEngine, decode_photo};
use kyc_flow_vision::video::LocalVideoLiveness;
use kyc_flow_vision_testkit::clips::{ClipOptions, encode_mp4, face_frame, hold, mirrored};
use std::sync::Arc;

/// mx-ine with the video-note step after the selfie (as `examples/scripts/flows/
/// mx-ine-video-liveness.toml`, under the preset's id so the scripted reader answers).
fn video_flow() -> Flow {
    let mut flow = Flow::preset("mx-ine").expect("preset");
    let at = flow
        .steps
        .iter()
        .position(|s| matches!(s, Step::Selfie(_)))
        .expect("a selfie step")
        + 1;
    flow.steps
        .insert(at, Step::VideoLiveness(VideoStep::default()));
    flow.validate(&Catalog::builtin()).expect("valid");
    flow
}

fn media_id(event: &Event) -> String {
    match event {
        Event::Inbound(Inbound {
            content: InboundContent::Media { media, .. },
            ..
        }) => media.media_id.clone(),
        other => panic!("not media: {other:?}"),
    }
}

#[tokio::test]
async fn a_still_clip_is_retaken_and_a_head_turn_reaches_the_decision() {
    let Some(assets) =
        assets_for_test("a_still_clip_is_retaken_and_a_head_turn_reaches_the_decision")
    else {
        return;
    };
    let faces = Arc::new(FaceEngine::load(&assets, FaceConfig::default()).unwrap());
    let read = |n: &str| std::fs::read(assets.photo(n).unwrap()).unwrap();
    let frame = |n: &str| face_frame(&faces, &decode_photo(&read(n)).unwrap(), 480).unwrap();
    let (front, turned) = (frame("obama.jpg"), frame("obama3.jpg"));
    // 3 s at 15 fps: one pose held, then frontal → turned → the other way → frontal.
    let still = encode_mp4(
        &hold(std::slice::from_ref(&front), 45),
        &ClipOptions::default(),
    )
    .unwrap();
    let turn = encode_mp4(
        &hold(
            &[front.clone(), turned.clone(), mirrored(&turned), front],
            45,
        ),
        &ClipOptions::default(),
    )
    .unwrap();

    let mut h = Harness::new("mx-ine");
    h.flow = video_flow();
    // Without a video engine the flow is refused when the engine is built, not mid-session.
    let mut flows = FlowSet::new();
    flows.insert(h.flow.clone());
    let refused = EngineBuilder::new(h.sim.ports(), flows, Harness::routing(&h.flow)).build();
    assert!(
        matches!(refused, Err(BuildError::Capability { .. })),
        "{refused:?}"
    );
    let video = Arc::new(LocalVideoLiveness::new(faces.clone()));
    h.rewire(move |ports| ports.video = video);

    let hello = h.text("hola");
    h.send(hello).await;
    let consent = h.reply("consent.accept");
    h.send(consent).await;
    // The front's card portrait: another photo of the same man.
    let bytes = b"doc:front:video".to_vec();
    let mut reading = kyc_flow_testkit::simulate::accepted_reading(h.flow.document, Side::Front);
    reading.portrait = Some(read("obama2.jpg"));
    h.sim
        .documents
        .answer_side(bytes.clone(), Side::Front, reading);
    let doc = h.photo(bytes);
    h.send(doc).await;
    let back = h.document_photo(Side::Back);
    h.send(back).await;
    let selfie = h.selfie(true);
    h.send(selfie).await;

    let catalog = Catalog::builtin();
    let locale = h.flow.default_locale;
    let text = |key: &str| catalog.text(key, locale).unwrap().to_owned();
    assert_eq!(
        h.sent_texts().last(),
        Some(&text("capture.video")),
        "the video note is asked for after the selfie"
    );
    let id = h.engine.session_id(&h.key);
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    let portrait = EvidenceKey::portrait_of(&id, session.accepted_front_capture(&h.flow).unwrap());
    let kept = |h: &Harness| {
        let (evidence, portrait) = (h.sim.evidence.clone(), portrait.clone());
        async move { evidence.get(&portrait).await.unwrap().is_some() }
    };
    assert!(kept(&h).await, "the portrait waits for the video step");

    // A still clip: the engine sees no head turn, the user hears why.
    let before = h.sent_texts().len();
    let first = h.video(still);
    let first_id = media_id(&first);
    h.send(first).await;
    let said = h.sent_texts()[before..].to_vec();
    assert!(
        said.contains(&text(kyc_flow_core::catalog::video_retake_key(
            RetakeReason::NoHeadTurn
        ))),
        "{said:?}"
    );
    assert!(h.decisions().is_empty());
    assert!(
        !h.sim.media.contains(&first_id),
        "media deleted after analysis"
    );
    assert!(kept(&h).await, "a retake still needs the portrait");

    // The head turned both ways, the same man as the card: the session reaches its decision.
    let second = h.video(turn);
    let second_id = media_id(&second);
    h.send(second).await;
    let decisions = h.decisions();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(
        matches!(decisions[0], Decision::Approved { .. }),
        "{:?}",
        decisions[0]
    );
    assert!(
        !h.sim.media.contains(&second_id),
        "media deleted after analysis"
    );
    assert!(!kept(&h).await, "the portrait deleted after its last use");
    let session = h.engine.session(&h.key).await.unwrap().unwrap();
    let v = session.evidence.video.as_ref().expect("video evidence");
    eprintln!(
        "video evidence: {}/{} face frames, yaw {:.3}..{:.3}, frame similarity {:.3}, portrait {:?}",
        v.face_frames,
        v.frames,
        v.yaw_min,
        v.yaw_max,
        v.min_frame_similarity,
        v.portrait_similarity
    );
    assert_eq!(v.face_frames, v.frames);
    assert!(v.portrait_similarity.is_some(), "compared with the card");
    assert!(!v.certified);
    let codes: Vec<_> = session.evidence.risk.iter().map(|r| r.code).collect();
    assert!(
        codes.contains(&RiskCode::VideoNoHeadTurn),
        "the failed attempt stays evidence: {codes:?}"
    );
}
