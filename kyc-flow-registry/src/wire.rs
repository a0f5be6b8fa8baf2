//! The JSON bodies of the registry gateway protocol (documented in `docs/REGISTRY.md`).
//!
//! A gateway answers in its registry's own vocabulary ([`GatewayAnswer`]); turning that into the
//! normalized [`kyc_flow_core::RegistryStatus`] is our job ([`crate::mapping`]), so a label the
//! gateway passes through verbatim is never interpreted by it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Path (under the gateway's base URL) that checks are posted to.
pub const CHECKS_PATH: &str = "/v1/checks";

/// Body of `POST {base_url}/v1/checks`. PII: never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// Always `registry.check`; part of the signed bytes so a body cannot be replayed as
    /// another message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The registry asked (`mx-renapo`, …).
    pub registry: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Identifiers by canonical field name (`curp`, `nuip`, `issue_date`, …).
    pub fields: BTreeMap<String, String>,
    /// Opaque, no PII; echoed in the answer and the callback.
    pub correlation_id: String,
    /// Where to post an asynchronous answer; absent means "answer synchronously or fail".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// When we asked (ms since the epoch); echoed in the callback.
    pub requested_at: i64,
}

impl std::fmt::Debug for CheckRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckRequest")
            .field("registry", &self.registry)
            .field("country", &self.country)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("correlation_id", &self.correlation_id)
            .field("callback_url", &self.callback_url)
            .field("requested_at", &self.requested_at)
            .finish()
    }
}

/// Message type of [`CheckRequest`].
pub const TYPE_CHECK: &str = "registry.check";
/// Message type of a synchronous or asynchronous [`GatewayAnswer`].
pub const TYPE_ANSWER: &str = "registry.answer";
/// Message type of [`Accepted`].
pub const TYPE_ACCEPTED: &str = "registry.accepted";

/// The registry's answer, in its own words: body of a `200` reply and of a callback.
/// Contains no PII by contract: only the status vocabulary and field *names*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayAnswer {
    /// Always `registry.answer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Echo of the request's correlation id.
    pub correlation_id: String,
    /// The registry that answered.
    pub registry: String,
    /// The registry's raw answer.
    #[serde(flatten)]
    pub raw: RawAnswer,
    /// Who answered (gateway name, `local-fixtures`).
    pub source: String,
    /// Echo of the request's `requested_at` (ms since the epoch).
    #[serde(default)]
    pub requested_at: Option<i64>,
    /// When the registry answered (ms since the epoch).
    #[serde(default)]
    pub answered_at: Option<i64>,
}

/// What a registry said about the identifiers, before normalization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RawAnswer {
    /// Whether the registry holds a record for the identifiers.
    pub found: bool,
    /// The registry's status label verbatim (`Vigente`, `BD`, `Cancelada por Muerte`, `REGULAR`).
    #[serde(default)]
    pub label: Option<String>,
    /// Registry-specific flags (`fallecido = "true"`, `ejemplar_coincide = "false"`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Names of the request fields the record confirmed.
    #[serde(default)]
    pub matched_fields: Vec<String>,
    /// Names of the request fields the record contradicted.
    #[serde(default)]
    pub mismatched_fields: Vec<String>,
}

/// Body of a `202` reply: the answer will come by callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Always `registry.accepted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Echo of the request's correlation id.
    pub correlation_id: String,
}

/// Body of an error reply (any 4xx/5xx), informative only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short machine-readable code (`unauthorized`, `unavailable`, `bad_request`).
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the wire format documented in `docs/REGISTRY.md`: a gateway implementer's contract.
    #[test]
    fn wire_format_is_stable() {
        let check = CheckRequest {
            kind: TYPE_CHECK.into(),
            registry: "co-registraduria".into(),
            country: "CO".into(),
            fields: BTreeMap::from([
                ("issue_date".to_string(), "2010-03-15".to_string()),
                ("nuip".to_string(), "1020304050".to_string()),
            ]),
            correlation_id: "s-1".into(),
            callback_url: Some("https://kyc.example/v1/registry/callbacks".into()),
            requested_at: 1_790_000_000_000,
        };
        insta::assert_snapshot!(serde_json::to_string(&check).unwrap(), @r#"{"type":"registry.check","registry":"co-registraduria","country":"CO","fields":{"issue_date":"2010-03-15","nuip":"1020304050"},"correlation_id":"s-1","callback_url":"https://kyc.example/v1/registry/callbacks","requested_at":1790000000000}"#);
        // The Debug of a check never shows identifier values.
        assert!(!format!("{check:?}").contains("1020304050"));

        let answer = GatewayAnswer {
            kind: TYPE_ANSWER.into(),
            correlation_id: "s-1".into(),
            registry: "co-registraduria".into(),
            raw: RawAnswer {
                found: true,
                label: Some("Cancelada por Muerte".into()),
                attributes: BTreeMap::new(),
                matched_fields: vec!["nuip".into()],
                mismatched_fields: vec!["issue_date".into()],
            },
            source: "gw".into(),
            requested_at: Some(1_790_000_000_000),
            answered_at: Some(1_790_000_004_200),
        };
        let json = serde_json::to_string(&answer).unwrap();
        insta::assert_snapshot!(json, @r#"{"type":"registry.answer","correlation_id":"s-1","registry":"co-registraduria","found":true,"label":"Cancelada por Muerte","attributes":{},"matched_fields":["nuip"],"mismatched_fields":["issue_date"],"source":"gw","requested_at":1790000000000,"answered_at":1790000004200}"#);
        // Optional parts may be left out by a gateway.
        let minimal: GatewayAnswer = serde_json::from_str(
            r#"{"type":"registry.answer","correlation_id":"s-1","registry":"pe-reniec","found":false,"source":"gw"}"#,
        )
        .unwrap();
        assert_eq!(minimal.raw, RawAnswer::default());
        assert_eq!(minimal.answered_at, None);
    }
}
