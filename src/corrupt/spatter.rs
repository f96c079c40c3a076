//! Spatter: water drops (modes 0) or mud (mode 1) splashed on the lens.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::filter::Border;
use super::image::{Image, LUMA, quantize};
use super::interleaved;
use super::spatter_shading::drop_shading;

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
    let liquid = Liquid::draw(img.height, img.width, p, rng);
    let col = colour(p, img.channels);
    let mut out = img.clone();
    for (i, px) in out.data.chunks_exact_mut(img.channels).enumerate() {
        for (v, &k) in px.iter_mut().zip(&col) {
            *v = liquid.mix(*v, i, k);
        }
    }
    out
}

/// [`spatter`] on 8-bit values (`h × w × c`), returning the truncated bytes: the same draws and the same
/// arithmetic on the same `f32` values as the float path, without the float image in between.
pub fn spatter_u8(
    px: &[u8],
    h: usize,
    w: usize,
    c: usize,
    p: &SpatterParams,
    rng: &mut ChaCha8Rng,
) -> Vec<u8> {
    let liquid = Liquid::draw(h, w, p, rng);
    let col = colour(p, c);
    let levels: [f32; 256] = std::array::from_fn(|k| k as f32 / 255.0);
    let mut out = vec![0u8; px.len()];
    for (i, (dst, src)) in out.chunks_exact_mut(c).zip(px.chunks_exact(c)).enumerate() {
        for ((d, &u), &k) in dst.iter_mut().zip(src).zip(&col) {
            *d = quantize(liquid.mix(levels[usize::from(u)], i, k));
        }
    }
    out
}

/// The liquid colour per channel, 0…1.
fn colour(p: &SpatterParams, c: usize) -> Vec<f32> {
    let rgb = if p.mud { MUD } else { WATER };
    if c == 3 {
        rgb.iter().map(|v| v / 255.0).collect()
    } else if p.gray_mud {
        vec![rgb[0] / 255.0]
    } else {
        vec![LUMA.iter().zip(rgb).map(|(a, b)| a * b).sum::<f32>() / 255.0]
    }
}

/// One draw of the liquid: per pixel, how much of the liquid colour it takes.
enum Liquid {
    /// No liquid anywhere (water whose shaded layer is zero everywhere).
    Dry,
    /// Water drops: `L·D` per pixel, its maximum, and the intensity.
    Water { shade: Vec<f32>, max: f32, intensity: f32 },
    /// Mud: the blurred mask `m` per pixel.
    Mud(Vec<f32>),
}

impl Liquid {
    /// Draws the layer (one normal value per pixel, row-major) and derives the water or mud weights.
    fn draw(h: usize, w: usize, p: &SpatterParams, rng: &mut ChaCha8Rng) -> Liquid {
        let normal = Normal::new(p.mean, p.std.max(0.0)).expect("finite spatter parameters");
        let layer: Vec<f32> = (0..h * w).map(|_| normal.sample(rng)).collect();
        // One channel through the interleaved filters: bit-identical to `filter::gaussian_blur`.
        let layer: Vec<f32> = interleaved::gaussian(&layer, h, w, 1, p.blur, Border::Nearest, 4.0)
            .into_iter()
            .map(|v| if v < p.threshold { 0.0 } else { v })
            .collect();
        if p.mud {
            let mask: Vec<f32> = layer.iter().map(|&v| if v > p.threshold { 1.0 } else { 0.0 }).collect();
            let m: Vec<f32> = interleaved::gaussian(&mask, h, w, 1, p.intensity, Border::Nearest, 4.0)
                .into_iter()
                .map(|v| if v < 0.8 { 0.0 } else { v })
                .collect();
            return Liquid::Mud(m);
        }
        let layer_u8: Vec<u8> = layer.iter().map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8).collect();
        let dist = drop_shading(&layer_u8, h, w);
        let shade: Vec<f32> =
            layer_u8.iter().zip(&dist).map(|(&l, &d)| f32::from(l) * f32::from(d)).collect();
        let max = shade.iter().copied().fold(0.0f32, f32::max);
        if max <= 0.0 {
            return Liquid::Dry;
        }
        Liquid::Water { shade, max, intensity: p.intensity }
    }

    /// Value `x` of pixel `i` under the liquid of colour `k` (one channel), clipped to `[0, 1]`.
    #[inline]
    fn mix(&self, x: f32, i: usize, k: f32) -> f32 {
        match self {
            Liquid::Dry => x,
            Liquid::Water { shade, max, intensity } => (x + intensity * shade[i] / max * k).clamp(0.0, 1.0),
            Liquid::Mud(m) => (x * (1.0 - m[i]) + k * m[i]).clamp(0.0, 1.0),
        }
    }
}
