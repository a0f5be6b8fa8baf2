//! Shared helpers of the cross-crate integration tests (`tests/tests/*.rs`).

pub mod load;

use kyc_flow::{Engine, EngineBuilder, ManualClock, Routing};
use kyc_flow_core::event::{Event, Inbound, InboundContent, MediaKind};
use kyc_flow_core::flow::{Flow, FlowSet};
use kyc_flow_core::ports::{FaceMatchOutcome, LivenessOutcome, MediaRef};
use kyc_flow_core::{FaceComparison, LivenessVerdict, SessionKey, Side, Timestamp, UserRef};
use kyc_flow_testkit::sim::SimPorts;
use std::sync::Arc;

/// An engine on in-memory ports and scripted engines, with a hand-driven clock.
#[derive(Debug)]
pub struct Harness {
    pub sim: SimPorts,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub flow: Flow,
    pub key: SessionKey,
    next_message: u32,
}

impl Harness {
    /// A harness on preset `flow`.
    pub fn new(flow: &str) -> Self {
        let flow = Flow::preset(flow).expect("preset");
        let sim = SimPorts::new(flow.registries());
        let clock = Arc::new(ManualClock::new(Timestamp(1_768_489_200_000)));
        let engine = Self::engine_on(&sim, &flow, clock.clone());
        Self {
            sim,
            engine,
            clock,
            key: SessionKey::new("t", "100", UserRef::Phone("5215500000001".into())),
            flow,
            next_message: 0,
        }
    }

    /// Another engine (its own locks, as another process would have) on the same ports.
    pub fn engine_on(sim: &SimPorts, flow: &Flow, clock: Arc<ManualClock>) -> Engine {
        let mut flows = FlowSet::new();
        flows.insert(flow.clone());
        EngineBuilder::new(sim.ports(), flows, Self::routing(flow))
            .clock(clock)
            .build()
            .expect("engine")
    }

    /// Every conversation of tenant `t` on `flow`.
    pub fn routing(flow: &Flow) -> Routing {
        Routing {
            tenant: "t".into(),
            ..Routing::single(flow.id.clone())
        }
    }

    /// The next inbound message id.
    pub fn message_id(&mut self) -> String {
        self.next_message += 1;
        format!("wamid.test.{}", self.next_message)
    }

    /// An inbound event with `content`.
    pub fn inbound(&mut self, content: InboundContent) -> Event {
        Event::Inbound(Inbound {
            message_id: self.message_id(),
            at: self.clock.now_ts(),
            content,
            forwarded: false,
            phone: None,
        })
    }

    /// A text message event.
    pub fn text(&mut self, body: &str) -> Event {
        self.inbound(InboundContent::Text { body: body.into() })
    }

    /// A button reply event.
    pub fn reply(&mut self, id: &str) -> Event {
        self.inbound(InboundContent::Reply {
            id: id.into(),
            title: id.into(),
        })
    }

    /// A photo whose scripted reading is an accepted `side`.
    pub fn document_photo(&mut self, side: Side) -> Event {
        self.document_photo_with(side, &[])
    }

    /// A photo whose scripted reading is an accepted `side` with `fields` overriding the
    /// SPECIMEN values.
    pub fn document_photo_with(&mut self, side: Side, fields: &[(&str, &str)]) -> Event {
        let bytes = format!("doc:{side:?}:{}", self.next_message).into_bytes();
        let mut reading = kyc_flow_testkit::simulate::accepted_reading(self.flow.document, side);
        if let kyc_flow_core::DocumentOutcome::Accepted { data } = &mut reading.outcome {
            for (k, v) in fields {
                data.fields.insert(
                    (*k).to_owned(),
                    kyc_flow_core::ExtractedField {
                        value: (*v).to_owned(),
                        confidence: 0.97,
                        source: kyc_flow_core::FieldSource::Printed,
                    },
                );
            }
        }
        self.sim.documents.answer_side(bytes.clone(), side, reading);
        self.photo(bytes)
    }

    /// Hello, consent, both card sides (SPECIMEN fields overridden by `front`/`back`) and a
    /// matching, live selfie (`certified` or not), each processed until idle.
    pub async fn onboard(
        &mut self,
        front: &[(&str, &str)],
        back: &[(&str, &str)],
        certified: bool,
    ) {
        let hello = self.text("hola");
        self.send(hello).await;
        let consent = self.reply("consent.accept");
        self.send(consent).await;
        let f = self.document_photo_with(Side::Front, front);
        self.send(f).await;
        let b = self.document_photo_with(Side::Back, back);
        self.send(b).await;
        let s = self.selfie(certified);
        self.send(s).await;
    }

    /// Replace the engine by one whose ports are changed by `change` (same stores).
    pub fn rewire(&mut self, change: impl FnOnce(&mut kyc_flow::Ports)) {
        let mut ports = self.sim.ports();
        change(&mut ports);
        let mut flows = FlowSet::new();
        flows.insert(self.flow.clone());
        self.engine = EngineBuilder::new(ports, flows, Self::routing(&self.flow))
            .clock(self.clock.clone())
            .build()
            .expect("engine");
    }

    /// A selfie that matches and is live (uncertified unless `certified`).
    pub fn selfie(&mut self, certified: bool) -> Event {
        let bytes = format!("selfie:{}", self.next_message).into_bytes();
        self.script_selfie(&bytes, certified);
        self.photo(bytes)
    }

    /// Scripts the engines to read `bytes` as a selfie that matches and is live (uncertified
    /// unless `certified`); read as a card (sent before its step), it is a face and no document.
    pub fn script_selfie(&self, bytes: &[u8], certified: bool) {
        self.sim.documents.face(bytes.to_vec());
        self.sim.faces.answer(
            bytes.to_vec(),
            FaceMatchOutcome::Compared(FaceComparison {
                score: 0.8,
                threshold: 0.45,
                matched: true,
                engine: "scripted".into(),
            }),
        );
        self.sim.liveness.answer(
            bytes.to_vec(),
            LivenessOutcome::Judged(LivenessVerdict {
                live: true,
                score: 0.98,
                engine: "scripted".into(),
                certified,
                certification: certified.then(|| "iBeta PAD Level 2".into()),
                signals: Vec::new(),
            }),
        );
    }

    /// A photo with these bytes.
    pub fn photo(&mut self, bytes: Vec<u8>) -> Event {
        let media_id = self.sim.media.add(bytes);
        let media = MediaRef {
            phone_number_id: self.key.phone_number_id.clone(),
            media_id,
            mime_type: Some("image/jpeg".into()),
            sha256: None,
        };
        self.inbound(InboundContent::Media {
            kind: MediaKind::Image,
            media,
            caption: None,
        })
    }

    /// A video note (a `video` message, MP4) with these bytes.
    pub fn video(&mut self, bytes: Vec<u8>) -> Event {
        let media_id = self.sim.media.add(bytes);
        let media = MediaRef {
            phone_number_id: self.key.phone_number_id.clone(),
            media_id,
            mime_type: Some("video/mp4".into()),
            sha256: None,
        };
        self.inbound(InboundContent::Media {
            kind: MediaKind::Video,
            media,
            caption: None,
        })
    }

    /// Submit an event and process until idle.
    pub async fn send(&self, event: Event) {
        self.engine
            .submit(self.key.clone(), event)
            .await
            .expect("submit");
        self.engine.run_until_idle("test").await.expect("run");
    }

    /// Move the clock forward a minute at a time, firing timers on the way.
    pub async fn advance(&self, d: std::time::Duration) {
        let target = self.clock.now_ts().plus(d);
        while self.clock.now_ts() < target {
            let next = self
                .clock
                .now_ts()
                .plus(std::time::Duration::from_secs(60))
                .min(target);
            self.clock.set(next);
            self.engine.run_until_idle("test").await.expect("run");
        }
    }

    /// The decisions delivered so far.
    pub fn decisions(&self) -> Vec<kyc_flow_core::session::Decision> {
        self.sim
            .decisions
            .delivered()
            .into_iter()
            .map(|n| n.decision)
            .collect()
    }

    /// Texts of everything sent so far, in order.
    pub fn sent_texts(&self) -> Vec<String> {
        self.sim
            .transport
            .sent()
            .iter()
            .map(|s| kyc_flow_testkit::simulate::body_text(&s.message.body).0)
            .collect()
    }
}

/// Read the manual clock as a timestamp.
pub trait NowTs {
    /// Now.
    fn now_ts(&self) -> Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        kyc_flow::Clock::now(self)
    }
}
