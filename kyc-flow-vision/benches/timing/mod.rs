//! Timing for the benches that print tables (`selfie`, `video`): warm-up runs, then timed runs,
//! summarised as median, 95th percentile and minimum in milliseconds.

use std::time::{Duration, Instant};

pub struct Stats {
    pub median: f64,
    pub p95: f64,
    pub min: f64,
}

pub fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let idx95 = ((samples.len() as f64 * 0.95).ceil() as usize).clamp(1, samples.len()) - 1;
    Stats {
        median: ms(samples[samples.len() / 2]),
        p95: ms(samples[idx95]),
        min: ms(samples[0]),
    }
}

/// `warmup` untimed calls of `f`, then `runs` timed ones.
pub fn time<T>(warmup: usize, runs: usize, mut f: impl FnMut() -> T) -> Stats {
    for _ in 0..warmup {
        std::hint::black_box(f());
    }
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    stats(samples)
}
