//! Regional ID document knowledge for kyc-flow, as pure code: identifier validators, machine
//! readable zones, barcode payloads, per-document templates and the cross-checks between them.
//!
//! Nothing here does I/O or reads the clock: every function that needs "today" takes it as a
//! parameter, so the core can replay decisions and vision can call it from any thread.
//! The crate deliberately does not depend on `kyc-flow-core` (the core depends on it and
//! re-exports the workspace's one [`DocumentKind`], [`Side`] and [`Date`] from here); field
//! names are plain strings matching `kyc_flow_core::evidence::DocumentData`
//! (see [`template::field`]).
//!
//! Personal data (numbers, names, dates) never appears in `Debug` output of the types here.

pub mod date;
pub mod id;
pub mod inspect;
pub mod kind;
pub mod mrz;
pub mod names;
pub mod payload;
pub mod template;

pub use date::Date;
pub use kind::{DocumentKind, Side};
pub use template::DocumentModel;
