//! The fast gradient sign method and its ℓ2 form: one gradient step of full length ε.
//!
//! ℓ∞ (FGSM, Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015):
//! x′ = Π(x + ε·sign(∇ₓL)). ℓ2 (the fast gradient method): x′ = Π(x + ε·∇ₓL/‖∇ₓL‖₂). L is the margin loss
//! ([`super::loss`]), Π the projection onto ball ∩ domain ([`super::project`]); for the deployed function
//! the gradient is the BPDA direction. A zero gradient leaves the attack without a direction: it fails.

use super::ball::{direction, project, step};
use super::loss::{Loss, is_adversarial};
use super::{Adversarial, AttackKind, Sample, Target};
use crate::error::Result;

impl Target<'_> {
    /// The one-step point x′ = Π(x + ε·d(∇ₓL)) for the given loss, or `None` when the gradient is zero.
    pub fn fgsm_point(&self, sample: &Sample, eps: f64, loss: Loss) -> Result<Option<Vec<f64>>> {
        let g = self.loss_and_grad(sample.x, sample.label, loss)?;
        Ok(direction(self.norm, &g.grad)
            .map(|d| project(self.norm, sample.x, &step(sample.x, eps, &d), eps, self.domain)))
    }
}

/// FGSM (ℓ∞) or FGM (ℓ2) with the untargeted margin loss at budget `eps`: the confirmed example at the
/// one-step point, or `None`. Every returned example lies in the domain at distance ≤ ε (rounded up).
///
/// Errors: a bad target or sample ([`Target::check`]) or a bad budget.
pub fn fgsm(target: &Target, sample: &Sample, eps: f64) -> Result<Option<Adversarial>> {
    target.check(sample)?;
    target.check_eps(eps)?;
    let Some(y) = target.fgsm_point(sample, eps, Loss::Margin)? else { return Ok(None) };
    if !is_adversarial(&target.logits(&y)?, sample.label) {
        return Ok(None);
    }
    target.confirm(sample, y, AttackKind::Fgsm)
}
