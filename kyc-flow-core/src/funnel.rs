//! The onboarding funnel, computed from sessions: how many started, how far each got, where
//! they dropped, how long completing took, which retakes were asked for, how many messages
//! (and at what estimated cost) it took — per flow and version, against the seed's targets
//! (completion under 120 s, drop-off under 15 %).
//!
//! Input is whatever sessions the store still holds (decided ones until their retention ends);
//! the report says how many it read. Definitions, so the figures can be checked:
//! - **started**: sessions whose first step was entered (the welcome was answered);
//! - **reached** a step: [`Session::reached`] passed it (for sessions stored before that field
//!   existed, the furthest step with a photo or an accepted capture);
//! - **completed**: decided by the checks — approved, rejected or manual review;
//! - **dropped** at a step: ended without a decision by the checks (declined consent, STOP,
//!   expired after reminders) with that step the furthest reached;
//! - **drop-off**: dropped / (completed + dropped): sessions still in progress are left out;
//! - **completion time**: `decided_at − started_at` of completed sessions, p50 / p90
//!   (nearest-rank);
//! - **retakes**: photo analyses that asked for a retake, by reason ([`Session::retakes`]);
//! - **messages**: sent per session by pricing category ([`Session::sent`]); the cost uses a
//!   [`PriceTable`] and the session's country.
//!
//! A user who restarts after declining or expiring keeps one session key, so counts once.

use crate::data::Decision;
use crate::flow::FlowSet;
use crate::session::{MessageTally, Session, State};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The seed's targets: completion under two minutes, drop-off under 15 %.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    pub completion_p50_secs: u64,
    pub max_drop_off: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            completion_p50_secs: 120,
            max_drop_off: 0.15,
        }
    }
}

/// USD per message, by country (ISO 3166-1 alpha-2) and category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Where the figures come from (shown in the report).
    pub source: String,
    pub countries: BTreeMap<String, Rates>,
}

/// USD per message of each category in one country.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub service: f64,
    pub utility: f64,
    pub marketing: f64,
}

impl PriceTable {
    /// Meta's per-message rates for the four markets of the presets, in USD: marketing and
    /// utility from the rate card in force since 2025-07-01 (as mirrored by BSPs; Meta
    /// publishes them as a downloadable card); service messages priced at the utility rate
    /// since 2026-10-01. The monthly allowance of free service messages per business number is
    /// not modelled per session (so the estimate is an upper bound). Check against your
    /// contract and override in the config.
    pub fn meta_2026_10() -> Self {
        let rates = |marketing: f64, utility: f64| Rates {
            service: utility,
            utility,
            marketing,
        };
        Self {
            source: "Meta rate card (USD): marketing/utility since 2025-07-01, service at the \
                     utility rate since 2026-10-01; override in config"
                .into(),
            countries: BTreeMap::from([
                ("MX".into(), rates(0.0305, 0.0085)),
                ("CO".into(), rates(0.0125, 0.0008)),
                ("PE".into(), rates(0.0703, 0.0200)),
                ("BR".into(), rates(0.0625, 0.0068)),
            ]),
        }
    }

    /// The estimated cost of `sent` in `country`; `None` when the country has no rates.
    pub fn cost(&self, country: &str, sent: &MessageTally) -> Option<f64> {
        let r = self.countries.get(&country.to_ascii_uppercase())?;
        Some(
            f64::from(sent.service) * r.service
                + f64::from(sent.utility) * r.utility
                + f64::from(sent.marketing) * r.marketing,
        )
    }
}

/// The funnel of every flow version found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelReport {
    pub generated_at: Timestamp,
    /// Only sessions started at or after this time were counted.
    pub since: Option<Timestamp>,
    /// Sessions read from the store (before the `since` filter).
    pub sessions_read: u64,
    pub targets: Targets,
    pub price_source: String,
    pub flows: Vec<FlowFunnel>,
}

/// One flow version's funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowFunnel {
    pub flow_id: String,
    pub flow_version: u32,
    pub started: u64,
    pub in_progress: u64,
    pub completed: u64,
    pub dropped: u64,
    /// dropped / (completed + dropped); `None` when no session has ended.
    pub drop_off: Option<f64>,
    pub steps: Vec<StepFunnel>,
    pub completion_secs: Percentiles,
    /// Sessions by outcome (`approved`, `manual_review`, `expired`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Decision reasons over all decided sessions.
    pub reasons: BTreeMap<String, u64>,
    /// Retake verdicts by reason.
    pub retakes: BTreeMap<String, u64>,
    /// Sessions sent at least one reminder.
    #[serde(default)]
    pub reminded: u64,
    /// Reminded sessions the user came back to and completed (approved, rejected or sent to
    /// review): what re-engagement recovered.
    #[serde(default)]
    pub recovered: u64,
    /// Sessions whose user opted out of the business's marketing messages (WhatsApp 131050):
    /// never reminded after it. Counted in every other figure as usual (where they stopped,
    /// how they ended).
    #[serde(default)]
    pub opted_out: u64,
    pub messages: MessageStats,
    pub meets: TargetCheck,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFunnel {
    pub index: u16,
    pub name: String,
    pub reached: u64,
    pub dropped: u64,
    /// Photos beyond the first at this step.
    pub extra_photos: u64,
}

/// Nearest-rank percentiles of a sample (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: u64,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
}

impl Percentiles {
    /// Of `sample` (any order).
    pub fn of(mut sample: Vec<u64>) -> Self {
        sample.sort_unstable();
        let rank = |p: f64| -> Option<u64> {
            if sample.is_empty() {
                return None;
            }
            let r = ((p * sample.len() as f64).ceil() as usize).clamp(1, sample.len());
            Some(sample[r - 1])
        };
        Self {
            n: sample.len() as u64,
            p50: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// Messages sent per session and their estimated cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageStats {
    pub service: u64,
    pub utility: u64,
    pub marketing: u64,
    /// Mean messages per completed session.
    pub per_completed_session: Option<f64>,
    /// Estimated USD, all sessions; `None` when the flow's country has no rates.
    pub cost_usd: Option<f64>,
    /// Estimated USD per completed session.
    pub cost_per_completed_usd: Option<f64>,
}

/// Whether the flow meets the seed's targets (`None`: not enough data).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    pub completion: Option<bool>,
    pub drop_off: Option<bool>,
}

/// Builds the report from `sessions`. `flows` gives step names and countries (a session
/// whose flow version is not loaded is counted with numbered steps).
pub fn report<'a>(
    sessions: impl IntoIterator<Item = &'a Session>,
    flows: &FlowSet,
    prices: &PriceTable,
    since: Option<Timestamp>,
    now: Timestamp,
) -> FunnelReport {
    #[derive(Default)]
    struct Acc {
        started: u64,
        in_progress: u64,
        completed: u64,
        dropped: u64,
        reached: Vec<u64>,
        dropped_at: Vec<u64>,
        extra: Vec<u64>,
        times: Vec<u64>,
        outcomes: BTreeMap<String, u64>,
        reasons: BTreeMap<String, u64>,
        retakes: BTreeMap<String, u64>,
        reminded: u64,
        recovered: u64,
        opted_out: u64,
        sent: [u64; 3],
        completed_messages: u64,
        cost: Option<f64>,
        completed_cost: Option<f64>,
    }
    let mut read = 0u64;
    let mut acc: BTreeMap<(String, u32), Acc> = BTreeMap::new();
    for s in sessions {
        read += 1;
        if since.is_some_and(|t| s.started_at < t) {
            continue;
        }
        let reached = usize::from(furthest(s));
        if reached == 0 && s.decision.is_none() {
            // Never past the welcome: not in the funnel yet.
            continue;
        }
        // A decided session was at least at the first step (the decision was taken there).
        let reached = reached.max(1);
        let a = acc.entry((s.flow_id.clone(), s.flow_version)).or_default();
        let steps = flows
            .get(&s.flow_id, s.flow_version)
            .map_or(s.attempts.len(), |f| f.steps.len())
            .max(reached);
        for v in [&mut a.reached, &mut a.dropped_at, &mut a.extra] {
            if v.len() < steps {
                v.resize(steps, 0);
            }
        }
        a.started += 1;
        if s.nudged > 0 {
            a.reminded += 1;
        }
        if s.opted_out_at.is_some() {
            a.opted_out += 1;
        }
        for r in &mut a.reached[..reached] {
            *r += 1;
        }
        for (i, n) in s.attempts.iter().enumerate().take(steps) {
            a.extra[i] += u64::from(n.saturating_sub(1));
        }
        for (reason, n) in &s.retakes {
            *a.retakes.entry(reason.as_str().to_owned()).or_default() += u64::from(*n);
        }
        let country = flows
            .get(&s.flow_id, s.flow_version)
            .map(|f| f.country.0.clone())
            .unwrap_or_default();
        let cost = prices.cost(&country, &s.sent);
        a.sent[0] += u64::from(s.sent.service);
        a.sent[1] += u64::from(s.sent.utility);
        a.sent[2] += u64::from(s.sent.marketing);
        if let Some(c) = cost {
            *a.cost.get_or_insert(0.0) += c;
        }
        match &s.decision {
            None => a.in_progress += 1,
            Some(d) => {
                *a.outcomes.entry(d.as_str().to_owned()).or_default() += 1;
                for r in d.reasons() {
                    *a.reasons
                        .entry(crate::machine::reason_name(*r).to_owned())
                        .or_default() += 1;
                }
                if matches!(
                    d,
                    Decision::Approved { .. }
                        | Decision::Rejected { .. }
                        | Decision::ManualReview { .. }
                ) {
                    a.completed += 1;
                    if s.nudged > 0 {
                        a.recovered += 1;
                    }
                    a.completed_messages += u64::from(s.sent.total());
                    if let Some(c) = cost {
                        *a.completed_cost.get_or_insert(0.0) += c;
                    }
                    if let Some(at) = s.decided_at {
                        let ms = at.0.saturating_sub(s.started_at.0);
                        a.times.push(u64::try_from(ms / 1000).unwrap_or(0));
                    }
                } else {
                    a.dropped += 1;
                    a.dropped_at[reached.saturating_sub(1)] += 1;
                }
            }
        }
    }
    let targets = Targets::default();
    let flows_out = acc
        .into_iter()
        .map(|((flow_id, flow_version), a)| {
            let flow = flows.get(&flow_id, flow_version);
            let steps = (0..a.reached.len())
                .map(|i| StepFunnel {
                    index: u16::try_from(i).unwrap_or(u16::MAX),
                    name: flow
                        .and_then(|f| f.steps.get(i))
                        .map_or_else(|| format!("step {i}"), |s| s.name().to_owned()),
                    reached: a.reached[i],
                    dropped: a.dropped_at[i],
                    extra_photos: a.extra[i],
                })
                .collect();
            let ended = a.completed + a.dropped;
            let drop_off = (ended > 0).then(|| a.dropped as f64 / ended as f64);
            let completion_secs = Percentiles::of(a.times);
            let per = |x: f64| (a.completed > 0).then(|| x / a.completed as f64);
            FlowFunnel {
                started: a.started,
                in_progress: a.in_progress,
                completed: a.completed,
                dropped: a.dropped,
                drop_off,
                steps,
                meets: TargetCheck {
                    completion: completion_secs.p50.map(|p| p < targets.completion_p50_secs),
                    drop_off: drop_off.map(|d| d < targets.max_drop_off),
                },
                completion_secs,
                outcomes: a.outcomes,
                reasons: a.reasons,
                retakes: a.retakes,
                reminded: a.reminded,
                recovered: a.recovered,
                opted_out: a.opted_out,
                messages: MessageStats {
                    service: a.sent[0],
                    utility: a.sent[1],
                    marketing: a.sent[2],
                    per_completed_session: per(a.completed_messages as f64),
                    cost_usd: a.cost,
                    cost_per_completed_usd: a.completed_cost.and_then(per),
                },
                flow_id,
                flow_version,
            }
        })
        .collect();
    FunnelReport {
        generated_at: now,
        since,
        sessions_read: read,
        targets,
        price_source: prices.source.clone(),
        flows: flows_out,
    }
}

/// How many steps the session entered: [`Session::reached`], or for sessions stored before it
/// existed, what the state, attempts and accepted captures show.
fn furthest(s: &Session) -> u16 {
    if s.reached > 0 {
        return s.reached;
    }
    let at = match s.state {
        State::Step { index, .. } => index.saturating_add(1),
        State::New | State::Decided => 0,
    };
    let photos = s
        .attempts
        .iter()
        .rposition(|n| *n > 0)
        .map_or(0, |i| u16::try_from(i + 1).unwrap_or(u16::MAX));
    let accepted = s
        .accepted
        .iter()
        .map(|a| a.step.saturating_add(2))
        .max()
        .unwrap_or(0);
    at.max(photos).max(accepted)
}

/// The report as plain text tables (what `kyc-flow report` prints).
pub fn render_text(r: &FunnelReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let pct = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let secs = |x: Option<u64>| x.map_or("—".to_owned(), |v| format!("{v} s"));
    let verdict = |b: Option<bool>| match b {
        Some(true) => "meets",
        Some(false) => "MISSES",
        None => "no data",
    };
    let _ = writeln!(
        out,
        "{} sessions read; targets: completion p50 < {} s, drop-off < {:.0} %",
        r.sessions_read,
        r.targets.completion_p50_secs,
        r.targets.max_drop_off * 100.0
    );
    if r.flows.is_empty() {
        let _ = writeln!(out, "no onboarding started");
    }
    for f in &r.flows {
        let _ = writeln!(
            out,
            "\n{} v{}: started {}, completed {}, dropped {}, in progress {}",
            f.flow_id, f.flow_version, f.started, f.completed, f.dropped, f.in_progress
        );
        let _ = writeln!(
            out,
            "  completion p50 {} / p90 {} (n={}) — {}; drop-off {} — {}",
            secs(f.completion_secs.p50),
            secs(f.completion_secs.p90),
            f.completion_secs.n,
            verdict(f.meets.completion),
            pct(f.drop_off),
            verdict(f.meets.drop_off)
        );
        let _ = writeln!(out, "  | step | reached | dropped here | extra photos |");
        for s in &f.steps {
            let _ = writeln!(
                out,
                "  | {} {} | {} | {} | {} |",
                s.index, s.name, s.reached, s.dropped, s.extra_photos
            );
        }
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(out, "  outcomes: {}", list(&f.outcomes));
        let _ = writeln!(out, "  reasons: {}", list(&f.reasons));
        let _ = writeln!(out, "  retakes: {}", list(&f.retakes));
        let _ = writeln!(
            out,
            "  re-engagement: {} reminded, {} of them recovered (completed); {} opted out of marketing (not reminded)",
            f.reminded, f.recovered, f.opted_out
        );
        let m = &f.messages;
        let _ = writeln!(
            out,
            "  messages: {} service, {} utility, {} marketing; {} per completed session; est. cost {} ({} per completed)",
            m.service,
            m.utility,
            m.marketing,
            m.per_completed_session
                .map_or("—".to_owned(), |v| format!("{v:.1}")),
            m.cost_usd.map_or("—".to_owned(), |v| format!("US${v:.4}")),
            m.cost_per_completed_usd
                .map_or("—".to_owned(), |v| format!("US${v:.4}")),
        );
    }
    let _ = writeln!(out, "\nprices: {}", r.price_source);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DecisionReason;
    use crate::evidence::RetakeReason;
    use crate::flow::Flow;
    use crate::ids::{SessionKey, UserRef};
    use crate::session::Phase;
    use proptest::prelude::*;

    fn flows() -> FlowSet {
        FlowSet::from(vec![Flow::preset("mx-ine").unwrap()])
    }

    fn session(n: u32) -> Session {
        let flow = Flow::preset("mx-ine").unwrap();
        crate::machine::start(
            &flow,
            SessionKey::new(
                "t",
                "pn",
                UserRef::from_parts(None, Some(&format!("52155{n:08}"))).unwrap(),
            ),
            format!("s{n}"),
            None,
            Timestamp::from_secs(1_000),
        )
    }

    /// Ended at step `reached - 1` with `decision`, `secs` after it started.
    fn ended(n: u32, reached: u16, decision: Decision, secs: i64) -> Session {
        let mut s = session(n);
        s.reached = reached;
        s.state = State::Decided;
        s.decision = Some(decision);
        s.decided_at = Some(Timestamp::from_secs(1_000 + secs));
        s
    }

    #[test]
    fn counts_reach_drops_times_retakes_and_cost() {
        let steps = Flow::preset("mx-ine").unwrap().steps.len() as u16;
        let approved = || Decision::Approved {
            reasons: vec![DecisionReason::AllChecksPassed],
        };
        let mut sessions = vec![
            ended(1, steps, approved(), 70),
            ended(2, steps, approved(), 100),
            ended(
                3,
                steps,
                Decision::ManualReview {
                    reasons: vec![DecisionReason::TooManyRetakes],
                },
                300,
            ),
            ended(4, 1, Decision::Declined, 20),
            ended(5, 2, Decision::Expired, 90_000),
        ];
        sessions[2].retakes.insert(RetakeReason::Glare, 2);
        sessions[2].attempts[1] = 3;
        sessions[0].sent.service = 7;
        sessions[0].sent.utility = 1;
        // Reminded: one came back and was approved, one expired anyway.
        sessions[1].nudged = 1;
        sessions[4].nudged = 2;
        // Opted out of marketing after one reminder: still counted where it stopped.
        sessions[4].opted_out_at = Some(Timestamp::from_secs(50_000));
        let mut live = session(6);
        live.reached = 3;
        live.state = State::Step {
            index: 2,
            phase: Phase::Awaiting,
        };
        sessions.push(live);
        sessions.push(session(7)); // never past the welcome
        let r = report(
            &sessions,
            &flows(),
            &PriceTable::meta_2026_10(),
            None,
            Timestamp::from_secs(100_000),
        );
        assert_eq!(r.sessions_read, 7);
        let f = &r.flows[0];
        assert_eq!(
            (f.started, f.completed, f.dropped, f.in_progress),
            (6, 3, 2, 1)
        );
        assert_eq!(f.drop_off, Some(0.4));
        assert_eq!(f.meets.drop_off, Some(false));
        assert_eq!(f.completion_secs.p50, Some(100));
        assert_eq!(f.completion_secs.p90, Some(300));
        assert_eq!(f.meets.completion, Some(true));
        assert_eq!(f.steps[0].reached, 6);
        assert_eq!(f.steps[0].dropped, 1);
        assert_eq!(f.steps[1].reached, 5);
        assert_eq!(f.steps[1].dropped, 1);
        assert_eq!(f.steps[2].reached, 4);
        assert_eq!(f.steps[1].extra_photos, 2);
        assert_eq!(f.retakes["glare"], 2);
        assert_eq!(f.outcomes["approved"], 2);
        assert_eq!(f.reasons["too_many_retakes"], 1);
        assert_eq!((f.messages.service, f.messages.utility), (7, 1));
        let cost = f.messages.cost_usd.unwrap();
        assert!((cost - 8.0 * 0.0085).abs() < 1e-9, "{cost}");
        assert_eq!((f.reminded, f.recovered, f.opted_out), (2, 1, 1));
        let text = render_text(&r);
        assert!(
            text.contains("mx-ine v1: started 6, completed 3, dropped 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "re-engagement: 2 reminded, 1 of them recovered (completed); 1 opted out"
            ),
            "{text}"
        );
    }

    #[test]
    fn since_filters_and_percentiles_use_nearest_rank() {
        let s = ended(1, 1, Decision::Declined, 5);
        let r = report(
            [&s],
            &flows(),
            &PriceTable::meta_2026_10(),
            Some(Timestamp::from_secs(2_000)),
            Timestamp::from_secs(3_000),
        );
        assert!(r.flows.is_empty());
        assert_eq!(r.sessions_read, 1);
        let p = Percentiles::of(vec![5, 1, 4, 2, 3]);
        assert_eq!((p.n, p.p50, p.p90), (5, Some(3), Some(5)));
        assert_eq!(Percentiles::of(vec![]).p50, None);
    }

    proptest! {
        #[test]
        fn the_funnel_adds_up(
            cases in proptest::collection::vec((0u16..7, 0u8..5, 0i64..1_000), 0..40)
        ) {
            let outcomes = [
                None,
                Some(Decision::Approved { reasons: vec![] }),
                Some(Decision::Rejected { reasons: vec![] }),
                Some(Decision::ManualReview { reasons: vec![] }),
                Some(Decision::Declined),
                Some(Decision::Cancelled),
                Some(Decision::Expired),
            ];
            let sessions: Vec<Session> = cases
                .iter()
                .enumerate()
                .map(|(i, (reached, outcome, secs))| {
                    let mut s = session(i as u32);
                    s.reached = *reached;
                    s.decision = outcomes[usize::from(*outcome)].clone();
                    if s.decision.is_some() {
                        s.state = State::Decided;
                        s.decided_at = Some(Timestamp::from_secs(1_000 + secs));
                    }
                    s
                })
                .collect();
            let r = report(&sessions, &flows(), &PriceTable::meta_2026_10(), None, Timestamp(0));
            for f in &r.flows {
                prop_assert_eq!(f.started, f.completed + f.dropped + f.in_progress);
                prop_assert_eq!(f.steps.iter().map(|s| s.dropped).sum::<u64>(), f.dropped);
                prop_assert_eq!(f.steps[0].reached, f.started);
                for w in f.steps.windows(2) {
                    prop_assert!(w[0].reached >= w[1].reached);
                }
                for s in &f.steps {
                    prop_assert!(s.dropped <= s.reached);
                }
                if let Some(d) = f.drop_off {
                    prop_assert!((0.0..=1.0).contains(&d));
                }
            }
        }
    }
}
