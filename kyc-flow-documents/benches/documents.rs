//! Throughput of the pure document code: identifiers validated per second, MRZs parsed per
//! second, payloads parsed and cards cross-checked per second. Inputs are generated once
//! (valid values and OCR-like mutations, deterministic seed) outside the timed loops.

#[path = "../tests/support/gen.rs"]
mod generate;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kyc_flow_documents::date::Date;
use kyc_flow_documents::id::{self, IdKind};
use kyc_flow_documents::mrz;
use kyc_flow_documents::payload;
use kyc_flow_documents::template::{self, DocumentModel, Observations, Policy};
use std::collections::BTreeMap;
use std::hint::black_box;

fn identifiers(c: &mut Criterion) {
    let mut rng = generate::Rng(7);
    let mut inputs = Vec::new();
    for kind in IdKind::ALL {
        for i in 0..64 {
            let v = generate::valid(&mut rng, kind);
            let v = if i % 4 == 3 {
                generate::mutate(&mut rng, &v, b"0123456789ABCDEFXYZ")
            } else {
                v
            };
            inputs.push((kind, v));
        }
    }
    let mut g = c.benchmark_group("identifiers");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("validate_all_kinds_mixed", |b| {
        b.iter(|| {
            let mut valid = 0;
            for (k, v) in &inputs {
                valid += usize::from(id::validate(*k, black_box(v)).valid);
            }
            valid
        })
    });
    let curps: Vec<String> = (0..256)
        .map(|_| generate::valid(&mut rng, IdKind::MxCurp))
        .collect();
    g.throughput(Throughput::Elements(curps.len() as u64));
    g.bench_function("validate_curp", |b| {
        b.iter(|| {
            curps
                .iter()
                .filter(|v| id::validate(IdKind::MxCurp, black_box(v)).valid)
                .count()
        })
    });
    g.finish();
}

fn zones(c: &mut Criterion) {
    let mut rng = generate::Rng(11);
    let clean: Vec<String> = (0..300).map(|_| generate::mrz(&mut rng)).collect();
    let noisy: Vec<String> = clean
        .iter()
        .map(|t| generate::mutate_mrz(&mut rng, t, 2))
        .collect();
    let mut g = c.benchmark_group("mrz");
    g.throughput(Throughput::Elements(clean.len() as u64));
    g.bench_function("parse_clean_mixed_formats", |b| {
        b.iter(|| {
            clean
                .iter()
                .filter(|t| mrz::parse(black_box(t)).is_ok_and(|m| m.valid()))
                .count()
        })
    });
    g.bench_function("parse_ocr_noisy_with_repair", |b| {
        b.iter(|| {
            noisy
                .iter()
                .filter(|t| mrz::parse(black_box(t)).is_ok_and(|m| m.valid()))
                .count()
        })
    });
    g.finish();
}

fn payloads_and_cross_checks(c: &mut Criterion) {
    let co = payload::build::co_cedula_pdf417(&payload::build::CoCedula {
        number: "1020304050".into(),
        surnames: ("PEÑA".into(), "GÓMEZ".into()),
        given: ("MARÍA".into(), "JOSÉ".into()),
        sex: 'F',
        birth: "19900215".into(),
        place: "05001".into(),
        blood: "O+".into(),
        trailer: 363,
    });
    let ar = b"00123456789@PEREZ@JUAN CARLOS@M@20123456@B@17/03/1985@02/07/2015@209".to_vec();
    let mut g = c.benchmark_group("payload");
    g.throughput(Throughput::Elements(1));
    g.bench_function("co_cedula_pdf417", |b| {
        b.iter(|| payload::co_cedula_pdf417(black_box(&co)))
    });
    g.bench_function("ar_dni_pdf417", |b| {
        b.iter(|| payload::ar_dni_pdf417(black_box(&ar)))
    });
    g.finish();

    let zone = mrz::parse(&mrz::build::td1(&mrz::build::Spec {
        document_type: "ID".into(),
        country: "MEX".into(),
        number: "123456789".into(),
        optional: "<<0123456789012".into(),
        birth: "850317".into(),
        sex: "H".into(),
        expiry: "301231".into(),
        nationality: "MEX".into(),
        surname: "PENA GARCIA".into(),
        given: "JUAN".into(),
        ..Default::default()
    }))
    .unwrap();
    let curp = format!(
        "PEGJ850317HDFXRN0{}",
        id::curp_check_digit("PEGJ850317HDFXRN0").unwrap()
    );
    let printed: BTreeMap<String, String> = [
        ("curp", curp.as_str()),
        ("surnames", "PEÑA GARCÍA"),
        ("given_names", "JUAN"),
        ("birth_date", "17/03/1985"),
        ("sex", "H"),
        ("expiry_date", "2030"),
        ("clave_elector", "PNGRJN85031709H100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let policy = Policy::new(Date::new(2026, 11, 26).unwrap());
    let mut g = c.benchmark_group("template");
    g.throughput(Throughput::Elements(1));
    g.bench_function("cross_check_mx_ine_front_and_back", |b| {
        b.iter(|| {
            let obs = Observations {
                printed: Some(&printed),
                mrz: Some(&zone),
                barcode: None,
            };
            template::cross_check(DocumentModel::MxIne, black_box(&obs), &policy)
        })
    });
    g.finish();
}

criterion_group!(benches, identifiers, zones, payloads_and_cross_checks);
criterion_main!(benches);
