//! Embed the engine with a custom step sequence: a passport (one side, no registry), a selfie
//! whose liveness must be certified, and Portuguese messages. Scripted engines stand in for the
//! vision models so the example runs anywhere: `cargo run -p kyc-flow-examples --bin custom_flow`.

use kyc_flow::{EngineBuilder, Ports, Routing};
use kyc_flow_core::event::{Event, Inbound, InboundContent, MediaKind};
use kyc_flow_core::flow::{
    ConsentStep, DocumentStep, Flow, FlowSet, SelfieStep, Step, UncertifiedLiveness,
};
use kyc_flow_core::ports::{FaceMatchOutcome, LivenessOutcome, MediaRef};
use kyc_flow_core::{
    Country, DocumentKind, FaceComparison, LivenessVerdict, Locale, SessionKey, Side, UserRef,
};
use kyc_flow_testkit::sim::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // 1. The flow, built in code: consent → passport photo → selfie → decision.
    let flow = Flow {
        id: "br-passport".into(),
        version: 1,
        country: Country::new("BR"),
        document: DocumentKind::Passport,
        default_locale: Locale::PtBr,
        reminders: Default::default(),
        decision: Default::default(),
        steps: vec![
            Step::Consent(ConsentStep::default()),
            Step::Document(DocumentStep {
                max_attempts: 2,
                ..DocumentStep::new(Side::Front)
            }),
            Step::Selfie(SelfieStep {
                uncertified_liveness: UncertifiedLiveness::Reject,
                ..Default::default()
            }),
            Step::Decision,
        ],
    };
    let mut flows = FlowSet::new();
    flows.insert(flow);

    // 2. The ports: in-memory storage, a transport that records, scripted engines.
    let sim = SimPorts::new([]);
    let (transport, media, decisions) = (&sim.transport, &sim.media, &sim.decisions);
    let (reader, faces, liveness) = (&sim.documents, &sim.faces, &sim.liveness);
    let ports: Ports = sim.ports();
    let engine = EngineBuilder::new(ports, flows, Routing::single("br-passport")).build()?;

    // 3. A conversation: hello, consent, a passport photo, a selfie from a certified vendor.
    let key = SessionKey::new(
        "acme-bank",
        "100200300",
        UserRef::Phone("5511999990000".into()),
    );
    let selfie = b"selfie".to_vec();
    faces.answer(
        selfie.clone(),
        FaceMatchOutcome::Compared(FaceComparison {
            score: 0.81,
            threshold: 0.45,
            matched: true,
            engine: "vendor".into(),
        }),
    );
    liveness.answer(
        selfie.clone(),
        LivenessOutcome::Judged(LivenessVerdict {
            live: true,
            score: 0.99,
            engine: "vendor".into(),
            certified: true,
            certification: Some("iBeta PAD Level 2".into()),
            signals: Vec::new(),
        }),
    );
    reader.answer(
        b"passport".to_vec(),
        kyc_flow_testkit::simulate::accepted_reading(DocumentKind::Passport, Side::Front),
    );
    let photo = |bytes: &[u8]| InboundContent::Media {
        kind: MediaKind::Image,
        media: MediaRef {
            phone_number_id: key.phone_number_id.clone(),
            media_id: media.add(bytes.to_vec()),
            mime_type: None,
            sha256: None,
        },
        caption: None,
    };
    let turns = [
        InboundContent::Text { body: "Oi".into() },
        InboundContent::Reply {
            id: "consent.accept".into(),
            title: "Aceito".into(),
        },
        photo(b"passport"),
        photo(&selfie),
    ];
    for (i, content) in turns.into_iter().enumerate() {
        let event = Event::Inbound(Inbound {
            message_id: format!("wamid.{i}"),
            at: engine.now(),
            content,
            forwarded: false,
            phone: None,
        });
        engine.submit(key.clone(), event).await?;
        engine.run_until_idle("example").await?;
    }

    // 4. What the user saw, and what the bank's backend received.
    for sent in transport.sent() {
        println!(
            "bot: {}",
            kyc_flow_testkit::simulate::body_text(&sent.message.body).0
        );
    }
    for notice in decisions.delivered() {
        println!(
            "decision: {}",
            kyc_flow_testkit::simulate::decision_text(&notice.decision)
        );
    }
    Ok(())
}
