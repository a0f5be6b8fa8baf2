//! Model-based property tests: random operation sequences against the in-memory session and
//! timer stores, compared step by step with an obviously-correct model.

use kyc_flow::memory::{MemorySessionStore, MemoryTimerStore};
use kyc_flow_core::Timestamp;
use kyc_flow_core::conformance::storage::{sample_key, sample_session};
use kyc_flow_core::ports::{PortErrorKind, SessionStore, TimerEntry, TimerStore};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[derive(Debug, Clone)]
enum SessionOp {
    /// Save key `k` expecting the version `offset` away from the current one (0 = current).
    Save {
        k: u32,
        offset: i8,
        absent: bool,
    },
    Delete {
        k: u32,
    },
    Load {
        k: u32,
    },
}

fn session_op() -> impl Strategy<Value = SessionOp> {
    prop_oneof![
        4 => (0..3u32, -1..2i8, any::<bool>()).prop_map(|(k, offset, absent)| SessionOp::Save { k, offset, absent }),
        1 => (0..3u32).prop_map(|k| SessionOp::Delete { k }),
        2 => (0..3u32).prop_map(|k| SessionOp::Load { k }),
    ]
}

#[derive(Debug, Clone)]
enum TimerOp {
    Schedule { s: u32, name: u8, at: i64 },
    Cancel { s: u32, name: u8 },
    Take { now: i64, max: usize },
}

fn timer_op() -> impl Strategy<Value = TimerOp> {
    prop_oneof![
        3 => (0..4u32, 0..2u8, 0..100i64).prop_map(|(s, name, at)| TimerOp::Schedule { s, name, at }),
        1 => (0..4u32, 0..2u8).prop_map(|(s, name)| TimerOp::Cancel { s, name }),
        2 => (0..120i64, 0..4usize).prop_map(|(now, max)| TimerOp::Take { now, max }),
    ]
}

proptest! {
    #[test]
    fn session_store_matches_model(ops in proptest::collection::vec(session_op(), 1..60)) {
        block_on(async {
            let store = MemorySessionStore::new();
            // key → (version, marker)
            let mut model: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
            for (i, op) in ops.into_iter().enumerate() {
                let marker = i as u64;
                match op {
                    SessionOp::Save { k, offset, absent } => {
                        let key = sample_key(k);
                        let current = model.get(&k).map(|(v, _)| *v);
                        let expected = if absent {
                            None
                        } else {
                            Some(current.unwrap_or(1).saturating_add_signed(i64::from(offset)))
                        };
                        let got = store
                            .save(&key, &sample_session(&key, marker), expected, Duration::from_secs(600))
                            .await;
                        let ok = match (current, expected) {
                            (None, None) => true,
                            (Some(c), Some(e)) => c == e,
                            _ => false,
                        };
                        if ok {
                            let v = got.expect("the model says this save wins");
                            prop_assert!(current.is_none_or(|c| v > c));
                            model.insert(k, (v, marker));
                        } else {
                            prop_assert_eq!(got.expect_err("the model says conflict").kind, PortErrorKind::Conflict);
                        }
                    }
                    SessionOp::Delete { k } => {
                        let existed = store.delete(&sample_key(k)).await.unwrap();
                        prop_assert_eq!(existed, model.remove(&k).is_some());
                    }
                    SessionOp::Load { k } => {
                        let key = sample_key(k);
                        let got = store.load(&key).await.unwrap();
                        match model.get(&k) {
                            None => prop_assert!(got.is_none()),
                            Some((v, m)) => {
                                let got = got.expect("present");
                                prop_assert_eq!(got.version, *v);
                                prop_assert!(got.value == sample_session(&key, *m));
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn timer_store_matches_model(ops in proptest::collection::vec(timer_op(), 1..80)) {
        block_on(async {
            let store = MemoryTimerStore::new();
            // (session, name) → (fire_at, token)
            let mut model: BTreeMap<(u32, u8), (i64, u64)> = BTreeMap::new();
            for (token, op) in ops.into_iter().enumerate() {
                match op {
                    TimerOp::Schedule { s, name, at } => {
                        store.schedule(TimerEntry {
                            session: sample_key(s),
                            name: name.to_string(),
                            fire_at: Timestamp(at),
                            token: token as u64,
                        }).await.unwrap();
                        model.insert((s, name), (at, token as u64));
                    }
                    TimerOp::Cancel { s, name } => {
                        let had = store.cancel(&sample_key(s), &name.to_string()).await.unwrap();
                        prop_assert_eq!(had, model.remove(&(s, name)).is_some());
                    }
                    TimerOp::Take { now, max } => {
                        let got = store.take_due(Timestamp(now), max).await.unwrap();
                        prop_assert!(got.len() <= max);
                        let due = model.values().filter(|(at, _)| *at <= now).count();
                        prop_assert_eq!(got.len(), due.min(max), "takes as many as are due, up to max");
                        let mut last = i64::MIN;
                        for e in &got {
                            prop_assert!(e.fire_at.0 <= now && e.fire_at.0 >= last, "due, earliest first");
                            last = e.fire_at.0;
                            let s = (0..4u32).find(|s| sample_key(*s) == e.session).unwrap();
                            let name: u8 = e.name.parse().unwrap();
                            prop_assert_eq!(model.remove(&(s, name)), Some((e.fire_at.0, e.token)));
                        }
                        // Whatever was due and not returned must be later than every returned one.
                        if got.len() == max && max > 0 {
                            prop_assert!(model.values().filter(|(at, _)| *at <= now).all(|(at, _)| *at >= last));
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}
