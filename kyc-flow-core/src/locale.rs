//! The languages the catalog speaks.

use serde::{Deserialize, Serialize};

/// A supported locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Locale {
    #[serde(rename = "es-MX")]
    EsMx,
    #[serde(rename = "es-CO")]
    EsCo,
    #[serde(rename = "es-PE")]
    EsPe,
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    En,
}

impl Locale {
    /// Every locale.
    pub const ALL: [Locale; 5] = [Self::EsMx, Self::EsCo, Self::EsPe, Self::PtBr, Self::En];

    /// BCP-47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::EsMx => "es-MX",
            Self::EsCo => "es-CO",
            Self::EsPe => "es-PE",
            Self::PtBr => "pt-BR",
            Self::En => "en",
        }
    }

    /// WhatsApp template language code.
    pub fn template_code(self) -> &'static str {
        match self {
            Self::EsMx => "es_MX",
            Self::EsCo => "es_CO",
            Self::EsPe => "es_PE",
            Self::PtBr => "pt_BR",
            Self::En => "en",
        }
    }

    /// Parse a tag (case-insensitive, `_` or `-`).
    pub fn parse(tag: &str) -> Option<Self> {
        let t = tag.trim().replace('_', "-").to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| l.tag().to_ascii_lowercase() == t)
    }
}
