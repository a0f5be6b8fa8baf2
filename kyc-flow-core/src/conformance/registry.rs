//! Conformance suite for the registry ports.
