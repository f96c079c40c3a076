//! Every per-severity parameter table, in one place.
//!
//! Sources (read in the public code; values copied as data, with the reference's units):
//! - CIFAR column: hendrycks/robustness `ImageNet-C/create_c/make_cifar_c.py` (CIFAR-10-C, 32 px).
//! - ImageNet column: hendrycks/robustness `ImageNet-C/create_c/make_imagenet_c.py` (ImageNet-C, 224 px);
//!   D. Hendrycks & T. Dietterich, *Benchmarking Neural Network Robustness to Common Corruptions and
//!   Perturbations*, ICLR 2019.
//! - MNIST-C: google-research/mnist-c `corruptions.py`; N. Mu & J. Gilmer, *MNIST-C: A Robustness Benchmark for
//!   Computer Vision*, 2019. It reuses the ImageNet column at 28 px, with the variants listed on [`Table::MnistC`].
//!
//! Parameters are applied as they are, in pixels, whatever the image size: a table is chosen explicitly, never
//! rescaled behind the user's back.

use super::filter::Border;
use super::kinds::{Corruption, Table};
use super::spatter::SpatterParams;
use super::weather::SnowParams;
use crate::error::{Error, Result};

/// `(CIFAR s1…s5, ImageNet s1…s5)`.
type Rows<T> = ([T; 5], [T; 5]);

/// Gaussian noise σ.
pub const GAUSSIAN_NOISE: Rows<f32> = ([0.04, 0.06, 0.08, 0.09, 0.10], [0.08, 0.12, 0.18, 0.26, 0.38]);
/// Shot noise λ (photons per unit intensity).
pub const SHOT_NOISE: Rows<f32> = ([500.0, 250.0, 100.0, 75.0, 50.0], [60.0, 25.0, 12.0, 5.0, 3.0]);
/// Impulse noise: the fraction of values replaced.
pub const IMPULSE_NOISE: Rows<f32> = ([0.01, 0.02, 0.03, 0.05, 0.07], [0.03, 0.06, 0.09, 0.17, 0.27]);
/// Speckle noise σ.
pub const SPECKLE_NOISE: Rows<f32> = ([0.06, 0.10, 0.12, 0.16, 0.20], [0.15, 0.20, 0.35, 0.45, 0.60]);
/// Gaussian blur σ (pixels).
pub const GAUSSIAN_BLUR: Rows<f32> = ([0.4, 0.6, 0.7, 0.8, 1.0], [1.0, 2.0, 3.0, 4.0, 6.0]);
/// Defocus blur (disk radius, alias-blur σ).
pub const DEFOCUS_BLUR: Rows<(f32, f32)> = (
    [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)],
    [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)],
);
/// Glass blur (σ, max displacement δ, iterations).
pub const GLASS_BLUR: Rows<(f32, usize, usize)> = (
    [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
);
/// Motion blur (radius, σ), both in pixels.
pub const MOTION_BLUR: Rows<(f32, f32)> = (
    [(6.0, 1.0), (6.0, 1.5), (6.0, 2.0), (8.0, 2.0), (9.0, 2.5)],
    [(10.0, 3.0), (15.0, 5.0), (15.0, 8.0), (15.0, 12.0), (20.0, 15.0)],
);
/// Zoom blur: zoom factors `np.arange(1, end, step)` as (end, step).
pub const ZOOM_BLUR: Rows<(f64, f64)> = (
    [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)],
    [(1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)],
);
/// Snow (layer μ, layer σ, layer zoom, threshold, motion radius, motion σ, blend).
pub const SNOW: Rows<[f32; 7]> = (
    [
        [0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95],
        [0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9],
        [0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9],
        [0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85],
        [0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8],
    ],
    [
        [0.1, 0.3, 3.0, 0.5, 10.0, 4.0, 0.8],
        [0.2, 0.3, 2.0, 0.5, 12.0, 4.0, 0.7],
        [0.55, 0.3, 4.0, 0.9, 12.0, 8.0, 0.7],
        [0.55, 0.3, 4.5, 0.85, 12.0, 8.0, 0.65],
        [0.55, 0.3, 2.5, 0.85, 12.0, 12.0, 0.55],
    ],
);
/// Frost (image weight, frost weight).
pub const FROST: Rows<(f32, f32)> = (
    [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
);
/// Fog (strength, wibble decay).
pub const FOG: Rows<(f32, f64)> = (
    [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)],
    [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],
);
/// Brightness: added to V in HSV.
pub const BRIGHTNESS: Rows<f32> = ([0.05, 0.1, 0.15, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4, 0.5]);
/// Contrast factor.
pub const CONTRAST: Rows<f32> = ([0.75, 0.5, 0.4, 0.3, 0.15], [0.4, 0.3, 0.2, 0.1, 0.05]);
/// Elastic transform (α, σ, affine shift) as fractions of the table's scale ([`ELASTIC_SCALE`]).
pub const ELASTIC: Rows<(f32, f32, f32)> = (
    [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
    [(2.0, 0.7, 0.1), (2.0, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)],
);
/// The pixel scale of the elastic fractions: 32 (CIFAR), 244 (ImageNet: the reference multiplies by 244 where
/// 224 was meant, and says the outcome is still correct), 28 (MNIST-C).
pub const ELASTIC_SCALE: [f32; 3] = [32.0, 244.0, 28.0];
/// Pixelate downscale factor.
pub const PIXELATE: Rows<f32> = ([0.95, 0.9, 0.85, 0.75, 0.65], [0.6, 0.5, 0.4, 0.3, 0.25]);
/// JPEG quality (PIL scale).
pub const JPEG_QUALITY: Rows<u8> = ([80, 65, 58, 50, 40], [25, 18, 15, 10, 7]);
/// Spatter (μ, σ, blur σ, threshold, intensity, mode: 0 water / 1 mud).
pub const SPATTER: Rows<(f32, f32, f32, f32, f32, u8)> = (
    [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1.0, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ],
    [
        (0.65, 0.3, 4.0, 0.69, 0.6, 0),
        (0.65, 0.3, 3.0, 0.68, 0.6, 0),
        (0.65, 0.3, 2.0, 0.68, 0.5, 0),
        (0.65, 0.3, 1.0, 0.65, 1.5, 1),
        (0.67, 0.4, 1.0, 0.65, 1.5, 1),
    ],
);
/// Saturate (S scale a, S shift b).
pub const SATURATE: Rows<(f32, f32)> = (
    [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)],
    [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)],
);
/// MNIST-C shear coefficient (sign drawn at random).
pub const SHEAR: [f32; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];
/// MNIST-C zoom factor `1/0.9 … 1/0.5`.
pub const SCALE: [f32; 5] = [1.0 / 0.9, 1.0 / 0.8, 1.0 / 0.7, 1.0 / 0.6, 1.0 / 0.5];
/// MNIST-C rotation in radians (sign drawn at random).
pub const ROTATE: [f32; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];
/// MNIST-C translation in pixels per axis (signs drawn at random).
pub const TRANSLATE: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
/// Plasma-fractal map size for fog: 32 (CIFAR), 256 (ImageNet and MNIST-C); raised to the next power of two
/// of the image side when the image is larger.
pub const FOG_MAP_SIZE: [usize; 3] = [32, 256, 256];
/// Frost photographs are first scaled by this: ×0.2 (CIFAR, `cv2.resize`), ×1 (ImageNet, MNIST-C).
pub const FROST_SCALE: [f32; 3] = [0.2, 1.0, 1.0];

/// The parameters of one corruption at one severity.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // the fields are documented on the tables above
pub enum Params {
    GaussianNoise { sigma: f32 },
    ShotNoise { lambda: f32 },
    ImpulseNoise { amount: f32 },
    SpeckleNoise { sigma: f32 },
    GaussianBlur { sigma: f32 },
    DefocusBlur { radius: f32, alias: f32 },
    GlassBlur { sigma: f32, delta: usize, iterations: usize, swap_probability: f64, swap: bool },
    MotionBlur { radius: f32, sigma: f32 },
    ZoomBlur { zooms: Vec<f64> },
    Snow(SnowParams),
    Frost { image_weight: f32, frost_weight: f32, frost_scale: f32 },
    Fog { strength: f32, decay: f64, map_size: usize },
    Brightness { shift: f32 },
    Contrast { factor: f32 },
    ElasticTransform { alpha: f32, sigma: f32, affine: f32, border: Border },
    Pixelate { factor: f32 },
    JpegCompression { quality: u8 },
    Spatter(SpatterParams),
    Saturate { scale: f32, shift: f32 },
    Shear { shear: f32 },
    Scale { zoom: f32 },
    Rotate { angle: f32 },
    Translate { shift: f32 },
    Stripe,
    DottedLine,
    Zigzag,
    CannyEdges,
}

/// `np.arange(1, end, step)` with NumPy's element count `⌈(end − 1)/step⌉`, computed in `f64` as NumPy does
/// (so `arange(1, 1.06, 0.01)` has 7 elements, 1.00 … 1.06, because `0.06/0.01` rounds above 6).
///
/// The values follow NumPy's fill rule too: `δ = (1 + step) − 1` (not `step`: `1.01 − 1 = 0.010000000000000009`)
/// and `zᵢ = 1 + i·δ`. This matters: `1 + 25δ = 1.2500000000000002`, and `26 · z` then rounds to 33, not 32.
pub fn arange_from_one(end: f64, step: f64) -> Vec<f64> {
    let n = ((end - 1.0) / step).ceil().max(0.0) as usize;
    let delta = (1.0 + step) - 1.0;
    (0..n).map(|i| 1.0 + i as f64 * delta).collect()
}

/// The parameters of corruption `c` at `severity` (1–5) in `table`.
pub fn lookup(c: Corruption, table: Table, severity: u8) -> Result<Params> {
    if !(1..=5).contains(&severity) {
        return Err(Error::config("severity", format!("{severity} is not in 1-5")));
    }
    let s = usize::from(severity - 1);
    let t = match table {
        Table::Cifar => 0,
        Table::ImageNet => 1,
        Table::MnistC => 2,
    };
    fn pick<T: Copy>(rows: &Rows<T>, t: usize, s: usize) -> T {
        if t == 0 { rows.0[s] } else { rows.1[s] }
    }
    let mnist = table == Table::MnistC;
    let only_mnist = |name: &str| {
        Error::config(
            "corruption",
            format!("{name} is an MNIST-C corruption: use the mnist-c table, not {table}"),
        )
    };
    Ok(match c {
        Corruption::GaussianNoise => Params::GaussianNoise { sigma: pick(&GAUSSIAN_NOISE, t, s) },
        Corruption::ShotNoise => Params::ShotNoise { lambda: pick(&SHOT_NOISE, t, s) },
        Corruption::ImpulseNoise => Params::ImpulseNoise { amount: pick(&IMPULSE_NOISE, t, s) },
        Corruption::SpeckleNoise => Params::SpeckleNoise { sigma: pick(&SPECKLE_NOISE, t, s) },
        Corruption::GaussianBlur => Params::GaussianBlur { sigma: pick(&GAUSSIAN_BLUR, t, s) },
        Corruption::DefocusBlur => {
            let (radius, alias) = pick(&DEFOCUS_BLUR, t, s);
            Params::DefocusBlur { radius, alias }
        }
        Corruption::GlassBlur => {
            let (sigma, delta, iterations) = pick(&GLASS_BLUR, t, s);
            // MNIST-C swaps with probability ½; CIFAR-10-C / ImageNet-C copy (see `blur::glass`).
            Params::GlassBlur {
                sigma,
                delta,
                iterations,
                swap_probability: if mnist { 0.5 } else { 1.0 },
                swap: mnist,
            }
        }
        Corruption::MotionBlur => {
            let (radius, sigma) = pick(&MOTION_BLUR, t, s);
            Params::MotionBlur { radius, sigma }
        }
        Corruption::ZoomBlur => {
            let (end, step) = pick(&ZOOM_BLUR, t, s);
            Params::ZoomBlur { zooms: arange_from_one(end, step) }
        }
        Corruption::Snow => {
            let v = pick(&SNOW, t, s);
            Params::Snow(SnowParams {
                mean: v[0],
                std: v[1],
                zoom: f64::from(v[2]),
                threshold: v[3],
                radius: v[4],
                sigma: v[5],
                blend: v[6],
            })
        }
        Corruption::Frost => {
            let (image_weight, frost_weight) = pick(&FROST, t, s);
            Params::Frost { image_weight, frost_weight, frost_scale: FROST_SCALE[t] }
        }
        Corruption::Fog => {
            let (strength, decay) = pick(&FOG, t, s);
            Params::Fog { strength, decay, map_size: FOG_MAP_SIZE[t] }
        }
        Corruption::Brightness => Params::Brightness { shift: pick(&BRIGHTNESS, t, s) },
        Corruption::Contrast => Params::Contrast { factor: pick(&CONTRAST, t, s) },
        Corruption::ElasticTransform => {
            let (a, sg, af) = pick(&ELASTIC, t, s);
            let k = ELASTIC_SCALE[t];
            let border = if mnist { Border::Zero } else { Border::Reflect101 };
            Params::ElasticTransform { alpha: a * k, sigma: sg * k, affine: af * k, border }
        }
        Corruption::Pixelate => Params::Pixelate { factor: pick(&PIXELATE, t, s) },
        Corruption::JpegCompression => Params::JpegCompression { quality: pick(&JPEG_QUALITY, t, s) },
        Corruption::Spatter => {
            let (mean, std, blur, threshold, intensity, mode) = pick(&SPATTER, t, s);
            Params::Spatter(SpatterParams {
                mean,
                std,
                blur,
                threshold,
                intensity,
                mud: mnist || mode == 1,
                gray_mud: mnist,
            })
        }
        Corruption::Saturate => {
            let (scale, shift) = pick(&SATURATE, t, s);
            Params::Saturate { scale, shift }
        }
        Corruption::Shear if mnist => Params::Shear { shear: SHEAR[s] },
        Corruption::Scale if mnist => Params::Scale { zoom: SCALE[s] },
        Corruption::Rotate if mnist => Params::Rotate { angle: ROTATE[s] },
        Corruption::Translate if mnist => Params::Translate { shift: TRANSLATE[s] },
        Corruption::Stripe if mnist => Params::Stripe,
        Corruption::DottedLine if mnist => Params::DottedLine,
        Corruption::Zigzag if mnist => Params::Zigzag,
        Corruption::CannyEdges if mnist => Params::CannyEdges,
        other => return Err(only_mnist(other.as_str())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_counts_like_numpy() {
        assert_eq!(arange_from_one(1.06, 0.01).len(), 7);
        assert_eq!(arange_from_one(1.11, 0.01).len(), 12);
        assert_eq!(arange_from_one(1.31, 0.03).len(), 11);
        assert_eq!(arange_from_one(1.21, 0.02).len(), 11);
    }
}
