//! Simulated presentation attacks on a selfie, for tests, the evaluation and the demo.
//!
//! These are *simulations* of two common attacks, not real attacks: a printed photo held up
//! to the camera, and a photo replayed on a screen. They exist to show how the local liveness
//! model reacts (docs/VISION.md, "Liveness"), never to certify anything. Deterministic: the
//! same input gives the same image.

use image::{Rgb, RgbImage, imageops};

/// Deterministic noise in [-1, 1].
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A print of the photo held in front of a desk: washed-out contrast, warm paper tone, grain,
/// slight blur, white paper margin, surrounded by a darker background.
pub fn printed_photo(img: &RgbImage) -> RgbImage {
    let mut rng = Lcg(7);
    let mut paper = RgbImage::new(img.width(), img.height());
    for (x, y, p) in img.enumerate_pixels() {
        let mut out = [0u8; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let tint = [1.0, 0.97, 0.88][c];
            let v = (f32::from(p[c]) * 0.65 + 60.0) * tint + rng.next() * 10.0;
            *o = v.clamp(0.0, 255.0) as u8;
        }
        paper.put_pixel(x, y, Rgb(out));
    }
    let paper = imageops::blur(&paper, 1.2);
    let margin = img.width() / 12;
    let mut sheet = RgbImage::from_pixel(
        img.width() + 2 * margin,
        img.height() + 2 * margin,
        Rgb([235, 230, 215]),
    );
    imageops::overlay(&mut sheet, &paper, i64::from(margin), i64::from(margin));
    let border = sheet.width() / 3;
    let mut scene = RgbImage::from_pixel(
        sheet.width() + 2 * border,
        sheet.height() + 2 * border,
        Rgb([70, 60, 50]),
    );
    imageops::overlay(&mut scene, &sheet, i64::from(border), i64::from(border));
    scene
}

/// The image as a screen shows it, at its own resolution: sub-pixel column stripes (period
/// 3 px, one colour channel bright per column), scan lines (period 4 px), a cold tint and
/// raised blacks.
pub fn screen_pixels(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        for c in 0..3 {
            let stripe = if (x as usize + c).is_multiple_of(3) {
                1.0
            } else {
                0.72
            };
            let scan = if y % 4 == 0 { 0.85 } else { 1.0 };
            let tint = [0.9, 0.97, 1.1][c];
            let v = (f32::from(p[c]) * 0.8 + 35.0) * stripe * scan * tint;
            p[c] = v.clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// The photo shown on a phone or laptop screen and photographed: subpixel stripes (moiré),
/// a cold tint, raised black level, and a black bezel.
pub fn screen_replay(img: &RgbImage) -> RgbImage {
    let screen = screen_pixels(img);
    let bezel = img.width() / 10;
    let mut device = RgbImage::from_pixel(
        img.width() + 2 * bezel,
        img.height() + 2 * bezel,
        Rgb([12, 12, 14]),
    );
    imageops::overlay(&mut device, &screen, i64::from(bezel), i64::from(bezel));
    let room = device.width() / 4;
    let mut scene = RgbImage::from_pixel(
        device.width() + 2 * room,
        device.height() + 2 * room,
        Rgb([150, 140, 130]),
    );
    imageops::overlay(&mut scene, &device, i64::from(room), i64::from(room));
    scene
}
