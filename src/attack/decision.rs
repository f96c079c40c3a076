//! A decision-based (label-only, gradient-free) attack: for the deployed network, whose true gradient is zero
//! almost everywhere and whose BPDA direction can be zero too.
//!
//! 1. **A start.** Rays from x, along the gradient direction (when it is not zero) and along `directions`
//!    random directions ([`super::random_direction`]): on each, the points x + s·v (clipped to the domain)
//!    for s = S·2⁻ᵏ, k = `ladder`−1, …, 0, with S the domain's diameter in the norm; the first that the forward
//!    pass reports adversarial is a start.
//! 2. **To the boundary.** Bisection from each start towards x ([`Target::bisect`]; for ℓ∞ also on the clip
//!    path); the closest point found is b, on the adversarial side of the decision boundary.
//! 3. **Refinement**, HopSkipJump-style (Chen, Jordan & Wainwright, IEEE S&P 2020; after the boundary attack of
//!    Brendel, Rauber & Bethge, ICLR 2018), for iteration k = 1, …, `iterations`, with d = ‖b − x‖:
//!    * estimate the boundary's normal at b from `probes` random unit vectors u_i and the labels
//!      φ_i = ±1 (adversarial or not) at b + δu_i, δ = `probe_radius`·d:
//!      ĝ = Σᵢ (φᵢ − φ̄)uᵢ/(B − 1) (ĝ = φ̄·Σᵢ uᵢ/B when all φᵢ agree);
//!    * step along v = ĝ/‖ĝ‖₂ (ℓ2) or sign(ĝ) (ℓ∞) by ξ = d/√k, halving ξ until b + ξv (clipped to the domain)
//!      is adversarial;
//!    * bisect from that point towards x; the result replaces b when it is no farther from x.
//! 4. **Confirmation.** The final b is confirmed with a step back towards the point it was bisected from
//!    ([`Target::confirm_towards`]); if that fails, the earlier points are tried in turn.
//!
//! Every random choice comes from [`Target::rng`] (salt 0 for the rays, k for iteration k), so the attack is
//! deterministic given the target's seed.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ball::{clip_domain, direction, norm_of, random_direction, step};
use super::boundary::Path;
use super::loss::Loss;
use super::{Adversarial, AttackKind, Sample, Target};
use crate::error::{Error, Result};
use crate::ir::InputNorm;

/// The budget of [`decision`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionConfig {
    /// Random rays tried for a start.
    pub directions: usize,
    /// Scales tried per ray (S, S/2, …, S/2^{ladder−1}).
    pub ladder: usize,
    /// Starts bisected to the boundary (the closest is refined).
    pub starts: usize,
    /// Whether the gradient (BPDA for the deployed function) ray is tried first.
    pub use_gradient: bool,
    /// Refinement iterations.
    pub iterations: usize,
    /// Probes per normal estimate.
    pub probes: usize,
    /// Probe radius as a fraction of the current distance.
    pub probe_radius: f64,
}

impl Default for DecisionConfig {
    /// 32 rays of 8 scales, 4 starts, the gradient ray, 30 iterations of 64 probes at radius 1 % of the distance.
    fn default() -> Self {
        DecisionConfig {
            directions: 32,
            ladder: 8,
            starts: 4,
            use_gradient: true,
            iterations: 30,
            probes: 64,
            probe_radius: 0.01,
        }
    }
}

impl DecisionConfig {
    /// Checks the configuration: at least one scale and one start, at least two probes, a probe radius in
    /// (0, 1].
    pub fn check(&self) -> Result<()> {
        if self.ladder == 0 || self.starts == 0 {
            return Err(Error::config("decision attack", "needs at least one scale per ray and one start"));
        }
        if self.probes < 2 {
            return Err(Error::config("decision probes", "needs at least two probes"));
        }
        if !(self.probe_radius > 0.0 && self.probe_radius <= 1.0) {
            return Err(Error::config(
                "decision probe radius",
                format!("{} is not in (0, 1]", self.probe_radius),
            ));
        }
        Ok(())
    }
}

/// What [`decision`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionOutcome {
    /// The confirmed example, or `None`.
    pub adversarial: Option<Adversarial>,
    /// Forward passes (label queries) spent, confirmations excluded.
    pub queries: usize,
}

/// A label oracle that counts its queries.
struct Oracle<'s, 't> {
    target: &'s Target<'t>,
    sample: &'s Sample<'s>,
    queries: usize,
}

impl Oracle<'_, '_> {
    fn adversarial(&mut self, y: &[f64]) -> Result<bool> {
        self.queries += 1;
        self.target.is_adversarial(self.sample, y)
    }

    fn dist(&self, y: &[f64]) -> f64 {
        norm_of(self.target.norm, &y.iter().zip(self.sample.x).map(|(a, b)| a - b).collect::<Vec<_>>())
    }

    /// The closest adversarial point on the paths from x to `a` (bisection; ℓ∞ also on the clip path).
    fn boundary_point(&mut self, a: &[f64]) -> Result<Vec<f64>> {
        let paths: &[Path] = match self.target.norm {
            InputNorm::L2 => &[Path::Segment],
            InputNorm::Linf => &[Path::Segment, Path::Clip],
        };
        let mut best = a.to_vec();
        for &p in paths {
            let (b, q) = self.target.bisect(self.sample, a, p)?;
            self.queries += q;
            if self.dist(&b) < self.dist(&best) {
                best = b;
            }
        }
        Ok(best)
    }

    /// The first adversarial point x + s·v on the ladder of scales, smallest first.
    fn ray(&mut self, v: &[f64], reach: f64, ladder: usize) -> Result<Option<Vec<f64>>> {
        for k in (0..ladder).rev() {
            let mut y = step(self.sample.x, reach * 0.5f64.powi(k as i32), v);
            clip_domain(&mut y, self.target.domain);
            if self.adversarial(&y)? {
                return Ok(Some(y));
            }
        }
        Ok(None)
    }
}

/// The diameter of the domain in the norm, or a large multiple of x's scale when the domain is unbounded.
fn reach(target: &Target, x: &[f64]) -> f64 {
    let (lo, hi) = target.domain;
    let width: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| h - l).collect();
    let d = norm_of(target.norm, &width);
    if d.is_finite() && d > 0.0 { d } else { 1e3 * (1.0 + norm_of(InputNorm::Linf, x)) }
}

/// The decision-based attack (module documentation): a confirmed example in the domain, or `None`, and the
/// queries spent. Works for every function; for `surrogate` and `latent` the gradient ray is the true one.
///
/// Errors: a bad target, sample or configuration.
pub fn decision(target: &Target, sample: &Sample, config: &DecisionConfig) -> Result<DecisionOutcome> {
    target.check(sample)?;
    config.check()?;
    let x = sample.x;
    let n = x.len();
    let mut o = Oracle { target, sample, queries: 0 };
    let reach = reach(target, x);
    // 1. Starts.
    let mut rays = Vec::new();
    if config.use_gradient
        && let Some(d) = direction(target.norm, &target.loss_and_grad(x, sample.label, Loss::Margin)?.grad)
    {
        rays.push(d);
    }
    let mut rng = target.rng(sample, AttackKind::Decision, 0);
    rays.extend((0..config.directions).map(|_| random_direction(&mut rng, target.norm, n)));
    let mut starts = Vec::new();
    for v in &rays {
        if starts.len() == config.starts {
            break;
        }
        if let Some(a) = o.ray(v, reach / norm_of(target.norm, v), config.ladder)? {
            starts.push(a);
        }
    }
    // 2. To the boundary; `trail` holds (boundary point, the point it was bisected from), closest last.
    let mut trail: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    for a in starts {
        let b = o.boundary_point(&a)?;
        if trail.last().is_none_or(|(c, _)| o.dist(&b) < o.dist(c)) {
            trail.push((b, a));
        }
    }
    let Some((mut b, _)) = trail.last().cloned() else {
        return Ok(DecisionOutcome { adversarial: None, queries: o.queries });
    };
    // 3. Refinement.
    for k in 1..=config.iterations {
        let d = o.dist(&b);
        if d == 0.0 {
            break;
        }
        let mut rng = target.rng(sample, AttackKind::Decision, k as u64);
        let Some(v) = estimate_normal(&mut o, &mut rng, &b, config.probe_radius * d, config.probes)? else {
            break;
        };
        let mut xi = d / (k as f64).sqrt();
        let mut moved = None;
        for _ in 0..20 {
            let mut c = step(&b, xi, &v);
            clip_domain(&mut c, target.domain);
            if o.adversarial(&c)? {
                moved = Some(c);
                break;
            }
            xi /= 2.0;
        }
        let Some(c) = moved else { continue };
        let nb = o.boundary_point(&c)?;
        if o.dist(&nb) <= d {
            b = nb.clone();
            trail.push((nb, c));
        }
    }
    // 4. Confirmation, closest first.
    for (b, a) in trail.iter().rev() {
        if let Some(adv) = target.confirm_towards(sample, b, a, AttackKind::Decision)? {
            return Ok(DecisionOutcome { adversarial: Some(adv), queries: o.queries });
        }
    }
    Ok(DecisionOutcome { adversarial: None, queries: o.queries })
}

/// The unit ascent direction of the adversarial indicator at b estimated from `probes` random probes at radius
/// `delta` (ℓ2: ĝ/‖ĝ‖₂, ℓ∞: sign(ĝ)); `None` when the estimate is zero.
fn estimate_normal(
    o: &mut Oracle,
    rng: &mut impl Rng,
    b: &[f64],
    delta: f64,
    probes: usize,
) -> Result<Option<Vec<f64>>> {
    let n = b.len();
    let mut us = Vec::with_capacity(probes);
    let mut phi = Vec::with_capacity(probes);
    for _ in 0..probes {
        let u = random_direction(rng, InputNorm::L2, n);
        let mut q = step(b, delta, &u);
        clip_domain(&mut q, o.target.domain);
        phi.push(if o.adversarial(&q)? { 1.0 } else { -1.0 });
        us.push(u);
    }
    let mean = phi.iter().sum::<f64>() / probes as f64;
    let (base, denom) = if mean.abs() == 1.0 { (0.0, probes as f64) } else { (mean, (probes - 1) as f64) };
    let mut g = vec![0.0; n];
    for (u, p) in us.iter().zip(&phi) {
        let w = (p - base) / denom;
        g.iter_mut().zip(u).for_each(|(gi, ui)| *gi += w * ui);
    }
    Ok(direction(o.target.norm, &g))
}
