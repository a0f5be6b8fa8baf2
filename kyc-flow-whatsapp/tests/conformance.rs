//! The core's transport conformance suite, run against the Graph client over the fake server.

use async_trait::async_trait;
use kyc_flow_core::conformance::transport::{DeliveredMessage, TransportHarness, run_all};
use kyc_flow_core::ports::{MediaFetcher, MediaRef, MessageTransport};
use kyc_flow_core::{PhoneNumberId, UserRef};
use kyc_flow_whatsapp::fake::{FAKE_TOKEN, FakeGraph};
use kyc_flow_whatsapp::{GraphClient, GraphConfig};
use std::sync::Arc;

const PNID: &str = "106540352242922";

struct GraphHarness {
    fake: FakeGraph,
    client: Arc<GraphClient>,
}

#[async_trait]
impl TransportHarness for GraphHarness {
    fn transport(&self) -> Arc<dyn MessageTransport> {
        self.client.clone()
    }
    fn fetcher(&self) -> Arc<dyn MediaFetcher> {
        self.client.clone()
    }
    fn business(&self) -> PhoneNumberId {
        PhoneNumberId(PNID.into())
    }
    fn user(&self) -> UserRef {
        UserRef::Bsuid("MX.1502576394655843".into())
    }
    async fn delivered(&self) -> Vec<DeliveredMessage> {
        self.fake
            .sent()
            .into_iter()
            .map(|v| {
                let to = match (v["to"].as_str(), v["recipient"].as_str()) {
                    (Some(p), _) => UserRef::Phone(p.into()),
                    (None, Some(b)) => UserRef::Bsuid(b.into()),
                    (None, None) => panic!("a sent message without recipient"),
                };
                DeliveredMessage {
                    message_id: v["_message_id"].as_str().unwrap().to_owned(),
                    to,
                    kind: v["type"].as_str().unwrap().to_owned(),
                    text: v["text"]["body"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }
    async fn inbound_media(&self, bytes: &[u8], declared_mime: &str) -> MediaRef {
        let id = self.fake.add_media(bytes.to_vec(), declared_mime);
        let (mime, sha) = self.fake.media_declaration(&id).unwrap();
        MediaRef {
            phone_number_id: self.business(),
            media_id: id,
            mime_type: Some(mime),
            sha256: Some(sha),
        }
    }
}

#[tokio::test]
async fn graph_client_passes_the_transport_conformance_suite() {
    let fake = FakeGraph::start().await;
    let client = GraphClient::new(GraphConfig {
        base_url: fake.base_url(),
        access_token: FAKE_TOKEN.into(),
        ..GraphConfig::default()
    })
    .unwrap();
    let h = GraphHarness {
        fake,
        client: Arc::new(client),
    };
    run_all(&h).await;
}
