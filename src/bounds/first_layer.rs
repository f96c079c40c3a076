//! The first layer's pre-activation space: when x ↦ W₁x + b₁ maps ℝⁿ onto ℝᵐ, the activation regions of a
//! network over ℝⁿ are those of its first pre-activations over ℝᵐ (theorem B6, `proofs/bab.md`).
//!
//! For a chain that starts `Linear(W₁, b₁)`, then diagonal steps, then its first activation, the first
//! pre-activations are z = σ ⊙ (W₁x + b₁) + τ (σ, τ composed from the diagonal steps). If W₁ (m × n, m ≤ n) has
//! full row rank, y = W₁x + b₁ takes every value of ℝᵐ, so the coordinates z_u with σ_u ≠ 0 take every value of
//! ℝ^U independently, and an open set of inputs has an open image. Full row rank is proven by a certified
//! positive-definiteness check of the Gram matrix G = W₁W₁ᵀ (theorem LS2 on G̃ = fl(W₁W₁ᵀ), with the entrywise
//! rounding error of F2 bounding ‖G − G̃‖₂): λ_min(G) > 0. The region LPs of the branch and bound
//! ([`super::bab_region`]) are then posed over the first post-activations instead of ℝⁿ (16 variables instead of
//! 784 for a 784-16-16-10 net), and a point found there is mapped back to an input by the least-squares
//! preimage x = W₁ᵀG̃⁻¹(y − b₁), which only proposes a witness: [`super::sampled::witness_lower`] decides.

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

use super::chain::{Chain, Step};
use super::float::{ETA, add_up, gamma, mul_up};
use super::psd_check::{Envelope, certify_psd, frobenius_error};

/// A chain's first layer, proven to map ℝⁿ onto ℝᵐ (theorem B6).
#[derive(Clone, Debug)]
pub struct FirstLayer {
    /// The chain step of the first activation.
    pub act_step: usize,
    /// Whether σ_u ≠ 0 (exactly: every diagonal factor of unit u is nonzero); such a unit's pre-activation is a
    /// free coordinate of ℝ^U.
    pub free: Vec<bool>,
    /// σ and τ in floating point (only for mapping points back to inputs).
    sigma: Vec<f64>,
    tau: Vec<f64>,
    /// W₁ and b₁.
    w: DMatrix<f64>,
    b: DVector<f64>,
    /// Cholesky factor of fl(W₁W₁ᵀ), for the preimage.
    chol: Cholesky<f64, Dyn>,
    /// The proven lower bound on λ_min(W₁W₁ᵀ) (> 0).
    pub lambda_min_lower: f64,
}

/// An upper bound on the spectral-norm distance between W Wᵀ and its floating-point evaluation `g` (computed by
/// [`gram`]): entrywise |G − G̃| ≤ γ_n Σ_k |W_ik||W_jk| + nη (F2), summed in squares (‖E‖₂ ≤ ‖E‖_F).
fn gram_error(w: &DMatrix<f64>) -> f64 {
    let (m, n) = (w.nrows(), w.ncols());
    let g = gamma(n);
    let mut sum_sq = 0.0f64;
    for i in 0..m {
        for j in 0..m {
            let mag = (0..n).fold(0.0f64, |s, k| add_up(s, mul_up(w[(i, k)].abs(), w[(j, k)].abs())));
            let e = add_up(mul_up(g, mag), mul_up(n as f64, ETA));
            sum_sq = add_up(sum_sq, mul_up(e, e));
        }
    }
    frobenius_error(sum_sq)
}

/// fl(W Wᵀ), symmetric by construction.
fn gram(w: &DMatrix<f64>) -> DMatrix<f64> {
    let m = w.nrows();
    let mut g = DMatrix::zeros(m, m);
    for i in 0..m {
        for j in 0..=i {
            let v = w.row(i).dot(&w.row(j));
            g[(i, j)] = v;
            g[(j, i)] = v;
        }
    }
    g
}

/// A proven lower bound on λ_min(W Wᵀ) when it is positive (W has full row rank), else `None`.
///
/// Theorem B6 (proofs/bab.md), with LS2 (proofs/lipsdp.md); checked by
/// tests/bab_region.rs::full_row_rank_is_proven_and_refused.
pub fn gram_lambda_min_lower(w: &DMatrix<f64>) -> Option<f64> {
    let m = w.nrows();
    if m == 0 || m > w.ncols() || w.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let g = gram(w);
    let estimate = g.clone().symmetric_eigenvalues().iter().copied().fold(f64::INFINITY, f64::min);
    if estimate.is_nan() || estimate <= 0.0 {
        return None;
    }
    let mut env = Envelope::zeros(vec![0; m]);
    for i in 0..m {
        for j in 0..=i {
            env.set(i, j, g[(i, j)]);
        }
    }
    let cert = certify_psd(&mut env, estimate / 2.0, gram_error(w)).ok()?;
    (cert.lambda_min_lower > 0.0).then_some(cert.lambda_min_lower)
}

impl FirstLayer {
    /// The first layer of `chain` if the chain starts `Linear`, diagonal steps, activation, and W₁ is proven to
    /// have full row rank; else `None` (the caller then works over ℝⁿ).
    ///
    /// Theorem B6 (proofs/bab.md); checked by tests/bab_region.rs::full_row_rank_is_proven_and_refused.
    pub fn of(chain: &Chain) -> Option<FirstLayer> {
        let Some(Step::Linear { w, b }) = chain.steps.first() else { return None };
        let m = w.nrows();
        let (mut sigma, mut tau, mut free) = (vec![1.0; m], vec![0.0; m], vec![true; m]);
        let mut k = 1;
        loop {
            match chain.steps.get(k)? {
                Step::Diag { s, t } => {
                    for u in 0..m {
                        sigma[u] *= s[u];
                        tau[u] = s[u] * tau[u] + t[u];
                        free[u] &= s[u] != 0.0;
                    }
                }
                Step::Act(_) => break,
                Step::Linear { .. } => return None,
            }
            k += 1;
        }
        let lambda_min_lower = gram_lambda_min_lower(w)?;
        let chol = gram(w).cholesky()?;
        Some(FirstLayer { act_step: k, free, sigma, tau, w: w.clone(), b: b.clone(), chol, lambda_min_lower })
    }

    /// Number of first-layer units m.
    pub fn width(&self) -> usize {
        self.free.len()
    }

    /// An input x with first pre-activations close to `z` (units that are not free take what they take): the
    /// least-squares preimage of y = (z − τ)/σ. A proposal only; nothing proven rests on it.
    pub fn input_for(&self, z: &[f64]) -> Vec<f64> {
        let y = DVector::from_fn(self.width(), |u, _| {
            if self.free[u] && self.sigma[u] != 0.0 {
                (z[u] - self.tau[u]) / self.sigma[u]
            } else {
                self.b[u]
            }
        });
        let coef = self.chol.solve(&(y - &self.b));
        self.w.tr_mul(&coef).iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preimage_hits_the_requested_pre_activations() {
        let w = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 0.5, -1.0, 0.25, 3.0]);
        let b = DVector::from_vec(vec![0.5, -0.25]);
        let chain = Chain {
            input_dim: 3,
            steps: vec![
                Step::Linear { w, b },
                Step::Diag { s: vec![2.0, -0.5], t: vec![0.1, 0.2] },
                Step::Act(super::super::chain::Act::HardTanh),
            ],
            widths: vec![2, 2, 2],
        };
        let fl = FirstLayer::of(&chain).expect("full row rank");
        assert_eq!(fl.act_step, 2);
        let x = fl.input_for(&[0.3, -0.7]);
        let z = chain.trace(&x)[2].clone();
        assert!((z[0] - 0.3).abs() < 1e-12 && (z[1] + 0.7).abs() < 1e-12, "{z:?}");
        assert!(gram_lambda_min_lower(&DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 4.0])).is_none());
    }
}
