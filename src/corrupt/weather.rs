//! The weather family: snow, frost, fog and brightness.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::blur;
use super::color;
use super::image::{Image, quantize, round_to_u8_level};
use super::resample;

/// Brightness: `V ← clip(V + shift)` in HSV. For gray images `V` is the value itself, so this is
/// `clip(x + shift)`.
pub fn brightness(img: &Image, shift: f32) -> Image {
    if img.channels == 1 {
        let mut out = img.clone();
        out.data.iter_mut().for_each(|v| *v = (*v + shift).clamp(0.0, 1.0));
        return out;
    }
    color::map_hsv(img, |[h, s, v]| [h, s, (v + shift).clamp(0.0, 1.0)]).clamp01()
}

/// Diamond-square plasma fractal of side `map_size` (a power of two), normalised to `[0, 1]`, as the
/// reference `plasma_fractal`: corners start at 0, the random amplitude starts at `wibble = 100` and each new
/// point is the mean of its four neighbours (wrapping around) plus `wibble · U(−wibble, wibble)`; `wibble` is
/// divided by `decay` after each level.
pub fn plasma_fractal(map_size: usize, decay: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    assert!(map_size.is_power_of_two(), "plasma map size must be a power of two");
    let n = map_size;
    let mut m = vec![0.0f64; n * n];
    let mut step = n;
    let mut wibble = 100.0f64;
    let at = |i: usize, j: usize| i * n + j;
    while step >= 2 {
        let half = step / 2;
        let k = n / step;
        let jitter = |v: f64, rng: &mut ChaCha8Rng| v / 4.0 + wibble * rng.random_range(-wibble..wibble);
        // Squares: centre of each square from its four corners.
        for i in 0..k {
            for j in 0..k {
                let (i1, j1) = ((i + 1) % k, (j + 1) % k);
                let s = m[at(i * step, j * step)]
                    + m[at(i1 * step, j * step)]
                    + m[at(i * step, j1 * step)]
                    + m[at(i1 * step, j1 * step)];
                m[at(half + i * step, half + j * step)] = jitter(s, rng);
            }
        }
        // Diamonds on the rows of corners, then on the columns of corners.
        let dr = |m: &Vec<f64>, i: usize, j: usize| m[at(half + i * step, half + j * step)];
        let ul = |m: &Vec<f64>, i: usize, j: usize| m[at(i * step, j * step)];
        let mut top = vec![0.0; k * k];
        let mut left = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                let (ip, jn) = ((i + k - 1) % k, (j + 1) % k);
                top[i * k + j] = dr(&m, i, j) + dr(&m, ip, j) + ul(&m, i, j) + ul(&m, i, jn);
                let (jp, inn) = ((j + k - 1) % k, (i + 1) % k);
                left[i * k + j] = dr(&m, i, j) + dr(&m, i, jp) + ul(&m, i, j) + ul(&m, inn, j);
            }
        }
        for i in 0..k {
            for j in 0..k {
                m[at(i * step, half + j * step)] = jitter(top[i * k + j], rng);
            }
        }
        for i in 0..k {
            for j in 0..k {
                m[at(half + i * step, j * step)] = jitter(left[i * k + j], rng);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = m.iter().copied().fold(f64::INFINITY, f64::min);
    m.iter_mut().for_each(|v| *v -= min);
    let max = m.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        m.iter_mut().for_each(|v| *v /= max);
    }
    m
}

/// Fog: `x' = clip((x + s·P) · M/(M + s))` with `P` the top-left `h × w` of a plasma fractal whose side is the
/// table's map size, raised to the next power of two of the image side when needed, and `M = max x`.
pub fn fog(img: &Image, strength: f32, decay: f64, map_size: usize, rng: &mut ChaCha8Rng) -> Image {
    let side = img.height.max(img.width).next_power_of_two().max(map_size);
    let plasma = plasma_fractal(side, decay, rng);
    let max = img.max();
    let scale = max / (max + strength);
    let mut out = img.clone();
    let c = img.channels;
    for y in 0..img.height {
        for x in 0..img.width {
            let p = strength * plasma[y * side + x] as f32;
            for ch in 0..c {
                let v = &mut out.data[(y * img.width + x) * c + ch];
                *v = ((*v + p) * scale).clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// [`fog`] on 8-bit HWC pixels of shape `[h, w, c]`, returning the truncated bytes: the same plasma and the same `f32` arithmetic on
/// the byte levels, without the float image in between.
pub fn fog_u8(
    px: &[u8],
    [h, w, c]: [usize; 3],
    strength: f32,
    decay: f64,
    map_size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<u8> {
    let side = h.max(w).next_power_of_two().max(map_size);
    let plasma = plasma_fractal(side, decay, rng);
    let max = f32::from(px.iter().copied().max().unwrap_or(0)) / 255.0;
    let scale = max / (max + strength);
    let levels: [f32; 256] = std::array::from_fn(|k| k as f32 / 255.0);
    let mut out = vec![0u8; px.len()];
    for ((src, dst), prow) in
        px.chunks_exact(w * c).zip(out.chunks_exact_mut(w * c)).zip(plasma.chunks_exact(side))
    {
        for ((s, d), &pv) in src.chunks_exact(c).zip(dst.chunks_exact_mut(c)).zip(prow) {
            let p = strength * pv as f32;
            for (&u, o) in s.iter().zip(d.iter_mut()) {
                *o = quantize(((levels[usize::from(u)] + p) * scale).clamp(0.0, 1.0));
            }
        }
    }
    out
}

/// Frost: `x' = clip(a·x + b·F)` with `F` a random `h × w` crop of one of the prepared frost photographs
/// (drawn uniformly), converted to luma for gray images.
pub fn frost(
    img: &Image,
    image_weight: f32,
    frost_weight: f32,
    photos: &[Image],
    rng: &mut ChaCha8Rng,
) -> Image {
    let photo = &photos[rng.random_range(0..photos.len())];
    let top = rng.random_range(0..photo.height - img.height);
    let left = rng.random_range(0..photo.width - img.width);
    let mut out = img.clone();
    let c = img.channels;
    for y in 0..img.height {
        for x in 0..img.width {
            let src = &photo.data[((top + y) * photo.width + left + x) * 3..][..3];
            let f = if c == 1 {
                [super::image::LUMA.iter().zip(src).map(|(w, v)| w * v).sum::<f32>(); 3]
            } else {
                [src[0], src[1], src[2]]
            };
            let px = &mut out.data[(y * img.width + x) * c..][..c];
            for (v, fv) in px.iter_mut().zip(f) {
                *v = (image_weight * *v + frost_weight * fv).clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// The parameters of [`snow`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnowParams {
    /// Mean of the Gaussian snow layer.
    pub mean: f32,
    /// Standard deviation of the layer.
    pub std: f32,
    /// Zoom applied to the layer (bigger flakes).
    pub zoom: f64,
    /// Layer values below this are cleared.
    pub threshold: f32,
    /// Motion-blur radius of the flakes.
    pub radius: f32,
    /// Motion-blur σ of the flakes.
    pub sigma: f32,
    /// Weight of the original image against its whitened version.
    pub blend: f32,
}

/// Snow: a layer `L ~ N(μ, σ)` (one plane), zoomed with `clipped_zoom`, cleared below the threshold, stored as
/// 8 bits (truncating, as the reference's PNG hand-off), motion-blurred at an angle in (−135°, −45°) and rounded
/// to 8 bits again; the image is whitened, `x ← b·x + (1 − b)·max(x, 1.5·gray(x) + 0.5)`, and
/// `x' = clip(x + L + rot180(L))`.
pub fn snow(img: &Image, p: &SnowParams, rng: &mut ChaCha8Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let normal = Normal::new(p.mean, p.std.max(0.0)).expect("finite snow parameters");
    let layer: Vec<f32> = (0..h * w).map(|_| normal.sample(rng)).collect();
    let layer = resample::clipped_zoom_plane(&layer, h, w, p.zoom);
    let layer: Vec<f32> = layer
        .into_iter()
        .map(|v| if v < p.threshold { 0.0 } else { v })
        .map(|v| super::image::quantize(v) as f32 / 255.0)
        .collect();
    let angle = rng.random_range(-135.0..-45.0);
    let kernel = blur::motion_kernel(p.radius, p.sigma, angle);
    let layer: Vec<f32> =
        blur::motion_plane(&layer, h, w, &kernel).into_iter().map(round_to_u8_level).collect();
    let gray = img.luma();
    let c = img.channels;
    let mut out = img.clone();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let flakes = layer[i] + layer[(h - 1 - y) * w + (w - 1 - x)];
            let white = gray[i] * 1.5 + 0.5;
            for ch in 0..c {
                let v = &mut out.data[i * c + ch];
                let base = p.blend * *v + (1.0 - p.blend) * v.max(white);
                *v = (base + flakes).clamp(0.0, 1.0);
            }
        }
    }
    out
}
