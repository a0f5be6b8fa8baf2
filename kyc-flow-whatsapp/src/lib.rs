//! WhatsApp Business Platform Cloud API adapter: webhooks, parsing, Graph API client, the
//! 24-hour window.
//!
//! - [`webhook::parse`]: pure parsing of webhook bodies into [`WebhookEvent`]s
//!   ([`parse_webhook`]), tolerant of every shape Meta sends and lossless for those it does not
//!   understand; [`WebhookEvent::to_core`] turns them into core events.
//! - [`webhook::router`]: the axum endpoint ([`webhook_router`]): GET verification, signed
//!   POSTs ([`verify_signature`]), de-duplication, enqueue-then-acknowledge.
//! - [`client`]: the Graph API client ([`GraphClient`]), implementing the core's
//!   `MessageTransport` and `MediaFetcher`, with [`limits`] checked before sending and typed
//!   [`error`]s carrying a retry class.
//! - [`window`]: the 24-hour customer-service window ([`WindowTracker`]) and monotonic
//!   delivery statuses ([`StatusTracker`]).
//! - `fake` (feature `fake`): a local Graph API server for tests and the demo's simulator.
//! - [`inspect`]: the JSON of `kyc-flow inspect webhook|signature`.

pub mod client;
mod config_serde;
pub mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod inspect;
pub mod limits;
pub mod media;
pub mod pacing;
pub mod redact;
pub mod signature;
pub mod webhook;
pub mod window;

pub use client::{DEFAULT_API_VERSION, GraphClient, GraphConfig};
pub use error::{ErrorClass, GraphError, WhatsAppError};
pub use limits::LimitError;
pub use signature::{SignatureError, sign, verify_signature};
pub use webhook::coalesce::{CoalesceConfig, CoalescingInbox};
pub use webhook::parse::{ParseError, WebhookEvent, parse_webhook};
pub use webhook::router::{
    JOB_KIND, WEBHOOK_PATH, WebhookConfig, webhook_router, webhook_router_with_inbox,
};
pub use window::{FallbackTemplate, StatusTracker, WindowTracker, WindowedTransport};
