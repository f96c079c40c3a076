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

/// Poisson noise with `lambda` photons per unit intensity.
pub fn shot(img: &Image, lambda: f32, rng: &mut ChaCha8Rng) -> Image {
    let lambda = f64::from(lambda);
    map(img, |x| {
        let mean = lambda * f64::from(x.max(0.0));
        if mean <= 0.0 {
            return 0.0;
        }
        let k: f64 = Poisson::new(mean).map(|p| p.sample(rng)).unwrap_or(mean);
        (k / lambda) as f32
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
