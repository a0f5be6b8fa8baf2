//! Conformance suite for the transport ports: [`MessageTransport`] and [`MediaFetcher`].
//!
//! An adapter proves itself by implementing [`TransportHarness`] (the transport and fetcher
//! under test, plus a view of what the platform received and a way to make inbound media
//! exist) and calling [`run_all`] from a test on its own executor. Every check panics with a
//! message naming the behaviour that broke.
//!
//! The contract checked here, beyond the trait signatures:
//! - every accepted message gets a distinct, non-empty platform id, and reaches the platform
//!   addressed to the right user, in order;
//! - a message breaking a WhatsApp limit (4 buttons, a 21-character button title, 11 list
//!   rows) fails with [`PortErrorKind::Invalid`] *before* reaching the platform;
//! - media is returned byte for byte with its type sniffed from the content (not the declared
//!   MIME type) and a lowercase hex SHA-256; a declared hash that does not match is
//!   [`PortErrorKind::Integrity`]; content that is not an accepted image or PDF is
//!   [`PortErrorKind::Invalid`]; an unknown media id is [`PortErrorKind::NotFound`];
//! - deleting media makes it unavailable, and deleting twice is not an error.

use crate::ids::{PhoneNumberId, UserRef};
use crate::ports::{
    ListRow, ListSection, MediaFetcher, MediaRef, MediaSource, MessageTransport, OutboundBody,
    OutboundMessage, PortErrorKind, ReplyButton,
};
use async_trait::async_trait;
use std::sync::Arc;

/// A message as the platform received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredMessage {
    /// The id the transport returned for it.
    pub message_id: String,
    /// Who it was addressed to.
    pub to: UserRef,
    /// The platform's type name: `text`, `interactive`, `template`, `image`, `document`.
    pub kind: String,
    /// The text body, for `text` messages.
    pub text: Option<String>,
}

/// What an adapter gives the suite.
#[async_trait]
pub trait TransportHarness: Send + Sync {
    /// The transport under test.
    fn transport(&self) -> Arc<dyn MessageTransport>;
    /// The media fetcher under test.
    fn fetcher(&self) -> Arc<dyn MediaFetcher>;
    /// The business number messages are sent from.
    fn business(&self) -> PhoneNumberId;
    /// A user who can receive free-form messages (their window is open).
    fn user(&self) -> UserRef;
    /// Every message the platform accepted so far, oldest first.
    async fn delivered(&self) -> Vec<DeliveredMessage>;
    /// Make `bytes` exist as media the user sent, declared as `declared_mime`; returns the
    /// reference a webhook would carry (including the declared SHA-256, if the platform
    /// declares one).
    async fn inbound_media(&self, bytes: &[u8], declared_mime: &str) -> MediaRef;
}

/// Run every check.
pub async fn run_all<H: TransportHarness>(h: &H) {
    sends_text_with_distinct_ids(h).await;
    sends_every_body_kind(h).await;
    rejects_over_limit_messages_before_sending(h).await;
    marks_read(h).await;
    fetches_media_and_sniffs_type(h).await;
    rejects_media_with_wrong_hash(h).await;
    rejects_media_of_unaccepted_type(h).await;
    unknown_media_is_not_found(h).await;
    deletes_media_idempotently(h).await;
}

fn message<H: TransportHarness>(h: &H, body: OutboundBody) -> OutboundMessage {
    OutboundMessage {
        from: h.business(),
        to: h.user(),
        body,
        reply_to: None,
        callback_data: Some("conformance".into()),
    }
}

fn text(body: &str) -> OutboundBody {
    OutboundBody::Text {
        body: body.into(),
        preview_url: false,
    }
}

fn buttons(n: usize, title: &str) -> OutboundBody {
    OutboundBody::Buttons {
        header: None,
        body: "¿Continuamos?".into(),
        footer: None,
        buttons: (0..n)
            .map(|i| ReplyButton {
                id: format!("b{i}"),
                title: format!("{title}{i}"),
            })
            .collect(),
    }
}

fn list(rows: usize) -> OutboundBody {
    OutboundBody::List {
        header: None,
        body: "Elige tu documento".into(),
        footer: None,
        button: "Documentos".into(),
        sections: vec![ListSection {
            title: None,
            rows: (0..rows)
                .map(|i| ListRow {
                    id: format!("r{i}"),
                    title: format!("Fila {i}"),
                    description: None,
                })
                .collect(),
        }],
    }
}

/// A minimal PNG signature and IHDR chunk: enough for any content sniffer.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90\x77\x53\xde";

/// Sent messages get distinct ids and reach the platform in order, to the right user.
pub async fn sends_text_with_distinct_ids<H: TransportHarness>(h: &H) {
    let t = h.transport();
    let before = h.delivered().await.len();
    let a = t
        .send(&message(h, text("Hola, empecemos")))
        .await
        .expect("sending a text inside the window succeeds");
    let b = t
        .send(&message(h, text("Envía tu INE")))
        .await
        .expect("sending a second text succeeds");
    assert!(!a.message_id.is_empty(), "message ids are non-empty");
    assert_ne!(a.message_id, b.message_id, "message ids are distinct");
    let delivered = h.delivered().await;
    let new = &delivered[before..];
    assert_eq!(new.len(), 2, "both messages reached the platform");
    assert_eq!(new[0].message_id, a.message_id, "first message first");
    assert_eq!(new[1].message_id, b.message_id, "second message second");
    assert_eq!(new[0].to, h.user(), "addressed to the user");
    assert_eq!(new[0].kind, "text");
    assert_eq!(new[0].text.as_deref(), Some("Hola, empecemos"));
}

/// Buttons, lists, templates, images and documents are all accepted.
pub async fn sends_every_body_kind<H: TransportHarness>(h: &H) {
    let t = h.transport();
    let cases = [
        ("interactive", buttons(3, "Opción ")),
        ("interactive", list(10)),
        (
            "template",
            OutboundBody::Template {
                name: "kyc_resume".into(),
                language: "es_MX".into(),
                body_params: vec!["Ana".into()],
            },
        ),
        (
            "image",
            OutboundBody::Image {
                media: MediaSource::Link("https://example.invalid/guide.jpg".into()),
                caption: Some("Así debe verse la foto".into()),
            },
        ),
        (
            "document",
            OutboundBody::Document {
                media: MediaSource::Link("https://example.invalid/terms.pdf".into()),
                filename: Some("terminos.pdf".into()),
                caption: None,
            },
        ),
    ];
    for (kind, body) in cases {
        let sent = t
            .send(&message(h, body))
            .await
            .unwrap_or_else(|e| panic!("sending a valid {kind} message succeeds: {e}"));
        let delivered = h.delivered().await;
        let last = delivered.last().expect("the platform recorded the message");
        assert_eq!(
            last.message_id, sent.message_id,
            "{kind}: recorded under its id"
        );
        assert_eq!(last.kind, kind, "{kind}: recorded with its type");
    }
}

/// Messages over WhatsApp's limits fail as `Invalid`, and nothing reaches the platform.
pub async fn rejects_over_limit_messages_before_sending<H: TransportHarness>(h: &H) {
    let t = h.transport();
    let before = h.delivered().await.len();
    let cases = [
        ("four buttons", buttons(4, "B")),
        (
            "a 21-character button title",
            buttons(1, "Veintiún caracteres "),
        ),
        ("eleven list rows", list(11)),
        ("an empty text", text("")),
    ];
    for (what, body) in cases {
        let err = t
            .send(&message(h, body))
            .await
            .expect_err(&format!("a message with {what} is rejected"));
        assert_eq!(err.kind, PortErrorKind::Invalid, "{what}: Invalid");
        assert!(!err.is_retryable(), "{what}: not retryable");
    }
    assert_eq!(
        h.delivered().await.len(),
        before,
        "rejected messages never reach the platform"
    );
}

/// Marking an inbound message read (with and without typing indicator) succeeds.
pub async fn marks_read<H: TransportHarness>(h: &H) {
    let t = h.transport();
    t.mark_read(&h.business(), "wamid.conformance.inbound", true)
        .await
        .expect("mark read with typing indicator succeeds");
    t.mark_read(&h.business(), "wamid.conformance.inbound", false)
        .await
        .expect("mark read without typing indicator succeeds");
}

/// Media comes back byte for byte, type sniffed from content, hash as lowercase hex.
pub async fn fetches_media_and_sniffs_type<H: TransportHarness>(h: &H) {
    // Declared as JPEG on purpose: the fetcher must trust the bytes, not the declaration.
    let media = h.inbound_media(PNG, "image/jpeg").await;
    let blob = h
        .fetcher()
        .fetch(&media)
        .await
        .expect("fetching existing media succeeds");
    assert_eq!(blob.bytes, PNG, "bytes are returned unchanged");
    assert_eq!(blob.mime_type, "image/png", "type is sniffed from content");
    assert_eq!(blob.sha256.len(), 64, "sha256 is 64 hex digits");
    assert!(
        blob.sha256
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "sha256 is lowercase hex"
    );
    let again = h
        .fetcher()
        .fetch(&media)
        .await
        .expect("fetching twice works");
    assert_eq!(
        again.sha256, blob.sha256,
        "the hash is a function of the bytes"
    );
}

/// A declared SHA-256 that does not match the bytes is an integrity error.
pub async fn rejects_media_with_wrong_hash<H: TransportHarness>(h: &H) {
    let mut media = h.inbound_media(PNG, "image/png").await;
    media.sha256 = Some("0".repeat(64));
    let err = h
        .fetcher()
        .fetch(&media)
        .await
        .expect_err("media whose declared hash differs is rejected");
    assert_eq!(err.kind, PortErrorKind::Integrity);
}

/// Content that is not an accepted image or PDF is rejected whatever its declared type.
pub async fn rejects_media_of_unaccepted_type<H: TransportHarness>(h: &H) {
    let media = h
        .inbound_media(b"<html><body>not a photo</body></html>", "image/jpeg")
        .await;
    let err = h
        .fetcher()
        .fetch(&media)
        .await
        .expect_err("HTML declared as JPEG is rejected");
    assert_eq!(err.kind, PortErrorKind::Invalid);
}

/// An id the platform never issued is `NotFound`.
pub async fn unknown_media_is_not_found<H: TransportHarness>(h: &H) {
    let media = MediaRef {
        phone_number_id: h.business(),
        media_id: "1999999999999999".into(),
        mime_type: Some("image/jpeg".into()),
        sha256: None,
    };
    let err = h
        .fetcher()
        .fetch(&media)
        .await
        .expect_err("unknown media is an error");
    assert_eq!(err.kind, PortErrorKind::NotFound);
}

/// Deleted media is gone; deleting again is fine.
pub async fn deletes_media_idempotently<H: TransportHarness>(h: &H) {
    let media = h.inbound_media(PNG, "image/png").await;
    let f = h.fetcher();
    f.delete(&media).await.expect("deleting media succeeds");
    let err = f
        .fetch(&media)
        .await
        .expect_err("deleted media cannot be fetched");
    assert_eq!(err.kind, PortErrorKind::NotFound);
    f.delete(&media)
        .await
        .expect("deleting already deleted media is not an error");
}
