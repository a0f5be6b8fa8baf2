//! Decoded barcode payloads of Latin American IDs: the old Colombian cédula's PDF417 (binary,
//! fixed offsets) and the Argentine DNI's PDF417 (text, `@`-separated, two generations).
//!
//! Barcode *decoding* (pixels to bytes) is vision's job; this module turns the decoded bytes
//! into the project's canonical fields. Mexico's INE carries high-density QR codes on the back
//! whose content is encrypted by INE; they are not read here (or anywhere in the project).
//!
//! The Colombian payload also carries a fingerprint template (biometric data). It is never
//! decoded, copied, returned or logged: only its length is reported.

use crate::date::Date;
use crate::id;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The payload layouts this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PayloadKind {
    /// Colombia, yellow cédula de ciudadanía (PDF417 on the back, binary).
    CoCedulaPdf417,
    /// Argentina, DNI (PDF417 on the front), both formats.
    ArDniPdf417,
}

impl PayloadKind {
    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::CoCedulaPdf417 => "co-cedula-pdf417",
            PayloadKind::ArDniPdf417 => "ar-dni-pdf417",
        }
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Option<PayloadKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "co-cedula-pdf417" => Some(PayloadKind::CoCedulaPdf417),
            "ar-dni-pdf417" => Some(PayloadKind::ArDniPdf417),
            _ => None,
        }
    }
}

/// Why bytes are not a payload of the asked kind. Never retryable: the same bytes give the
/// same answer; the user must show the right side of the right card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Too short for the layout.
    #[error("payload too short: {len} bytes, the layout needs at least {needed}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The bytes do not follow the layout.
    #[error("not a {kind} payload: {detail}")]
    WrongLayout {
        /// The layout asked for.
        kind: &'static str,
        /// What did not fit (free of personal data).
        detail: String,
    },
}

impl PayloadError {
    /// Always false.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Fields read from a payload, under the project's canonical names (`document_number`,
/// `surnames`, `given_names`, `sex`, `birth_date` as `YYYY-MM-DD`, …).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PayloadFields {
    /// Which layout.
    pub kind: PayloadKind,
    /// Which generation of the layout (`"2012"` or `"first"` for Argentina; `"v1"` for
    /// Colombia).
    pub variant: &'static str,
    /// The fields.
    pub fields: BTreeMap<String, String>,
    /// Length in bytes of the biometric block present in the payload (Colombia's
    /// fingerprint template). The bytes themselves are never kept.
    pub biometric_bytes: Option<usize>,
}

impl fmt::Debug for PayloadFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadFields")
            .field("kind", &self.kind)
            .field("variant", &self.variant)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("biometric_bytes", &self.biometric_bytes)
            .finish()
    }
}

/// Parses a payload of the given kind.
pub fn parse(kind: PayloadKind, bytes: &[u8]) -> Result<PayloadFields, PayloadError> {
    match kind {
        PayloadKind::CoCedulaPdf417 => co_cedula_pdf417(bytes),
        PayloadKind::ArDniPdf417 => ar_dni_pdf417(bytes),
    }
}

/// Byte offsets of the Colombian cédula PDF417 (half-open ranges). Community parsers agree on
/// them; they were not checked against real cards here (see docs/DOCUMENTS.md).
pub mod co_layout {
    /// Cédula number, zero-padded on the left.
    pub const NUMBER: (usize, usize) = (48, 58);
    /// First surname.
    pub const SURNAME_1: (usize, usize) = (58, 81);
    /// Second surname.
    pub const SURNAME_2: (usize, usize) = (81, 104);
    /// First given name.
    pub const GIVEN_1: (usize, usize) = (104, 127);
    /// Second given name.
    pub const GIVEN_2: (usize, usize) = (127, 150);
    /// Sex, `M` or `F` (byte 150 is a `0` separator).
    pub const SEX: usize = 151;
    /// Birth date, `YYYYMMDD`.
    pub const BIRTH: (usize, usize) = (152, 160);
    /// Municipality and department codes of the place of birth (DANE-style, as printed).
    pub const PLACE: (usize, usize) = (160, 166);
    /// Blood group and Rh (`O+`, `B-`). Two bytes only: `AB` groups lose their sign here.
    pub const BLOOD: (usize, usize) = (166, 168);
    /// End of the demographic block; what follows is the fingerprint template.
    pub const END: usize = 168;
}

/// Latin-1 to UTF-8, trimming NUL padding and spaces.
fn latin1_field(bytes: &[u8]) -> String {
    let s: String = bytes.iter().map(|&b| b as char).collect();
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned()
}

fn join_names(a: &str, b: &str) -> String {
    [a, b]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'' || c == '.')
}

/// Parses the old Colombian cédula's PDF417 payload (binary, latin-1, NUL padded).
pub fn co_cedula_pdf417(bytes: &[u8]) -> Result<PayloadFields, PayloadError> {
    use co_layout::*;
    const KIND: &str = "co-cedula-pdf417";
    let wrong = |detail: &str| PayloadError::WrongLayout {
        kind: KIND,
        detail: detail.to_owned(),
    };
    if bytes.len() < END {
        return Err(PayloadError::Truncated {
            len: bytes.len(),
            needed: END,
        });
    }
    let field = |(a, b): (usize, usize)| latin1_field(&bytes[a..b]);
    let number = field(NUMBER);
    if !number.bytes().all(|b| b.is_ascii_digit()) || number.is_empty() {
        return Err(wrong("document number is not numeric"));
    }
    let number = number.trim_start_matches('0').to_owned();
    if !id::validate(id::IdKind::CoCedula, &number).valid {
        return Err(wrong("document number is not a 6-10 digit cédula"));
    }
    let (s1, s2) = (field(SURNAME_1), field(SURNAME_2));
    let (g1, g2) = (field(GIVEN_1), field(GIVEN_2));
    if !is_name(&s1)
        || !(s2.is_empty() || is_name(&s2))
        || !is_name(&g1)
        || !(g2.is_empty() || is_name(&g2))
    {
        return Err(wrong("name fields are not names"));
    }
    let sex = match bytes[SEX] {
        b'M' => "M",
        b'F' => "F",
        _ => return Err(wrong("sex is not M or F")),
    };
    let birth =
        Date::parse_compact(&field(BIRTH)).ok_or_else(|| wrong("birth date is not a date"))?;
    let place = field(PLACE);
    if !place.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(wrong("place code is not alphanumeric"));
    }
    let blood = field(BLOOD);
    let blood_ok = blood.is_empty()
        || matches!(
            blood.as_str(),
            "O+" | "O-" | "A+" | "A-" | "B+" | "B-" | "AB" | "0+" | "0-"
        );
    if !blood_ok {
        return Err(wrong("blood type is not a blood group"));
    }
    let mut fields = BTreeMap::new();
    fields.insert("document_number".into(), number);
    fields.insert("surnames".into(), join_names(&s1, &s2));
    fields.insert("given_names".into(), join_names(&g1, &g2));
    fields.insert("sex".into(), sex.into());
    fields.insert("birth_date".into(), birth.to_string());
    if !place.is_empty() {
        fields.insert("place_code".into(), place);
    }
    if !blood.is_empty() {
        // Some printers write the zero of O+ as a digit.
        fields.insert("blood_type".into(), blood.replace('0', "O"));
    }
    let rest = &bytes[END..];
    let biometric = rest.iter().any(|&b| b != 0).then_some(rest.len());
    Ok(PayloadFields {
        kind: PayloadKind::CoCedulaPdf417,
        variant: "v1",
        fields,
        biometric_bytes: biometric,
    })
}

/// Decodes text that may be UTF-8 or latin-1 (barcode readers return either).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Parses the Argentine DNI PDF417 text: the 2012+ format (`tramite@surnames@names@sex@dni@
/// copy@birth@issue[@cuil]`) or the first format (starting with `@`, with expiry and
/// nationality).
pub fn ar_dni_pdf417(bytes: &[u8]) -> Result<PayloadFields, PayloadError> {
    const KIND: &str = "ar-dni-pdf417";
    let wrong = |detail: &str| PayloadError::WrongLayout {
        kind: KIND,
        detail: detail.to_owned(),
    };
    let text = decode_text(bytes);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let parts: Vec<&str> = text.split('@').map(str::trim).collect();
    if parts.len() < 8 {
        return Err(wrong("fewer than 8 @-separated fields"));
    }
    let mut fields = BTreeMap::new();
    let date = |s: &str, what: &str| {
        Date::parse_dmy_slash(s)
            .map(|d| d.to_string())
            .ok_or_else(|| wrong(&format!("{what} is not DD/MM/YYYY")))
    };
    let dni_ok = |s: &str| id::validate(id::IdKind::ArDni, s).valid;
    let sex_of = |s: &str| match s {
        "M" | "F" | "X" => Ok(s.to_owned()),
        _ => Err(wrong("sex is not M, F or X")),
    };
    let variant;
    if parts[0].is_empty() {
        // First format: @dni@copy@?@surnames@names@nationality@birth@sex@issue@tramite@?@expiry@…
        if parts.len() < 13 {
            return Err(wrong("first format needs at least 13 fields"));
        }
        variant = "first";
        if !dni_ok(parts[1]) {
            return Err(wrong("document number is not a 7-8 digit DNI"));
        }
        if !is_name(parts[4]) || !is_name(parts[5]) {
            return Err(wrong("name fields are not names"));
        }
        fields.insert("document_number".into(), parts[1].to_owned());
        fields.insert("copy".into(), parts[2].to_owned());
        fields.insert("surnames".into(), parts[4].to_owned());
        fields.insert("given_names".into(), parts[5].to_owned());
        fields.insert("nationality".into(), parts[6].to_owned());
        fields.insert("birth_date".into(), date(parts[7], "birth date")?);
        fields.insert("sex".into(), sex_of(parts[8])?);
        fields.insert("issue_date".into(), date(parts[9], "issue date")?);
        if !parts[10].is_empty() {
            fields.insert("procedure_number".into(), parts[10].to_owned());
        }
        fields.insert("expiry_date".into(), date(parts[12], "expiry date")?);
    } else {
        variant = "2012";
        if !parts[0].bytes().all(|b| b.is_ascii_digit()) {
            return Err(wrong("procedure number is not numeric"));
        }
        if !dni_ok(parts[4]) {
            return Err(wrong("document number is not a 7-8 digit DNI"));
        }
        if !is_name(parts[1]) || !is_name(parts[2]) {
            return Err(wrong("name fields are not names"));
        }
        let dni = parts[4].to_owned();
        fields.insert("procedure_number".into(), parts[0].to_owned());
        fields.insert("surnames".into(), parts[1].to_owned());
        fields.insert("given_names".into(), parts[2].to_owned());
        fields.insert("sex".into(), sex_of(parts[3])?);
        fields.insert("copy".into(), parts[5].to_owned());
        fields.insert("birth_date".into(), date(parts[6], "birth date")?);
        fields.insert("issue_date".into(), date(parts[7], "issue date")?);
        // The optional ninth field holds the CUIL's two-digit prefix and its check digit;
        // with the DNI in between it gives the whole CUIL, which must then validate.
        if let Some(c) = parts
            .get(8)
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        {
            let cuil = format!("{}{:0>8}{}", &c[..2], dni, &c[2..]);
            if id::validate(id::IdKind::ArCuit, &cuil).valid {
                fields.insert("cuil".into(), cuil);
            }
        }
        fields.insert("document_number".into(), dni);
    }
    Ok(PayloadFields {
        kind: PayloadKind::ArDniPdf417,
        variant,
        fields,
        biometric_bytes: None,
    })
}

/// Builders of synthetic payloads, for tests, fuzz seeds and vision's sample generator.
pub mod build {
    use super::co_layout::*;

    /// Inputs of a synthetic Colombian payload.
    #[derive(Debug, Clone, Default)]
    pub struct CoCedula {
        /// 6–10 digits.
        pub number: String,
        /// First and second surname.
        pub surnames: (String, String),
        /// First and second given name.
        pub given: (String, String),
        /// `M` or `F`.
        pub sex: char,
        /// `YYYYMMDD`.
        pub birth: String,
        /// Up to 6 characters.
        pub place: String,
        /// `O+`, `AB`…
        pub blood: String,
        /// Length of a fake (random-looking, non-biometric) trailer standing for the template.
        pub trailer: usize,
    }

    fn put(buf: &mut [u8], (a, b): (usize, usize), s: &str) {
        for (i, ch) in s.chars().take(b - a).enumerate() {
            buf[a + i] = u32::from(ch).try_into().unwrap_or(b'?');
        }
    }

    /// Lays the fields out at the documented offsets (latin-1, NUL padded).
    pub fn co_cedula_pdf417(c: &CoCedula) -> Vec<u8> {
        let mut buf = vec![0u8; END + c.trailer];
        put(&mut buf, (0, 8), "0PubDSK_");
        put(&mut buf, NUMBER, &format!("{:0>10}", c.number));
        put(&mut buf, SURNAME_1, &c.surnames.0);
        put(&mut buf, SURNAME_2, &c.surnames.1);
        put(&mut buf, GIVEN_1, &c.given.0);
        put(&mut buf, GIVEN_2, &c.given.1);
        buf[SEX - 1] = b'0';
        buf[SEX] = c.sex as u8;
        put(&mut buf, BIRTH, &c.birth);
        put(&mut buf, PLACE, &c.place);
        put(&mut buf, BLOOD, &c.blood);
        // A deterministic filler, so the trailer is non-zero like a real template.
        for (i, b) in buf[END..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn co_sample() -> build::CoCedula {
        build::CoCedula {
            number: "1020304050".into(),
            surnames: ("PEÑA".into(), "GÓMEZ".into()),
            given: ("MARÍA".into(), "JOSÉ".into()),
            sex: 'F',
            birth: "19900215".into(),
            place: "05001".into(),
            blood: "O+".into(),
            trailer: 363,
        }
    }

    #[test]
    fn colombian_payload_fields() {
        let bytes = build::co_cedula_pdf417(&co_sample());
        assert_eq!(bytes.len(), 531);
        let p = co_cedula_pdf417(&bytes).unwrap();
        assert_eq!(p.fields["document_number"], "1020304050");
        assert_eq!(p.fields["surnames"], "PEÑA GÓMEZ");
        assert_eq!(p.fields["given_names"], "MARÍA JOSÉ");
        assert_eq!(p.fields["sex"], "F");
        assert_eq!(p.fields["birth_date"], "1990-02-15");
        assert_eq!(p.fields["place_code"], "05001");
        assert_eq!(p.fields["blood_type"], "O+");
        assert_eq!(p.biometric_bytes, Some(363));
        let dbg = format!("{p:?}");
        assert!(
            !dbg.contains("PEÑA") && !dbg.contains("1020304050"),
            "{dbg}"
        );
    }

    #[test]
    fn colombian_payload_rejections() {
        let good = build::co_cedula_pdf417(&co_sample());
        assert!(matches!(
            co_cedula_pdf417(&good[..100]),
            Err(PayloadError::Truncated {
                len: 100,
                needed: 168
            })
        ));
        let mut bad = good.clone();
        bad[co_layout::SEX] = b'Q';
        assert!(co_cedula_pdf417(&bad).is_err());
        let mut bad = good.clone();
        bad[co_layout::BIRTH.0 + 4] = b'1';
        bad[co_layout::BIRTH.0 + 5] = b'3';
        assert!(co_cedula_pdf417(&bad).is_err());
        assert!(co_cedula_pdf417(&[0u8; 600]).is_err());
    }

    #[test]
    fn argentine_2012_format() {
        let text = "00123456789@PÉREZ@JUAN CARLOS@M@20123456@B@17/03/1985@02/07/2015@209";
        let p = ar_dni_pdf417(text.as_bytes()).unwrap();
        assert_eq!(p.variant, "2012");
        assert_eq!(p.fields["document_number"], "20123456");
        assert_eq!(p.fields["surnames"], "PÉREZ");
        assert_eq!(p.fields["given_names"], "JUAN CARLOS");
        assert_eq!(p.fields["birth_date"], "1985-03-17");
        assert_eq!(p.fields["issue_date"], "2015-07-02");
        assert_eq!(p.fields["copy"], "B");
        // The same text in latin-1 reads the same.
        let latin1: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
        assert_eq!(ar_dni_pdf417(&latin1).unwrap(), p);
    }

    #[test]
    fn argentine_cuil_is_rebuilt_and_checked() {
        let dni = "20123456";
        let check = id::ar_cuit_check_digit(&format!("20{dni}")).unwrap();
        let text = format!("00123456789@PEREZ@JUAN@M@{dni}@A@17/03/1985@02/07/2015@20{check}");
        let p = ar_dni_pdf417(text.as_bytes()).unwrap();
        assert_eq!(p.fields["cuil"], format!("20{dni}{check}"));
    }

    #[test]
    fn argentine_first_format() {
        let text = "@17200000    @A@1@GOMEZ@MARIA ELENA@ARGENTINA@15/04/1965@F@21/05/2010@00012345678@7015 @21/05/2025@123@0@ILR:2.20 C:100429.01 (No Cap.)@UNIDAD #20 || S/N: 0040>2008>>0001";
        let p = ar_dni_pdf417(text.as_bytes()).unwrap();
        assert_eq!(p.variant, "first");
        assert_eq!(p.fields["document_number"], "17200000");
        assert_eq!(p.fields["surnames"], "GOMEZ");
        assert_eq!(p.fields["given_names"], "MARIA ELENA");
        assert_eq!(p.fields["nationality"], "ARGENTINA");
        assert_eq!(p.fields["sex"], "F");
        assert_eq!(p.fields["birth_date"], "1965-04-15");
        assert_eq!(p.fields["expiry_date"], "2025-05-21");
    }

    #[test]
    fn argentine_rejections() {
        assert!(ar_dni_pdf417(b"hello").is_err());
        assert!(ar_dni_pdf417(b"001@PEREZ@JUAN@Q@20123456@A@17/03/1985@02/07/2015").is_err());
        assert!(ar_dni_pdf417(b"001@PEREZ@JUAN@M@2012@A@17/03/1985@02/07/2015").is_err());
        assert!(ar_dni_pdf417(b"001@PEREZ@JUAN@M@20123456@A@31/02/1985@02/07/2015").is_err());
    }
}
