//! `kyc-flow dlq list|retry|drop`: the dead-letter stream of the `serve` config's Redis.
//!
//! Only the config's `[redis]` table is read (with its `${VAR}`s expanded), so an operator
//! needs the Redis secrets, not the WhatsApp or registry ones. Output is one JSON document on
//! stdout and never carries a job's payload: job kind, reason, attempts and times only.

use crate::cli::{Verdict, print_json};
use anyhow::{Context, anyhow};
use kyc_flow_core::Timestamp;
use kyc_flow_redis::{DeadLetter, RedisConfig, RedisJobQueue, RedisStorage, Redriven};
use serde_json::{Value, json};

/// `kyc-flow dlq …`
#[derive(clap::Subcommand, Debug)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[arg(long)]
        config: std::path::PathBuf,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Put dead letters back in the queue as fresh jobs (and remove them from the list).
    Retry {
        #[arg(long)]
        config: std::path::PathBuf,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Dead-letter ids, as `list` prints them.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
    },
    /// Delete dead letters for good.
    Drop {
        #[arg(long)]
        config: std::path::PathBuf,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
    },
}

/// The `[redis]` table of a serve config, with environment variables expanded.
pub fn redis_config(text: &str) -> anyhow::Result<RedisConfig> {
    let table: toml::Table = toml::from_str(text).context("invalid serve config")?;
    let Some(redis) = table.get("redis") else {
        return Ok(RedisConfig::default());
    };
    let redis = crate::serve::expand_env(&toml::to_string(redis)?)?;
    toml::from_str(&redis).context("invalid [redis] in the serve config")
}

pub fn run(command: DlqCommand) -> anyhow::Result<Verdict> {
    let config = match &command {
        DlqCommand::List { config, .. }
        | DlqCommand::Retry { config, .. }
        | DlqCommand::Drop { config, .. } => config.clone(),
    };
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let redis = redis_config(&text)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = RedisStorage::connect(redis).await.context("Redis")?;
        let queue = storage.queue();
        match command {
            DlqCommand::List { limit, .. } => list(&queue, limit).await,
            DlqCommand::Retry { all, ids, .. } => retry(&queue, all, ids).await,
            DlqCommand::Drop { all, ids, .. } => drop(&queue, all, ids).await,
        }
    })
}

async fn list(queue: &RedisJobQueue, limit: usize) -> anyhow::Result<Verdict> {
    let letters = queue.dead_letters(limit).await?;
    let rows: Vec<Value> = letters.iter().map(row).collect();
    print_json(&json!({ "count": rows.len(), "dead_letters": rows }))?;
    Ok(Verdict::Ok)
}

/// One dead letter, without its payload (which may hold PII).
fn row(letter: &DeadLetter) -> Value {
    let delivery = letter.delivery.as_ref();
    // A decision notice knows when it was first queued; other jobs give the time their last
    // delivery entered the work stream (the first enqueue unless the job had been retried).
    let queued_ms = delivery
        .filter(|d| d.job.kind == kyc_flow::notice::JOB_DECISION)
        .and_then(|d| serde_json::from_slice::<kyc_flow::notice::DecisionJob>(&d.job.payload).ok())
        .and_then(|j| u64::try_from(j.queued_at.0).ok());
    json!({
        "id": letter.id,
        "kind": delivery.map(|d| d.job.kind.as_str()),
        "reason": letter.reason,
        "attempts": delivery.map(|d| d.attempt),
        "first_at": queued_ms.or_else(|| letter.enqueued_at_ms()).map(rfc3339),
        "last_at": letter.dead_lettered_at_ms().map(rfc3339),
    })
}

async fn ids_or_all(
    queue: &RedisJobQueue,
    all: bool,
    ids: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    if !all {
        return Ok(ids);
    }
    Ok(queue
        .dead_letters(usize::MAX)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect())
}

async fn retry(queue: &RedisJobQueue, all: bool, ids: Vec<String>) -> anyhow::Result<Verdict> {
    let ids = ids_or_all(queue, all, ids).await?;
    let now = Timestamp(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis(),
        )
        .map_err(|_| anyhow!("clock out of range"))?,
    );
    let (mut requeued, mut missing, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids {
        let outcome = queue
            .redrive_dead_letter(&id, |job| kyc_flow::notice::prepare_redrive(job, now))
            .await;
        match outcome {
            Ok(Redriven::Requeued(new_id)) => requeued.push(json!({ "id": id, "new_id": new_id })),
            Ok(Redriven::Missing) => missing.push(id),
            Ok(Redriven::Unreadable) => unreadable.push(id),
            Err(e) => {
                // Stop at the first failure (a full queue, Redis gone): what was re-driven so
                // far is printed, the rest stays dead-lettered.
                print_json(&json!({
                    "requeued": requeued, "missing": missing, "unreadable": unreadable,
                    "error": e.to_string(),
                }))?;
                return Err(anyhow!("stopped at {id}: {e}"));
            }
        }
    }
    let complete = missing.is_empty() && unreadable.is_empty();
    print_json(&json!({ "requeued": requeued, "missing": missing, "unreadable": unreadable }))?;
    Ok(Verdict::from_valid(complete))
}

async fn drop(queue: &RedisJobQueue, all: bool, ids: Vec<String>) -> anyhow::Result<Verdict> {
    let ids = ids_or_all(queue, all, ids).await?;
    let dropped = queue.drop_dead_letters(&ids).await?;
    let missing = ids.len().saturating_sub(dropped);
    print_json(&json!({ "dropped": dropped, "missing": missing }))?;
    Ok(Verdict::from_valid(missing == 0))
}

/// Unix milliseconds as RFC 3339 UTC (`2026-01-15T15:00:00.000Z`).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let date = kyc_flow_documents::Date::from_days(days);
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_768_489_200_123), "2026-01-15T15:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn only_the_redis_table_is_read_and_expanded() {
        // A serve config whose other sections refer to unset variables still gives its Redis.
        let text = r#"
            [webhook]
            app_secret = "${KYC_FLOW_TEST_UNSET_3C1D}"
            [redis]
            url = "redis://127.0.0.1:6399"
            key_prefix = "kyc-flow:dlq-test:"
        "#;
        let redis = redis_config(text).unwrap();
        assert_eq!(redis.url, "redis://127.0.0.1:6399");
        assert_eq!(redis.key_prefix, "kyc-flow:dlq-test:");
        assert!(redis_config("[redis]\nurl = \"${KYC_FLOW_TEST_UNSET_3C1D}\"").is_err());
    }
}
