//! 1:N face index benchmark: search time, false-match rate and recall of the compact scan
//! (`kyc_flow_core::face_index`) at 100 k and 1 M synthetic 512-d embeddings, one thread.
//!
//! Run: `cargo bench -p kyc-flow-vision --bench face_index [-- SIZES]` (default `100000
//! 1000000`). Prints a table for `docs/VISION.md`.
//!
//! The embeddings are synthetic: Gaussian with a decaying spectrum (component `i` has standard
//! deviation `exp(-i/256)`), so two unrelated faces have cosine ≈ 0 ± 0.06, about the spread
//! measured between different people with the local model. A genuine probe is an enrolled
//! face plus independent noise of the same distribution (cosine 0.53–0.93 to its original).
//! Real face embeddings are not Gaussian; the false-match figures say what the scan does, not
//! what a population of real faces would do.

use kyc_flow_core::Timestamp;
use kyc_flow_core::face_index::{FaceRecord, FaceTable, IndexConfig, RepeatProbe};
use std::time::Instant;

const DIM: usize = 512;
const GENUINE: usize = 100;
const IMPOSTOR: usize = 200;

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately standard normal (Irwin–Hall of 4 uniforms).
    fn normal(&mut self) -> f32 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2.0) * 1.732
    }
}

fn raw(seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..DIM)
        .map(|i| r.normal() * (-(i as f32) / 256.0).exp())
        .collect()
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn face(i: u64) -> Vec<f32> {
    unit(raw(i))
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    println!(
        "| faces | mode | search median / p95 ms | genuine found | impostor probes with a hit | max quantisation error | index memory |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        let t = Instant::now();
        let config = IndexConfig {
            capacity: n + 1,
            ..IndexConfig::default()
        };
        let mut table = FaceTable::new(config.clone());
        for i in 0..n as u64 {
            table
                .insert(&FaceRecord {
                    session_id: format!("s{i}"),
                    identity: Some(format!("id{i}")),
                    embedding: face(i),
                    image_hashes: vec![],
                    enrolled_at: Timestamp::from_secs(1_000),
                })
                .unwrap();
        }
        eprintln!("built {n} in {:.1} s", t.elapsed().as_secs_f64());
        let mut rng = Rng::new(42);
        let mut probes = Vec::new();
        for k in 0..GENUINE {
            let j = (rng.uniform() * n as f32) as u64 % n as u64;
            // Noise of norm `alpha` around a unit face: cosine ≈ 1/sqrt(1 + alpha²).
            let alpha = 0.4 + 1.2 * (k as f32 / GENUINE as f32);
            let noise = face(10_000_000 + k as u64);
            let orig = face(j);
            let v = unit(
                orig.iter()
                    .zip(&noise)
                    .map(|(o, e)| o + alpha * e)
                    .collect(),
            );
            probes.push((Some(j), cos(&orig, &v), v));
        }
        for k in 0..IMPOSTOR {
            probes.push((None, 0.0, face(20_000_000 + k as u64)));
        }
        for (mode, sigmas) in [("sign-bit prefilter + i8", 4.0f32), ("full i8 scan", 0.0)] {
            let mut cfg = config.clone();
            cfg.prefilter_sigmas = sigmas;
            // Same rows, another search configuration.
            let table = table_with(&mut table, cfg);
            let (mut times, mut found, mut expected, mut impostor_hits, mut max_err) =
                (Vec::new(), 0, 0, 0, 0f32);
            for (who, true_cos, v) in &probes {
                let probe = RepeatProbe {
                    session_id: "probe".into(),
                    identity: Some("probe-id".into()),
                    embedding: v.clone(),
                    image_hashes: vec![],
                    now: Timestamp::from_secs(2_000),
                };
                let t = Instant::now();
                let f = table.search(&probe);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                match who {
                    Some(j) => {
                        let want = format!("s{j}");
                        let hit = f.face_other_identity.iter().find(|h| h.session_id == want);
                        if *true_cos >= table.config().min_face_similarity {
                            expected += 1;
                            found += usize::from(hit.is_some());
                        }
                        if let Some(h) = hit {
                            max_err = max_err.max((h.score - true_cos).abs());
                        }
                    }
                    None => impostor_hits += usize::from(!f.face_other_identity.is_empty()),
                }
            }
            println!(
                "| {n} | {mode} | {:.1} / {:.1} | {found}/{expected} | {impostor_hits}/{IMPOSTOR} | {max_err:.4} | {:.0} MiB |",
                percentile(times.clone(), 0.5),
                percentile(times, 0.95),
                table.embedding_bytes() as f64 / (1024.0 * 1024.0)
            );
        }
    }
    println!(
        "\nthreshold: cosine {:.2}; genuine probes: enrolled face + noise, true cosine 0.53–0.93; impostors: new synthetic faces",
        IndexConfig::default().min_face_similarity
    );
}

/// Swaps the table's configuration without rebuilding its rows.
fn table_with(table: &mut FaceTable, config: IndexConfig) -> &FaceTable {
    table.set_config(config);
    table
}
