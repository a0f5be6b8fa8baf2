//! The kyc-flow runtime: wires the pure core to the adapters.

pub mod memory;
