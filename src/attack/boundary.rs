//! Label-only line searches towards the clean input: from an adversarial point a, the point closest to x on a
//! path from x to a that is still adversarial, found by bisection with forward passes only.
//!
//! Two paths, both inside every box holding x and a (so inside the domain):
//! * the segment p(λ) = x + λ(a − x), λ ∈ [0, 1], whose distance to x is λ‖a − x‖ in any norm;
//! * for ℓ∞, the clip path q(α) = clip(a, x − α, x + α), α ∈ [0, ‖a − x‖∞], with ‖q(α) − x‖∞ ≤ α: the ℓ∞
//!   projection of a onto the smaller ball, as in HopSkipJump's ℓ∞ variant (Chen, Jordan & Wainwright,
//!   "HopSkipJumpAttack: A Query-Efficient Decision-Based Attack", IEEE S&P 2020).
//!
//! The bisection keeps the adversarial end (as judged by the floating-point forward pass); the result is then
//! confirmed ([`Target::confirm_towards`]), which steps back towards a when the found point is within rounding
//! of the boundary.

use super::ball::along;
use super::loss::is_adversarial;
use super::{Adversarial, Sample, Target, closer};
use crate::error::Result;
use crate::ir::InputNorm;

/// Bisection steps on a path: the bracket shrinks to 2⁻³⁰ of its length (far below the minimal search's tolerance).
const BISECTION_STEPS: usize = 30;

/// A path from x (parameter 0) to a (parameter 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The segment x + λ(a − x).
    Segment,
    /// clip(a, x − λ‖a − x‖∞, x + λ‖a − x‖∞).
    Clip,
}

impl Path {
    /// The point at parameter `lam` ∈ [0, 1].
    pub fn at(self, x: &[f64], a: &[f64], lam: f64) -> Vec<f64> {
        match self {
            Path::Segment => along(x, a, lam),
            Path::Clip => {
                let r = lam
                    * super::ball::norm_of(
                        InputNorm::Linf,
                        &x.iter().zip(a).map(|(p, q)| q - p).collect::<Vec<_>>(),
                    );
                x.iter().zip(a).map(|(&c, &v)| v.clamp(c - r, c + r).clamp(c.min(v), c.max(v))).collect()
            }
        }
    }
}

impl Target<'_> {
    /// Whether the floating-point forward pass at `y` loses the sample's label (forward pass only).
    /// Errors: a label out of range, a wrong-length or non-finite point.
    pub fn is_adversarial(&self, sample: &Sample, y: &[f64]) -> Result<bool> {
        if sample.label >= self.net.classes {
            return Err(crate::Error::config(
                "label",
                format!("label {} of {} classes", sample.label, self.net.classes),
            ));
        }
        Ok(is_adversarial(&self.logits(y)?, sample.label))
    }

    /// The adversarial point closest to x found by bisection on `path` from x to `a` (which must be
    /// adversarial in floating point; a itself is returned otherwise), and the forward passes spent (at most
    /// 31).
    pub fn bisect(&self, sample: &Sample, a: &[f64], path: Path) -> Result<(Vec<f64>, usize)> {
        let x = sample.x;
        let mut queries = 1;
        if !self.is_adversarial(sample, a)? {
            return Ok((a.to_vec(), queries));
        }
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        let mut best = a.to_vec();
        for _ in 0..BISECTION_STEPS {
            let mid = lo + (hi - lo) / 2.0;
            if mid <= lo || mid >= hi {
                break;
            }
            let p = path.at(x, a, mid);
            queries += 1;
            if self.is_adversarial(sample, &p)? {
                hi = mid;
                best = p;
            } else {
                lo = mid;
            }
        }
        Ok((best, queries))
    }

    /// Shrinks a confirmed example towards x: bisection on the segment (and, for ℓ∞, on the clip path), each
    /// result confirmed with a step back towards the example; returns the closest confirmed of these and the
    /// example itself (never a farther one). Forward passes and a few enclosures only.
    pub fn shrink(&self, sample: &Sample, adv: Adversarial) -> Result<Adversarial> {
        let paths: &[Path] = match self.norm {
            InputNorm::L2 => &[Path::Segment],
            InputNorm::Linf => &[Path::Segment, Path::Clip],
        };
        let mut best = adv;
        for &path in paths {
            let (near, _) = self.bisect(sample, &best.point, path)?;
            if near == best.point {
                continue;
            }
            let found = self.confirm_towards(sample, &near, &best.point, best.attack)?;
            best = closer(Some(best), found).expect("best is kept");
        }
        Ok(best)
    }
}
