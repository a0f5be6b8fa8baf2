//! In-memory adapters of the storage ports (being written).
