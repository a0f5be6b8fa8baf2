//! Redis scaffolding shared by the CLI's integration tests: find Redis at `REDIS_URL` (skip
//! loudly without it, unless `CI` is set), and delete every key under the test's own prefix
//! when done (also after a failed assertion).

use std::time::Duration;

/// The keys under `prefix` are deleted when this is dropped.
pub struct Cleanup {
    pub url: String,
    pub prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

async fn redis_up(url: &str) -> bool {
    let ping = async {
        let client = redis::Client::open(url).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<()>(&mut conn).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(3), ping)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// Redis for test `name` under a prefix of its own, or `None` (test skipped) when Redis is
/// unreachable and `CI` is not set; panics when it is unreachable under CI.
pub async fn redis_for(name: &str) -> Option<Cleanup> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if !redis_up(&url).await {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("Redis at REDIS_URL is unreachable and CI is set");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPING {name}: Redis is unreachable (set REDIS_URL, or CI=true to fail) !!!!!!!!\n"
        );
        return None;
    }
    Some(Cleanup {
        url,
        prefix: format!("kyc-flow-test:{name}:{}:", std::process::id()),
    })
}
