//! The local document reader: quality gate, barcodes, OCR, extraction and cross-checks.

pub mod layout;
