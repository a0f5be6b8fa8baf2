//! The local registry's fixture file: test identities per registry and what the registry says
//! about each (valid, lost, stolen, deceased, cancelled, not found, down, slow, by callback).
//!
//! Every identifier in the shipped file is synthetic (check digits are computed so document
//! validators accept them); none belongs to a real person.

use crate::wire::{CheckRequest, RawAnswer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fixture file shipped with the crate (`fixtures/identities.json`).
pub const DEFAULT_FIXTURES_JSON: &str = include_str!("../../fixtures/identities.json");

/// How an identity's answer is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// In the HTTP reply (after the delay).
    #[default]
    Sync,
    /// `202 Accepted` at once, the answer posted to the request's `callback_url` after the
    /// delay (synchronously when the request has no callback URL).
    Callback,
}

/// One test identity. `Debug` shows field names, not identifier values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureIdentity {
    /// What this identity demonstrates (shown in demos; no PII).
    pub name: String,
    /// The registry that holds it.
    pub registry: String,
    /// Fields that identify the record; a query must carry all of them, equal after
    /// normalization (upper case, without spaces, dots and dashes).
    pub lookup: BTreeMap<String, String>,
    /// Fields compared when the query carries them: equal → matched, different → mismatched.
    #[serde(default)]
    pub check: BTreeMap<String, String>,
    /// Whether the registry holds a record (`false`: the "not found" identity).
    #[serde(default = "yes")]
    pub found: bool,
    /// The registry's label, verbatim.
    #[serde(default)]
    pub label: Option<String>,
    /// Registry-specific flags.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// How the answer is delivered.
    #[serde(default)]
    pub answer: Delivery,
    /// Extra delay before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Always fail with this HTTP status (a registry that is down for this identity).
    #[serde(default)]
    pub fail_status: Option<u16>,
}

impl std::fmt::Debug for FixtureIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureIdentity")
            .field("name", &self.name)
            .field("registry", &self.registry)
            .field("lookup", &self.lookup.keys().collect::<Vec<_>>())
            .field("check", &self.check.keys().collect::<Vec<_>>())
            .field("found", &self.found)
            .field("label", &self.label)
            .field("answer", &self.answer)
            .field("delay_ms", &self.delay_ms)
            .field("fail_status", &self.fail_status)
            .finish_non_exhaustive()
    }
}

fn yes() -> bool {
    true
}

/// A fixture file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixtures {
    /// Reported as the answers' `source`.
    #[serde(default = "default_source")]
    pub source: String,
    /// The identities.
    pub identities: Vec<FixtureIdentity>,
}

fn default_source() -> String {
    "local-fixtures".into()
}

/// A fixture file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// Not valid JSON for [`Fixtures`].
    #[error("fixture file: {0}")]
    Parse(#[from] serde_json::Error),
    /// Cannot be read.
    #[error("fixture file: {0}")]
    Io(#[from] std::io::Error),
    /// An identity has no lookup field.
    #[error("fixture identity {0:?} has no lookup field")]
    NoLookup(String),
}

impl Default for Fixtures {
    /// The shipped fixture file.
    fn default() -> Self {
        // Parsed and validated by a unit test, so this cannot fail in a released build.
        Self::from_json(DEFAULT_FIXTURES_JSON).expect("the shipped fixture file is valid")
    }
}

impl Fixtures {
    /// Parse and validate a fixture file's content.
    pub fn from_json(json: &str) -> Result<Self, FixtureError> {
        let f: Fixtures = serde_json::from_str(json)?;
        if let Some(bad) = f.identities.iter().find(|i| i.lookup.is_empty()) {
            return Err(FixtureError::NoLookup(bad.name.clone()));
        }
        Ok(f)
    }

    /// Read a fixture file.
    pub fn load(path: &std::path::Path) -> Result<Self, FixtureError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// The registries the file has identities for, sorted.
    pub fn registries(&self) -> Vec<String> {
        let mut r: Vec<_> = self.identities.iter().map(|i| i.registry.clone()).collect();
        r.sort();
        r.dedup();
        r
    }

    /// The identity a check asks about, if any.
    pub fn find(&self, req: &CheckRequest) -> Option<&FixtureIdentity> {
        self.identities.iter().find(|i| {
            i.registry == req.registry
                && i.lookup
                    .iter()
                    .all(|(k, v)| req.fields.get(k).is_some_and(|q| same(q, v)))
        })
    }
}

impl FixtureIdentity {
    /// What the registry says about this identity when asked with `req`.
    pub fn raw_answer(&self, req: &CheckRequest) -> RawAnswer {
        let mut matched: Vec<String> = self.lookup.keys().cloned().collect();
        let mut mismatched = Vec::new();
        if self.found {
            for (k, v) in &self.check {
                match req.fields.get(k) {
                    Some(q) if same(q, v) => matched.push(k.clone()),
                    Some(_) => mismatched.push(k.clone()),
                    None => {}
                }
            }
        } else {
            matched.clear();
        }
        RawAnswer {
            found: self.found,
            label: self.label.clone(),
            attributes: self.attributes.clone(),
            matched_fields: matched,
            mismatched_fields: mismatched,
        }
    }
}

/// Compare identifiers the way registries do: case, spaces, dots and dashes do not matter.
fn same(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
            .flat_map(char::to_uppercase)
            .collect()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::CountryMapper;
    use kyc_flow_core::{RegistryId, RegistryStatus};

    fn req(registry: &str, fields: &[(&str, &str)]) -> CheckRequest {
        CheckRequest {
            kind: crate::wire::TYPE_CHECK.into(),
            registry: registry.into(),
            country: "MX".into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            correlation_id: "c".into(),
            callback_url: None,
            requested_at: 0,
        }
    }

    #[test]
    fn shipped_fixtures_cover_every_status() {
        let f = Fixtures::default();
        assert_eq!(f.source, "local-fixtures");
        let mut seen = std::collections::BTreeSet::new();
        for i in &f.identities {
            if i.fail_status.is_some() {
                continue;
            }
            let raw = i.raw_answer(&req(&i.registry, &[]));
            let m = CountryMapper::for_registry(&RegistryId(i.registry.clone()));
            // Unknown labels are deliberate in one identity; all others must map.
            let s = m.map_answer(&raw).unwrap_or(RegistryStatus::Unavailable);
            seen.insert(s);
        }
        for s in RegistryStatus::ALL {
            assert!(seen.contains(&s), "no fixture identity answers {s:?}");
        }
        assert_eq!(
            f.registries(),
            [
                "ar-renaper",
                "br-receita-cpf",
                "cl-registro-civil",
                "co-registraduria",
                "mx-ine",
                "mx-renapo",
                "pe-reniec"
            ]
        );
    }

    #[test]
    fn lookup_is_normalized_and_checks_compare() {
        let f = Fixtures::default();
        let r = req(
            "co-registraduria",
            &[("nuip", "1.020.304.050"), ("issue_date", "2010-03-16")],
        );
        let i = f.find(&r).unwrap();
        let raw = i.raw_answer(&r);
        assert_eq!(raw.matched_fields, ["nuip"]);
        assert_eq!(raw.mismatched_fields, ["issue_date"]);
        assert!(
            f.find(&req("co-registraduria", &[("nuip", "999")]))
                .is_none()
        );
        // Right number, wrong registry.
        assert!(
            f.find(&req("pe-reniec", &[("nuip", "1020304050")]))
                .is_none()
        );
    }

    #[test]
    fn debug_hides_identifiers() {
        let f = Fixtures::default();
        let dbg = format!("{f:?}");
        assert!(dbg.contains("mx-renapo"));
        assert!(!dbg.contains("GOMA850101HDFRRL06"));
    }

    #[test]
    fn identities_without_lookup_are_refused() {
        let bad = r#"{"identities":[{"name":"x","registry":"mx-renapo","lookup":{}}]}"#;
        assert!(matches!(
            Fixtures::from_json(bad),
            Err(FixtureError::NoLookup(_))
        ));
    }
}
