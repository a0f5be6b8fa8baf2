//! The ports: traits the runtime drives and adapters implement.
//!
//! Why they look the way they do:
//! - **One error type, [`PortError`], for every port**, carrying a [`PortErrorKind`] that tells
//!   the runtime whether to retry, back off, or give up. Adapters keep rich errors of their own
//!   and convert at the boundary, so the runtime never matches on a vendor's error.
//! - **Compare-and-set on sessions** ([`SessionStore::save`] with an expected version): two
//!   workers that raced on one conversation cannot both win; the loser reloads and replays.
//! - **Insert-if-absent de-duplication** with a way to take a mark back
//!   ([`Deduplicator::forget`]), so a webhook whose enqueue failed is not silently swallowed.
//! - **De-duplication and enqueue are one call for the webhook** ([`Inbox`]), so a backend
//!   that can do both atomically in one round trip does; [`SplitInbox`] composes the two ports
//!   for the others.
//! - **Leases per conversation** ([`LeaseStore`]) keep one session's events and effects in
//!   order across processes; compare-and-set stays the guard for the session's data.
//! - **Queue deliveries are at-least-once** and carry their attempt count; the transition
//!   function is idempotent per WhatsApp message id, so redelivery is harmless. A worker keeps
//!   a long job by heartbeat ([`JobQueue::extend`]) rather than by a reclaim time longer than
//!   any job, so a dead worker's jobs are still taken over soon.
//! - **Lanes are queues.** Slow work (analyses, registry queries) has a [`JobQueue`] of its
//!   own with its own workers, so the port has no notion of lanes: an adapter offers another
//!   instance (the Redis adapter: another stream sharing the dead letters), and a burst of
//!   photos never waits ahead of a text reply.
//! - **Engines declare capabilities** so a flow that needs something no engine offers fails at
//!   start-up ([`crate::capability`]), not in the middle of a user's onboarding.
//! - Everything is `async` through `async-trait` (object-safe: the runtime holds
//!   `Arc<dyn Port>`), but nothing here depends on an executor.

// The plain data these traits take and return; re-exported so `ports::OutboundBody` and the
// like keep working.
pub use crate::data::{
    DecisionNotice, DocumentImage, DocumentReading, FaceMatchOutcome, ListRow, ListSection,
    LivenessOutcome, MediaBlob, MediaRef, MediaSource, OutboundBody, OutboundMessage,
    RegistryReply, ReplyButton, SentMessage, VisionCapabilities,
};
use crate::evidence::{
    EvidenceKey, RegistryId, RegistryQuery, RegistryResult, VideoChallenge, VideoOutcome,
};
use crate::ids::{PhoneNumberId, SessionKey};
use crate::session::Session;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// How the runtime should treat a failed port call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PortErrorKind {
    /// Compare-and-set lost: reload and try again (not a failure of the backend).
    Conflict,
    /// The thing asked for does not exist (expired media URL, unknown key).
    NotFound,
    /// Backend down, connection refused, 5xx: retry with backoff.
    Unavailable,
    /// No answer in time: retry with backoff.
    Timeout,
    /// Throttled: retry after `retry_after` (or backoff).
    RateLimited,
    /// A bounded resource is full (queue): shed load, tell the caller to come back (503).
    Full,
    /// Credentials rejected: permanent until an operator acts.
    Unauthorized,
    /// The request itself is wrong (too long, bad parameter, wrong type): never retried.
    Invalid,
    /// WhatsApp: the user's 24-hour customer-service window is closed; send a template.
    OutsideWindow,
    /// WhatsApp: the message cannot be delivered to this user.
    Undeliverable,
    /// WhatsApp: the user opted out of the business's marketing messages (131050). Never
    /// retried; the runtime records it on the session, which stops nudging the user.
    OptedOut,
    /// Data failed an integrity check (hash mismatch, bad signature).
    Integrity,
    /// The adapter cannot do this at all (missing capability or asset).
    Unsupported,
    /// Anything else; treated as permanent.
    Internal,
}

impl PortErrorKind {
    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Conflict | Self::Unavailable | Self::Timeout | Self::RateLimited | Self::Full
        )
    }
}

/// The error every port returns. The message must be free of PII and secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct PortError {
    pub kind: PortErrorKind,
    pub message: String,
    /// When the backend said how long to wait.
    pub retry_after: Option<Duration>,
}

impl PortError {
    /// An error of `kind` with a message.
    pub fn new(kind: PortErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
    /// Attach a server-suggested delay.
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }
    /// Shorthand for [`PortErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Conflict, message)
    }
    /// Shorthand for [`PortErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Unavailable, message)
    }
    /// Whether retrying can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// Result alias for port calls.
pub type PortResult<T> = Result<T, PortError>;

// ---------------------------------------------------------------------------------------------
// Storage: sessions, evidence, queue, timers, de-duplication
// ---------------------------------------------------------------------------------------------

/// A stored value and the version the store holds it at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    /// Opaque, strictly increasing per key; starts at 1 on first save.
    pub version: u64,
}

/// Sessions, with optimistic concurrency.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session and its version, or `None` if there is none (or it expired).
    async fn load(&self, key: &SessionKey) -> PortResult<Option<Versioned<Session>>>;
    /// Store `session` if the stored version is `expected` (`None`: only if absent).
    /// Returns the new version; [`PortErrorKind::Conflict`] when someone else saved first.
    /// `ttl` bounds how long an untouched session is kept.
    async fn save(
        &self,
        key: &SessionKey,
        session: &Session,
        expected: Option<u64>,
        ttl: Duration,
    ) -> PortResult<u64>;
    /// Remove a session (deletion on request). Returns whether one existed.
    async fn delete(&self, key: &SessionKey) -> PortResult<bool>;
}

/// Short-lived binary evidence (the card portrait crop) that must not live in the session.
/// Adapters encrypt at rest.
#[async_trait]
pub trait EvidenceStore: Send + Sync + 'static {
    /// Store `bytes` under `key` for at most `ttl`, replacing any previous value.
    async fn put(&self, key: &EvidenceKey, bytes: &[u8], ttl: Duration) -> PortResult<()>;
    /// The bytes, or `None` when absent or expired.
    async fn get(&self, key: &EvidenceKey) -> PortResult<Option<Vec<u8>>>;
    /// Remove; returns whether it existed.
    async fn delete(&self, key: &EvidenceKey) -> PortResult<bool>;
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// What the payload is (`whatsapp.event`, `registry.callback`, `engine.command`, …).
    pub kind: String,
    /// Jobs with the same partition belong to one conversation (a session's storage id);
    /// workers use it to serialize them. No PII.
    pub partition: Option<String>,
    pub payload: Vec<u8>,
}

/// A job handed to a worker. It stays pending until acked; a worker that dies leaves it to be
/// reclaimed by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Queue-assigned id, used to ack.
    pub id: String,
    pub job: NewJob,
    /// 1 on the first delivery.
    pub attempt: u32,
}

/// A durable, at-least-once job queue (Redis Streams consumer groups in production).
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Durably enqueue all of `jobs` or none (returns their ids in order).
    /// [`PortErrorKind::Full`] when the queue is at capacity.
    async fn enqueue(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>>;
    /// Up to `max` jobs for `consumer`, waiting at most `wait` for the first one.
    async fn reserve(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>>;
    /// Done with a delivery.
    async fn ack(&self, delivery_id: &str) -> PortResult<()>;
    /// Give the job back to be delivered again after `delay` with `attempt + 1`; acks this one.
    async fn retry(&self, delivery: &Delivery, delay: Duration) -> PortResult<()>;
    /// Park the job for an operator; acks this one.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> PortResult<()>;
    /// Take over deliveries pending for longer than `min_idle` (their worker died).
    async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> PortResult<Vec<Delivery>>;
    /// Heartbeat: `consumer` is still working on these deliveries, so their idle time starts
    /// again and [`JobQueue::reclaim`] does not hand them to another worker yet. Workers call
    /// it on a timer while a job runs (the engine: every third of its reclaim time), so a job
    /// may run longer than the reclaim time without being run twice, while a dead worker's
    /// deliveries, which nobody extends, are still reclaimed after it.
    ///
    /// Returns, per id and in order, whether `consumer` still held it: `false` when it was
    /// acked, retried or dead-lettered meanwhile, or reclaimed by another consumer after this
    /// one stalled — it is never taken back from that consumer. An unknown id is `false`.
    ///
    /// The default answers [`PortErrorKind::Unsupported`], so adapters written before this
    /// method keep compiling; with it, long jobs rely on the reclaim time alone (a job slower
    /// than that is run twice — harmless, results are idempotent, but wasteful), and the
    /// conformance suite's `queue_extend` check fails until the adapter implements it.
    async fn extend(&self, consumer: &str, delivery_ids: &[String]) -> PortResult<Vec<bool>> {
        let _ = (consumer, delivery_ids);
        Err(PortError::new(
            PortErrorKind::Unsupported,
            "this job queue cannot extend a claim (no heartbeats)",
        ))
    }
}

/// A timer a session asked for (reminder, expiry, registry retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerEntry {
    pub session: SessionKey,
    /// One timer per (session, name); scheduling again replaces it.
    pub name: String,
    pub fire_at: Timestamp,
    /// Echoed back in the event so a timer replaced meanwhile is recognized as stale.
    pub token: u64,
}

/// Durable timers.
#[async_trait]
pub trait TimerStore: Send + Sync + 'static {
    /// Schedule (or replace) the timer `(entry.session, entry.name)`.
    async fn schedule(&self, entry: TimerEntry) -> PortResult<()>;
    /// Cancel; returns whether one was pending.
    async fn cancel(&self, session: &SessionKey, name: &str) -> PortResult<bool>;
    /// Atomically claim up to `max` timers due at `now`; each is returned to one caller only.
    async fn take_due(&self, now: Timestamp, max: usize) -> PortResult<Vec<TimerEntry>>;
}

/// De-duplication of inbound deliveries (Meta retries webhooks).
#[async_trait]
pub trait Deduplicator: Send + Sync + 'static {
    /// Atomically mark `key` as seen for `ttl`. `true` if it was new, `false` if already seen.
    async fn first_seen(&self, key: &str, ttl: Duration) -> PortResult<bool>;
    /// Take a mark back (the work it guarded could not be handed on).
    async fn forget(&self, key: &str) -> PortResult<()>;
}

/// One inbound item for [`Inbox::accept`]: the job, and the key it is de-duplicated on when
/// it has one (an inbound message's id; items without a key are always new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundJob {
    pub dedup_key: Option<String>,
    pub job: NewJob,
}

/// What became of one [`InboundJob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Marked as seen and enqueued under this queue id.
    New(String),
    /// Its key was already seen (before, or earlier in the same call): not enqueued.
    Duplicate,
}

/// De-duplication and enqueue as one step: everything a webhook does with what it received.
///
/// A backend that can do both in one atomic operation (Redis: one script, one round trip)
/// implements it directly; any [`JobQueue`] and [`Deduplicator`] pair gets it from
/// [`SplitInbox`], which marks, enqueues and takes the marks back on failure.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// For each item, in order: one whose key was already seen — or appeared earlier in this
    /// call — is [`Accepted::Duplicate`] and not enqueued; every other one is marked as seen
    /// for `ttl` and enqueued. The new items are marked and enqueued together or not at all:
    /// [`PortErrorKind::Full`] when the queue has no room for all of them, and after any error
    /// no mark of this call is left behind (so the sender's retry is processed, not
    /// swallowed). One mark per key.
    async fn accept(&self, items: Vec<InboundJob>, ttl: Duration) -> PortResult<Vec<Accepted>>;
}

/// The [`Inbox`] of a queue and a de-duplicator that share no transaction: marks first (one
/// call per key), then one enqueue of the new jobs, and the marks taken back when a mark or
/// the enqueue fails. Two round trips or more on a networked backend, and a crash between
/// marking and enqueueing leaves marks without their jobs; a backend that can do both at once
/// implements [`Inbox`] itself.
#[derive(Clone)]
pub struct SplitInbox {
    queue: std::sync::Arc<dyn JobQueue>,
    dedup: std::sync::Arc<dyn Deduplicator>,
}

impl SplitInbox {
    pub fn new(
        queue: std::sync::Arc<dyn JobQueue>,
        dedup: std::sync::Arc<dyn Deduplicator>,
    ) -> Self {
        Self { queue, dedup }
    }

    /// Take back the marks of a call that failed with `e`. A mark that cannot be taken back
    /// makes the sender's retry look like a duplicate, so the error returned says so.
    async fn forget_all(&self, keys: &[&str], mut e: PortError) -> PortError {
        let mut failures = 0usize;
        for k in keys {
            if self.dedup.forget(k).await.is_err() {
                failures += 1;
            }
        }
        if failures > 0 {
            e.message = format!(
                "{}; {failures} de-duplication mark(s) could not be taken back",
                e.message
            );
        }
        e
    }
}

impl std::fmt::Debug for SplitInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitInbox").finish_non_exhaustive()
    }
}

#[async_trait]
impl Inbox for SplitInbox {
    async fn accept(&self, items: Vec<InboundJob>, ttl: Duration) -> PortResult<Vec<Accepted>> {
        let mut marked: Vec<&str> = Vec::new();
        let mut fresh = Vec::with_capacity(items.len());
        let mut failure = None;
        for item in &items {
            let new = match &item.dedup_key {
                None => Ok(true),
                Some(k) => self.dedup.first_seen(k, ttl).await,
            };
            match new {
                Ok(true) => {
                    if let Some(k) = &item.dedup_key {
                        marked.push(k);
                    }
                    fresh.push(true);
                }
                Ok(false) => fresh.push(false),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            return Err(self.forget_all(&marked, e).await);
        }
        let jobs: Vec<NewJob> = items
            .iter()
            .zip(&fresh)
            .filter(|(_, new)| **new)
            .map(|(item, _)| item.job.clone())
            .collect();
        let count = jobs.len();
        let ids = if jobs.is_empty() {
            Vec::new()
        } else {
            match self.queue.enqueue(jobs).await {
                Ok(ids) if ids.len() == count => ids,
                Ok(_) => {
                    let e = PortError::new(
                        PortErrorKind::Internal,
                        "the queue returned another number of ids than jobs",
                    );
                    return Err(self.forget_all(&marked, e).await);
                }
                Err(e) => return Err(self.forget_all(&marked, e).await),
            }
        };
        let mut ids = ids.into_iter();
        Ok(fresh
            .into_iter()
            .map(|new| {
                if new {
                    Accepted::New(ids.next().unwrap_or_default())
                } else {
                    Accepted::Duplicate
                }
            })
            .collect())
    }
}

/// Leases: a named, expiring, owned lock shared by every process on the same backend. The
/// engine holds one per conversation while it applies an event and executes the session's
/// outbox, so one conversation's events and effects never run concurrently, across processes.
///
/// A lease expires by itself (a crashed holder cannot block a conversation for long); a long
/// holder keeps it by renewing it. Only the owner can renew or release it.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Take `name` for `owner` for `ttl`. `true` when `owner` now holds it (it was free,
    /// expired, or already `owner`'s — then it is extended), `false` when another holds it.
    async fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool>;
    /// Extend `owner`'s lease to `ttl` from now. `false` when `owner` no longer holds it.
    async fn renew(&self, name: &str, owner: &str, ttl: Duration) -> PortResult<bool>;
    /// Give the lease up if `owner` holds it (a no-op otherwise).
    async fn release(&self, name: &str, owner: &str) -> PortResult<()>;
}

/// A session waiting for a person's decision: filed when a session is decided
/// [`crate::Decision::ManualReview`], closed when a reviewer (or an erasure) resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCase {
    /// The session's opaque keyed id (`SessionIdSecret::session_id` of `key`): names the case
    /// in URLs, logs and audit lines. No PII.
    pub id: String,
    /// Whose session it is (PII: adapters seal it at rest; `Debug` redacts the user).
    pub key: SessionKey,
    /// When the session was sent to review (its decision time), on the engine's clock.
    pub queued_at: Timestamp,
    /// Why it went to review.
    pub reasons: Vec<crate::data::DecisionReason>,
}

/// The cases awaiting manual review: the listing the [`SessionStore`] does not have.
///
/// The runtime files a case in the same outbox step that hands the review decision to the bank
/// (before that command leaves the outbox) and closes it in the step that hands over the
/// reviewer's decision, so a crash repeats the step rather than losing or leaving a case:
/// `open` and `close` must therefore be idempotent.
#[async_trait]
pub trait ReviewQueue: Send + Sync + 'static {
    /// File `case`, replacing any case with the same id (idempotent).
    async fn open(&self, case: &ReviewCase) -> PortResult<()>;
    /// Remove case `id`. Returns whether one was open (closing twice is not an error).
    async fn close(&self, id: &str) -> PortResult<bool>;
    /// Case `id`, if open.
    async fn get(&self, id: &str) -> PortResult<Option<ReviewCase>>;
    /// Up to `limit` open cases after skipping `offset`, oldest first (`queued_at`, then id).
    async fn list(&self, offset: usize, limit: usize) -> PortResult<Vec<ReviewCase>>;
    /// How many cases are open.
    async fn count(&self) -> PortResult<usize>;
}

// ---------------------------------------------------------------------------------------------
// Messaging: transport and media
// ---------------------------------------------------------------------------------------------

/// Sends messages to users.
#[async_trait]
pub trait MessageTransport: Send + Sync + 'static {
    /// Send one message. [`PortErrorKind::OutsideWindow`] means: send a template instead.
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage>;
    /// Mark an inbound message as read (and show a typing indicator if `typing`).
    async fn mark_read(
        &self,
        from: &PhoneNumberId,
        message_id: &str,
        typing: bool,
    ) -> PortResult<()>;
}

/// Downloads (and deletes) inbound media.
#[async_trait]
pub trait MediaFetcher: Send + Sync + 'static {
    /// Download, verify size, hash and type.
    async fn fetch(&self, media: &MediaRef) -> PortResult<MediaBlob>;
    /// Delete the media from the platform once processed, where the platform allows it.
    async fn delete(&self, media: &MediaRef) -> PortResult<()>;
}

// ---------------------------------------------------------------------------------------------
// Vision
// ---------------------------------------------------------------------------------------------

/// Reads a photo of one side of an ID document.
#[async_trait]
pub trait DocumentReader: Send + Sync + 'static {
    /// What this reader supports.
    fn capabilities(&self) -> VisionCapabilities;
    /// Quality gate, barcodes, OCR, extraction and cross-checks. A bad photo is an
    /// `Ok` with [`DocumentOutcome::Retake`]; `Err` is reserved for engine failures.
    async fn read(&self, image: DocumentImage<'_>) -> PortResult<DocumentReading>;
}

/// Compares the selfie with the card portrait (1:1).
#[async_trait]
pub trait FaceMatcher: Send + Sync + 'static {
    fn capabilities(&self) -> VisionCapabilities;
    async fn compare(&self, selfie: &[u8], portrait: &[u8]) -> PortResult<FaceMatchOutcome>;
}

/// Presentation-attack detection on the selfie.
#[async_trait]
pub trait LivenessChecker: Send + Sync + 'static {
    fn capabilities(&self) -> VisionCapabilities;
    async fn check(&self, selfie: &[u8]) -> PortResult<LivenessOutcome>;
}

/// Judges a WhatsApp video note for liveness (the optional `video_liveness` step).
///
/// One call takes the whole clip and answers with a verdict in the core's vocabulary, not
/// frames: demuxing and decoding are the adapter's business (and its limits — size, duration,
/// pixels — are checked before any decoding), and the session never holds a frame. A clip the
/// user can record again (no face, no head turn, a screen replay, a file that is not a
/// readable video, one too long) is an `Ok` with [`VideoOutcome::Retake`]; `Err` is reserved
/// for engine failures, as for the other vision ports.
#[async_trait]
pub trait VideoLivenessChecker: Send + Sync + 'static {
    /// What this checker offers (`video_liveness`).
    fn capabilities(&self) -> VisionCapabilities;
    /// Analyse `video` (the downloaded bytes, MP4) for `challenge`; `portrait` is the card
    /// portrait crop when the session has one.
    async fn check_video(
        &self,
        video: &[u8],
        challenge: VideoChallenge,
        portrait: Option<&[u8]>,
    ) -> PortResult<VideoOutcome>;
}

// ---------------------------------------------------------------------------------------------
// Registries
// ---------------------------------------------------------------------------------------------

/// Asks a national registry.
#[async_trait]
pub trait RegistryClient: Send + Sync + 'static {
    /// Registries this client can reach.
    fn registries(&self) -> Vec<RegistryId>;
    /// Ask. Timeouts and outages are `Err` with a retryable kind; they are never a negative
    /// answer.
    async fn query(&self, query: &RegistryQuery) -> PortResult<RegistryReply>;
}

/// Receives asynchronous registry answers (the runtime implements it; the registry adapter's
/// callback endpoint calls it after verifying the gateway's signature).
#[async_trait]
pub trait RegistryCallbackHandler: Send + Sync + 'static {
    /// `Ok` once the answer is durably handed on. [`PortErrorKind::NotFound`] for an unknown
    /// correlation id.
    async fn on_result(&self, correlation_id: &str, result: RegistryResult) -> PortResult<()>;
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/// Where decisions go (a signed webhook to the bank, a channel in-process, …).
#[async_trait]
pub trait DecisionSink: Send + Sync + 'static {
    async fn deliver(&self, notice: &DecisionNotice) -> PortResult<()>;
}
