//! The kyc-flow runtime, the crate a bank or fintech embeds: it wires the pure core to the
//! adapters.
//!
//! - [`engine`]: takes inbound events, processes one session's events in order, runs the
//!   transition function, executes the commands through the ports, feeds results back.
//! - [`memory`]: in-memory session store, evidence store, job queue, timers and
//!   de-duplication — the embedded default, behaving like the Redis adapters.
//! - [`flows`]: loading a flow by preset name or from a file.
//! - [`notice`]: the decision notice's own delivery to the bank, retried for hours.
//! - [`erasure`]: erasure on request and retention of decided sessions.
//! - [`repeats`]: the 1:N repeat check (face index search at the selfie, enrolment at the
//!   decision).
//! - [`review`]: sessions awaiting manual review, what a reviewer sees, the reviewer's decision.
//! - [`metrics`]: what the runtime measures, through the `metrics` facade (any recorder).
//!
//! Adapters are optional, behind Cargo features (each re-exported under a short name):
//!
//! | feature | module | what it adds |
//! |---|---|---|
//! | `whatsapp` (default) | [`whatsapp`] | the Cloud API webhook router and Graph API client; queued webhook events decoded by the engine |
//! | `redis` | `redis` | Redis session store, queue, timers, de-duplication |
//! | `vision-local` | `vision`, `local_engines` | the local ONNX engines (face match, liveness, document reader) |
//! | `vision-http` | `vision` | vision vendors over HTTP only |
//! | `registry-http` | `registry`, `decisions` | registries through signed gateways; decisions to the bank as signed webhooks |
//!
//! The `kyc-flow` binary (demo, serve, worker, simulate, inspect) is the `kyc-flow-cli` crate;
//! fakes, scripted engines and the SPECIMEN generator are in `kyc-flow-testkit`.

pub mod clock;
#[cfg(feature = "registry-http")]
pub mod decisions;
pub mod engine;
pub mod erasure;
pub mod flows;
pub mod identity;
pub mod inbound;
#[cfg(feature = "vision-local")]
pub mod local_engines;
pub mod memory;
pub mod metrics;
pub mod notice;
pub mod ports;
pub mod repeats;
pub mod review;

#[cfg(feature = "redis")]
pub use kyc_flow_redis as redis;
#[cfg(feature = "registry-http")]
pub use kyc_flow_registry as registry;
#[cfg(any(feature = "vision-local", feature = "vision-http"))]
pub use kyc_flow_vision as vision;
#[cfg(feature = "whatsapp")]
pub use kyc_flow_whatsapp as whatsapp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    BuildError, Engine, EngineBuilder, EngineConfig, EngineError, Lane, Ports, Routing,
    WorkerHeartbeat,
};
pub use ports::{PortsBuilder, PortsError};

/// The README's embedding example, compiled as a doctest so that it stays true to the API.
#[cfg(all(
    doctest,
    feature = "whatsapp",
    feature = "vision-local",
    feature = "registry-http"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
