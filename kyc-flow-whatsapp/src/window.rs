//! The 24-hour customer-service window and monotonic delivery statuses.
//!
//! WhatsApp lets a business send free-form messages only within 24 hours of the user's last
//! message; outside it only a pre-approved template may be sent. Both trackers are plain data
//! with `&mut self` methods and an explicit `now`, so they are deterministic and testable; an
//! embedding app wraps them in a lock or keeps their state in its session.

use crate::webhook::parse::{DeliveryState, StatusUpdate, WebhookEvent};
use async_trait::async_trait;
use kyc_flow_core::ports::{
    MessageTransport, OutboundBody, OutboundMessage, PortErrorKind, PortResult, SentMessage,
};
use kyc_flow_core::{PhoneNumberId, Timestamp, UserRef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The length of the customer-service window.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Meta's error code for a free-form message sent outside the window.
pub const OUTSIDE_WINDOW_CODE: i64 = 131047;

/// The template sent instead of a free-form message when the window is closed (typically a
/// "continue your verification" message with a quick-reply button that reopens the window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackTemplate {
    pub name: String,
    /// Template language code (`es_MX`, `pt_BR`, …).
    pub language: String,
    pub body_params: Vec<String>,
}

/// What to send, after applying the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// The message as given (window open, or it already is a template).
    AsIs(OutboundMessage),
    /// The window is closed: the fallback template to the same user instead.
    Template(OutboundMessage),
}

impl Routed {
    /// The message to send either way.
    pub fn into_message(self) -> OutboundMessage {
        match self {
            Self::AsIs(m) | Self::Template(m) => m,
        }
    }
}

/// Last inbound message time per (business number, user).
#[derive(Debug, Clone)]
pub struct WindowTracker {
    last_inbound: HashMap<(PhoneNumberId, UserRef), Timestamp>,
    fallback: FallbackTemplate,
}

impl WindowTracker {
    /// A tracker that falls back to `fallback` outside the window.
    pub fn new(fallback: FallbackTemplate) -> Self {
        Self {
            last_inbound: HashMap::new(),
            fallback,
        }
    }

    /// The user wrote at `at`: the window is open until `at + 24h` (never moved backwards by a
    /// late, out-of-order webhook).
    pub fn record_inbound(&mut self, from: &PhoneNumberId, user: &UserRef, at: Timestamp) {
        let slot = self
            .last_inbound
            .entry((from.clone(), user.clone()))
            .or_insert(at);
        if at > *slot {
            *slot = at;
        }
    }

    /// Feed a parsed webhook event: messages open or extend the window; a `failed` 131047
    /// status closes it and yields the template to resend (see [`WindowTracker::on_status`]).
    pub fn observe(&mut self, event: &WebhookEvent) -> Option<OutboundMessage> {
        match event {
            WebhookEvent::Message(m) => {
                if let (Some(pnid), Some(user), Some(ts)) =
                    (m.origin.phone_number_id.as_ref(), m.user(), m.timestamp)
                {
                    self.record_inbound(
                        &PhoneNumberId(pnid.clone()),
                        &user,
                        Timestamp::from_secs(ts),
                    );
                }
                None
            }
            WebhookEvent::Status(s) => self.on_status(s),
            _ => None,
        }
    }

    /// When the window for this user closes, if it was ever opened.
    pub fn closes_at(&self, from: &PhoneNumberId, user: &UserRef) -> Option<Timestamp> {
        self.last_inbound
            .get(&(from.clone(), user.clone()))
            .map(|t| t.plus(WINDOW))
    }

    /// Whether free-form messages may be sent at `now`.
    pub fn is_open(&self, from: &PhoneNumberId, user: &UserRef, now: Timestamp) -> bool {
        self.closes_at(from, user).is_some_and(|c| now < c)
    }

    /// The fallback template addressed like `to` (same sender, user and callback data).
    pub fn template_for(&self, like: &OutboundMessage) -> OutboundMessage {
        OutboundMessage {
            from: like.from.clone(),
            to: like.to.clone(),
            body: OutboundBody::Template {
                name: self.fallback.name.clone(),
                language: self.fallback.language.clone(),
                body_params: self.fallback.body_params.clone(),
            },
            reply_to: None,
            callback_data: like.callback_data.clone(),
        }
    }

    /// Free-form inside the window, the fallback template outside; templates pass as they are.
    pub fn route(&self, message: OutboundMessage, now: Timestamp) -> Routed {
        let is_template = matches!(message.body, OutboundBody::Template { .. });
        if is_template || self.is_open(&message.from, &message.to, now) {
            Routed::AsIs(message)
        } else {
            Routed::Template(self.template_for(&message))
        }
    }

    /// A `failed` status with 131047 means Meta saw the window closed (clocks differ, or the
    /// user's last message was older than we knew): forget the window and return the template
    /// to send instead. Other statuses return `None`.
    pub fn on_status(&mut self, status: &StatusUpdate) -> Option<OutboundMessage> {
        if !status.failed_with(OUTSIDE_WINDOW_CODE) {
            return None;
        }
        let from = PhoneNumberId(status.origin.phone_number_id.clone()?);
        let to = status.user()?;
        self.last_inbound.remove(&(from.clone(), to.clone()));
        let like = OutboundMessage {
            from,
            to,
            body: OutboundBody::Text {
                body: String::new(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: status.biz_opaque_callback_data.clone(),
        };
        Some(self.template_for(&like))
    }

    /// Forget the window of one user (Meta said it is closed).
    pub fn close(&mut self, from: &PhoneNumberId, user: &UserRef) {
        self.last_inbound.remove(&(from.clone(), user.clone()));
    }

    /// Drop windows closed before `now`; returns how many were dropped.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let before = self.last_inbound.len();
        self.last_inbound.retain(|_, t| now < t.plus(WINDOW));
        before - self.last_inbound.len()
    }

    /// How many windows are tracked.
    pub fn len(&self) -> usize {
        self.last_inbound.len()
    }

    /// Whether no window is tracked.
    pub fn is_empty(&self) -> bool {
        self.last_inbound.is_empty()
    }
}

/// A [`MessageTransport`] layer that applies the window: free-form messages outside it are
/// replaced by the fallback template, and a send the platform refuses as outside the window
/// (131047, [`PortErrorKind::OutsideWindow`]) is retried once as the template.
///
/// The embedding app feeds inbound webhook events to the same tracker
/// (`window.lock().observe(&event)`), so the layer knows when users last wrote.
pub struct WindowedTransport<T> {
    inner: T,
    window: Arc<Mutex<WindowTracker>>,
    now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl<T> std::fmt::Debug for WindowedTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedTransport").finish_non_exhaustive()
    }
}

/// The system clock as the core counts time.
fn system_now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

impl<T> WindowedTransport<T> {
    /// Wrap `inner`, reading the system clock.
    pub fn new(inner: T, window: Arc<Mutex<WindowTracker>>) -> Self {
        Self {
            inner,
            window,
            now: Arc::new(system_now),
        }
    }

    /// Use another clock (tests, simulations).
    pub fn with_clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, WindowTracker> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl<T: MessageTransport> MessageTransport for WindowedTransport<T> {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        let routed = self.tracker().route(message.clone(), (self.now)());
        let to_send = routed.into_message();
        match self.inner.send(&to_send).await {
            Err(e)
                if e.kind == PortErrorKind::OutsideWindow
                    && !matches!(to_send.body, OutboundBody::Template { .. }) =>
            {
                let template = {
                    let mut w = self.tracker();
                    w.close(&to_send.from, &to_send.to);
                    w.template_for(&to_send)
                };
                self.inner.send(&template).await
            }
            other => other,
        }
    }

    async fn mark_read(
        &self,
        from: &PhoneNumberId,
        message_id: &str,
        typing: bool,
    ) -> PortResult<()> {
        self.inner.mark_read(from, message_id, typing).await
    }
}

/// What observing a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// The message moved forward to `to`.
    Advanced {
        from: Option<DeliveryState>,
        to: DeliveryState,
    },
    /// Out of order, repeated, after a terminal state, or not an ordering status: no change.
    Ignored { current: Option<DeliveryState> },
}

/// Delivery state per outbound message id, only ever moving forward:
/// `sent < delivered < read`; `failed` and `deleted` are terminal, and a `failed` after
/// `read` is ignored (the user saw it, so it was delivered).
#[derive(Debug, Clone, Default)]
pub struct StatusTracker {
    states: HashMap<String, DeliveryState>,
}

fn rank(s: DeliveryState) -> Option<u8> {
    match s {
        DeliveryState::Sent => Some(1),
        DeliveryState::Delivered => Some(2),
        DeliveryState::Read => Some(3),
        DeliveryState::Failed | DeliveryState::Deleted | DeliveryState::Other => None,
    }
}

impl StatusTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one status for `message_id`.
    pub fn observe(&mut self, message_id: &str, state: DeliveryState) -> StatusChange {
        let current = self.states.get(message_id).copied();
        let advance = match (current, state) {
            (_, DeliveryState::Other) => false,
            (Some(DeliveryState::Failed | DeliveryState::Deleted), _) => false,
            (None, _) => true,
            (Some(DeliveryState::Read), DeliveryState::Failed) => false,
            (Some(_), DeliveryState::Failed | DeliveryState::Deleted) => true,
            (Some(c), s) => match (rank(c), rank(s)) {
                (Some(a), Some(b)) => b > a,
                _ => false,
            },
        };
        if advance {
            self.states.insert(message_id.to_owned(), state);
            StatusChange::Advanced {
                from: current,
                to: state,
            }
        } else {
            StatusChange::Ignored { current }
        }
    }

    /// [`StatusTracker::observe`] for a parsed status.
    pub fn observe_update(&mut self, status: &StatusUpdate) -> StatusChange {
        self.observe(&status.id, status.state())
    }

    /// The current state of `message_id`.
    pub fn get(&self, message_id: &str) -> Option<DeliveryState> {
        self.states.get(message_id).copied()
    }

    /// Stop tracking `message_id`.
    pub fn forget(&mut self, message_id: &str) {
        self.states.remove(message_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tracker() -> WindowTracker {
        WindowTracker::new(FallbackTemplate {
            name: "kyc_resume".into(),
            language: "es_MX".into(),
            body_params: vec![],
        })
    }

    fn text_to(user: &UserRef) -> OutboundMessage {
        OutboundMessage {
            from: PhoneNumberId("pn1".into()),
            to: user.clone(),
            body: OutboundBody::Text {
                body: "hola".into(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: Some("s1".into()),
        }
    }

    #[test]
    fn free_form_inside_template_outside() {
        let mut w = tracker();
        let user = UserRef::Phone("5215550000001".into());
        let pn = PhoneNumberId("pn1".into());
        let t0 = Timestamp::from_secs(1_700_000_000);
        assert!(matches!(w.route(text_to(&user), t0), Routed::Template(_)));
        w.record_inbound(&pn, &user, t0);
        assert!(matches!(
            w.route(text_to(&user), t0.plus(WINDOW - Duration::from_secs(1))),
            Routed::AsIs(_)
        ));
        let late = w.route(text_to(&user), t0.plus(WINDOW));
        let Routed::Template(m) = late else {
            panic!("expected template")
        };
        assert!(matches!(m.body, OutboundBody::Template { ref name, .. } if name == "kyc_resume"));
        assert_eq!(m.callback_data.as_deref(), Some("s1"));
        // A late, older webhook does not shrink the window.
        w.record_inbound(&pn, &user, Timestamp::from_secs(1_600_000_000));
        assert_eq!(w.closes_at(&pn, &user), Some(t0.plus(WINDOW)));
        assert_eq!(w.prune(t0.plus(WINDOW)), 1);
        assert!(w.is_empty());
    }

    #[test]
    fn statuses_only_move_forward() {
        let mut s = StatusTracker::new();
        assert!(matches!(
            s.observe("m", DeliveryState::Delivered),
            StatusChange::Advanced { .. }
        ));
        assert!(matches!(
            s.observe("m", DeliveryState::Sent),
            StatusChange::Ignored { .. }
        ));
        assert!(matches!(
            s.observe("m", DeliveryState::Read),
            StatusChange::Advanced { .. }
        ));
        assert!(matches!(
            s.observe("m", DeliveryState::Failed),
            StatusChange::Ignored { .. }
        ));
        assert_eq!(s.get("m"), Some(DeliveryState::Read));
        assert!(matches!(
            s.observe("n", DeliveryState::Failed),
            StatusChange::Advanced { .. }
        ));
        assert!(matches!(
            s.observe("n", DeliveryState::Read),
            StatusChange::Ignored { .. }
        ));
    }

    fn state() -> impl Strategy<Value = DeliveryState> {
        prop_oneof![
            Just(DeliveryState::Sent),
            Just(DeliveryState::Delivered),
            Just(DeliveryState::Read),
            Just(DeliveryState::Failed),
            Just(DeliveryState::Deleted),
            Just(DeliveryState::Other),
        ]
    }

    proptest! {
        #[test]
        fn status_never_regresses(seq in proptest::collection::vec(state(), 0..30)) {
            let mut s = StatusTracker::new();
            let mut prev: Option<DeliveryState> = None;
            for st in seq {
                s.observe("m", st);
                let now = s.get("m");
                if let Some(p) = prev {
                    let terminal = matches!(p, DeliveryState::Failed | DeliveryState::Deleted);
                    if terminal {
                        prop_assert_eq!(now, Some(p));
                    }
                    if let (Some(a), Some(b)) = (rank(p), now.and_then(rank)) {
                        prop_assert!(b >= a);
                    }
                }
                prev = now;
            }
        }

        #[test]
        fn window_is_open_exactly_24h_after_latest(
            times in proptest::collection::vec(0i64..1_000_000, 1..10),
            probe in 0i64..1_200_000,
        ) {
            let mut w = tracker();
            let pn = PhoneNumberId("pn".into());
            let user = UserRef::Bsuid("MX.1".into());
            for t in &times {
                w.record_inbound(&pn, &user, Timestamp::from_secs(*t));
            }
            let latest = *times.iter().max().unwrap();
            let now = Timestamp::from_secs(probe);
            prop_assert_eq!(w.is_open(&pn, &user, now), probe < latest + 24 * 3600);
        }
    }
}
