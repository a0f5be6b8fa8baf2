//! quality (being written).
