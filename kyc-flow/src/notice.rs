//! The decision notice's own delivery: the queue job that carries it to the bank and the policy
//! that retries it for hours.
//!
//! Why a job of its own: the outbox drains a session's commands strictly in order and stops at
//! the first failure, so a notice staged behind the user's "you are verified" message would
//! wait for WhatsApp, and the event job that drains the outbox is dead-lettered after
//! `max_job_attempts` (about two minutes). The engine therefore takes every `DeliverDecision`
//! out of the outbox *first* — one enqueue of a [`DecisionJob`], then the command is completed
//! on its own ([`kyc_flow_core::session::Outbox::complete_one`]) — and the job is retried
//! through the queue's delayed redelivery (no worker sleeps) with exponential backoff and the
//! bank's `Retry-After`, until [`DecisionDelivery::horizon`] has passed since it was queued.
//! Then it is dead-lettered with a reason an operator can read, and re-driven with
//! `kyc-flow dlq retry`.

use crate::engine::RetryPolicy;
use kyc_flow_core::Timestamp;
use kyc_flow_core::ports::{DecisionNotice, NewJob, PortError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Job kind of a decision notice on its way to the bank.
pub const JOB_DECISION: &str = "engine.decision";

/// A decision notice travelling through the queue.
///
/// Carries the whole notice (built once from the stored session when it left the outbox), so
/// every attempt sends the same body under the same idempotency key even if the session
/// changes or expires meanwhile. The queue keeps payloads sealed (the notice holds PII).
#[derive(Clone, Serialize, Deserialize)]
pub struct DecisionJob {
    pub notice: DecisionNotice,
    /// When the notice left the outbox (engine clock): the delivery horizon counts from here.
    pub queued_at: Timestamp,
}

/// Only what identifies the delivery: the notice carries PII.
impl std::fmt::Debug for DecisionJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionJob")
            .field("idempotency_key", &self.notice.idempotency_key)
            .field("queued_at", &self.queued_at)
            .finish_non_exhaustive()
    }
}

/// How long and how often a decision notice is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionDelivery {
    /// Exponential backoff between attempts (`base` after the first failure, doubling, at
    /// most `max`); the bank's `Retry-After` replaces the computed wait, up to `max`.
    pub backoff: RetryPolicy,
    /// How long after it was queued a notice is still retried.
    pub horizon: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAttempt {
    /// Deliver again after this delay.
    After(Duration),
    /// Give up: dead-letter with this reason (no PII).
    GiveUp(String),
}

impl DecisionDelivery {
    /// The defaults: 5 s, 10 s, 20 s, … at most 15 min apart, for 24 h.
    pub const DEFAULT: Self = Self {
        backoff: RetryPolicy {
            base: Duration::from_secs(5),
            max: Duration::from_secs(15 * 60),
        },
        horizon: Duration::from_secs(24 * 3600),
    };

    /// After attempt number `attempt` (1 for the first) failed with `error`, `elapsed` after
    /// the notice was queued.
    ///
    /// A permanent refusal (the bank rejected the signature or the body) is not retried: it
    /// needs an operator, who re-drives it after fixing the cause. A retryable one is retried
    /// with backoff, the bank's `Retry-After` winning over the computed wait; the last attempt
    /// is made at the horizon, never after it.
    pub fn next(&self, attempt: u32, error: &PortError, elapsed: Duration) -> NextAttempt {
        if !error.is_retryable() {
            return NextAttempt::GiveUp(format!(
                "decision notice refused by the receiver after {attempt} attempt(s): {error}"
            ));
        }
        let left = self.horizon.saturating_sub(elapsed);
        if left.is_zero() {
            return NextAttempt::GiveUp(format!(
                "decision notice not accepted within the delivery horizon of {} \
                 ({attempt} attempts); last error: {error}",
                human(self.horizon)
            ));
        }
        NextAttempt::After(self.backoff.delay(attempt, error.retry_after).min(left))
    }
}

impl Default for DecisionDelivery {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Ready a dead-lettered job for an operator's re-drive (`kyc-flow dlq retry`): a decision
/// notice gets a fresh delivery horizon counted from `now` (the queue restarts its attempts at
/// 1), so it is retried for hours again rather than given up after one more failure. Other
/// jobs go back as they were.
pub fn prepare_redrive(job: &mut NewJob, now: Timestamp) {
    if job.kind != JOB_DECISION {
        return;
    }
    if let Ok(mut decision) = serde_json::from_slice::<DecisionJob>(&job.payload) {
        decision.queued_at = now;
        if let Ok(payload) = serde_json::to_vec(&decision) {
            job.payload = payload;
        }
    }
}

/// `1d 2h 3m 4s`, the zero parts left out (a reason an operator reads).
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86_400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() {
        format!("{}ms", d.as_millis())
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_core::ports::PortErrorKind;

    fn unavailable() -> PortError {
        PortError::unavailable("decision webhook answered 503 Service Unavailable")
    }

    fn after(n: NextAttempt) -> Duration {
        match n {
            NextAttempt::After(d) => d,
            NextAttempt::GiveUp(r) => panic!("gave up: {r}"),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap_for_hours() {
        let p = DecisionDelivery::DEFAULT;
        let secs: Vec<u64> = (1..=10)
            .map(|n| after(p.next(n, &unavailable(), Duration::ZERO)).as_secs())
            .collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]);
        // Still retried after 23 hours; the measured outage (200 s) is far inside the horizon.
        let late = p.next(90, &unavailable(), Duration::from_secs(23 * 3600));
        assert_eq!(after(late), Duration::from_secs(900));
    }

    #[test]
    fn retry_after_sets_the_next_attempt_up_to_the_cap() {
        let p = DecisionDelivery::DEFAULT;
        let hinted = unavailable().with_retry_after(Duration::from_secs(120));
        assert_eq!(
            after(p.next(1, &hinted, Duration::ZERO)),
            Duration::from_secs(120)
        );
        // A short hint wins over a long computed wait too.
        let short = PortError::new(PortErrorKind::RateLimited, "throttled")
            .with_retry_after(Duration::from_secs(2));
        assert_eq!(
            after(p.next(9, &short, Duration::ZERO)),
            Duration::from_secs(2)
        );
        let long = unavailable().with_retry_after(Duration::from_secs(7200));
        assert_eq!(
            after(p.next(1, &long, Duration::ZERO)),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn the_last_attempt_falls_on_the_horizon_then_it_is_dead_lettered() {
        let p = DecisionDelivery::DEFAULT;
        let nearly = p.horizon - Duration::from_secs(30);
        assert_eq!(
            after(p.next(50, &unavailable(), nearly)),
            Duration::from_secs(30)
        );
        let NextAttempt::GiveUp(reason) = p.next(51, &unavailable(), p.horizon) else {
            panic!("retried past the horizon");
        };
        assert!(reason.contains("delivery horizon of 1d"), "{reason}");
        assert!(reason.contains("51 attempts"), "{reason}");
        assert!(reason.contains("503"), "{reason}");
    }

    #[test]
    fn a_permanent_refusal_is_dead_lettered_at_once() {
        let p = DecisionDelivery::DEFAULT;
        let refused = PortError::new(
            PortErrorKind::Unauthorized,
            "decision webhook refused our signature",
        );
        let NextAttempt::GiveUp(reason) = p.next(1, &refused, Duration::ZERO) else {
            panic!("a refused signature was retried");
        };
        assert!(reason.contains("refused"), "{reason}");
    }

    #[test]
    fn a_redriven_notice_gets_a_fresh_horizon_and_keeps_its_key() {
        let notice = DecisionNotice {
            session_id: "s".into(),
            key: kyc_flow_core::SessionKey::new(
                "t",
                "100",
                kyc_flow_core::UserRef::Phone("5215500000001".into()),
            ),
            flow_id: "mx-ine".into(),
            flow_version: 1,
            decision: kyc_flow_core::Decision::Declined,
            decided_at: Timestamp(1),
            evidence: serde_json::Value::Null,
            idempotency_key: "s:4:2".into(),
        };
        let mut job = NewJob {
            kind: JOB_DECISION.into(),
            partition: None,
            payload: serde_json::to_vec(&DecisionJob {
                notice,
                queued_at: Timestamp(1_000),
            })
            .unwrap(),
        };
        prepare_redrive(&mut job, Timestamp(9_000));
        let back: DecisionJob = serde_json::from_slice(&job.payload).unwrap();
        assert_eq!(back.queued_at, Timestamp(9_000));
        assert_eq!(back.notice.idempotency_key, "s:4:2");
        let mut other = NewJob {
            kind: "engine.event".into(),
            partition: None,
            payload: b"{}".to_vec(),
        };
        prepare_redrive(&mut other, Timestamp(9_000));
        assert_eq!(other.payload, b"{}");
    }

    #[test]
    fn durations_read_as_an_operator_writes_them() {
        assert_eq!(human(Duration::from_secs(24 * 3600)), "1d");
        assert_eq!(human(Duration::from_secs(3723)), "1h 2m 3s");
        assert_eq!(human(Duration::from_millis(40)), "40ms");
    }
}
