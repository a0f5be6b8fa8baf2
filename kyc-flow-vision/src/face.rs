//! face (being written).
