//! The random-noise baseline: perturbations of norm ε in uniformly random directions.
//!
//! δ = ε·v with v uniform on the unit sphere of the norm ([`super::random_direction`]: a normalised
//! Gaussian for ℓ2, a uniform point of the cube scaled to ‖v‖∞ = 1 for ℓ∞), then projected into the domain.
//! An attack that does not beat this baseline at every ε is not searching (Carlini et al., "On Evaluating
//! Adversarial Robustness", 2019, checklist).

use super::ball::{project, random_direction, step};
use super::loss::is_adversarial;
use super::{Adversarial, AttackKind, Sample, Target};
use crate::error::Result;

/// Tries `draws` random perturbations of norm `eps` and returns the first confirmed example, or `None`.
/// Draw k uses the stream [`Target::rng`] with salt k, so a larger number of draws repeats the smaller's first.
///
/// Errors: a bad target, sample or budget.
pub fn noise(target: &Target, sample: &Sample, eps: f64, draws: usize) -> Result<Option<Adversarial>> {
    target.check(sample)?;
    target.check_eps(eps)?;
    let x = sample.x;
    for k in 0..draws {
        let mut rng = target.rng(sample, AttackKind::Noise, k as u64);
        let v = random_direction(&mut rng, target.norm, x.len());
        let y = project(target.norm, x, &step(x, eps, &v), eps, target.domain);
        if is_adversarial(&target.logits(&y)?, sample.label)
            && let Some(a) = target.confirm(sample, y, AttackKind::Noise)?
        {
            return Ok(Some(a));
        }
    }
    Ok(None)
}
