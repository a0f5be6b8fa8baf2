//! The message catalog: every text the flow sends, per locale, and the WhatsApp templates used
//! outside the 24-hour window.
//!
//! The transition function only names keys ([`crate::MessageSpec`]); rendering happens at the
//! edge so a team can change wording or add a language without touching the machine.

use crate::command::{MessageDelivery, MessageSpec};
use crate::evidence::RetakeReason;
use crate::locale::Locale;
use crate::ports::{OutboundBody, ReplyButton};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Keys every flow may send whatever its steps.
pub const COMMON_KEYS: [&str; 0] = [];
/// Keys that may go out when the 24-hour window is closed (they need a template name).
pub const OUT_OF_WINDOW_KEYS: [&str; 0] = [];
/// Keys of the consent step.
pub const CONSENT_KEYS: [&str; 0] = [];

/// The catalog key of the retake prompt for `reason` (`retake.glare`, …).
pub fn retake_key(reason: RetakeReason) -> &'static str {
    let _ = reason;
    todo!()
}

/// Why a message could not be rendered. Always permanent: the catalog or the spec is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("message `{key}` is missing in {locale}")]
    UnknownKey { key: String, locale: String },
    #[error("message `{key}` has placeholder {{{param}}} but no value was given")]
    MissingParam { key: String, param: String },
    #[error("message `{key}` has {count} buttons; WhatsApp allows 3")]
    TooManyButtons { key: String, count: usize },
    #[error("button label `{label_key}` is {len} characters; WhatsApp allows 20")]
    ButtonTooLong { label_key: String, len: usize },
}

impl CatalogError {
    /// Rendering errors never go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Messages per key and locale, and template names per key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalog {
    messages: BTreeMap<String, BTreeMap<Locale, String>>,
    templates: BTreeMap<String, String>,
}

impl Catalog {
    /// The built-in catalog: es-MX, es-CO, es-PE, pt-BR and en.
    pub fn builtin() -> Self {
        todo!()
    }

    /// Whether `key` has a text in `locale`.
    pub fn has(&self, key: &str, locale: Locale) -> bool {
        self.messages
            .get(key)
            .is_some_and(|m| m.contains_key(&locale))
    }

    /// The WhatsApp template registered for `key`, if any.
    pub fn template_name(&self, key: &str) -> Option<&str> {
        self.templates.get(key).map(String::as_str)
    }

    /// Render a spec into what the transport sends (Text / Buttons / Template, see ports::OutboundBody).
    pub fn render(&self, spec: &MessageSpec, locale: Locale) -> Result<OutboundBody, CatalogError> {
        let _ = (
            spec,
            locale,
            MessageDelivery::Session,
            ReplyButton {
                id: String::new(),
                title: String::new(),
            },
        );
        todo!()
    }
}
