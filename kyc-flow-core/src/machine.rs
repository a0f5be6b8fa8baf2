//! The transition function: `(flow, catalog, session, event, now) -> (session, commands)`.

use crate::catalog::Catalog;
use crate::command::Command;
use crate::event::Event;
use crate::flow::Flow;
use crate::ids::SessionKey;
use crate::locale::Locale;
use crate::session::Session;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The result of one step: the new session and what to do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub session: Session,
    pub commands: Vec<Command>,
}

/// New session for `key` on `flow` (state "new"; the first inbound message greets and asks consent).
pub fn start(
    flow: &Flow,
    key: SessionKey,
    id: String,
    locale: Option<Locale>,
    now: Timestamp,
) -> Session {
    let _ = (flow, key, id, locale, now);
    todo!()
}

/// The transition function. Total: never panics, whatever the event.
pub fn step(
    flow: &Flow,
    catalog: &Catalog,
    session: Session,
    event: &Event,
    now: Timestamp,
) -> Transition {
    let _ = (flow, catalog, session, event, now);
    todo!()
}
