//! Confirmation: the only way a point becomes an [`Adversarial`] example (theorem M1, `proofs/attack.md`).
//!
//! A candidate y is confirmed for sample (x, t) when
//! 1. y lies in the target's domain (exact comparisons), and
//! 2. the outward-rounded enclosure of the *exact* function at y ([`crate::ir::Net::enclose_points`], theorem
//!    V1) proves some class j ≠ t has logit_j(y) ≥ logit_t(y) ([`crate::ir::verdict`] is
//!    [`Verdict::Loses`]).
//!
//! Its distance is ‖y − x‖ rounded up ([`InputNorm::dist_up`]; exactly 0 for y = x). Then the exact minimal
//! adversarial perturbation within the domain satisfies r*(x) ≤ distance, and so does every sound certified
//! radius. A floating-point forward pass that merely reports a changed label is not enough: a point within
//! rounding of the decision boundary is not an adversarial example, and is discarded.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::{Sample, Target};
use crate::error::Result;
use crate::ir::{InputNorm, Verdict, verdict};

/// The attack that produced an example (also a component of the random streams, [`Target::rng`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// Fast gradient sign / fast gradient method ([`super::fgsm()`]).
    Fgsm = 1,
    /// Projected gradient descent ([`super::pgd()`]).
    Pgd = 2,
    /// The label-only decision-based attack ([`super::decision()`]).
    Decision = 3,
    /// The random-noise baseline ([`super::noise()`]).
    Noise = 4,
    /// The minimal-perturbation search ([`super::minimal()`]): the clean input itself, when it is already misclassified.
    Minimal = 5,
}

impl AttackKind {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::Decision => "decision",
            AttackKind::Noise => "noise",
            AttackKind::Minimal => "minimal",
        }
    }
}

/// A confirmed adversarial example (theorem M1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adversarial {
    /// The point y, inside the domain.
    pub point: Vec<f64>,
    /// ‖y − x‖ in the target's norm, rounded up (0 only for y = x): an upper bound on r*(x).
    pub distance: f64,
    /// The attack that found it.
    pub attack: AttackKind,
    /// A class j ≠ t proven to have logit_j(y) ≥ logit_t(y) for the exact function.
    pub class: usize,
}

/// ‖y − x‖ rounded up, and exactly 0 when y = x.
pub fn distance(norm: InputNorm, x: &[f64], y: &[f64]) -> f64 {
    if x == y { 0.0 } else { norm.dist_up(x, y) }
}

impl Target<'_> {
    /// The confirmed example at `point`, or `None` when the point is outside the domain or the enclosure does
    /// not prove the label lost. Errors: a wrong-length or non-finite point.
    ///
    /// Theorem M1 (proofs/attack.md); checked by tests/attack.rs::every_returned_example_is_confirmed.
    pub fn confirm(
        &self,
        sample: &Sample,
        point: Vec<f64>,
        attack: AttackKind,
    ) -> Result<Option<Adversarial>> {
        let t = sample.label;
        let x = DMatrix::from_column_slice(point.len(), 1, &point);
        let b = self.net.enclose_points(&x, self.function)?;
        self.check_outputs(b.lo.nrows())?;
        if !self.contains(&point) || verdict(&b, 0, t) != Verdict::Loses {
            return Ok(None);
        }
        let class = (0..self.net.classes)
            .find(|&j| j != t && b.lo[(j, 0)] >= b.hi[(t, 0)])
            .expect("a Loses verdict names a class");
        let distance = distance(self.norm, sample.x, &point);
        Ok(Some(Adversarial { point, distance, attack, class }))
    }

    /// Confirms `near`, or else the first confirmed point of near + f·(far − near) for f = 4⁻¹⁵, 4⁻¹⁴, …, 1
    /// (each coordinate kept between near's and far's, so the points stay in the domain when both ends are in
    /// it): a point found a hair's breadth past the decision boundary is moved just far enough into the
    /// adversarial region for the enclosure to decide.
    pub fn confirm_towards(
        &self,
        sample: &Sample,
        near: &[f64],
        far: &[f64],
        attack: AttackKind,
    ) -> Result<Option<Adversarial>> {
        if let Some(a) = self.confirm(sample, near.to_vec(), attack)? {
            return Ok(Some(a));
        }
        if near == far {
            return Ok(None);
        }
        for k in (0..=15).rev() {
            let f = 0.25f64.powi(k);
            let p = super::ball::along(near, far, f);
            if let Some(a) = self.confirm(sample, p, attack)? {
                return Ok(Some(a));
            }
        }
        Ok(None)
    }
}

/// Keeps the closer of two optional examples (the first on ties).
pub fn closer(a: Option<Adversarial>, b: Option<Adversarial>) -> Option<Adversarial> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.distance < a.distance { b } else { a }),
        (a, b) => a.or(b),
    }
}
