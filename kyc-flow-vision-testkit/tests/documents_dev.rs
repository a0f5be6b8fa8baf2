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
