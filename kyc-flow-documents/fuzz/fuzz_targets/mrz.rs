//! Fuzzes the MRZ parser: arbitrary text, and (when the input is long enough) the input laid
//! over a valid TD1/TD2/TD3 shape so the checks and repair paths are reached.
#![no_main]

use kyc_flow_documents::{date::Date, inspect, mrz};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mrz::parse(&text);
    // Map bytes onto the MRZ alphabet and shape them as each format.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<OISBZG";
    let mapped: Vec<u8> = data.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()]).collect();
    for (lines, width) in [(3usize, 30usize), (2, 36), (2, 44)] {
        if mapped.len() < lines * width {
            continue;
        }
        let zone: Vec<String> = mapped[..lines * width]
            .chunks(width)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let m = mrz::parse(&zone.join("\n")).expect("shaped input always parses");
        let today = Date::new(2026, 11, 26).unwrap();
        let _ = (m.birth_date(today), m.expiry_date(today), m.national(), m.sex(), m.valid());
        let _ = inspect::mrz_on(&zone.join("\n"), today);
    }
});
