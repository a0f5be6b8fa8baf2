//! Repeat faces, documents and images across sessions (1:N): the [`FaceIndex`] port, the
//! compact search structure every adapter shares ([`QuantizedFaces`]), and the in-process
//! adapter ([`InMemoryFaceIndex`]).
//!
//! Why it looks like this:
//! - **What is stored** is a [`FaceRecord`] per verified session: the face embedding, an opaque
//!   `identity` (a keyed hash of the document number / CURP, computed by the caller — never the
//!   number itself), the perceptual hashes of the images the user sent, and when. Names and
//!   numbers never enter the index; the embedding is biometric data and is never logged
//!   (`Debug` prints sizes only) and, in the Redis adapter, is encrypted at rest.
//! - **Retention** is part of the port: every record expires `retention` after enrolment;
//!   searches ignore expired records and `purge_expired` deletes them.
//! - **One search answers three questions** (a [`RepeatProbe`] in, [`RepeatFindings`] out): the
//!   same face under another identity, the same identity with another face, the same image
//!   resubmitted. Findings become risk codes ([`RepeatFindings::risk_signals`]); a flow maps them
//!   to review or reject (`crate::risk`). A repeat is evidence for a human, not proof: twins
//!   exist, and at a million faces even a small per-comparison false-match rate adds up.
//! - **Search is an exact scan over a compact copy**: embeddings quantised to `i8` with one
//!   scale per face (512 bytes for a 512-d face instead of 2 KiB) and, as a first stage, one sign
//!   bit per dimension (64 bytes). The sign-bit Hamming distance pre-selects candidates with a
//!   cut derived from the similarity threshold; candidates are re-scored on the `i8` codes.
//!   Accuracy cost and speed at 100 k / 1 M faces are measured by the `face_index` bench of
//!   `kyc-flow-vision` and written in `docs/VISION.md`.
//! - **What turns photos into probes** is a port too ([`RepeatFeatures`]): the engine
//!   (`kyc-flow/src/repeats.rs`) searches at the selfie job, enrols at the decision, forgets on
//!   erasure requests, and stays free of the vision crate.

use crate::ports::PortResult;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// One verified session's face, identity and images.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Opaque session id (never a phone number).
    pub session_id: String,
    /// Keyed hash of the document number / CURP; `None` when the flow had no document number.
    pub identity: Option<String>,
    /// The L2-normalised face embedding.
    pub embedding: Vec<f32>,
    /// 64-bit perceptual hashes of the images of this session (selfie, card sides).
    pub image_hashes: Vec<u64>,
    pub enrolled_at: Timestamp,
}

impl std::fmt::Debug for FaceRecord {
    // Biometric data and identity keys are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceRecord")
            .field("embedding_dim", &self.embedding.len())
            .field("has_identity", &self.identity.is_some())
            .field("image_hashes", &self.image_hashes.len())
            .field("enrolled_at", &self.enrolled_at)
            .finish()
    }
}

/// What a new session presents.
#[derive(Clone, PartialEq)]
pub struct RepeatProbe {
    pub session_id: String,
    pub identity: Option<String>,
    pub embedding: Vec<f32>,
    pub image_hashes: Vec<u64>,
    pub now: Timestamp,
}

impl std::fmt::Debug for RepeatProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepeatProbe")
            .field("embedding_dim", &self.embedding.len())
            .field("has_identity", &self.identity.is_some())
            .field("image_hashes", &self.image_hashes.len())
            .finish()
    }
}

/// One earlier session that the probe repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatHit {
    pub session_id: String,
    /// Cosine similarity for faces, Hamming distance (0–64) for images.
    pub score: f32,
}

/// What the search found; each list is sorted best first and bounded by
/// [`IndexConfig::max_hits`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepeatFindings {
    /// Sessions whose face matches the probe's but whose identity differs (or is unknown).
    pub face_other_identity: Vec<RepeatHit>,
    /// Sessions with the probe's identity whose face does *not* match the probe's.
    pub identity_other_face: Vec<RepeatHit>,
    /// Sessions that sent a near-identical image.
    pub image_resubmitted: Vec<RepeatHit>,
}

impl RepeatFindings {
    /// True when nothing repeats.
    pub fn is_empty(&self) -> bool {
        self.face_other_identity.is_empty()
            && self.identity_other_face.is_empty()
            && self.image_resubmitted.is_empty()
    }

    /// The findings as risk codes (best score as the signal's score; no ids in the detail).
    pub fn risk_signals(&self) -> Vec<crate::risk::RiskSignal> {
        use crate::risk::{RiskCode, RiskSignal};
        let mut out = Vec::new();
        let mut push = |hits: &[RepeatHit], code: RiskCode| {
            if let Some(best) = hits.first() {
                out.push(
                    RiskSignal::new(code)
                        .with_score(best.score)
                        .with_detail(format!("{} earlier session(s)", hits.len())),
                );
            }
        };
        push(
            &self.face_other_identity,
            RiskCode::FaceSeenUnderOtherIdentity,
        );
        push(
            &self.identity_other_face,
            RiskCode::DocumentSeenWithOtherFace,
        );
        push(&self.image_resubmitted, RiskCode::ImageResubmitted);
        out
    }
}

/// Thresholds and limits of an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexConfig {
    /// Embedding dimension (512 for the local engine).
    pub dim: usize,
    /// Cosine from which two faces are "the same" in 1:N. Higher than the 1:1 threshold (0.40):
    /// one search makes N comparisons, so the per-comparison false-match rate must be N times
    /// smaller for the same false-alarm rate per search.
    pub min_face_similarity: f32,
    /// Below this cosine, the same identity's earlier face is "another face". Lower than the
    /// 1:1 threshold so a poor selfie of the same person does not raise it.
    pub other_face_below: f32,
    /// Hamming distance (of 64 bits) up to which two perceptual hashes are the same image.
    pub max_image_distance: u32,
    /// Records expire this many seconds after enrolment (default 180 days).
    pub retention_secs: u64,
    /// At most this many hits per list.
    pub max_hits: usize,
    /// Faces are pre-selected on sign bits with a Hamming cut this many standard deviations
    /// above the expected distance at `min_face_similarity`; 0 disables the first stage (full
    /// `i8` scan).
    pub prefilter_sigmas: f32,
    /// Most records an index holds; enrolment beyond it is refused (the scan's stated limit).
    pub capacity: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            dim: 512,
            min_face_similarity: 0.50,
            other_face_below: 0.30,
            max_image_distance: 8,
            retention_secs: 180 * 24 * 3600,
            max_hits: 10,
            prefilter_sigmas: 4.0,
            capacity: 2_000_000,
        }
    }
}

impl IndexConfig {
    /// Sign-bit Hamming cut for the first stage: for two vectors at cosine `c`, each sign bit
    /// differs with probability `acos(c)/π` (exact for sign-random projections, measured close
    /// for embedding coordinates in the bench); the cut adds `prefilter_sigmas` binomial
    /// standard deviations.
    pub fn hamming_cut(&self) -> Option<u32> {
        if self.prefilter_sigmas <= 0.0 {
            return None;
        }
        let n = self.dim as f32;
        let p = self.min_face_similarity.clamp(-1.0, 1.0).acos() / std::f32::consts::PI;
        let cut = n * p + self.prefilter_sigmas * (n * p * (1.0 - p)).sqrt();
        Some(cut.ceil().min(n) as u32)
    }
}

/// What the 1:N search needs from the selfie: its face embedding and its perceptual hash.
/// `Debug` prints sizes only.
#[derive(Clone, PartialEq)]
pub struct SelfieFeatures {
    /// The L2-normalised embedding, in the index's dimension.
    pub embedding: Vec<f32>,
    /// 64-bit perceptual hash of the whole photo.
    pub image_hash: u64,
}

impl std::fmt::Debug for SelfieFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfieFeatures")
            .field("embedding_dim", &self.embedding.len())
            .finish_non_exhaustive()
    }
}

/// The port that turns images into what a [`FaceIndex`] compares: a face embedding for the
/// selfie, a perceptual hash for any photo (card sides too).
///
/// Why a port of its own rather than a field of the face matcher's answer: the 1:1 outcome is
/// stored in the session's event log, and an embedding (biometric data) must not be; and a
/// vendor face engine compares faces without handing out embeddings, so a deployment on a
/// vendor has no 1:N face search at all (it can still run the image checks with a local
/// hasher). The local adapter is `kyc_flow_vision::repeat::LocalRepeatFeatures`.
#[async_trait]
pub trait RepeatFeatures: Send + Sync + 'static {
    /// The selfie's features; `None` when it shows no usable face.
    async fn selfie(&self, image: &[u8]) -> PortResult<Option<SelfieFeatures>>;
    /// A photo's perceptual hash; `None` when it does not decode.
    async fn image_hash(&self, image: &[u8]) -> PortResult<Option<u64>>;
}

/// The port. Adapters: [`InMemoryFaceIndex`] here, `RedisFaceIndex` in `kyc-flow-redis`.
#[async_trait]
pub trait FaceIndex: Send + Sync + 'static {
    /// How long a record is kept after enrolment (the index's `retention_secs`).
    fn retention(&self) -> std::time::Duration;
    /// Repeats of `probe` among unexpired records of other sessions.
    async fn search(&self, probe: &RepeatProbe) -> PortResult<RepeatFindings>;
    /// Adds (or replaces, by session id) a record.
    async fn enroll(&self, record: FaceRecord) -> PortResult<()>;
    /// Deletes a session's record (erasure request). True when there was one.
    async fn forget(&self, session_id: &str) -> PortResult<bool>;
    /// Deletes records older than the retention; returns how many.
    async fn purge_expired(&self, now: Timestamp) -> PortResult<usize>;
    /// Records held (expired ones not yet purged included).
    async fn record_count(&self) -> PortResult<usize>;
}

/// Embeddings in compact form: `i8` codes with one scale per face, and sign bits.
#[derive(Clone, Default)]
pub struct QuantizedFaces {
    dim: usize,
    words: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    signs: Vec<u64>,
}

impl std::fmt::Debug for QuantizedFaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuantizedFaces(n={}, dim={})", self.len(), self.dim)
    }
}

/// A probe in the same compact form.
#[derive(Clone)]
pub struct QuantizedProbe {
    code: Vec<i8>,
    scale: f32,
    signs: Vec<u64>,
}

impl std::fmt::Debug for QuantizedProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuantizedProbe(dim={})", self.code.len())
    }
}

/// `i8` code and scale of a vector: `v ≈ scale · code`, the largest component at ±127.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    (
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect(),
        scale,
    )
}

fn sign_bits(v: &[f32], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

/// Integer dot product; written so the compiler vectorises it (i16 products summed in i32).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let chunks = a.len() / 16;
    for c in 0..chunks {
        let (x, y) = (&a[c * 16..c * 16 + 16], &b[c * 16..c * 16 + 16]);
        for k in 0..16 {
            acc[k] += i32::from(x[k]) * i32::from(y[k]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for k in chunks * 16..a.len() {
        sum += i32::from(a[k]) * i32::from(b[k]);
    }
    sum
}

impl QuantizedFaces {
    /// An empty set of `dim`-dimensional faces.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            words: dim.div_ceil(64),
            ..Self::default()
        }
    }

    /// Faces held.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Bytes used by the codes, scales and sign bits.
    pub fn bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * 4 + self.signs.len() * 8
    }

    /// The probe form of `v` (same dimension).
    pub fn probe(&self, v: &[f32]) -> QuantizedProbe {
        let (code, scale) = quantize(v);
        QuantizedProbe {
            code,
            scale,
            signs: sign_bits(v, self.words),
        }
    }

    /// Appends a face; its row is `len() - 1`. `v` must have the set's dimension.
    pub fn push(&mut self, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        let (code, scale) = quantize(v);
        self.codes.extend_from_slice(&code);
        self.scales.push(scale);
        self.signs.extend_from_slice(&sign_bits(v, self.words));
    }

    /// Removes row `i`, moving the last row into its place (like `Vec::swap_remove`).
    pub fn swap_remove(&mut self, i: usize) {
        let last = self.len() - 1;
        if i != last {
            let (d, w) = (self.dim, self.words);
            self.codes.copy_within(last * d..(last + 1) * d, i * d);
            self.signs.copy_within(last * w..(last + 1) * w, i * w);
            self.scales[i] = self.scales[last];
        }
        self.codes.truncate(last * self.dim);
        self.signs.truncate(last * self.words);
        self.scales.pop();
    }

    /// Approximate cosine of row `i` with the probe (both unit length).
    pub fn similarity(&self, i: usize, p: &QuantizedProbe) -> f32 {
        let code = &self.codes[i * self.dim..(i + 1) * self.dim];
        dot_i8(code, &p.code) as f32 * self.scales[i] * p.scale
    }

    /// Sign-bit Hamming distance of row `i` to the probe.
    pub fn hamming(&self, i: usize, p: &QuantizedProbe) -> u32 {
        self.signs[i * self.words..(i + 1) * self.words]
            .iter()
            .zip(&p.signs)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// Rows with similarity ≥ `min_sim`, as `(row, similarity)`; with `hamming_cut`, only rows
    /// within that sign-bit distance are scored. `keep(row)` filters rows (expired, same
    /// session).
    pub fn scan(
        &self,
        p: &QuantizedProbe,
        min_sim: f32,
        hamming_cut: Option<u32>,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let mut out = Vec::new();
        match hamming_cut {
            Some(cut) => {
                let w = self.words;
                for (i, row) in self.signs.chunks_exact(w).enumerate() {
                    let h: u32 = row
                        .iter()
                        .zip(&p.signs)
                        .map(|(a, b)| (a ^ b).count_ones())
                        .sum();
                    if h <= cut && keep(i) {
                        let s = self.similarity(i, p);
                        if s >= min_sim {
                            out.push((i, s));
                        }
                    }
                }
            }
            None => {
                for i in 0..self.len() {
                    let s = self.similarity(i, p);
                    if s >= min_sim && keep(i) {
                        out.push((i, s));
                    }
                }
            }
        }
        out
    }
}

/// The records' metadata, row-aligned with a [`QuantizedFaces`]: the search both adapters run.
#[derive(Debug, Default)]
pub struct FaceTable {
    config: IndexConfig,
    faces: QuantizedFaces,
    meta: Vec<RowMeta>,
    rows: HashMap<String, usize>,
    by_identity: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
struct RowMeta {
    session_id: String,
    identity: Option<String>,
    image_hashes: Vec<u64>,
    enrolled_at: Timestamp,
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    #[error("embedding has {got} dimensions, the index {want}")]
    Dimension { got: usize, want: usize },
    #[error("embedding is not finite or not unit length")]
    NotNormalized,
    #[error("the index is full ({0} records)")]
    Full(usize),
}

impl FaceTable {
    /// An empty table.
    pub fn new(config: IndexConfig) -> Self {
        Self {
            faces: QuantizedFaces::new(config.dim),
            config,
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// True when the session has a record.
    pub fn contains(&self, session_id: &str) -> bool {
        self.rows.contains_key(session_id)
    }

    /// Replaces the thresholds and limits; the dimension stays the table's.
    pub fn set_config(&mut self, config: IndexConfig) {
        let dim = self.config.dim;
        self.config = IndexConfig { dim, ..config };
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Bytes of the compact embeddings.
    pub fn embedding_bytes(&self) -> usize {
        self.faces.bytes()
    }

    /// Adds or replaces a record.
    pub fn insert(&mut self, r: &FaceRecord) -> Result<(), EnrollError> {
        if r.embedding.len() != self.config.dim {
            return Err(EnrollError::Dimension {
                got: r.embedding.len(),
                want: self.config.dim,
            });
        }
        let norm: f32 = r.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !norm.is_finite() || (norm - 1.0).abs() > 1e-2 {
            return Err(EnrollError::NotNormalized);
        }
        self.remove(&r.session_id);
        if self.len() >= self.config.capacity {
            return Err(EnrollError::Full(self.config.capacity));
        }
        self.faces.push(&r.embedding);
        self.rows.insert(r.session_id.clone(), self.meta.len());
        if let Some(id) = &r.identity {
            self.by_identity
                .entry(id.clone())
                .or_default()
                .push(r.session_id.clone());
        }
        self.meta.push(RowMeta {
            session_id: r.session_id.clone(),
            identity: r.identity.clone(),
            image_hashes: r.image_hashes.clone(),
            enrolled_at: r.enrolled_at,
        });
        Ok(())
    }

    /// Removes a session's record; true when there was one.
    pub fn remove(&mut self, session_id: &str) -> bool {
        let Some(row) = self.rows.remove(session_id) else {
            return false;
        };
        let gone = self.meta.swap_remove(row);
        self.faces.swap_remove(row);
        if let Some(moved) = self.meta.get(row) {
            self.rows.insert(moved.session_id.clone(), row);
        }
        if let Some(id) = gone.identity
            && let Some(list) = self.by_identity.get_mut(&id)
        {
            list.retain(|s| s != session_id);
            if list.is_empty() {
                self.by_identity.remove(&id);
            }
        }
        true
    }

    /// Session ids of records enrolled before `now − retention`.
    pub fn expired(&self, now: Timestamp) -> Vec<String> {
        let cutoff = Timestamp(
            now.0
                .saturating_sub((self.config.retention_secs as i64).saturating_mul(1000)),
        );
        self.meta
            .iter()
            .filter(|m| m.enrolled_at < cutoff)
            .map(|m| m.session_id.clone())
            .collect()
    }

    /// The search (see [`FaceIndex::search`]).
    pub fn search(&self, probe: &RepeatProbe) -> RepeatFindings {
        let c = &self.config;
        let cutoff = Timestamp(
            probe
                .now
                .0
                .saturating_sub((c.retention_secs as i64).saturating_mul(1000)),
        );
        let live = |row: usize| {
            let m = &self.meta[row];
            m.enrolled_at >= cutoff && m.session_id != probe.session_id
        };
        let mut findings = RepeatFindings::default();
        if probe.embedding.len() == c.dim {
            let p = self.faces.probe(&probe.embedding);
            let same_identity =
                |row: usize| probe.identity.is_some() && self.meta[row].identity == probe.identity;
            let hits = self
                .faces
                .scan(&p, c.min_face_similarity, c.hamming_cut(), |row| {
                    live(row) && !same_identity(row)
                });
            findings.face_other_identity = top(
                hits.into_iter()
                    .map(|(row, s)| (self.meta[row].session_id.clone(), s))
                    .collect(),
                c.max_hits,
                true,
            );
            if let Some(id) = &probe.identity {
                let others = self.by_identity.get(id).into_iter().flatten();
                let hits = others
                    .filter_map(|sid| self.rows.get(sid).copied())
                    .filter(|&row| live(row))
                    .map(|row| (row, self.faces.similarity(row, &p)))
                    .filter(|(_, s)| *s < c.other_face_below)
                    .map(|(row, s)| (self.meta[row].session_id.clone(), s))
                    .collect();
                // Lowest similarity first: the most different face is the strongest sign.
                findings.identity_other_face = top(hits, c.max_hits, false);
            }
        }
        if !probe.image_hashes.is_empty() {
            let mut hits = Vec::new();
            for (row, m) in self.meta.iter().enumerate() {
                let best = m
                    .image_hashes
                    .iter()
                    .flat_map(|h| probe.image_hashes.iter().map(move |q| (h ^ q).count_ones()))
                    .min();
                if let Some(d) = best
                    && d <= c.max_image_distance
                    && live(row)
                {
                    hits.push((m.session_id.clone(), d as f32));
                }
            }
            findings.image_resubmitted = top(hits, c.max_hits, false);
        }
        findings
    }
}

fn top(mut hits: Vec<(String, f32)>, n: usize, highest_first: bool) -> Vec<RepeatHit> {
    hits.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        (if highest_first { o.reverse() } else { o }).then_with(|| a.0.cmp(&b.0))
    });
    hits.truncate(n);
    hits.into_iter()
        .map(|(session_id, score)| RepeatHit { session_id, score })
        .collect()
}

/// The in-process index (the embedded default): a [`FaceTable`] behind a lock. Holds
/// embeddings in memory only; nothing is written to disk, so there is nothing at rest to
/// encrypt (the Redis adapter encrypts what it stores).
#[derive(Debug)]
pub struct InMemoryFaceIndex {
    table: RwLock<FaceTable>,
}

impl InMemoryFaceIndex {
    /// An empty index.
    pub fn new(config: IndexConfig) -> Self {
        Self {
            table: RwLock::new(FaceTable::new(config)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FaceTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FaceTable> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for InMemoryFaceIndex {
    fn default() -> Self {
        Self::new(IndexConfig::default())
    }
}

#[async_trait]
impl FaceIndex for InMemoryFaceIndex {
    fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.read().config().retention_secs)
    }

    async fn search(&self, probe: &RepeatProbe) -> PortResult<RepeatFindings> {
        Ok(self.read().search(probe))
    }

    async fn enroll(&self, record: FaceRecord) -> PortResult<()> {
        self.write().insert(&record).map_err(|e| {
            crate::ports::PortError::new(crate::ports::PortErrorKind::Invalid, e.to_string())
        })
    }

    async fn forget(&self, session_id: &str) -> PortResult<bool> {
        Ok(self.write().remove(session_id))
    }

    async fn purge_expired(&self, now: Timestamp) -> PortResult<usize> {
        let mut t = self.write();
        let gone = t.expired(now);
        for s in &gone {
            t.remove(s);
        }
        Ok(gone.len())
    }

    async fn record_count(&self) -> PortResult<usize> {
        Ok(self.read().len())
    }
}

/// Deterministic embeddings for tests and benches of [`FaceIndex`] adapters (feature
/// `conformance`): random directions, not faces.
#[cfg(any(test, feature = "conformance"))]
pub mod sample {
    /// A unit vector of `dim` components drawn from `seed` (xorshift, uniform components).
    pub fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        normalised(
            (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect(),
        )
    }

    /// `v` scaled to length 1.
    pub fn normalised(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use sample::{normalised, unit};

    fn mix(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
        normalised(
            a.iter()
                .zip(b)
                .map(|(x, y)| x * (1.0 - t) + y * t)
                .collect(),
        )
    }

    /// The in-memory adapter never awaits anything: poll once.
    fn now<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the in-memory index awaited"),
        }
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn record(session: &str, identity: Option<&str>, e: Vec<f32>, at: i64) -> FaceRecord {
        FaceRecord {
            session_id: session.into(),
            identity: identity.map(Into::into),
            embedding: e,
            image_hashes: vec![],
            enrolled_at: Timestamp::from_secs(at),
        }
    }

    fn probe(session: &str, identity: Option<&str>, e: Vec<f32>, now: i64) -> RepeatProbe {
        RepeatProbe {
            session_id: session.into(),
            identity: identity.map(Into::into),
            embedding: e,
            image_hashes: vec![],
            now: Timestamp::from_secs(now),
        }
    }

    proptest! {
        #[test]
        fn quantised_similarity_is_close_to_the_exact_cosine(a in 0u64..10_000, b in 0u64..10_000, t in 0f32..1.0) {
            let x = unit(a, 512);
            let y = mix(&x, &unit(b + 20_000, 512), t);
            let mut q = QuantizedFaces::new(512);
            q.push(&x);
            let got = q.similarity(0, &q.probe(&y));
            prop_assert!((got - cos(&x, &y)).abs() < 0.01, "{got} vs {}", cos(&x, &y));
        }

        #[test]
        fn swap_remove_keeps_rows_consistent(n in 2usize..20, kill in 0usize..20) {
            let kill = kill % n;
            let mut q = QuantizedFaces::new(64);
            let vs: Vec<Vec<f32>> = (0..n as u64).map(|i| unit(i, 64)).collect();
            for v in &vs { q.push(v); }
            q.swap_remove(kill);
            let mut expected: Vec<usize> = (0..n).collect();
            expected.swap_remove(kill);
            for (row, orig) in expected.iter().enumerate() {
                let s = q.similarity(row, &q.probe(&vs[*orig]));
                prop_assert!(s > 0.98);
            }
        }
    }

    #[test]
    fn finds_the_same_face_under_another_identity_but_not_under_the_same() {
        let idx = InMemoryFaceIndex::default();
        let alice = unit(1, 512);
        now(idx.enroll(record("s1", Some("id-a"), alice.clone(), 1000))).unwrap();
        for i in 0..200 {
            now(idx.enroll(record(
                &format!("x{i}"),
                Some(&format!("id{i}")),
                unit(100 + i, 512),
                1000,
            )))
            .unwrap();
        }
        // Same person, new selfie (cosine ≈ 0.7), claiming another identity.
        let selfie = mix(&alice, &unit(9999, 512), 0.4);
        assert!(cos(&alice, &selfie) > 0.6);
        let f = now(idx.search(&probe("s2", Some("id-b"), selfie.clone(), 2000))).unwrap();
        assert_eq!(f.face_other_identity.len(), 1);
        assert_eq!(f.face_other_identity[0].session_id, "s1");
        // Same identity again: not a repeat under another identity.
        let f = now(idx.search(&probe("s3", Some("id-a"), selfie, 2000))).unwrap();
        assert!(f.is_empty(), "{f:?}");
        // A stranger finds nothing.
        let f = now(idx.search(&probe("s4", Some("id-z"), unit(777_777, 512), 2000))).unwrap();
        assert!(f.is_empty());
    }

    #[test]
    fn the_same_identity_with_another_face_is_found() {
        let idx = InMemoryFaceIndex::default();
        now(idx.enroll(record("s1", Some("curp-1"), unit(1, 512), 1000))).unwrap();
        let f = now(idx.search(&probe("s2", Some("curp-1"), unit(2, 512), 2000))).unwrap();
        assert_eq!(f.identity_other_face.len(), 1);
        let codes: Vec<_> = f.risk_signals().into_iter().map(|s| s.code).collect();
        assert_eq!(codes, [crate::risk::RiskCode::DocumentSeenWithOtherFace]);
    }

    #[test]
    fn retention_hides_and_purges_old_records_and_forget_erases() {
        let config = IndexConfig {
            retention_secs: 100,
            ..IndexConfig::default()
        };
        let idx = InMemoryFaceIndex::new(config);
        let face = unit(5, 512);
        now(idx.enroll(record("old", None, face.clone(), 1000))).unwrap();
        now(idx.enroll(record("new", None, face.clone(), 1090))).unwrap();
        let f = now(idx.search(&probe("p", None, face.clone(), 1150))).unwrap();
        let ids: Vec<_> = f
            .face_other_identity
            .iter()
            .map(|h| h.session_id.as_str())
            .collect();
        assert_eq!(ids, ["new"]);
        assert_eq!(
            now(idx.purge_expired(Timestamp::from_secs(1150))).unwrap(),
            1
        );
        assert_eq!(now(idx.record_count()).unwrap(), 1);
        assert!(now(idx.forget("new")).unwrap());
        assert!(!now(idx.forget("new")).unwrap());
        assert!(
            now(idx.search(&probe("p", None, face, 1150)))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn resubmitted_images_are_found_by_hash_distance() {
        let idx = InMemoryFaceIndex::default();
        let mut r = record("s1", None, unit(1, 512), 1000);
        r.image_hashes = vec![0xDEAD_BEEF_0123_4567];
        now(idx.enroll(r)).unwrap();
        let mut p = probe("s2", None, unit(2, 512), 1001);
        p.image_hashes = vec![0xDEAD_BEEF_0123_4567 ^ 0b1011]; // 3 bits off
        let f = now(idx.search(&p)).unwrap();
        assert_eq!(f.image_resubmitted.len(), 1);
        assert_eq!(f.image_resubmitted[0].score, 3.0);
        p.image_hashes = vec![!0xDEAD_BEEF_0123_4567];
        assert!(now(idx.search(&p)).unwrap().image_resubmitted.is_empty());
    }

    #[test]
    fn bad_embeddings_and_a_full_index_are_refused() {
        let idx = InMemoryFaceIndex::new(IndexConfig {
            capacity: 1,
            ..IndexConfig::default()
        });
        assert!(now(idx.enroll(record("a", None, vec![0.5; 10], 1))).is_err());
        assert!(now(idx.enroll(record("a", None, vec![1.0; 512], 1))).is_err());
        now(idx.enroll(record("a", None, unit(1, 512), 1))).unwrap();
        // Replacing the same session is fine; a second one is over capacity.
        now(idx.enroll(record("a", None, unit(2, 512), 1))).unwrap();
        assert!(now(idx.enroll(record("b", None, unit(3, 512), 1))).is_err());
    }

    #[test]
    fn the_hamming_cut_keeps_pairs_at_the_threshold() {
        let c = IndexConfig::default();
        let cut = c.hamming_cut().unwrap();
        // At cosine 0.5 the expected distance is 512/3 ≈ 171; the cut adds 4 σ (≈ 43).
        assert!((205..=220).contains(&cut), "{cut}");
        let none = IndexConfig {
            prefilter_sigmas: 0.0,
            ..c
        };
        assert_eq!(none.hamming_cut(), None);
    }
}
