//! A local fake of the Graph API: the same endpoints and error shapes, recording what was
//! sent, serving media, and failing on request. Used by this crate's tests and by the demo's
//! WhatsApp simulator (which mounts [`FakeGraph::router`] inside its own server).
//!
//! Endpoints (`{v}` is any API version):
//! - `POST /{v}/{phone_number_id}/messages`: send (recorded in [`FakeGraph::sent`]) or mark as
//!   read (recorded in [`FakeGraph::read_receipts`]);
//! - `GET /{v}/{media_id}`: media lookup, returning a download URL on this server;
//! - `GET /fake-media/{media_id}`: the download (bearer token required, like Meta's);
//! - `DELETE /{v}/{media_id}`: media deletion.
//!
//! Download URLs are built from the request's `Host` header, so the router works when merged
//! at the root of another server; it does not work nested under a path prefix.

use crate::signature::sign;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The access token the fake accepts unless told otherwise.
pub const FAKE_TOKEN: &str = "fake-access-token";

/// Which endpoint an injected failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Send,
    MarkRead,
    MediaLookup,
    MediaDownload,
    MediaDelete,
}

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer with Meta's error JSON.
    Graph {
        http_status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
        /// `Retry-After` header, seconds.
        retry_after: Option<u64>,
    },
    /// A bare HTTP status with a non-JSON body (a proxy error page).
    Status(u16),
    /// Downloads only: answer 404 as an expired lookaside URL does.
    ExpiredUrl,
    /// Downloads only: serve the bytes with one bit flipped.
    CorruptBytes,
    /// Answer normally, but only after this long (to exercise timeouts).
    Delay(Duration),
}

impl Failure {
    /// Meta's error for `code`, with the HTTP status Meta uses for it.
    pub fn graph(code: i64) -> Self {
        let (http_status, message) = match code {
            190 => (401, "Error validating access token: Session has expired"),
            130429 => (400, "(#130429) Rate limit hit"),
            131056 => (
                400,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            ),
            80007 => (400, "(#80007) Rate limit issues"),
            131047 => (400, "(#131047) Re-engagement message"),
            131026 => (400, "(#131026) Message Undeliverable"),
            131050 => (
                400,
                "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business",
            ),
            131000 => (500, "(#131000) Something went wrong"),
            100 => (400, "(#100) Invalid parameter"),
            _ => (400, "Graph error"),
        };
        Self::Graph {
            http_status,
            code,
            subcode: None,
            message: message.to_owned(),
            retry_after: None,
        }
    }
}

#[derive(Debug, Clone)]
struct FakeMedia {
    bytes: Vec<u8>,
    mime: String,
    deleted: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    token: String,
    sent: Vec<Value>,
    reads: Vec<Value>,
    media: HashMap<String, FakeMedia>,
    failures: HashMap<Endpoint, VecDeque<Failure>>,
    next_id: u64,
    /// Every request seen per endpoint (including failed ones).
    hits: HashMap<Endpoint, usize>,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(s: &Shared) -> MutexGuard<'_, FakeState> {
    // A panicking test thread must not poison the fake for the others.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake Graph API server.
#[derive(Debug)]
pub struct FakeGraph {
    state: Shared,
    addr: Option<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl FakeGraph {
    /// A fake without a listener of its own: mount [`FakeGraph::router`] in a server.
    pub fn detached() -> Self {
        Self {
            state: Arc::new(Mutex::new(FakeState {
                token: FAKE_TOKEN.into(),
                ..FakeState::default()
            })),
            addr: None,
            task: None,
        }
    }

    /// Start the fake on `127.0.0.1` on a free port.
    pub async fn start() -> Self {
        let mut fake = Self::detached();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        fake.addr = listener.local_addr().ok();
        let app = fake.router();
        fake.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
        fake
    }

    /// `http://127.0.0.1:PORT` (empty for a detached fake).
    pub fn base_url(&self) -> String {
        self.addr.map(|a| format!("http://{a}")).unwrap_or_default()
    }

    /// The access token requests must carry (default [`FAKE_TOKEN`]).
    pub fn set_token(&self, token: &str) {
        lock(&self.state).token = token.to_owned();
    }

    /// Every message request received (not read receipts), in order, as sent.
    pub fn sent(&self) -> Vec<Value> {
        lock(&self.state).sent.clone()
    }

    /// Every mark-as-read request received, in order.
    pub fn read_receipts(&self) -> Vec<Value> {
        lock(&self.state).reads.clone()
    }

    /// How many requests reached `endpoint` (including failed ones).
    pub fn hits(&self, endpoint: Endpoint) -> usize {
        lock(&self.state).hits.get(&endpoint).copied().unwrap_or(0)
    }

    /// Store media to be served; returns its media id.
    pub fn add_media(&self, bytes: impl Into<Vec<u8>>, mime: &str) -> String {
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = format!("{}", 900_000_000_000u64 + s.next_id);
        s.media.insert(
            id.clone(),
            FakeMedia {
                bytes: bytes.into(),
                mime: mime.to_owned(),
                deleted: false,
            },
        );
        id
    }

    /// `(mime_type, sha256 as base64)` of stored media, as a webhook would declare them.
    pub fn media_declaration(&self, media_id: &str) -> Option<(String, String)> {
        let s = lock(&self.state);
        let m = s.media.get(media_id)?;
        let digest = crate::media::sha256(&m.bytes);
        Some((
            m.mime.clone(),
            base64::engine::general_purpose::STANDARD.encode(digest),
        ))
    }

    /// Whether media was deleted through the API.
    pub fn media_deleted(&self, media_id: &str) -> bool {
        lock(&self.state)
            .media
            .get(media_id)
            .is_some_and(|m| m.deleted)
    }

    /// Make the next `times` requests to `endpoint` fail with `failure`.
    pub fn inject_failure(&self, endpoint: Endpoint, failure: Failure, times: usize) {
        let mut s = lock(&self.state);
        let q = s.failures.entry(endpoint).or_default();
        for _ in 0..times {
            q.push_back(failure.clone());
        }
    }

    /// The router, to serve or to merge at the root of another server.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .route("/{version}/{media_id}", get(lookup).delete(delete_media))
            .route("/fake-media/{media_id}", get(download))
            .with_state(self.state.clone())
    }
}

fn graph_error(http_status: u16, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut e = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AfakeTraceId",
    });
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    (
        StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(json!({ "error": e })),
    )
        .into_response()
}

/// Count the hit, check the token, and pop an injected failure. `Err` is the answer to give.
async fn gate(
    state: &Shared,
    endpoint: Endpoint,
    headers: &HeaderMap,
) -> Result<Option<Failure>, Response> {
    let (failure, token) = {
        let mut s = lock(state);
        *s.hits.entry(endpoint).or_default() += 1;
        let f = s.failures.get_mut(&endpoint).and_then(VecDeque::pop_front);
        (f, s.token.clone())
    };
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == token);
    if !authorized {
        return Err(graph_error(
            401,
            190,
            Some(463),
            "Error validating access token",
        ));
    }
    match failure {
        Some(Failure::Graph {
            http_status,
            code,
            subcode,
            message,
            retry_after,
        }) => {
            let mut r = graph_error(http_status, code, subcode, &message);
            if let Some(ra) = retry_after
                && let Ok(v) = http::HeaderValue::from_str(&ra.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Err(r)
        }
        Some(Failure::Status(code)) => Err((
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
            "<html>upstream error</html>",
        )
            .into_response()),
        Some(Failure::Delay(d)) => {
            tokio::time::sleep(d).await;
            Ok(None)
        }
        other => Ok(other),
    }
}

async fn messages(
    State(state): State<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(400, 100, None, "(#100) Invalid JSON");
    };
    let is_read = v.get("status").and_then(Value::as_str) == Some("read");
    let endpoint = if is_read {
        Endpoint::MarkRead
    } else {
        Endpoint::Send
    };
    if let Err(r) = gate(&state, endpoint, &headers).await {
        return r;
    }
    if v.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameter messaging_product is required.",
        );
    }
    let mut s = lock(&state);
    if is_read {
        if v.get("message_id").and_then(Value::as_str).is_none() {
            return graph_error(
                400,
                100,
                None,
                "(#100) The parameter message_id is required.",
            );
        }
        s.reads.push(v);
        return axum::Json(json!({ "success": true })).into_response();
    }
    let to = v
        .get("to")
        .or_else(|| v.get("recipient"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    let (Some(to), true) = (to, v.get(kind.as_str()).is_some()) else {
        return graph_error(400, 131008, None, "(#131008) Required parameter is missing");
    };
    // The contact-information request: a body text and the action that names it.
    let interactive = &v["interactive"];
    if kind == "interactive"
        && interactive["type"] == "request_contact_info"
        && (interactive["action"]["name"] != "request_contact_info"
            || interactive["body"]["text"]
                .as_str()
                .is_none_or(str::is_empty))
    {
        return graph_error(400, 131008, None, "(#131008) Required parameter is missing");
    }
    s.next_id += 1;
    let id = format!("wamid.FAKE{phone_number_id}.{}", s.next_id);
    let mut recorded = v;
    recorded["_phone_number_id"] = json!(phone_number_id);
    recorded["_message_id"] = json!(id);
    s.sent.push(recorded);
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": id }],
    }))
    .into_response()
}

fn not_found() -> Response {
    graph_error(
        400,
        100,
        Some(33),
        "Unsupported get request. Object does not exist",
    )
}

async fn lookup(
    State(state): State<Shared>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&state, Endpoint::MediaLookup, &headers).await {
        return r;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let s = lock(&state);
    match s.media.get(&media_id) {
        Some(m) if !m.deleted => axum::Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("http://{host}/fake-media/{media_id}"),
            "mime_type": m.mime,
            "sha256": hex::encode(crate::media::sha256(&m.bytes)),
            "file_size": m.bytes.len().to_string(),
            "id": media_id,
        }))
        .into_response(),
        _ => not_found(),
    }
}

async fn download(
    State(state): State<Shared>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let failure = match gate(&state, Endpoint::MediaDownload, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if failure == Some(Failure::ExpiredUrl) {
        return (StatusCode::NOT_FOUND, "URL signature expired").into_response();
    }
    let s = lock(&state);
    let Some(m) = s.media.get(&media_id).filter(|m| !m.deleted) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut bytes = m.bytes.clone();
    if failure == Some(Failure::CorruptBytes)
        && let Some(last) = bytes.last_mut()
    {
        *last ^= 1;
    }
    ([(header::CONTENT_TYPE, m.mime.clone())], bytes).into_response()
}

async fn delete_media(
    State(state): State<Shared>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&state, Endpoint::MediaDelete, &headers).await {
        return r;
    }
    let mut s = lock(&state);
    match s.media.get_mut(&media_id) {
        Some(m) if !m.deleted => {
            m.deleted = true;
            axum::Json(json!({ "success": true })).into_response()
        }
        _ => not_found(),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook payload builders (what Meta would POST to our webhook)
// ---------------------------------------------------------------------------------------------

/// A simulated WhatsApp user.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FakeUser {
    /// Phone number (wa_id); `None` for a username user who hides it.
    pub phone: Option<String>,
    /// Business-scoped user id.
    pub user_id: Option<String>,
    /// Profile name.
    pub name: Option<String>,
}

impl std::fmt::Debug for FakeUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUser")
            .field("phone", &crate::redact::redacted_opt(self.phone.as_deref()))
            .field(
                "user_id",
                &crate::redact::redacted_opt(self.user_id.as_deref()),
            )
            .finish_non_exhaustive()
    }
}

impl FakeUser {
    /// A user known by phone number.
    pub fn phone(phone: &str) -> Self {
        Self {
            phone: Some(phone.into()),
            user_id: None,
            name: Some("Usuario de prueba".into()),
        }
    }

    /// A user known only by a business-scoped id (a username user who hides their number).
    pub fn business_scoped(user_id: &str) -> Self {
        Self {
            phone: None,
            user_id: Some(user_id.into()),
            name: Some("Usuario de prueba".into()),
        }
    }
}

/// A complete webhook body carrying the `value` fields given (`messages`, `statuses`, …)
/// for business number `phone_number_id`.
pub fn envelope(phone_number_id: &str, value_fields: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550001111",
            "phone_number_id": phone_number_id,
        },
    });
    if let (Some(v), Some(extra)) = (value.as_object_mut(), value_fields.as_object()) {
        for (k, x) in extra {
            v.insert(k.clone(), x.clone());
        }
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": "messages" }] }],
    })
}

/// A message body from `user`, with its `contacts` entry.
pub fn message_payload(
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    type_name: &str,
    content: Value,
) -> Value {
    let mut msg = json!({
        "id": message_id,
        "timestamp": timestamp.to_string(),
        "type": type_name,
    });
    msg[type_name] = content;
    if let Some(p) = &user.phone {
        msg["from"] = json!(p);
    }
    if let Some(u) = &user.user_id {
        msg["from_user_id"] = json!(u);
    }
    let mut contact = json!({ "profile": { "name": user.name.clone().unwrap_or_default() } });
    if let Some(p) = &user.phone {
        contact["wa_id"] = json!(p);
    }
    if let Some(u) = &user.user_id {
        contact["user_id"] = json!(u);
    }
    envelope(
        phone_number_id,
        json!({ "contacts": [contact], "messages": [msg] }),
    )
}

/// A `contacts` message webhook: one card with `phone`, and `origin` `contact_request` (the
/// answer to the contact-information request) or `other` (a card shared by hand).
pub fn contacts_message(
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    phone: &str,
    origin: &str,
) -> Value {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    message_payload(
        phone_number_id,
        user,
        message_id,
        timestamp,
        "contacts",
        json!([{
            "name": { "formatted_name": "Contacto", "first_name": "Contacto" },
            "origin": origin,
            "phones": [{ "phone": phone, "wa_id": digits, "type": "CELL" }],
        }]),
    )
}

/// A text message webhook.
pub fn text_message(
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> Value {
    message_payload(
        phone_number_id,
        user,
        message_id,
        timestamp,
        "text",
        json!({ "body": body }),
    )
}

/// An image message webhook for media stored in the fake (mime and hash filled in).
pub fn image_message(
    fake: &FakeGraph,
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    media_id: &str,
    caption: Option<&str>,
) -> Value {
    let (mime, sha) = fake
        .media_declaration(media_id)
        .unwrap_or_else(|| ("image/jpeg".into(), String::new()));
    let mut image = json!({ "id": media_id, "mime_type": mime, "sha256": sha });
    if let Some(c) = caption {
        image["caption"] = json!(c);
    }
    message_payload(phone_number_id, user, message_id, timestamp, "image", image)
}

/// A reply-button tap webhook.
pub fn button_reply_message(
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    reply_id: &str,
    title: &str,
) -> Value {
    message_payload(
        phone_number_id,
        user,
        message_id,
        timestamp,
        "interactive",
        json!({ "type": "button_reply", "button_reply": { "id": reply_id, "title": title } }),
    )
}

/// A list-row pick webhook.
pub fn list_reply_message(
    phone_number_id: &str,
    user: &FakeUser,
    message_id: &str,
    timestamp: i64,
    reply_id: &str,
    title: &str,
) -> Value {
    message_payload(
        phone_number_id,
        user,
        message_id,
        timestamp,
        "interactive",
        json!({ "type": "list_reply", "list_reply": { "id": reply_id, "title": title } }),
    )
}

/// A status webhook for one of our messages; `error_code` makes it a `failed` status.
pub fn status_update(
    phone_number_id: &str,
    message_id: &str,
    status: &str,
    recipient: &FakeUser,
    timestamp: i64,
    error_code: Option<i64>,
) -> Value {
    let mut st = json!({
        "id": message_id,
        "status": status,
        "timestamp": timestamp.to_string(),
    });
    if let Some(p) = &recipient.phone {
        st["recipient_id"] = json!(p);
    }
    if let Some(u) = &recipient.user_id {
        st["recipient_user_id"] = json!(u);
    }
    if let Some(code) = error_code {
        st["errors"] = json!([{ "code": code, "title": "error", "message": "error",
            "error_data": { "details": "simulated" } }]);
    }
    envelope(phone_number_id, json!({ "statuses": [st] }))
}

/// Serialize `payload` as Meta would and sign it: `(body, X-Hub-Signature-256 value)`.
pub fn signed_webhook_body(app_secret: &[u8], payload: &Value) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(payload).expect("JSON values serialize");
    let sig = sign(app_secret, &body);
    (body, sig)
}
