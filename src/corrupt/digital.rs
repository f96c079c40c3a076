//! The digital family: contrast, elastic transform, pixelate, JPEG compression, saturate.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::color;
use super::filter::{self, Border};
use super::image::Image;
use super::resample::{self, Affine, PilFilter};

/// Contrast: `x' = (x − m)·c + m` with `m` the mean of each channel over the image. For `0 ≤ c ≤ 1` every value
/// stays in `[0, 1]` (a convex combination of `x` and `m`), so the mean of each channel is preserved exactly.
pub fn contrast(img: &Image, factor: f32) -> Image {
    let c = img.channels;
    let n = img.area() as f64;
    let means: Vec<f32> = (0..c)
        .map(|ch| (img.data.iter().skip(ch).step_by(c).map(|&v| f64::from(v)).sum::<f64>() / n) as f32)
        .collect();
    let mut out = img.clone();
    for (i, v) in out.data.iter_mut().enumerate() {
        let m = means[i % c];
        *v = ((*v - m) * factor + m).clamp(0.0, 1.0);
    }
    out
}

/// Saturate: `S ← clip(S·a + b)` in HSV (gray images go through RGB and back to luma).
pub fn saturate(img: &Image, scale: f32, shift: f32) -> Image {
    color::map_hsv(img, |[h, s, v]| [h, (s * scale + shift).clamp(0.0, 1.0), v]).clamp01()
}

/// Pixelate: PIL `resize` with the BOX filter down to `⌊W·c⌋ × ⌊H·c⌋`, then back up to `W × H` with BOX,
/// on 8-bit pixels (so the result is blocky: every output pixel copies one pixel of the small image).
pub fn pixelate(img: &Image, factor: f32) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let sh = ((h as f32 * factor) as usize).max(1);
    let sw = ((w as f32 * factor) as usize).max(1);
    let bytes = img.to_u8();
    let small = resample::pil_resize(&bytes, h, w, c, sh, sw, PilFilter::Box);
    let back = resample::pil_resize(&small, sh, sw, c, h, w, PilFilter::Box);
    Image { data: back.into_iter().map(|b| f32::from(b) / 255.0).collect(), ..img.clone() }
}

/// JPEG compression at `quality` (libjpeg scaling of the standard tables) and decompression.
///
/// PIL, which the reference uses, subsamples chroma 4:2:0 by default; the `image` crate's encoder writes 4:4:4.
/// For colour images the 4:2:0 loss is therefore emulated before encoding: the Cb and Cr planes (JFIF, full
/// range) are averaged over 2×2 blocks and brought back with libjpeg's "fancy" (triangle) upsampling.
pub fn jpeg(img: &Image, quality: u8) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let src = if c == 3 { subsample_chroma(img) } else { img.clone() };
    let bytes = src.to_u8();
    let color = if c == 3 { image::ExtendedColorType::Rgb8 } else { image::ExtendedColorType::L8 };
    let mut buf = Vec::new();
    let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode(&bytes, w as u32, h as u32, color);
    let decoded =
        encoded.ok().and_then(|_| image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg).ok());
    let Some(decoded) = decoded else {
        // The encoder only fails on sizes above 65535 px, which an ImageSet cannot reach.
        return img.clone();
    };
    let raw = if c == 3 { decoded.to_rgb8().into_raw() } else { decoded.to_luma8().into_raw() };
    Image { data: raw.into_iter().map(|b| f32::from(b) / 255.0).collect(), ..img.clone() }
}

fn subsample_chroma(img: &Image) -> Image {
    let (h, w) = (img.height, img.width);
    let mut y = vec![0.0f32; h * w];
    let mut cb = vec![0.0f32; h * w];
    let mut cr = vec![0.0f32; h * w];
    for (i, p) in img.data.chunks_exact(3).enumerate() {
        let (r, g, b) = (p[0] * 255.0, p[1] * 255.0, p[2] * 255.0);
        y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
        cb[i] = -0.168_736 * r - 0.331_264 * g + 0.5 * b + 128.0;
        cr[i] = 0.5 * r - 0.418_688 * g - 0.081_312 * b + 128.0;
    }
    let (cb, cr) = (down_up(&cb, h, w), down_up(&cr, h, w));
    let mut out = img.clone();
    for (i, p) in out.data.chunks_exact_mut(3).enumerate() {
        let (yy, u, v) = (y[i], cb[i] - 128.0, cr[i] - 128.0);
        p[0] = ((yy + 1.402 * v).round() / 255.0).clamp(0.0, 1.0);
        p[1] = ((yy - 0.344_136 * u - 0.714_136 * v).round() / 255.0).clamp(0.0, 1.0);
        p[2] = ((yy + 1.772 * u).round() / 255.0).clamp(0.0, 1.0);
    }
    out
}

/// 2×2 block means (edge blocks use the pixels they have), then triangle upsampling: each output takes ¾ of
/// its own block and ¼ of the nearest neighbouring block along each axis.
fn down_up(p: &[f32], h: usize, w: usize) -> Vec<f32> {
    let (sh, sw) = (h.div_ceil(2), w.div_ceil(2));
    let mut small = vec![0.0f32; sh * sw];
    for by in 0..sh {
        for bx in 0..sw {
            let (mut s, mut n) = (0.0, 0.0);
            for y in 2 * by..(2 * by + 2).min(h) {
                for x in 2 * bx..(2 * bx + 2).min(w) {
                    s += p[y * w + x];
                    n += 1.0;
                }
            }
            small[by * sw + bx] = s / n;
        }
    }
    let near = |i: usize, n: usize| -> (usize, usize) {
        let b = i / 2;
        let other = if i.is_multiple_of(2) { b.saturating_sub(1) } else { (b + 1).min(n - 1) };
        (b, other)
    };
    let mut out = vec![0.0f32; h * w];
    for y in 0..h {
        let (by, oy) = near(y, sh);
        for x in 0..w {
            let (bx, ox) = near(x, sw);
            let g = |a: usize, b: usize| small[a * sw + b];
            out[y * w + x] =
                0.5625 * g(by, bx) + 0.1875 * g(by, ox) + 0.1875 * g(oy, bx) + 0.0625 * g(oy, ox);
        }
    }
    out
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
    warped
        .map_planes(|p| {
            (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f32, (i % w) as f32);
                    resample::bilinear(p, h, w, y + dy[i], x + dx[i], field_border)
                })
                .collect()
        })
        .clamp01()
}
