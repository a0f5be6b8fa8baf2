//! Conformance suite for the storage ports.
