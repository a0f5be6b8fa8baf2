//! Inbound side: parsing webhook bodies and the axum endpoint that receives them.

pub mod coalesce;
mod core_event;
mod fast;
pub mod parse;
pub mod router;
