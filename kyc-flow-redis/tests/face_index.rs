//! The Redis face index against a real Redis (needs Redis at `REDIS_URL`; skipped loudly
//! otherwise, fails under `CI`): two workers sharing one index, sealed records at rest,
//! erasure and retention. Runs again on a local Redis Cluster (`on_cluster::…`; needs
//! `/usr/bin/redis-server`).

#[macro_use]
mod common;

use common::RedisHarness;
use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{FaceIndex, FaceRecord, IndexConfig, RepeatProbe, sample};
use kyc_flow_redis::RedisFaceIndex;

fn unit(seed: u64) -> Vec<f32> {
    sample::unit(seed, 512)
}

fn record(session: &str, identity: &str, embedding: Vec<f32>, at: i64) -> FaceRecord {
    FaceRecord {
        session_id: session.into(),
        identity: Some(identity.into()),
        embedding,
        image_hashes: vec![0x0123_4567_89AB_CDEF],
        enrolled_at: Timestamp::from_secs(at),
    }
}

fn probe(session: &str, identity: &str, embedding: Vec<f32>, now: i64) -> RepeatProbe {
    RepeatProbe {
        session_id: session.into(),
        identity: Some(identity.into()),
        embedding,
        image_hashes: vec![],
        now: Timestamp::from_secs(now),
    }
}

async fn two_workers_share_one_sealed_index(h: RedisHarness) {
    let storage = h.storage(100).await;
    let config = IndexConfig {
        retention_secs: 1000,
        ..IndexConfig::default()
    };
    let a = RedisFaceIndex::new(&storage, config.clone());
    let b = RedisFaceIndex::new(&storage, config);
    let face = unit(1);
    a.enroll(record("sess-alpha", "idkey-1", face.clone(), 10_000))
        .await
        .unwrap();
    a.enroll(record("sess-beta", "idkey-2", unit(2), 10_500))
        .await
        .unwrap();

    // Worker B sees A's enrolment: the same face claimed by another identity.
    let f = b
        .search(&probe("sess-new", "idkey-9", face.clone(), 10_600))
        .await
        .unwrap();
    assert_eq!(f.face_other_identity.len(), 1);
    assert_eq!(f.face_other_identity[0].session_id, "sess-alpha");
    assert!(f.face_other_identity[0].score > 0.99);
    // And the same identity with another face.
    let f = b
        .search(&probe("sess-new", "idkey-2", face.clone(), 10_600))
        .await
        .unwrap();
    assert_eq!(f.identity_other_face.len(), 1);

    // At rest: no session id, identity key or plain embedding bytes in Redis.
    let mut conn = storage.connection();
    let keys = h.keys();
    let records = keys.iter().find(|k| k.ends_with(":records")).unwrap();
    let values: Vec<Vec<u8>> = redis::cmd("HVALS")
        .arg(records)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(values.len(), 2);
    for v in &values {
        let text = String::from_utf8_lossy(v);
        assert!(!text.contains("sess-") && !text.contains("idkey"));
        assert!(
            !v.windows(8)
                .any(|w| w == 0x0123_4567_89AB_CDEFu64.to_le_bytes())
        );
    }

    // Erasure on A is seen by B.
    assert!(a.forget("sess-alpha").await.unwrap());
    let f = b
        .search(&probe("sess-new", "idkey-9", face.clone(), 10_600))
        .await
        .unwrap();
    assert!(f.face_other_identity.is_empty());
    assert_eq!(b.record_count().await.unwrap(), 1);

    // Retention: sess-beta (enrolled at 10 500 s) is gone at 11 600 s.
    assert_eq!(
        b.purge_expired(Timestamp::from_secs(11_600)).await.unwrap(),
        1
    );
    assert_eq!(a.record_count().await.unwrap(), 0);

    // A new worker starting now loads nothing stale.
    let c = RedisFaceIndex::new(&storage, IndexConfig::default());
    assert_eq!(c.record_count().await.unwrap(), 0);
}

on_single_and_cluster!(two_workers_share_one_sealed_index);
