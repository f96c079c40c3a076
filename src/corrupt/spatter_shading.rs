//! The shading of spatter's water drops, computed from the 8-bit liquid layer as the reference computes it with
//! OpenCV, on integers wherever OpenCV's result is an integer.
//!
//! The chain is `D = 255 − Canny(L, 50, 150)`, the 5×5 chamfer distance to the edges capped at 20, a 3×3 box
//! blur truncated to 8 bits, `equalizeHist`, the emboss kernel `[[−2,−1,0],[−1,1,1],[0,1,2]]` (`filter2D` to
//! 8 bits) and a last 3×3 box blur rounded to 8 bits. Each step here gives the same values as the general
//! float tools ([`edges::canny`] with [`CannySettings::OPENCV_50_150`], [`filter::box3`],
//! [`filter::SparseKernel`]) would:
//!
//! - the Sobel gradients of an 8-bit image, their L1 magnitude and the emboss are sums of small integers, which
//!   `f32` holds exactly, so `i32` arithmetic gives the same numbers;
//! - the gradient sector is decided in OpenCV's fixed point (`|gy|·2¹⁵ < |gx|·13573` and
//!   `|gy|·2¹⁵ > |gx|·(13573 + 2¹⁶)`); for Sobel gradients of 8-bit images (`|g| ≤ 1020`) this agrees with the
//!   `f32` tangent comparisons of [`edges::canny`] on every pair but `(0, 0)`, whose magnitude never passes the
//!   low threshold;
//! - the box blurs run the same `f32` taps in the same order ([`interleaved`] is bit-identical to
//!   [`filter::filter_rows`] / [`filter::filter_cols`]), and `round` is replaced by an exact
//!   round-half-away-from-zero for non-negative values.
//!
//! `tests/corrupt_spatter.rs` checks the whole chain byte for byte against OpenCV 4.10.
#![allow(rustdoc::private_intra_doc_links)]

use super::edges;
#[cfg(doc)]
use super::edges::CannySettings;
use super::filter::{self, Border};
use super::interleaved;

/// Canny's weak threshold (`m > LOW` may be an edge) and strong threshold (`m > HIGH` is one), as OpenCV
/// floors `50.0` and `150.0`.
const LOW: i32 = 50;
const HIGH: i32 = 150;
/// `tan 22.5°` in OpenCV's Canny fixed point, `round(0.41421356… · 2¹⁵)`.
const TG22: i32 = 13573;
/// The fixed-point shift of [`TG22`].
const CANNY_SHIFT: u32 = 15;

/// The shading `D` of the water drops (0…255) from the 8-bit liquid layer `layer` (`h × w`); see the module
/// docs.
pub fn drop_shading(layer: &[u8], h: usize, w: usize) -> Vec<u8> {
    let edge = canny_u8(layer, h, w);
    let dist: Vec<f32> = edges::distance_transform(&edge, h, w).into_iter().map(|d| d.min(20.0)).collect();
    let dist: Vec<u8> = box3(&dist, h, w).into_iter().map(|v| v.clamp(0.0, 255.0) as u8).collect();
    let dist = edges::equalize_hist(&dist);
    let embossed: Vec<f32> = emboss(&dist, h, w).into_iter().map(f32::from).collect();
    box3(&embossed, h, w).into_iter().map(round_u8).collect()
}

/// OpenCV's `blur(x, (3, 3))` in `f32`, as [`filter::box3`] computes it.
fn box3(src: &[f32], h: usize, w: usize) -> Vec<f32> {
    let k = [1.0 / 3.0; 3];
    interleaved::cols(
        &interleaved::rows(src, h, w, 1, &k, Border::Reflect101),
        h,
        w,
        1,
        &k,
        Border::Reflect101,
    )
}

/// `v.round()` as a byte for `v ∈ [0, 255]`: the whole part plus one when the fraction (exact in `f32`) is at
/// least ½, without a libm call.
#[inline]
fn round_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let whole = v as u8;
    if v - f32::from(whole) >= 0.5 { whole + 1 } else { whole }
}

/// `filter2D(d, CV_8U, [[−2,−1,0],[−1,1,1],[0,1,2]])`: the emboss correlation with a reflect-101 border,
/// saturated to 8 bits (the sums are integers, so OpenCV's rounding leaves them as they are).
fn emboss(src: &[u8], h: usize, w: usize) -> Vec<u8> {
    let pw = w + 2;
    let padded =
        filter::pad(&src.iter().map(|&v| f32::from(v)).collect::<Vec<_>>(), h, w, 1, 1, Border::Reflect101);
    let padded: Vec<i32> = padded.into_iter().map(|v| v as i32).collect();
    let mut out = vec![0u8; h * w];
    for (y, dst) in out.chunks_exact_mut(w).enumerate() {
        let (up, mid, down) =
            (&padded[y * pw..][..pw], &padded[(y + 1) * pw..][..pw], &padded[(y + 2) * pw..][..pw]);
        for (x, d) in dst.iter_mut().enumerate() {
            let v = -2 * up[x] - up[x + 1] - mid[x] + mid[x + 1] + mid[x + 2] + down[x + 1] + 2 * down[x + 2];
            *d = v.clamp(0, 255) as u8;
        }
    }
    out
}

/// The Sobel gradients of an 8-bit image with a replicated border (OpenCV's `Sobel(…, ksize = 3,
/// BORDER_REPLICATE)` inside Canny), as `(gx, gy)`.
fn sobel(src: &[u8], h: usize, w: usize) -> (Vec<i32>, Vec<i32>) {
    // Per row: the horizontal difference `p[x+1] − p[x−1]` and the smoothing `p[x−1] + 2p[x] + p[x+1]`.
    let mut diff = vec![0i32; h * w];
    let mut smooth = vec![0i32; h * w];
    let mut row = vec![0i32; w + 2];
    for y in 0..h {
        let s = &src[y * w..][..w];
        row[1..=w].iter_mut().zip(s).for_each(|(r, &v)| *r = i32::from(v));
        row[0] = row[1];
        row[w + 1] = row[w];
        let (d, m) = (&mut diff[y * w..][..w], &mut smooth[y * w..][..w]);
        for x in 0..w {
            d[x] = row[x + 2] - row[x];
            m[x] = row[x] + 2 * row[x + 1] + row[x + 2];
        }
    }
    let mut gx = vec![0i32; h * w];
    let mut gy = vec![0i32; h * w];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(1) * w, (y + 1).min(h - 1) * w);
        let (dx, dy) = (&mut gx[y * w..][..w], &mut gy[y * w..][..w]);
        let (da, dm, db) = (&diff[a..][..w], &diff[y * w..][..w], &diff[b..][..w]);
        let (sa, sb) = (&smooth[a..][..w], &smooth[b..][..w]);
        for x in 0..w {
            dx[x] = da[x] + 2 * dm[x] + db[x];
            dy[x] = sb[x] - sa[x];
        }
    }
    (gx, gy)
}

/// OpenCV's `Canny(src, 50, 150)` (aperture 3, L1 magnitude) on an 8-bit image: `true` on edges. Non-maximum
/// suppression compares the magnitude with its two neighbours across the gradient's sector (strictly greater
/// than the first, at least the second; strictly greater than both across a diagonal), then hysteresis keeps
/// the weak pixels 8-connected to a strong one.
fn canny_u8(src: &[u8], h: usize, w: usize) -> Vec<bool> {
    let (gx, gy) = sobel(src, h, w);
    // Magnitudes with a zero border of one pixel, as OpenCV's ring buffer has.
    let pw = w + 2;
    let mut mag = vec![0i32; (h + 2) * pw];
    for y in 0..h {
        let dst = &mut mag[(y + 1) * pw + 1..][..w];
        let (ax, ay) = (&gx[y * w..][..w], &gy[y * w..][..w]);
        for x in 0..w {
            dst[x] = ax[x].abs() + ay[x].abs();
        }
    }
    // 0 none, 1 weak, 2 strong
    let mut state = vec![0u8; h * w];
    let mut stack = Vec::new();
    for y in 0..h {
        let (up, mid, down) = (&mag[y * pw..][..pw], &mag[(y + 1) * pw..][..pw], &mag[(y + 2) * pw..][..pw]);
        for x in 0..w {
            let m = mid[x + 1];
            if m <= LOW {
                continue;
            }
            let i = y * w + x;
            let (xs, ys) = (gx[i], gy[i]);
            let (ax, ay) = (xs.abs(), ys.abs() << CANNY_SHIFT);
            let tg22x = ax * TG22;
            let keep = if ay < tg22x {
                m > mid[x] && m >= mid[x + 2]
            } else if ay > tg22x + (ax << (CANNY_SHIFT + 1)) {
                m > up[x + 1] && m >= down[x + 1]
            } else {
                // Same signs: the neighbours are up-left and down-right; opposite signs: up-right, down-left.
                let s: isize = if (xs ^ ys) < 0 { -1 } else { 1 };
                m > up[(x as isize + 1 - s) as usize] && m > down[(x as isize + 1 + s) as usize]
            };
            if keep {
                state[i] = if m > HIGH { 2 } else { 1 };
                if m > HIGH {
                    stack.push(i);
                }
            }
        }
    }
    let mut edge = vec![false; h * w];
    for &i in &stack {
        edge[i] = true;
    }
    while let Some(i) = stack.pop() {
        let (y, x) = (i / w, i % w);
        for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
            for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                let j = ny * w + nx;
                if state[j] == 1 && !edge[j] {
                    edge[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    edge
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::edges::CannySettings;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// 8-bit test layers: sparse plateaus like spatter's (a blurred field cut at a threshold) and plain noise.
    fn layers() -> Vec<(usize, usize, Vec<u8>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut out = Vec::new();
        for (h, w, sigma, cut) in
            [(40, 37, 2.0, 0.55), (33, 48, 1.0, 0.6), (16, 16, 0.0, 0.0), (1, 9, 0.0, 0.0)]
        {
            let noise: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>()).collect();
            let field = filter::gaussian_blur(&noise, h, w, sigma, Border::Nearest, 4.0);
            let lo = field.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = field.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let layer = field
                .iter()
                .map(|&v| {
                    let t = (v - lo) / (hi - lo).max(1e-6);
                    if t < cut { 0 } else { (t * 255.0) as u8 }
                })
                .collect();
            out.push((h, w, layer));
        }
        out
    }

    #[test]
    fn integer_canny_matches_the_float_canny_with_opencv_settings() {
        for (h, w, layer) in layers() {
            let f: Vec<f32> = layer.iter().map(|&v| f32::from(v)).collect();
            let want: Vec<bool> =
                edges::canny(&f, h, w, &CannySettings::OPENCV_50_150).iter().map(|&e| e == 1).collect();
            assert_eq!(canny_u8(&layer, h, w), want, "{h}×{w}");
        }
    }

    #[test]
    fn integer_emboss_and_rounding_match_the_float_filters() {
        let kernel =
            filter::SparseKernel::from_dense(&[-2.0, -1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 1.0, 2.0], 3, 3);
        for (h, w, layer) in layers() {
            let f: Vec<f32> = layer.iter().map(|&v| f32::from(v)).collect();
            let want: Vec<u8> = kernel
                .correlate(&f, h, w, Border::Reflect101)
                .into_iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect();
            assert_eq!(emboss(&layer, h, w), want, "{h}×{w}");
            let rounded: Vec<u8> = filter::box3(&f, h, w).into_iter().map(|v| v.round() as u8).collect();
            assert_eq!(box3(&f, h, w).into_iter().map(round_u8).collect::<Vec<_>>(), rounded, "{h}×{w}");
        }
        for k in 0..=2550 {
            let v = k as f32 / 10.0;
            assert_eq!(round_u8(v), v.round() as u8, "{v}");
        }
    }
}
