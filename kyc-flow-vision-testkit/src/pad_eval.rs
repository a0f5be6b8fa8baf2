//! Presentation-attack detection (PAD) evaluation on a labelled folder, and the development
//! set it is run on here.
//!
//! Folder layout: `DIR/live/*` are bona fide presentations, `DIR/attack/<kind>/*` (or
//! `DIR/attack/*`) are attacks; JPEG, PNG or WebP. The report gives, at the configured
//! threshold, APCER (attacks accepted as live / attacks, per kind and overall) and BPCER (live
//! faces rejected / live faces), ISO/IEC 30107-3 style; photos where no usable face was found
//! are counted apart (failure to acquire), not folded into either rate.
//!
//! [`build_dev_set`] writes the development set used for `docs/VISION.md`: the public-domain
//! photos shipped in PyPI `face_recognition` 1.3.0 (`.assets/photos`), lightly varied
//! (re-encoded, downscaled, mirrored, EXIF-rotated), and attacks made from them: the
//! generator's `printed_photo` and `screen_replay` plus variants written for this set (a
//! halftone print, a close-up screen without bezel, a screen photographed at another scale).
//! It is split by photo: `tune/` (obama, obama2) was looked at while setting the fusion
//! weights and the threshold; `report/` (obama3, biden) was not. All attacks are simulated and
//! there are two people: the figures show the detector's behaviour, not its real-world error
//! rates.

use crate::face_eval::jpeg;
use crate::liveness_sim::{printed_photo, screen_replay};
use image::{Rgb, RgbImage, imageops};
use kyc_flow_vision::assets::AssetPaths;
use kyc_flow_vision::face::{FaceError, decode_photo};
use kyc_flow_vision::liveness::{LocalLiveness, PadReport};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One evaluated image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PadSample {
    /// File name relative to the folder.
    pub file: String,
    /// `live` or the attack kind (`attack` when the folder gives none).
    pub label: String,
    /// `None` when no usable face was found (then `retake` says why).
    pub report: Option<PadReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retake: Option<String>,
}

/// Rates at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PadRates {
    pub threshold: f32,
    /// Attacks accepted / attacks scored.
    pub apcer: f32,
    /// Live faces rejected / live faces scored.
    pub bpcer: f32,
    /// Per attack kind: (accepted, scored).
    pub per_kind: BTreeMap<String, (usize, usize)>,
}

/// The evaluation of one folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PadEvaluation {
    pub samples: Vec<PadSample>,
    pub live_scored: usize,
    pub attacks_scored: usize,
    /// Images with no usable face: (live, attack).
    pub failures_to_acquire: (usize, usize),
    /// The fused score (what the engine reports) at the engine's threshold.
    pub fused: PadRates,
    /// The network alone at the single 2.7× crop and 0.5 (the engine before this work).
    pub network_at_2_7: PadRates,
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jpg" | "jpeg" | "png" | "webp")
    )
}

fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The labelled images of `dir`: `(path, label)`.
pub fn labelled_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out: Vec<(PathBuf, String)> = files_under(&dir.join("live"))?
        .into_iter()
        .map(|p| (p, "live".to_owned()))
        .collect();
    let attack = dir.join("attack");
    for p in files_under(&attack)? {
        let kind = p
            .parent()
            .filter(|parent| *parent != attack)
            .and_then(|parent| parent.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("attack")
            .to_owned();
        out.push((p, kind));
    }
    Ok(out)
}

fn rates(
    samples: &[PadSample],
    threshold: f32,
    score: impl Fn(&PadReport) -> f32,
) -> (PadRates, usize, usize) {
    let (mut live, mut live_rej, mut att, mut att_acc) = (0, 0, 0, 0);
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in samples {
        let Some(r) = &s.report else { continue };
        let accepted = score(r) >= threshold;
        if s.label == "live" {
            live += 1;
            live_rej += usize::from(!accepted);
        } else {
            att += 1;
            att_acc += usize::from(accepted);
            let e = per_kind.entry(s.label.clone()).or_default();
            e.0 += usize::from(accepted);
            e.1 += 1;
        }
    }
    let ratio = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f32 / n as f32 };
    (
        PadRates {
            threshold,
            apcer: ratio(att_acc, att),
            bpcer: ratio(live_rej, live),
            per_kind,
        },
        live,
        att,
    )
}

/// Runs `checker` on every labelled image of `dir`.
pub fn evaluate_folder(
    checker: &LocalLiveness,
    threshold: f32,
    dir: &Path,
) -> Result<PadEvaluation, FaceError> {
    let files = labelled_files(dir)
        .map_err(|e| FaceError::Task(format!("listing {}: {e}", dir.display())))?;
    let mut samples = Vec::new();
    let (mut fta_live, mut fta_attack) = (0, 0);
    for (path, label) in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| FaceError::Task(format!("reading {}: {e}", path.display())))?;
        let file = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let (report, retake) = match decode_photo(&bytes) {
            None => (None, Some("unsupported_media".to_owned())),
            Some(img) => match checker.assess_image(&img)? {
                Ok(r) => (Some(r), None),
                Err(outcome) => (None, Some(format!("{outcome:?}"))),
            },
        };
        if report.is_none() {
            if label == "live" {
                fta_live += 1;
            } else {
                fta_attack += 1;
            }
        }
        samples.push(PadSample {
            file,
            label,
            report,
            retake,
        });
    }
    let (fused, live_scored, attacks_scored) = rates(&samples, threshold, |r| r.score);
    let (network_at_2_7, _, _) = rates(&samples, 0.5, |r| {
        r.scales
            .iter()
            .find(|s| (s.scale - 2.7).abs() < 1e-3)
            .map_or(r.model, |s| s.score)
    });
    Ok(PadEvaluation {
        samples,
        live_scored,
        attacks_scored,
        failures_to_acquire: (fta_live, fta_attack),
        fused,
        network_at_2_7,
    })
}

/// Which photos go to which split of the development set.
pub const DEV_SPLIT: [(&str, &str); 4] = [
    ("obama.jpg", "tune"),
    ("obama2.jpg", "tune"),
    ("obama3.jpg", "report"),
    ("biden.jpg", "report"),
];

/// A print made with a halftone screen (ink dots on a rotated grid, one angle per channel),
/// photographed: slight blur, downscaled, on a sheet on a desk.
pub fn halftone_print(img: &RgbImage) -> RgbImage {
    let cell = 5.0f32;
    let angles = [15f32, 75.0, 0.0].map(f32::to_radians);
    let mut dots = RgbImage::new(img.width(), img.height());
    for (x, y, p) in img.enumerate_pixels() {
        let mut out = [0u8; 3];
        for c in 0..3 {
            let (s, co) = angles[c].sin_cos();
            let (u, v) = (
                x as f32 * co + y as f32 * s,
                -(x as f32) * s + y as f32 * co,
            );
            // Distance-to-dot-centre threshold: darker tone = bigger dot of ink.
            let fu = (u / cell).fract() - 0.5;
            let fv = (v / cell).fract() - 0.5;
            let d = (fu * fu + fv * fv).sqrt() / std::f32::consts::FRAC_1_SQRT_2;
            let ink = 1.0 - f32::from(p[c]) / 255.0;
            out[c] = if d < ink.sqrt() { 40 } else { 238 };
        }
        dots.put_pixel(x, y, Rgb(out));
    }
    let blurred = imageops::blur(&dots, 0.7);
    let small = imageops::resize(
        &blurred,
        img.width() * 4 / 5,
        img.height() * 4 / 5,
        imageops::FilterType::Triangle,
    );
    let margin = small.width() / 14;
    let mut sheet = RgbImage::from_pixel(
        small.width() + 2 * margin,
        small.height() + 2 * margin,
        Rgb([240, 238, 230]),
    );
    imageops::overlay(&mut sheet, &small, i64::from(margin), i64::from(margin));
    let border = sheet.width() / 4;
    let mut scene = RgbImage::from_pixel(
        sheet.width() + 2 * border,
        sheet.height() + 2 * border,
        Rgb([95, 80, 70]),
    );
    imageops::overlay(&mut scene, &sheet, i64::from(border), i64::from(border));
    scene
}

/// A screen held close: the sub-pixel grid (RGB stripes, period 3 px) and a raised black
/// level, no bezel in view, then photographed at 0.83× so the grid beats into moiré.
pub fn screen_closeup(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() * 3 / 2, img.height() * 3 / 2);
    let big = imageops::resize(img, w, h, imageops::FilterType::Triangle);
    let mut screen = RgbImage::new(w, h);
    for (x, y, p) in big.enumerate_pixels() {
        let mut out = [0u8; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let lit = if x as usize % 3 == c { 1.0 } else { 0.55 };
            *o = ((f32::from(p[c]) * 0.85 + 25.0) * lit).clamp(0.0, 255.0) as u8;
        }
        screen.put_pixel(x, y, Rgb(out));
    }
    imageops::resize(
        &screen,
        (w as f32 * 0.83) as u32,
        (h as f32 * 0.83) as u32,
        imageops::FilterType::Triangle,
    )
}

/// Sets the EXIF orientation of a baseline JPEG by inserting an APP1 segment after SOI, and
/// rotates the pixels the other way, so a reader that ignores EXIF sees the face sideways.
pub fn exif_rotated_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    // Orientation 6: the stored pixels must be rotated 90° clockwise to display.
    let stored = imageops::rotate270(img);
    let body = jpeg(&stored, quality);
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08"); // big-endian, IFD at 8
    tiff.extend_from_slice(&[0x00, 0x01]); // one entry
    tiff.extend_from_slice(&[
        0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
    ]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = Vec::with_capacity(body.len() + app1.len() + 4);
    out.extend_from_slice(&body[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&body[2..]);
    out
}

/// Writes the development set to `out/{tune,report}/{live,attack/<kind>}/`. Returns the
/// number of files written.
pub fn build_dev_set(assets: &AssetPaths, out: &Path) -> Result<usize, FaceError> {
    let io = |e: std::io::Error| FaceError::Task(format!("writing the dev set: {e}"));
    let mut written = 0;
    for (name, split) in DEV_SPLIT {
        let bytes = std::fs::read(assets.photo(name)?)
            .map_err(|e| FaceError::Task(format!("reading {name}: {e}")))?;
        let img = decode_photo(&bytes)
            .ok_or_else(|| FaceError::Task(format!("{name} does not decode")))?;
        let stem = name.trim_end_matches(".jpg");
        let half = imageops::resize(
            &img,
            img.width() / 2,
            img.height() / 2,
            imageops::FilterType::Triangle,
        );
        let live: Vec<(String, Vec<u8>)> = vec![
            (format!("{stem}.jpg"), bytes.clone()),
            (format!("{stem}-q60.jpg"), jpeg(&img, 60)),
            (format!("{stem}-half.jpg"), jpeg(&half, 80)),
            (
                format!("{stem}-mirror.jpg"),
                jpeg(&imageops::flip_horizontal(&img), 85),
            ),
            (format!("{stem}-exif6.jpg"), exif_rotated_jpeg(&img, 85)),
        ];
        // Attacks are re-encoded as a camera would (JPEG q85), like face_eval does.
        let attacks: Vec<(&str, RgbImage)> = vec![
            ("print", printed_photo(&img)),
            ("screen", screen_replay(&img)),
            ("halftone-print", halftone_print(&img)),
            ("screen-closeup", screen_closeup(&img)),
        ];
        let base = out.join(split);
        std::fs::create_dir_all(base.join("live")).map_err(io)?;
        for (file, data) in live {
            std::fs::write(base.join("live").join(file), data).map_err(io)?;
            written += 1;
        }
        for (kind, shown) in attacks {
            let dir = base.join("attack").join(kind);
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::write(dir.join(format!("{stem}.jpg")), jpeg(&shown, 85)).map_err(io)?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_rotated_jpeg_decodes_upright() {
        let img = RgbImage::from_fn(40, 20, |x, _| Rgb([(x * 6) as u8, 0, 0]));
        let bytes = exif_rotated_jpeg(&img, 95);
        let back = decode_photo(&bytes).unwrap();
        assert_eq!(back.dimensions(), (40, 20));
        // Left dark, right bright, as in the original.
        assert!(back.get_pixel(2, 10)[0] < 60 && back.get_pixel(37, 10)[0] > 180);
    }

    #[test]
    fn labels_come_from_the_folders() {
        let dir = std::env::temp_dir().join(format!("kyc-pad-labels-{}", std::process::id()));
        for d in ["live", "attack/print", "attack"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in [
            "live/a.jpg",
            "attack/print/b.png",
            "attack/c.webp",
            "live/notes.txt",
        ] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let mut got: Vec<(String, String)> = labelled_files(&dir)
            .unwrap()
            .into_iter()
            .map(|(p, l)| (p.file_name().unwrap().to_str().unwrap().to_owned(), l))
            .collect();
        got.sort();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            got,
            [
                ("a.jpg".into(), "live".into()),
                ("b.png".into(), "print".into()),
                ("c.webp".into(), "attack".into())
            ]
        );
    }
}
