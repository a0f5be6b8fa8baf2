//! kyc-flow-core: onboarding as a typed finite-state machine of chat steps.
//!
//! The core is pure: no I/O, no executor, no clock. The runtime feeds it events with the
//! current time and executes the commands it returns through the [`ports`].

pub mod capability;
pub mod catalog;
pub mod command;
pub mod event;
pub mod evidence;
pub mod flow;
pub mod ids;
pub mod lifecycle;
pub mod locale;
pub mod machine;
pub mod ports;
pub mod session;
pub mod time;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use capability::{CapabilityProblem, check_capabilities};
pub use catalog::{Catalog, CatalogError};
pub use command::{AuditEntry, ButtonSpec, Command, MessageDelivery, MessageSpec};
pub use event::{Event, Inbound, InboundContent, MediaKind};
pub use evidence::*;
pub use flow::{
    ConsentStep, DecisionPolicy, DocumentStep, Flow, FlowError, FlowProblem, FlowSet, OnExhausted,
    RegistryCheck, RegistryStep, ReminderPolicy, SelfieStep, Step, UncertifiedLiveness,
};
pub use ids::{PhoneNumberId, SessionKey, TenantId, UserRef};
pub use locale::Locale;
pub use machine::{Transition, start, step};
pub use session::{Decision, DecisionReason, Phase, Session, State};
pub use time::{CivilDate, Timestamp};
