//! What the runtime measures, through the [`metrics`] facade: the engine records, the
//! embedder picks the recorder (the `kyc-flow` binary installs a Prometheus one and serves
//! `/metrics`; with no recorder installed every call is a no-op).
//!
//! Names and labels are listed here once (`docs/ARCHITECTURE.md` has the table). Label values
//! are closed vocabularies — job kinds, port names, error kinds, decision outcomes and reasons,
//! step names and retake reasons — never a phone number, a name, a session id or an error
//! message.

use kyc_flow_core::ports::PortErrorKind;
use kyc_flow_core::{Decision, machine::reason_name};
use std::time::Duration;

/// Counter: queue jobs handled, by `kind` and `outcome` (`ok`, `retried`, `dead_lettered`).
pub const JOBS: &str = "kyc_flow_jobs_total";
/// Histogram (seconds): time to handle one job, by `kind`.
pub const JOB_SECONDS: &str = "kyc_flow_job_duration_seconds";
/// Counter: photos sent back for a retake, by `step` and `reason`.
pub const RETAKES: &str = "kyc_flow_retakes_total";
/// Counter: decisions made, by `outcome` and `reason` (one increment per reason).
pub const DECISIONS: &str = "kyc_flow_decisions_total";
/// Counter: attempts to deliver a decision notice to the bank, by `outcome` (`delivered`,
/// `retried`, `dead_lettered`).
pub const DECISION_NOTICES: &str = "kyc_flow_decision_notices_total";
/// Histogram (seconds): one call to an external engine or service, by `port` (`registry`,
/// `documents`, `faces`, `liveness`, `media`, `decisions`) and `outcome` (`ok`, `error`).
pub const PORT_SECONDS: &str = "kyc_flow_port_duration_seconds";
/// Counter: failed calls to an external engine or service, by `port` and `error` kind.
pub const PORT_ERRORS: &str = "kyc_flow_port_errors_total";
/// Counter: WhatsApp messages sent, by `delivery` (`session`, `template`).
pub const WHATSAPP_SENDS: &str = "kyc_flow_whatsapp_sends_total";
/// Counter: failed WhatsApp sends, by `error` kind (the Graph API error code's class:
/// `rate_limited`, `outside_window`, `undeliverable`, `unauthorized`, …).
pub const WHATSAPP_ERRORS: &str = "kyc_flow_whatsapp_send_errors_total";
/// Histogram (USD): the estimated WhatsApp cost of one onboarding, observed once when its final
/// decision is handed to the bank (a `manual_review` is observed when the person decides): the
/// messages the session sent by pricing category (`Session::sent`) at the engine's per-country
/// rates (`EngineConfig::prices`, `[pricing]` in `kyc-flow serve`), by `country` (the flow's)
/// and `outcome`. `_sum` is the estimated spend, `_count` the sessions; sessions of a country
/// without rates are not observed.
pub const SESSION_COST: &str = "kyc_flow_whatsapp_session_cost_usd";

/// A PII-free label for an error kind.
pub fn error_label(kind: PortErrorKind) -> &'static str {
    match kind {
        PortErrorKind::Conflict => "conflict",
        PortErrorKind::NotFound => "not_found",
        PortErrorKind::Unavailable => "unavailable",
        PortErrorKind::Timeout => "timeout",
        PortErrorKind::RateLimited => "rate_limited",
        PortErrorKind::Full => "full",
        PortErrorKind::Unauthorized => "unauthorized",
        PortErrorKind::Invalid => "invalid",
        PortErrorKind::OutsideWindow => "outside_window",
        PortErrorKind::Undeliverable => "undeliverable",
        PortErrorKind::OptedOut => "opted_out",
        PortErrorKind::Integrity => "integrity",
        PortErrorKind::Unsupported => "unsupported",
        PortErrorKind::Internal => "internal",
        _ => "other",
    }
}

/// The engine's job kinds, and `other` for anything else (a foreign kind is not trusted to be
/// a closed vocabulary).
pub(crate) fn job_label(kind: &str) -> &'static str {
    match kind {
        crate::engine::JOB_EVENT => crate::engine::JOB_EVENT,
        crate::engine::JOB_COMMAND => crate::engine::JOB_COMMAND,
        crate::notice::JOB_DECISION => crate::notice::JOB_DECISION,
        k if k.starts_with("whatsapp.") => "whatsapp",
        k if k.starts_with("registry.") => "registry",
        _ => "other",
    }
}

pub(crate) fn job(kind: &str, outcome: &'static str, took: Duration) {
    let kind = job_label(kind);
    metrics::counter!(JOBS, "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!(JOB_SECONDS, "kind" => kind).record(took.as_secs_f64());
}

/// One call to an external port, timed by the caller.
pub(crate) fn port<T>(
    port: &'static str,
    took: Duration,
    result: &Result<T, kyc_flow_core::ports::PortError>,
) {
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!(PORT_SECONDS, "port" => port, "outcome" => outcome)
        .record(took.as_secs_f64());
    if let Err(e) = result {
        metrics::counter!(PORT_ERRORS, "port" => port, "error" => error_label(e.kind)).increment(1);
    }
}

pub(crate) fn decision(decision: &Decision) {
    let outcome = decision.as_str();
    let reasons = decision.reasons();
    if reasons.is_empty() {
        metrics::counter!(DECISIONS, "outcome" => outcome, "reason" => "none").increment(1);
    }
    for r in reasons {
        metrics::counter!(DECISIONS, "outcome" => outcome, "reason" => reason_name(*r))
            .increment(1);
    }
}

pub(crate) fn session_cost(country: &str, decision: &Decision, usd: f64) {
    // Flow countries are ISO 3166-1 alpha-2 codes; anything else is not a closed vocabulary.
    let country = if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
        country.to_ascii_uppercase()
    } else {
        "other".to_owned()
    };
    metrics::histogram!(SESSION_COST, "country" => country, "outcome" => decision.as_str())
        .record(usd);
}

pub(crate) fn decision_notice(outcome: &'static str) {
    metrics::counter!(DECISION_NOTICES, "outcome" => outcome).increment(1);
}

/// A `capture.retake` audit line's detail is `{step name}: {reason}`, both from closed sets
/// (the flow's step kinds and [`kyc_flow_core::RetakeReason`]).
pub(crate) fn retake(detail: &str) {
    let (step, reason) = detail.split_once(": ").unwrap_or(("unknown", detail));
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(40)
            .collect()
    };
    metrics::counter!(RETAKES, "step" => clean(step), "reason" => clean(reason)).increment(1);
}

pub(crate) fn whatsapp_sent(template: bool) {
    let delivery = if template { "template" } else { "session" };
    metrics::counter!(WHATSAPP_SENDS, "delivery" => delivery).increment(1);
}

pub(crate) fn whatsapp_error(kind: PortErrorKind) {
    metrics::counter!(WHATSAPP_ERRORS, "error" => error_label(kind)).increment(1);
}
