//! The reader on a small domain-randomised set (one sample per model and side, 13 photos),
//! told neither the country nor the side. The floors sit below what was measured on the
//! 60-sample set and on this one (docs/VISION-OCR.md, "Evaluation (synthetic)"), just under
//! what this set last measured: a reader that reads clearly less fails them. Skips without
//! `.assets` unless `CI` is set.

use kyc_flow_vision::reader::LocalDocumentReader;
use kyc_flow_vision_testkit::{dev_eval, randomised};

// Measured on this set (seed 1, 13 photos) at 9422a1a: 7 documents found, 5 models right,
// 3/17 MRZ lines and 19/74 fields exact, 11 wrong retakes; after the reader's fixes for
// receipts beside the card and slanted lines (docs/VISION-OCR.md, "Wrong retakes on legible
// photos"): 9 found, 9 models right, 8/17 MRZ lines, 42/74 fields, 6 wrong retakes; after the
// PDF417 cut out where it lies, zone rows found past interleaved text and the other rotations
// read when nothing was recognised: 10 found, 10 models right, 11/17 MRZ lines, 52/74 fields
// (70 %), 4 wrong retakes. The floors sit just under that.
const FOUND_FLOOR: usize = 9;
const MODEL_FLOOR: usize = 9;
const MRZ_LINES_FLOOR: usize = 10;
const FIELDS_PERCENT_FLOOR: usize = 65;
const WRONG_RETAKES_CEILING: usize = 5;

#[test]
fn a_randomised_set_is_read_above_the_floors() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("randomised_set") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets)
        .unwrap()
        .with_every_barcode();
    let results = randomised::evaluate(&reader, 13, 1).unwrap();
    let table = dev_eval::model_table(&results);
    let n = results.len();
    let count =
        |f: &dyn Fn(&dev_eval::ImageResult) -> bool| results.iter().filter(|r| f(r)).count();
    let sum = |f: &dyn Fn(&dev_eval::ImageResult) -> (usize, usize)| {
        results.iter().fold((0, 0), |a, r| {
            let (x, y) = f(r);
            (a.0 + x, a.1 + y)
        })
    };
    let found = count(&|r| r.found);
    let right = count(&|r| r.model.as_deref() == Some(r.expected_model.as_str()));
    let mrz = sum(&|r| r.mrz_lines);
    let fields = sum(&|r| r.fields);
    let wrong = count(&|r| dev_eval::wrong_retake(r));
    eprintln!("{table}");
    assert_eq!(n, 13);
    assert!(found >= FOUND_FLOOR, "documents found {found}/{n}\n{table}");
    assert!(right >= MODEL_FLOOR, "models right {right}/{n}\n{table}");
    assert!(
        mrz.1 >= MRZ_LINES_FLOOR,
        "MRZ lines exact {}/{}\n{table}",
        mrz.1,
        mrz.0
    );
    assert!(
        fields.1 * 100 >= fields.0 * FIELDS_PERCENT_FLOOR,
        "fields exact {}/{}\n{table}",
        fields.1,
        fields.0
    );
    assert!(
        wrong <= WRONG_RETAKES_CEILING,
        "wrong retakes {wrong}/{n}\n{table}"
    );
}

/// Regressions from the 60-photo set (seed 1), each a legible photo that was sent back:
/// a receipt beside an INE back, its lines at the height of the zone's (`cropped`, no MRZ read);
/// an INE back tilted 27°, whose last zone line the recognizer cut short on its slanted box
/// (`unreadable`); a receipt running off the frame beside an INE front (`cropped`); a yellow
/// cédula back tilted 10° beside a receipt, whose PDF417 (the back's only source of the
/// holder's number and names) was not decoded until the symbol was cut out and squared up
/// where it lies (`unreadable`).
#[test]
fn legible_photos_with_a_receipt_beside_or_a_steep_tilt_are_read() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("randomised_regressions") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets)
        .unwrap()
        .with_every_barcode();
    for (model, side, seed) in [
        (
            randomised::RandomModel::MxIne2019,
            kyc_flow_core::evidence::Side::Back,
            1_000_004,
        ),
        (
            randomised::RandomModel::MxIne2019,
            kyc_flow_core::evidence::Side::Back,
            1_000_056,
        ),
        (
            randomised::RandomModel::MxIne2019,
            kyc_flow_core::evidence::Side::Front,
            1_000_055,
        ),
        (
            randomised::RandomModel::CoCedula,
            kyc_flow_core::evidence::Side::Back,
            1_000_008,
        ),
    ] {
        let sample = randomised::generate(model, side, seed).unwrap();
        assert!(sample.expected_retake.is_none());
        let r = randomised::score(&reader, &sample).unwrap();
        assert!(
            r.accepted,
            "{}: {:?} ({:?})",
            r.file, r.retake, r.retake_detail
        );
        assert_eq!(r.mrz_lines.0, r.mrz_lines.1, "{}: MRZ lines", r.file);
        assert_eq!(r.barcode.0, r.barcode.1, "{}: barcode", r.file);
    }
}

/// Generates `seed`'s photo of `model`'s `side`, reads it, and asserts it is accepted as its
/// model with its zone exact and at most `missed` of its fields missed.
fn assert_read_as_its_model(
    reader: &LocalDocumentReader,
    model: randomised::RandomModel,
    side: kyc_flow_core::evidence::Side,
    seed: u64,
    missed: usize,
) {
    let sample = randomised::generate(model, side, seed).unwrap();
    assert!(sample.expected_retake.is_none());
    let r = randomised::score(reader, &sample).unwrap();
    assert!(
        r.accepted,
        "{}: {:?} ({:?})",
        r.file, r.retake, r.retake_detail
    );
    assert_eq!(
        r.model.as_deref(),
        Some(r.expected_model.as_str()),
        "{}",
        r.file
    );
    assert_eq!(r.mrz_lines.0, r.mrz_lines.1, "{}: MRZ lines", r.file);
    assert!(
        r.fields.1 + missed >= r.fields.0,
        "{}: fields {:?}, missed {:?}",
        r.file,
        r.fields,
        r.missed
    );
}

/// Cards beside a sheet of paper or a receipt that were sent back (docs/VISION-OCR.md, fourth
/// pass): an INE 2019 back beside a receipt askew, whose zone's second and third lines the
/// detector cut into pieces (`wrong_document`; seed 7); a DNI front beside paper askew whose
/// small print the whole-frame detection missed (`unreadable`; seed 11); a DNIe and a DNI front
/// levelled by the paper's lines, their title read but their `D.N.I.` label garbled
/// (`unreadable`; seeds 11 and 7); an INE 2014 back whose zone had a receipt line between its
/// rows (`cropped`; seed 11). Each is accepted as its model with its zone exact.
#[test]
fn cards_beside_paper_or_a_receipt_are_read() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("randomised_beside_paper") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets).unwrap();
    use kyc_flow_core::evidence::Side;
    use randomised::RandomModel as M;
    for (model, side, seed) in [
        (M::MxIne2019, Side::Back, 7_000_035),
        (M::PeDni, Side::Front, 11_000_041),
        (M::PeDnie, Side::Front, 11_000_043),
        (M::PeDni, Side::Front, 7_000_029),
        (M::MxIne2014, Side::Back, 11_000_062),
    ] {
        assert_read_as_its_model(&reader, model, side, seed, 1);
    }
}

/// Photos of seed 1's set whose zone was lost to the detector's boxes (docs/VISION-OCR.md,
/// "Fourth pass"): a digital-cédula back upside down on a zig-zag cloth, whose zone lines were
/// cut against a blob of the cloth taken for text and whose boxes stopped three characters
/// short (`unreadable`); a passport turned a quarter, whose two zone lines' boxes overlapped
/// side by side and were read 32 characters long, assembled as a TD2 (`id-card-td2`, no field
/// exact). Both must be read as their model with the zone and every field exact.
#[test]
fn turned_photos_are_read_with_their_zone() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("randomised_turned") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets).unwrap();
    use kyc_flow_core::evidence::Side;
    use randomised::RandomModel as M;
    assert_read_as_its_model(&reader, M::CoCedulaDigital, Side::Back, 1_000_010, 0);
    assert_read_as_its_model(&reader, M::Passport, Side::Front, 1_000_054, 0);
}

/// Yellow-cédula backs of the randomised sets (seeds 1, 2, 7 and 11) whose PDF417 was not
/// decoded, so number and names were missing and the photo was sent back `unreadable`: read
/// straight from the photo's own pixels but not from the levelled or rectified page
/// (2000063, 7000026), from the photo turned a quarter as the page was (1000047), and only
/// once the symbol's edges are fitted and it is cut out again from the photo (1000060 tilted
/// 16° beside a receipt, 11000090 on a zigzag background).
#[test]
fn yellow_cedula_backs_with_a_small_symbol_in_perspective_are_decoded() {
    let Some(assets) = kyc_flow_vision::assets::assets_for_test("randomised_pdf417") else {
        return;
    };
    let reader = LocalDocumentReader::load(&assets)
        .unwrap()
        .with_every_barcode();
    for seed in [2_000_063, 7_000_026, 1_000_047, 1_000_060, 11_000_090] {
        let sample = randomised::generate(
            randomised::RandomModel::CoCedula,
            kyc_flow_core::evidence::Side::Back,
            seed,
        )
        .unwrap();
        assert!(sample.expected_retake.is_none());
        let (_, want) = sample.barcode.clone().unwrap();
        let a = reader.read_photo(&sample.image).unwrap();
        // The barcode stage's cost, for the record (wall time: a shared machine).
        eprintln!(
            "co-cedula back {seed}: barcode stage {:.0} ms, {} decoded",
            a.timings.barcode_ms,
            a.barcodes.len()
        );
        assert!(
            a.barcodes.iter().any(|b| b.bytes == want),
            "{seed}: PDF417 not decoded"
        );
        let (accepted, retake, detail) = dev_eval::outcome_parts(&a.outcome);
        assert!(accepted, "{seed}: {retake:?} ({detail:?})");
    }
}
