//! Rigorous lower bounds on an operator norm by power iteration (theorem S4, `proofs/spectral.md`).
//!
//! For any x ≠ 0, ‖A‖₂ ≥ ‖Ax‖/‖x‖. The product y = fl(Ax) has |y − Ax| ≤ γ_m|A||x| (m terms per output), so
//! ‖Ax‖ ≥ ‖y‖ − γ_m‖|A|‖₂‖x‖; with ‖y‖ rounded down, ‖x‖ and the subtracted term rounded up, each iterate gives
//! a proven lower bound. Power iteration (x ← AᵀAx/‖AᵀAx‖) only chooses good vectors; it is never an upper bound.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::float::{ETA, abs_norms_up, dn, gamma, mul_up, norm2_dn, norm2_up, sqrt_up, up};
use crate::ir::{ConvGeometry, Kernel, conv2d, conv2d_transpose};

/// A linear operator with what the rigorous lower bound needs.
pub trait LinearOp {
    /// Input dimension.
    fn n_in(&self) -> usize;
    /// y = A x in floating point.
    fn apply(&self, x: &[f64]) -> Vec<f64>;
    /// x = Aᵀ y in floating point.
    fn apply_t(&self, y: &[f64]) -> Vec<f64>;
    /// The largest number of terms in one output sum (m in γ_m).
    fn terms(&self) -> usize;
    /// An upper bound on ‖|A|‖₂ (entrywise absolute value).
    fn abs_norm_up(&self) -> f64;
}

/// A dense matrix as an operator.
pub struct DenseOp<'a>(pub &'a DMatrix<f64>);

impl LinearOp for DenseOp<'_> {
    fn n_in(&self) -> usize {
        self.0.ncols()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        (self.0 * DVector::from_column_slice(x)).data.into()
    }
    fn apply_t(&self, y: &[f64]) -> Vec<f64> {
        self.0.tr_mul(&DVector::from_column_slice(y)).data.into()
    }
    fn terms(&self) -> usize {
        self.0.ncols()
    }
    fn abs_norm_up(&self) -> f64 {
        let (c, r) = abs_norms_up(self.0);
        sqrt_up(mul_up(c, r))
    }
}

/// A convolution (no bias) on its real input shape as an operator.
pub struct ConvOp<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// Its geometry.
    pub geometry: ConvGeometry,
}

impl LinearOp for ConvOp<'_> {
    fn n_in(&self) -> usize {
        self.geometry.c_in * self.geometry.h * self.geometry.w
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        conv2d(self.kernel, &self.geometry, x)
    }
    fn apply_t(&self, y: &[f64]) -> Vec<f64> {
        conv2d_transpose(self.kernel, &self.geometry, y)
    }
    fn terms(&self) -> usize {
        self.geometry.taps()
    }
    /// √(‖|A|‖₁‖|A|‖_∞): row sums are at most max_o Σ|W[o,·,·,·]|, column sums at most max_c Σ|W[·,c,·,·]|.
    fn abs_norm_up(&self) -> f64 {
        let k = self.kernel;
        let per = k.kh * k.kw;
        let mut rows = vec![0.0f64; k.c_out];
        let mut cols = vec![0.0f64; k.c_in];
        for (i, w) in k.data.iter().enumerate() {
            let (o, c) = (i / (k.c_in * per), (i / per) % k.c_in);
            rows[o] = up(rows[o] + w.abs());
            cols[c] = up(cols[c] + w.abs());
        }
        let r = rows.into_iter().fold(0.0, f64::max);
        let c = cols.into_iter().fold(0.0, f64::max);
        sqrt_up(mul_up(r, c))
    }
}

/// A proven lower bound on ‖A‖₂ from x and y = fl(Ax), given `slack` ≥ γ_m‖|A|‖₂ and `terms` = m (0 when the
/// rounding allowance swallows the value). Besides the relative error, each of the rows of y may carry an
/// absolute underflow error of m·η (F2), √rows·m·η in ℓ2.
fn lower_from(x: &[f64], y: &[f64], slack: f64, terms: usize) -> f64 {
    let nx = norm2_up(x);
    if nx == 0.0 {
        return 0.0;
    }
    let underflow = mul_up(sqrt_up(y.len() as f64), mul_up(terms as f64, ETA));
    dn(dn(dn(norm2_dn(y) - mul_up(slack, nx)) - underflow) / nx).max(0.0)
}

/// A proven lower bound on ‖A‖₂ from one vector.
///
/// Theorem S4 (proofs/spectral.md); checked by tests/spectral.rs::conv_bracket_contains_the_exact_norm.
pub fn rayleigh_lower(op: &dyn LinearOp, x: &[f64]) -> f64 {
    lower_from(x, &op.apply(x), mul_up(gamma(op.terms()), op.abs_norm_up()), op.terms())
}

/// The outcome of [`power_lower`].
#[derive(Clone, Debug)]
pub struct PowerLower {
    /// Proven lower bound on ‖A‖₂ (the best over the iterates).
    pub lower: f64,
    /// Iterations done.
    pub iterations: usize,
    /// Whether the relative change of the estimate fell below the tolerance.
    pub converged: bool,
    /// The last iterate (unit norm).
    pub vector: Vec<f64>,
}

/// Power iteration on AᵀA from `start` (or a seeded random vector), keeping the best proven lower bound.
///
/// Theorem S4 (proofs/spectral.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn power_lower(
    op: &dyn LinearOp,
    start: Option<Vec<f64>>,
    rel_tol: f64,
    max_iter: usize,
    seed: u64,
) -> PowerLower {
    let mut x = start.unwrap_or_else(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..op.n_in()).map(|_| rng.random::<f64>() - 0.5).collect()
    });
    let slack = mul_up(gamma(op.terms()), op.abs_norm_up());
    let mut best = 0.0f64;
    let mut prev = 0.0f64;
    for it in 0..max_iter {
        let n = norm2_up(&x);
        if n == 0.0 || !n.is_finite() {
            break;
        }
        x.iter_mut().for_each(|v| *v /= n);
        let y = op.apply(&x);
        let est = norm2_up(&y);
        best = best.max(lower_from(&x, &y, slack, op.terms()));
        if it > 0 && (est - prev).abs() <= rel_tol * est {
            return PowerLower { lower: best, iterations: it + 1, converged: true, vector: x };
        }
        prev = est;
        x = op.apply_t(&y);
    }
    let n = norm2_up(&x);
    if n > 0.0 && n.is_finite() {
        x.iter_mut().for_each(|v| *v /= n);
        best = best.max(rayleigh_lower(op, &x));
    }
    PowerLower { lower: best, iterations: max_iter, converged: false, vector: x }
}
