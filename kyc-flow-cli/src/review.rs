//! The manual review API and page, served by `serve` (on its own listener, loopback unless
//! told otherwise) and by `demo` (on the demo's listener).
//!
//! Routes (JSON; shapes in `docs/CLI.md`):
//! - `GET  /review` — the review page (static HTML; it asks for a token and keeps it in the
//!   tab's `sessionStorage`);
//! - `GET  /review/api/cases?offset=&limit=` — open cases, oldest first, evidence masked;
//! - `GET  /review/api/cases/{id}` — one case (audited `review.viewed` with the reviewer id);
//! - `POST /review/api/cases/{id}/approve` and `…/reject` — body `{"reason": code, "note": text?}`;
//!   answered 202 once the decision is queued (audited `review.approve|reject`).
//!
//! Authentication: `Authorization: Bearer <token>`; each configured token belongs to one
//! reviewer id, which is what the audit trail records. Tokens are compared in constant time
//! (SHA-256 of both sides, compared with `subtle`, every token tried). Anonymous access exists
//! only on a loopback address (the demo, or `allow_anonymous`), and `serve` refuses to start
//! with it on any other address; the reviewer id then comes from the request (`reviewer`).

use anyhow::anyhow;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use kyc_flow::Engine;
use kyc_flow::review::{ReviewError, Verdict, valid_reviewer};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Where `serve` reads review tokens when `[review] tokens` is empty: `id=token,id=token`.
pub const REVIEW_TOKENS_ENV: &str = "KYC_FLOW_REVIEW_TOKENS";
/// Shortest token accepted (characters).
pub const MIN_TOKEN_LEN: usize = 32;

/// The `[review]` section of the serve config.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// Address of the review listener (`HOST:PORT`). Loopback by default.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Reviewer id → bearer token (at least [`MIN_TOKEN_LEN`] characters).
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// Allow requests without a token — only on a loopback `listen` (refused otherwise).
    #[serde(default)]
    pub allow_anonymous: bool,
}

fn default_listen() -> String {
    "127.0.0.1:8081".to_owned()
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            tokens: BTreeMap::new(),
            allow_anonymous: false,
        }
    }
}

/// Reviewer ids only: the tokens are secrets.
impl std::fmt::Debug for ReviewConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewConfig")
            .field("listen", &self.listen)
            .field("reviewers", &self.tokens.keys().collect::<Vec<_>>())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

impl ReviewConfig {
    /// Fill the tokens from [`REVIEW_TOKENS_ENV`] when the file has none.
    pub fn tokens_from_env(&mut self) -> anyhow::Result<()> {
        if !self.tokens.is_empty() {
            return Ok(());
        }
        let Ok(value) = std::env::var(REVIEW_TOKENS_ENV) else {
            return Ok(());
        };
        for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
            let (id, token) = pair.split_once('=').ok_or_else(|| {
                anyhow!("{REVIEW_TOKENS_ENV}: expected reviewer=token pairs separated by commas")
            })?;
            self.tokens
                .insert(id.trim().to_owned(), token.trim().to_owned());
        }
        Ok(())
    }

    /// The authentication this section asks for, or why it cannot be served.
    pub fn auth(&self) -> anyhow::Result<ReviewAuth> {
        let loopback = listen_is_loopback(&self.listen)
            .ok_or_else(|| anyhow!("serve config: `review.listen`: expected HOST:PORT"))?;
        for (id, token) in &self.tokens {
            if !valid_reviewer(id) {
                return Err(anyhow!(
                    "serve config: `review.tokens`: reviewer ids are 1-64 characters of \
                     A-Z a-z 0-9 . _ @ -"
                ));
            }
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(anyhow!(
                    "serve config: `review.tokens.{id}`: a token needs at least {MIN_TOKEN_LEN} \
                     characters"
                ));
            }
        }
        if self.allow_anonymous && !loopback {
            return Err(anyhow!(
                "serve config: `review.allow_anonymous`: anonymous review access is only allowed \
                 on a loopback address, and `review.listen` is {}",
                self.listen
            ));
        }
        if self.tokens.is_empty() && !self.allow_anonymous {
            return Err(anyhow!(
                "serve config: `review.tokens`: no reviewer token (set tokens, or \
                 {REVIEW_TOKENS_ENV}, or allow_anonymous on a loopback address)"
            ));
        }
        Ok(ReviewAuth::new(
            self.tokens.iter().map(|(k, v)| (k.clone(), v.clone())),
            self.allow_anonymous,
        ))
    }
}

/// Whether `HOST:PORT` names a loopback address (`None`: not `HOST:PORT`). `localhost` counts.
pub fn listen_is_loopback(listen: &str) -> Option<bool> {
    let (host, port) = listen.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Some(true);
    }
    Some(
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    )
}

/// Who may use the review API.
#[derive(Clone)]
pub struct ReviewAuth {
    /// Reviewer id and the SHA-256 of its token.
    tokens: Vec<(String, [u8; 32])>,
    anonymous: bool,
}

impl std::fmt::Debug for ReviewAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewAuth")
            .field("reviewers", &self.tokens.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl ReviewAuth {
    /// Tokens by reviewer id; `anonymous` also admits requests without a token (loopback only:
    /// the caller checks the address).
    pub fn new(tokens: impl IntoIterator<Item = (String, String)>, anonymous: bool) -> Self {
        Self {
            tokens: tokens
                .into_iter()
                .map(|(id, t)| (id, Sha256::digest(t.as_bytes()).into()))
                .collect(),
            anonymous,
        }
    }

    /// The reviewer a request acts as: the token's owner; without a token, on anonymous
    /// access, `claimed` (validated) or `anonymous`. `None`: unauthorized.
    pub(crate) fn reviewer(&self, headers: &HeaderMap, claimed: Option<&str>) -> Option<String> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match presented {
            Some(token) => {
                let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
                // Every token is compared, whichever matches: the time taken says nothing
                // about which one (or how much of one) was right.
                let mut found = None;
                for (id, expected) in &self.tokens {
                    if bool::from(expected.ct_eq(&digest)) {
                        found = Some(id.clone());
                    }
                }
                found
            }
            None if self.anonymous => Some(
                claimed
                    .filter(|c| valid_reviewer(c))
                    .unwrap_or("anonymous")
                    .to_owned(),
            ),
            None => None,
        }
    }
}

struct ReviewState {
    engine: Engine,
    auth: ReviewAuth,
}

/// The review routes (page and API) over `engine`.
pub fn router(engine: Engine, auth: ReviewAuth) -> Router {
    let state = Arc::new(ReviewState { engine, auth });
    Router::new()
        .route("/review", get(page))
        .route("/review/api/cases", get(list))
        .route("/review/api/cases/{id}", get(show))
        .route("/review/api/cases/{id}/{verdict}", post(decide))
        .route("/review/api/erase", post(erase))
        .with_state(state)
}

async fn page() -> Html<&'static str> {
    Html(include_str!("demo/review.html"))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn unauthorized() -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "unauthorized");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"kyc-flow review\""),
    );
    r
}

/// The one place review errors become HTTP answers; storage details stay in the logs.
fn failure(e: ReviewError) -> Response {
    match e {
        ReviewError::NotFound => error(StatusCode::NOT_FOUND, "no open review case with that id"),
        ReviewError::NotAwaitingReview(_) => error(StatusCode::CONFLICT, &e.to_string()),
        ReviewError::Invalid(m) => error(StatusCode::BAD_REQUEST, &m),
        other => {
            tracing::warn!(error = %other, "review request failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; try again",
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
    /// Who is asking, on anonymous access only.
    #[serde(default)]
    reviewer: Option<String>,
}

fn default_limit() -> usize {
    50
}

async fn list(
    State(s): State<Arc<ReviewState>>,
    headers: HeaderMap,
    Query(q): Query<Page>,
) -> Response {
    if s.auth.reviewer(&headers, q.reviewer.as_deref()).is_none() {
        return unauthorized();
    }
    match s.engine.review_cases(q.offset, q.limit).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(e) => failure(e.into()),
    }
}

async fn show(
    State(s): State<Arc<ReviewState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Page>,
) -> Response {
    let Some(reviewer) = s.auth.reviewer(&headers, q.reviewer.as_deref()) else {
        return unauthorized();
    };
    match s.engine.review_case(&id, &reviewer).await {
        Ok(Some(case)) => axum::Json(case).into_response(),
        Ok(None) => failure(ReviewError::NotFound),
        Err(e) => failure(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// A reason code (`documents_verified`, `document_forged`, …).
    reason: String,
    /// Free text for the record; never logged.
    #[serde(default)]
    note: Option<String>,
    /// Who is deciding, on anonymous access only (a token names its reviewer).
    #[serde(default)]
    reviewer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    /// The user's phone number (digits), or their business-scoped id with `bsuid: true`.
    user: String,
    #[serde(default)]
    bsuid: bool,
    /// Business phone number ids besides the routing's.
    #[serde(default)]
    numbers: Vec<String>,
    /// A reason code (`user_request`, `legal_order`, …).
    reason: String,
    #[serde(default)]
    reviewer: Option<String>,
}

/// `POST /review/api/erase`: erase every conversation of one user (see `kyc_flow::erasure`).
async fn erase(
    State(s): State<Arc<ReviewState>>,
    headers: HeaderMap,
    body: Result<axum::Json<EraseBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let claimed = body.as_ref().ok().and_then(|b| b.reviewer.clone());
    let Some(reviewer) = s.auth.reviewer(&headers, claimed.as_deref()) else {
        return unauthorized();
    };
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    if !kyc_flow::review::valid_reason(&body.reason) {
        return error(
            StatusCode::BAD_REQUEST,
            "reason must be a code of a-z 0-9 _ . -",
        );
    }
    if body.user.is_empty() || body.user.len() > 128 {
        return error(StatusCode::BAD_REQUEST, "user must be 1-128 characters");
    }
    let user = if body.bsuid {
        kyc_flow_core::UserRef::Bsuid(body.user)
    } else {
        kyc_flow_core::UserRef::Phone(body.user.trim_start_matches('+').to_owned())
    };
    let numbers: Vec<kyc_flow_core::PhoneNumberId> = body
        .numbers
        .into_iter()
        .map(kyc_flow_core::PhoneNumberId)
        .collect();
    let why = format!("{} by {reviewer}", body.reason);
    match s.engine.erase_user(&user, &numbers, &why).await {
        Ok(erased) => axum::Json(json!({
            "user": user.redacted(),
            "found": erased.iter().any(|e| e.found()),
            "erased": erased,
        }))
        .into_response(),
        Err(e) => failure(e.into()),
    }
}

/// `POST /review/api/cases/{id}/approve` and `…/reject`; any other last segment is not a
/// route (404, as an unrouted path).
async fn decide(
    State(s): State<Arc<ReviewState>>,
    headers: HeaderMap,
    Path((id, verdict)): Path<(String, String)>,
    body: Result<axum::Json<DecideBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // Authentication first: an anonymous caller learns nothing about the body's shape.
    let claimed = body.as_ref().ok().and_then(|b| b.reviewer.clone());
    let Some(reviewer) = s.auth.reviewer(&headers, claimed.as_deref()) else {
        return unauthorized();
    };
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    match s
        .engine
        .review_decide(&id, verdict, &reviewer, &body.reason, body.note)
        .await
    {
        Ok(()) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "queued",
                "id": id,
                "verdict": verdict.as_str(),
                "reviewer": reviewer,
            })),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use kyc_flow::engine::{AuditLog, EngineBuilder, Ports, Routing};
    use kyc_flow::{EngineConfig, ManualClock};
    use kyc_flow_core::command::Command;
    use kyc_flow_core::evidence::{CrossCheck, ExtractedField, FieldSource, Side};
    use kyc_flow_core::flow::FlowSet;
    use kyc_flow_core::risk::{RiskCode, RiskSignal};
    use kyc_flow_core::session::{SelfieEvidence, SideEvidence, State as SessionState};
    use kyc_flow_core::{
        Decision, DecisionReason, SessionIdSecret, SessionKey, Timestamp, UserRef, machine,
    };
    use kyc_flow_testkit::sim::SimPorts;
    use serde_json::Value;
    use std::sync::Mutex;
    use std::time::Duration;
    use tower::ServiceExt as _;

    const TOKEN: &str = "test-review-token-0123456789abcdef";
    const START: Timestamp = Timestamp(1_772_463_600_000);

    #[derive(Default)]
    struct Lines(Mutex<Vec<(String, String)>>);
    impl AuditLog for Lines {
        fn record(&self, _key: &SessionKey, _at: Timestamp, kind: &str, detail: &str) {
            self.0
                .lock()
                .unwrap()
                .push((kind.to_owned(), detail.to_owned()));
        }
    }
    impl Lines {
        fn of(&self, prefix: &str) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, d)| format!("{k}: {d}"))
                .collect()
        }
    }

    struct Fixture {
        engine: Engine,
        sim: SimPorts,
        audit: Arc<Lines>,
        app: Router,
    }

    fn fixture(redis: Option<&kyc_flow_redis::RedisStorage>) -> Fixture {
        let flows = FlowSet::presets();
        let sim = SimPorts::new(flows.latest("mx-ine").unwrap().registries());
        let mut ports: Ports = sim.ports();
        if let Some(storage) = redis {
            ports = ports
                .to_builder()
                .sessions(Arc::new(storage.sessions()))
                .evidence(Arc::new(storage.evidence()))
                .queue(Arc::new(storage.queue()))
                .timers(Arc::new(storage.timers()))
                .leases(Arc::new(storage.leases()))
                .reviews(Arc::new(storage.reviews()))
                .build()
                .unwrap();
        }
        let audit = Arc::new(Lines::default());
        let engine = EngineBuilder::new(ports, flows, Routing::single("mx-ine"))
            .clock(Arc::new(ManualClock::new(START)))
            .config(EngineConfig {
                session_id_secret: Some(SessionIdSecret::from_hex(&"5e".repeat(32)).unwrap()),
                ..EngineConfig::default()
            })
            .audit(audit.clone())
            .build()
            .unwrap();
        let auth = ReviewAuth::new([("ana".to_owned(), TOKEN.to_owned())], false);
        let app = router(engine.clone(), auth);
        Fixture {
            engine,
            sim,
            audit,
            app,
        }
    }

    fn key(n: u32) -> SessionKey {
        SessionKey::new(
            "default",
            "100200300",
            UserRef::Phone(format!("52155{n:08}")),
        )
    }

    /// A session decided `ManualReview` (uncertified liveness) with its decision still in the
    /// outbox, as the machine leaves it; the engine then drains it, which files the case.
    async fn send_to_review(f: &Fixture, key: &SessionKey, minutes: u64) {
        let flow = f.engine.flows().latest("mx-ine").unwrap();
        let now = START.plus(Duration::from_secs(60 * minutes));
        let mut s = machine::start(flow, key.clone(), format!("sess-{minutes}"), None, START);
        let decision = Decision::ManualReview {
            reasons: vec![DecisionReason::LivenessNotCertified],
        };
        s.state = SessionState::Decided;
        s.seq = 12;
        s.decision = Some(decision.clone());
        s.decided_at = Some(now);
        s.updated_at = now;
        s.last_inbound_at = Some(now);
        s.attempts = vec![0, 1, 2, 1];
        s.evidence.documents.push(SideEvidence {
            side: Some(Side::Front),
            fields: [
                ("document_number", "IDMEX1234567890"),
                ("surnames", "GARCIA LOPEZ"),
                ("birth_date", "1990-05-14"),
            ]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    ExtractedField {
                        value: v.to_owned(),
                        confidence: 0.96,
                        source: FieldSource::Printed,
                    },
                )
            })
            .collect(),
            checks: vec![CrossCheck {
                name: "curp_vs_birth_date".into(),
                passed: true,
                detail: "consistent".into(),
            }],
            portrait: true,
        });
        s.evidence.selfie = Some(SelfieEvidence {
            face_score: 0.71,
            face_threshold: 0.5,
            face_engine: "scripted".into(),
            liveness_score: 0.93,
            liveness_engine: "scripted".into(),
            liveness_certified: false,
        });
        s.evidence.flags = vec![DecisionReason::LivenessNotCertified];
        s.evidence.risk = vec![RiskSignal::new(RiskCode::LivenessNotCertified)];
        s.outbox.stage(12, [Command::DeliverDecision { decision }]);
        f.engine
            .ports()
            .sessions
            .save(key, &s, None, Duration::from_secs(3600))
            .await
            .unwrap();
        f.engine.finish_pending(key).await.unwrap();
        f.engine.run_until_idle("test").await.unwrap();
    }

    async fn call(
        f: &Fixture,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = f.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn missing_or_wrong_tokens_get_401_on_every_route() {
        let f = fixture(None);
        send_to_review(&f, &key(1), 1).await;
        let id = f.engine.session_id(&key(1));
        let approve = Some(json!({ "reason": "documents_verified" }));
        for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
            for (method, uri, body) in [
                ("GET", "/review/api/cases".to_owned(), None),
                ("GET", format!("/review/api/cases/{id}"), None),
                (
                    "POST",
                    format!("/review/api/cases/{id}/approve"),
                    approve.clone(),
                ),
                (
                    "POST",
                    format!("/review/api/cases/{id}/reject"),
                    approve.clone(),
                ),
            ] {
                let (status, body) = call(&f, method, &uri, token, body).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {uri} with {token:?}"
                );
                assert_eq!(body, json!({ "error": "unauthorized" }));
            }
        }
        // Nothing was decided by the refused requests.
        assert_eq!(f.engine.ports().reviews.count().await.unwrap(), 1);
        assert!(f.audit.of("review.approve").is_empty());
    }

    #[test]
    fn anonymous_access_is_refused_beyond_loopback_and_needs_asking_for() {
        let cfg = |listen: &str, anonymous: bool, tokens: &[(&str, &str)]| ReviewConfig {
            listen: listen.to_owned(),
            allow_anonymous: anonymous,
            tokens: tokens
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        };
        assert!(cfg("127.0.0.1:8081", true, &[]).auth().is_ok());
        assert!(cfg("[::1]:8081", true, &[]).auth().is_ok());
        assert!(cfg("localhost:8081", true, &[]).auth().is_ok());
        let err = cfg("0.0.0.0:8081", true, &[])
            .auth()
            .unwrap_err()
            .to_string();
        assert!(err.contains("review.allow_anonymous"), "{err}");
        let err = cfg("10.0.0.5:8081", false, &[])
            .auth()
            .unwrap_err()
            .to_string();
        assert!(err.contains("review.tokens"), "{err}");
        assert!(cfg("0.0.0.0:8081", false, &[("ana", TOKEN)]).auth().is_ok());
        let err = cfg("0.0.0.0:8081", false, &[("ana", "short")])
            .auth()
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 32"), "{err}");
        let err = cfg("0.0.0.0:8081", false, &[("ana lopez", TOKEN)])
            .auth()
            .unwrap_err()
            .to_string();
        assert!(err.contains("reviewer ids"), "{err}");
        let shown = format!("{:?}", cfg("0.0.0.0:8081", false, &[("ana", TOKEN)]));
        assert!(!shown.contains(TOKEN), "Debug hides tokens: {shown}");
    }

    #[tokio::test]
    async fn anonymous_access_on_loopback_names_the_claimed_reviewer() {
        let f = fixture(None);
        let app = router(f.engine.clone(), ReviewAuth::new([], true));
        send_to_review(&f, &key(2), 1).await;
        let id = f.engine.session_id(&key(2));
        let req = Request::post(format!("/review/api/cases/{id}/approve"))
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"reason": "face_confirmed", "reviewer": "demo-reviewer"}).to_string(),
            ))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_eq!(
            f.audit.of("review.approve"),
            ["review.approve: by demo-reviewer: face_confirmed"]
        );
    }

    /// List, show and approve through the API; the reviewer's decision reaches the bank as a
    /// decision notice, the case closes, and every step is in the audit trail.
    async fn list_show_approve(f: &Fixture) {
        send_to_review(f, &key(3), 2).await;
        send_to_review(f, &key(4), 1).await;
        let (first, second) = (f.engine.session_id(&key(4)), f.engine.session_id(&key(3)));

        let (status, page) = call(f, "GET", "/review/api/cases", Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["total"], 2);
        assert_eq!(page["cases"][0]["id"], json!(first), "oldest first");
        assert_eq!(page["cases"][1]["id"], json!(second));
        let text = page.to_string();
        for clear in [
            "IDMEX1234567890",
            "GARCIA",
            "LOPEZ",
            "1990-05-14",
            "5215500000004",
        ] {
            assert!(!text.contains(clear), "{clear} in clear in {text}");
        }
        insta::assert_json_snapshot!("review_list", page);

        let (status, case) = call(
            f,
            "GET",
            &format!("/review/api/cases/{first}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(case, page["cases"][0]);
        assert_eq!(f.audit.of("review.viewed"), ["review.viewed: by ana"]);

        let notices_before = f.sim.decisions.delivered().len();
        let (status, answer) = call(
            f,
            "POST",
            &format!("/review/api/cases/{first}/approve"),
            Some(TOKEN),
            Some(json!({ "reason": "documents_verified", "note": "compared by phone" })),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        insta::assert_json_snapshot!("review_approve", answer);
        f.engine.run_until_idle("test").await.unwrap();

        let notices = f.sim.decisions.delivered();
        assert_eq!(notices.len(), notices_before + 1, "one new decision notice");
        let last = notices.last().unwrap();
        assert_eq!(last.key, key(4));
        assert_eq!(
            last.decision,
            Decision::Approved {
                reasons: vec![DecisionReason::OperatorDecision]
            }
        );
        let (_, page) = call(f, "GET", "/review/api/cases", Some(TOKEN), None).await;
        assert_eq!(page["total"], 1, "the approved case is closed");
        assert_eq!(page["cases"][0]["id"], json!(second));
        assert_eq!(
            f.audit.of("review."),
            [
                "review.viewed: by ana",
                "review.approve: by ana: documents_verified",
                "review.closed: approved",
            ]
        );
        assert_eq!(
            f.audit.of("operator."),
            ["operator.decision: approved by ana"]
        );
        let all = format!("{:?}", f.audit.0.lock().unwrap());
        assert!(
            !all.contains("compared by phone"),
            "the note is never audited"
        );

        // A second decision on the closed case is refused; the other case can be rejected.
        let (status, _) = call(
            f,
            "POST",
            &format!("/review/api/cases/{first}/reject"),
            Some(TOKEN),
            Some(json!({ "reason": "other" })),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            f,
            "POST",
            &format!("/review/api/cases/{second}/reject"),
            Some(TOKEN),
            Some(json!({ "reason": "Free text is not a code" })),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reasons are codes");
        let (status, _) = call(
            f,
            "POST",
            &format!("/review/api/cases/{second}/reject"),
            Some(TOKEN),
            Some(json!({ "reason": "document_forged" })),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        f.engine.run_until_idle("test").await.unwrap();
        assert_eq!(
            f.sim.decisions.delivered().last().unwrap().decision,
            Decision::Rejected {
                reasons: vec![DecisionReason::OperatorDecision]
            }
        );
        assert_eq!(f.engine.ports().reviews.count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn list_show_approve_reject_in_memory() {
        list_show_approve(&fixture(None)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_show_approve_reject_on_redis() {
        let Some(redis) = RedisSlice::connect().await else {
            return;
        };
        list_show_approve(&fixture(Some(&redis.storage))).await;
    }

    /// A case whose session vanished (store expiry, erasure) is shown once and closed.
    #[tokio::test]
    async fn a_case_without_its_session_is_closed_when_found() {
        let f = fixture(None);
        send_to_review(&f, &key(5), 1).await;
        f.engine.ports().sessions.delete(&key(5)).await.unwrap();
        let (_, page) = call(&f, "GET", "/review/api/cases", Some(TOKEN), None).await;
        assert_eq!(page["cases"][0]["session"], Value::Null);
        assert_eq!(f.engine.ports().reviews.count().await.unwrap(), 0);
        let (_, page) = call(&f, "GET", "/review/api/cases", Some(TOKEN), None).await;
        assert_eq!(page["total"], 0);
    }

    /// A slice of the test Redis under a random prefix, deleted on drop; `None` (with a loud
    /// message) when Redis is unreachable and `CI` is not set.
    struct RedisSlice {
        storage: kyc_flow_redis::RedisStorage,
        url: String,
        prefix: String,
    }

    impl RedisSlice {
        async fn connect() -> Option<Self> {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let mut id = [0u8; 6];
            getrandom::fill(&mut id).unwrap();
            let prefix = format!("kyc-flow-test:review-{}:", hex_of(&id));
            let config = kyc_flow_redis::RedisConfig {
                url: url.clone(),
                key_prefix: prefix.clone(),
                ..kyc_flow_redis::RedisConfig::with_random_secrets().unwrap()
            };
            match tokio::time::timeout(
                Duration::from_secs(3),
                kyc_flow_redis::RedisStorage::connect(config),
            )
            .await
            {
                Ok(Ok(storage)) => Some(Self {
                    storage,
                    url,
                    prefix,
                }),
                _ => {
                    assert!(
                        std::env::var("CI").is_err(),
                        "Redis is unreachable and CI is set"
                    );
                    eprintln!("SKIPPED: Redis at REDIS_URL is unreachable");
                    None
                }
            }
        }
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    impl Drop for RedisSlice {
        fn drop(&mut self) {
            let Ok(client) = redis::Client::open(self.url.as_str()) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}
