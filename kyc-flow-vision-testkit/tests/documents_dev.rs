//! The reader on the real specimens of `documents-dev` (never copied into the repository).
//! Skips cleanly where the folder is absent (`KYC_FLOW_DOCUMENTS_DEV` overrides its path); on
//! the project's machines, CI included, it runs.

use kyc_flow_vision::reader::LocalDocumentReader;
use kyc_flow_vision_testkit::dev_eval;

#[test]
fn every_specimen_mrz_and_printed_field_is_read_without_country_or_side() {
    let Some(dir) = dev_eval::dev_dir() else {
        eprintln!("documents-dev not found: skipping");
        return;
    };
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("documents_dev") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets)
        .unwrap()
        .with_every_barcode();
    let results = dev_eval::evaluate(&reader, &dir).unwrap();
    assert!(!results.is_empty());
    let report = dev_eval::report(&results);
    for r in &results {
        assert_eq!(
            r.model.as_deref(),
            Some(r.expected_model.as_str()),
            "{}: model\n{report}",
            r.file
        );
        assert_eq!(
            r.mrz_lines.0, r.mrz_lines.1,
            "{}: MRZ lines\n{report}",
            r.file
        );
        // Printed fields: all but at most one per image.
        assert!(
            r.fields.1 + 1 >= r.fields.0,
            "{}: fields {:?} missed {:?}\n{report}",
            r.file,
            r.fields,
            r.missed
        );
        // Specimens are readable: the only acceptable retake is for an expired document.
        assert!(
            r.accepted || r.retake.as_deref() == Some("expired"),
            "{}: wrong retake {:?}\n{report}",
            r.file,
            r.retake
        );
    }
}

/// Issue 10: a web thumbnail about 300 px wide must still yield the machine-readable zone, or
/// say precisely why not. Every specimen with a zone (passports, TD1 and TD2 cards, the
/// digital cédula's back) is downscaled in memory to 300 px wide and read: its zone's data
/// line(s) (document number, dates, check digits) must be read exactly and every check digit
/// pass, or the retake must be `too_small` with the text height measured. Measured at 300 px
/// (docs/VISION-OCR.md, "Fourth pass"): every zone read, 19 of 21 lines exact (two passports'
/// name lines with fillers read as letters); before, the digital cédula's back was not read.
#[test]
fn thumbnails_300_px_wide_yield_the_zone_or_say_the_text_is_too_small() {
    let Some(dir) = dev_eval::dev_dir() else {
        eprintln!("documents-dev not found: skipping");
        return;
    };
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("documents_dev_thumbnails") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets).unwrap();
    let labels: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("labels.json")).unwrap()).unwrap();
    let (mut zones, mut read, mut exact, mut lines) = (0, 0, 0, 0);
    for (file, label) in labels.as_object().unwrap() {
        let Some(want) = label["mrz"].as_array().filter(|v| !v.is_empty()) else {
            continue;
        };
        let want: Vec<&str> = want.iter().filter_map(|l| l.as_str()).collect();
        zones += 1;
        let thumb =
            dev_eval::downscaled(std::fs::read(dir.join(file)).unwrap(), Some(300)).unwrap();
        assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 300);
        let a = reader.read_photo(&thumb).unwrap();
        let (_, retake, detail) = dev_eval::outcome_parts(&a.outcome);
        match &a.mrz {
            Some(m) => {
                // The data lines: TD1's first two, TD2's and TD3's second.
                let data: &[usize] = if want.len() == 3 { &[0, 1] } else { &[1] };
                for &i in data {
                    assert_eq!(m.lines.get(i).map(String::as_str), Some(want[i]), "{file}");
                }
                // The Colombian specimen's document number check digit is itself wrong.
                if !file.starts_with("co_") {
                    assert!(m.valid(), "{file}: {:?}", m.checks);
                }
                read += 1;
                lines += want.len();
                exact += want
                    .iter()
                    .enumerate()
                    .filter(|(i, l)| m.lines.get(*i).map(String::as_str) == Some(**l))
                    .count();
            }
            None => {
                assert_eq!(retake.as_deref(), Some("too_small"), "{file}: {detail:?}");
                assert!(detail.is_some_and(|d| d.ends_with("px tall")), "{file}");
            }
        }
    }
    assert!(zones >= 9, "{zones} specimens with a zone");
    assert_eq!(read, zones, "zones read at 300 px");
    assert!(exact + 3 >= lines, "{exact}/{lines} zone lines exact");
}
