//! vendor (being written).
