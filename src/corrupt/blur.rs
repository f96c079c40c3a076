//! The blur family: defocus, glass, motion, zoom and Gaussian blur.
//!
//! Every kernel here is non-negative and sums to one (tested), so blurs preserve a constant image and the mean
//! of an image up to border effects.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::disk::DiskFilter;
use super::filter::{self, Border, SparseKernel};
use super::image::Image;
use super::interleaved;
use super::resample;

/// The sample coordinates of the disk's grid (−8…8 up to r = 8, else −r, −r + 1, … over ⌈2r + 1⌉ points) and the
/// side of the anti-aliasing Gaussian's kernel (3, or 5 on the larger grids), as the original script lays them out.
pub(crate) fn disk_grid(radius: f32) -> (Vec<f64>, usize) {
    if radius <= 8.0 {
        ((-8..=8).map(f64::from).collect(), 3)
    } else {
        let r = f64::from(radius);
        let n = (2.0 * r + 1.0).ceil() as usize;
        ((0..n).map(|i| -r + i as f64).collect(), 5)
    }
}

/// The defocus kernel: an aliased disk `X² + Y² ≤ r²` on the integer grid `−8…8` (or `−r…r` when `r > 8`),
/// normalised to sum one, then smoothed by OpenCV's `GaussianBlur` (3×3, or 5×5 when `r > 8`, σ = `alias`,
/// reflect-101 border) and, as in the reference, **not** renormalised: where the disk reaches the edge of its
/// grid (the ImageNet table's r = 8 and r = 10) the reflected border adds weight, and the kernel sums to about
/// 1.013 (r = 8) or 1.011 (r = 10), which brightens the blurred image a little. Returns the dense `k × k` kernel
/// and `k`.
///
/// For the CIFAR table's `r < 1` only the centre tap survives, so the kernel is a 3×3 Gaussian of σ = `alias`.
pub fn disk_kernel(radius: f32, alias: f32) -> (Vec<f32>, usize) {
    let (grid, ksize) = disk_grid(radius);
    let n = grid.len();
    let r2 = f64::from(radius).powi(2);
    let mut k: Vec<f32> = Vec::with_capacity(n * n);
    for &y in &grid {
        for &x in &grid {
            k.push(if x * x + y * y <= r2 { 1.0 } else { 0.0 });
        }
    }
    let inside: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= inside);
    let g = filter::cv_gaussian_kernel(ksize, alias);
    (filter::separable(&k, n, n, &g, Border::Reflect101), n)
}

/// Defocus blur: every channel correlated with [`disk_kernel`] (`cv2.filter2D`, reflect-101 border), through
/// its two-stage form [`DiskFilter`] (box sums of the disk, then the small Gaussian) where that takes fewer
/// passes over the image, else run by run and tap by tap ([`SparseKernel::correlate`]).
pub fn defocus(img: &Image, radius: f32, alias: f32) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let (k, n) = disk_kernel(radius, alias);
    let sparse = SparseKernel::from_dense(&k, n, n);
    if let Some(f) = DiskFilter::new(radius, alias).filter(|f| f.cost() < sparse.cost()) {
        return Image { data: f.apply(&img.data, h, w, c), ..img.clone() }.clamp01();
    }
    img.map_planes(|p| sparse.correlate(p, h, w, Border::Reflect101)).clamp01()
}

/// scikit-image's `gaussian(x, σ, multichannel=True)`: per channel, `nearest` border, truncated at 4σ (all
/// channels in one pass over the interleaved image; the same values as plane by plane).
pub fn gaussian(img: &Image, sigma: f32) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let data = interleaved::gaussian(&img.data, h, w, c, sigma, Border::Nearest, 4.0);
    Image { data, ..img.clone() }.clamp01()
}

/// Glass blur: Gaussian blur, quantise to 8 bits (truncating), then `iterations` sweeps over the pixels
/// `(h, w)`, `h` from `H − δ` down to `δ + 1` and `w` likewise, each paired with `(h + dy, w + dx)`, `dx, dy`
/// uniform in `[−δ, δ)` (the high end excluded, as NumPy's `randint`) — with probability `swap_probability`
/// (1, or ½ in MNIST-C) — and a final Gaussian blur.
///
/// What "paired" means follows the reference line `x[h, w], x[h', w'] = x[h', w'], x[h, w]`. On the
/// `(H, W, 3)` arrays of CIFAR-10-C and ImageNet-C its operands are NumPy views, so it **copies**
/// `x[h, w] ← x[h', w']` and leaves `x[h', w']` as it was (`swap = false`); on MNIST-C's 2-D arrays they are
/// scalars and it **swaps** (`swap = true`). The released data sets were made that way, so both are kept.
pub fn glass(
    img: &Image,
    sigma: f32,
    delta: usize,
    iterations: usize,
    swap_probability: f64,
    swap: bool,
    rng: &mut ChaCha8Rng,
) -> Image {
    let blurred = gaussian(img, sigma);
    let mut q: Vec<f32> = blurred.to_u8().into_iter().map(|b| f32::from(b) / 255.0).collect();
    let (h, w, c) = (img.height, img.width, img.channels);
    let d = delta as i64;
    for _ in 0..iterations {
        for y in ((delta + 1)..=h.saturating_sub(delta)).rev() {
            for x in ((delta + 1)..=w.saturating_sub(delta)).rev() {
                if swap_probability < 1.0 && rng.random::<f64>() >= swap_probability {
                    continue;
                }
                let dx = rng.random_range(-d..d);
                let dy = rng.random_range(-d..d);
                let (y2, x2) = ((y as i64 + dy) as usize, (x as i64 + dx) as usize);
                if y >= h || x >= w || y2 >= h || x2 >= w {
                    continue;
                }
                for ch in 0..c {
                    let (a, b) = ((y * w + x) * c + ch, (y2 * w + x2) * c + ch);
                    if swap {
                        q.swap(a, b);
                    } else {
                        q[a] = q[b];
                    }
                }
            }
        }
    }
    gaussian(&Image { data: q, ..img.clone() }, sigma)
}

/// ImageMagick's `MotionBlurImage` kernel: width `2⌈radius⌉ + 1`, one-sided Gaussian weights `exp(−i²/2σ²)`,
/// normalised to sum one, and tap `i` reading the pixel at offset `(⌈i·cos θ − ½⌉, ⌈i·sin θ − ½⌉)` (x, y).
pub fn motion_kernel(radius: f32, sigma: f32, angle_deg: f64) -> Vec<(isize, isize, f32)> {
    let width = (2.0 * f64::from(radius).ceil() + 1.0) as usize;
    let s2 = 2.0 * f64::from(sigma).powi(2);
    let w: Vec<f64> = (0..width).map(|i| (-((i * i) as f64) / s2).exp()).collect();
    let sum: f64 = w.iter().sum();
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    (0..width)
        .map(|i| {
            let ox = (i as f64 * cos - 0.5).ceil() as isize;
            let oy = (i as f64 * sin - 0.5).ceil() as isize;
            (ox, oy, (w[i] / sum) as f32)
        })
        .collect()
}

/// Motion blur of one plane with [`motion_kernel`], edge pixels replicated outside the image (ImageMagick's
/// default virtual pixels). Unlike the NumPy port in `imagecorruptions`, taps that leave the image are not
/// dropped, so no weight is lost on small images.
pub fn motion_plane(src: &[f32], h: usize, w: usize, kernel: &[(isize, isize, f32)]) -> Vec<f32> {
    let mut out = vec![0.0f32; h * w];
    let wi = w as isize;
    for &(ox, oy, k) in kernel {
        // Columns `lo..hi` read `x + ox` inside the row (a contiguous slice); those left of it read the first
        // pixel, those right of it the last (the replicated edge).
        let hi = (wi - ox).clamp(0, wi) as usize;
        let lo = ((-ox).clamp(0, wi) as usize).min(hi);
        for (y, dst) in out.chunks_exact_mut(w).enumerate() {
            let sy = (y as isize + oy).clamp(0, h as isize - 1) as usize;
            let row = &src[sy * w..(sy + 1) * w];
            let (left, rest) = dst.split_at_mut(lo);
            let (middle, right) = rest.split_at_mut(hi - lo);
            left.iter_mut().for_each(|d| *d += k * row[0]);
            if lo < hi {
                let inside = &row[(lo as isize + ox) as usize..(hi as isize + ox) as usize];
                middle.iter_mut().zip(inside).for_each(|(d, v)| *d += k * v);
            }
            right.iter_mut().for_each(|d| *d += k * row[w - 1]);
        }
    }
    out
}

/// Motion blur at an angle drawn uniformly from (−45°, 45°).
pub fn motion(img: &Image, radius: f32, sigma: f32, rng: &mut ChaCha8Rng) -> Image {
    let angle = rng.random_range(-45.0..45.0);
    let kernel = motion_kernel(radius, sigma, angle);
    img.map_planes(|p| motion_plane(p, img.height, img.width, &kernel)).clamp01()
}

/// Zoom blur: `(x + Σ_z clipped_zoom(x, z)) / (n + 1)` over the `n` zoom factors. Each zoom is sampled
/// straight from the image through [`resample::clipped_zoom_axis`] (the same values as cropping, zooming and
/// trimming, without the intermediate images).
pub fn zoom(img: &Image, zooms: &[f64]) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut acc = img.data.clone();
    for &z in zooms {
        let ys = resample::clipped_zoom_axis(h, z);
        let xs = resample::clipped_zoom_axis(w, z);
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            let (r0, r1) = (&img.data[y0 * w * c..(y0 + 1) * w * c], &img.data[y1 * w * c..(y1 + 1) * w * c]);
            let dst = &mut acc[y * w * c..(y + 1) * w * c];
            for (px, &(x0, x1, fx)) in dst.chunks_exact_mut(c).zip(&xs) {
                for (ch, d) in px.iter_mut().enumerate() {
                    let (a, b) = (r0[x0 * c + ch], r0[x1 * c + ch]);
                    let (e, f) = (r1[x0 * c + ch], r1[x1 * c + ch]);
                    let top = a + (b - a) * fx;
                    let bottom = e + (f - e) * fx;
                    *d += top + (bottom - top) * fy;
                }
            }
        }
    }
    let n = (zooms.len() + 1) as f32;
    Image { data: acc.into_iter().map(|v| v / n).collect(), ..img.clone() }.clamp01()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_disks_reduce_to_a_3x3_gaussian() {
        let (k, n) = disk_kernel(0.3, 0.4);
        assert_eq!(n, 17);
        let nonzero = k.iter().filter(|&&v| v > 0.0).count();
        assert_eq!(nonzero, 9);
    }

    #[test]
    fn glass_swap_without_blur_permutes_pixels() {
        use rand::SeedableRng;
        let data: Vec<f32> = (0..20 * 20).map(|i| ((i * 37) % 256) as f32 / 255.0).collect();
        let img = Image::new(20, 20, 1, data).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let out = glass(&img, 0.0, 2, 3, 1.0, true, &mut rng);
        let (mut a, mut b) = (img.to_u8(), out.to_u8());
        assert_ne!(a, b);
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn motion_taps_past_the_edges_read_the_edge_pixels() {
        let (h, w) = (4, 5);
        let src: Vec<f32> = (0..h * w).map(|i| i as f32 * 0.37).collect();
        let kernel = [(0, 0, 0.25), (-7, 1, 0.125), (3, -2, 0.5), (6, 0, 0.0625), (-2, 5, 0.0625)];
        let mut want = vec![0.0f32; h * w];
        for &(ox, oy, k) in &kernel {
            for y in 0..h {
                for x in 0..w {
                    let sx = (x as isize + ox).clamp(0, w as isize - 1) as usize;
                    let sy = (y as isize + oy).clamp(0, h as isize - 1) as usize;
                    want[y * w + x] += k * src[sy * w + sx];
                }
            }
        }
        assert_eq!(motion_plane(&src, h, w, &kernel), want);
    }

    #[test]
    fn motion_kernel_sums_to_one_and_starts_at_the_pixel() {
        let k = motion_kernel(10.0, 3.0, 30.0);
        assert_eq!(k.len(), 21);
        assert_eq!((k[0].0, k[0].1), (0, 0));
        assert!((k.iter().map(|t| t.2).sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
