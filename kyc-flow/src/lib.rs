//! The kyc-flow runtime: wires the pure core to the adapters.
//!
//! - [`engine`]: takes inbound events, processes one session's events in order, runs the
//!   transition function, executes the commands through the ports, feeds results back.
//! - [`memory`]: in-memory session store, evidence store, job queue, timers and
//!   de-duplication — the embedded default, behaving like the Redis adapters.
//! - [`sim`]: a recording transport, in-memory media and scripted engines.
//! - [`simulate`]: scripted conversations (`kyc-flow simulate`).

pub mod cli;
pub mod clock;
pub mod decisions;
pub mod demo;
pub mod engine;
pub mod engines;
pub mod flows;
pub mod inbound;
pub mod inspect;
pub mod memory;
pub mod serve;
pub mod sim;
pub mod simulate;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, EngineBuilder, EngineConfig, EngineError, Ports, Routing};
