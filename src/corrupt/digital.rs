//! The digital family: contrast, elastic transform, pixelate, JPEG compression, saturate.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::color;
use super::filter::{self, Border};
use super::image::{Image, quantize};
use super::resample::{self, Affine, PilFilter};

/// Contrast: `x' = (x − m)·c + m` with `m` the mean of each channel over the image. For `0 ≤ c ≤ 1` every value
/// stays in `[0, 1]` (a convex combination of `x` and `m`), so the mean of each channel is preserved exactly.
pub fn contrast(img: &Image, factor: f32) -> Image {
    let c = img.channels;
    let n = img.area() as f64;
    let mut sums = vec![0.0f64; c];
    for px in img.data.chunks_exact(c) {
        for (s, &v) in sums.iter_mut().zip(px) {
            *s += f64::from(v);
        }
    }
    let means: Vec<f32> = sums.iter().map(|s| (s / n) as f32).collect();
    let mut out = img.clone();
    for px in out.data.chunks_exact_mut(c) {
        for (v, &m) in px.iter_mut().zip(&means) {
            *v = ((*v - m) * factor + m).clamp(0.0, 1.0);
        }
    }
    out
}

/// [`contrast`] on 8-bit HWC pixels, the truncated bytes written into `out` (as long as `px`): the channel means from a histogram of the
/// 256 levels, then one lookup table per channel (the same formula on the same `f32` values).
pub fn contrast_into(px: &[u8], c: usize, factor: f32, out: &mut [u8]) {
    let mut hist = vec![[0u64; 256]; c];
    if c == 3 {
        let [h0, h1, h2] = &mut hist[..] else { unreachable!("three channels") };
        for p in px.chunks_exact(3) {
            h0[usize::from(p[0])] += 1;
            h1[usize::from(p[1])] += 1;
            h2[usize::from(p[2])] += 1;
        }
    } else {
        for p in px.chunks_exact(c) {
            for (hc, &v) in hist.iter_mut().zip(p) {
                hc[usize::from(v)] += 1;
            }
        }
    }
    let n = (px.len() / c) as f64;
    let luts: Vec<[u8; 256]> = hist
        .iter()
        .map(|hc| {
            let sum: f64 =
                hc.iter().enumerate().map(|(k, &cnt)| cnt as f64 * f64::from(k as f32 / 255.0)).sum();
            let m = (sum / n) as f32;
            std::array::from_fn(|k| quantize(((k as f32 / 255.0 - m) * factor + m).clamp(0.0, 1.0)))
        })
        .collect();
    if let [l0, l1, l2] = &luts[..] {
        for (d, p) in out.chunks_exact_mut(3).zip(px.chunks_exact(3)) {
            d[0] = l0[usize::from(p[0])];
            d[1] = l1[usize::from(p[1])];
            d[2] = l2[usize::from(p[2])];
        }
        return;
    }
    for (d, p) in out.chunks_exact_mut(c).zip(px.chunks_exact(c)) {
        for ((v, &u), lut) in d.iter_mut().zip(p).zip(&luts) {
            *v = lut[usize::from(u)];
        }
    }
}

/// Saturate: `S ← clip(S·a + b)` in HSV (gray images go through RGB and back to luma).
pub fn saturate(img: &Image, scale: f32, shift: f32) -> Image {
    color::map_hsv(img, |[h, s, v]| [h, (s * scale + shift).clamp(0.0, 1.0), v]).clamp01()
}

/// Pixelate: PIL `resize` with the BOX filter down to `⌊W·c⌋ × ⌊H·c⌋`, then back up to `W × H` with BOX,
/// on 8-bit pixels (so the result is blocky: every output pixel copies one pixel of the small image).
pub fn pixelate(img: &Image, factor: f32) -> Image {
    let out = pixelate_u8(&img.to_u8(), img.height, img.width, img.channels, factor);
    Image { data: out.into_iter().map(|b| f32::from(b) / 255.0).collect(), ..img.clone() }
}

/// [`pixelate`] on 8-bit HWC pixels.
pub fn pixelate_u8(px: &[u8], h: usize, w: usize, c: usize, factor: f32) -> Vec<u8> {
    let mut out = vec![0u8; px.len()];
    pixelate_into(px, [h, w, c], factor, &mut out);
    out
}

/// [`pixelate_u8`] written into `out` (as long as `px`).
pub fn pixelate_into(px: &[u8], [h, w, c]: [usize; 3], factor: f32, out: &mut [u8]) {
    let sh = ((h as f32 * factor) as usize).max(1);
    let sw = ((w as f32 * factor) as usize).max(1);
    let small = resample::pil_resize(px, h, w, c, sh, sw, PilFilter::Box);
    resample::pil_resize_into(&small, [sh, sw, c], [h, w], PilFilter::Box, out);
}

/// JPEG compression at `quality` and decompression, as PIL's `save(…, "JPEG", quality=q)` and reload do it
/// (libjpeg-turbo with PIL's defaults: Annex K tables scaled by the quality, 4:2:0 chroma, islow DCTs, fancy
/// upsampling); gray images are one-channel JPEGs. See [`super::jpeg_codec`].
pub fn jpeg(img: &Image, quality: u8) -> Image {
    let out = jpeg_u8(&img.to_u8(), img.height, img.width, img.channels, quality);
    Image { data: out.into_iter().map(|b| f32::from(b) / 255.0).collect(), ..img.clone() }
}

/// [`jpeg`] on 8-bit HWC pixels (images with neither 1 nor 3 channels are returned unchanged).
pub fn jpeg_u8(px: &[u8], h: usize, w: usize, c: usize, quality: u8) -> Vec<u8> {
    super::jpeg_codec::jpeg_round_trip(px, h, w, c, quality)
}

/// [`jpeg_u8`] into `out` (as long as `px`).
pub fn jpeg_into(px: &[u8], shape: [usize; 3], quality: u8, out: &mut [u8]) {
    super::jpeg_codec::jpeg_round_trip_into(px, shape, quality, out);
}

/// Elastic transform (after Simard et al. 2003, as in the reference): a random affine map moving the three
/// points `centre ± ⌊min(H, W)/3⌋` by `U(−a, a)` each coordinate (bilinear warp), then a displacement field
/// `dx, dy = α · gaussian(U(−1, 1), σ, reflect, truncate 3)` sampled bilinearly. `border` is reflect-101 for the
/// affine step and the matching mirror for the field (zero for MNIST-C).
pub fn elastic(
    img: &Image,
    alpha: f32,
    sigma: f32,
    affine: f32,
    border: Border,
    rng: &mut ChaCha8Rng,
) -> Image {
    let (h, w) = (img.height, img.width);
    let (cx, cy) = ((w / 2) as f64, (h / 2) as f64);
    let sq = (h.min(w) / 3) as f64;
    let src = [(cx + sq, cy + sq), (cx + sq, cy - sq), (cx - sq, cy - sq)];
    let a = f64::from(affine);
    let mut jitter = |v: f64| if a > 0.0 { v + rng.random_range(-a..a) } else { v };
    let dst = src.map(|(x, y)| (jitter(x), jitter(y)));
    let warped = match Affine::from_points(src, dst).and_then(|m| m.inverse()) {
        Some(inv) => resample::warp(img, &inv, border),
        None => img.clone(),
    };
    let field_border = if border == Border::Zero { Border::Zero } else { Border::Reflect };
    let mut field = || -> Vec<f32> {
        let noise: Vec<f32> = (0..h * w).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        filter::gaussian_blur(&noise, h, w, sigma, Border::Reflect, 3.0)
            .into_iter()
            .map(|v| v * alpha)
            .collect()
    };
    let dx = field();
    let dy = field();
    resample::remap(&warped, field_border, |x, y| {
        let i = y * w + x;
        (x as f32 + dx[i], y as f32 + dy[i])
    })
    .clamp01()
}
