//! The Redis adapters against the storage conformance suite (needs Redis at `REDIS_URL`).

mod common;

use common::RedisHarness;
use kyc_flow_core::conformance::storage;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(h) = RedisHarness::new(stringify!($name)).await else { return };
            storage::$name(&h).await;
            drop(h);
        }
    )*};
}

suite!(sessions, evidence, queue, timers, dedup, inbox, leases);

/// The review queue against its conformance suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews() {
    let Some(h) = RedisHarness::new("reviews").await else {
        return;
    };
    kyc_flow_core::conformance::review::run_all(&h).await;
    drop(h);
}
