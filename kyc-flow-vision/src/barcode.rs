//! barcode (being written).
