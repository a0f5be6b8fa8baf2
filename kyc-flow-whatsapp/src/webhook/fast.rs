//! The common webhook shapes decoded straight from the bytes.
//!
//! [`super::parse::parse_webhook`] reads a body as untyped JSON and walks it, so that no field
//! changing type can make it reject a delivery. Building that tree (a map and a string per
//! key) and dropping it was the largest part of the webhook's own CPU time (a third of its
//! user-space instructions; `docs/PERFORMANCE.md`). Most deliveries are the same few shapes: a
//! text or media message with its contact, or delivery statuses. This module decodes exactly
//! those, typed and borrowing strings from the body, and gives up — `None` — on anything else:
//! a field of another type, a duplicate key, an unusual member (`referral`, `errors`, a
//! product reference), a message type other than text and media, a missing id. Then the
//! tolerant walk reads the body as before, so what comes out never depends on which path read
//! it; the tests check that both give the same events on every fixture and on random bodies.

use super::parse::{
    Conversation, InboundMessage, MediaAttachment, MessageContent, MessageContext, Origin, Pricing,
    StatusUpdate, WebhookEvent,
};
use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

type Text<'a> = Option<Cow<'a, str>>;

/// The events of `body` when it has only the common shapes; `None` when the tolerant walk
/// must read it (which includes every body that is not JSON).
pub(crate) fn parse_common(body: &[u8]) -> Option<Vec<WebhookEvent>> {
    if !plain(body) {
        return None;
    }
    let Obj(envelope): Obj<Envelope<'_>> = serde_json::from_slice(body).ok()?;
    let mut out = Vec::new();
    for Obj(entry) in envelope.entry {
        let waba_id = owned(&entry.id);
        for Obj(change) in entry.changes {
            if change.field.as_deref() != Some("messages") {
                return None;
            }
            let Obj(value) = change.value?;
            if value.errors {
                return None;
            }
            let metadata = value.metadata.map(|m| m.0).unwrap_or_default();
            let origin = Origin {
                waba_id: waba_id.clone(),
                phone_number_id: owned(&metadata.phone_number_id),
                display_phone_number: owned(&metadata.display_phone_number),
            };
            let before = out.len();
            for Obj(m) in value.messages.unwrap_or_default() {
                out.push(message(&origin, value.contacts.as_deref(), m)?);
            }
            for Obj(s) in value.statuses.unwrap_or_default() {
                out.push(status(&origin, s)?);
            }
            if out.len() == before {
                return None;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether skipping a member here would judge it as the walk's full parse does. serde_json
/// skips an unread member without checking its UTF-8, its `\u` surrogate pairs or its depth,
/// all of which the walk's full parse refuses; so a body that is not valid UTF-8, has more than
/// [`MAX_BRACKETS`] brackets (so it could nest deeper than the walk allows), or has a `\u`
/// escape of a surrogate (emoji written as `\ud83d\ude00`) goes to the walk, and both paths
/// agree on what is JSON.
fn plain(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok()
        && memchr::memchr2_iter(b'{', b'[', body).count() <= MAX_BRACKETS
        && !memchr::memmem::find_iter(body, b"\\u").any(|at| {
            body.get(at + 2)
                .is_some_and(|d| d.eq_ignore_ascii_case(&b'd'))
        })
}

/// Brackets a body may have and take the typed path: it then nests at most this deep, under
/// serde_json's limit of 128 (a text message's envelope has 9; a status, 8).
const MAX_BRACKETS: usize = 96;

fn owned(s: &Text<'_>) -> Option<String> {
    s.as_deref().map(str::to_owned)
}

fn non_empty(s: &Text<'_>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An integer given as a number or a numeric string (timestamps: Meta has sent both), read as
/// the walk reads it; another type sends the body to the walk.
#[derive(Default)]
struct Int(Option<i64>);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Lenient;
        impl Visitor<'_> for Lenient {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a numeric string")
            }
            fn visit_str<E>(self, s: &str) -> Result<Int, E> {
                Ok(Int(s.trim().parse().ok()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(Some(v)))
            }
            // Beyond i64 the walk goes through f64, which saturates.
            fn visit_u64<E>(self, v: u64) -> Result<Int, E> {
                Ok(Int(Some(i64::try_from(v).unwrap_or(v as f64 as i64))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Int, E> {
                Ok(Int(v.is_finite().then_some(v as i64)))
            }
            fn visit_unit<E>(self) -> Result<Int, E> {
                Ok(Int(None))
            }
        }
        d.deserialize_any(Lenient)
    }
}

fn message(
    origin: &Origin,
    contacts: Option<&[Obj<Contact<'_>>]>,
    m: Message<'_>,
) -> Option<WebhookEvent> {
    if m.referral || m.errors {
        return None;
    }
    let id = non_empty(&m.id)?;
    let type_name = m.type_name.as_deref().filter(|t| !t.is_empty())?;
    let media = |section: Option<Box<Obj<Media<'_>>>>| {
        section.map(|m| m.0.attachment()).unwrap_or_default()
    };
    let content = match type_name {
        "text" => MessageContent::Text {
            body: owned(&m.text?.0.body)?,
        },
        "image" => MessageContent::Image(media(m.image)),
        "video" => MessageContent::Video(media(m.video)),
        "audio" => MessageContent::Audio(media(m.audio)),
        "document" => MessageContent::Document(media(m.document)),
        "sticker" => MessageContent::Sticker(media(m.sticker)),
        _ => return None,
    };
    let context = match m.context {
        Some(Obj(c)) if c.referred_product => return None,
        Some(Obj(c)) => Some(MessageContext {
            message_id: owned(&c.id),
            from: owned(&c.from),
            forwarded: c.forwarded.unwrap_or(false),
            frequently_forwarded: c.frequently_forwarded.unwrap_or(false),
            referred_product: None,
        }),
        None => None,
    };
    let from = non_empty(&m.from);
    let own_user_id = owned(&m.from_user_id)
        .or_else(|| owned(&m.user_id))
        .filter(|s| !s.is_empty());
    // The sender's contact: matched by phone or user id, or the only one (as the walk does).
    let contact = contacts.and_then(|all| {
        all.iter()
            .map(|c| &c.0)
            .find(|c| {
                (from.is_some() && c.wa_id.as_deref() == from.as_deref())
                    || (own_user_id.is_some() && c.user_id.as_deref() == own_user_id.as_deref())
            })
            .or(if all.len() == 1 {
                all.first().map(|c| &c.0)
            } else {
                None
            })
    });
    let user_id = own_user_id.or_else(|| contact.and_then(|c| non_empty(&c.user_id)));
    let profile = contact.and_then(|c| c.profile.as_ref()).map(|p| &p.0);
    Some(WebhookEvent::Message(InboundMessage {
        origin: origin.clone(),
        id,
        from,
        user_id,
        profile_name: profile.and_then(|p| owned(&p.name)),
        username: profile
            .and_then(|p| owned(&p.username))
            .or_else(|| contact.and_then(|c| owned(&c.username))),
        timestamp: m.timestamp.0,
        context,
        referral: None,
        errors: Vec::new(),
        content,
    }))
}

fn status(origin: &Origin, s: Status<'_>) -> Option<WebhookEvent> {
    if s.errors {
        return None;
    }
    Some(WebhookEvent::Status(StatusUpdate {
        origin: origin.clone(),
        id: non_empty(&s.id)?,
        status: owned(&s.status)?,
        timestamp: s.timestamp.0,
        recipient_id: non_empty(&s.recipient_id),
        recipient_user_id: owned(&s.recipient_user_id)
            .or_else(|| owned(&s.user_id))
            .filter(|u| !u.is_empty()),
        conversation: s.conversation.map(|Obj(c)| Conversation {
            id: owned(&c.id),
            origin_type: c.origin.and_then(|o| owned(&o.0.type_name)),
            expiration_timestamp: c.expiration_timestamp.0,
        }),
        pricing: s.pricing.map(|Obj(p)| Pricing {
            billable: p.billable,
            pricing_model: owned(&p.pricing_model),
            category: owned(&p.category),
            pricing_type: owned(&p.type_name),
        }),
        biz_opaque_callback_data: owned(&s.biz_opaque_callback_data),
        errors: Vec::new(),
    }))
}

/// `true` when the member is there at all, whatever its value (null included): the walk keeps
/// such members (a product reference as raw JSON, errors, a referral), so their presence
/// sends the body to it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// A JSON object, never an array: serde's derived structs also take a sequence of their
/// fields' values, which the walk reads as "not an object".
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(Object(PhantomData))
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    entry: Vec<Obj<Entry<'a>>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow)]
    changes: Vec<Obj<Change<'a>>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(borrow, default)]
    field: Text<'a>,
    #[serde(borrow, default)]
    value: Option<Obj<ChangeValue<'a>>>,
}

#[derive(Deserialize)]
struct ChangeValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<Obj<Metadata<'a>>>,
    #[serde(borrow, default)]
    contacts: Option<Vec<Obj<Contact<'a>>>>,
    #[serde(borrow, default)]
    messages: Option<Vec<Obj<Message<'a>>>>,
    #[serde(borrow, default)]
    statuses: Option<Vec<Obj<Status<'a>>>>,
    #[serde(default, deserialize_with = "present")]
    errors: bool,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    phone_number_id: Text<'a>,
    #[serde(borrow, default)]
    display_phone_number: Text<'a>,
}

#[derive(Deserialize)]
struct Contact<'a> {
    #[serde(borrow, default)]
    wa_id: Text<'a>,
    #[serde(borrow, default)]
    user_id: Text<'a>,
    #[serde(borrow, default)]
    username: Text<'a>,
    #[serde(borrow, default)]
    profile: Option<Obj<Profile<'a>>>,
}

#[derive(Deserialize)]
struct Profile<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    username: Text<'a>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    type_name: Text<'a>,
    #[serde(borrow, default)]
    from: Text<'a>,
    #[serde(borrow, default)]
    from_user_id: Text<'a>,
    #[serde(borrow, default)]
    user_id: Text<'a>,
    #[serde(default)]
    timestamp: Int,
    #[serde(borrow, default)]
    context: Option<Obj<Context<'a>>>,
    #[serde(default, deserialize_with = "present")]
    referral: bool,
    #[serde(default, deserialize_with = "present")]
    errors: bool,
    #[serde(borrow, default)]
    text: Option<Obj<TextSection<'a>>>,
    #[serde(borrow, default)]
    image: Option<Box<Obj<Media<'a>>>>,
    #[serde(borrow, default)]
    video: Option<Box<Obj<Media<'a>>>>,
    #[serde(borrow, default)]
    audio: Option<Box<Obj<Media<'a>>>>,
    #[serde(borrow, default)]
    document: Option<Box<Obj<Media<'a>>>>,
    #[serde(borrow, default)]
    sticker: Option<Box<Obj<Media<'a>>>>,
}

#[derive(Deserialize)]
struct TextSection<'a> {
    #[serde(borrow, default)]
    body: Text<'a>,
}

#[derive(Deserialize)]
struct Context<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    from: Text<'a>,
    #[serde(default)]
    forwarded: Option<bool>,
    #[serde(default)]
    frequently_forwarded: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    referred_product: bool,
}

#[derive(Deserialize)]
struct Media<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    mime_type: Text<'a>,
    #[serde(borrow, default)]
    sha256: Text<'a>,
    #[serde(borrow, default)]
    caption: Text<'a>,
    #[serde(borrow, default)]
    filename: Text<'a>,
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(default)]
    voice: Option<bool>,
    #[serde(default)]
    animated: Option<bool>,
}

impl Media<'_> {
    fn attachment(self) -> MediaAttachment {
        MediaAttachment {
            id: owned(&self.id).unwrap_or_default(),
            mime_type: owned(&self.mime_type),
            sha256: owned(&self.sha256),
            caption: owned(&self.caption),
            filename: owned(&self.filename),
            url: owned(&self.url),
            voice: self.voice,
            animated: self.animated,
        }
    }
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(default)]
    timestamp: Int,
    #[serde(borrow, default)]
    recipient_id: Text<'a>,
    #[serde(borrow, default)]
    recipient_user_id: Text<'a>,
    #[serde(borrow, default)]
    user_id: Text<'a>,
    #[serde(borrow, default)]
    conversation: Option<Obj<StatusConversation<'a>>>,
    #[serde(borrow, default)]
    pricing: Option<Obj<StatusPricing<'a>>>,
    #[serde(borrow, default)]
    biz_opaque_callback_data: Text<'a>,
    #[serde(default, deserialize_with = "present")]
    errors: bool,
}

#[derive(Deserialize)]
struct StatusConversation<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    origin: Option<Obj<ConversationOrigin<'a>>>,
    #[serde(default)]
    expiration_timestamp: Int,
}

#[derive(Deserialize)]
struct ConversationOrigin<'a> {
    #[serde(borrow, default, rename = "type")]
    type_name: Text<'a>,
}

#[derive(Deserialize)]
struct StatusPricing<'a> {
    #[serde(default)]
    billable: Option<bool>,
    #[serde(borrow, default)]
    pricing_model: Text<'a>,
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    type_name: Text<'a>,
}

#[cfg(test)]
mod tests {
    use super::parse_common;
    use crate::webhook::parse::parse_tolerant;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Both paths on one body: the typed one may decline, never disagree.
    fn agree(body: &[u8]) -> Result<bool, TestCaseError> {
        let Some(fast) = parse_common(body) else {
            return Ok(false);
        };
        prop_assert_eq!(Ok(fast), parse_tolerant(body));
        Ok(true)
    }

    #[test]
    fn every_fixture_reads_the_same_both_ways_and_the_common_ones_take_the_typed_path() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhooks");
        let mut typed = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if agree(&fixture(&name)).unwrap() {
                typed.push(name);
            }
        }
        typed.sort();
        let expected = [
            "audio_voice.json",
            "bsuid_in_contacts_only.json",
            "document.json",
            "image.json",
            "integer_timestamp.json",
            "image_with_url.json",
            "no_contacts_no_profile.json",
            "status_delivered.json",
            "status_read.json",
            "status_sent_with_pricing.json",
            "sticker_animated.json",
            "text.json",
            "text_forwarded.json",
            "text_reply_context.json",
            "username_user_without_phone.json",
            "video.json",
        ];
        for name in expected {
            assert!(
                typed.iter().any(|t| t == name),
                "{name} should take the typed path; typed: {typed:?}"
            );
        }
        // Everything unusual goes to the walk.
        for name in [
            "odd_types_everywhere.json",
            "referral_ctwa.json",
            "status_failed_outside_window.json",
            "value_level_errors.json",
            "message_without_id.json",
            "interactive_button_reply.json",
            "array_root.json",
            "not_an_envelope.json",
            "entry_without_changes.json",
            "other_field_template_status.json",
            "empty_messages_change.json",
        ] {
            assert!(
                !typed.iter().any(|t| t == name),
                "{name} must go to the tolerant walk"
            );
        }
    }

    #[test]
    fn bodies_the_walk_refuses_are_refused_by_both() {
        let text = fixture("text.json");
        let text = std::str::from_utf8(&text).unwrap();
        let mut invalid_utf8 = text.replacen("\"messages\"", "\"x\":\"\u{1}\",\"messages\"", 1);
        // An unread member with bytes that are not UTF-8.
        invalid_utf8 = invalid_utf8.replacen("\u{1}", "\u{FFFD}", 1);
        let mut bytes = invalid_utf8.into_bytes();
        let at = bytes
            .windows(3)
            .position(|w| w == "\u{FFFD}".as_bytes())
            .unwrap();
        bytes[at..at + 3].copy_from_slice(&[0xff, 0xfe, b'a']);
        let lone_surrogate = text.replacen("\"messages\"", "\"x\":\"\\ud800\",\"messages\"", 1);
        let deep = text.replacen(
            "\"messages\"",
            &format!("\"x\":{}1{},\"messages\"", "[".repeat(200), "]".repeat(200)),
            1,
        );
        // Deep, but within the walk's limit: read by the walk alone, not refused.
        let nested = text.replacen(
            "\"messages\"",
            &format!("\"x\":{}1{},\"messages\"", "[".repeat(100), "]".repeat(100)),
            1,
        );
        assert_eq!(parse_common(nested.as_bytes()), None);
        assert!(parse_tolerant(nested.as_bytes()).is_ok());
        for body in [bytes, lone_surrogate.into_bytes(), deep.into_bytes()] {
            assert_eq!(parse_common(&body), None);
            assert!(parse_tolerant(&body).is_err(), "the walk refuses it too");
        }
        // An escaped emoji in the text itself is valid: the walk reads it.
        let emoji = text.replacen("\"Hola", "\"\\ud83d\\ude00 Hola", 1);
        assert_ne!(emoji, text);
        assert_eq!(parse_common(emoji.as_bytes()), None);
        assert!(parse_tolerant(emoji.as_bytes()).is_ok());
    }

    #[test]
    fn arrays_where_objects_belong_go_to_the_walk() {
        // serde's derived structs would take these as sequences of field values.
        let text = String::from_utf8(fixture("text.json")).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let entry = value["entry"][0].clone();
        let as_array = json!([[entry["id"], entry["changes"]]]);
        let metadata_array = text.replacen(
            "\"metadata\": {",
            "\"metadata\": [\"1555\", \"999\"], \"x\": {",
            1,
        );
        assert_ne!(metadata_array, text);
        for body in [
            serde_json::to_vec(&as_array).unwrap(),
            metadata_array.into_bytes(),
        ] {
            assert_eq!(parse_common(&body), None);
            assert!(parse_tolerant(&body).is_ok());
        }
        // An envelope without events is the walk's to describe.
        assert_eq!(parse_common(br#"{"entry":[]}"#), None);
    }

    // Random bodies of the common shapes, with members present, absent, null, empty, of
    // another type, or escaped: the typed path either declines or gives the walk's events.
    fn text_or_odd() -> impl Strategy<Value = Value> {
        prop_oneof![
            40 => "[a-zA-Z0-9 áéñ\"\\\\/\n]{0,12}".prop_map(Value::from),
            2 => Just(Value::from("")),
            2 => Just(Value::Null),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<bool>().prop_map(Value::from),
            1 => Just(json!({"a": 1})),
        ]
    }

    fn member(m: &mut serde_json::Map<String, Value>, key: &str, v: Option<Value>) {
        if let Some(v) = v {
            m.insert(key.to_owned(), v);
        }
    }

    fn arb_message() -> impl Strategy<Value = Value> {
        (
            prop::option::weighted(0.8, text_or_odd()),
            prop_oneof![
                Just("text"),
                Just("image"),
                Just("document"),
                Just("sticker"),
                Just("interactive"),
                Just(""),
            ],
            prop::option::weighted(0.8, text_or_odd()),
            prop::option::weighted(0.8, text_or_odd()),
            prop::option::weighted(
                0.8,
                prop_oneof![
                    "[0-9]{1,10}".prop_map(Value::from),
                    " 17 ".prop_map(Value::from),
                    any::<i64>().prop_map(Value::from),
                    text_or_odd(),
                ],
            ),
            prop::option::weighted(0.8, text_or_odd()),
            prop::option::weighted(
                0.8,
                (
                    prop::option::weighted(0.8, text_or_odd()),
                    prop::option::weighted(
                        0.8,
                        prop_oneof![
                            9 => any::<bool>().prop_map(Value::from),
                            1 => text_or_odd(),
                        ],
                    ),
                    prop::bool::weighted(0.1),
                ),
            ),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(id, ty, from, user_id, ts, body, context, referral)| {
                let mut m = serde_json::Map::new();
                member(&mut m, "id", id);
                m.insert("type".into(), Value::from(ty));
                member(&mut m, "from", from);
                member(&mut m, "from_user_id", user_id);
                member(&mut m, "timestamp", ts);
                match ty {
                    "text" => member(&mut m, "text", body.map(|b| json!({ "body": b }))),
                    "" | "interactive" => {}
                    other => member(
                        &mut m,
                        other,
                        body.map(|b| json!({ "id": b, "mime_type": "image/jpeg", "voice": true })),
                    ),
                }
                if let Some((id, forwarded, product)) = context {
                    let mut c = serde_json::Map::new();
                    member(&mut c, "id", id);
                    member(&mut c, "forwarded", forwarded);
                    if product {
                        c.insert("referred_product".into(), Value::Null);
                    }
                    m.insert("context".into(), Value::Object(c));
                }
                if referral {
                    m.insert("referral".into(), json!({ "source_url": "x" }));
                }
                Value::Object(m)
            })
    }

    fn arb_status() -> impl Strategy<Value = Value> {
        (
            prop::option::weighted(0.8, text_or_odd()),
            prop::option::weighted(0.8, prop_oneof![Just(Value::from("read")), text_or_odd()]),
            prop::option::weighted(0.8, text_or_odd()),
            prop::option::weighted(0.8, prop::option::weighted(0.8, text_or_odd())),
            prop::option::weighted(
                0.8,
                prop_oneof![
                    9 => any::<bool>().prop_map(Value::from),
                    1 => text_or_odd(),
                ],
            ),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(id, status, recipient, conversation, billable, errors)| {
                let mut s = serde_json::Map::new();
                member(&mut s, "id", id);
                member(&mut s, "status", status);
                member(&mut s, "recipient_id", recipient);
                if let Some(origin) = conversation {
                    let mut o = serde_json::Map::new();
                    member(&mut o, "type", origin);
                    s.insert(
                        "conversation".into(),
                        json!({ "id": "c1", "origin": o, "expiration_timestamp": "1700000000" }),
                    );
                }
                member(
                    &mut s,
                    "pricing",
                    billable.map(
                        |b| json!({ "billable": b, "category": "utility", "type": "regular" }),
                    ),
                );
                if errors {
                    s.insert("errors".into(), json!([{ "code": 131047 }]));
                }
                Value::Object(s)
            })
    }

    fn arb_body() -> impl Strategy<Value = Value> {
        (
            prop::collection::vec(arb_message(), 0..3),
            prop::collection::vec(arb_status(), 0..3),
            prop::option::weighted(0.8, prop::collection::vec(
                (prop::option::weighted(0.8, text_or_odd()), prop::option::weighted(0.8, text_or_odd())),
                0..3,
            )),
            prop::option::weighted(0.8, text_or_odd()),
            prop_oneof![9 => Just("messages"), 1 => Just("account_update")],
        )
            .prop_map(|(messages, statuses, contacts, pnid, field)| {
                let mut value = serde_json::Map::new();
                value.insert("messaging_product".into(), json!("whatsapp"));
                member(
                    &mut value,
                    "metadata",
                    pnid.map(|p| json!({ "phone_number_id": p, "display_phone_number": "1555" })),
                );
                if let Some(contacts) = contacts {
                    let all: Vec<Value> = contacts
                        .into_iter()
                        .map(|(wa, name)| {
                            let mut c = serde_json::Map::new();
                            member(&mut c, "wa_id", wa);
                            member(&mut c, "profile", name.map(|n| json!({ "name": n })));
                            Value::Object(c)
                        })
                        .collect();
                    value.insert("contacts".into(), Value::from(all));
                }
                if !messages.is_empty() {
                    value.insert("messages".into(), Value::from(messages));
                }
                if !statuses.is_empty() {
                    value.insert("statuses".into(), Value::from(statuses));
                }
                json!({
                    "object": "whatsapp_business_account",
                    "entry": [{ "id": "102290129340398", "changes": [{ "field": field, "value": value }] }]
                })
            })
    }

    proptest! {
        #[test]
        fn random_common_bodies_read_the_same_both_ways(body in arb_body()) {
            agree(&serde_json::to_vec(&body).unwrap())?;
        }
    }

    #[test]
    fn the_random_bodies_do_reach_the_typed_path() {
        // Guards the property above against passing because the typed path always declines.
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = arb_body();
        let mut typed = 0;
        for _ in 0..256 {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            if agree(&serde_json::to_vec(&body).unwrap()).unwrap() {
                typed += 1;
            }
        }
        assert!(
            typed >= 20,
            "only {typed} of 256 random bodies took the typed path"
        );
    }
}
