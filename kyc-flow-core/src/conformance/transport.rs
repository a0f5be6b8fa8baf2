//! Conformance suite for the transport ports.
