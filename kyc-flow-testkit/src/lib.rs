//! Test kit for kyc-flow: everything that rehearses a conversation without WhatsApp, models or
//! registries, used as a dev-dependency by the crates that test with it and by the CLI's
//! `simulate` and `demo`. Nothing here belongs in a production build.
//!
//! - [`sim`]: a recording transport, in-memory media and scripted engines ([`sim::SimPorts`]
//!   wires every port in memory).
//! - [`simulate`]: scripted conversations (`kyc-flow simulate`), transcripts and decisions.
//! - `engines` (feature `local`): the local vision engines, the local registry service with the
//!   demo's fixtures, and the SPECIMEN photos of the demo page.

#[cfg(feature = "local")]
pub mod engines;
pub mod sim;
pub mod simulate;
