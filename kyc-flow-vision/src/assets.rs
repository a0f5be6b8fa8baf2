//! assets (being written).
