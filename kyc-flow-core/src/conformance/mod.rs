//! Conformance suites: one per port, run by every adapter's tests.
//!
//! Each suite is a set of `async fn`s taking the adapter under test; adapter crates call them
//! from their own tests with their own executor (the core has none). Enable with the
//! `conformance` feature.

pub mod registry;
pub mod review;
pub mod storage;
pub mod transport;
pub mod vision;
