//! Minimal-perturbation search: the smallest confirmed adversarial example found for one sample, function and
//! norm; its distance is the sample's empirical radius (theorem M2, `proofs/attack.md`).
//!
//! 1. **Successes.** The clean input itself when it is already misclassified (radius 0); the caller's
//!    examples (each confirmed again for this target); PGD at `eps_max`; the decision-based attack.
//! 2. **Shrink** each to the boundary along the segment from x (and for ℓ∞ the clip path) with forward passes
//!    only ([`Target::shrink`]); keep the closest, at distance hi.
//! 3. **Bisection on ε** with fixed-budget PGD (corruptions-and-attacks.md §6.3): lo = `lower` (e.g. the
//!    certified radius, or 0). While rounds remain and hi − lo > `tolerance`: mid = (lo + hi)/2; PGD at ε = mid,
//!    its first run started from the best point scaled towards x onto the mid-sphere. A success is shrunk and
//!    sets hi = its distance ≤ mid; a failure sets lo = mid. Success is not monotone in ε, so the closest
//!    example ever confirmed is kept.
//!
//! The empirical radius is the best example's distance, rounded up; none found ⇒ +∞. The final `lo` is only
//! where the search stopped looking, not a bound: PGD failing proves nothing.

use serde::{Deserialize, Serialize};

use super::decision::{DecisionConfig, decision};
use super::pgd::{PgdConfig, Start, pgd, pgd_salted};
use super::{Adversarial, AttackKind, Sample, SweepPoint, Target, closer};
use crate::error::{Error, Result};

/// The options of [`minimal`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinimalConfig {
    /// The fixed budget of PGD in the bisection (its `start` applies to the run at `eps_max`; the rounds start
    /// from the best point).
    pub pgd: PgdConfig,
    /// A PGD run at this budget seeds the search (none: only the caller's examples and the decision attack).
    pub eps_max: Option<f64>,
    /// The decision-based attack seeds the search too, when given.
    pub decision: Option<DecisionConfig>,
    /// The lower end of the bisection (a certified radius, or 0).
    pub lower: f64,
    /// Bisection rounds at most.
    pub rounds: usize,
    /// Stop when hi − lo ≤ tolerance.
    pub tolerance: f64,
}

impl Default for MinimalConfig {
    /// PGD as [`PgdConfig::default`] with 2 targeted runs, no `eps_max`, the default decision attack, lower 0,
    /// 12 rounds, tolerance 10⁻³.
    fn default() -> Self {
        MinimalConfig {
            pgd: PgdConfig { targeted: 2, ..PgdConfig::default() },
            eps_max: None,
            decision: Some(DecisionConfig::default()),
            lower: 0.0,
            rounds: 12,
            tolerance: 1e-3,
        }
    }
}

/// What [`minimal`] returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinimalOutcome {
    /// The closest confirmed example, or `None`.
    pub best: Option<Adversarial>,
    /// The empirical radius: the best example's distance (rounded up), +∞ when none was found.
    pub radius: f64,
    /// Where the bisection stopped: the last budget at which PGD failed (not a bound) and the radius.
    pub bracket: (f64, f64),
    /// The bisection rounds: each budget tried and what PGD found there.
    pub rounds: Vec<SweepPoint>,
}

impl MinimalConfig {
    fn check(&self, inputs: usize) -> Result<()> {
        self.pgd.check(inputs)?;
        if let Some(d) = &self.decision {
            d.check()?;
        }
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.lower) || !ok(self.tolerance) || self.eps_max.is_some_and(|e| !ok(e)) {
            return Err(Error::config(
                "minimal search",
                format!(
                    "lower {}, tolerance {} and eps_max {:?} must be finite and at least 0",
                    self.lower, self.tolerance, self.eps_max
                ),
            ));
        }
        Ok(())
    }
}

/// The minimal-perturbation search (module documentation). `initial` are examples found earlier for this
/// sample (any attack, any ε): each is confirmed again here, so the radius is never above the distance of any
/// of them that is a confirmed example for this target.
///
/// Errors: a bad target, sample or configuration.
///
/// Theorem M2 (proofs/attack.md); checked by tests/attack.rs::minimal_radius_is_never_above_a_single_attack and
/// tests/attack.rs::minimal_search_finds_the_closed_form_radius_of_affine_classifiers.
pub fn minimal(
    target: &Target,
    sample: &Sample,
    config: &MinimalConfig,
    initial: &[Adversarial],
) -> Result<MinimalOutcome> {
    target.check(sample)?;
    config.check(target.net.input_len())?;
    for a in initial {
        if a.point.len() != sample.x.len() {
            return Err(Error::Shape {
                context: "initial adversarial example".into(),
                expected: vec![sample.x.len()],
                found: vec![a.point.len()],
            });
        }
    }
    let mut rounds = Vec::new();
    if let Some(a) = target.confirm(sample, sample.x.to_vec(), AttackKind::Minimal)? {
        return Ok(MinimalOutcome { best: Some(a), radius: 0.0, bracket: (0.0, 0.0), rounds });
    }
    // 1–2. Successes, shrunk.
    let mut found = Vec::new();
    for a in initial {
        found.extend(target.confirm(sample, a.point.clone(), a.attack)?);
    }
    if let Some(eps) = config.eps_max {
        found.extend(pgd(target, sample, eps, &config.pgd)?.adversarial);
    }
    if let Some(d) = &config.decision {
        found.extend(decision(target, sample, d)?.adversarial);
    }
    let mut best: Option<Adversarial> = None;
    for a in found {
        best = closer(best, Some(target.shrink(sample, a)?));
    }
    let Some(mut best) = best else {
        return Ok(MinimalOutcome {
            best: None,
            radius: f64::INFINITY,
            bracket: (config.lower, f64::INFINITY),
            rounds,
        });
    };
    // 3. Bisection on ε.
    let mut lo = config.lower;
    for round in 0..config.rounds {
        let hi = best.distance;
        if hi - lo <= config.tolerance || lo >= hi {
            break;
        }
        let mid = lo + (hi - lo) / 2.0;
        let from = super::ball::along(sample.x, &best.point, mid / hi);
        let pgd_config = PgdConfig { start: Start::Point(from), ..config.pgd.clone() };
        let out = pgd_salted(target, sample, mid, &pgd_config, round as u64 + 1)?;
        match out.adversarial {
            Some(a) => {
                rounds.push(SweepPoint { eps: mid, adversarial: Some(a.clone()) });
                best = closer(Some(best), Some(target.shrink(sample, a)?)).expect("best is kept");
            }
            None => {
                rounds.push(SweepPoint { eps: mid, adversarial: None });
                lo = mid;
            }
        }
    }
    let radius = best.distance;
    Ok(MinimalOutcome { best: Some(best), radius, bracket: (lo, radius), rounds })
}
