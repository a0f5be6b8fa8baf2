//! A scripted happy path shared by the size test and the benchmark: the events a runtime would
//! feed the machine for one complete onboarding, engines answering "pass".

#![allow(dead_code)]

use kyc_flow_core::ports::MediaRef;
use kyc_flow_core::{
    Catalog, Command, CrossCheck, DocumentData, DocumentOutcome, Event, ExtractedField,
    FaceComparison, FieldSource, Flow, Inbound, InboundContent, LivenessVerdict, MediaKind,
    PhoneNumberId, RegistryResult, RegistryStatus, SelfieOutcome, Session, SessionKey, Side,
    Timestamp, UserRef, start, step,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// 2026-03-02T15:00:00Z.
pub const T0: i64 = 1_772_463_600_000;

/// A realistic key: tenant, business number id and a business-scoped user id.
pub fn key() -> SessionKey {
    SessionKey::new(
        "acme-bank",
        "106540352242922",
        UserRef::Bsuid("MX.1a2b3c4d5e6f7a8b9c0d".into()),
    )
}

fn f(v: &str, confidence: f32, source: FieldSource) -> ExtractedField {
    ExtractedField {
        value: v.into(),
        confidence,
        source,
    }
}

/// What a reader extracts from each side of an INE (a made-up person).
pub fn ine_side(side: Side) -> DocumentData {
    let p = FieldSource::Printed;
    let rows = match side {
        Side::Front => vec![
            ("surnames", f("GARCIA LOPEZ", 0.97, p)),
            ("given_names", f("ANA MARIA", 0.98, p)),
            ("birth_date", f("1990-05-14", 0.99, p)),
            ("sex", f("F", 0.99, p)),
            ("curp", f("GALA900514MDFRPN07", 0.96, p)),
            ("voter_key", f("GRLPAN90051409M700", 0.93, p)),
            ("expiry_date", f("2031-12-31", 0.99, p)),
        ],
        Side::Back => vec![
            ("cic", f("IDMEX2345678901", 0.99, FieldSource::Mrz)),
            ("citizen_id", f("1234567890123", 0.99, FieldSource::Mrz)),
            ("birth_date", f("1990-05-14", 0.99, FieldSource::Mrz)),
        ],
    };
    DocumentData {
        fields: rows
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
        checks: vec![CrossCheck {
            name: "mrz_check_digits".into(),
            passed: true,
            detail: String::new(),
        }],
        portrait_found: side == Side::Front,
    }
}

pub fn media(n: u32) -> MediaRef {
    MediaRef {
        phone_number_id: PhoneNumberId("106540352242922".into()),
        media_id: format!("{}", 1_204_567_890_123_456u64 + u64::from(n)),
        mime_type: Some("image/jpeg".into()),
        sha256: Some("Y2UzZjU5ZGQ0ZjVhNGVkZjg2YzA2NmY5ZTVkYzE3ZjE5ZGQ0ZjVhNGVkZjg2".into()),
    }
}

/// The engines' answer to a command, if it has one.
fn answer(c: &Command, now: Timestamp) -> Option<Event> {
    match c {
        Command::AnalyseDocument { capture, side, .. } => Some(Event::DocumentAnalysed {
            capture: *capture,
            side: *side,
            outcome: DocumentOutcome::Accepted {
                data: ine_side(*side),
            },
        }),
        Command::AnalyseSelfie { capture, .. } => Some(Event::SelfieAnalysed {
            capture: *capture,
            outcome: SelfieOutcome::Analysed {
                face: FaceComparison {
                    score: 0.83,
                    threshold: 0.6,
                    matched: true,
                    engine: "local-arcface".into(),
                },
                liveness: LivenessVerdict {
                    live: true,
                    score: 0.97,
                    engine: "vendor:acme".into(),
                    certified: true,
                    certification: Some("iBeta PAD Level 2".into()),
                    signals: Vec::new(),
                },
                signals: Vec::new(),
            },
        }),
        Command::QueryRegistry { request, query } => Some(Event::RegistryAnswered {
            request: *request,
            result: RegistryResult {
                registry: query.registry.clone(),
                status: RegistryStatus::Valid,
                raw_label: Some("Vigente".into()),
                matched_fields: query.fields.keys().cloned().collect(),
                source: "gateway".into(),
                requested_at: now,
                answered_at: now,
            },
        }),
        _ => None,
    }
}

/// Every event of one complete `mx-ine` onboarding, with the time each is applied, and the
/// session as it stood when the selfie was asked for (mid-flow: consent, both sides done).
pub fn happy_path(flow: &Flow, catalog: &Catalog) -> (Vec<(Event, Timestamp)>, Session) {
    let mut session = start(
        flow,
        key(),
        "01JDQ8ZC6N2X4V7K9M3P5R8T1W".into(),
        None,
        Timestamp(T0),
    );
    let mut now = Timestamp(T0);
    let mut log = Vec::new();
    let mut mid = None;
    let user = [
        InboundContent::Text {
            body: "Hola".into(),
        },
        InboundContent::Reply {
            id: "consent.accept".into(),
            title: "Acepto".into(),
        },
        InboundContent::Media {
            kind: MediaKind::Image,
            media: media(1),
            caption: None,
        },
        InboundContent::Media {
            kind: MediaKind::Image,
            media: media(2),
            caption: None,
        },
        InboundContent::Media {
            kind: MediaKind::Image,
            media: media(3),
            caption: None,
        },
    ];
    for (i, content) in user.into_iter().enumerate() {
        if i == 4 {
            mid = Some(session.clone());
        }
        now = now.plus(Duration::from_secs(15));
        let mut queue = VecDeque::from([Event::Inbound(Inbound {
            message_id: format!("wamid.HBgNNTIxNTU1MTIzNDU2NxUCABIYFjNFQjBDNzc0QTdGMkE5{i:02}AA=="),
            at: now,
            content,
            forwarded: false,
            phone: None,
        })]);
        while let Some(e) = queue.pop_front() {
            let t = step(flow, catalog, session, &e, now);
            session = t.session;
            queue.extend(t.commands.iter().filter_map(|c| answer(c, now)));
            log.push((e, now));
        }
    }
    assert!(session.is_terminal(), "the happy path ends with a decision");
    (log, mid.expect("mid-flow session"))
}
