//! Model-free presentation-attack signals: what a photo of a screen or of a print leaves in
//! the pixels, independent of the liveness network so the two fail differently.
//!
//! - [`periodic_peak`]: a screen's pixel grid (and the moiré it beats into with the camera's
//!   sensor) and a print's halftone screen are *periodic*; skin, hair and lens blur are not.
//!   In the power spectrum of a window of the face at native resolution a periodic pattern is
//!   a narrow peak far above the other bins at the same radius. The score is that excess in
//!   natural-log units (≈ 2.5 on noise, ≥ 4 for a clear grid). Bins on the 8×8 JPEG block grid
//!   are skipped: every WhatsApp photo has them.
//! - [`frame_edges`]: a phone bezel or the edge of a sheet of paper is a long straight edge
//!   close around the face, on several sides. The score counts the sides (0–4, fractional) on
//!   which one column or row next to the face has a strong, consistently signed gradient
//!   along its whole length.
//! - [`black_level`]: paper cannot reach black and a photographed screen glows: the darkest
//!   percentile of the area around the face is raised. Weak on its own (a bright room does the
//!   same), so it carries little weight.
//!
//! [`fuse`] combines these with the liveness network's score in a fixed logistic model whose
//! weights are set by hand and documented in `docs/VISION.md` ("Presentation-attack
//! detection"); none of it is certified.

use crate::face::{FaceBox, fit_rect};
use image::RgbImage;
use serde::Serialize;

/// The model-free signals on one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PadSignals {
    /// Spectral peak excess in the face window (log units); higher = more periodic.
    pub periodic: f32,
    /// Sides of the face closed by a long straight edge (0–4).
    pub frame: f32,
    /// 2nd percentile of luma around the face (0–255).
    pub black_level: f32,
}

/// Weights of the fused score (a logistic model on the signals), documented in
/// `docs/VISION.md`. The model term is the network's fused logit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FusionWeights {
    pub bias: f32,
    pub model: f32,
    /// Per log unit of spectral excess above `periodic_onset`.
    pub periodic: f32,
    pub periodic_onset: f32,
    /// Per side closed by a straight edge above `frame_onset`.
    pub frame: f32,
    pub frame_onset: f32,
    /// Per 10 grey levels of black level above `black_onset`.
    pub black: f32,
    pub black_onset: f32,
}

impl Default for FusionWeights {
    fn default() -> Self {
        Self {
            bias: 1.0,
            model: 0.6,
            periodic: 2.0,
            periodic_onset: 5.0,
            frame: 2.5,
            frame_onset: 1.5,
            black: 0.5,
            black_onset: 45.0,
        }
    }
}

/// Probability-like fused score in [0, 1]: the network's logit plus penalties for each
/// attack cue past its onset.
pub fn fuse(model_logit: f32, s: &PadSignals, w: &FusionWeights) -> f32 {
    let z = w.bias + w.model * model_logit.clamp(-12.0, 12.0)
        - w.periodic * (s.periodic - w.periodic_onset).max(0.0)
        - w.frame * (s.frame - w.frame_onset).max(0.0)
        - w.black * ((s.black_level - w.black_onset).max(0.0) / 10.0);
    1.0 / (1.0 + (-z).exp())
}

/// All the model-free signals for the face in `bbox`.
pub fn signals(img: &RgbImage, bbox: &FaceBox) -> PadSignals {
    PadSignals {
        periodic: periodic_peak(img, bbox),
        frame: frame_edges(img, bbox),
        black_level: black_level(img, bbox),
    }
}

fn luma(p: &image::Rgb<u8>) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

/// In-place radix-2 FFT of `re`/`im` (length a power of two).
fn fft(re: &mut [f32], im: &mut [f32]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * std::f32::consts::PI / len as f32;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (ang * k as f32).sin_cos();
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// Power spectrum of an `n×n` real window (row-major), `n` a power of two.
pub fn power_spectrum(window: &[f32], n: usize) -> Vec<f32> {
    let mut re = window.to_vec();
    let mut im = vec![0.0; n * n];
    let (mut rr, mut ri) = (vec![0.0; n], vec![0.0; n]);
    for y in 0..n {
        fft(&mut re[y * n..(y + 1) * n], &mut im[y * n..(y + 1) * n]);
    }
    for x in 0..n {
        for y in 0..n {
            rr[y] = re[y * n + x];
            ri[y] = im[y * n + x];
        }
        fft(&mut rr, &mut ri);
        for y in 0..n {
            re[y * n + x] = rr[y];
            im[y * n + x] = ri[y];
        }
    }
    re.iter().zip(&im).map(|(r, i)| r * r + i * i).collect()
}

/// Largest window side used (native pixels): enough bins to resolve a pixel grid, cheap
/// (≈1 ms).
const MAX_WINDOW: usize = 128;
const MIN_WINDOW: usize = 32;

/// Spectral peak excess inside the face (see the module docs). 0 when the face is too small
/// for a meaningful window.
pub fn periodic_peak(img: &RgbImage, bbox: &FaceBox) -> f32 {
    // The inner part of the box: skin, eyes, nose; little background.
    let side = (bbox.width().min(bbox.height()) * 0.7) as usize;
    let mut n = MAX_WINDOW;
    while n > side {
        n /= 2;
    }
    if n < MIN_WINDOW {
        return 0.0;
    }
    let (x0, y0, w, h) = fit_rect(
        (bbox.x0 + bbox.x1) / 2.0,
        (bbox.y0 + bbox.y1) / 2.0,
        n as f32,
        n as f32,
        img.width(),
        img.height(),
    );
    if (w as usize) < n || (h as usize) < n {
        return 0.0;
    }
    let mut win = Vec::with_capacity(n * n);
    for y in 0..n {
        for x in 0..n {
            win.push(luma(img.get_pixel(x0 + x as u32, y0 + y as u32)));
        }
    }
    let mean = win.iter().sum::<f32>() / win.len() as f32;
    let hann: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos())
        .collect();
    for y in 0..n {
        for x in 0..n {
            win[y * n + x] = (win[y * n + x] - mean) * hann[x] * hann[y];
        }
    }
    spectral_excess(&power_spectrum(&win, n), n)
}

/// The excess (log units) of the strongest mid/high-frequency peaks over the median of their
/// ring, skipping the JPEG block grid. Mean of the top three, so one noisy bin does not count.
pub fn spectral_excess(power: &[f32], n: usize) -> f32 {
    let half = n as i32 / 2;
    let block = n as i32 / 8;
    let r_min = (n as f32 / 10.0).max(3.0);
    let mut rings: Vec<Vec<f32>> = vec![Vec::new(); half as usize + 1];
    let mut bins = Vec::new();
    // Only half the plane: a real signal's spectrum is symmetric.
    for v in 0..=half {
        for u in -half + 1..half {
            if v == 0 && u <= 0 {
                continue;
            }
            let r = ((u * u + v * v) as f32).sqrt();
            if r < r_min || r > half as f32 {
                continue;
            }
            let near_grid = |k: i32| {
                let m = k.rem_euclid(block);
                m <= 1 || m >= block - 1
            };
            if near_grid(u) && near_grid(v) {
                continue;
            }
            let (ux, vy) = (u.rem_euclid(n as i32) as usize, v as usize);
            let lp = (power[vy * n + ux] + 1e-6).ln();
            rings[r.round() as usize].push(lp);
            bins.push((r.round() as usize, lp));
        }
    }
    let medians: Vec<f32> = rings
        .iter_mut()
        .map(|ring| {
            if ring.is_empty() {
                return 0.0;
            }
            ring.sort_by(f32::total_cmp);
            ring[ring.len() / 2]
        })
        .collect();
    let mut excess: Vec<f32> = bins.iter().map(|(r, lp)| lp - medians[*r]).collect();
    excess.sort_by(|a, b| b.total_cmp(a));
    let top = &excess[..excess.len().min(3)];
    if top.is_empty() {
        0.0
    } else {
        top.iter().sum::<f32>() / top.len() as f32
    }
}

/// Sides of the face closed by a straight edge (see the module docs), on a gray copy of the
/// region 4× the face box, downscaled to at most 256 px so the cost is fixed.
pub fn frame_edges(img: &RgbImage, bbox: &FaceBox) -> f32 {
    let (cx, cy) = ((bbox.x0 + bbox.x1) / 2.0, (bbox.y0 + bbox.y1) / 2.0);
    let side = bbox.width().max(bbox.height()) * 4.0;
    let (x0, y0, w, h) = fit_rect(cx, cy, side, side, img.width(), img.height());
    let step = (w.max(h) as f32 / 256.0).max(1.0);
    let (gw, gh) = ((w as f32 / step) as usize, (h as f32 / step) as usize);
    if gw < 16 || gh < 16 {
        return 0.0;
    }
    let gray: Vec<f32> = (0..gh * gw)
        .map(|i| {
            let (x, y) = ((i % gw) as f32 * step, (i / gw) as f32 * step);
            luma(img.get_pixel(
                (x0 + x as u32).min(img.width() - 1),
                (y0 + y as u32).min(img.height() - 1),
            ))
        })
        .collect();
    let at = |x: usize, y: usize| gray[y * gw + x];
    // Face box in the gray grid.
    let fx0 = ((bbox.x0 - x0 as f32) / step).max(0.0) as usize;
    let fx1 = (((bbox.x1 - x0 as f32) / step) as usize).min(gw - 1);
    let fy0 = ((bbox.y0 - y0 as f32) / step).max(0.0) as usize;
    let fy1 = (((bbox.y1 - y0 as f32) / step) as usize).min(gh - 1);
    let (fw, fh) = (
        fx1.saturating_sub(fx0).max(1),
        fy1.saturating_sub(fy0).max(1),
    );
    // Typical gradient size, to normalize (a busy scene has many edges).
    let mut grads: Vec<f32> = Vec::with_capacity(gw * gh);
    for y in 1..gh - 1 {
        for x in 1..gw - 1 {
            grads.push((at(x + 1, y) - at(x - 1, y)).abs());
        }
    }
    grads.sort_by(f32::total_cmp);
    let typical = grads[grads.len() * 3 / 4].max(2.0);
    // An edge must span the face's extent and more along its length (a bezel or paper edge
    // runs past the face): the segment is 1.6× the face size, centred on it.
    let strength_col = |x: usize| -> f32 {
        let half = fh * 8 / 10;
        let (a, b) = (
            ((fy0 + fy1) / 2).saturating_sub(half).max(1),
            ((fy0 + fy1) / 2 + half).min(gh - 2),
        );
        if b <= a + 4 {
            return 0.0;
        }
        let sum: f32 = (a..b).map(|y| at(x + 1, y) - at(x - 1, y)).sum();
        (sum / (b - a) as f32).abs()
    };
    let strength_row = |y: usize| -> f32 {
        let half = fw * 8 / 10;
        let (a, b) = (
            ((fx0 + fx1) / 2).saturating_sub(half).max(1),
            ((fx0 + fx1) / 2 + half).min(gw - 2),
        );
        if b <= a + 4 {
            return 0.0;
        }
        let sum: f32 = (a..b).map(|x| at(x, y + 1) - at(x, y - 1)).sum();
        (sum / (b - a) as f32).abs()
    };
    // Search from just outside the face to 1.5 face sizes away.
    let best = |range: Vec<usize>, f: &dyn Fn(usize) -> f32| {
        range.into_iter().map(f).fold(0.0f32, f32::max)
    };
    let left: Vec<usize> = (1..gw - 1)
        .filter(|&x| x + fw / 8 < fx0 && fx0 - x <= fw * 3 / 2)
        .collect();
    let right: Vec<usize> = (1..gw - 1)
        .filter(|&x| x > fx1 + fw / 8 && x - fx1 <= fw * 3 / 2)
        .collect();
    let top: Vec<usize> = (1..gh - 1)
        .filter(|&y| y + fh / 8 < fy0 && fy0 - y <= fh * 3 / 2)
        .collect();
    let bottom: Vec<usize> = (1..gh - 1)
        .filter(|&y| y > fy1 + fh / 8 && y - fy1 <= fh * 3 / 2)
        .collect();
    let sides = [
        best(left, &strength_col),
        best(right, &strength_col),
        best(top, &strength_row),
        best(bottom, &strength_row),
    ];
    // A side counts fully when its edge is 4× the typical gradient, partly from 2×.
    sides
        .iter()
        .map(|s| ((s / typical - 2.0) / 2.0).clamp(0.0, 1.0))
        .sum()
}

/// 2nd percentile of luma in the region twice the face box.
pub fn black_level(img: &RgbImage, bbox: &FaceBox) -> f32 {
    let (x0, y0, w, h) = fit_rect(
        (bbox.x0 + bbox.x1) / 2.0,
        (bbox.y0 + bbox.y1) / 2.0,
        bbox.width() * 2.0,
        bbox.height() * 2.0,
        img.width(),
        img.height(),
    );
    let step = ((w.max(h) / 128).max(1)) as usize;
    let mut hist = [0u32; 256];
    let mut n = 0u32;
    for y in (y0..y0 + h).step_by(step) {
        for x in (x0..x0 + w).step_by(step) {
            hist[luma(img.get_pixel(x, y)).round().clamp(0.0, 255.0) as usize] += 1;
            n += 1;
        }
    }
    let target = (n as f32 * 0.02).ceil() as u32;
    let mut acc = 0;
    for (v, c) in hist.iter().enumerate() {
        acc += c;
        if acc >= target.max(1) {
            return v as f32;
        }
    }
    255.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn face_box(x0: f32, y0: f32, x1: f32, y1: f32) -> FaceBox {
        FaceBox {
            x0,
            y0,
            x1,
            y1,
            score: 0.9,
        }
    }

    /// Smooth deterministic texture (no periodic component strong enough to peak).
    fn smooth(w: u32, h: u32) -> RgbImage {
        let mut s = 12345u64;
        let mut noise = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((s >> 33) % 21) as f32 - 10.0
        };
        RgbImage::from_fn(w, h, |x, y| {
            let v = 120.0 + 40.0 * ((x as f32 / 37.0).sin() * (y as f32 / 53.0).cos()) + noise();
            let v = v.clamp(0.0, 255.0) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn fft_matches_a_naive_dft() {
        let n = 16;
        let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        fft(&mut re, &mut im);
        for k in 0..n {
            let (mut r, mut i) = (0.0f32, 0.0f32);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f32::consts::PI * (k * t) as f32 / n as f32;
                r += v * a.cos();
                i += v * a.sin();
            }
            assert!(
                (re[k] - r).abs() < 1e-3 && (im[k] - i).abs() < 1e-3,
                "bin {k}"
            );
        }
    }

    #[test]
    fn a_pixel_grid_peaks_and_smooth_texture_does_not() {
        let plain = smooth(400, 400);
        let bbox = face_box(100.0, 100.0, 300.0, 300.0);
        let base = periodic_peak(&plain, &bbox);
        // A screen-like sub-pixel grid with period 3 px horizontally, 5 px vertically.
        let grid = RgbImage::from_fn(400, 400, |x, y| {
            let p = plain.get_pixel(x, y)[0] as f32;
            let f = if x % 3 == 0 { 1.0 } else { 0.75 } * if y % 5 == 0 { 0.85 } else { 1.0 };
            let v = (p * f) as u8;
            Rgb([v, v, v])
        });
        let peaked = periodic_peak(&grid, &bbox);
        assert!(base < 5.0, "smooth texture scored {base}");
        assert!(peaked > base + 2.0, "grid {peaked} vs plain {base}");
    }

    #[test]
    fn a_frame_around_the_face_counts_its_sides() {
        let plain = smooth(600, 600);
        let bbox = face_box(250.0, 250.0, 350.0, 350.0);
        let open = frame_edges(&plain, &bbox);
        // A dark bezel from 170 to 430 on every side.
        let mut framed = plain.clone();
        for (x, y, p) in framed.enumerate_pixels_mut() {
            let inside = (170..430).contains(&x) && (170..430).contains(&y);
            if !inside {
                *p = Rgb([15, 15, 15]);
            }
        }
        let closed = frame_edges(&framed, &bbox);
        assert!(open < 1.0, "open scene {open}");
        assert!(closed > 3.0, "framed scene {closed}");
    }

    #[test]
    fn black_level_sees_raised_blacks() {
        let bbox = face_box(50.0, 50.0, 150.0, 150.0);
        let dark = RgbImage::from_fn(200, 200, |x, _| Rgb([(x % 200) as u8; 3]));
        let washed = RgbImage::from_fn(200, 200, |x, _| Rgb([(60 + x % 150) as u8; 3]));
        assert!(black_level(&dark, &bbox) < 10.0);
        assert!(black_level(&washed, &bbox) >= 60.0);
    }

    #[test]
    fn fusion_only_lowers_the_score_for_attack_cues() {
        let w = FusionWeights::default();
        let clean = PadSignals {
            periodic: 2.5,
            frame: 0.5,
            black_level: 10.0,
        };
        let screen = PadSignals {
            periodic: 7.0,
            ..clean
        };
        assert!(fuse(3.0, &clean, &w) > 0.9);
        assert!(fuse(3.0, &screen, &w) < 0.5);
        assert!(fuse(-3.0, &clean, &w) < 0.5);
    }
}
