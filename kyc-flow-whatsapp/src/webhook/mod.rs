//! Inbound side: parsing webhook bodies and the axum endpoint that receives them.

mod core_event;
mod fast;
pub mod parse;
pub mod router;
