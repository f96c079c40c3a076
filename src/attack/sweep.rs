//! ε sweeps: one fixed-budget attack run at each budget of a list, and success rates over samples.

use serde::{Deserialize, Serialize};

use super::Adversarial;
use crate::error::Result;

/// The result of one attack at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The budget ε.
    pub eps: f64,
    /// The confirmed example found within ε, or `None`.
    pub adversarial: Option<Adversarial>,
}

impl SweepPoint {
    /// Whether the attack succeeded at this budget.
    pub fn success(&self) -> bool {
        self.adversarial.is_some()
    }
}

/// Runs `attack` at each budget of `eps` (in the given order) and records what it found.
///
/// Errors: the first error of the attack.
pub fn sweep(
    eps: &[f64],
    mut attack: impl FnMut(f64) -> Result<Option<Adversarial>>,
) -> Result<Vec<SweepPoint>> {
    eps.iter().map(|&e| Ok(SweepPoint { eps: e, adversarial: attack(e)? })).collect()
}

/// The fraction of samples with a success at budget index `k`, given one sweep per sample over the same
/// budgets (0 for no samples).
pub fn success_rate(sweeps: &[Vec<SweepPoint>], k: usize) -> f64 {
    if sweeps.is_empty() {
        return 0.0;
    }
    sweeps.iter().filter(|s| s.get(k).is_some_and(SweepPoint::success)).count() as f64 / sweeps.len() as f64
}
