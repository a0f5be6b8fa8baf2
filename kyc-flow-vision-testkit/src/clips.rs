//! Video-note test clips (feature `video`): frames built from still photos, encoded to H.264
//! with OpenH264's encoder and muxed into MP4 with the `mp4` crate's writer.
//!
//! Both halves come from other code than the reader in `kyc_flow_vision::video`: the encoder
//! is OpenH264's (the engine uses its decoder), the muxer is `mp4`'s writer (the engine uses its
//! reader) — so a clip that decodes proves the demux and decode path on a standard MP4, not on
//! bytes shaped by the reader's own assumptions. What they cannot prove: that real phone video
//! notes (other encoders, B-frames, rotation matrices, audio tracks) decode the same way.
//!
//! A clip is a sequence of still photos held for a few frames each, so the "motion" is a cut
//! from one pose to the next, not a continuous turn; see `docs/VISION.md`.

use image::{Rgb, RgbImage, imageops};
use kyc_flow_vision::face::{FaceEngine, FaceFinding};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use std::io::Cursor;

/// Why a clip could not be built (always a bug in the test, never the engine's answer).
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("no frames")]
    Empty,
    #[error("frames of different sizes or odd sides: {0}")]
    Size(String),
    #[error("H.264 encoder: {0}")]
    Encoder(String),
    #[error("MP4 writer: {0}")]
    Mux(String),
    #[error("no face in the source photo")]
    NoFace,
}

/// How to encode a clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipOptions {
    /// Frames per second (the sample duration is `1000 / fps` ms).
    pub fps: u32,
    /// Target bit rate. Phone video notes at 480–640 px are roughly 1–2 Mbit/s.
    pub bitrate_bps: u32,
    /// A key frame every this many frames (0: the encoder's choice, usually only the first).
    pub key_every: u32,
}

impl Default for ClipOptions {
    /// 15 fps, 1.2 Mbit/s, a key frame each second.
    fn default() -> Self {
        Self {
            fps: 15,
            bitrate_bps: 1_200_000,
            key_every: 15,
        }
    }
}

/// One encoded video track, before muxing: change its fields to build malformed files.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedTrack {
    /// Frame size written into the MP4 header (the bitstream's SPS keeps the real one).
    pub width: u16,
    pub height: u16,
    /// Sequence and picture parameter sets, without start codes.
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
    /// Each access unit as MP4 stores it (NAL units behind a 4-byte length), and whether it is
    /// a key frame.
    pub samples: Vec<(Vec<u8>, bool)>,
    /// Duration of each sample, milliseconds (the track's timescale is 1000).
    pub sample_ms: u32,
}

/// Encode `frames` (same size, even sides) to H.264.
pub fn encode_h264(frames: &[RgbImage], options: &ClipOptions) -> Result<EncodedTrack, ClipError> {
    let first = frames.first().ok_or(ClipError::Empty)?;
    let (w, h) = first.dimensions();
    if w % 2 != 0 || h % 2 != 0 || frames.iter().any(|f| f.dimensions() != (w, h)) {
        return Err(ClipError::Size(format!("first frame {w}×{h}")));
    }
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(options.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(options.fps as f32))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(options.key_every));
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| ClipError::Encoder(e.to_string()))?;
    let mut track = EncodedTrack {
        width: u16::try_from(w).map_err(|_| ClipError::Size(format!("{w} px")))?,
        height: u16::try_from(h).map_err(|_| ClipError::Size(format!("{h} px")))?,
        sps: Vec::new(),
        pps: Vec::new(),
        samples: Vec::with_capacity(frames.len()),
        sample_ms: 1000 / options.fps.max(1),
    };
    for frame in frames {
        let yuv =
            YUVBuffer::from_rgb8_source(RgbSliceU8::new(frame.as_raw(), (w as usize, h as usize)));
        let stream = encoder
            .encode(&yuv)
            .map_err(|e| ClipError::Encoder(e.to_string()))?;
        let key = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let mut sample = Vec::new();
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else {
                continue;
            };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(strip_start_code) else {
                    continue;
                };
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => track.sps = nal.to_vec(),
                    Some(8) => track.pps = nal.to_vec(),
                    Some(_) => {
                        let len = u32::try_from(nal.len())
                            .map_err(|_| ClipError::Encoder("NAL unit over 4 GiB".into()))?;
                        sample.extend_from_slice(&len.to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                    None => {}
                }
            }
        }
        if sample.is_empty() {
            return Err(ClipError::Encoder(format!(
                "frame {} gave no picture ({:?})",
                track.samples.len() + 1,
                stream.frame_type()
            )));
        }
        track.samples.push((sample, key));
    }
    if track.sps.is_empty() || track.pps.is_empty() {
        return Err(ClipError::Encoder("no SPS/PPS in the bitstream".into()));
    }
    Ok(track)
}

/// OpenH264 writes Annex B: each NAL unit behind a 3- or 4-byte start code.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Mux `track` into an MP4 file (ftyp, mdat, then moov — what `mp4`'s writer produces).
pub fn mux_mp4(track: &EncodedTrack) -> Result<Vec<u8>, ClipError> {
    let mux = |e: mp4::Error| ClipError::Mux(e.to_string());
    let brand = |s: &str| s.parse::<mp4::FourCC>().map_err(mux);
    let config = mp4::Mp4Config {
        major_brand: brand("isom")?,
        minor_version: 512,
        compatible_brands: vec![
            brand("isom")?,
            brand("iso2")?,
            brand("avc1")?,
            brand("mp41")?,
        ],
        timescale: 1000,
    };
    let mut writer = mp4::Mp4Writer::write_start(Cursor::new(Vec::new()), &config).map_err(mux)?;
    writer
        .add_track(&mp4::TrackConfig::from(mp4::AvcConfig {
            width: track.width,
            height: track.height,
            seq_param_set: track.sps.clone(),
            pic_param_set: track.pps.clone(),
        }))
        .map_err(mux)?;
    for (i, (bytes, is_sync)) in track.samples.iter().enumerate() {
        let sample = mp4::Mp4Sample {
            start_time: i as u64 * u64::from(track.sample_ms),
            duration: track.sample_ms,
            rendering_offset: 0,
            is_sync: *is_sync,
            bytes: bytes.clone().into(),
        };
        writer.write_sample(1, &sample).map_err(mux)?;
    }
    writer.write_end().map_err(mux)?;
    Ok(writer.into_writer().into_inner())
}

/// [`encode_h264`] then [`mux_mp4`].
pub fn encode_mp4(frames: &[RgbImage], options: &ClipOptions) -> Result<Vec<u8>, ClipError> {
    mux_mp4(&encode_h264(frames, options)?)
}

/// A `side`×`side` frame centred on the photo's face, the face about 40 % of the side (a
/// video note held at arm's length). The crop is square in the photo, padded with grey where
/// it runs past the edges.
pub fn face_frame(engine: &FaceEngine, photo: &RgbImage, side: u32) -> Result<RgbImage, ClipError> {
    let FaceFinding::Face(face) = engine.analyse_image(photo).map_err(|_| ClipError::NoFace)?
    else {
        return Err(ClipError::NoFace);
    };
    let b = face.bbox;
    let crop = (b.width().max(b.height()) / 0.4).round().max(2.0) as u32;
    let (cx, cy) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
    let mut square = RgbImage::from_pixel(crop, crop, Rgb([128, 128, 128]));
    let (x0, y0) = (
        (cx - crop as f32 / 2.0).round() as i64,
        (cy - crop as f32 / 2.0).round() as i64,
    );
    imageops::overlay(&mut square, photo, -x0, -y0);
    Ok(imageops::resize(
        &square,
        side,
        side,
        imageops::FilterType::Triangle,
    ))
}

/// The frame mirrored left to right (a head turned the other way).
pub fn mirrored(frame: &RgbImage) -> RgbImage {
    imageops::flip_horizontal(frame)
}

/// `total` frames holding each of `poses` for an equal share of the clip, in order.
pub fn hold(poses: &[RgbImage], total: usize) -> Vec<RgbImage> {
    if poses.is_empty() {
        return Vec::new();
    }
    (0..total)
        .map(|i| poses[i * poses.len() / total.max(1)].clone())
        .collect()
}

/// The frame as a camera films it on a screen, at the frame's own resolution
/// ([`crate::liveness_sim::screen_pixels`], what [`crate::liveness_sim::screen_replay`] shows
/// before its bezel). A simulation of the cue the screen detector looks for, not a recording
/// of a real screen.
pub fn screen_grid(frame: &RgbImage) -> RgbImage {
    crate::liveness_sim::screen_pixels(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, shift: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                ((x + shift) % 256) as u8,
                ((y * 2) % 256) as u8,
                ((x + y + shift) % 256) as u8,
            ])
        })
    }

    #[test]
    fn a_clip_muxes_every_frame_with_key_frames_and_parameter_sets() {
        let frames: Vec<_> = (0..20).map(|i| gradient(64, 48, i * 3)).collect();
        let track = encode_h264(&frames, &ClipOptions::default()).unwrap();
        assert_eq!(track.samples.len(), 20);
        assert!(track.samples[0].1, "the first frame is a key frame");
        assert!(track.samples[15].1, "a key frame each second at 15 fps");
        assert_eq!(track.sps[0] & 0x1f, 7);
        assert_eq!(track.pps[0] & 0x1f, 8);
        let mp4 = mux_mp4(&track).unwrap();
        assert_eq!(&mp4[4..8], b"ftyp");
        let size = mp4.len() as u64;
        let reader = mp4::Mp4Reader::read_header(Cursor::new(mp4), size).unwrap();
        let t = reader.tracks().values().next().unwrap();
        assert_eq!((t.width(), t.height()), (64, 48));
        assert_eq!(t.sample_count(), 20);
        assert_eq!(t.duration().as_millis(), 20 * 66);
    }

    #[test]
    fn odd_or_mixed_frame_sizes_are_refused() {
        let o = ClipOptions::default();
        assert!(matches!(encode_h264(&[], &o), Err(ClipError::Empty)));
        assert!(matches!(
            encode_h264(&[gradient(63, 48, 0)], &o),
            Err(ClipError::Size(_))
        ));
        assert!(matches!(
            encode_h264(&[gradient(64, 48, 0), gradient(64, 50, 0)], &o),
            Err(ClipError::Size(_))
        ));
    }

    #[test]
    fn hold_spreads_the_poses_in_order() {
        let poses: Vec<_> = (0..3).map(|i| gradient(4, 4, i)).collect();
        let frames = hold(&poses, 7);
        assert_eq!(frames.len(), 7);
        let index = |f: &RgbImage| poses.iter().position(|p| p == f).unwrap();
        let order: Vec<_> = frames.iter().map(index).collect();
        assert_eq!(order, [0, 0, 0, 1, 1, 2, 2]);
    }
}
