//! Conformance suite for the vision ports.
