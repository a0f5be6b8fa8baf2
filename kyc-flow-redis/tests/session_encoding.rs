//! Sessions are stored deflated; sessions stored before (sealed plain JSON) still load, and
//! the next save rewrites them in the new encoding (needs Redis at `REDIS_URL`).

mod common;

use common::RedisHarness;
use kyc_flow_core::conformance::storage::{sample_key, sample_session};
use kyc_flow_core::ports::SessionStore;
use kyc_flow_redis::Sealer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stored_as_plain_json_before_still_loads_and_is_rewritten_deflated() {
    let Some(h) = RedisHarness::new("session_encoding").await else {
        return;
    };
    let config = h.config(100);
    let sealer = Sealer::new(&config.encryption_keys, config.active_key_id).unwrap();
    let storage = kyc_flow_redis::RedisStorage::connect(config).await.unwrap();
    let store = storage.sessions();
    let key = sample_key(7);
    let session = sample_session(&key, 7);
    let rkey = store.redis_key(&key);

    // What the store wrote before sessions were deflated: the JSON sealed as is, bound to the
    // key and version.
    let json = serde_json::to_vec(&session).unwrap();
    let old = sealer
        .seal(&json, format!("session|{rkey}|1").as_bytes())
        .unwrap();
    let mut conn = redis::Client::open(h.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&rkey)
        .arg("v")
        .arg(1)
        .arg("d")
        .arg(&old)
        .query(&mut conn)
        .unwrap();

    let loaded = store
        .load(&key)
        .await
        .unwrap()
        .expect("the old value loads");
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.value, session, "the same session");

    let v2 = store
        .save(&key, &loaded.value, Some(1), Duration::from_secs(600))
        .await
        .unwrap();
    let new: Vec<u8> = redis::cmd("HGET")
        .arg(&rkey)
        .arg("d")
        .query(&mut conn)
        .unwrap();
    let plain = sealer
        .open(&new, format!("session|{rkey}|{v2}").as_bytes())
        .unwrap();
    assert_ne!(plain.first(), Some(&b'{'), "rewritten in the new encoding");
    assert_eq!(
        store.load(&key).await.unwrap().unwrap().value,
        session,
        "and it loads back"
    );
}
