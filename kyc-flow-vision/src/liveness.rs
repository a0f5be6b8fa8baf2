//! liveness (being written).
