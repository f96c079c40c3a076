//! The noise family: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.
//!
//! On every value `x ∈ [0, 1]` independently (each channel separately), then clipped to `[0, 1]`:
//! - Gaussian: `x' = x + σ·z`, `z ~ N(0, 1)`, so `Var(x' − x) = σ²` before clipping.
//! - shot: `x' = Poisson(λ·x)/λ`, so `E x' = x` and `Var x' = x/λ`.
//! - impulse: with probability `p` the value is replaced, by 1 (salt) or 0 (pepper) with equal odds
//!   (scikit-image's `random_noise(mode='s&p', amount=p)`).
//! - speckle: `x' = x + x·σ·z`, so `Var(x' − x) = x²σ²` before clipping.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::image::Image;

/// Additive Gaussian noise of standard deviation `sigma`.
pub fn gaussian(img: &Image, sigma: f32, rng: &mut ChaCha8Rng) -> Image {
    map(img, |x| x + sigma * rng.sample::<f32, _>(StandardNormal))
}

/// Inverse-CDF tables of `Poisson(λ·k/255)` for the 256 byte levels `k`, built once per severity: sampling a
/// value on a level is then one uniform draw and a binary search (exact inversion sampling).
#[derive(Clone, Debug, PartialEq)]
pub struct ShotTable {
    lambda: f64,
    cdfs: Vec<Vec<f64>>,
}

impl ShotTable {
    /// Builds the tables for `lambda`. Each CDF runs until it exceeds `1 − 10⁻¹⁵` (its last entry is set to 1).
    pub fn new(lambda: f32) -> ShotTable {
        let lambda = f64::from(lambda);
        let cdfs = (0..256)
            .map(|k| {
                let mean = lambda * f64::from(k) / 255.0;
                let mut p = (-mean).exp();
                let mut cdf = vec![p];
                let mut n = 0.0;
                while *cdf.last().expect("non-empty") < 1.0 - 1e-15 && n < mean + 40.0 * mean.sqrt() + 40.0 {
                    n += 1.0;
                    p *= mean / n;
                    cdf.push(cdf.last().expect("non-empty") + p);
                }
                *cdf.last_mut().expect("non-empty") = 1.0;
                cdf
            })
            .collect();
        ShotTable { lambda, cdfs }
    }
}

/// Poisson noise with `lambda` photons per unit intensity: `x' = Poisson(λx)/λ`. Values on a byte level use
/// `table`; others (float inputs) draw from `rand_distr`'s Poisson sampler.
pub fn shot(img: &Image, table: &ShotTable, rng: &mut ChaCha8Rng) -> Image {
    let lambda = table.lambda;
    map(img, |x| {
        let level = (x * 255.0 + 0.5) as usize;
        if level < 256 && f32::from(level as u8) / 255.0 == x {
            let u: f64 = rng.random();
            let k = table.cdfs[level].partition_point(|&c| c <= u);
            return (k as f64 / lambda) as f32;
        }
        let mean = lambda * f64::from(x.max(0.0));
        match Poisson::new(mean) {
            Ok(p) if mean > 0.0 => (p.sample(rng) / lambda) as f32,
            _ => 0.0,
        }
    })
}

/// Salt-and-pepper noise replacing a fraction `amount` of the values.
pub fn impulse(img: &Image, amount: f32, rng: &mut ChaCha8Rng) -> Image {
    let amount = f64::from(amount);
    map(img, |x| {
        let flipped = rng.random::<f64>() < amount;
        let salted = rng.random::<f64>() < 0.5;
        match (flipped, salted) {
            (true, true) => 1.0,
            (true, false) => 0.0,
            _ => x,
        }
    })
}

/// Multiplicative (speckle) noise of standard deviation `sigma`.
pub fn speckle(img: &Image, sigma: f32, rng: &mut ChaCha8Rng) -> Image {
    map(img, |x| x + x * sigma * rng.sample::<f32, _>(StandardNormal))
}

fn map(img: &Image, mut f: impl FnMut(f32) -> f32) -> Image {
    let mut out = img.clone();
    for v in &mut out.data {
        *v = f(*v).clamp(0.0, 1.0);
    }
    out
}
