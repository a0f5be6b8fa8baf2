//! kyc-flow-core: onboarding as a typed finite-state machine of chat steps.
//!
//! The core is pure: no I/O, no executor, no clock. The runtime feeds it events with the
//! current time and executes the commands it returns through the [`ports`].

pub mod evidence;
pub mod ids;
pub mod locale;
pub mod ports;
pub mod session;
pub mod time;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use evidence::*;
pub use ids::{PhoneNumberId, SessionKey, TenantId, UserRef};
pub use locale::Locale;
pub use time::Timestamp;
