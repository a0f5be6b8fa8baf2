//! kyc-flow-core: onboarding as a typed finite-state machine of chat steps.
//!
//! The core is pure: no I/O, no executor, no clock. The runtime feeds it events with the
//! current time and executes the commands it returns through the [`ports`].
//!
//! The pieces:
//! - [`Flow`] (a step sequence with per-step policies; presets `mx-ine`, `co-cedula`,
//!   `pe-dni`; TOML/JSON; [`Flow::validate`], [`Flow::to_mermaid`]) and [`FlowSet`] (every
//!   version, so sessions finish on the version they started on);
//! - [`Session`] (state, attempts, evidence, counters; ≈1.7 KiB of JSON mid-flow);
//! - [`machine::start`] and [`machine::step`], the total transition function
//!   `(flow, catalog, session, event, now) -> Transition { session, commands }`;
//! - [`Event`]s in, [`Command`]s out; [`Catalog`] renders a command's [`MessageSpec`] in
//!   es-MX, es-CO, es-PE, pt-BR or en;
//! - [`check_capabilities`] matches a flow against what the engines declare.
//!
//! ```
//! use kyc_flow_core::*;
//!
//! let flow = Flow::preset("mx-ine").unwrap();
//! let catalog = Catalog::builtin();
//! assert_eq!(flow.validate(&catalog), Ok(()));
//! let key = SessionKey::new("acme", "1555000", UserRef::Bsuid("MX.abc".into()));
//! let now = Timestamp::from_secs(1_772_463_600);
//! let session = start(&flow, key, "s-1".into(), None, now);
//! let hello = Event::Inbound(Inbound {
//!     message_id: "wamid.1".into(),
//!     at: now,
//!     content: InboundContent::Text { body: "Hola".into() },
//!     forwarded: false,
//!     phone: None,
//! });
//! let t = step(&flow, &catalog, session, &hello, now);
//! // Greets and asks for consent in one message with two buttons (the welcome is its `lead`),
//! // arms the inactivity timer.
//! let sends: Vec<_> = t.commands.iter().filter_map(|c| match c {
//!     Command::Send(spec) => Some(spec.key.as_str()),
//!     _ => None,
//! }).collect();
//! assert_eq!(sends, ["consent.ask"]);
//! let spec = t.commands.iter().find_map(|c| match c {
//!     Command::Send(spec) => Some(spec),
//!     _ => None,
//! }).unwrap();
//! assert_eq!(spec.lead.as_deref(), Some("welcome"));
//! let body = catalog.render(spec, t.session.locale).unwrap();
//! assert!(matches!(body, ports::OutboundBody::Buttons { .. }));
//! ```

pub mod capability;
pub mod catalog;
pub mod command;
pub mod data;
pub mod event;
pub mod evidence;
pub mod face_index;
pub mod flow;
pub mod funnel;
pub mod ids;
pub mod lifecycle;
pub mod locale;
pub mod machine;
pub mod ports;
pub mod retry;
pub mod risk;
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
    RegistryCheck, RegistryStep, ReminderPolicy, SelfieStep, Step, UncertifiedLiveness, VideoStep,
};
pub use ids::{
    PhoneNumber, PhoneNumberId, SessionIdSecret, SessionIdSecretError, SessionKey, TenantId,
    UserRef,
};
pub use locale::Locale;
pub use machine::{Transition, start, step};
pub use retry::RetryPolicy;
pub use session::{Decision, DecisionReason, Phase, Session, State};
pub use time::{Date, Timestamp};
