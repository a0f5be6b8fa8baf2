//! A conversation through the real WhatsApp path: signed webhooks into the router, the queue,
//! the engine, and answers through the Graph API client to the local fake Graph API.

use kyc_flow_core::Side;
use kyc_flow_core::ports::MediaFetcher;
use kyc_flow_tests::Harness;
use kyc_flow_whatsapp::fake::{self, FakeGraph, FakeUser};
use kyc_flow_whatsapp::{GraphClient, GraphConfig, WebhookConfig, webhook_router};
use serde_json::Value;
use std::sync::Arc;

const SECRET: &str = "e2e-app-secret";
const NUMBER: &str = "100";
const USER: &str = "5215500000001";

struct Rig {
    h: Harness,
    graph: FakeGraph,
    webhook: String,
    http: reqwest::Client,
    next: u32,
}

impl Rig {
    async fn new() -> Self {
        Self::with_flow(None).await
    }

    /// On mx-ine, or on `flow` (same registries) when given.
    async fn with_flow(flow: Option<kyc_flow_core::Flow>) -> Self {
        let mut h = Harness::new("mx-ine");
        if let Some(flow) = flow {
            h.flow = flow;
        }
        let graph = FakeGraph::start().await;
        let client = Arc::new(
            GraphClient::new(GraphConfig {
                base_url: graph.base_url(),
                access_token: fake::FAKE_TOKEN.into(),
                ..GraphConfig::default()
            })
            .unwrap(),
        );
        let (transport, media) = (client.clone(), client);
        h.rewire(|p| {
            p.transport = transport;
            p.media = media;
        });
        let router = webhook_router(
            WebhookConfig {
                app_secret: SECRET.into(),
                verify_token: "v".into(),
                tenant: "t".into(),
                ..WebhookConfig::default()
            },
            h.sim.queue.clone(),
            h.sim.dedup.clone(),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let webhook = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            kyc_flow_whatsapp::WEBHOOK_PATH
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            h,
            graph,
            webhook,
            http: {
                // The workspace's reqwest has no bundled crypto provider (rustls on ring).
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::new()
            },
            next: 0,
        }
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("wamid.e2e.{}", self.next)
    }

    async fn deliver(&self, payload: &Value) -> u16 {
        let (body, sig) = fake::signed_webhook_body(SECRET.as_bytes(), payload);
        let status = self
            .http
            .post(&self.webhook)
            .header("x-hub-signature-256", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        self.h.engine.run_until_idle("e2e").await.unwrap();
        status
    }

    fn ts(&self) -> i64 {
        self.h.engine.now().as_secs()
    }

    fn sent_to_user(&self) -> Vec<Value> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m["to"] == USER)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_webhook_is_answered_once_even_when_meta_retries_it() {
    let mut rig = Rig::new().await;
    let user = FakeUser::phone(USER);
    let id = rig.id();
    let hello = fake::text_message(NUMBER, &user, &id, rig.ts(), "hola");
    assert_eq!(rig.deliver(&hello).await, 200);
    let first = rig.sent_to_user();
    assert!(!first.is_empty(), "greeted through the Graph API");
    assert!(
        first.iter().any(|m| m["type"] == "interactive"),
        "consent asked with buttons: {first:?}"
    );
    // Meta retries the same delivery: acknowledged, nothing sent twice.
    assert_eq!(rig.deliver(&hello).await, 200);
    assert_eq!(rig.sent_to_user().len(), first.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_goes_through_the_two_step_download_and_is_deleted_after_analysis() {
    let mut rig = Rig::new().await;
    let user = FakeUser::phone(USER);
    for (text, reply) in [(Some("hola"), None), (None, Some("consent.accept"))] {
        let id = rig.id();
        let payload = match (text, reply) {
            (Some(t), _) => fake::text_message(NUMBER, &user, &id, rig.ts(), t),
            (_, Some(r)) => fake::button_reply_message(NUMBER, &user, &id, rig.ts(), r, "Acepto"),
            _ => unreachable!(),
        };
        assert_eq!(rig.deliver(&payload).await, 200);
    }
    // The photo's bytes are what the scripted reader knows.
    let bytes = b"\xFF\xD8\xFF\xE0 a tiny jpeg-looking photo".to_vec();
    let reading = kyc_flow_testkit::simulate::accepted_reading(
        kyc_flow_core::DocumentKind::MxIne,
        Side::Front,
    );
    rig.h.sim.documents.answer(bytes.clone(), reading);
    let media_id = rig.graph.add_media(bytes, "image/jpeg");
    let id = rig.id();
    let photo = fake::image_message(&rig.graph, NUMBER, &user, &id, rig.ts(), &media_id, None);
    assert_eq!(rig.deliver(&photo).await, 200);
    let key =
        kyc_flow_core::SessionKey::new("t", NUMBER, kyc_flow_core::UserRef::Phone(USER.into()));
    let session = rig
        .h
        .engine
        .session(&key)
        .await
        .unwrap()
        .expect("session of the webhook's user");
    assert_eq!(session.evidence.documents.len(), 1, "the front was read");
    assert!(
        rig.graph.media_deleted(&media_id),
        "media deleted from the platform after analysis"
    );
    // The platform no longer serves it.
    let client = GraphClient::new(GraphConfig {
        base_url: rig.graph.base_url(),
        access_token: fake::FAKE_TOKEN.into(),
        ..GraphConfig::default()
    })
    .unwrap();
    let again = client
        .fetch(&kyc_flow_core::ports::MediaRef {
            phone_number_id: kyc_flow_core::PhoneNumberId(NUMBER.into()),
            media_id,
            mime_type: None,
            sha256: None,
        })
        .await;
    assert!(again.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_outside_the_window_is_followed_by_the_template() {
    let mut rig = Rig::new().await;
    let user = FakeUser::phone(USER);
    let id = rig.id();
    let hello = fake::text_message(NUMBER, &user, &id, rig.ts(), "hola");
    rig.deliver(&hello).await;
    let before = rig.sent_to_user().len();
    let refused = fake::status_update(
        NUMBER,
        "wamid.ours.1",
        "failed",
        &user,
        rig.ts(),
        Some(131_047),
    );
    assert_eq!(rig.deliver(&refused).await, 200);
    let after = rig.sent_to_user();
    assert_eq!(after.len(), before + 1, "one template sent");
    let last = after.last().unwrap();
    assert_eq!(last["type"], "template", "{last}");
    assert_eq!(last["template"]["name"], "kyc_reminder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_webhook_is_refused_and_reaches_nobody() {
    let mut rig = Rig::new().await;
    let user = FakeUser::phone(USER);
    let id = rig.id();
    let hello = fake::text_message(NUMBER, &user, &id, rig.ts(), "hola");
    let (body, _) = fake::signed_webhook_body(b"not-the-app-secret", &hello);
    let (_, good_sig) = fake::signed_webhook_body(SECRET.as_bytes(), &hello);
    let forged = rig
        .http
        .post(&rig.webhook)
        .header("x-hub-signature-256", "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error());
    let mut altered = body.clone();
    let last = altered.len() - 2;
    altered[last] ^= 1;
    let tampered = rig
        .http
        .post(&rig.webhook)
        .header("x-hub-signature-256", good_sig)
        .body(altered)
        .send()
        .await
        .unwrap();
    assert!(tampered.status().is_client_error());
    rig.h.engine.run_until_idle("e2e").await.unwrap();
    assert!(rig.sent_to_user().is_empty());
}

/// Marketing opt-out: Meta answers 131050 to the reminder template. The session records it,
/// and neither the next reminder nor the re-engagement template after a 131047 goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_opted_out_of_marketing_is_not_reminded_again() {
    use kyc_flow_whatsapp::fake::{Endpoint, Failure};
    use std::time::Duration;
    const HOUR: u64 = 3600;
    // Reminders only outside the 24-hour window, so each one is the `kyc_reminder` template.
    let mut flow = kyc_flow_core::Flow::preset("mx-ine").unwrap();
    flow.reminders.after_secs = vec![25 * HOUR, 27 * HOUR];
    flow.reminders.expire_after_secs = 60 * HOUR;
    let mut rig = Rig::with_flow(Some(flow)).await;
    let user = FakeUser::phone(USER);
    let key =
        kyc_flow_core::SessionKey::new("t", NUMBER, kyc_flow_core::UserRef::Phone(USER.into()));
    let id = rig.id();
    let hello = fake::text_message(NUMBER, &user, &id, rig.ts(), "hola");
    rig.deliver(&hello).await;
    let greeted = rig.sent_to_user().len();
    assert!(greeted > 0);

    rig.graph
        .inject_failure(Endpoint::Send, Failure::graph(131_050), 1);
    rig.h.advance(Duration::from_secs(25 * HOUR + 60)).await;
    let session = rig.h.engine.session(&key).await.unwrap().unwrap();
    assert!(
        session.opted_out_at.is_some(),
        "the opt-out is recorded on the session"
    );
    assert_eq!(
        session.nudged, 1,
        "the refused reminder was the one attempt"
    );
    assert!(
        session.log.iter().any(|l| l.kind == "user.opted_out"),
        "{:?}",
        session.log
    );
    assert_eq!(
        rig.sent_to_user().len(),
        greeted,
        "Meta refused it: nothing delivered"
    );

    // The second reminder's time passes: nothing is sent.
    rig.h.advance(Duration::from_secs(3 * HOUR)).await;
    assert_eq!(
        rig.sent_to_user().len(),
        greeted,
        "no reminder after the opt-out"
    );
    let session = rig.h.engine.session(&key).await.unwrap().unwrap();
    assert_eq!(session.nudged, 1);
    assert!(session.log.iter().any(|l| l.kind == "reminder.skipped"));

    // A message refused outside the window would normally bring the re-engagement template.
    let refused = fake::status_update(
        NUMBER,
        "wamid.ours.9",
        "failed",
        &user,
        rig.ts(),
        Some(131_047),
    );
    assert_eq!(rig.deliver(&refused).await, 200);
    assert_eq!(
        rig.sent_to_user().len(),
        greeted,
        "no re-engagement template either"
    );
}

/// A status webhook reporting 131050 records the opt-out as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_with_131050_records_the_opt_out() {
    let mut rig = Rig::new().await;
    let user = FakeUser::phone(USER);
    let key =
        kyc_flow_core::SessionKey::new("t", NUMBER, kyc_flow_core::UserRef::Phone(USER.into()));
    let id = rig.id();
    rig.deliver(&fake::text_message(NUMBER, &user, &id, rig.ts(), "hola"))
        .await;
    let refused = fake::status_update(
        NUMBER,
        "wamid.ours.2",
        "failed",
        &user,
        rig.ts(),
        Some(131_050),
    );
    assert_eq!(rig.deliver(&refused).await, 200);
    let session = rig.h.engine.session(&key).await.unwrap().unwrap();
    assert!(session.opted_out_at.is_some());
    assert!(!session.may_nudge());
}

/// A username user (business-scoped id, no number) on a flow whose registry is keyed by
/// phone: the contact-information request goes out through the Graph API addressed by
/// `recipient`, and the `contacts` answer (origin `contact_request`) records the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_user_is_asked_for_the_number_through_the_graph_api() {
    let mut flow = kyc_flow_core::Flow::preset("mx-ine").unwrap();
    let kyc_flow_core::Step::Registry(r) = &mut flow.steps[4] else {
        unreachable!()
    };
    r.checks[0].phone = Some("msisdn".into());
    let mut rig = Rig::with_flow(Some(flow)).await;
    const BSUID: &str = "US.13491208655302741918";
    let user = FakeUser::business_scoped(BSUID);
    let key =
        kyc_flow_core::SessionKey::new("t", NUMBER, kyc_flow_core::UserRef::Bsuid(BSUID.into()));
    let id = rig.id();
    rig.deliver(&fake::text_message(NUMBER, &user, &id, rig.ts(), "hola"))
        .await;
    let id = rig.id();
    rig.deliver(&fake::button_reply_message(
        NUMBER,
        &user,
        &id,
        rig.ts(),
        "consent.accept",
        "Acepto",
    ))
    .await;
    // Front, back and selfie through the Graph API's media, read by the scripted engines.
    for (n, side) in [(1u8, Some(Side::Front)), (2, Some(Side::Back)), (3, None)] {
        let mut bytes = b"\xFF\xD8\xFF\xE0 a tiny jpeg-looking photo ".to_vec();
        bytes.push(n);
        match side {
            Some(side) => rig.h.sim.documents.answer(
                bytes.clone(),
                kyc_flow_testkit::simulate::accepted_reading(
                    kyc_flow_core::DocumentKind::MxIne,
                    side,
                ),
            ),
            None => rig.h.script_selfie(&bytes, true),
        }
        let media_id = rig.graph.add_media(bytes, "image/jpeg");
        let id = rig.id();
        let photo = fake::image_message(&rig.graph, NUMBER, &user, &id, rig.ts(), &media_id, None);
        assert_eq!(rig.deliver(&photo).await, 200);
    }
    let to_user: Vec<Value> = rig
        .graph
        .sent()
        .into_iter()
        .filter(|m| m["recipient"] == BSUID)
        .collect();
    let request = to_user.last().expect("something sent to the user");
    assert_eq!(request["type"], "interactive", "{request}");
    assert_eq!(request["interactive"]["type"], "request_contact_info");
    assert_eq!(
        request["interactive"]["action"]["name"],
        "request_contact_info"
    );
    assert!(request.get("to").is_none(), "addressed by recipient only");

    // A card shared by hand is not the answer.
    let id = rig.id();
    let card = fake::contacts_message(NUMBER, &user, &id, rig.ts(), "+5215598765432", "other");
    assert_eq!(rig.deliver(&card).await, 200);
    let session = rig.h.engine.session(&key).await.unwrap().unwrap();
    assert_eq!(session.phone, None);
    // The answer.
    let id = rig.id();
    let answer = fake::contacts_message(
        NUMBER,
        &user,
        &id,
        rig.ts(),
        "+16505551234",
        "contact_request",
    );
    assert_eq!(rig.deliver(&answer).await, 200);
    let session = rig.h.engine.session(&key).await.unwrap().unwrap();
    assert_eq!(
        session.phone.as_ref().map(|p| p.raw()),
        Some("+16505551234")
    );
    assert!(matches!(
        session.decision,
        Some(kyc_flow_core::Decision::Approved { .. })
    ));
}
