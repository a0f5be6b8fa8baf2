//! The JSON printed by `kyc-flow inspect id|mrz|payload`, exactly as
//! `docs/cli.md` specifies (field names are a contract; fields may be added, never renamed).
//!
//! Each function returns `Err(reason)` for a usage error or unreadable input (exit 2), else
//! the JSON document and whether the answer is "valid"/"parsed" (exit 0) or not (exit 1).
//! The `*_on` variants take the reference day; the plain ones read the system clock for it,
//! which is the only place this crate does so (a command line has no other "today").

use crate::date::Date;
use crate::id::{self, IdKind, Options};
use crate::mrz;
use crate::payload::{self, PayloadKind};
use serde_json::{Value, json};

/// Today in UTC from the system clock.
pub fn today_utc() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    date_from_unix_days(secs.div_euclid(86_400))
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's days-to-civil method).
pub fn date_from_unix_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    // Out of the Date range (a clock set past year 9999): fall back to the epoch.
    Date::new(year, month, day)
        .or_else(|| Date::new(1970, 1, 1))
        .unwrap()
}

/// `kyc-flow inspect id KIND VALUE`.
pub fn id(kind: &str, value: &str) -> Result<(Value, bool), String> {
    id_on(kind, value, today_utc())
}

/// [`id`] with an explicit reference day (for the clave de elector's century).
pub fn id_on(kind: &str, value: &str, today: Date) -> Result<(Value, bool), String> {
    let kind = IdKind::parse(kind).ok_or_else(|| {
        let all: Vec<&str> = IdKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown KIND {kind:?}; expected one of {}", all.join(", "))
    })?;
    let options = Options {
        reference_date: Some(today),
        ..Options::default()
    };
    let v = id::validate_with(kind, value, &options);
    let mut out = json!({
        "kind": kind.as_str(),
        "valid": v.valid,
        "normalized": v.normalized,
        "reason": v.reason.map(|r| r.as_str()),
    });
    if !v.fields.is_empty() {
        out["fields"] = json!(v.fields);
    }
    Ok((out, v.valid))
}

/// `kyc-flow inspect mrz FILE|-`.
pub fn mrz(text: &str) -> Result<(Value, bool), String> {
    mrz_on(text, today_utc())
}

/// [`mrz`] with an explicit reference day (for the interpreted dates).
pub fn mrz_on(text: &str, today: Date) -> Result<(Value, bool), String> {
    let m = mrz::parse(text).map_err(|e| e.to_string())?;
    let f = &m.fields;
    let mut out = json!({
        "valid": m.valid(),
        "format": m.format.as_str(),
        "fields": {
            "document_type": f.document_type,
            "country": f.country,
            "document_number": f.document_number,
            "birth_date": f.birth_date,
            "expiry_date": f.expiry_date,
            "sex": f.sex,
            "nationality": f.nationality,
            "surname": f.surname,
            "given_names": f.given_names,
            "optional_data": f.optional_data,
            "optional_data_2": f.optional_data_2,
        },
        "checks": {
            "document_number": m.checks.document_number,
            "birth_date": m.checks.birth_date,
            "expiry_date": m.checks.expiry_date,
            "composite": m.checks.composite,
        },
        "repairs": m.repairs,
        "interpreted": {
            "birth_date": m.birth_date(today).map(|d| d.to_string()),
            "expiry_date": m.expiry_date(today).map(|d| d.to_string()),
            "sex": m.sex(),
        },
    });
    if let Some(ok) = m.checks.optional_data {
        out["checks"]["optional_data"] = json!(ok);
    }
    if let Some(n) = m.national() {
        out["national"] = json!(n);
    }
    Ok((out, m.valid()))
}

/// `kyc-flow inspect payload --kind KIND FILE` (the caller decodes `--hex`; see
/// [`decode_hex`]).
pub fn payload(kind: &str, bytes: &[u8]) -> Result<(Value, bool), String> {
    let k = PayloadKind::parse(kind).ok_or_else(|| {
        format!("unknown payload KIND {kind:?}; expected co-cedula-pdf417 or ar-dni-pdf417")
    })?;
    Ok(match payload::parse(k, bytes) {
        Ok(p) => (
            json!({
                "kind": k.as_str(),
                "variant": p.variant,
                "fields": p.fields,
                // Presence and size only: the template itself is biometric data.
                "biometric_template": {
                    "present": p.biometric_bytes.is_some(),
                    "bytes": p.biometric_bytes,
                },
            }),
            true,
        ),
        Err(e) => (
            json!({
                "kind": k.as_str(),
                "fields": {},
                "error": e.to_string(),
            }),
            false,
        ),
    })
}

/// Decodes `--hex` input: hex digits, whitespace ignored. `Err` is a usage error.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("hex input has an odd number of digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "hex input is not ASCII".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("not a hex byte: {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2026, 11, 26).unwrap()
    }

    #[test]
    fn unix_days_to_dates() {
        assert_eq!(date_from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(date_from_unix_days(11_016).to_string(), "2000-02-29");
        assert_eq!(date_from_unix_days(20_418).to_string(), "2025-11-26");
        assert_eq!(date_from_unix_days(-1).to_string(), "1969-12-31");
    }

    #[test]
    fn id_json() {
        let (v, ok) = id_on("mx-curp", "BADO830408HDFRRR09", today()).unwrap();
        assert!(ok);
        insta::assert_json_snapshot!("inspect_id_curp_valid", v);
        let (v, ok) = id_on("br-cpf", "111.111.111-11", today()).unwrap();
        assert!(!ok);
        insta::assert_json_snapshot!("inspect_id_cpf_repeated", v);
        let (v, _) = id_on("mx-clave-elector", "GMVLMR80070501M100", today()).unwrap();
        assert_eq!(v["fields"]["birth_date"], "1980-07-05");
        assert!(id_on("mx-passport", "X", today()).is_err());
    }

    #[test]
    fn mrz_json() {
        let text = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<\n";
        let (v, ok) = mrz_on(text, today()).unwrap();
        assert!(ok);
        insta::assert_json_snapshot!("inspect_mrz_td1", v);
        let (v, ok) = mrz_on(&text.replace("7408122", "7408123"), today()).unwrap();
        assert!(!ok);
        assert_eq!(v["checks"]["birth_date"], false);
        assert!(mrz_on("hello", today()).is_err());
    }

    #[test]
    fn payload_json() {
        let text = "00123456789@PEREZ@JUAN CARLOS@M@20123456@B@17/03/1985@02/07/2015";
        let (v, ok) = payload("ar-dni-pdf417", text.as_bytes()).unwrap();
        assert!(ok);
        insta::assert_json_snapshot!("inspect_payload_ar", v);
        let (v, ok) = payload("co-cedula-pdf417", text.as_bytes()).unwrap();
        assert!(!ok);
        assert_eq!(v["fields"], json!({}));
        assert!(payload("qr", b"").is_err());
        assert_eq!(decode_hex("0a FF\n10").unwrap(), vec![10, 255, 16]);
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
