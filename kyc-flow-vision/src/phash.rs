//! Perceptual hash (DCT pHash, 64 bits) of a photo, to find the same image sent again in
//! another session: a re-encoded, rescaled or slightly recoloured copy stays within a few bits;
//! a different photo differs in about half of them.
//!
//! The photo is reduced to 32×32 luma by box averaging (so the hash does not depend on the
//! resolution WhatsApp delivered), transformed with a 2-D DCT-II, and the 8×8 lowest
//! frequencies without the DC term are compared with their median: one bit per coefficient.
//! Bit 0 is the DC position and is always 0.

use image::RgbImage;

const SIDE: usize = 32;
const LOW: usize = 8;

/// 32×32 luma by box averaging over the (sampled) source pixels each cell covers.
fn reduce(img: &RgbImage) -> [f32; SIDE * SIDE] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut sum = [0f32; SIDE * SIDE];
    let mut count = [0u32; SIDE * SIDE];
    // At most ~256 samples per side: a 32×32 box average does not need every pixel of a
    // 1600 px photo (and the cost stays fixed).
    let step = (w.max(h) / 256).max(1);
    for y in (0..h).step_by(step) {
        for x in (0..w).step_by(step) {
            let p = img.get_pixel(x as u32, y as u32);
            let cx = (x * SIDE / w.max(1)).min(SIDE - 1);
            let cy = (y * SIDE / h.max(1)).min(SIDE - 1);
            let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            sum[cy * SIDE + cx] += l;
            count[cy * SIDE + cx] += 1;
        }
    }
    let mut out = [0f32; SIDE * SIDE];
    for i in 0..SIDE * SIDE {
        out[i] = if count[i] > 0 {
            sum[i] / count[i] as f32
        } else {
            0.0
        };
    }
    out
}

/// The 64-bit pHash of `img`.
pub fn phash(img: &RgbImage) -> u64 {
    let px = reduce(img);
    // DCT-II basis for the low frequencies only: c[u][x] = cos(π (2x + 1) u / 2N).
    let mut basis = [[0f32; SIDE]; LOW];
    for (u, row) in basis.iter_mut().enumerate() {
        for (x, b) in row.iter_mut().enumerate() {
            *b = (std::f32::consts::PI * (2 * x + 1) as f32 * u as f32 / (2 * SIDE) as f32).cos();
        }
    }
    // Rows first (SIDE rows × LOW frequencies), then columns.
    let mut rows = [[0f32; LOW]; SIDE];
    for (y, r) in rows.iter_mut().enumerate() {
        for (u, v) in r.iter_mut().enumerate() {
            *v = (0..SIDE).map(|x| px[y * SIDE + x] * basis[u][x]).sum();
        }
    }
    let mut coef = [0f32; LOW * LOW];
    for v in 0..LOW {
        for u in 0..LOW {
            coef[v * LOW + u] = (0..SIDE).map(|y| rows[y][u] * basis[v][y]).sum();
        }
    }
    let mut ac: Vec<f32> = coef[1..].to_vec();
    ac.sort_by(f32::total_cmp);
    let median = ac[ac.len() / 2];
    let mut hash = 0u64;
    for (i, c) in coef.iter().enumerate().skip(1) {
        if *c > median {
            hash |= 1 << i;
        }
    }
    hash
}

/// Bits that differ between two hashes (0–64).
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, imageops};
    // Only `image` types cross this boundary, so the test kit's copy of this crate is harmless.
    use kyc_flow_vision_testkit::face_eval::jpeg;

    fn scene(seed: u32, w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let s = seed as f32;
            let v = 128.0
                + 60.0 * ((fx * (3.0 + s) + fy * 2.0).sin())
                + 50.0 * ((fy * (5.0 + s * 0.7)).cos() * (fx * 4.0).sin());
            let v = v.clamp(0.0, 255.0) as u8;
            Rgb([v, v.saturating_sub(20), v / 2 + 40])
        })
    }

    #[test]
    fn copies_stay_close_and_other_images_do_not() {
        let a = scene(1, 640, 480);
        let h = phash(&a);
        let reencoded = image::load_from_memory(&jpeg(&a, 55)).unwrap().to_rgb8();
        let small = imageops::resize(&a, 320, 240, imageops::FilterType::Triangle);
        let brighter = RgbImage::from_fn(640, 480, |x, y| {
            let p = a.get_pixel(x, y);
            Rgb(p.0.map(|c| c.saturating_add(12)))
        });
        for (name, copy) in [
            ("jpeg q55", reencoded),
            ("half size", small),
            ("brighter", brighter),
        ] {
            let d = distance(h, phash(&copy));
            assert!(d <= 6, "{name}: {d} bits");
        }
        for seed in 2..6 {
            let d = distance(h, phash(&scene(seed, 640, 480)));
            assert!(d >= 14, "seed {seed}: only {d} bits");
        }
    }

    #[test]
    fn the_dc_bit_is_never_set_and_half_the_bits_are() {
        let h = phash(&scene(3, 200, 300));
        assert_eq!(h & 1, 0);
        let ones = h.count_ones();
        assert!((28..=36).contains(&ones), "{ones}");
    }
}
