//! The Graph API client: sending messages, read receipts, and the two-step media download.
//!
//! It implements the core's [`MessageTransport`] and [`MediaFetcher`] ports. Every request
//! goes to `{base_url}/{api_version}/…` with the version pinned in configuration, so a Meta
//! version bump is a deliberate config change and tests can point `base_url` at the fake.

use crate::error::{ErrorClass, GraphError, WhatsAppError};
use crate::limits::{mark_read_payload, message_payload};
use crate::media::{decode_declared_sha256, sha256, sniff};
use async_trait::async_trait;
use kyc_flow_core::ports::{
    MediaBlob, MediaFetcher, MediaRef, MessageTransport, OutboundMessage, PortResult, SentMessage,
};
use kyc_flow_core::{PhoneNumberId, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The longest a rate-limited call sleeps inside the client before handing the error (with
/// Meta's `Retry-After`) back to the caller.
const INLINE_WAIT_MAX: Duration = Duration::from_secs(30);

/// The Graph API version this crate is written and tested against.
pub const DEFAULT_API_VERSION: &str = "v23.0";

/// How to reach the Graph API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphConfig {
    /// `https://graph.facebook.com` in production; the fake's URL in tests and the demo.
    pub base_url: String,
    /// Pinned Graph API version (`v23.0`).
    pub api_version: String,
    /// System-user access token (secret: never logged, hidden from `Debug`).
    pub access_token: String,
    /// Largest media download accepted, in bytes.
    pub max_media_bytes: u64,
    /// Per-request timeout.
    #[serde(with = "crate::config_serde::secs")]
    pub timeout: Duration,
    /// How many times a rate-limited call (130429, 131056, 80007, …) is retried here before
    /// the error reaches the caller.
    pub rate_limit_retries: u32,
    /// First backoff delay after a rate limit; doubled on each retry unless Meta sent a
    /// `Retry-After`.
    #[serde(with = "crate::config_serde::millis")]
    pub rate_limit_backoff: Duration,
    /// Messages per second this process sends from one business number at most; sends beyond
    /// it wait for their slot ([`crate::pacing`]). Meta's default throughput is 80 per number
    /// (up to 1,000 once upgraded); with several processes, give each its share. 0: unpaced.
    pub max_sends_per_second: u32,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".into(),
            api_version: DEFAULT_API_VERSION.into(),
            access_token: String::new(),
            // Meta's own cap for images is 5 MB and documents 100 MB; ID photos and scans
            // beyond 16 MiB are not worth downloading.
            max_media_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            rate_limit_retries: 2,
            rate_limit_backoff: Duration::from_millis(500),
            max_sends_per_second: 80,
        }
    }
}

impl fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("access_token", &crate::redact::Redacted)
            .field("max_media_bytes", &self.max_media_bytes)
            .field("timeout", &self.timeout)
            .field("rate_limit_retries", &self.rate_limit_retries)
            .field("rate_limit_backoff", &self.rate_limit_backoff)
            .field("max_sends_per_second", &self.max_sends_per_second)
            .finish()
    }
}

/// A Cloud API client for one access token.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    config: GraphConfig,
    /// Shared by the clones of this client, so every task of the process keeps one pace.
    pacer: std::sync::Arc<crate::pacing::Pacer>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a media lookup returns.
#[derive(Debug, Deserialize)]
struct MediaInfo {
    url: String,
    mime_type: Option<String>,
    sha256: Option<String>,
    #[serde(default, deserialize_with = "crate::config_serde::opt_u64_lenient")]
    file_size: Option<u64>,
}

/// Why one download attempt did not produce bytes.
enum DownloadFailure {
    /// The short-lived URL expired or was rejected: look the media up again.
    Expired,
    Fatal(WhatsAppError),
}

impl GraphClient {
    /// A client for `config`. Fails only if the HTTP stack cannot be initialised.
    pub fn new(config: GraphConfig) -> Result<Self, WhatsAppError> {
        // reqwest is built without a bundled crypto provider (rustls on `ring` for the whole
        // workspace, no C build); install it process-wide before building a client (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("kyc-flow-whatsapp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WhatsAppError::from_reqwest)?;
        let pacer = std::sync::Arc::new(crate::pacing::Pacer::new(config.max_sends_per_second));
        Ok(Self {
            http,
            config,
            pacer,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.config.base_url.trim_end_matches('/'),
            self.config.api_version,
            path
        )
    }

    /// `{media_id}?phone_number_id=…`: the number's id scopes the lookup to media it received.
    fn media_url(&self, media: &MediaRef) -> String {
        format!(
            "{}?phone_number_id={}",
            self.url(&percent_encode(&media.media_id)),
            percent_encode(&media.phone_number_id.0)
        )
    }

    /// Send a request, retrying rate limits with backoff; returns the JSON body of a 2xx.
    async fn call(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, WhatsAppError> {
        let mut attempt = 0u32;
        loop {
            let result = self.call_once(build()).await;
            match result {
                Err(WhatsAppError::Graph(g))
                    if g.class == ErrorClass::RateLimited
                        && attempt < self.config.rate_limit_retries =>
                {
                    // The workspace's one backoff rule, without jitter (the pair limit is per
                    // user, so callers are not in lock-step). A `Retry-After` longer than the
                    // inline cap goes back to the caller, whose job retry honours it.
                    let Some(wait) =
                        self.rate_limit_policy()
                            .inline(attempt + 1, g.retry_after, 1.0)
                    else {
                        return Err(WhatsAppError::Graph(g));
                    };
                    tracing::debug!(
                        code = g.code,
                        ?wait,
                        attempt,
                        "graph rate limited, backing off"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn rate_limit_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: self.config.rate_limit_backoff,
            max: INLINE_WAIT_MAX,
        }
    }

    async fn call_once(&self, req: reqwest::RequestBuilder) -> Result<Value, WhatsAppError> {
        let resp = req
            .bearer_auth(&self.config.access_token)
            .send()
            .await
            .map_err(WhatsAppError::from_reqwest)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.map_err(WhatsAppError::from_reqwest)?;
        if status.is_success() {
            serde_json::from_slice(&body)
                .map_err(|e| WhatsAppError::BadResponse(format!("not JSON: {e}")))
        } else {
            Err(GraphError::from_response(status.as_u16(), &body, retry_after).into())
        }
    }

    /// Send one message (limits are checked first; nothing is sent if one is broken).
    pub async fn send_message(
        &self,
        message: &OutboundMessage,
    ) -> Result<SentMessage, WhatsAppError> {
        let payload = message_payload(message)?;
        let waited = self.pacer.wait(&message.from.0).await;
        if !waited.is_zero() {
            tracing::debug!(?waited, "send paced to the number's throughput");
        }
        let url = self.url(&format!("{}/messages", message.from.0));
        let v = self.call(|| self.http.post(&url).json(&payload)).await?;
        let id = v
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .ok_or_else(|| WhatsAppError::BadResponse("no message id in answer".into()))?;
        Ok(SentMessage {
            message_id: id.to_owned(),
        })
    }

    /// Mark `message_id` as read; with `typing`, show the typing indicator for up to 25 s or
    /// until the next message.
    pub async fn mark_as_read(
        &self,
        from: &PhoneNumberId,
        message_id: &str,
        typing: bool,
    ) -> Result<(), WhatsAppError> {
        let payload = mark_read_payload(message_id, typing);
        let url = self.url(&format!("{}/messages", from.0));
        let v = self.call(|| self.http.post(&url).json(&payload)).await?;
        match v.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(WhatsAppError::BadResponse(
                "mark-as-read not acknowledged".into(),
            )),
        }
    }

    async fn lookup(&self, media: &MediaRef) -> Result<MediaInfo, WhatsAppError> {
        let url = self.media_url(media);
        let v = self
            .call(|| self.http.get(&url))
            .await
            .map_err(|e| match e {
                // An unknown or already deleted media id is Graph code 100, subcode 33, or a 404.
                WhatsAppError::Graph(g)
                    if g.class == ErrorClass::NotFound || g.subcode == Some(33) =>
                {
                    WhatsAppError::MediaGone
                }
                other => other,
            })?;
        serde_json::from_value(v)
            .map_err(|e| WhatsAppError::BadResponse(format!("media lookup: {e}")))
    }

    async fn download_once(&self, url: &str) -> Result<Vec<u8>, DownloadFailure> {
        let limit = self.config.max_media_bytes;
        let mut resp = self
            .http
            .get(url)
            .bearer_auth(&self.config.access_token)
            .send()
            .await
            .map_err(|e| DownloadFailure::Fatal(WhatsAppError::from_reqwest(e)))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            // The lookaside URL lives about five minutes; after that it answers 401/403/404.
            401 | 403 | 404 | 410 => return Err(DownloadFailure::Expired),
            _ => {
                let body = resp.bytes().await.unwrap_or_default();
                return Err(DownloadFailure::Fatal(
                    GraphError::from_response(status, &body, None).into(),
                ));
            }
        }
        if let Some(len) = resp.content_length()
            && len > limit
        {
            return Err(DownloadFailure::Fatal(WhatsAppError::MediaTooLarge {
                size: len,
                limit,
            }));
        }
        // Streamed with a running total so a lying or absent Content-Length cannot make us
        // buffer more than the cap.
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| DownloadFailure::Fatal(WhatsAppError::from_reqwest(e)))?
        {
            let size = (bytes.len() + chunk.len()) as u64;
            if size > limit {
                return Err(DownloadFailure::Fatal(WhatsAppError::MediaTooLarge {
                    size,
                    limit,
                }));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Download inbound media: look up the short-lived URL, download it with the same bearer
    /// token (looking it up again once if it expired), cap the size, verify every declared
    /// SHA-256 (webhook's and lookup's, hex or base64) and sniff the content type.
    pub async fn download_media(&self, media: &MediaRef) -> Result<MediaBlob, WhatsAppError> {
        let declared_webhook = match media.sha256.as_deref() {
            Some(s) => Some(decode_declared_sha256(s).ok_or(WhatsAppError::BadDeclaredHash)?),
            None => None,
        };
        let mut attempts = 0;
        let (info, bytes) = loop {
            attempts += 1;
            let info = self.lookup(media).await?;
            if let Some(size) = info.file_size
                && size > self.config.max_media_bytes
            {
                return Err(WhatsAppError::MediaTooLarge {
                    size,
                    limit: self.config.max_media_bytes,
                });
            }
            if !(info.url.starts_with("https://") || info.url.starts_with("http://")) {
                return Err(WhatsAppError::BadResponse(
                    "media url is not http(s)".into(),
                ));
            }
            match self.download_once(&info.url).await {
                Ok(bytes) => break (info, bytes),
                Err(DownloadFailure::Expired) if attempts < 2 => {
                    tracing::debug!(media_id = %media.media_id, "media url expired, resolving again");
                }
                Err(DownloadFailure::Expired) => return Err(WhatsAppError::MediaGone),
                Err(DownloadFailure::Fatal(e)) => return Err(e),
            }
        };
        let digest = sha256(&bytes);
        let declared_lookup = match info.sha256.as_deref() {
            Some(s) => Some(decode_declared_sha256(s).ok_or(WhatsAppError::BadDeclaredHash)?),
            None => None,
        };
        for declared in [declared_webhook, declared_lookup].into_iter().flatten() {
            if declared != digest {
                return Err(WhatsAppError::HashMismatch);
            }
        }
        let mime_type = sniff(&bytes).ok_or_else(|| WhatsAppError::UnsupportedMedia {
            declared: info.mime_type.clone().or_else(|| media.mime_type.clone()),
        })?;
        Ok(MediaBlob {
            bytes,
            mime_type: mime_type.to_owned(),
            sha256: hex::encode(digest),
        })
    }

    /// Delete media from Meta's servers once processed (an unknown id counts as deleted).
    pub async fn delete_media(&self, media: &MediaRef) -> Result<(), WhatsAppError> {
        let url = self.media_url(media);
        match self.call(|| self.http.delete(&url)).await {
            Ok(_) => Ok(()),
            Err(WhatsAppError::Graph(g))
                if g.class == ErrorClass::NotFound || g.subcode == Some(33) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl MessageTransport for GraphClient {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        Ok(self.send_message(message).await?)
    }

    async fn mark_read(
        &self,
        from: &PhoneNumberId,
        message_id: &str,
        typing: bool,
    ) -> PortResult<()> {
        Ok(self.mark_as_read(from, message_id, typing).await?)
    }
}

#[async_trait]
impl MediaFetcher for GraphClient {
    async fn fetch(&self, media: &MediaRef) -> PortResult<MediaBlob> {
        Ok(self.download_media(media).await?)
    }

    async fn delete(&self, media: &MediaRef) -> PortResult<()> {
        Ok(self.delete_media(media).await?)
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters (ids are digits in practice,
/// but they come from webhooks, i.e. from outside).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
