//! Geometry of the threat model: steepest-ascent directions, projection onto ball ∩ domain, random points.
//!
//! * Direction of steepest ascent for a gradient g under a unit step: ℓ∞: sign(g) (Goodfellow et al. 2015);
//!   ℓ2: g/‖g‖₂.
//! * Projection Π onto {y : ‖y − x‖ ≤ ε} ∩ D for the box D (Madry et al. 2018): ℓ∞: clip each coordinate to
//!   [x − ε, x + ε] ∩ D, the exact projection. ℓ2: scale δ = y − x by min(1, ε/‖δ‖₂), then clip to D; clipping
//!   moves every coordinate towards x (x ∈ D), so the result stays in the ball (the usual approximation of the
//!   projection onto the intersection, corruptions-and-attacks.md §6.2).
//! * Rounding: a returned point y always satisfies `dist_up(x, y) ≤ ε` (the rounded-up distance, the one an
//!   [`super::Adversarial`] reports): the coordinates (ℓ∞) or the scale (ℓ2) are pulled towards x until it holds.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::Domain;
use crate::ir::InputNorm;

/// The float norm ‖v‖ (not rounded outward; for step sizes and directions only).
pub fn norm_of(norm: InputNorm, v: &[f64]) -> f64 {
    match norm {
        InputNorm::L2 => v.iter().map(|a| a * a).sum::<f64>().sqrt(),
        InputNorm::Linf => v.iter().fold(0.0, |m, a| m.max(a.abs())),
    }
}

/// The unit steepest-ascent direction for gradient `g`: sign(g) for ℓ∞, g/‖g‖₂ for ℓ2; `None` when g = 0 (the
/// attack is stuck).
pub fn direction(norm: InputNorm, g: &[f64]) -> Option<Vec<f64>> {
    let n = norm_of(InputNorm::L2, g);
    if n == 0.0 || !n.is_finite() {
        return None;
    }
    Some(match norm {
        InputNorm::Linf => g
            .iter()
            .map(|&v| {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect(),
        InputNorm::L2 => g.iter().map(|v| v / n).collect(),
    })
}

/// y + s·v.
pub fn step(y: &[f64], s: f64, v: &[f64]) -> Vec<f64> {
    y.iter().zip(v).map(|(a, b)| a + s * b).collect()
}

/// a + f·(b − a) with each coordinate kept between aᵢ and bᵢ (so the point lies in every box holding a and b).
pub fn along(a: &[f64], b: &[f64], f: f64) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| {
            let v = p + f * (q - p);
            v.clamp(p.min(q), p.max(q))
        })
        .collect()
}

/// Each coordinate of `y` clipped to the domain.
pub fn clip_domain(y: &mut [f64], domain: &Domain) {
    for (v, (l, h)) in y.iter_mut().zip(domain.0.iter().zip(&domain.1)) {
        *v = v.clamp(*l, *h);
    }
}

/// The projection of `y` onto the closed ball of radius `eps` around `x` intersected with the domain, with
/// `dist_up(x, result) ≤ eps` guaranteed (x itself when eps = 0). `x` must lie in the domain.
pub fn project(norm: InputNorm, x: &[f64], y: &[f64], eps: f64, domain: &Domain) -> Vec<f64> {
    if eps <= 0.0 {
        return x.to_vec();
    }
    let mut out = y.to_vec();
    clip_domain(&mut out, domain);
    match norm {
        InputNorm::Linf => {
            for (v, &c) in out.iter_mut().zip(x) {
                *v = v.clamp(c - eps, c + eps);
                // Pull towards x until the rounded-up coordinate distance is within eps (a few ulps at most).
                let mut tries = 0;
                while (*v - c).abs().next_up() > eps {
                    *v = if tries < 8 { toward(*v, c) } else { c };
                    tries += 1;
                }
            }
        }
        InputNorm::L2 => {
            let n = norm_of(InputNorm::L2, &x.iter().zip(&out).map(|(a, b)| b - a).collect::<Vec<_>>());
            if n > eps {
                out = along(x, &out, eps / n);
            }
            let mut shrink = f64::EPSILON;
            while norm.dist_up(x, &out) > eps {
                if shrink > 0.5 {
                    return x.to_vec();
                }
                out = along(x, &out, 1.0 - shrink);
                shrink *= 4.0;
            }
        }
    }
    out
}

/// The float next to `v` in the direction of `c`.
fn toward(v: f64, c: f64) -> f64 {
    if v > c { v.next_down() } else { v.next_up() }
}

/// A uniformly random unit direction: a normalised Gaussian vector for ℓ2 (uniform on the sphere), and for ℓ∞
/// a uniform point of [−1, 1]ⁿ divided by its largest magnitude (on the sphere ‖v‖∞ = 1).
pub fn random_direction(rng: &mut impl Rng, norm: InputNorm, n: usize) -> Vec<f64> {
    loop {
        let v: Vec<f64> = match norm {
            InputNorm::L2 => (0..n).map(|_| StandardNormal.sample(rng)).collect(),
            InputNorm::Linf => (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect(),
        };
        let m = norm_of(norm, &v);
        if m > 0.0 {
            return v.iter().map(|a| a / m).collect();
        }
    }
}

/// A random point of the ball of radius `eps` around x, projected into the domain: uniform in the cube for ℓ∞
/// (Madry et al.'s start), a uniform direction at radius ε·U^{1/n} (uniform in the ball) for ℓ2.
pub fn random_in_ball(rng: &mut impl Rng, norm: InputNorm, x: &[f64], eps: f64, domain: &Domain) -> Vec<f64> {
    let n = x.len();
    let y = match norm {
        InputNorm::Linf => x.iter().map(|&c| c + eps * (rng.random::<f64>() * 2.0 - 1.0)).collect::<Vec<_>>(),
        InputNorm::L2 => {
            let v = random_direction(rng, norm, n);
            let r = eps * rng.random::<f64>().powf(1.0 / n.max(1) as f64);
            step(x, r, &v)
        }
    };
    project(norm, x, &y, eps, domain)
}
