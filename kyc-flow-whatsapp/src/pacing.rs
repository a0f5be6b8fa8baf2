//! Outbound pacing per business number: sends wait for their slot instead of failing.
//!
//! Meta caps how many messages one business number may send per second (80 by default, up
//! to 1,000 for upgraded numbers) and answers the excess with error 130429; a user receiving
//! messages too fast gets error 131056 (the pair rate limit). The [`Pacer`] spaces one
//! process's sends to a number evenly at `max_sends_per_second`, so a burst of conversations
//! queues here — each send waits for its slot — rather than failing at Meta and being retried.
//! The pair limit needs no pacer of its own: one conversation sends a message or two per turn,
//! far below it; should Meta still answer 131056, the client backs off and the job retry
//! honours `Retry-After` (`GraphClient::call`).
//!
//! The pace is per process: with several worker processes sharing a number, give each
//! `limit / processes`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Even spacing of sends per business number (one slot every `1 / rate` seconds).
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    /// The next free slot per business number id.
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// At most `per_second` sends per second to each number; 0 does not pace.
    pub fn new(per_second: u32) -> Self {
        Self {
            interval: (per_second > 0).then(|| Duration::from_secs(1) / per_second),
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for `number`'s next slot and take it; returns how long it waited.
    pub async fn wait(&self, number: &str) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let free = next.entry(number.to_owned()).or_insert(now);
            let slot = (*free).max(now);
            *free = slot + interval;
            slot
        };
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// On tokio's paused clock: virtual time, no wall-clock assertion.
    #[tokio::test(start_paused = true)]
    async fn sends_to_one_number_are_spaced_and_numbers_do_not_wait_for_each_other() {
        let pacer = Arc::new(Pacer::new(5));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                p.wait("num-a").await;
                Instant::now()
            }));
        }
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap() - start);
        }
        at.sort();
        // Ten sends at five per second: slots at 0, 200, …, 1,800 ms.
        assert_eq!(at.first(), Some(&Duration::ZERO));
        assert_eq!(at.last(), Some(&Duration::from_millis(1800)));
        for w in at.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(200));
        }
        // Another number is not behind the first one's queue.
        assert_eq!(pacer.wait("num-b").await, Duration::ZERO);
        // Idle time is not saved up as a burst: after a pause, slots are spaced again.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(pacer.wait("num-a").await, Duration::ZERO);
        assert_eq!(pacer.wait("num-a").await, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_does_not_pace() {
        let pacer = Pacer::new(0);
        for _ in 0..100 {
            assert_eq!(pacer.wait("n").await, Duration::ZERO);
        }
    }
}
