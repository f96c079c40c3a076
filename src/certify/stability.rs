//! Sign stability of the deployed net (theorem V3, `proofs/certify.md`).
//!
//! With f = g ∘ sign ∘ z (the input reaches the output only through the first sign, [`super::first_sign`]) and
//! certified per-unit constants |z_u(y) − z_u(x)| ≤ L_u‖y − x‖, unit u keeps its sign for ‖y − x‖ < τ_u with
//! τ_u = |z_u(x)|_lower / L_u (rounded down; 0 when the enclosure of z_u(x) contains 0, +∞ when L_u = 0). Below
//! min_u τ_u the sign pattern, hence the output, is that of x, so the radius is min_u τ_u when the point
//! enclosure proves the prediction t, else 0.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::prefix::{FirstSign, locate, unit_lipschitz};
use super::{Applicable, check_batch};
use crate::error::Result;
use crate::float::dn;
use crate::ir::{BoxBatch, Function, InputNorm, Net, Verdict, verdict};

/// The sign-stability radius of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StabilityRadius {
    /// The certified radius (0 when the prediction is not proven to be the label).
    pub radius: f64,
    /// The unit of the first sign layer with the smallest threshold (none when the radius is 0 for lack of a
    /// proven prediction, or the layer has no units).
    pub unit: Option<usize>,
}

/// Everything the deployed certificates share: thresholds per unit and the point verdicts.
pub(crate) struct Thresholds {
    /// The first sign layer.
    pub first: FirstSign,
    /// Enclosure of the first sign's input at every sample.
    pub z: BoxBatch,
    /// τ_u per unit (rows) and sample (columns).
    pub tau: DMatrix<f64>,
    /// Whether the point enclosure proves the label.
    pub keeps: Vec<bool>,
    /// The labels.
    pub labels: Vec<usize>,
}

/// τ_u = |z|_lower / L_u rounded down: 0 if [lo, hi] contains 0, +∞ if L_u = 0 (z_u is constant).
fn threshold(lo: f64, hi: f64, lip: f64) -> f64 {
    let mag = if lo > 0.0 {
        lo
    } else if hi < 0.0 {
        -hi
    } else {
        0.0
    };
    if lip == 0.0 { f64::INFINITY } else { dn(mag / lip).max(0.0) }
}

/// Thresholds and point verdicts of a batch (the net must pass [`first_sign`]).
pub(crate) fn thresholds(
    net: &Net,
    first: FirstSign,
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
) -> Result<Thresholds> {
    let lip = unit_lipschitz(net, &first, norm)?;
    let f = Function::Deployed;
    let z = net.enclose_layers(0..first.at, BoxBatch::points(x.clone(), net.input_shape.clone()), f)?;
    let logits = net.enclose_layers(first.at..net.layers.len(), z.clone(), f)?;
    let keeps = labels.iter().enumerate().map(|(k, &t)| verdict(&logits, k, t) == Verdict::Keeps).collect();
    let tau = DMatrix::from_fn(lip.len(), x.ncols(), |u, k| threshold(z.lo[(u, k)], z.hi[(u, k)], lip[u]));
    Ok(Thresholds { first, z, tau, keeps, labels: labels.to_vec() })
}

/// The sign-stability radius of every sample (columns of `x`, labels `labels`) in `norm`.
///
/// r(x) = min_u τ_u if the point enclosure proves t, else 0; the certificate covers all of ℝⁿ. Declines nets
/// whose input can reach the output other than through the first top-level sign (e.g. a ResNet whose first
/// sign sits inside a residual block).
///
/// Theorem V3 (proofs/certify.md); checked by tests/certify.rs::stability_is_sound_by_sampling.
pub fn sign_stability(
    net: &Net,
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
) -> Result<Applicable<Vec<StabilityRadius>>> {
    check_batch(net, x, labels)?;
    let first = match locate(net, "sign stability")? {
        Ok(f) => f,
        Err(na) => return Ok(Err(na)),
    };
    let th = thresholds(net, first, x, labels, norm)?;
    Ok(Ok(stability_radii(&th)))
}

/// min_u τ_u per sample where the prediction is proven, else 0.
pub(crate) fn stability_radii(th: &Thresholds) -> Vec<StabilityRadius> {
    (0..th.tau.ncols())
        .map(|k| {
            if !th.keeps[k] {
                return StabilityRadius { radius: 0.0, unit: None };
            }
            let col = th.tau.column(k);
            let unit = (0..col.len()).min_by(|&a, &b| col[a].total_cmp(&col[b]));
            StabilityRadius { radius: unit.map_or(f64::INFINITY, |u| col[u]), unit }
        })
        .collect()
}
