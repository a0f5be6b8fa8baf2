//! Shared by the integration tests that run the engine on Redis: the Redis adapters under a
//! key prefix of the test's own ([`OwnPrefix`]: deleted when dropped, also after a panic).

use kyc_flow_redis::{RedisConfig, RedisStorage};
use kyc_flow_redis_testkit::OwnPrefix;
use std::time::Duration;

/// The Redis adapters for test `test` under a fresh prefix, or `None` after a loud message when
/// Redis is unreachable and `CI` is not set (under `CI=true` an unreachable Redis fails).
/// Keep the [`OwnPrefix`] alive for as long as the storage is used.
pub async fn redis_storage(test: &str) -> Option<(RedisStorage, OwnPrefix)> {
    redis_storage_with_capacity(test, None).await
}

/// [`redis_storage`] with a queue that holds at most `capacity` jobs (the default without).
pub async fn redis_storage_with_capacity(
    test: &str,
    capacity: Option<usize>,
) -> Option<(RedisStorage, OwnPrefix)> {
    let own = OwnPrefix::reserve_or_skip(test)?;
    let defaults = RedisConfig::with_random_secrets().expect("random secrets");
    let config = RedisConfig {
        url: own.url().to_owned(),
        key_prefix: own.prefix().to_owned(),
        capacity: capacity.unwrap_or(defaults.capacity),
        ..defaults
    };
    let storage = tokio::time::timeout(Duration::from_secs(5), RedisStorage::connect(config))
        .await
        .expect("Redis answered PING but the adapters did not connect in time")
        .expect("Redis adapters");
    Some((storage, own))
}
