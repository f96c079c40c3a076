//! The noise family: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.
//!
//! On every value `x ∈ [0, 1]` independently (each channel separately), then clipped to `[0, 1]`:
//! - Gaussian: `x' = x + σ·z`, `z ~ N(0, 1)`, so `Var(x' − x) = σ²` before clipping.
//! - shot: `x' = Poisson(λ·x)/λ`, so `E x' = x` and `Var x' = x/λ`.
//! - impulse: with probability `p` the value is replaced, by 1 (salt) or 0 (pepper) with equal odds
//!   (scikit-image's `random_noise(mode='s&p', amount=p)`).
//! - speckle: `x' = x + x·σ·z`, so `Var(x' − x) = x²σ²` before clipping.

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::image::{Image, quantize};

/// Additive Gaussian noise of standard deviation `sigma`.
pub fn gaussian(img: &Image, sigma: f32, rng: &mut ChaCha8Rng) -> Image {
    map(img, |x| x + sigma * rng.sample::<f32, _>(StandardNormal))
}

/// [`gaussian`] on 8-bit values, the truncated bytes written into `out` (as long as `px`): the same draws in the same order, without the
/// float image in between.
pub fn gaussian_into(px: &[u8], sigma: f32, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    normal_batches(px, rng, out, |u, z| quantize(level(u) + sigma * z));
}

/// [`speckle`] on 8-bit values, the truncated bytes written into `out` (as long as `px`; same draws, same
/// order).
pub fn speckle_into(px: &[u8], sigma: f32, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    normal_batches(px, rng, out, |u, x| {
        let x0 = level(u);
        quantize(x0 + x0 * sigma * x)
    });
}

/// The byte level `u / 255` as `f32` (the value [`Image::from_u8`] stores).
#[inline(always)]
fn level(u: u8) -> f32 {
    f32::from(u) / 255.0
}

/// Values drawn per batch by [`normal_batches`].
const BATCH: usize = 256;

/// `out[i] = f(px[i], zᵢ)` with `zᵢ` the i-th standard normal draw of `rng` (`f32`), in batches: the draws of a
/// batch first (one after the other, in order: the same draws as drawing inside the loop), then `f` over the
/// batch, a loop free of the sampler's branches that the compiler vectorises (x86-64-v3 where available).
#[inline(always)]
fn normal_batches(px: &[u8], rng: &mut ChaCha8Rng, out: &mut [u8], f: impl Fn(u8, f32) -> u8) {
    super::wide::wide(
        #[inline(always)]
        || {
            let mut z = [0f32; BATCH];
            for (dst, src) in out.chunks_mut(BATCH).zip(px.chunks(BATCH)) {
                let z = &mut z[..src.len()];
                z.iter_mut().for_each(|v| *v = rng.sample::<f32, _>(StandardNormal));
                for ((d, &u), &x) in dst.iter_mut().zip(src).zip(z.iter()) {
                    *d = f(u, x);
                }
            }
        },
    )
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

/// [`shot`] on 8-bit values, the truncated bytes written into `out` (as long as `px`): every value is on a level, so every draw goes
/// through the tables (same draws, same order).
pub fn shot_into(px: &[u8], table: &ShotTable, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    let lambda = table.lambda;
    for (d, &u) in out.iter_mut().zip(px) {
        let r: f64 = rng.random();
        let k = table.cdfs[usize::from(u)].partition_point(|&c| c <= r);
        *d = quantize((k as f64 / lambda) as f32);
    }
}

/// Salt-and-pepper noise replacing a fraction `amount` of the values (see [`impulse_sites`]).
pub fn impulse(img: &Image, amount: f32, rng: &mut ChaCha8Rng) -> Image {
    let mut out = img.clone();
    impulse_sites(out.data.len(), amount, rng, |i, salt| out.data[i] = if salt { 1.0 } else { 0.0 });
    out.clamp01()
}

/// [`impulse`] on 8-bit values into `out` (as long as `px`): the same sites, salt 255 and pepper 0, the
/// other bytes copied.
pub fn impulse_into(px: &[u8], amount: f32, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    out.copy_from_slice(px);
    impulse_sites(out.len(), amount, rng, |i, salt| out[i] = if salt { 255 } else { 0 });
}

/// Calls `hit(index, salt)` for the values of `0..n` that salt-and-pepper noise replaces: each independently
/// with probability `amount`, salt or pepper with equal odds (scikit-image's `random_noise(mode='s&p')`).
///
/// The gaps between replaced values are drawn directly, `gap = ⌊ln U / ln(1 − p)⌋` with `U` uniform in
/// `(0, 1]` (the geometric law of the number of untouched values before the next hit), so the cost is one
/// draw per replaced value rather than two per value. Each draw is one `u64`: its high 53 bits give `U`, its
/// lowest bit salt (1) or pepper (0).
pub fn impulse_sites(n: usize, amount: f32, rng: &mut ChaCha8Rng, mut hit: impl FnMut(usize, bool)) {
    let p = f64::from(amount);
    if p.is_nan() || p <= 0.0 {
        return;
    }
    let log_keep = (1.0 - p).ln();
    let mut i = 0usize;
    loop {
        let bits = rng.next_u64();
        let salt = bits & 1 == 1;
        if p < 1.0 {
            // U = (k + 1)/2⁵³ with k the high 53 bits: uniform on (0, 1], so ln U is finite.
            let u = ((bits >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
            let gap = (u.ln() / log_keep).floor();
            if gap >= (n - i) as f64 {
                return;
            }
            i += gap as usize;
        }
        if i >= n {
            return;
        }
        hit(i, salt);
        i += 1;
    }
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
