//! ocr (being written).
