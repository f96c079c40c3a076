//! A solver-free ℓ2 bound of the LipSDP family: layer-uniform multipliers chosen in closed form, one layer at
//! a time, in the manner of ECLipsE-Fast (Xu & Sivaranjani, "ECLipsE: Efficient Compositional Lipschitz
//! Constant Estimation for Deep Neural Networks", NeurIPS 2024), then certified by the same check as
//! LipSDP-Neuron (theorems LS1, LS2, LS4, `proofs/lipsdp.md`).
//!
//! With ρ normalised to 1, the Schur complements of the block-tridiagonal S are Y₀ = I and
//! Y_k = 2t_kI − t_k²M_k, M_k = W_kY_{k−1}⁻¹W_kᵀ. The choice t_k = 1/λ_max(M_k) gives Y_k ⪰ t_kI ≻ 0, and the
//! last map needs c = λ_max(W_LY_{K}⁻¹W_Lᵀ): then (ρ, λ) = (c, c·t) makes S ⪰ 0 and L ≤ √c. In exact arithmetic
//! c ≤ Π‖W_k‖₂² (LS4), so the bound is never above the product of the folded layer norms. Each step costs one
//! Cholesky factorisation and one symmetric eigenvalue problem of a hidden layer's width, and the certificate
//! one envelope Cholesky: time linear in depth, no iterative solver. Floating-point values of t and c are only
//! a proposal; the value is √ρ of the multipliers proven feasible.

use std::time::Instant;

use nalgebra::{Cholesky, DMatrix, DVector};
use rayon::prelude::*;
use serde_json::json;

use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
use super::chain::Chain;
use super::lipsdp::{certificate_detail, not_certified};
use super::lipsdp_form::LipForm;
use super::lipsdp_lmi::certify_multipliers;
use crate::error::{Error, Result};
use crate::ir::Function;

/// Options of [`sequential_bound`].
#[derive(Clone, Debug, PartialEq)]
pub struct SequentialOptions {
    /// Largest hidden width (each step factors and eigen-decomposes a matrix of that size).
    pub max_width: usize,
    /// Largest dimension n₀ + N of the certificate's matrix (its envelope Cholesky is the costliest step).
    pub max_dim: usize,
}

impl Default for SequentialOptions {
    fn default() -> Self {
        SequentialOptions { max_width: 4096, max_dim: 20_000 }
    }
}

/// λ_max of a symmetric positive semidefinite matrix (an estimate: the certificate does not depend on it).
fn lambda_max(m: &DMatrix<f64>) -> f64 {
    if m.nrows() <= 1024 {
        return m.clone().symmetric_eigenvalues().iter().copied().fold(0.0, f64::max);
    }
    let mut v = DVector::from_element(m.nrows(), 1.0 / (m.nrows() as f64).sqrt());
    let mut s = 0.0;
    for _ in 0..500 {
        let z = m * &v;
        let nz = z.norm();
        if nz == 0.0 {
            return 0.0;
        }
        s = nz;
        v = z / nz;
    }
    s
}

/// The closed-form multipliers: t_k per hidden layer and the final Y_K⁻¹ (None if a Schur complement was not
/// numerically definite).
fn multipliers(form: &LipForm) -> Option<(Vec<f64>, DMatrix<f64>)> {
    let depth = form.depth();
    let mut y_inv = DMatrix::identity(form.input_dim, form.input_dim);
    let mut ts = Vec::with_capacity(depth - 1);
    for w in &form.weights[..depth - 1] {
        let m = w * &y_inv * w.transpose();
        let lm = lambda_max(&m);
        if !(lm.is_finite() && lm > 0.0) {
            return None;
        }
        let t = 1.0 / lm;
        let y = DMatrix::identity(m.nrows(), m.nrows()) * (2.0 * t) - m * (t * t);
        y_inv = Cholesky::new(y)?.inverse();
        ts.push(t);
    }
    Some((ts, y_inv))
}

/// The closed-form point (ρ, λ) of the form, uncertified (a warm start for the LipSDP-Neuron solver).
pub(crate) fn proposal(form: &LipForm) -> Option<(f64, Vec<f64>)> {
    let (ts, y_inv) = multipliers(form)?;
    let wl = form.weights.last().expect("non-empty");
    let c = lambda_max(&(wl * &y_inv * wl.transpose()));
    let lambda = form.hidden().iter().zip(&ts).flat_map(|(&h, &t)| std::iter::repeat_n(c * t, h)).collect();
    (c.is_finite() && c > 0.0).then_some((c, lambda))
}

/// Certifies the closed-form point for the last map `wl` (the logit map, or one margin row).
fn certified_value(form: &LipForm, ts: &[f64], y_inv: &DMatrix<f64>) -> Result<(f64, serde_json::Value)> {
    let wl = form.weights.last().expect("non-empty");
    let c = lambda_max(&(wl * y_inv * wl.transpose()));
    let lambda: Vec<f64> =
        form.hidden().iter().zip(ts).flat_map(|(&h, &t)| std::iter::repeat_n(c * t, h)).collect();
    let cert = certify_multipliers(form, c, &lambda).map_err(|a| not_certified("lipsdp-sequential", &a))?;
    Ok((cert.value, json!({ "proposed_rho": c, "certificate": certificate_detail(&cert) })))
}

/// The certified sequential bound of `chain` in `norm` (`l2`, or `l2-margin` per class pair, whose proposals
/// share the recursion and differ only in the last step).
///
/// Theorems LS1, LS2, LS4 (proofs/lipsdp.md); checked by tests/lipsdp.rs::certified_values_hold_on_sampled_pairs,
/// tests/lipsdp.rs::bounds_sit_above_the_exact_value and
/// tests/lipsdp.rs::sequential_is_at_most_the_product_and_at_least_lipsdp.
pub fn sequential_bound(
    chain: &Chain,
    function: Function,
    norm: Norm,
    opts: &SequentialOptions,
) -> Result<Bound> {
    let start = Instant::now();
    if !matches!(norm, Norm::L2 | Norm::L2Margin) {
        return Err(Error::not_applicable("lipsdp-sequential", "the sequential bound is an ℓ2 bound only"));
    }
    let form = LipForm::from_chain(chain)?;
    let widest = form.hidden().into_iter().max().unwrap_or(0);
    let dim = form.input_dim + form.neurons();
    if widest > opts.max_width || dim > opts.max_dim {
        return Err(Error::TooLarge {
            method: "lipsdp-sequential",
            problem: format!(
                "widest hidden layer {widest} (limit {}), certificate dimension {dim} (limit {})",
                opts.max_width, opts.max_dim
            ),
        });
    }
    let (ts, y_inv) = multipliers(&form).ok_or_else(|| {
        Error::not_applicable("lipsdp-sequential", "a Schur complement was not numerically positive definite")
    })?;
    let size = json!({ "input": form.input_dim, "hidden": form.hidden(), "certificate_dim": dim });
    let (value, pairs, detail) = if norm == Norm::L2 {
        let (v, d) = certified_value(&form, &ts, &y_inv)?;
        (v, Vec::new(), json!({ "size": size, "layer_multipliers": ts, "l2": d }))
    } else {
        let out = form.weights.last().expect("non-empty").nrows();
        // One certificate per class pair, independent of each other: in parallel.
        let pairs = class_pairs(out)
            .par_iter()
            .map(|&(t, j)| {
                let (value, _) = certified_value(&form.margin(t, j), &ts, &y_inv)?;
                Ok(PairConstant { t, j, value })
            })
            .collect::<Result<Vec<_>>>()?;
        let value = pairs.iter().map(|p| p.value).fold(0.0, f64::max);
        (value, pairs, json!({ "size": size, "layer_multipliers": ts }))
    };
    Ok(Bound {
        request: None,
        method: Method::LipSdpSequential,
        function,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs,
        per_layer: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}
