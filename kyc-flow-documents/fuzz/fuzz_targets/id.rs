//! Fuzzes every identifier validator and the printed-date and name folding helpers.
#![no_main]

use kyc_flow_documents::id::{self, IdKind};
use kyc_flow_documents::{names, template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for kind in IdKind::ALL {
        let v = id::validate(kind, &text);
        assert_eq!(v.valid, v.reason.is_none());
    }
    let _ = template::parse_printed_date(&text);
    let _ = names::compare(&text, "PEREZ");
});
