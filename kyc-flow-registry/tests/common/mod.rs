//! Shared helpers of the integration tests: a local registry, clients pointed at it, a
//! recording callback handler served on loopback.
#![allow(dead_code)]

use async_trait::async_trait;
use kyc_flow_core::ports::{PortError, PortErrorKind, PortResult, RegistryCallbackHandler};
use kyc_flow_core::{Country, RegistryId, RegistryQuery, RegistryResult};
use kyc_flow_registry::local::{self, LocalRegistryConfig, LocalRegistryHandle};
use kyc_flow_registry::{
    CALLBACK_PATH, CallbackKeys, HttpRegistryClient, KeyRing, RegistryEndpoint, Secret,
    callback_router,
};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY_ID: &str = "test-2026-11";
pub const SECRET: &str = "local-test-secret";

pub async fn local_registry() -> LocalRegistryHandle {
    local::start(LocalRegistryConfig::new(KEY_ID, Secret::new(SECRET)))
        .await
        .expect("local registry starts")
}

/// An endpoint with fast test settings: short backoff, no breaker unless asked.
pub fn fast_endpoint(reg: &LocalRegistryHandle, registry: &str) -> RegistryEndpoint {
    let mut e = reg.endpoint(registry);
    e.timeout = Duration::from_secs(5);
    e.backoff = Duration::from_millis(10);
    e.backoff_max = Duration::from_millis(50);
    e.breaker.failure_threshold = 1000;
    e
}

pub fn client(endpoints: Vec<RegistryEndpoint>) -> HttpRegistryClient {
    HttpRegistryClient::new(endpoints).expect("client builds")
}

pub fn query(registry: &str, country: &str, fields: &[(&str, &str)], corr: &str) -> RegistryQuery {
    RegistryQuery {
        registry: RegistryId(registry.into()),
        country: Country::new(country),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        correlation_id: corr.into(),
    }
}

/// Records handed-on results; knows which correlation ids are pending; can be told to fail.
#[derive(Default)]
pub struct Recorder {
    pub pending: Mutex<HashSet<String>>,
    pub results: Mutex<Vec<(String, RegistryResult)>>,
    pub script: Mutex<VecDeque<PortError>>,
    pub notify: tokio::sync::Notify,
}

impl Recorder {
    pub fn expect(&self, correlation: &str) {
        self.pending.lock().unwrap().insert(correlation.into());
    }
    pub fn fail_next(&self, e: PortError) {
        self.script.lock().unwrap().push_back(e);
    }
    pub fn results(&self) -> Vec<(String, RegistryResult)> {
        self.results.lock().unwrap().clone()
    }
    /// Wait (up to 20 s, only reached when broken) until `n` results arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, RegistryResult)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.notify.notified();
            if self.results.lock().unwrap().len() >= n {
                return self.results();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {n} callbacks, got {:?}",
                    self.results()
                );
            }
        }
    }
}

#[async_trait]
impl RegistryCallbackHandler for Recorder {
    async fn on_result(&self, correlation_id: &str, result: RegistryResult) -> PortResult<()> {
        if let Some(e) = self.script.lock().unwrap().pop_front() {
            return Err(e);
        }
        if !self.pending.lock().unwrap().remove(correlation_id) {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "unknown correlation",
            ));
        }
        self.results
            .lock()
            .unwrap()
            .push((correlation_id.to_string(), result));
        self.notify.notify_waiters();
        Ok(())
    }
}

pub fn callback_keys() -> CallbackKeys {
    CallbackKeys::new(KeyRing::single(KEY_ID, Secret::new(SECRET)).unwrap())
}

/// Serve the callback router on loopback; returns the callback URL.
pub async fn serve_callbacks(recorder: Arc<Recorder>) -> String {
    let app = callback_router(callback_keys(), recorder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}{CALLBACK_PATH}")
}
