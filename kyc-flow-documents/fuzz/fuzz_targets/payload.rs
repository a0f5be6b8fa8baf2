//! Fuzzes both barcode payload parsers and the inspect wrapper.
#![no_main]

use kyc_flow_documents::{inspect, payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = payload::co_cedula_pdf417(data) {
        assert!(p.fields.contains_key("document_number"));
    }
    if let Ok(p) = payload::ar_dni_pdf417(data) {
        assert!(p.fields.contains_key("document_number"));
    }
    let _ = inspect::payload("co-cedula-pdf417", data).unwrap();
    let _ = inspect::payload("ar-dni-pdf417", data).unwrap();
    let _ = inspect::decode_hex(&String::from_utf8_lossy(data));
});
