//! The workspace's one vocabulary for *which* document and *which side*: flows ask for a
//! [`DocumentKind`], the reader reports one, templates are keyed by the printed model of one
//! ([`crate::template::DocumentModel`]). The core re-exports both types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of identity document the engine knows. One kind can have several printed models
/// (Peru's blue DNI and DNIe are both [`DocumentKind::PeDni`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DocumentKind {
    /// Mexico, INE voting credential (front and back).
    MxIne,
    /// Colombia, yellow cédula de ciudadanía (PDF417 on the back).
    CoCedula,
    /// Colombia, cédula digital (TD1 MRZ and QR on the back).
    CoCedulaDigital,
    /// Peru, DNI (blue) and DNIe: TD1 MRZ on the back.
    PeDni,
    /// Argentina, DNI (PDF417 on the front, MRZ on the back).
    ArDni,
    /// Chile, cédula de identidad.
    ClCedula,
    /// Brazil, RG / CIN.
    BrRg,
    /// Ecuador, cédula.
    EcCedula,
    /// A passport (TD3 MRZ), any country.
    Passport,
}

impl DocumentKind {
    /// Every kind.
    pub const ALL: [DocumentKind; 9] = [
        Self::MxIne,
        Self::CoCedula,
        Self::CoCedulaDigital,
        Self::PeDni,
        Self::ArDni,
        Self::ClCedula,
        Self::BrRg,
        Self::EcCedula,
        Self::Passport,
    ];

    /// The kebab-case name flows and JSON use (`mx-ine`, `pe-dni`, `passport`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MxIne => "mx-ine",
            Self::CoCedula => "co-cedula",
            Self::CoCedulaDigital => "co-cedula-digital",
            Self::PeDni => "pe-dni",
            Self::ArDni => "ar-dni",
            Self::ClCedula => "cl-cedula",
            Self::BrRg => "br-rg",
            Self::EcCedula => "ec-cedula",
            Self::Passport => "passport",
        }
    }

    /// Parses a kebab-case name (case and surrounding spaces ignored).
    pub fn parse(name: &str) -> Option<DocumentKind> {
        let n = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.as_str() == n)
    }

    /// The ISO 3166-1 alpha-2 country that issues this kind (`None`: any country, e.g.
    /// passports).
    pub fn country(self) -> Option<&'static str> {
        match self {
            Self::MxIne => Some("MX"),
            Self::CoCedula | Self::CoCedulaDigital => Some("CO"),
            Self::PeDni => Some("PE"),
            Self::ArDni => Some("AR"),
            Self::ClCedula => Some("CL"),
            Self::BrRg => Some("BR"),
            Self::EcCedula => Some("EC"),
            Self::Passport => None,
        }
    }

    /// The sides a capture flow must ask for (a passport's data page is one side).
    pub fn sides(self) -> &'static [Side] {
        match self {
            Self::Passport => &[Side::Front],
            _ => &[Side::Front, Side::Back],
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A side of a card: the one with the portrait, or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The side with the portrait (a passport's data page).
    Front,
    /// The other side.
    Back,
}

impl Side {
    /// `front` or `back`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Front => "front",
            Side::Back => "back",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for k in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            let back: DocumentKind = serde_json::from_str(&format!("\"{k}\"")).unwrap();
            assert_eq!(back, k);
        }
        assert_eq!(DocumentKind::parse(" MX-INE "), Some(DocumentKind::MxIne));
        assert_eq!(DocumentKind::parse("pe-dni-blue"), None);
        assert_eq!(serde_json::to_string(&Side::Back).unwrap(), "\"back\"");
    }

    #[test]
    fn national_cards_have_two_sides_and_a_country() {
        for k in DocumentKind::ALL {
            let national = k != DocumentKind::Passport;
            assert_eq!(k.country().is_some(), national, "{k}");
            assert_eq!(k.sides().len(), if national { 2 } else { 1 }, "{k}");
        }
    }
}
