//! The funnel for operators: `kyc-flow report` on the `serve` config's Redis, and the
//! dashboard page (`/dashboard`, `/dashboard/report.json`) served by `serve` and `demo`.
//!
//! Both compute [`kyc_flow_core::funnel::report`] over the sessions the store holds (see that
//! module for the definitions); nothing is sampled or cached across processes. Output carries
//! counts, durations and costs only, never an identifier.

use crate::cli::Verdict;
use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use kyc_flow::memory::MemorySessionStore;
use kyc_flow_core::Timestamp;
use kyc_flow_core::flow::FlowSet;
use kyc_flow_core::funnel::{self, FunnelReport, PriceTable};
use kyc_flow_core::session::Session;
use kyc_flow_redis::{RedisSessionStore, RedisStorage};
use serde::Deserialize;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Parses `7d`, `12h`, `30m`, `90s` (a window ending now).
pub fn parse_window(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| anyhow!("`{s}` is not a window such as 7d, 12h, 30m"))?;
    let secs = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" | "" => n,
        _ => return Err(anyhow!("`{s}`: the unit is d, h, m or s")),
    };
    Ok(Duration::from_secs(secs))
}

/// The parts of a `serve` config the report reads: `[redis]`, `flow_files`, `[pricing]`.
struct ReportConfig {
    redis: kyc_flow_redis::RedisConfig,
    flows: FlowSet,
    prices: PriceTable,
}

fn report_config(path: &Path) -> anyhow::Result<ReportConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let redis = crate::dlq::redis_config(&text)?;
    let table: toml::Table = toml::from_str(&text).context("invalid serve config")?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut flows = FlowSet::presets();
    if let Some(files) = table.get("flow_files").and_then(toml::Value::as_array) {
        for file in files.iter().filter_map(toml::Value::as_str) {
            flows.insert(kyc_flow::flows::load_flow(file, base).map_err(|e| anyhow!(e))?);
        }
    }
    let prices = match table.get("pricing") {
        Some(p) => p
            .clone()
            .try_into()
            .context("invalid [pricing] in the serve config")?,
        None => PriceTable::meta_2026_10(),
    };
    Ok(ReportConfig {
        redis,
        flows,
        prices,
    })
}

/// `kyc-flow report --config FILE [--since 7d] [--json]`
pub fn run(config: &Path, since: Option<&str>, json: bool) -> anyhow::Result<Verdict> {
    let cfg = report_config(config)?;
    let window = since.map(parse_window).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let storage = RedisStorage::connect(cfg.redis.clone())
            .await
            .context("Redis")?;
        redis_report(&storage.sessions(), &cfg.flows, &cfg.prices, window).await
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", funnel::render_text(&report));
    }
    Ok(Verdict::Ok)
}

fn now() -> Timestamp {
    use kyc_flow::clock::Clock;
    kyc_flow::clock::SystemClock.now()
}

fn since_of(window: Option<Duration>, now: Timestamp) -> Option<Timestamp> {
    window.map(|w| {
        Timestamp(
            now.0
                .saturating_sub(i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
        )
    })
}

/// The funnel over every session in a Redis store.
pub async fn redis_report(
    store: &RedisSessionStore,
    flows: &FlowSet,
    prices: &PriceTable,
    window: Option<Duration>,
) -> anyhow::Result<FunnelReport> {
    let mut sessions: Vec<Session> = Vec::new();
    let skipped = store.scan(500, |s| sessions.push(s)).await?;
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "sessions that no longer open were left out of the report"
        );
    }
    let now = now();
    Ok(funnel::report(
        &sessions,
        flows,
        prices,
        since_of(window, now),
        now,
    ))
}

/// Where the dashboard reads sessions from.
pub type SessionSource = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<Session>>> + Send>> + Send + Sync,
>;

/// Sessions of an in-memory store (the demo).
pub fn memory_source(store: Arc<MemorySessionStore>) -> SessionSource {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { Ok(store.all()) })
    })
}

/// Sessions of a Redis store (`serve`).
pub fn redis_source(store: RedisSessionStore) -> SessionSource {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move {
            let mut sessions = Vec::new();
            store.scan(500, |s| sessions.push(s)).await?;
            Ok(sessions)
        })
    })
}

/// What the dashboard needs.
#[derive(Clone)]
pub struct Dashboard {
    pub sessions: SessionSource,
    pub flows: FlowSet,
    pub prices: PriceTable,
    /// `Authorization: Bearer <token>` required when set (always outside loopback).
    pub token: Option<String>,
}

#[derive(Deserialize)]
struct Window {
    since: Option<String>,
}

/// What the routes share: the dashboard, and its token as the review API checks tokens.
struct DashboardState {
    dashboard: Dashboard,
    auth: Option<crate::review::ReviewAuth>,
}

/// `GET /dashboard` (the page) and `GET /dashboard/report.json` (its data).
pub fn router(dashboard: Dashboard) -> Router {
    let auth = dashboard
        .token
        .clone()
        .map(|t| crate::review::ReviewAuth::new([("dashboard".to_owned(), t)], false));
    Router::new()
        .route("/dashboard", axum::routing::get(page))
        .route("/dashboard/report.json", axum::routing::get(data))
        .with_state(Arc::new(DashboardState { dashboard, auth }))
}

/// A request may read the report: no token configured, or the configured one presented
/// (`ReviewAuth`: digests compared in constant time).
fn authorized(headers: &HeaderMap, auth: Option<&crate::review::ReviewAuth>) -> bool {
    auth.is_none_or(|a| a.reviewer(headers, None).is_some())
}

async fn page() -> Html<&'static str> {
    // The page itself holds no data: its script fetches report.json with the token the
    // operator types (kept in the tab's session storage only).
    Html(include_str!("report/dashboard.html"))
}

async fn data(
    State(state): State<Arc<DashboardState>>,
    headers: HeaderMap,
    Query(w): Query<Window>,
) -> Response {
    if !authorized(&headers, state.auth.as_ref()) {
        return (StatusCode::UNAUTHORIZED, "a valid bearer token is required").into_response();
    }
    let d = &state.dashboard;
    let window = match w.since.as_deref().map(parse_window).transpose() {
        Ok(w) => w,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let sessions = match (d.sessions)().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: sessions unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "sessions unavailable").into_response();
        }
    };
    let now = now();
    let report = funnel::report(&sessions, &d.flows, &d.prices, since_of(window, now), now);
    axum::Json(report).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
    use http::Request;
    use tower::ServiceExt;

    #[test]
    fn windows_parse_with_their_unit() {
        assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_window("90").unwrap(), Duration::from_secs(90));
        assert!(parse_window("7w").is_err());
        assert!(parse_window("soon").is_err());
    }

    #[test]
    fn the_token_is_compared_whole() {
        let auth = crate::review::ReviewAuth::new([("d".to_owned(), "s3cret".to_owned())], false);
        let auth = Some(&auth);
        let mut h = HeaderMap::new();
        assert!(authorized(&h, None));
        assert!(!authorized(&h, auth));
        h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(!authorized(&h, auth));
        h.insert(header::AUTHORIZATION, "Bearer s3cret!".parse().unwrap());
        assert!(!authorized(&h, auth));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(authorized(&h, auth));
    }

    #[tokio::test]
    async fn the_report_needs_the_token_and_counts_the_store() {
        let store = Arc::new(MemorySessionStore::new());
        let app = router(Dashboard {
            sessions: memory_source(store),
            flows: FlowSet::presets(),
            prices: PriceTable::meta_2026_10(),
            token: Some("tok".into()),
        });
        let get = |auth: Option<&str>, uri: &str| {
            let mut r = Request::get(uri);
            if let Some(a) = auth {
                r = r.header(header::AUTHORIZATION, a);
            }
            r.body(Body::empty()).unwrap()
        };
        let r = app
            .clone()
            .oneshot(get(None, "/dashboard/report.json"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = app
            .clone()
            .oneshot(get(Some("Bearer tok"), "/dashboard/report.json?since=3x"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = app
            .clone()
            .oneshot(get(Some("Bearer tok"), "/dashboard/report.json?since=1d"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["sessions_read"], 0);
        assert!(v["flows"].as_array().unwrap().is_empty());
        // The page itself is static and carries no data.
        let r = app.oneshot(get(None, "/dashboard")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
