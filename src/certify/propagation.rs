//! Bound propagation through the sign layers of the deployed net (theorem V4, `proofs/certify.md`).
//!
//! Interval propagation (theorem V1) through `Sign`: a unit whose interval excludes 0 keeps its sign, one that
//! may flip gives [−1, 1]; a ball is certified when the enclosure of its logits proves t.
//!
//! * **Threshold form** (nets where sign stability applies, [`super::sign_stability`]): with the thresholds τ_u
//!   sorted, τ_(1) ≤ τ_(2) ≤ ⋯, no unit outside the k smallest can flip for ‖y − x‖ < τ_(k+1). An enclosure with
//!   those k units free ([−1, 1]), every other unit at its sign at x, and the layers after the first sign
//!   ([`crate::ir::Net::enclose_layers`]) that proves t certifies the radius τ_(k+1) (+∞ for k = all units).
//!   Each k is its own proof, so a binary search over k (batched: every column has its own free set) needs no
//!   monotonicity; k = 0 is the sign-stability radius, so this form is never below it.
//! * **ε form** (any net, e.g. a ResNet): bisection on ε with [`crate::ir::Net::enclose`] over the closed ball
//!   of radius ε (intersected with the domain when one is given); every ε whose enclosure proves t certifies.
//!   On nets with the threshold form it runs only when a domain is given, starting from the threshold radius.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::bisect::{Bisection, bisect};
use super::prefix::locate;
use super::stability::{Thresholds, stability_radii, thresholds};
use super::{Coverage, check_batch, check_domain};
use crate::error::{Error, Result};
use crate::ir::{BoxBatch, Function, InputNorm, Net, Perturbation, Verdict, sign, verdict};

/// Options of [`bound_propagation`].
#[derive(Clone, Debug, PartialEq)]
pub struct PropagationOptions {
    /// Per-coordinate bounds every input satisfies (e.g. the valid pixel box from
    /// [`crate::data::Normalization::input_box`]); with it the ε form certifies domain inputs only.
    pub domain: Option<(Vec<f64>, Vec<f64>)>,
    /// Rounds of the ε bisection (one batched enclosure each).
    pub rounds: usize,
    /// The ε bisection stops a sample when its bracket is this narrow, relative to its upper end.
    pub rel_tol: f64,
    /// The first ε tried while nothing is certified (normalised units); `None`: 0.25 for ℓ2, 0.01 for ℓ∞.
    pub start: Option<f64>,
}

impl Default for PropagationOptions {
    fn default() -> Self {
        PropagationOptions { domain: None, rounds: 16, rel_tol: 1e-3, start: None }
    }
}

/// Which form of theorem V4 gave a radius.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PropagationForm {
    /// The threshold form with this many units of the first sign layer free.
    Thresholds {
        /// The number of free units.
        free: usize,
    },
    /// The ε bisection over balls.
    Bisection,
}

/// The bound-propagation radius of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropagationRadius {
    /// The certified radius (0 when the prediction is not proven; +∞ when every sign pattern proves t).
    pub radius: f64,
    /// The form that gave it.
    pub form: PropagationForm,
    /// Which inputs it covers (`Domain` only when the ε form with a domain gave the radius).
    pub coverage: Coverage,
    /// The sign-stability radius computed on the way (theorem V3), when that theorem applies.
    pub stability: Option<f64>,
}

/// The bound-propagation radius of every sample (columns of `x`, labels `labels`) in `norm`.
///
/// Theorem V4 (proofs/certify.md); checked by tests/certify.rs::propagation_dominates_stability_and_is_sound
/// and tests/certify.rs::resnet_is_declined_and_propagation_is_sound.
pub fn bound_propagation(
    net: &Net,
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
    opts: &PropagationOptions,
) -> Result<Vec<PropagationRadius>> {
    check_batch(net, x, labels)?;
    check_domain(opts.domain.as_ref(), x)?;
    if opts.start.is_some_and(|s| !(s.is_finite() && s > 0.0)) || opts.rel_tol.is_nan() || opts.rel_tol < 0.0
    {
        return Err(Error::config("bound propagation", "start must be finite and > 0, rel_tol ≥ 0"));
    }
    let n = x.ncols();
    let (good, form, stability) = match locate(net, "bound propagation")? {
        Ok(first) => {
            let th = thresholds(net, first, x, labels, norm)?;
            let stab: Vec<f64> = stability_radii(&th).iter().map(|s| s.radius).collect();
            let (r, free) = threshold_form(net, &th)?;
            let r: Vec<f64> = r.iter().zip(&stab).map(|(a, b)| a.max(*b)).collect();
            if opts.domain.is_none() {
                let out = (0..n).map(|k| PropagationRadius {
                    radius: r[k],
                    form: PropagationForm::Thresholds { free: free[k] },
                    coverage: Coverage::Network,
                    stability: Some(stab[k]),
                });
                return Ok(out.collect());
            }
            let form = free.iter().map(|&f| PropagationForm::Thresholds { free: f }).collect();
            (r, form, stab.into_iter().map(Some).collect())
        }
        Err(_) => (vec![0.0; n], vec![PropagationForm::Bisection; n], vec![None; n]),
    };
    let eps = eps_form(net, x, labels, norm, opts, &good)?;
    Ok((0..n)
        .map(|k| {
            let improved = eps[k] > good[k];
            PropagationRadius {
                radius: eps[k],
                form: if improved { PropagationForm::Bisection } else { form[k] },
                coverage: if improved && opts.domain.is_some() {
                    Coverage::Domain
                } else {
                    Coverage::Network
                },
                stability: stability[k],
            }
        })
        .collect())
}

/// The threshold form: per sample the best radius found and its number of free units (0 where the point
/// enclosure does not prove t, with radius 0).
fn threshold_form(net: &Net, th: &Thresholds) -> Result<(Vec<f64>, Vec<usize>)> {
    let (units, n) = th.tau.shape();
    let order: Vec<Vec<usize>> = (0..n)
        .map(|k| {
            let col = th.tau.column(k);
            let mut o: Vec<usize> = (0..units).collect();
            o.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
            o
        })
        .collect();
    // τ_(k+1) in sorted order; +∞ when all units are free.
    let tau_after = |k: usize, free: usize| order[k].get(free).map_or(f64::INFINITY, |&u| th.tau[(u, k)]);
    let mut radius: Vec<f64> = (0..n).map(|k| if th.keeps[k] { tau_after(k, 0) } else { 0.0 }).collect();
    let mut best_free = vec![0usize; n];
    // Binary search on k: `good` proved (k = 0 is the point itself), `bad` not proved (units + 1: never tried).
    let mut good = vec![0usize; n];
    let mut bad = vec![units + 1; n];
    let zero = net.sign_zero;
    loop {
        let active: Vec<usize> = (0..n).filter(|&k| th.keeps[k] && bad[k] - good[k] > 1).collect();
        if active.is_empty() {
            break;
        }
        let mids: Vec<usize> = active.iter().map(|&k| good[k] + (bad[k] - good[k]) / 2).collect();
        let mut lo = DMatrix::zeros(units, active.len());
        let mut hi = DMatrix::zeros(units, active.len());
        for (c, (&k, &mid)) in active.iter().zip(&mids).enumerate() {
            for u in 0..units {
                lo[(u, c)] = sign(th.z.lo[(u, k)], zero);
                hi[(u, c)] = sign(th.z.hi[(u, k)], zero);
            }
            for &u in &order[k][..mid] {
                lo[(u, c)] = -1.0;
                hi[(u, c)] = 1.0;
            }
        }
        let boxes = BoxBatch { lo, hi, shape: th.first.shape.clone() };
        let logits = net.enclose_layers(th.first.at + 1..net.layers.len(), boxes, Function::Deployed)?;
        for (c, (&k, &mid)) in active.iter().zip(&mids).enumerate() {
            if verdict(&logits, c, th.labels[k]) == Verdict::Keeps {
                good[k] = mid;
                let r = tau_after(k, mid);
                if r > radius[k] {
                    radius[k] = r;
                    best_free[k] = mid;
                }
            } else {
                bad[k] = mid;
            }
        }
    }
    Ok((radius, best_free))
}

/// The ε form: bisection from the certified radii `good` (samples with a proven prediction only).
fn eps_form(
    net: &Net,
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
    opts: &PropagationOptions,
    good: &[f64],
) -> Result<Vec<f64>> {
    let n = x.ncols();
    let logits = net.enclose_points(x, Function::Deployed)?;
    let active: Vec<bool> = (0..n).map(|k| verdict(&logits, k, labels[k]) == Verdict::Keeps).collect();
    let start = opts.start.unwrap_or(match norm {
        InputNorm::L2 => 0.25,
        InputNorm::Linf => 0.01,
    });
    let limits = Bisection { rounds: opts.rounds, rel_tol: opts.rel_tol };
    bisect(good.to_vec(), &active, &vec![start; n], limits, |samples, eps| {
        let cols = DMatrix::from_fn(x.nrows(), samples.len(), |i, c| x[(i, samples[c])]);
        let pert = Perturbation { norm, eps: eps.to_vec(), domain: opts.domain.clone() };
        let logits = net.enclose(&cols, Function::Deployed, Some(&pert))?;
        Ok(samples
            .iter()
            .enumerate()
            .map(|(c, &k)| verdict(&logits, c, labels[k]) == Verdict::Keeps)
            .collect())
    })
}
