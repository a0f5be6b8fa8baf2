//! Video notes: the local video-liveness engine (MP4 demux, H.264 decode, per-frame analysis).
//!
//! A WhatsApp video note is an MP4 file with one H.264 video track (usually 384–640 px square,
//! at most 60 s). The engine:
//!
//! 1. **Checks hard limits before decoding anything** ([`VideoLimits`]): the file size, then —
//!    from the MP4 header only — the codec, the duration, the frame size and the sample count.
//!    A file that is not an MP4, has no H.264 track, is too long or too large, or is corrupt is
//!    a typed [`VideoError`], which the port turns into a retake reason.
//! 2. **Decodes at most [`VideoLimits::max_frames`] frames spread over the clip**: for each
//!    sampled instant it decodes from the last key frame before it (never the whole clip).
//!    Demuxing is the `mp4` crate; decoding is Cisco's OpenH264 (the `openh264` crate, C++
//!    source bundled and compiled by `cc`). See `docs/VISION.md` for why these two.
//! 3. **Analyses each sampled frame with the face engine** ([`FaceEngine`]: detection, the 5
//!    landmarks, the embedding) and the model-free screen cue of [`crate::pad`], then judges
//!    the clip as a whole ([`judge`], pure): one face in most frames; the same person across
//!    frames and as the card portrait when given; the head turned as the challenge asks (yaw
//!    from the landmarks, [`estimate_yaw`]); no screen pixel grid in most frames.
//!
//! The verdict is never an approval on its own (`certified: false`): the flow's selfie
//! liveness policy still decides what an uncertified engine may do. Every threshold here was
//! set on synthetic clips built from still photos (`docs/VISION.md`), not on real video notes.

use crate::face::{Embedding, FaceChoice, FaceEngine, FaceError};
use crate::pad::{self, FusionWeights};
use async_trait::async_trait;
use image::RgbImage;
use kyc_flow_core::ports::{PortError, PortErrorKind, PortResult, VideoLivenessChecker};
use kyc_flow_core::risk::{RiskCode, RiskSignal};
use kyc_flow_core::{
    RetakeReason, VideoChallenge, VideoLiveness, VideoOutcome, data::VisionCapabilities,
};
use serde::Serialize;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

/// The engine's name in verdicts and the audit trail.
pub const ENGINE_NAME: &str = "local-video-liveness";

/// Share of sampled frames that must show exactly one usable face.
pub const MIN_FACE_SHARE: f32 = 0.6;
/// Yaw (see [`estimate_yaw`]) a turn must reach on each side the challenge names. Measured
/// after H.264 at 480×480 (`tests/video_clips.rs`): the frontal obama.jpg 0.02–0.05, the
/// turned obama2/obama3/biden photos and their mirrors 0.24–0.39 either way; 0.2 sits between,
/// nearer the turned side, so a half-hearted turn is a retake rather than a pass.
pub const MIN_TURN_YAW: f32 = 0.2;
/// Share of face frames where the screen cue fires at or above which the clip is refused as
/// a replay; below it, any screen frame is a risk code on an accepted clip.
pub const SCREEN_SHARE_REPLAY: f32 = 0.5;

/// Limits checked on the file and its MP4 header before any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VideoLimits {
    /// Largest file accepted (WhatsApp video notes of 60 s are a few MB).
    pub max_bytes: usize,
    /// Longest clip (video notes stop at 60 s; some slack for container rounding).
    pub max_duration: Duration,
    /// Largest frame side in pixels.
    pub max_side: u32,
    /// Most samples (frames) the track may declare.
    pub max_samples: u32,
    /// Frames decoded and analysed at most, spread over the clip.
    pub max_frames: usize,
}

impl VideoLimits {
    /// The defaults: 16 MiB, 65 s, 1920 px, 4 000 samples, 12 frames.
    pub const DEFAULT: Self = Self {
        max_bytes: 16 << 20,
        max_duration: Duration::from_secs(65),
        max_side: 1920,
        max_samples: 4000,
        max_frames: 12,
    };
}

impl Default for VideoLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a video note could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// Not an MP4 file at all (a photo, a voice note, garbage).
    #[error("not an MP4 video: {0}")]
    NotAVideo(String),
    /// An MP4 without an H.264 video track (HEVC, audio only, …).
    #[error("unsupported video: {0}")]
    UnsupportedCodec(String),
    /// Longer than the limit.
    #[error("video of {secs:.1} s is longer than {max:.0} s")]
    TooLong { secs: f32, max: f32 },
    /// A larger file, larger frames or more frames than the limits allow.
    #[error("video too large: {0}")]
    TooLarge(String),
    /// The container or the bitstream is damaged (cut off, bad sample tables, bad NAL units).
    #[error("corrupt video: {0}")]
    Corrupt(String),
    /// The H.264 decoder could not be started.
    #[error("H.264 decoder: {0}")]
    Decoder(String),
    /// The face engine failed (not the user's video).
    #[error(transparent)]
    Face(#[from] FaceError),
}

impl VideoError {
    /// The retake the user hears, for errors that are the file's fault; `None` for engine
    /// failures.
    pub fn retake_reason(&self) -> Option<RetakeReason> {
        match self {
            Self::NotAVideo(_) | Self::UnsupportedCodec(_) | Self::Corrupt(_) => {
                Some(RetakeReason::UnsupportedMedia)
            }
            Self::TooLong { .. } | Self::TooLarge(_) => Some(RetakeReason::VideoTooLong),
            Self::Decoder(_) | Self::Face(_) => None,
        }
    }

    /// Never retryable: the same bytes give the same answer.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<VideoError> for PortError {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::Face(e) => e.into(),
            other => PortError::new(PortErrorKind::Internal, other.to_string()),
        }
    }
}

/// What the MP4 header says about the video track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub duration: Duration,
    pub samples: u32,
}

/// One decoded frame and where it sits in the track (1-based sample number).
#[derive(Debug, Clone)]
pub struct Frame {
    pub sample: u32,
    pub image: RgbImage,
}

/// Demuxes and decodes up to `limits.max_frames` frames spread over the clip, after checking
/// every limit on the header.
pub fn decode_frames(
    bytes: &[u8],
    limits: &VideoLimits,
) -> Result<(VideoInfo, Vec<Frame>), VideoError> {
    if bytes.len() > limits.max_bytes {
        return Err(VideoError::TooLarge(format!(
            "{} bytes, at most {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    if !looks_like_mp4(bytes) {
        return Err(VideoError::NotAVideo("no MP4 `ftyp` box".into()));
    }
    // The demuxer reads untrusted tables; a panic in it must be a corrupt file, not a dead
    // worker.
    let opened = std::panic::catch_unwind(|| open_track(bytes, limits))
        .map_err(|_| VideoError::Corrupt("the MP4 demuxer gave up on this file".into()))?;
    let mut track = opened?;
    let info = track.info.clone();
    let targets = sample_targets(info.samples, limits.max_frames);
    let frames = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_targets(&mut track, &targets, limits.max_side as usize)
    }))
    .map_err(|_| VideoError::Corrupt("the H.264 bitstream could not be decoded".into()))??;
    if frames.is_empty() {
        return Err(VideoError::Corrupt("no frame could be decoded".into()));
    }
    Ok((info, frames))
}

/// An MP4 (ISO BMFF) file starts with a box whose type is `ftyp` (or, rarely, another
/// top-level box before it).
fn looks_like_mp4(bytes: &[u8]) -> bool {
    bytes.len() >= 12
        && matches!(
            &bytes[4..8],
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide"
        )
}

/// `n` sample numbers (1-based) spread evenly over `samples`, first and last included.
pub fn sample_targets(samples: u32, n: usize) -> Vec<u32> {
    if samples == 0 || n == 0 {
        return Vec::new();
    }
    let n = u32::try_from(n).unwrap_or(u32::MAX).min(samples);
    if n == 1 {
        return vec![1];
    }
    let mut out: Vec<u32> = (0..n)
        .map(|i| 1 + (u64::from(i) * u64::from(samples - 1) / u64::from(n - 1)) as u32)
        .collect();
    out.dedup();
    out
}

struct Track {
    reader: mp4::Mp4Reader<Cursor<Vec<u8>>>,
    id: u32,
    info: VideoInfo,
    /// SPS and PPS in Annex B form, fed before the first frame decoded.
    headers: Vec<u8>,
    /// Bytes of each NAL unit's length prefix in the samples (avcC `lengthSizeMinusOne` + 1).
    length_size: usize,
    /// Key frames (1-based), ascending; empty when every sample is one.
    sync: Vec<u32>,
}

fn open_track(bytes: &[u8], limits: &VideoLimits) -> Result<Track, VideoError> {
    let size = bytes.len() as u64;
    let reader = mp4::Mp4Reader::read_header(Cursor::new(bytes.to_vec()), size)
        .map_err(|e| VideoError::Corrupt(format!("MP4 header: {e}")))?;
    let mut video = None;
    let mut other = None;
    for (id, t) in reader.tracks() {
        if let Ok(mp4::TrackType::Video) = t.track_type() {
            match t.media_type() {
                Ok(mp4::MediaType::H264) => video = Some(*id),
                Ok(m) => other = Some(m.to_string()),
                Err(e) => other = Some(e.to_string()),
            }
        }
    }
    let Some(id) = video else {
        return Err(VideoError::UnsupportedCodec(match other {
            Some(m) => format!("video track is {m}, not H.264"),
            None => "no video track".into(),
        }));
    };
    let t = &reader.tracks()[&id];
    let (width, height) = (u32::from(t.width()), u32::from(t.height()));
    let duration = t.duration();
    let samples = t.sample_count();
    if duration > limits.max_duration {
        return Err(VideoError::TooLong {
            secs: duration.as_secs_f32(),
            max: limits.max_duration.as_secs_f32(),
        });
    }
    if width == 0 || height == 0 {
        return Err(VideoError::Corrupt(
            "the video track has no frame size".into(),
        ));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(VideoError::TooLarge(format!(
            "frames of {width}×{height} px, at most {} per side",
            limits.max_side
        )));
    }
    if samples > limits.max_samples {
        return Err(VideoError::TooLarge(format!(
            "{samples} frames, at most {}",
            limits.max_samples
        )));
    }
    if samples == 0 {
        return Err(VideoError::Corrupt("the video track has no frames".into()));
    }
    let mut headers = Vec::new();
    let sps = t
        .sequence_parameter_set()
        .map_err(|e| VideoError::Corrupt(format!("no SPS: {e}")))?;
    let pps = t
        .picture_parameter_set()
        .map_err(|e| VideoError::Corrupt(format!("no PPS: {e}")))?;
    for nal in [sps, pps] {
        headers.extend_from_slice(&[0, 0, 0, 1]);
        headers.extend_from_slice(nal);
    }
    let stbl = &t.trak.mdia.minf.stbl;
    let length_size = stbl
        .stsd
        .avc1
        .as_ref()
        .map_or(4, |a| usize::from(a.avcc.length_size_minus_one & 3) + 1);
    let mut sync: Vec<u32> = stbl
        .stss
        .as_ref()
        .map(|s| s.entries.clone())
        .unwrap_or_default();
    sync.sort_unstable();
    Ok(Track {
        reader,
        id,
        info: VideoInfo {
            width,
            height,
            duration,
            samples,
        },
        headers,
        length_size,
        sync,
    })
}

/// Decodes the frames at `targets` (ascending): for each, from the last key frame at or
/// before it unless the decoder is already past that key frame.
fn decode_targets(
    track: &mut Track,
    targets: &[u32],
    max_side: usize,
) -> Result<Vec<Frame>, VideoError> {
    let mut decoder =
        openh264::decoder::Decoder::new().map_err(|e| VideoError::Decoder(e.to_string()))?;
    let mut frames = Vec::with_capacity(targets.len());
    // Next sample the decoder would take; 0 = nothing fed yet.
    let mut next = 0u32;
    let mut packet = Vec::new();
    for &target in targets {
        let key = if track.sync.is_empty() {
            target
        } else {
            track
                .sync
                .iter()
                .rev()
                .find(|&&s| s <= target)
                .copied()
                .unwrap_or(1)
        };
        if next == 0 || key > next || target < next {
            next = key;
        }
        let mut decoded = None;
        while next <= target {
            let sample = track
                .reader
                .read_sample(track.id, next)
                .map_err(|e| VideoError::Corrupt(format!("sample {next}: {e}")))?
                .ok_or_else(|| VideoError::Corrupt(format!("sample {next} is missing")))?;
            packet.clear();
            if frames.is_empty() && decoded.is_none() {
                packet.extend_from_slice(&track.headers);
            } else if next == key {
                // A key frame after a jump: its parameter sets again, in case it needs them.
                packet.extend_from_slice(&track.headers);
            }
            to_annex_b(&sample.bytes, track.length_size, &mut packet)?;
            let out = decoder
                .decode(&packet)
                .map_err(|e| VideoError::Corrupt(format!("sample {next}: {e}")))?;
            if next == target {
                decoded = out
                    .map(|yuv| {
                        // The header's frame size is the container's claim; the bitstream's
                        // own (its SPS) is what the decoder drew: hold it to the same limit
                        // before converting a pixel.
                        use openh264::formats::YUVSource as _;
                        let (w, h) = yuv.dimensions();
                        if w > max_side || h > max_side {
                            return Err(VideoError::TooLarge(format!(
                                "decoded frames of {w}×{h} px, at most {max_side} per side"
                            )));
                        }
                        yuv_to_rgb(&yuv)
                    })
                    .transpose()?;
            }
            next += 1;
        }
        if let Some(image) = decoded {
            frames.push(Frame {
                sample: target,
                image,
            });
        }
    }
    Ok(frames)
}

/// MP4 samples carry NAL units behind a big-endian length; the decoder wants Annex B start
/// codes.
pub fn to_annex_b(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<(), VideoError> {
    let mut at = 0usize;
    while at < sample.len() {
        let Some(head) = sample.get(at..at + length_size) else {
            return Err(VideoError::Corrupt("NAL length cut off".into()));
        };
        let len = head
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        at += length_size;
        let Some(nal) = sample.get(at..at.saturating_add(len)) else {
            return Err(VideoError::Corrupt("NAL unit runs past its sample".into()));
        };
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        at += len;
    }
    Ok(())
}

/// I420 to RGB (BT.601, full range), reading the planes with bounds checks.
fn yuv_to_rgb(yuv: &openh264::decoder::DecodedYUV<'_>) -> Result<RgbImage, VideoError> {
    use openh264::formats::YUVSource as _;
    let (w, h) = yuv.dimensions();
    let (sy, su, sv) = yuv.strides();
    let (y, u, v) = (yuv.y(), yuv.u(), yuv.v());
    let mut rgb = vec![0u8; w * h * 3];
    for row in 0..h {
        for col in 0..w {
            let (Some(&yy), Some(&uu), Some(&vv)) = (
                y.get(row * sy + col),
                u.get(row / 2 * su + col / 2),
                v.get(row / 2 * sv + col / 2),
            ) else {
                return Err(VideoError::Corrupt(
                    "decoded frame smaller than declared".into(),
                ));
            };
            let (yy, uu, vv) = (f32::from(yy), f32::from(uu) - 128.0, f32::from(vv) - 128.0);
            let at = (row * w + col) * 3;
            rgb[at] = (yy + 1.402 * vv).clamp(0.0, 255.0) as u8;
            rgb[at + 1] = (yy - 0.344 * uu - 0.714 * vv).clamp(0.0, 255.0) as u8;
            rgb[at + 2] = (yy + 1.772 * uu).clamp(0.0, 255.0) as u8;
        }
    }
    let (w, h) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| VideoError::Corrupt("bad frame size".into()))
}

/// Head yaw from the 5 landmarks (left eye, right eye, nose tip, mouth corners, in image
/// order): the nose tip's offset from the midpoint between the eyes, along the eye line, in
/// units of half the eye distance. 0 for a frontal face; towards ±1 as the nose reaches an
/// eye; the sign says which way (positive: towards the image's right). Clamped to −1…1; 0 when
/// the eyes coincide.
pub fn estimate_yaw(points: &[[f32; 2]; 5]) -> f32 {
    let [l, r, nose, ..] = *points;
    let e = [r[0] - l[0], r[1] - l[1]];
    let d2 = e[0] * e[0] + e[1] * e[1];
    if !d2.is_finite() || d2 < 1e-6 {
        return 0.0;
    }
    let mid = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
    let along = (nose[0] - mid[0]) * e[0] + (nose[1] - mid[1]) * e[1];
    let yaw = 2.0 * along / d2;
    if yaw.is_finite() {
        yaw.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// What one sampled frame showed.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameFinding {
    /// One usable face: its yaw, its template, whether the screen cue fired on it.
    Face {
        yaw: f32,
        embedding: Embedding,
        periodic: f32,
    },
    /// No usable face (none, or too small).
    NoFace,
    /// More than one face of similar size.
    SeveralFaces,
}

/// Every figure measured on a clip, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoLivenessReport {
    pub info: VideoInfo,
    pub frames: u16,
    pub face_frames: u16,
    pub several_faces_frames: u16,
    pub yaw_min: f32,
    pub yaw_max: f32,
    /// Lowest cosine between a face frame and the most frontal one.
    pub min_frame_similarity: f32,
    /// Cosine between the most frontal frame and the card portrait.
    pub portrait_similarity: Option<f32>,
    /// The face engine's match threshold the similarities are held against.
    pub threshold: f32,
    /// Share of face frames where the screen cue fired.
    pub screen_frames: f32,
    pub verdict: VideoVerdict,
}

/// The clip's verdict: passed, or the first reason it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoVerdict {
    Passed,
    NoFace,
    MultipleFaces,
    /// The face changes mid-clip, or is not the card portrait's.
    FaceMismatch,
    NoHeadTurn,
    ScreenReplay,
}

impl VideoVerdict {
    fn retake_reason(self) -> Option<RetakeReason> {
        Some(match self {
            Self::Passed => return None,
            Self::NoFace => RetakeReason::NoFace,
            Self::MultipleFaces => RetakeReason::MultipleFaces,
            Self::FaceMismatch => RetakeReason::FaceMismatch,
            Self::NoHeadTurn => RetakeReason::NoHeadTurn,
            Self::ScreenReplay => RetakeReason::ScreenReplay,
        })
    }
}

/// The clip as a whole, from the findings of its sampled frames (pure; the thresholds are the
/// constants above, `threshold` the face engine's match threshold).
pub fn judge(
    info: VideoInfo,
    findings: &[FrameFinding],
    portrait: Option<&Embedding>,
    challenge: VideoChallenge,
    threshold: f32,
    screen_onset: f32,
) -> VideoLivenessReport {
    let count = |f: fn(&FrameFinding) -> bool| {
        u16::try_from(findings.iter().filter(|x| f(x)).count()).unwrap_or(u16::MAX)
    };
    let frames = u16::try_from(findings.len()).unwrap_or(u16::MAX);
    let face_frames = count(|f| matches!(f, FrameFinding::Face { .. }));
    let several_faces_frames = count(|f| matches!(f, FrameFinding::SeveralFaces));
    let faces: Vec<(f32, &Embedding, f32)> = findings
        .iter()
        .filter_map(|f| match f {
            FrameFinding::Face {
                yaw,
                embedding,
                periodic,
            } => Some((*yaw, embedding, *periodic)),
            _ => None,
        })
        .collect();
    let yaw_min = faces.iter().map(|f| f.0).fold(0.0f32, f32::min);
    let yaw_max = faces.iter().map(|f| f.0).fold(0.0f32, f32::max);
    let frontal = faces
        .iter()
        .min_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .map(|f| f.1);
    let min_frame_similarity = frontal.map_or(0.0, |r| {
        faces.iter().map(|f| f.1.cosine(r)).fold(1.0f32, f32::min)
    });
    let portrait_similarity = frontal.zip(portrait).map(|(r, p)| r.cosine(p));
    let screen = faces.iter().filter(|f| f.2 > screen_onset).count();
    let screen_frames = if faces.is_empty() {
        0.0
    } else {
        screen as f32 / faces.len() as f32
    };
    let share = if frames == 0 {
        0.0
    } else {
        f32::from(face_frames) / f32::from(frames)
    };
    let turned = match challenge {
        VideoChallenge::TurnLeftAndRight => yaw_max >= MIN_TURN_YAW && yaw_min <= -MIN_TURN_YAW,
        VideoChallenge::TurnEitherWay => yaw_max >= MIN_TURN_YAW || yaw_min <= -MIN_TURN_YAW,
    };
    let verdict = if share < MIN_FACE_SHARE {
        if several_faces_frames > frames - face_frames - several_faces_frames {
            VideoVerdict::MultipleFaces
        } else {
            VideoVerdict::NoFace
        }
    } else if min_frame_similarity < threshold || portrait_similarity.is_some_and(|s| s < threshold)
    {
        VideoVerdict::FaceMismatch
    } else if screen_frames >= SCREEN_SHARE_REPLAY {
        VideoVerdict::ScreenReplay
    } else if !turned {
        VideoVerdict::NoHeadTurn
    } else {
        VideoVerdict::Passed
    };
    VideoLivenessReport {
        info,
        frames,
        face_frames,
        several_faces_frames,
        yaw_min,
        yaw_max,
        min_frame_similarity,
        portrait_similarity,
        threshold,
        screen_frames,
        verdict,
    }
}

impl VideoLivenessReport {
    /// The port's view of the report.
    pub fn outcome(&self) -> VideoOutcome {
        if let Some(reason) = self.verdict.retake_reason() {
            return VideoOutcome::Retake {
                reason,
                detail: format!(
                    "{:?}: {}/{} face frames, yaw {:.2}..{:.2}, frame similarity {:.2}, screen {:.2}",
                    self.verdict,
                    self.face_frames,
                    self.frames,
                    self.yaw_min,
                    self.yaw_max,
                    self.min_frame_similarity,
                    self.screen_frames
                ),
            };
        }
        let mut signals = Vec::new();
        if self.screen_frames > 0.0 {
            signals.push(
                RiskSignal::new(RiskCode::VideoScreenReplay)
                    .with_score(self.screen_frames)
                    .with_detail("screen cue on some frames of the accepted video note"),
            );
        }
        VideoOutcome::Passed {
            liveness: VideoLiveness {
                frames: self.frames,
                face_frames: self.face_frames,
                yaw_min: self.yaw_min,
                yaw_max: self.yaw_max,
                min_frame_similarity: self.min_frame_similarity,
                portrait_similarity: self.portrait_similarity,
                screen_frames: self.screen_frames,
                engine: ENGINE_NAME.into(),
                certified: false,
                signals,
            },
        }
    }
}

/// The local video-liveness engine: the limits, and the face engine shared with the selfie
/// step.
#[derive(Debug, Clone)]
pub struct LocalVideoLiveness {
    faces: Arc<FaceEngine>,
    limits: VideoLimits,
    fusion: FusionWeights,
}

impl LocalVideoLiveness {
    /// An engine with the default limits.
    pub fn new(faces: Arc<FaceEngine>) -> Self {
        Self {
            faces,
            limits: VideoLimits::DEFAULT,
            fusion: FusionWeights::default(),
        }
    }

    /// The same engine with other limits.
    pub fn with_limits(mut self, limits: VideoLimits) -> Self {
        self.limits = limits;
        self
    }

    /// What one frame shows.
    pub fn frame_finding(&self, img: &RgbImage) -> Result<FrameFinding, FaceError> {
        let faces = self.faces.detect(img)?;
        Ok(
            match crate::face::choose_face(&faces, self.faces.config()) {
                FaceChoice::One(bbox) => {
                    let landmarks = self.faces.landmarks5(img, &bbox)?;
                    let embedding = self.faces.embed(img, &landmarks)?;
                    FrameFinding::Face {
                        yaw: estimate_yaw(&landmarks),
                        embedding,
                        periodic: pad::periodic_peak(img, &bbox),
                    }
                }
                FaceChoice::Retake {
                    reason: RetakeReason::MultipleFaces,
                    ..
                } => FrameFinding::SeveralFaces,
                FaceChoice::Retake { .. } => FrameFinding::NoFace,
            },
        )
    }

    /// Decode, analyse and judge a clip. File problems are `Err` with a typed [`VideoError`].
    pub fn analyse(
        &self,
        video: &[u8],
        challenge: VideoChallenge,
        portrait: Option<&[u8]>,
    ) -> Result<VideoLivenessReport, VideoError> {
        let (info, frames) = decode_frames(video, &self.limits)?;
        let mut findings = Vec::with_capacity(frames.len());
        for f in &frames {
            findings.push(self.frame_finding(&f.image)?);
        }
        // A portrait without a usable face is not compared (the selfie step compared it).
        let portrait = match portrait {
            Some(bytes) => match self.faces.analyse(bytes)? {
                crate::face::FaceFinding::Face(f) => Some(f.embedding),
                crate::face::FaceFinding::Retake { .. } => None,
            },
            None => None,
        };
        Ok(judge(
            info,
            &findings,
            portrait.as_ref(),
            challenge,
            self.faces.config().match_threshold,
            self.fusion.periodic_onset,
        ))
    }

    /// [`Self::analyse`] as the port answers: file problems become retakes.
    pub fn check(
        &self,
        video: &[u8],
        challenge: VideoChallenge,
        portrait: Option<&[u8]>,
    ) -> Result<VideoOutcome, VideoError> {
        match self.analyse(video, challenge, portrait) {
            Ok(report) => Ok(report.outcome()),
            Err(e) => match e.retake_reason() {
                Some(reason) => Ok(VideoOutcome::Retake {
                    reason,
                    detail: e.to_string(),
                }),
                None => Err(e),
            },
        }
    }
}

#[async_trait]
impl VideoLivenessChecker for LocalVideoLiveness {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            video_liveness: true,
            ..VisionCapabilities::default()
        }
    }

    async fn check_video(
        &self,
        video: &[u8],
        challenge: VideoChallenge,
        portrait: Option<&[u8]>,
    ) -> PortResult<VideoOutcome> {
        let this = self.clone();
        let (video, portrait) = (video.to_vec(), portrait.map(<[u8]>::to_vec));
        Ok(
            tokio::task::spawn_blocking(move || this.check(&video, challenge, portrait.as_deref()))
                .await
                .map_err(|e| FaceError::Task(e.to_string()))??,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn emb(v: &[f32]) -> Embedding {
        Embedding::from_raw(v.to_vec())
    }

    fn face(yaw: f32, e: &[f32]) -> FrameFinding {
        FrameFinding::Face {
            yaw,
            embedding: emb(e),
            periodic: 0.0,
        }
    }

    fn info() -> VideoInfo {
        VideoInfo {
            width: 480,
            height: 480,
            duration: Duration::from_secs(5),
            samples: 150,
        }
    }

    fn verdict(f: &[FrameFinding], challenge: VideoChallenge) -> VideoVerdict {
        judge(info(), f, None, challenge, 0.4, 5.0).verdict
    }

    #[test]
    fn frontal_and_turned_landmarks_give_small_and_large_yaw() {
        let frontal = [
            [40.0, 50.0],
            [80.0, 50.0],
            [60.0, 70.0],
            [45.0, 90.0],
            [75.0, 90.0],
        ];
        assert!(estimate_yaw(&frontal).abs() < 1e-6);
        let turned = [
            [40.0, 50.0],
            [80.0, 50.0],
            [72.0, 70.0],
            [50.0, 90.0],
            [78.0, 90.0],
        ];
        assert!((estimate_yaw(&turned) - 0.6).abs() < 1e-5);
        let degenerate = [[40.0, 50.0]; 5];
        assert_eq!(estimate_yaw(&degenerate), 0.0);
    }

    proptest! {
        #[test]
        fn mirroring_the_landmarks_flips_the_yaw(
            pts in proptest::array::uniform5((0.0f32..640.0, 0.0f32..640.0)),
            width in 640.0f32..1280.0,
        ) {
            let p: [[f32; 2]; 5] = pts.map(|(x, y)| [x, y]);
            // A mirrored photo: x → width − x, and the detector names the eyes and mouth
            // corners by image side again, so left and right swap.
            let m = |q: [f32; 2]| [width - q[0], q[1]];
            let mirrored = [m(p[1]), m(p[0]), m(p[2]), m(p[4]), m(p[3])];
            let (a, b) = (estimate_yaw(&p), estimate_yaw(&mirrored));
            prop_assert!((a + b).abs() < 1e-3, "{a} vs {b}");
            prop_assert!((-1.0..=1.0).contains(&a));
        }

        #[test]
        fn sample_targets_are_spread_ascending_and_in_range(samples in 0u32..5000, n in 0usize..20) {
            let t = sample_targets(samples, n);
            prop_assert!(t.len() <= n);
            prop_assert!(t.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(t.iter().all(|&s| s >= 1 && s <= samples));
            if samples > 0 && n > 0 {
                prop_assert_eq!(t[0], 1);
                if n > 1 { prop_assert_eq!(*t.last().unwrap(), samples); }
            }
        }
    }

    #[test]
    fn a_clip_is_judged_on_faces_turn_identity_and_screen() {
        let a = [1.0, 0.0, 0.0];
        let a2 = [0.9, 0.3, 0.0];
        let b = [0.0, 1.0, 0.0];
        let both = VideoChallenge::TurnLeftAndRight;
        let turn = [face(0.0, &a), face(0.4, &a2), face(-0.4, &a), face(0.0, &a)];
        assert_eq!(verdict(&turn, both), VideoVerdict::Passed);
        let still = [face(0.02, &a), face(0.01, &a), face(0.03, &a)];
        assert_eq!(verdict(&still, both), VideoVerdict::NoHeadTurn);
        let one_side = [face(0.0, &a), face(0.5, &a2)];
        assert_eq!(verdict(&one_side, both), VideoVerdict::NoHeadTurn);
        assert_eq!(
            verdict(&one_side, VideoChallenge::TurnEitherWay),
            VideoVerdict::Passed
        );
        let swap = [face(0.0, &a), face(0.4, &b), face(-0.4, &a)];
        assert_eq!(verdict(&swap, both), VideoVerdict::FaceMismatch);
        let empty = [FrameFinding::NoFace, FrameFinding::NoFace, face(0.4, &a)];
        assert_eq!(verdict(&empty, both), VideoVerdict::NoFace);
        let crowd = [
            FrameFinding::SeveralFaces,
            FrameFinding::SeveralFaces,
            face(0.4, &a),
        ];
        assert_eq!(verdict(&crowd, both), VideoVerdict::MultipleFaces);
        let screen = |yaw| FrameFinding::Face {
            yaw,
            embedding: emb(&a),
            periodic: 9.0,
        };
        let replay = [screen(0.0), screen(0.4), screen(-0.4), face(0.0, &a)];
        assert_eq!(verdict(&replay, both), VideoVerdict::ScreenReplay);
        // Against the portrait: the same frames, another person's portrait.
        let r = judge(info(), &turn, Some(&emb(&b)), both, 0.4, 5.0);
        assert_eq!(r.verdict, VideoVerdict::FaceMismatch);
        assert!(r.portrait_similarity.unwrap() < 0.4);
        let r = judge(info(), &turn, Some(&emb(&a)), both, 0.4, 5.0);
        assert_eq!(r.verdict, VideoVerdict::Passed);
        assert!(matches!(r.outcome(), VideoOutcome::Passed { .. }));
    }

    #[test]
    fn annex_b_conversion_checks_lengths() {
        let mut out = Vec::new();
        to_annex_b(&[0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41], 4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x41]);
        assert!(to_annex_b(&[0, 0, 0, 9, 0x65], 4, &mut out).is_err());
        assert!(to_annex_b(&[0, 0], 4, &mut out).is_err());
    }

    #[test]
    fn files_that_are_not_videos_are_typed_errors_before_decoding() {
        let limits = VideoLimits::DEFAULT;
        let png = [
            0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0, 0, 13, b'I', b'H',
        ];
        assert!(matches!(
            decode_frames(&png, &limits),
            Err(VideoError::NotAVideo(_))
        ));
        assert!(matches!(
            decode_frames(b"garbage", &limits),
            Err(VideoError::NotAVideo(_))
        ));
        let big = vec![0u8; limits.max_bytes + 1];
        assert!(matches!(
            decode_frames(&big, &limits),
            Err(VideoError::TooLarge(_))
        ));
        // An `ftyp` box and nothing else: no movie header.
        let mut cut = vec![0, 0, 0, 16];
        cut.extend_from_slice(b"ftypisom\0\0\0\0");
        assert!(matches!(
            decode_frames(&cut, &limits),
            Err(VideoError::Corrupt(_))
        ));
        for e in [
            VideoError::NotAVideo(String::new()),
            VideoError::Corrupt(String::new()),
            VideoError::UnsupportedCodec(String::new()),
        ] {
            assert_eq!(e.retake_reason(), Some(RetakeReason::UnsupportedMedia));
        }
        assert_eq!(
            VideoError::TooLong {
                secs: 90.0,
                max: 65.0
            }
            .retake_reason(),
            Some(RetakeReason::VideoTooLong)
        );
    }
}
