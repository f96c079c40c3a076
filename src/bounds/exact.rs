//! Ground truth on tiny nets: the exact maximum over all activation patterns (theorem E1, `proofs/exact.md`).
//!
//! For a chain with ReLU/hardtanh activations the gradient at any differentiable point is
//! cᵀ W_S D_{S−1} ⋯ D_1 W_1 for the pattern D at that point, so the Lipschitz constant L (the supremum of the
//! gradient's dual norm) is at most FGL = max over **all** patterns D ∈ {0,1}^H ("formal global Lipschitz"),
//! with equality when every pattern is realised on an open set (e.g. one hidden layer whose rows are linearly
//! independent, any biases). This module computes FGL exactly by depth-first enumeration (units whose incoming
//! gradient is already zero are not branched on), rounding the result upward with the a-priori error bound of
//! theorem F3, so the value is a certified upper bound on L and the exact FGL up to that tiny allowance.

use std::time::Instant;

use nalgebra::DMatrix;
use serde_json::json;

use super::bound::{Bound, LayerPart, Method, Norm, PairConstant, Scope, Soundness};
use super::chain::{Chain, Step};
use super::float::{abs_sum_up, add_up, norm2_up, sqrt_up, sum_sq_up};
use super::gram::sigma_upper;
use crate::error::{Error, Result};
use crate::ir::Function;

/// Limits of the enumeration.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactOptions {
    /// Largest number of activation units accepted.
    pub max_hidden: usize,
    /// Largest number of leaves (patterns × pairs) visited before giving up.
    pub max_leaves: u64,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { max_hidden: 20, max_leaves: 1 << 24 }
    }
}

/// The dual norm of a gradient for a margin norm (ℓ∞ input → ‖g‖₁, ℓ1 → ‖g‖_∞, ℓ2 → ‖g‖₂), rounded up.
pub(crate) fn dual_norm_up(g: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::LinfMargin => abs_sum_up(g),
        Norm::L1Margin => g.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        _ => norm2_up(g),
    }
}

struct Enumerator<'a> {
    chain: &'a Chain,
    leaves: u64,
    max_leaves: u64,
}

impl Enumerator<'_> {
    /// Max over patterns of `leaf(g_input)`, starting with `g` = gradient w.r.t. the output of step `s − 1`.
    fn dfs(&mut self, s: usize, g: DMatrix<f64>, leaf: &mut dyn FnMut(&DMatrix<f64>) -> f64) -> Result<f64> {
        if s == 0 {
            self.leaves += 1;
            if self.leaves > self.max_leaves {
                return Err(Error::TooLarge {
                    method: "exact-patterns",
                    problem: format!("more than {} patterns to visit", self.max_leaves),
                });
            }
            return Ok(leaf(&g));
        }
        match &self.chain.steps[s - 1] {
            Step::Linear { w, .. } => self.dfs(s - 1, w.tr_mul(&g), leaf),
            Step::Diag { s: d, .. } => {
                let mut g = g;
                g.row_iter_mut().zip(d).for_each(|(mut r, d)| r *= *d);
                self.dfs(s - 1, g, leaf)
            }
            Step::Act(_) => {
                let live: Vec<usize> =
                    (0..g.nrows()).filter(|&r| g.row(r).iter().any(|v| *v != 0.0)).collect();
                if live.len() >= 63 {
                    return Err(Error::TooLarge {
                        method: "exact-patterns",
                        problem: format!("{} live units in one layer", live.len()),
                    });
                }
                let mut best = 0.0f64;
                for mask in 0u64..(1u64 << live.len()) {
                    let mut h = g.clone();
                    for (bit, &r) in live.iter().enumerate() {
                        if mask >> bit & 1 == 0 {
                            h.row_mut(r).fill(0.0);
                        }
                    }
                    best = best.max(self.dfs(s - 1, h, leaf)?);
                }
                Ok(best)
            }
        }
    }
}

/// FGL of `chain` in `norm` (max over pairs for margins), certified by upward rounding (theorems E1, F3).
///
/// Theorem E1 (proofs/exact.md); checked by
/// tests/exact.rs::enumeration_matches_brute_force_on_one_hidden_layer.
pub fn exact_patterns(chain: &Chain, function: Function, norm: Norm, opts: &ExactOptions) -> Result<Bound> {
    let start = Instant::now();
    let h = chain.hidden_units();
    if h > opts.max_hidden {
        return Err(Error::TooLarge {
            method: "exact-patterns",
            problem: format!(
                "{h} activation units; enumeration is limited to {} (2^units patterns)",
                opts.max_hidden
            ),
        });
    }
    let out = chain.output_dim();
    let mut en = Enumerator { chain, leaves: 0, max_leaves: opts.max_leaves };
    let mut pairs = Vec::new();
    let (value, detail) = if norm == Norm::L2 {
        // Full Jacobian: σ₁(J) ≤ Gram bound of the float Jacobian + ‖error‖_F (F3 per output row).
        let slack = (0..out)
            .map(|i| {
                let e: Vec<f64> = (0..out).map(|k| if k == i { 1.0 } else { 0.0 }).collect();
                sum_sq_up(&chain.gradient_slack(&e))
            })
            .fold(0.0, add_up);
        let mut best = 0.0f64;
        let v = en.dfs(chain.steps.len(), DMatrix::identity(out, out), &mut |g: &DMatrix<f64>| {
            if norm2_up(g.as_slice()) <= best {
                return best; // Frobenius already below the best certified value
            }
            best = best.max(sigma_upper(g, 1e-12, 60).upper);
            best
        })?;
        (add_up(v, sqrt_up(slack)), json!({ "leaves": en.leaves }))
    } else {
        let mut best = 0.0f64;
        for t in 0..out {
            for j in t + 1..out {
                let mut c = vec![0.0; out];
                (c[t], c[j]) = (1.0, -1.0);
                let slack = dual_norm_up(&chain.gradient_slack(&c), norm);
                let v = en.dfs(chain.steps.len(), DMatrix::from_column_slice(out, 1, &c), &mut |g| {
                    dual_norm_up(g.as_slice(), norm)
                })?;
                let value = add_up(v, slack);
                best = best.max(value);
                pairs.push(PairConstant { t, j, value });
            }
        }
        (best, json!({ "leaves": en.leaves }))
    };
    let mut detail = detail;
    detail["exact"] =
        json!("FGL: maximum over all activation patterns (equals L when every pattern is realised)");
    detail["hidden_units"] = json!(h);
    Ok(Bound {
        request: None,
        method: Method::ExactPatterns,
        function,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs,
        per_layer: Vec::<LayerPart>::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}
