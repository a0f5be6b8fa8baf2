//! Conformance suite for the vision ports: [`FaceMatcher`], [`LivenessChecker`] and
//! [`DocumentReader`].
//!
//! The core has no images, so the adapter's test supplies the samples (real photos for local
//! engines; whatever its fake vendor server recognises for HTTP adapters) and calls the
//! `run_*` functions on its own executor. Every check panics with a message naming the
//! behaviour that broke.
//!
//! The contract checked here, beyond the trait signatures:
//! - an engine declares the capability it implements ([`VisionCapabilities`]);
//! - a photo compared with itself matches, two photos of one person match, two people do not;
//!   scores and thresholds are finite and the comparison is symmetric up to a small tolerance;
//! - a photo without a face is a `no_face` retake; bytes that are not an image (empty,
//!   garbage, truncated) are a retake or a *permanent* typed error, never a panic and never a
//!   retryable error (retrying cannot fix the bytes);
//! - a liveness verdict has a score in [0, 1] and names its engine; it claims certification
//!   only when the engine declares a certified capability, and then says which one;
//! - the same input gives the same answer twice;
//! - a document reader declares every (document, side) it is asked to read and accepts a
//!   good photo with the expected field values.

use crate::evidence::{DocumentKind, DocumentOutcome, RetakeReason, Side};
use crate::ports::{
    DocumentImage, DocumentReader, FaceMatchOutcome, FaceMatcher, LivenessChecker, LivenessOutcome,
    PortError, PortErrorKind, VisionCapabilities,
};

/// How far `compare(a, b)` and `compare(b, a)` may differ.
pub const SYMMETRY_TOLERANCE: f32 = 0.05;

/// Photos for the face matcher suite (encoded images).
#[derive(Clone)]
pub struct FaceSamples {
    /// A photo of person A.
    pub person_a: Vec<u8>,
    /// Another photo of person A.
    pub person_a_again: Vec<u8>,
    /// A photo of person B.
    pub person_b: Vec<u8>,
    /// A valid image with no face in it.
    pub no_face: Vec<u8>,
}

impl std::fmt::Debug for FaceSamples {
    // Biometric samples: sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceSamples")
            .field("person_a", &self.person_a.len())
            .field("person_a_again", &self.person_a_again.len())
            .field("person_b", &self.person_b.len())
            .field("no_face", &self.no_face.len())
            .finish()
    }
}

/// Inputs that are not images at all, derived from a real image (its truncation).
pub fn garbage_inputs(real_image: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let cut = real_image.len().min(64);
    vec![
        ("empty", Vec::new()),
        ("text", b"this is not an image".to_vec()),
        ("zeros", vec![0u8; 4096]),
        ("truncated", real_image[..cut].to_vec()),
        // A JPEG start-of-image marker followed by junk.
        ("fake-jpeg", {
            let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
            v.extend(std::iter::repeat_n(0x5A, 512));
            v
        }),
    ]
}

fn assert_permanent(what: &str, err: &PortError) {
    assert!(
        !err.is_retryable(),
        "{what}: bad input must not be a retryable error, got {err}"
    );
    assert!(
        matches!(
            err.kind,
            PortErrorKind::Invalid | PortErrorKind::Unsupported | PortErrorKind::Internal
        ),
        "{what}: unexpected error kind {err}"
    );
}

async fn compared(m: &dyn FaceMatcher, a: &[u8], b: &[u8], what: &str) -> (f32, f32, bool) {
    match m.compare(a, b).await {
        Ok(FaceMatchOutcome::Compared(c)) => {
            assert!(
                c.score.is_finite() && c.threshold.is_finite(),
                "{what}: non-finite score or threshold"
            );
            assert_eq!(
                c.matched,
                c.score >= c.threshold,
                "{what}: `matched` must agree with score >= threshold"
            );
            assert!(!c.engine.is_empty(), "{what}: engine name is empty");
            (c.score, c.threshold, c.matched)
        }
        other => panic!("{what}: expected a comparison, got {other:?}"),
    }
}

/// Every face matcher check.
pub async fn run_face_matcher(m: &dyn FaceMatcher, s: &FaceSamples) {
    declares_face_match(m.capabilities());
    same_image_matches(m, s).await;
    same_person_matches(m, s).await;
    different_people_do_not_match(m, s).await;
    comparison_is_symmetric(m, s).await;
    comparison_is_repeatable(m, s).await;
    no_face_is_a_retake(m, s).await;
    garbage_is_a_retake_or_permanent_error(m, s).await;
}

/// The matcher says it can match faces.
pub fn declares_face_match(caps: VisionCapabilities) {
    assert!(caps.face_match, "a FaceMatcher must declare face_match");
}

/// A photo compared with itself matches.
pub async fn same_image_matches(m: &dyn FaceMatcher, s: &FaceSamples) {
    let (score, threshold, matched) = compared(m, &s.person_a, &s.person_a, "same image").await;
    assert!(matched, "same image: {score} below threshold {threshold}");
}

/// Two photos of one person match.
pub async fn same_person_matches(m: &dyn FaceMatcher, s: &FaceSamples) {
    let (score, threshold, matched) =
        compared(m, &s.person_a, &s.person_a_again, "same person").await;
    assert!(matched, "same person: {score} below threshold {threshold}");
}

/// Two people do not match.
pub async fn different_people_do_not_match(m: &dyn FaceMatcher, s: &FaceSamples) {
    let (score, threshold, matched) =
        compared(m, &s.person_a, &s.person_b, "different people").await;
    assert!(
        !matched,
        "different people: {score} at or above threshold {threshold}"
    );
}

/// `compare(a, b)` and `compare(b, a)` agree.
pub async fn comparison_is_symmetric(m: &dyn FaceMatcher, s: &FaceSamples) {
    for (a, b, what) in [
        (&s.person_a, &s.person_a_again, "same person"),
        (&s.person_a, &s.person_b, "different people"),
    ] {
        let (ab, _, mab) = compared(m, a, b, what).await;
        let (ba, _, mba) = compared(m, b, a, what).await;
        assert!(
            (ab - ba).abs() <= SYMMETRY_TOLERANCE,
            "{what}: compare(a,b)={ab} but compare(b,a)={ba}"
        );
        assert_eq!(
            mab, mba,
            "{what}: the decision depends on the argument order"
        );
    }
}

/// The same inputs give the same score.
pub async fn comparison_is_repeatable(m: &dyn FaceMatcher, s: &FaceSamples) {
    let (first, _, _) = compared(m, &s.person_a, &s.person_b, "repeat").await;
    let (second, _, _) = compared(m, &s.person_a, &s.person_b, "repeat").await;
    assert!(
        (first - second).abs() < 1e-4,
        "repeat: {first} then {second}"
    );
}

/// A photo without a face is a `no_face` retake, whichever side it is on.
pub async fn no_face_is_a_retake(m: &dyn FaceMatcher, s: &FaceSamples) {
    for (a, b, what) in [
        (&s.no_face, &s.person_a, "no face in selfie"),
        (&s.person_a, &s.no_face, "no face in portrait"),
    ] {
        match m.compare(a, b).await {
            Ok(FaceMatchOutcome::Retake { reason, .. }) => {
                assert_eq!(reason, RetakeReason::NoFace, "{what}")
            }
            other => panic!("{what}: expected a no_face retake, got {other:?}"),
        }
    }
}

/// Bytes that are not an image are a retake or a permanent error, on either side.
pub async fn garbage_is_a_retake_or_permanent_error(m: &dyn FaceMatcher, s: &FaceSamples) {
    for (name, bytes) in garbage_inputs(&s.person_a) {
        for (a, b, side) in [
            (&bytes, &s.person_a, "selfie"),
            (&s.person_a, &bytes, "portrait"),
        ] {
            let what = format!("{name} bytes as {side}");
            match m.compare(a, b).await {
                Ok(FaceMatchOutcome::Retake { .. }) => {}
                Ok(other) => panic!("{what}: expected a retake, got {other:?}"),
                Err(e) => assert_permanent(&what, &e),
            }
        }
    }
}

/// Photos for the liveness suite.
#[derive(Clone)]
pub struct LivenessSamples {
    /// A real, live selfie.
    pub live: Vec<u8>,
    /// A valid image with no face.
    pub no_face: Vec<u8>,
}

impl std::fmt::Debug for LivenessSamples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivenessSamples")
            .field("live", &self.live.len())
            .field("no_face", &self.no_face.len())
            .finish()
    }
}

/// Every liveness check.
pub async fn run_liveness(l: &dyn LivenessChecker, s: &LivenessSamples) {
    let caps = l.capabilities();
    assert!(caps.liveness, "a LivenessChecker must declare liveness");
    live_selfie_is_judged_honestly(l, s).await;
    liveness_is_repeatable(l, s).await;
    liveness_no_face_is_a_retake(l, s).await;
    liveness_garbage_is_a_retake_or_permanent_error(l, s).await;
}

/// A live selfie gets a well-formed verdict that claims no more certification than declared.
pub async fn live_selfie_is_judged_honestly(l: &dyn LivenessChecker, s: &LivenessSamples) {
    let caps = l.capabilities();
    match l.check(&s.live).await {
        Ok(LivenessOutcome::Judged(v)) => {
            assert!(
                (0.0..=1.0).contains(&v.score),
                "liveness score {} outside [0, 1]",
                v.score
            );
            assert!(!v.engine.is_empty(), "liveness verdict names no engine");
            assert!(v.live, "a live selfie was judged not live ({})", v.score);
            if v.certified {
                assert!(
                    caps.liveness_certified,
                    "verdict claims certification the engine does not declare"
                );
                assert!(
                    v.certification.as_deref().is_some_and(|c| !c.is_empty()),
                    "a certified verdict must say which certification"
                );
            }
        }
        other => panic!("live selfie: expected a verdict, got {other:?}"),
    }
}

/// The same selfie gives the same verdict.
pub async fn liveness_is_repeatable(l: &dyn LivenessChecker, s: &LivenessSamples) {
    let a = l.check(&s.live).await;
    let b = l.check(&s.live).await;
    match (a, b) {
        (Ok(LivenessOutcome::Judged(a)), Ok(LivenessOutcome::Judged(b))) => {
            assert_eq!(a.live, b.live, "liveness decision changed between calls");
            assert!(
                (a.score - b.score).abs() < 1e-4,
                "liveness score changed between calls"
            );
        }
        other => panic!("repeat: expected two verdicts, got {other:?}"),
    }
}

/// No face is a `no_face` retake.
pub async fn liveness_no_face_is_a_retake(l: &dyn LivenessChecker, s: &LivenessSamples) {
    match l.check(&s.no_face).await {
        Ok(LivenessOutcome::Retake { reason, .. }) => assert_eq!(reason, RetakeReason::NoFace),
        other => panic!("no face: expected a no_face retake, got {other:?}"),
    }
}

/// Not an image: retake or permanent error.
pub async fn liveness_garbage_is_a_retake_or_permanent_error(
    l: &dyn LivenessChecker,
    s: &LivenessSamples,
) {
    for (name, bytes) in garbage_inputs(&s.live) {
        match l.check(&bytes).await {
            Ok(LivenessOutcome::Retake { .. }) => {}
            Ok(other) => panic!("{name} bytes: expected a retake, got {other:?}"),
            Err(e) => assert_permanent(&format!("{name} bytes"), &e),
        }
    }
}

/// One photo a document reader must accept.
#[derive(Clone)]
pub struct DocumentCase {
    pub document: DocumentKind,
    pub side: Side,
    pub image: Vec<u8>,
    /// Fields that must be extracted with exactly these values (canonical names).
    pub expected_fields: Vec<(String, String)>,
}

impl std::fmt::Debug for DocumentCase {
    // Field values are PII: names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCase")
            .field("document", &self.document)
            .field("side", &self.side)
            .field("image", &self.image.len())
            .field(
                "expected_fields",
                &self
                    .expected_fields
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Every document reader check.
pub async fn run_document_reader(r: &dyn DocumentReader, cases: &[DocumentCase]) {
    assert!(
        !cases.is_empty(),
        "the document suite needs at least one case"
    );
    declares_documents(r, cases);
    reads_expected_fields(r, cases).await;
    document_garbage_is_a_retake_or_permanent_error(r, &cases[0]).await;
}

/// The reader declares every (document, side) of the cases.
pub fn declares_documents(r: &dyn DocumentReader, cases: &[DocumentCase]) {
    let caps = r.capabilities();
    for c in cases {
        assert!(
            caps.documents.contains(&(c.document, c.side)),
            "reader does not declare {:?} {:?}",
            c.document,
            c.side
        );
    }
}

/// Good photos are accepted with the expected values, field confidences in [0, 1].
pub async fn reads_expected_fields(r: &dyn DocumentReader, cases: &[DocumentCase]) {
    for c in cases {
        let what = format!("{:?} {:?}", c.document, c.side);
        let reading = r
            .read(DocumentImage {
                document: c.document,
                side: c.side,
                image: &c.image,
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let DocumentOutcome::Accepted { data } = reading.outcome else {
            panic!("{what}: expected acceptance, got {:?}", reading.outcome);
        };
        for (name, value) in &c.expected_fields {
            let field = data
                .fields
                .get(name)
                .unwrap_or_else(|| panic!("{what}: field {name} missing"));
            // Values are PII: say which field differs, not what it holds.
            assert!(
                &field.value == value,
                "{what}: field {name} has a wrong value"
            );
            assert!(
                (0.0..=1.0).contains(&field.confidence),
                "{what}: field {name} confidence outside [0, 1]"
            );
        }
    }
}

/// Not an image: retake or permanent error.
pub async fn document_garbage_is_a_retake_or_permanent_error(
    r: &dyn DocumentReader,
    case: &DocumentCase,
) {
    for (name, bytes) in garbage_inputs(&case.image) {
        let result = r
            .read(DocumentImage {
                document: case.document,
                side: case.side,
                image: &bytes,
            })
            .await;
        match result {
            Ok(reading) => assert!(
                matches!(reading.outcome, DocumentOutcome::Retake { .. }),
                "{name} bytes: expected a retake, got {:?}",
                reading.outcome
            ),
            Err(e) => assert_permanent(&format!("{name} bytes"), &e),
        }
    }
}
