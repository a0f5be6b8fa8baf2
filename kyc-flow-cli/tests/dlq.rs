//! `kyc-flow dlq list|retry|drop` against a real Redis (needs Redis at `REDIS_URL`; skipped
//! loudly without it unless `CI` is set), under a key prefix of its own that is deleted after.

use kyc_flow_core::ports::{JobQueue, NewJob};
use kyc_flow_redis::{RedisConfig, RedisStorage};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

use kyc_flow_redis_testkit::OwnPrefix;

/// A phone number in a job's payload: it must never reach the command's output.
const PII: &str = "5215512345678";

fn kyc_flow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kyc-flow"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_lists_retries_and_drops_dead_letters_without_their_payloads() {
    let Some(redis) = OwnPrefix::reserve_or_skip("cli-dlq") else {
        return;
    };
    let (url, prefix) = (redis.url().to_owned(), redis.prefix().to_owned());
    let config = RedisConfig {
        url: url.clone(),
        key_prefix: prefix.clone(),
        ..RedisConfig::with_random_secrets().unwrap()
    };
    let mut file = toml::Table::new();
    file.insert("redis".into(), toml::Value::try_from(&config).unwrap());
    let dir = std::env::temp_dir().join(format!("kyc-flow-cli-dlq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("serve.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let path = path.to_str().unwrap();

    // Two jobs that gave up, one after a retry.
    let storage = RedisStorage::connect(config).await.unwrap();
    let queue = storage.queue();
    let jobs = ["engine.event", "engine.command"].map(|kind| NewJob {
        kind: kind.into(),
        partition: Some("p".into()),
        payload: format!("{{\"to\":\"{PII}\"}}").into_bytes(),
    });
    queue.enqueue(jobs.to_vec()).await.unwrap();
    let taken = queue.reserve("w", 2, Duration::from_secs(1)).await.unwrap();
    assert_eq!(taken.len(), 2);
    queue.retry(&taken[1], Duration::ZERO).await.unwrap();
    queue
        .dead_letter(&taken[0], "gave up after 8 attempts")
        .await
        .unwrap();
    let again = queue.reserve("w", 1, Duration::from_secs(1)).await.unwrap();
    queue.dead_letter(&again[0], "bad job").await.unwrap();

    let out = kyc_flow(&["dlq", "list", "--config", path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(PII),
        "no payload printed"
    );
    let listed = json(&out);
    assert_eq!(listed["count"], 2);
    let rows = listed["dead_letters"].as_array().unwrap();
    assert_eq!(rows[0]["kind"], "engine.event");
    assert_eq!(rows[0]["reason"], "gave up after 8 attempts");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[1]["kind"], "engine.command");
    assert_eq!(rows[1]["attempts"], 2);
    for row in rows {
        for field in ["first_at", "last_at"] {
            let t = row[field].as_str().unwrap_or_default();
            assert!(t.ends_with('Z') && t.len() == 24, "{field}: {row}");
        }
        assert!(row["first_at"].as_str() <= row["last_at"].as_str(), "{row}");
    }
    let first = rows[0]["id"].as_str().unwrap().to_owned();

    // Retry one: back in the queue as a fresh job, gone from the list.
    let out = kyc_flow(&["dlq", "retry", "--config", path, &first]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["requeued"][0]["id"], first.as_str());
    let back = queue.reserve("w", 1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].job.kind.as_str(), back[0].attempt),
        ("engine.event", 1)
    );
    assert_eq!(
        json(&kyc_flow(&["dlq", "list", "--config", path]))["count"],
        1
    );

    // Retrying it again finds nothing: a well-formed "no" (exit 1).
    let out = kyc_flow(&["dlq", "retry", "--config", path, &first]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json(&out)["missing"][0], first.as_str());

    // Drop the rest.
    let out = kyc_flow(&["dlq", "drop", "--config", path, "--all"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["dropped"], 1);
    assert_eq!(
        json(&kyc_flow(&["dlq", "list", "--config", path]))["count"],
        0
    );

    // Neither ids nor --all: a usage error.
    assert_eq!(
        kyc_flow(&["dlq", "drop", "--config", path]).status.code(),
        Some(2)
    );
}
