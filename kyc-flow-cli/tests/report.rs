//! `kyc-flow report` against a real Redis (needs Redis at `REDIS_URL`; skipped loudly without
//! it unless `CI` is set), under a key prefix of its own that is deleted after.

use kyc_flow_core::flow::Flow;
use kyc_flow_core::ports::SessionStore;
use kyc_flow_core::session::{Decision, DecisionReason, State};
use kyc_flow_core::{SessionKey, Timestamp, UserRef};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

use kyc_flow_redis_testkit::OwnPrefix;

const PHONE: &str = "5215512345678";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_the_sessions_of_its_prefix_and_prints_no_identifier() {
    let Some(redis) = OwnPrefix::reserve_or_skip("cli-report") else {
        return;
    };
    let (url, prefix) = (redis.url().to_owned(), redis.prefix().to_owned());
    let config = RedisConfig {
        url: url.clone(),
        key_prefix: prefix.clone(),
        ..RedisConfig::with_random_secrets().unwrap()
    };
    let storage = RedisStorage::connect(config.clone()).await.unwrap();
    let sessions = storage.sessions();
    let flow = Flow::preset("co-cedula").unwrap();
    let steps = u16::try_from(flow.steps.len()).unwrap();
    let now = Timestamp(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    // Three onboardings: approved in 95 s, expired at the second step, one in progress.
    for (n, outcome) in [(1, Some(95)), (2, None), (3, Some(-1))] {
        let key = SessionKey::new(
            "t",
            "pn",
            UserRef::from_parts(None, Some(&format!("{PHONE}{n}"))).unwrap(),
        );
        let mut s = kyc_flow_core::machine::start(&flow, key.clone(), format!("id{n}"), None, now);
        s.sent.service = 6;
        match outcome {
            Some(secs) if secs > 0 => {
                s.reached = steps;
                s.state = State::Decided;
                s.decision = Some(Decision::Approved {
                    reasons: vec![DecisionReason::AllChecksPassed],
                });
                s.decided_at = Some(now.plus(Duration::from_secs(95)));
            }
            Some(_) => {
                s.reached = 2;
                s.state = State::Decided;
                s.decision = Some(Decision::Expired);
                s.decided_at = Some(now.plus(Duration::from_secs(86_400)));
                s.sent.utility = 1;
            }
            None => s.reached = 3,
        }
        sessions
            .save(&key, &s, None, Duration::from_secs(600))
            .await
            .unwrap();
    }

    let mut file = toml::Table::new();
    file.insert("redis".into(), toml::Value::try_from(&config).unwrap());
    let dir = std::env::temp_dir().join(format!("kyc-flow-cli-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("serve.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["report", "--config", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
            .args(args)
            .output()
            .expect("binary runs")
    };
    let out = run(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(PHONE), "no identifier printed");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["sessions_read"], 3);
    let f = &v["flows"][0];
    assert_eq!(f["flow_id"], "co-cedula");
    assert_eq!(f["started"], 3);
    assert_eq!(f["completed"], 1);
    assert_eq!(f["dropped"], 1);
    assert_eq!(f["in_progress"], 1);
    assert_eq!(f["drop_off"], 0.5);
    assert_eq!(f["completion_secs"]["p50"], 95);
    assert_eq!(f["meets"]["completion"], true);
    assert_eq!(f["steps"][1]["dropped"], 1);
    assert_eq!(f["messages"]["service"], 18);
    assert_eq!(f["messages"]["utility"], 1);
    // Colombia: 19 messages at the utility rate of the built-in table.
    let cost = f["messages"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 19.0 * 0.0008).abs() < 1e-9, "{cost}");

    let text = run(&[]);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("co-cedula v1: started 3, completed 1, dropped 1, in progress 1"),
        "{text}"
    );

    let bad = run(&["--since", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}
