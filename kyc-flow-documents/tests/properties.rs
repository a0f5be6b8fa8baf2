//! Property tests: no parser panics or misbehaves on arbitrary input, normalization is stable,
//! and what the generators call valid stays valid through formatting.

#[path = "support/gen.rs"]
mod generate;

use kyc_flow_documents::date::Date;
use kyc_flow_documents::id::{self, IdKind};
use kyc_flow_documents::mrz;
use kyc_flow_documents::payload::{self, PayloadKind};
use kyc_flow_documents::template::{self, DocumentModel, Observations, Policy};
use kyc_flow_documents::{inspect, names};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn kind() -> impl Strategy<Value = IdKind> {
    (0..IdKind::ALL.len()).prop_map(|i| IdKind::ALL[i])
}

fn today() -> Date {
    Date::new(2026, 11, 26).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validators_never_panic_and_are_consistent(k in kind(), s in "\\PC{0,24}") {
        let v = id::validate(k, &s);
        prop_assert_eq!(v.valid, v.reason.is_none());
        if !v.valid {
            prop_assert!(v.fields.is_empty());
        } else {
            prop_assert!(!v.normalized.is_empty());
        }
        // Normalizing twice changes nothing, and the verdict is the same on the normal form.
        let again = id::validate(k, &v.normalized);
        prop_assert_eq!(&again.normalized, &v.normalized);
        prop_assert_eq!(again.valid, v.valid);
    }

    #[test]
    fn validators_on_near_valid_input(k in kind(), seed in any::<u64>(), edits in 0usize..3) {
        let mut rng = generate::Rng(seed);
        let mut s = generate::valid(&mut rng, k);
        for _ in 0..edits {
            s = generate::mutate(&mut rng, &s, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<&\xc3");
        }
        let v = id::validate(k, &s);
        prop_assert_eq!(v.valid, v.reason.is_none());
    }

    #[test]
    fn valid_numbers_survive_human_formatting(k in kind(), seed in any::<u64>(), sep in "[ .\\-/]{1,2}") {
        let mut rng = generate::Rng(seed);
        let s = generate::valid(&mut rng, k);
        let mid = s.len() / 2;
        let formatted = format!(" {}{sep}{} ", &s[..mid], s[mid..].to_lowercase());
        let v = id::validate(k, &formatted);
        prop_assert!(v.valid, "{} {:?} -> {:?}", k, formatted, v.reason);
        prop_assert_eq!(v.normalized, s);
    }

    #[test]
    fn mrz_parser_never_panics(s in "\\PC{0,120}") {
        let _ = mrz::parse(&s);
    }

    #[test]
    fn mrz_shaped_noise_parses(lines in prop_oneof![
        proptest::collection::vec("[A-Z0-9<]{30}", 3),
        proptest::collection::vec("[A-Z0-9<]{36}", 2),
        proptest::collection::vec("[A-Z0-9<]{44}", 2),
    ]) {
        let m = mrz::parse(&lines.join("\n")).unwrap();
        prop_assert_eq!(m.lines.len(), lines.len());
        let _ = m.national();
        let _ = m.birth_date(today());
        let _ = m.expiry_date(today());
    }

    #[test]
    fn generated_zones_are_valid_and_repairs_are_justified(seed in any::<u64>(), n in 0usize..4) {
        let mut rng = generate::Rng(seed);
        let good = generate::mrz(&mut rng);
        let m = mrz::parse(&good).unwrap();
        prop_assert!(m.valid(), "{:?}", good);
        prop_assert!(m.repairs.is_empty());
        let noisy = generate::mutate_mrz(&mut rng, &good, n);
        let m = mrz::parse(&noisy).unwrap();
        // Repairs only touch digits' look-alikes, and only where a check then passes.
        for r in &m.repairs {
            prop_assert!("OIZSGB".contains(r.from));
            prop_assert!(r.to.is_ascii_digit());
        }
        if !m.repairs.is_empty() {
            let reparsed = mrz::parse(&m.lines.join("\n")).unwrap();
            prop_assert!(reparsed.repairs.is_empty());
            prop_assert_eq!(reparsed.checks, m.checks);
        }
        // A zone that read clean needs no repair to read clean again.
        if noisy == good {
            prop_assert!(m.valid());
        }
    }

    #[test]
    fn payload_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = payload::parse(PayloadKind::CoCedulaPdf417, &bytes);
        let _ = payload::parse(PayloadKind::ArDniPdf417, &bytes);
        let _ = inspect::payload("co-cedula-pdf417", &bytes).unwrap();
    }

    #[test]
    fn argentine_like_text_never_panics(parts in proptest::collection::vec("[A-Z0-9/ ]{0,12}", 0..18), lead in any::<bool>()) {
        let text = format!("{}{}", if lead { "@" } else { "" }, parts.join("@"));
        if let Ok(p) = payload::ar_dni_pdf417(text.as_bytes()) {
            prop_assert!(p.fields.contains_key("document_number"));
            prop_assert!(id::validate(IdKind::ArDni, &p.fields["document_number"]).valid);
        }
    }

    #[test]
    fn colombian_payload_bit_flips(seed in any::<u64>(), flips in proptest::collection::vec((0usize..531, any::<u8>()), 0..6)) {
        let mut rng = generate::Rng(seed);
        let mut bytes = payload::build::co_cedula_pdf417(&payload::build::CoCedula {
            number: generate::valid(&mut rng, IdKind::CoCedula),
            surnames: ("PEÑA".into(), "RUIZ".into()),
            given: ("ANA".into(), String::new()),
            sex: 'F',
            birth: "19800101".into(),
            place: "11001".into(),
            blood: "A+".into(),
            trailer: 363,
        });
        for (i, b) in flips {
            bytes[i] = b;
        }
        if let Ok(p) = payload::co_cedula_pdf417(&bytes) {
            prop_assert!(id::validate(IdKind::CoCedula, &p.fields["document_number"]).valid);
            prop_assert!(Date::parse_iso(&p.fields["birth_date"]).is_some());
        }
    }

    #[test]
    fn cross_check_never_panics(
        k in (0..DocumentModel::ALL.len()).prop_map(|i| DocumentModel::ALL[i]),
        printed in proptest::collection::btree_map(
            prop_oneof![Just("document_number"), Just("surnames"), Just("given_names"), Just("birth_date"),
                        Just("sex"), Just("expiry_date"), Just("curp"), Just("clave_elector"), Just("check_character"), Just("other")],
            "\\PC{0,20}", 0..8),
        seed in any::<u64>(),
        min_age in 0u32..120,
    ) {
        let printed: BTreeMap<String, String> = printed.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut rng = generate::Rng(seed);
        let zone = mrz::parse(&generate::mrz(&mut rng)).unwrap();
        let mut policy = Policy::new(today());
        policy.minimum_age = min_age;
        let obs = Observations { printed: Some(&printed), mrz: Some(&zone), barcode: None };
        let v = template::cross_check(k, &obs, &policy);
        for c in &v.checks {
            prop_assert_eq!(c.passed, c.problem.is_none());
        }
        prop_assert_eq!(v.passed(), v.worst_problem().is_none());
    }

    #[test]
    fn printed_dates_never_panic(s in "\\PC{0,16}") {
        if let Some(d) = template::parse_printed_date(&s) {
            prop_assert!(Date::parse_iso(&d.to_string()).is_some());
        }
        let _ = names::fold(&s);
    }
}
