//! The Graph API client against the fake server: every send type, limits, read receipts,
//! media download (expired URL, wrong hash, oversize, wrong type) and every error class.

use kyc_flow_core::ports::{
    ListRow, ListSection, MediaFetcher, MediaRef, MediaSource, MessageTransport, OutboundBody,
    OutboundMessage, PortErrorKind, ReplyButton,
};
use kyc_flow_core::{PhoneNumberId, UserRef};
use kyc_flow_whatsapp::fake::{Endpoint, FAKE_TOKEN, Failure, FakeGraph};
use kyc_flow_whatsapp::{GraphClient, GraphConfig, WhatsAppError};
use serde_json::json;
use std::time::Duration;

const PNID: &str = "106540352242922";
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 2, 3,
];
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01";

fn config(fake: &FakeGraph) -> GraphConfig {
    GraphConfig {
        base_url: fake.base_url(),
        access_token: FAKE_TOKEN.into(),
        timeout: Duration::from_secs(5),
        rate_limit_backoff: Duration::from_millis(5),
        ..GraphConfig::default()
    }
}

async fn setup() -> (FakeGraph, GraphClient) {
    let fake = FakeGraph::start().await;
    let client = GraphClient::new(config(&fake)).unwrap();
    (fake, client)
}

fn to_phone(body: OutboundBody) -> OutboundMessage {
    OutboundMessage {
        from: PhoneNumberId(PNID.into()),
        to: UserRef::Phone("5215512345678".into()),
        body,
        reply_to: None,
        callback_data: None,
    }
}

fn text(s: &str) -> OutboundBody {
    OutboundBody::Text {
        body: s.into(),
        preview_url: false,
    }
}

fn buttons(titles: &[&str]) -> OutboundBody {
    OutboundBody::Buttons {
        header: Some("Verificación".into()),
        body: "¿Tienes tu INE a la mano?".into(),
        footer: Some("kyc-flow".into()),
        buttons: titles
            .iter()
            .enumerate()
            .map(|(i, t)| ReplyButton {
                id: format!("b{i}"),
                title: (*t).into(),
            })
            .collect(),
    }
}

fn media_ref(id: &str, sha: Option<String>) -> MediaRef {
    MediaRef {
        phone_number_id: PhoneNumberId(PNID.into()),
        media_id: id.into(),
        mime_type: Some("image/jpeg".into()),
        sha256: sha,
    }
}

#[tokio::test]
async fn sends_text_to_phone_with_context_and_callback_data() {
    let (fake, client) = setup().await;
    let mut m = to_phone(text("Hola 👋"));
    m.reply_to = Some("wamid.IN1".into());
    m.callback_data = Some("session:abc".into());
    let sent = client.send(&m).await.unwrap();
    let got = fake.sent();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r["_message_id"], json!(sent.message_id));
    assert_eq!(r["_phone_number_id"], json!(PNID));
    assert_eq!(r["to"], json!("5215512345678"));
    assert!(r.get("recipient").is_none());
    assert_eq!(r["type"], json!("text"));
    assert_eq!(r["text"]["body"], json!("Hola 👋"));
    assert_eq!(r["context"]["message_id"], json!("wamid.IN1"));
    assert_eq!(r["biz_opaque_callback_data"], json!("session:abc"));
}

#[tokio::test]
async fn business_scoped_users_are_addressed_by_recipient() {
    let (fake, client) = setup().await;
    let mut m = to_phone(text("hola"));
    m.to = UserRef::Bsuid("MX.1502576394655843".into());
    client.send(&m).await.unwrap();
    let r = &fake.sent()[0];
    assert_eq!(r["recipient"], json!("MX.1502576394655843"));
    assert!(r.get("to").is_none());
}

#[tokio::test]
async fn sends_buttons_list_template_image_and_document() {
    let (fake, client) = setup().await;
    client
        .send(&to_phone(buttons(&["Sí", "No", "Ayuda"])))
        .await
        .unwrap();
    client
        .send(&to_phone(OutboundBody::List {
            header: None,
            body: "¿Qué documento tienes?".into(),
            footer: None,
            button: "Documentos".into(),
            sections: vec![
                ListSection {
                    title: Some("México".into()),
                    rows: vec![ListRow {
                        id: "mx-ine".into(),
                        title: "INE".into(),
                        description: Some("Credencial para votar".into()),
                    }],
                },
                ListSection {
                    title: Some("Otros".into()),
                    rows: vec![ListRow {
                        id: "passport".into(),
                        title: "Pasaporte".into(),
                        description: None,
                    }],
                },
            ],
        }))
        .await
        .unwrap();
    client
        .send(&to_phone(OutboundBody::Template {
            name: "kyc_resume".into(),
            language: "es_MX".into(),
            body_params: vec!["Ana".into()],
        }))
        .await
        .unwrap();
    client
        .send(&to_phone(OutboundBody::Image {
            media: MediaSource::Id("4490709327384033".into()),
            caption: Some("Ejemplo".into()),
        }))
        .await
        .unwrap();
    client
        .send(&to_phone(OutboundBody::Document {
            media: MediaSource::Link("https://example.invalid/aviso.pdf".into()),
            filename: Some("aviso-de-privacidad.pdf".into()),
            caption: None,
        }))
        .await
        .unwrap();
    let sent = fake.sent();
    assert_eq!(sent.len(), 5);
    let b = &sent[0]["interactive"];
    assert_eq!(b["type"], json!("button"));
    assert_eq!(b["action"]["buttons"][2]["reply"]["title"], json!("Ayuda"));
    assert_eq!(b["header"]["text"], json!("Verificación"));
    let l = &sent[1]["interactive"];
    assert_eq!(l["type"], json!("list"));
    assert_eq!(l["action"]["button"], json!("Documentos"));
    assert_eq!(l["action"]["sections"][0]["rows"][0]["id"], json!("mx-ine"));
    let t = &sent[2]["template"];
    assert_eq!(t["name"], json!("kyc_resume"));
    assert_eq!(t["language"]["code"], json!("es_MX"));
    assert_eq!(t["components"][0]["parameters"][0]["text"], json!("Ana"));
    assert_eq!(sent[3]["image"]["id"], json!("4490709327384033"));
    assert_eq!(
        sent[4]["document"]["link"],
        json!("https://example.invalid/aviso.pdf")
    );
    assert_eq!(
        sent[4]["document"]["filename"],
        json!("aviso-de-privacidad.pdf")
    );
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    let (fake, client) = setup().await;
    let long_body = OutboundBody::Buttons {
        header: None,
        body: "x".repeat(1025),
        footer: None,
        buttons: vec![ReplyButton {
            id: "a".into(),
            title: "A".into(),
        }],
    };
    let eleven_rows = OutboundBody::List {
        header: None,
        body: "b".into(),
        footer: None,
        button: "Ver".into(),
        sections: vec![ListSection {
            title: None,
            rows: (0..11)
                .map(|i| ListRow {
                    id: format!("r{i}"),
                    title: format!("t{i}"),
                    description: None,
                })
                .collect(),
        }],
    };
    let cases: Vec<(OutboundBody, &str)> = vec![
        (buttons(&["a", "b", "c", "d"]), "4 buttons, the limit is 3"),
        (buttons(&["Veintiún caracteres!"]), ""),
        (
            buttons(&["Veintiún caracteres!!"]),
            "button title is 21 characters, the limit is 20",
        ),
        (buttons(&["Sí", "Sí"]), "duplicate button title"),
        (long_body, "body is 1025 characters, the limit is 1024"),
        (eleven_rows, "11 rows, the limit is 10"),
        (text(""), "text body must not be empty"),
        (text(&"y".repeat(4097)), "text body is 4097 characters"),
        (
            OutboundBody::Template {
                name: "t".into(),
                language: "es".into(),
                body_params: vec!["línea 1\nlínea 2".into()],
            },
            "template parameter 0",
        ),
        (
            OutboundBody::Image {
                media: MediaSource::Link("http://insecure.invalid/a.jpg".into()),
                caption: None,
            },
            "https",
        ),
    ];
    let mut rejected = 0;
    for (body, expected) in cases {
        let result = client.send_message(&to_phone(body)).await;
        if expected.is_empty() {
            result.expect("a 20-character title is allowed");
            continue;
        }
        rejected += 1;
        let err = result.expect_err(expected);
        assert!(matches!(err, WhatsAppError::Limit(_)), "{err}");
        assert!(err.to_string().contains(expected), "{err} vs {expected}");
        assert_eq!(err.kind(), PortErrorKind::Invalid);
    }
    assert_eq!(rejected, 9);
    assert_eq!(
        fake.hits(Endpoint::Send),
        1,
        "only the valid message reached Meta"
    );
}

#[tokio::test]
async fn mark_read_with_typing_indicator() {
    let (fake, client) = setup().await;
    client
        .mark_read(&PhoneNumberId(PNID.into()), "wamid.IN9", true)
        .await
        .unwrap();
    client
        .mark_read(&PhoneNumberId(PNID.into()), "wamid.IN10", false)
        .await
        .unwrap();
    let reads = fake.read_receipts();
    assert_eq!(reads[0]["status"], json!("read"));
    assert_eq!(reads[0]["message_id"], json!("wamid.IN9"));
    assert_eq!(reads[0]["typing_indicator"]["type"], json!("text"));
    assert!(reads[1].get("typing_indicator").is_none());
    assert!(fake.sent().is_empty(), "read receipts are not messages");
}

#[tokio::test]
async fn downloads_media_verifying_base64_and_hex_hashes() {
    let (fake, client) = setup().await;
    let id = fake.add_media(JPEG.to_vec(), "image/jpeg");
    let (_, b64) = fake.media_declaration(&id).unwrap();
    let blob = client.fetch(&media_ref(&id, Some(b64))).await.unwrap();
    assert_eq!(blob.bytes, JPEG);
    assert_eq!(blob.mime_type, "image/jpeg");
    let hex = blob.sha256.clone();
    let again = client
        .fetch(&media_ref(&id, Some(hex.clone())))
        .await
        .unwrap();
    assert_eq!(again.sha256, hex);
    assert_eq!(fake.hits(Endpoint::MediaLookup), 2);
}

#[tokio::test]
async fn expired_download_url_is_resolved_again() {
    let (fake, client) = setup().await;
    let id = fake.add_media(PNG.to_vec(), "image/png");
    fake.inject_failure(Endpoint::MediaDownload, Failure::ExpiredUrl, 1);
    let blob = client.fetch(&media_ref(&id, None)).await.unwrap();
    assert_eq!(blob.mime_type, "image/png");
    assert_eq!(
        fake.hits(Endpoint::MediaLookup),
        2,
        "looked up again after expiry"
    );
    // Expiring every time ends as NotFound, not a loop.
    fake.inject_failure(Endpoint::MediaDownload, Failure::ExpiredUrl, 5);
    let err = client.fetch(&media_ref(&id, None)).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound);
}

#[tokio::test]
async fn wrong_hash_and_corrupted_bytes_are_integrity_errors() {
    let (fake, client) = setup().await;
    let id = fake.add_media(JPEG.to_vec(), "image/jpeg");
    let err = client
        .fetch(&media_ref(&id, Some("ab".repeat(32))))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Integrity);
    // The lookup's own hash catches bytes altered in transit even without a webhook hash.
    fake.inject_failure(Endpoint::MediaDownload, Failure::CorruptBytes, 1);
    let err = client.fetch(&media_ref(&id, None)).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Integrity);
    let err = client
        .download_media(&media_ref(&id, Some("not-a-hash".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, WhatsAppError::BadDeclaredHash));
}

#[tokio::test]
async fn oversize_media_is_refused() {
    let fake = FakeGraph::start().await;
    let client = GraphClient::new(GraphConfig {
        max_media_bytes: 1000,
        ..config(&fake)
    })
    .unwrap();
    let mut big = JPEG.to_vec();
    big.resize(5000, 0);
    let id = fake.add_media(big, "image/jpeg");
    let err = client
        .download_media(&media_ref(&id, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WhatsAppError::MediaTooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), PortErrorKind::Invalid);
    assert_eq!(
        fake.hits(Endpoint::MediaDownload),
        0,
        "refused from the declared size"
    );
}

#[tokio::test]
async fn content_is_sniffed_not_trusted() {
    let (fake, client) = setup().await;
    let id = fake.add_media(b"GIF89a\x01\x00\x01\x00".to_vec(), "image/jpeg");
    let err = client
        .download_media(&media_ref(&id, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WhatsAppError::UnsupportedMedia { .. }),
        "{err}"
    );
    assert_eq!(err.kind(), PortErrorKind::Invalid);
    let pdf = fake.add_media(b"%PDF-1.7\n1 0 obj".to_vec(), "image/jpeg");
    let blob = client.fetch(&media_ref(&pdf, None)).await.unwrap();
    assert_eq!(blob.mime_type, "application/pdf");
}

#[tokio::test]
async fn unknown_and_deleted_media() {
    let (fake, client) = setup().await;
    let err = client.fetch(&media_ref("123", None)).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound);
    let id = fake.add_media(JPEG.to_vec(), "image/jpeg");
    client.delete(&media_ref(&id, None)).await.unwrap();
    assert!(fake.media_deleted(&id));
    client.delete(&media_ref(&id, None)).await.unwrap();
}

#[tokio::test]
async fn rate_limits_are_retried_with_backoff() {
    for code in [130429, 131056, 80007] {
        let (fake, client) = setup().await;
        fake.inject_failure(Endpoint::Send, Failure::graph(code), 2);
        client.send(&to_phone(text("hola"))).await.unwrap();
        assert_eq!(
            fake.hits(Endpoint::Send),
            3,
            "code {code}: two retries then success"
        );
        assert_eq!(fake.sent().len(), 1);
        // Persistent rate limiting surfaces as RateLimited after the configured retries.
        fake.inject_failure(Endpoint::Send, Failure::graph(code), 3);
        let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
        assert_eq!(err.kind, PortErrorKind::RateLimited, "code {code}");
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn retry_after_is_reported() {
    let fake = FakeGraph::start().await;
    let client = GraphClient::new(GraphConfig {
        rate_limit_retries: 0,
        ..config(&fake)
    })
    .unwrap();
    fake.inject_failure(
        Endpoint::Send,
        Failure::Graph {
            http_status: 429,
            code: 130429,
            subcode: None,
            message: "(#130429) Rate limit hit".into(),
            retry_after: Some(7),
        },
        1,
    );
    let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn each_error_class_maps_to_its_port_kind_without_retry() {
    let cases = [
        (Failure::graph(190), PortErrorKind::Unauthorized),
        (Failure::graph(131047), PortErrorKind::OutsideWindow),
        (Failure::graph(131026), PortErrorKind::Undeliverable),
        (Failure::graph(100), PortErrorKind::Invalid),
        (Failure::graph(131000), PortErrorKind::Unavailable),
        (Failure::Status(502), PortErrorKind::Unavailable),
        (Failure::Status(404), PortErrorKind::NotFound),
    ];
    for (failure, kind) in cases {
        let (fake, client) = setup().await;
        fake.inject_failure(Endpoint::Send, failure.clone(), 1);
        let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
        assert_eq!(err.kind, kind, "{failure:?}");
        assert_eq!(
            fake.hits(Endpoint::Send),
            1,
            "{failure:?} is not retried here"
        );
        assert!(!err.message.contains(FAKE_TOKEN));
    }
}

#[tokio::test]
async fn wrong_token_is_unauthorized() {
    let (fake, client) = setup().await;
    fake.set_token("rotated");
    let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unauthorized);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let fake = FakeGraph::start().await;
    let client = GraphClient::new(GraphConfig {
        timeout: Duration::from_millis(200),
        ..config(&fake)
    })
    .unwrap();
    fake.inject_failure(Endpoint::Send, Failure::Delay(Duration::from_secs(2)), 1);
    let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Timeout);
    assert!(err.is_retryable());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = GraphClient::new(GraphConfig {
        base_url: format!("http://{addr}"),
        ..config(&fake)
    })
    .unwrap();
    let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Unavailable);
}

#[tokio::test]
async fn failed_outside_window_status_becomes_a_template_resend() {
    use kyc_flow_whatsapp::fake::{FakeUser, status_update};
    use kyc_flow_whatsapp::{FallbackTemplate, WindowTracker, parse_webhook};
    let (fake, client) = setup().await;
    let mut window = WindowTracker::new(FallbackTemplate {
        name: "kyc_resume".into(),
        language: "es_MX".into(),
        body_params: vec![],
    });
    let user = FakeUser::phone("5215512345678");
    let body = status_update(PNID, "wamid.OUT", "failed", &user, 1, Some(131047));
    let events = parse_webhook(&serde_json::to_vec(&body).unwrap()).unwrap();
    let resend = window.observe(&events[0]).expect("a template to resend");
    client.send(&resend).await.unwrap();
    let sent = fake.sent();
    assert_eq!(sent[0]["type"], json!("template"));
    assert_eq!(sent[0]["to"], json!("5215512345678"));
    assert_eq!(sent[0]["template"]["name"], json!("kyc_resume"));
}

#[test]
fn config_debug_hides_the_token() {
    let c = GraphConfig {
        access_token: "EAAG-very-secret".into(),
        ..GraphConfig::default()
    };
    assert!(!format!("{c:?}").contains("EAAG"));
}

#[tokio::test]
async fn windowed_transport_sends_templates_outside_the_window() {
    use kyc_flow_core::Timestamp;
    use kyc_flow_whatsapp::{FallbackTemplate, WindowTracker, WindowedTransport};
    use std::sync::{Arc, Mutex};
    let (fake, client) = setup().await;
    let window = Arc::new(Mutex::new(WindowTracker::new(FallbackTemplate {
        name: "kyc_resume".into(),
        language: "es_MX".into(),
        body_params: vec![],
    })));
    let now = Timestamp::from_secs(1_760_000_000);
    let t = WindowedTransport::new(client, window.clone()).with_clock(move || now);
    // Never wrote: the template goes instead of the text.
    t.send(&to_phone(text("hola"))).await.unwrap();
    // Wrote an hour ago: free-form is allowed.
    window.lock().unwrap().record_inbound(
        &PhoneNumberId(PNID.into()),
        &UserRef::Phone("5215512345678".into()),
        Timestamp::from_secs(1_760_000_000 - 3600),
    );
    t.send(&to_phone(text("hola"))).await.unwrap();
    // Meta disagrees (131047): resent once as the template.
    fake.inject_failure(Endpoint::Send, Failure::graph(131047), 1);
    t.send(&to_phone(text("hola"))).await.unwrap();
    let kinds: Vec<String> = fake
        .sent()
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["template", "text", "template"]);
    assert_eq!(fake.hits(Endpoint::Send), 4);
    // After Meta said the window closed, the next text goes as a template directly.
    t.send(&to_phone(text("hola"))).await.unwrap();
    assert_eq!(fake.sent().last().unwrap()["type"], json!("template"));
}

/// A pause longer than the client sleeps inline is handed back with Meta's hint (the runtime's
/// job retry honours it) instead of being slept through or cut short.
#[tokio::test]
async fn a_long_retry_after_goes_back_to_the_caller_at_once() {
    let (fake, client) = setup().await;
    fake.inject_failure(
        Endpoint::Send,
        Failure::Graph {
            http_status: 429,
            code: 131056,
            subcode: None,
            message: "(#131056) Pair rate limit hit".into(),
            retry_after: Some(120),
        },
        1,
    );
    let err = client.send(&to_phone(text("hola"))).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(fake.hits(Endpoint::Send), 1, "no inline retry");
}
