//! Lua scripts are loaded again after `SCRIPT FLUSH` (a Redis restarted without its data has
//! none). In a test binary of its own: the flush is server-wide, and a test running beside it
//! in the same binary could lose a script between `redis::Script`'s reload and its retry.

mod common;

use common::RedisHarness;
use kyc_flow_core::ports::{JobQueue, NewJob};
use std::time::Duration;

fn job(payload: &str) -> NewJob {
    NewJob {
        kind: "test".into(),
        partition: None,
        payload: payload.as_bytes().to_vec(),
    }
}

/// `redis::Script` sends `EVALSHA` and, on `NOSCRIPT`, loads the script and runs it again;
/// every script of the queue goes through it. `SCRIPT FLUSH` forgets the scripts of the whole
/// server, which only costs other tests a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_scripts_are_loaded_again_after_script_flush() {
    let Some(h) = RedisHarness::new("lua_scripts_are_loaded_again").await else {
        return;
    };
    let storage = h.storage(1000).await;
    let queue = storage.queue();
    let conn = redis::Client::open(h.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let flush = |mut c: redis::aio::MultiplexedConnection| async move {
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    };
    queue.enqueue(vec![job("one")]).await.unwrap();
    flush(conn.clone()).await;
    // ENQUEUE, then PROMOTE (inside reserve), RETRY and RECLAIM, each after a flush.
    queue.enqueue(vec![job("two")]).await.unwrap();
    flush(conn.clone()).await;
    let got = queue
        .reserve("worker-1", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    flush(conn.clone()).await;
    queue.retry(&got[0], Duration::ZERO).await.unwrap();
    flush(conn.clone()).await;
    let reclaimed = queue.reclaim("worker-2", Duration::ZERO, 10).await.unwrap();
    assert!(!reclaimed.is_empty());
}
