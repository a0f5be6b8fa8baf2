//! Inbound side: parsing webhook bodies and the axum endpoint that receives them.

mod core_event;
pub mod parse;
pub mod router;
