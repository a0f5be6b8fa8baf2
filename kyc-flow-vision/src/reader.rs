//! reader (being written).
