//! The noise family against its definition: the variance of the added noise per severity, the impulse
//! fraction and its salt/pepper balance, unbiasedness.

use lcr_verify::corrupt::{Corruption, Corruptor, Image, Table, params};

/// A flat image of value `v`, 64×64 RGB (12,288 values per draw).
fn flat(v: f32) -> Image {
    Image::new(64, 64, 3, vec![v; 64 * 64 * 3]).unwrap()
}

/// Mean and variance of `f(x)` for `x ~ N(mu, sigma²)` clipped to `[0, 1]` (numerical integration), i.e. what
/// `clip(x + N)` must produce.
fn clipped_normal(mu: f64, sigma: f64) -> (f64, f64) {
    let n = 200_000;
    let (lo, hi) = (mu - 10.0 * sigma, mu + 10.0 * sigma);
    let dx = (hi - lo) / n as f64;
    let (mut m1, mut m2) = (0.0, 0.0);
    for i in 0..n {
        let x = lo + (i as f64 + 0.5) * dx;
        let p = (-(x - mu).powi(2) / (2.0 * sigma * sigma)).exp()
            / (sigma * (2.0 * std::f64::consts::PI).sqrt())
            * dx;
        let y = x.clamp(0.0, 1.0);
        m1 += p * y;
        m2 += p * y * y;
    }
    (m1, m2 - m1 * m1)
}

/// Mean and variance of `clip(Poisson(λx)/λ, 0, 1)`.
fn clipped_poisson(x: f64, lambda: f64) -> (f64, f64) {
    let mean = lambda * x;
    let (mut m1, mut m2, mut p) = (0.0, 0.0, (-mean).exp());
    for k in 0..2000 {
        if k > 0 {
            p *= mean / k as f64;
        }
        let y = (k as f64 / lambda).min(1.0);
        m1 += p * y;
        m2 += p * y * y;
    }
    (m1, m2 - m1 * m1)
}

fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let m = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (m, values.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / (n - 1.0))
}

/// Pools several seeded draws (float output, before 8-bit truncation).
fn draws(table: Table, c: Corruption, s: u8, img: &Image, n: u64) -> Vec<f32> {
    let cor = Corruptor::new(table);
    (0..n).flat_map(|i| cor.apply_seeded(c, s, img, 42, i).unwrap().data).collect()
}

/// Relative tolerance on a variance estimated from ≥ 49k samples (standard error ≈ √(2/n) ≈ 0.6 %; this is
/// about 8 standard errors).
const VAR_REL: f64 = 0.05;
/// Absolute tolerance on a mean (standard error ≤ 0.38/√49k ≈ 0.0017).
const MEAN_ABS: f64 = 0.008;

#[test]
fn gaussian_noise_has_the_tabulated_variance() {
    for (table, sigmas) in
        [(Table::Cifar, params::GAUSSIAN_NOISE.0), (Table::ImageNet, params::GAUSSIAN_NOISE.1)]
    {
        let mut last = 0.0;
        for (k, &sigma) in sigmas.iter().enumerate() {
            let v = draws(table, Corruption::GaussianNoise, k as u8 + 1, &flat(0.5), 4);
            let (m, var) = moments(&v);
            let (em, evar) = clipped_normal(0.5, f64::from(sigma));
            assert!((m - em).abs() < MEAN_ABS, "{table} s{}: mean {m} vs {em}", k + 1);
            assert!((var / evar - 1.0).abs() < VAR_REL, "{table} s{}: variance {var} vs {evar}", k + 1);
            assert!(var > last, "{table}: variance must grow with severity");
            last = var;
        }
    }
}

#[test]
fn speckle_noise_variance_scales_with_the_pixel() {
    for (table, sigmas) in
        [(Table::Cifar, params::SPECKLE_NOISE.0), (Table::ImageNet, params::SPECKLE_NOISE.1)]
    {
        for x in [0.3f32, 0.6] {
            let mut last = 0.0;
            for (k, &sigma) in sigmas.iter().enumerate() {
                let v = draws(table, Corruption::SpeckleNoise, k as u8 + 1, &flat(x), 4);
                let (m, var) = moments(&v);
                let (em, evar) = clipped_normal(f64::from(x), f64::from(x * sigma));
                assert!((m - em).abs() < MEAN_ABS, "{table} x={x} s{}: mean {m} vs {em}", k + 1);
                assert!(
                    (var / evar - 1.0).abs() < VAR_REL,
                    "{table} x={x} s{}: variance {var} vs {evar}",
                    k + 1
                );
                assert!(var > last);
                last = var;
            }
        }
    }
    // A black pixel stays black: the noise is multiplicative.
    assert!(draws(Table::ImageNet, Corruption::SpeckleNoise, 5, &flat(0.0), 1).iter().all(|&v| v == 0.0));
}

#[test]
fn shot_noise_is_poisson_counts_over_lambda() {
    for (table, lambdas) in [(Table::Cifar, params::SHOT_NOISE.0), (Table::ImageNet, params::SHOT_NOISE.1)] {
        for x in [0.2f32, 0.7] {
            let mut last = 0.0;
            for (k, &lambda) in lambdas.iter().enumerate() {
                let v = draws(table, Corruption::ShotNoise, k as u8 + 1, &flat(x), 4);
                let (m, var) = moments(&v);
                let (em, evar) = clipped_poisson(f64::from(x), f64::from(lambda));
                assert!((m - em).abs() < MEAN_ABS, "{table} x={x} s{}: mean {m} vs {em}", k + 1);
                assert!(
                    (var / evar - 1.0).abs() < VAR_REL,
                    "{table} x={x} s{}: variance {var} vs {evar}",
                    k + 1
                );
                // Values are multiples of 1/λ.
                assert!(v.iter().all(|&y| y == 1.0
                    || ((f64::from(y) * f64::from(lambda)).round() - f64::from(y) * f64::from(lambda)).abs()
                        < 1e-3));
                assert!(var > last);
                last = var;
            }
        }
    }
}

#[test]
fn impulse_noise_replaces_the_tabulated_fraction() {
    for (table, amounts) in
        [(Table::Cifar, params::IMPULSE_NOISE.0), (Table::ImageNet, params::IMPULSE_NOISE.1)]
    {
        for (k, &p) in amounts.iter().enumerate() {
            let v = draws(table, Corruption::ImpulseNoise, k as u8 + 1, &flat(0.4), 4);
            let n = v.len() as f64;
            let salt = v.iter().filter(|&&y| y == 1.0).count() as f64;
            let pepper = v.iter().filter(|&&y| y == 0.0).count() as f64;
            let untouched = v.iter().filter(|&&y| y == 0.4).count() as f64;
            assert_eq!(salt + pepper + untouched, n, "values other than 0, 1 or the original");
            let frac = (salt + pepper) / n;
            let p = f64::from(p);
            let se = (p * (1.0 - p) / n).sqrt();
            assert!((frac - p).abs() < 5.0 * se, "{table} s{}: replaced {frac} vs {p}", k + 1);
            let se_half = (0.25 / (salt + pepper)).sqrt();
            assert!((salt / (salt + pepper) - 0.5).abs() < 5.0 * se_half, "{table} s{}: salt share", k + 1);
        }
    }
}
