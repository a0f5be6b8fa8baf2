//! 1:N repeats on the real public-domain photos: the same person enrolling under another
//! identity is found, another person is not, and a resent photo is found by its hash.
#![cfg(feature = "local")]

use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{FaceIndex, InMemoryFaceIndex};
use kyc_flow_core::risk::RiskCode;
use kyc_flow_vision::assets::assets_for_test;
use kyc_flow_vision::face::{FaceConfig, FaceEngine, decode_photo};
use kyc_flow_vision::repeat::{record_from, selfie_probe};
use kyc_flow_vision_testkit::face_eval::jpeg;

#[tokio::test]
async fn same_person_under_two_identities_and_a_resent_photo_are_found() {
    let Some(assets) = assets_for_test("same_person_under_two_identities") else {
        return;
    };
    let engine = FaceEngine::load(&assets, FaceConfig::default()).unwrap();
    let read = |n: &str| std::fs::read(assets.photo(n).unwrap()).unwrap();
    let now = Timestamp::from_secs(1_772_463_600);
    let index = InMemoryFaceIndex::default();
    let first = selfie_probe(
        &engine,
        &read("obama.jpg"),
        &[],
        "s1",
        Some("id-1".into()),
        now,
    )
    .unwrap()
    .unwrap();
    index.enroll(record_from(&first)).await.unwrap();

    // Another photo of the same man, another identity.
    let p = selfie_probe(
        &engine,
        &read("obama2.jpg"),
        &[],
        "s2",
        Some("id-2".into()),
        now,
    )
    .unwrap()
    .unwrap();
    let f = index.search(&p).await.unwrap();
    assert_eq!(f.face_other_identity.len(), 1, "{f:?}");
    assert!(f.image_resubmitted.is_empty());
    let codes: Vec<RiskCode> = f.risk_signals().iter().map(|s| s.code).collect();
    assert_eq!(codes, [RiskCode::FaceSeenUnderOtherIdentity]);

    // Another man claiming the first identity: the identity seen with another face.
    let p = selfie_probe(
        &engine,
        &read("biden.jpg"),
        &[],
        "s3",
        Some("id-1".into()),
        now,
    )
    .unwrap()
    .unwrap();
    let f = index.search(&p).await.unwrap();
    assert!(f.face_other_identity.is_empty());
    assert_eq!(f.identity_other_face.len(), 1);

    // The first photo re-encoded and sent again in a new session.
    let img = decode_photo(&read("obama.jpg")).unwrap();
    let p = selfie_probe(
        &engine,
        &jpeg(&img, 70),
        &[],
        "s4",
        Some("id-1".into()),
        now,
    )
    .unwrap()
    .unwrap();
    let f = index.search(&p).await.unwrap();
    assert_eq!(f.image_resubmitted.len(), 1);
    assert!(f.image_resubmitted[0].score <= 4.0);
}
