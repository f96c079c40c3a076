//! The MNIST-C-only corruptions (Mu & Gilmer 2019, google-research/mnist-c `corruptions.py`): affine maps about
//! the image centre, stripe, dotted and zigzag lines, Canny edges.
//!
//! They are defined on 28×28 digits; on other sizes the affine maps keep the centre `((W−1)/2, (H−1)/2)` fixed
//! (13.5 at 28 px), line end points are scaled by `(W−1)/27`, `(H−1)/27`, and the stripe width is `⌊W/4⌋`
//! (7 at 28 px).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::edges::{self, CannySettings};
use super::filter::Border;
use super::image::Image;
use super::resample::{self, Affine};

/// scikit-image's `AffineTransform(scale, rotation, shear)` matrix with the translation chosen so that the
/// image centre is a fixed point, used as the inverse map of a `warp` (bilinear, zero outside): output pixel
/// `p` reads the input at `A·p + t`.
fn warp_about_centre(img: &Image, scale: f64, rotation: f64, shear: f64) -> Image {
    let a0 = scale * rotation.cos();
    let a1 = -scale * (rotation + shear).sin();
    let b0 = scale * rotation.sin();
    let b1 = scale * (rotation + shear).cos();
    let (cx, cy) = ((img.width as f64 - 1.0) / 2.0, (img.height as f64 - 1.0) / 2.0);
    let tx = cx - a0 * cx - a1 * cy;
    let ty = cy - b0 * cx - b1 * cy;
    resample::warp(img, &Affine([a0, a1, tx, b0, b1, ty]), Border::Zero).clamp01()
}

fn random_sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.random::<bool>() { 1.0 } else { -1.0 }
}

/// Shear by `±shear` (sign at random) about the centre.
pub fn shear(img: &Image, shear: f32, rng: &mut ChaCha8Rng) -> Image {
    let s = f64::from(shear) * random_sign(rng);
    warp_about_centre(img, 1.0, 0.0, s)
}

/// Rotation by `±angle` radians (sign at random) about the centre.
pub fn rotate(img: &Image, angle: f32, rng: &mut ChaCha8Rng) -> Image {
    let a = f64::from(angle) * random_sign(rng);
    warp_about_centre(img, 1.0, a, 0.0)
}

/// Scale: the output reads the input at `zoom ×` its distance from the centre, so the digit shrinks by `zoom`.
pub fn scale(img: &Image, zoom: f32) -> Image {
    warp_about_centre(img, f64::from(zoom), 0.0, 0.0)
}

/// Translation by `±shift` pixels along each axis (signs at random), zero filled.
pub fn translate(img: &Image, shift: f32, rng: &mut ChaCha8Rng) -> Image {
    let dx = f64::from(shift) * random_sign(rng);
    let dy = f64::from(shift) * random_sign(rng);
    resample::warp(img, &Affine([1.0, 0.0, dx, 0.0, 1.0, dy]), Border::Zero).clamp01()
}

/// Stripe: `x' = 1 − x` on the `⌊W/4⌋` leftmost and rightmost columns.
pub fn stripe(img: &Image) -> Image {
    let band = img.width / 4;
    let mut out = img.clone();
    let c = img.channels;
    for y in 0..img.height {
        for x in (0..band).chain(img.width - band..img.width) {
            for ch in 0..c {
                let v = &mut out.data[(y * img.width + x) * c + ch];
                *v = 1.0 - *v;
            }
        }
    }
    out
}

/// MNIST-C's anti-aliased line through `(c0, r0)` and `(c1, r1)` (column, row): intensity
/// `clip(1 + ln(1 − d/2.3))` at vertical distance `d < 2.3` from the line, zero outside columns
/// `⌊c0⌋ … ⌈c1⌉ − 1`.
fn line(h: usize, w: usize, c0: f64, r0: f64, c1: f64, r1: f64) -> Vec<f32> {
    let mut out = vec![0.0f32; h * w];
    if c1 == c0 {
        return out;
    }
    let m = (r1 - r0) / (c1 - c0);
    let (l, r) = (c0.floor().max(0.0) as usize, (c1.ceil().max(0.0) as usize).min(w));
    for col in l..r {
        let f = m * (col as f64 - c0) + r0;
        for row in 0..h {
            let d = (row as f64 - f).abs().min(2.3 - 1e-10);
            out[row * w + col] = ((1.0 - d / 2.3).ln() + 1.0).clamp(0.0, 1.0) as f32;
        }
    }
    out
}

fn add_layer(img: &Image, layer: &[f32]) -> Image {
    let mut out = img.clone();
    let c = img.channels;
    for (i, px) in out.data.chunks_exact_mut(c).enumerate() {
        px.iter_mut().for_each(|v| *v = (*v + layer[i]).clamp(0.0, 1.0));
    }
    out
}

/// Dotted line: a line from the left to the right edge at random heights, with every other 2-column band
/// (starting with columns 0–1) removed.
pub fn dotted_line(img: &Image, rng: &mut ChaCha8Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let (sy, sx) = ((h as f64 - 1.0) / 27.0, (w as f64 - 1.0) / 27.0);
    let r0 = f64::from(rng.random_range(0..27)) * sy;
    let r1 = f64::from(rng.random_range(0..27)) * sy;
    let mut layer = line(h, w, 0.0, r0, 27.0 * sx, r1);
    for x in 0..w {
        if (x / 2) % 2 == 0 {
            for y in 0..h {
                layer[y * w + x] = 0.0;
            }
        }
    }
    add_layer(img, &layer)
}

/// Zigzag: a zigzag of 2-pixel amplitude and 4-pixel period along a random, slightly tilted line from column 2
/// to column 25, drawn segment by segment with [`line`] (MNIST-C's construction, including its last segment).
pub fn zigzag(img: &Image, rng: &mut ChaCha8Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let (sy, sx) = ((h as f64 - 1.0) / 27.0, (w as f64 - 1.0) / 27.0);
    let (a, b) = (2.0f64, 2.0f64);
    let (c0, c1) = (2.0, 25.0);
    let r0 = f64::from(rng.random_range(0..27));
    let r1 = r0 + f64::from(rng.random_range(-5..5));
    let theta = ((r1 - r0) / (c1 - c0)).atan();
    let d = (c1 - c0) / theta.cos();
    let mut pts = vec![(0.0, 0.0)];
    let mut r_last = 0.0;
    for i in 0..(((d - a) / (2.0 * a)).floor() as i64 + 1) {
        let ci = (2 * i + 1) as f64 * a;
        r_last = if i % 2 == 0 { b } else { -b };
        pts.push((ci, r_last));
    }
    let max_c = 2.0 * a * (d / (2.0 * a)).floor();
    if d != max_c {
        pts.push((d, r_last / (2.0 * (d - max_c))));
    }
    let (sin, cos) = theta.sin_cos();
    let pts: Vec<(f64, f64)> = pts
        .into_iter()
        .map(|(c, r)| ((cos * c - sin * r + c0) * sx, (sin * c + cos * r + r0) * sy))
        .collect();
    let mut out = img.clone();
    for seg in pts.windows(2) {
        let layer = line(h, w, seg[0].0, seg[0].1, seg[1].0, seg[1].1);
        out = add_layer(&out, &layer);
    }
    out
}

/// Canny edges (scikit-image defaults: σ = 1, thresholds 0.1 / 0.2) of the luma replace the image (1 on edges).
pub fn canny_edges(img: &Image) -> Image {
    let e = edges::canny(&img.luma(), img.height, img.width, &CannySettings::SKIMAGE_DEFAULT);
    let c = img.channels;
    Image { data: e.iter().flat_map(|&v| std::iter::repeat_n(f32::from(v), c)).collect(), ..img.clone() }
}
