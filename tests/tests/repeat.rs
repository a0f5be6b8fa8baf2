//! The 1:N repeat check end to end in the engine (`kyc_flow::repeats`): onboardings on the
//! mx-ine flow with its risk preset, the face index searched at the selfie and enrolled at the
//! decision. Every scenario runs on the in-memory index and on the Redis one (Redis at
//! `REDIS_URL`, else 127.0.0.1:6379; skipped loudly when unreachable, fails under `CI`).
//!
//! Embeddings come from a scripted [`RepeatFeatures`] (the face engines are scripted too);
//! `same_person_on_real_photos_is_seen_under_another_curp` runs the local face engine on the
//! real photos instead.

mod support;
use async_trait::async_trait;
use kyc_flow::ports::RepeatCheck;
use kyc_flow_core::face_index::sample::normalised;
use kyc_flow_core::face_index::{
    FaceIndex, InMemoryFaceIndex, IndexConfig, RepeatFeatures, SelfieFeatures, sample,
};
use kyc_flow_core::ports::PortResult;
use kyc_flow_core::risk::{RiskCode, RiskPolicy};
use kyc_flow_core::session::{Decision, Session};
use kyc_flow_core::{SessionKey, Side, UserRef};
use kyc_flow_tests::Harness;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CURP_A: &str = "HELG900514MDFRPD05";
const CURP_B: &str = "PEXJ850101HDFRRN09";

/// Embeddings and hashes by the photo's bytes.
#[derive(Debug, Default)]
struct ScriptedFeatures {
    faces: Mutex<HashMap<Vec<u8>, Vec<f32>>>,
    hashes: Mutex<HashMap<Vec<u8>, u64>>,
    calls: std::sync::atomic::AtomicUsize,
}

impl ScriptedFeatures {
    fn hash_of(&self, image: &[u8]) -> u64 {
        if let Some(h) = self.hashes.lock().unwrap().get(image) {
            return *h;
        }
        // Distinct photos: unrelated 64-bit values (≈ 32 bits apart, far above the 8-bit cut).
        let mut s = std::collections::hash_map::DefaultHasher::new();
        image.hash(&mut s);
        s.finish()
    }
}

#[async_trait]
impl RepeatFeatures for ScriptedFeatures {
    async fn selfie(&self, image: &[u8]) -> PortResult<Option<SelfieFeatures>> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let face = self.faces.lock().unwrap().get(image).cloned();
        Ok(face.map(|embedding| SelfieFeatures {
            embedding,
            image_hash: self.hash_of(image),
        }))
    }
    async fn image_hash(&self, image: &[u8]) -> PortResult<Option<u64>> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(self.hash_of(image)))
    }
}

fn unit(seed: u64) -> Vec<f32> {
    sample::unit(seed, 512)
}

/// Another selfie of the same person: cosine ≈ 0.8 with `face`.
fn same_person(face: &[f32], seed: u64) -> Vec<f32> {
    let noise = unit(seed);
    normalised(
        face.iter()
            .zip(&noise)
            .map(|(a, b)| a * 0.8 + b * 0.6)
            .collect(),
    )
}

/// A harness on mx-ine with the mx-ine risk preset, and the features behind its index.
struct Rig {
    h: Harness,
    features: Arc<ScriptedFeatures>,
    index: Option<Arc<dyn FaceIndex>>,
    selfies: u32,
}

impl Rig {
    fn new(index: Option<Arc<dyn FaceIndex>>) -> Self {
        let mut h = Harness::new("mx-ine");
        h.flow.decision.risk = Some(RiskPolicy::preset("mx-ine"));
        let features = Arc::new(ScriptedFeatures::default());
        let (i, f) = (index.clone(), features.clone());
        h.rewire(move |ports| {
            ports.repeats = i.map(|index| RepeatCheck { index, features: f });
        });
        Self {
            h,
            features,
            index,
            selfies: 0,
        }
    }

    /// A whole onboarding by `phone` with `curp` on the card and a selfie showing `face`
    /// (whose photo hashes to `hash` when given); the session at its end.
    async fn onboard(
        &mut self,
        phone: &str,
        curp: &str,
        face: Vec<f32>,
        hash: Option<u64>,
    ) -> Session {
        self.h.key = SessionKey::new("t", "100", UserRef::Phone(phone.into()));
        let hello = self.h.text("hola");
        self.h.send(hello).await;
        let consent = self.h.reply("consent.accept");
        self.h.send(consent).await;
        let front = self.h.document_photo_with(Side::Front, &[("curp", curp)]);
        self.h.send(front).await;
        let back = self.h.document_photo(Side::Back);
        self.h.send(back).await;
        self.selfies += 1;
        let bytes = format!("selfie-{phone}-{}", self.selfies).into_bytes();
        self.features
            .faces
            .lock()
            .unwrap()
            .insert(bytes.clone(), face);
        if let Some(hash) = hash {
            self.features
                .hashes
                .lock()
                .unwrap()
                .insert(bytes.clone(), hash);
        }
        self.h.script_selfie(&bytes, true);
        let selfie = self.h.photo(bytes);
        self.h.send(selfie).await;
        let session = self.h.engine.session(&self.h.key).await.unwrap().unwrap();
        assert!(session.decision.is_some(), "decided: {:?}", session.state);
        session
    }

    async fn records(&self) -> usize {
        self.index.as_ref().unwrap().record_count().await.unwrap()
    }
}

fn repeat_codes(s: &Session) -> Vec<RiskCode> {
    let mut codes: Vec<RiskCode> = s
        .evidence
        .risk
        .iter()
        .map(|r| r.code)
        .filter(|c| {
            matches!(
                c,
                RiskCode::FaceSeenUnderOtherIdentity
                    | RiskCode::DocumentSeenWithOtherFace
                    | RiskCode::ImageResubmitted
            )
        })
        .collect();
    codes.sort();
    codes
}

fn is_approved(s: &Session) -> bool {
    matches!(s.decision, Some(Decision::Approved { .. }))
}

/// (a) The same face under two different CURPs: the second carries
/// `face_seen_under_other_identity` and goes to review; both are enrolled.
async fn same_face_under_another_curp(index: Arc<dyn FaceIndex>) {
    let mut r = Rig::new(Some(index));
    let face = unit(1);
    let first = r.onboard("5215500000001", CURP_A, face.clone(), None).await;
    assert!(is_approved(&first), "{:?}", first.decision);
    assert_eq!(repeat_codes(&first), []);
    assert_eq!(r.records().await, 1, "an approved session is enrolled");

    let second = r
        .onboard("5215500000002", CURP_B, same_person(&face, 7), None)
        .await;
    assert_eq!(
        repeat_codes(&second),
        [RiskCode::FaceSeenUnderOtherIdentity]
    );
    assert!(
        matches!(second.decision, Some(Decision::ManualReview { .. })),
        "{:?}",
        second.decision
    );
    assert_eq!(r.records().await, 2, "a session sent to review is enrolled");
    // The decision notice lists the code.
    let notice = r.h.sim.decisions.delivered().pop().unwrap();
    let json = serde_json::to_string(&notice.evidence).unwrap();
    assert!(json.contains("face_seen_under_other_identity"), "{json}");
}

/// (b) One CURP with another face: `document_seen_with_other_face`, rejected under the mx-ine
/// preset, and the rejected session is not enrolled.
async fn same_curp_with_another_face(index: Arc<dyn FaceIndex>) {
    let mut r = Rig::new(Some(index));
    let first = r.onboard("5215500000001", CURP_A, unit(1), None).await;
    assert!(is_approved(&first), "{:?}", first.decision);
    let second = r.onboard("5215500000002", CURP_A, unit(2), None).await;
    assert_eq!(repeat_codes(&second), [RiskCode::DocumentSeenWithOtherFace]);
    assert!(
        matches!(second.decision, Some(Decision::Rejected { .. })),
        "{:?}",
        second.decision
    );
    assert_eq!(r.records().await, 1, "a rejection is never enrolled");
}

/// (c) The same selfie photo sent again (another face embedding, another CURP):
/// `image_resubmitted` only.
async fn same_image_resubmitted(index: Arc<dyn FaceIndex>) {
    let mut r = Rig::new(Some(index));
    let photo = 0x5EED_F00D_CAFE_BEEF;
    let first = r
        .onboard("5215500000001", CURP_A, unit(1), Some(photo))
        .await;
    assert!(is_approved(&first));
    // Two bits off: a re-encoded copy.
    let second = r
        .onboard("5215500000002", CURP_B, unit(3), Some(photo ^ 0b101))
        .await;
    assert_eq!(repeat_codes(&second), [RiskCode::ImageResubmitted]);
    assert!(
        matches!(second.decision, Some(Decision::ManualReview { .. })),
        "{:?}",
        second.decision
    );
}

/// (d) Erasure on request forgets the enrolled record: a later session with the same face
/// under another CURP no longer hits.
async fn erasure_forgets(index: Arc<dyn FaceIndex>) {
    let mut r = Rig::new(Some(index));
    let face = unit(1);
    let first = r.onboard("5215500000001", CURP_A, face.clone(), None).await;
    assert!(is_approved(&first));
    assert_eq!(r.records().await, 1);
    let erased = r.h.engine.erase(&r.h.key, "erasure.request").await.unwrap();
    assert_eq!(erased.face_records, 1, "{erased:?}");
    assert_eq!(r.records().await, 0);
    let second = r
        .onboard("5215500000002", CURP_B, same_person(&face, 7), None)
        .await;
    assert_eq!(repeat_codes(&second), []);
    assert!(is_approved(&second), "{:?}", second.decision);
}

/// The retention erasure of a decided session leaves its record in the index (the index has
/// its own retention), and the timers loop's purge removes it once that has run out.
async fn retention_keeps_the_record_until_the_index_purges_it(index: Arc<dyn FaceIndex>) {
    let mut r = Rig::new(Some(index));
    let face = unit(1);
    r.onboard("5215500000001", CURP_A, face.clone(), None).await;
    // The session's own retention (30 days) erases it; the index keeps the face.
    let later = |r: &Rig, d: u64| {
        kyc_flow::Clock::now(r.h.clock.as_ref()).plus(Duration::from_secs(d * 24 * 3600))
    };
    r.h.clock.set(later(&r, 31));
    r.h.engine.fire_due_timers().await.unwrap();
    r.h.engine.run_until_idle("test").await.unwrap();
    assert!(
        r.h.engine.session(&r.h.key).await.unwrap().is_none(),
        "erased"
    );
    assert_eq!(r.records().await, 1);
    let second = r
        .onboard("5215500000002", CURP_B, same_person(&face, 7), None)
        .await;
    assert_eq!(
        repeat_codes(&second),
        [RiskCode::FaceSeenUnderOtherIdentity]
    );
    // Past the index's retention (180 days) both records are purged.
    r.h.clock.set(later(&r, 181));
    assert_eq!(r.h.engine.purge_expired_faces().await.unwrap(), 2);
    assert_eq!(r.records().await, 0);
}

macro_rules! on_both_indexes {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(Arc::new(InMemoryFaceIndex::default())).await;
                }
            )*
        }
        mod on_redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((storage, _keys)) = support::redis_storage(stringify!($name)).await else {
                        return;
                    };
                    let index =
                        kyc_flow_redis::RedisFaceIndex::new(&storage, IndexConfig::default());
                    super::$name(Arc::new(index)).await;
                }
            )*
        }
    };
}

on_both_indexes!(
    same_face_under_another_curp,
    same_curp_with_another_face,
    same_image_resubmitted,
    erasure_forgets,
    retention_keeps_the_record_until_the_index_purges_it,
);

/// (e) No index configured: the same face under two CURPs is two clean approvals, with no
/// repeat code and no repeat audit line.
#[tokio::test]
async fn without_an_index_nothing_changes() {
    let mut r = Rig::new(None);
    let face = unit(1);
    let first = r.onboard("5215500000001", CURP_A, face.clone(), None).await;
    let second = r.onboard("5215500000002", CURP_A, face, None).await;
    for s in [&first, &second] {
        assert!(is_approved(s), "{:?}", s.decision);
        assert_eq!(repeat_codes(s), []);
    }
    assert_eq!(
        r.features.calls.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no photo hashed, no selfie embedded"
    );
}

/// The local face engine on real photos: obama.jpg approved under one CURP, obama2.jpg (another
/// photo of the same man) under another is sent to review as a repeat face.
#[tokio::test]
async fn same_person_on_real_photos_is_seen_under_another_curp() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test(
        "same_person_on_real_photos_is_seen_under_another_curp",
    ) else {
        return;
    };
    let engine = Arc::new(
        kyc_flow_vision::face::FaceEngine::load(
            &assets,
            kyc_flow_vision::face::FaceConfig::default(),
        )
        .unwrap(),
    );
    let local = kyc_flow_vision::repeat::LocalRepeatFeatures::new(engine);
    let read = |n: &str| std::fs::read(assets.photo(n).unwrap()).unwrap();
    // Script the features with what the local engine computes from the real photos.
    let mut faces = Vec::new();
    for name in ["obama.jpg", "obama2.jpg"] {
        let f = local.selfie(&read(name)).await.unwrap().expect("a face");
        faces.push(f);
    }
    let mut r = Rig::new(Some(Arc::new(InMemoryFaceIndex::default())));
    let first = r
        .onboard(
            "5215500000001",
            CURP_A,
            faces[0].embedding.clone(),
            Some(faces[0].image_hash),
        )
        .await;
    assert!(is_approved(&first), "{:?}", first.decision);
    let second = r
        .onboard(
            "5215500000002",
            CURP_B,
            faces[1].embedding.clone(),
            Some(faces[1].image_hash),
        )
        .await;
    assert_eq!(
        repeat_codes(&second),
        [RiskCode::FaceSeenUnderOtherIdentity]
    );
    assert!(matches!(
        second.decision,
        Some(Decision::ManualReview { .. })
    ));
}
