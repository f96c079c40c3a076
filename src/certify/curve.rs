//! Certified accuracy curves: CA(ε) = the fraction of samples whose certified radius exceeds ε.
//!
//! Radii live in the normalised input space x = (p/255 − mean)/std. A normalised radius r covers every
//! pixel-scale (p/255) perturbation of norm below r·min_std ([`crate::data::Normalization::min_std`]),
//! so a grid in pixel units is compared against dn(r·min_std); pass `min_std = 1` for a grid in normalised units.
//! A misclassified sample has radius 0 and never counts, so CA(0) is the fraction proven correct.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::float::dn;
use crate::ir::InputNorm;

/// One point of a certified accuracy curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The perturbation size, in the grid's units.
    pub eps: f64,
    /// The fraction of samples certified beyond it.
    pub accuracy: f64,
}

/// CA(ε) for every ε of `grid`: the fraction of `radii` with dn(r·min_std) > ε. An empty set of radii gives
/// accuracy 0.
pub fn certified_accuracy(radii: &[f64], grid: &[f64], min_std: f64) -> Result<Vec<CurvePoint>> {
    if !(min_std.is_finite() && min_std > 0.0) {
        return Err(Error::config("certified accuracy min_std", "must be finite and > 0"));
    }
    if let Some(r) = radii.iter().find(|r| r.is_nan() || **r < 0.0) {
        return Err(Error::config("certified accuracy radii", format!("radius {r} is not ≥ 0")));
    }
    if let Some(e) = grid.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
        return Err(Error::config("certified accuracy grid", format!("ε = {e} is not finite and ≥ 0")));
    }
    let scaled: Vec<f64> = radii.iter().map(|&r| if min_std == 1.0 { r } else { dn(r * min_std) }).collect();
    let n = radii.len().max(1) as f64;
    Ok(grid
        .iter()
        .map(|&eps| CurvePoint { eps, accuracy: scaled.iter().filter(|&&r| r > eps).count() as f64 / n })
        .collect())
}

/// A default grid in pixel units (p/255): ℓ2 from 0 to 2 in steps of 0.1 (MNIST's usual 0.3 and 1.58 lie
/// inside), ℓ∞ from 0 to 0.3 in steps of 0.01 (0.1 and 0.3 included).
pub fn default_grid(norm: InputNorm) -> Vec<f64> {
    match norm {
        InputNorm::L2 => (0..=20).map(|i| i as f64 / 10.0).collect(),
        InputNorm::Linf => (0..=30).map(|i| i as f64 / 100.0).collect(),
    }
}
