//! Spatter: water drops (modes 0) or mud (mode 1) splashed on the lens.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::edges::{self, CannySettings};
use super::filter::{self, Border};
use super::image::{Image, LUMA};

/// Water colour (pale turquoise), 0…255, applied to channels 0, 1, 2 in this order as the reference does.
pub const WATER: [f32; 3] = [175.0, 238.0, 238.0];
/// Mud colour (brown), 0…255.
pub const MUD: [f32; 3] = [63.0, 42.0, 20.0];

/// The parameters of [`spatter`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpatterParams {
    /// Mean of the Gaussian liquid layer.
    pub mean: f32,
    /// Standard deviation of the layer.
    pub std: f32,
    /// Gaussian blur σ applied to the layer.
    pub blur: f32,
    /// Layer values below this are dry.
    pub threshold: f32,
    /// Water: opacity of the drops; mud: blur σ of the mud mask.
    pub intensity: f32,
    /// Mud (true) or water (false).
    pub mud: bool,
    /// MNIST-C's gray mud (63/255 on every channel) instead of brown.
    pub gray_mud: bool,
}

/// Spatter. A liquid layer `L ~ N(μ, σ)` is blurred (σ = `blur`, nearest border) and cleared below the threshold.
///
/// - Water: `L` is stored as 8 bits and shaded by its edges, `D =` [`drop_shading`]`(L)`; the drop opacity is
///   `m = intensity · L·D / max(L·D)` and `x' = clip(x + m · water)`.
/// - Mud: `m` = Gaussian blur (σ = intensity) of the mask `L > threshold`, zeroed below 0.8;
///   `x' = clip(x·(1 − m) + m · mud)`.
///
/// Gray images use the luma of the colour (or 63/255 for MNIST-C's gray mud). Liquid values above 1 are clamped
/// when stored as 8 bits, where NumPy's `astype(np.uint8)` would wrap them around.
pub fn spatter(img: &Image, p: &SpatterParams, rng: &mut ChaCha8Rng) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let normal = Normal::new(p.mean, p.std.max(0.0)).expect("finite spatter parameters");
    let layer: Vec<f32> = (0..h * w).map(|_| normal.sample(rng)).collect();
    let layer: Vec<f32> = filter::gaussian_blur(&layer, h, w, p.blur, Border::Nearest, 4.0)
        .into_iter()
        .map(|v| if v < p.threshold { 0.0 } else { v })
        .collect();
    let colour = |rgb: [f32; 3]| -> Vec<f32> {
        if c == 3 {
            rgb.iter().map(|v| v / 255.0).collect()
        } else if p.gray_mud {
            vec![rgb[0] / 255.0]
        } else {
            vec![LUMA.iter().zip(rgb).map(|(a, b)| a * b).sum::<f32>() / 255.0]
        }
    };
    let mut out = img.clone();
    if p.mud {
        let mask: Vec<f32> = layer.iter().map(|&v| if v > p.threshold { 1.0 } else { 0.0 }).collect();
        let m: Vec<f32> = filter::gaussian_blur(&mask, h, w, p.intensity, Border::Nearest, 4.0)
            .into_iter()
            .map(|v| if v < 0.8 { 0.0 } else { v })
            .collect();
        let col = colour(MUD);
        for (i, px) in out.data.chunks_exact_mut(c).enumerate() {
            for (ch, v) in px.iter_mut().enumerate() {
                *v = (*v * (1.0 - m[i]) + col[ch] * m[i]).clamp(0.0, 1.0);
            }
        }
        return out;
    }
    let layer_u8: Vec<u8> = layer.iter().map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8).collect();
    let as_f32: Vec<f32> = layer_u8.iter().map(|&v| f32::from(v)).collect();
    let dist: Vec<f32> = drop_shading(&layer_u8, h, w).into_iter().map(f32::from).collect();
    let m: Vec<f32> = as_f32.iter().zip(&dist).map(|(l, d)| l * d).collect();
    let max = m.iter().copied().fold(0.0f32, f32::max);
    if max <= 0.0 {
        return out;
    }
    let col = colour(WATER);
    for (i, px) in out.data.chunks_exact_mut(c).enumerate() {
        let opacity = p.intensity * m[i] / max;
        for (ch, v) in px.iter_mut().enumerate() {
            *v = (*v + opacity * col[ch]).clamp(0.0, 1.0);
        }
    }
    out
}

/// The shading of the water drops from the 8-bit liquid layer `L` (`h × w`), as the reference computes it with
/// OpenCV: `D = 255 − Canny(L, 50, 150)`, its 5×5 chamfer distance map capped at 20, a 3×3 box blur truncated to
/// 8 bits, `equalizeHist`, the emboss kernel `[[−2,−1,0],[−1,1,1],[0,1,2]]` (`filter2D` to 8 bits, rounded and
/// saturated, reflect-101 border), and a last 3×3 box blur, which OpenCV rounds to 8 bits for an 8-bit image.
/// Byte-exact with OpenCV 4.10 (`tests/corrupt_spatter.rs`).
pub fn drop_shading(layer: &[u8], h: usize, w: usize) -> Vec<u8> {
    let as_f32: Vec<f32> = layer.iter().map(|&v| f32::from(v)).collect();
    let edge = edges::canny(&as_f32, h, w, &CannySettings::OPENCV_50_150);
    let zero: Vec<bool> = edge.iter().map(|&e| e == 1).collect();
    let dist: Vec<f32> = edges::distance_transform(&zero, h, w).into_iter().map(|d| d.min(20.0)).collect();
    let dist: Vec<u8> = filter::box3(&dist, h, w).into_iter().map(|v| v.clamp(0.0, 255.0) as u8).collect();
    let dist = edges::equalize_hist(&dist);
    let emboss = filter::SparseKernel::from_dense(&[-2.0, -1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 1.0, 2.0], 3, 3);
    let dist_f: Vec<f32> = dist.iter().map(|&v| f32::from(v)).collect();
    let embossed: Vec<f32> = emboss
        .correlate(&dist_f, h, w, Border::Reflect101)
        .into_iter()
        .map(|v| v.round().clamp(0.0, 255.0))
        .collect();
    filter::box3(&embossed, h, w).into_iter().map(|v| v.round() as u8).collect()
}
