//! The signed-webhook HTTP adapter of the [`RegistryClient`] port: signs each request, verifies
//! each answer, retries retryable failures with jittered backoff, and keeps one circuit breaker
//! per registry.
//!
//! A call is one future on the caller's executor: waiting for a slow registry holds a socket
//! and a few kilobytes, never a thread.

use crate::breaker::{Admission, BreakerState, CircuitBreaker};
use crate::config::RegistryEndpoint;
use crate::mapping;
use crate::signing::{KeyRing, SignatureHeaders, Signer, Verifier, unix_now};
use crate::wire::{
    Accepted, CHECKS_PATH, CheckRequest, GatewayAnswer, TYPE_ACCEPTED, TYPE_ANSWER, TYPE_CHECK,
};
use crate::{RegistryError, now_ms};
use async_trait::async_trait;
use kyc_flow_core::ports::{PortResult, RegistryClient, RegistryReply};
use kyc_flow_core::{RegistryId, RegistryQuery, RegistryResult, Timestamp};
use kyc_flow_documents::id::{self, IdKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers larger than this are refused: a registry answer is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

struct Endpoint {
    config: RegistryEndpoint,
    checks_url: String,
    http: reqwest::Client,
    signer: Signer,
    verifier: Verifier,
    breaker: CircuitBreaker,
}

/// Talks to registry gateways over the signed protocol of `docs/REGISTRY.md`.
/// Cheap to clone; clones share connections and breakers.
#[derive(Clone)]
pub struct HttpRegistryClient {
    endpoints: Arc<HashMap<RegistryId, Endpoint>>,
}

impl std::fmt::Debug for HttpRegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.endpoints.keys().map(|k| k.0.as_str()).collect();
        ids.sort_unstable();
        f.debug_struct("HttpRegistryClient")
            .field("registries", &ids)
            .finish()
    }
}

impl HttpRegistryClient {
    /// A client for `endpoints` (one per registry). Reads mTLS files now, so a bad path fails
    /// at start-up.
    pub fn new(endpoints: Vec<RegistryEndpoint>) -> Result<Self, RegistryError> {
        let mut map = HashMap::new();
        for config in endpoints {
            let id = config.id.clone();
            if map.contains_key(&id) {
                return Err(RegistryError::Config(format!(
                    "registry {} configured twice",
                    id.0
                )));
            }
            map.insert(id, Endpoint::new(config)?);
        }
        Ok(Self {
            endpoints: Arc::new(map),
        })
    }

    /// The breaker state of `registry` (for health endpoints and tests).
    pub fn breaker_state(&self, registry: &RegistryId) -> Option<BreakerState> {
        self.endpoints.get(registry).map(|e| e.breaker.state())
    }

    /// Ask, returning this crate's rich error (the port impl converts it).
    pub async fn check(&self, query: &RegistryQuery) -> Result<RegistryReply, RegistryError> {
        let ep = self
            .endpoints
            .get(&query.registry)
            .ok_or_else(|| RegistryError::UnknownRegistry(query.registry.0.clone()))?;
        let requested_at = now_ms();
        let request = CheckRequest {
            kind: TYPE_CHECK.into(),
            registry: query.registry.0.clone(),
            country: query.country.0.clone(),
            fields: normalized_fields(&query.registry, &query.fields),
            correlation_id: query.correlation_id.clone(),
            callback_url: ep.config.callback_url.clone(),
            requested_at,
        };
        let body = bytes::Bytes::from(
            serde_json::to_vec(&request).map_err(|e| RegistryError::Protocol(e.to_string()))?,
        );
        let mut attempt = 0u32;
        loop {
            if let Admission::Refused(retry_after) = ep.breaker.admit(Instant::now()) {
                return Err(RegistryError::CircuitOpen {
                    registry: query.registry.0.clone(),
                    retry_after,
                });
            }
            let guard = AbandonGuard(Some(&ep.breaker));
            let outcome = ep.attempt(body.clone(), query, requested_at).await;
            guard.defuse();
            let err = match outcome {
                Ok(reply) => {
                    ep.breaker.on_success();
                    return Ok(reply);
                }
                Err(e) if e.is_outage() => {
                    ep.breaker.on_failure(Instant::now());
                    e
                }
                Err(e) => {
                    // The gateway is up and answered; only outages count against it.
                    ep.breaker.on_success();
                    e
                }
            };
            if !err.is_retryable() || attempt >= ep.config.retries {
                return Err(err);
            }
            let delay =
                ep.config
                    .retry_policy()
                    .inline(attempt + 1, err.retry_after(), rand::random());
            let Some(delay) = delay else {
                // The gateway wants a longer pause than we sleep inline: hand the error (with
                // its retry-after) to the runtime, which schedules a timer instead.
                return Err(err);
            };
            tracing::debug!(
                registry = %query.registry.0,
                correlation_id = %query.correlation_id,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "registry attempt failed, retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Frees a half-open probe slot if the caller drops the future mid-attempt.
struct AbandonGuard<'a>(Option<&'a CircuitBreaker>);
impl AbandonGuard<'_> {
    fn defuse(mut self) {
        self.0 = None;
    }
}
impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.0 {
            b.on_abandoned();
        }
    }
}

impl Endpoint {
    fn new(config: RegistryEndpoint) -> Result<Self, RegistryError> {
        let cfg_err = |what: &str, e: &dyn std::fmt::Display| {
            RegistryError::Config(format!("registry {}: {what}: {e}", config.id.0))
        };
        let signer = Signer::new(config.key_id.clone(), config.secret.clone())
            .map_err(|e| cfg_err("key_id", &e))?;
        let mut ring = KeyRing::single(config.key_id.clone(), config.secret.clone())
            .map_err(|e| cfg_err("key_id", &e))?;
        for (id, secret) in &config.extra_answer_keys {
            ring.insert(id.clone(), secret.clone())
                .map_err(|e| cfg_err("extra_answer_keys", &e))?;
        }
        let base = config.base_url.trim_end_matches('/');
        let checks_url = format!("{base}{CHECKS_PATH}");
        reqwest::Url::parse(&checks_url).map_err(|e| cfg_err("base_url", &e))?;

        // reqwest is built without a bundled crypto provider (rustls on `ring` for the whole
        // workspace, no C build); install it process-wide before building a client (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // Registry checks are independent: never follow a redirect to somewhere we did not
            // configure with our signed body.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(m) = &config.mtls {
            let mut pem = std::fs::read(&m.client_cert_pem_path)
                .map_err(|e| cfg_err("mtls.client_cert_pem_path", &e))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(&m.client_key_pem_path)
                    .map_err(|e| cfg_err("mtls.client_key_pem_path", &e))?,
            );
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|e| cfg_err("mtls identity", &e))?;
            builder = builder.identity(identity);
            if let Some(ca) = &m.ca_pem_path {
                let ca = std::fs::read(ca).map_err(|e| cfg_err("mtls.ca_pem_path", &e))?;
                let certs = reqwest::Certificate::from_pem_bundle(&ca)
                    .map_err(|e| cfg_err("mtls.ca_pem_path", &e))?;
                builder = builder.tls_certs_only(certs);
            }
        }
        let http = builder.build().map_err(|e| cfg_err("http client", &e))?;
        Ok(Self {
            verifier: Verifier::new(ring, config.replay_window),
            breaker: CircuitBreaker::new(config.breaker),
            checks_url,
            http,
            signer,
            config,
        })
    }

    async fn attempt(
        &self,
        body: bytes::Bytes,
        query: &RegistryQuery,
        requested_at: i64,
    ) -> Result<RegistryReply, RegistryError> {
        let registry = || query.registry.0.clone();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                RegistryError::Timeout {
                    registry: registry(),
                    timeout: self.config.timeout,
                }
            } else {
                RegistryError::Transport {
                    registry: registry(),
                    source: e.without_url(),
                }
            }
        };
        let sig = self.signer.sign(unix_now(), &body);
        let mut headers = http::HeaderMap::new();
        sig.apply(&mut headers);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        // Stable per question across retries and job redeliveries (see docs/REGISTRY.md).
        if let Ok(v) = http::HeaderValue::from_str(&query.correlation_id) {
            headers.insert("idempotency-key", v);
        }
        let mut resp = self
            .http
            .post(&self.checks_url)
            .headers(headers)
            .timeout(self.config.timeout)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if status != http::StatusCode::OK && status != http::StatusCode::ACCEPTED {
            return Err(RegistryError::Http {
                registry: registry(),
                status: status.as_u16(),
                retry_after: retry_after(resp.headers()),
            });
        }
        let sig = SignatureHeaders::from_header_map(resp.headers())?;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(RegistryError::Protocol("answer too large".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        self.verifier.verify(&sig, &bytes, unix_now())?;
        let protocol = |what: &str| RegistryError::Protocol(what.to_string());
        if status == http::StatusCode::ACCEPTED {
            let acc: Accepted = serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Protocol(format!("accepted body: {e}")))?;
            if acc.kind != TYPE_ACCEPTED || acc.correlation_id != query.correlation_id {
                return Err(protocol("accepted body does not echo the check"));
            }
            return Ok(RegistryReply::Pending);
        }
        let answer: GatewayAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("answer body: {e}")))?;
        if answer.kind != TYPE_ANSWER
            || answer.correlation_id != query.correlation_id
            || answer.registry != query.registry.0
        {
            return Err(protocol("answer does not echo the check"));
        }
        let mut result = answer_to_result(&answer, requested_at, now_ms());
        // A synchronous answer: we know when we asked, whatever the gateway echoes.
        result.requested_at = Timestamp(requested_at);
        result.answered_at = result.answered_at.max(result.requested_at);
        Ok(RegistryReply::Answered(result))
    }
}

/// Turn a verified gateway answer (synchronous or by callback) into the core's result.
/// `requested_at` is used when the answer does not echo it; `received_at` when it carries no
/// answer time.
pub fn answer_to_result(
    answer: &GatewayAnswer,
    requested_at: i64,
    received_at: i64,
) -> RegistryResult {
    let registry = RegistryId(answer.registry.clone());
    let status = mapping::normalize(&registry, &answer.correlation_id, &answer.raw);
    let requested = answer.requested_at.unwrap_or(requested_at);
    RegistryResult {
        registry,
        status,
        raw_label: answer.raw.label.clone(),
        matched_fields: answer.raw.matched_fields.clone(),
        source: answer.source.clone(),
        requested_at: Timestamp(requested),
        // Never before the request, whatever the gateway's clock says.
        answered_at: Timestamp(answer.answered_at.unwrap_or(received_at).max(requested)),
    }
}

/// The identifier kind of a query field, where the documents crate knows it.
fn identifier_kind(registry: &RegistryId, field: &str) -> Option<IdKind> {
    Some(match (registry.0.as_str(), field) {
        (_, "curp") => IdKind::MxCurp,
        (_, "clave_elector") => IdKind::MxClaveElector,
        (_, "nuip") | ("co-registraduria", "document_number") => IdKind::CoCedula,
        ("pe-reniec", "document_number") => IdKind::PeDni,
        ("ar-renaper", "document_number") => IdKind::ArDni,
        (_, "run") => IdKind::ClRun,
        (_, "cpf") => IdKind::BrCpf,
        _ => return None,
    })
}

/// Identifiers in the registry's canonical spelling (no separators, upper case), so
/// `1.020.304.050` and `1020304050` are one identity to the gateway. Other fields are trimmed.
/// Validation is not repeated here: the core only asks about identifiers that passed it.
fn normalized_fields(
    registry: &RegistryId,
    fields: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| {
            let v = match identifier_kind(registry, k) {
                Some(kind) => id::normalize(kind, v),
                None => v.trim().to_owned(),
            };
            (wire_name(registry, k).to_owned(), v)
        })
        .collect()
}

/// The registry's own name for a field the core names canonically: the Registraduría looks
/// people up by NUIP (the cédula's number), not by a generic "document number".
fn wire_name<'a>(registry: &RegistryId, field: &'a str) -> &'a str {
    match (registry.0.as_str(), field) {
        ("co-registraduria", "document_number") => "nuip",
        _ => field,
    }
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    // Seconds form only; gateways of this protocol do not send HTTP dates.
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[async_trait]
impl RegistryClient for HttpRegistryClient {
    fn registries(&self) -> Vec<RegistryId> {
        let mut ids: Vec<_> = self.endpoints.keys().cloned().collect();
        ids.sort();
        ids
    }

    async fn query(&self, query: &RegistryQuery) -> PortResult<RegistryReply> {
        self.check(query).await.map_err(|e| {
            tracing::info!(
                registry = %query.registry.0,
                correlation_id = %query.correlation_id,
                error = %e,
                retryable = e.is_retryable(),
                "registry check failed"
            );
            e.into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_normalized_before_sending() {
        let reg = RegistryId("co-registraduria".into());
        let fields = BTreeMap::from([
            ("nuip".to_string(), " 1.020.304.050 ".to_string()),
            ("issue_date".to_string(), " 2010-03-15".to_string()),
        ]);
        let n = normalized_fields(&reg, &fields);
        assert_eq!(n["nuip"], "1020304050");
        assert_eq!(n["issue_date"], "2010-03-15");
        let cl = normalized_fields(
            &RegistryId("cl-registro-civil".into()),
            &BTreeMap::from([("run".to_string(), "12.345.678-5".to_string())]),
        );
        assert_eq!(cl["run"], "123456785");
    }

    #[test]
    fn config_errors_are_reported_at_construction() {
        let mut e = RegistryEndpoint::new("mx-renapo", "not a url", "k1", crate::Secret::new("s"));
        assert!(matches!(
            HttpRegistryClient::new(vec![e.clone()]),
            Err(RegistryError::Config(_))
        ));
        e.base_url = "http://127.0.0.1:1".into();
        e.mtls = Some(crate::MtlsConfig {
            client_cert_pem_path: "/nonexistent/cert.pem".into(),
            client_key_pem_path: "/nonexistent/key.pem".into(),
            ca_pem_path: None,
        });
        let err = HttpRegistryClient::new(vec![e.clone()]).unwrap_err();
        assert!(err.to_string().contains("client_cert_pem_path"), "{err}");
        e.mtls = None;
        assert!(HttpRegistryClient::new(vec![e.clone(), e]).is_err());
    }
}
