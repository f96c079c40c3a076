//! Certified upper bounds on the largest singular value by Gram iteration (theorem S2, `proofs/spectral.md`).
//!
//! Gram iteration (Delattre, Barthélemy, Araujo & Allauzen, ICML 2023): with M₀ = A and M_{k+1} = M_kᴴM_k,
//! σ₁(A)^{2^T} = ‖M_T‖₂ ≤ ‖M_T‖_F, so σ₁(A) ≤ ‖M_T‖_F^{1/2^T}, and the bound decreases to σ₁(A) as T grows.
//!
//! In floating point each product is computed with an error Δ_k, ‖Δ_k‖₂ ≤ c‖S_k‖_F² (+ underflow), and each
//! iterate is rescaled by an exact power of two, S_{k+1} = 2^{−e_{k+1}}·fl(S_kᴴS_k). Weyl's inequality gives
//! ‖S_k‖₂² ≤ 2^{e_{k+1}}‖S_{k+1}‖₂ + d_k, and unrolling from b_T = ‖S_T‖_F (all rounded upward)
//! b_k = √(2^{e_{k+1}} b_{k+1} + d_k) bounds ‖S_k‖₂, hence σ₁(A) ≤ 2^{e₀} b₀. Nothing here relies on an
//! eigen- or singular-value routine being correct.
//!
//! Convergence: writing r_T = ln(b₀(T)/σ₁) in exact arithmetic, r_{T+1} ≤ r_T/2, so the remaining excess after
//! step T+1 is at most the decrease b₀(T)/b₀(T+1) − 1 just observed (theorem S3); that decrease is reported.

use nalgebra::DMatrix;

use super::float::{ETA, add_up, frob_up, gamma, mul_up, pow2, sqrt_up, up};

/// A matrix that Gram iteration can square: real, or complex as a pair (re, im).
pub trait GramMatrix: Sized {
    /// An upper bound on the Frobenius norm.
    fn frob_up(&self) -> f64;
    /// The product MᴴM or MMᴴ (the smaller one), in floating point.
    fn gram(&self) -> Self;
    /// (c, a) with ‖fl(gram) − gram‖₂ ≤ c·‖M‖_F² + a.
    fn gram_error(&self) -> (f64, f64);
    /// 2^{−e}·M if that scaling is exact, else `None`.
    fn scaled(&self, e: i32) -> Option<Self>;
}

fn scale_exact(m: &DMatrix<f64>, e: i32) -> Option<DMatrix<f64>> {
    let (f, b) = (pow2(-e), pow2(e));
    let s = m.map(|v| v * f);
    s.iter().zip(m.iter()).all(|(x, y)| x * b == *y).then_some(s)
}

impl GramMatrix for DMatrix<f64> {
    fn frob_up(&self) -> f64 {
        frob_up(self)
    }

    fn gram(&self) -> Self {
        if self.nrows() >= self.ncols() { self.tr_mul(self) } else { self * self.transpose() }
    }

    fn gram_error(&self) -> (f64, f64) {
        let n = self.nrows().max(self.ncols());
        let p = self.nrows().min(self.ncols());
        (gamma(n), (p * n) as f64 * ETA * 2.0)
    }

    fn scaled(&self, e: i32) -> Option<Self> {
        scale_exact(self, e)
    }
}

/// A complex matrix P + iQ.
#[derive(Clone, Debug)]
pub struct CMatrix {
    /// Real part P.
    pub re: DMatrix<f64>,
    /// Imaginary part Q.
    pub im: DMatrix<f64>,
}

impl GramMatrix for CMatrix {
    fn frob_up(&self) -> f64 {
        sqrt_up(add_up(frob_up(&self.re).powi(2).next_up(), frob_up(&self.im).powi(2).next_up()))
    }

    /// MᴴM = (PᵀP + QᵀQ) + i(PᵀQ − QᵀP), or MMᴴ = (PPᵀ + QQᵀ) + i(QPᵀ − PQᵀ).
    fn gram(&self) -> Self {
        let (p, q) = (&self.re, &self.im);
        if p.nrows() >= p.ncols() {
            CMatrix { re: p.tr_mul(p) + q.tr_mul(q), im: p.tr_mul(q) - q.tr_mul(p) }
        } else {
            let (pt, qt) = (p.transpose(), q.transpose());
            CMatrix { re: p * &pt + q * &qt, im: q * &pt - p * &qt }
        }
    }

    /// ‖Δ‖₂ ≤ 2γ_{n+1}‖M‖_F² (`proofs/spectral.md`, S2 complex case).
    fn gram_error(&self) -> (f64, f64) {
        let n = self.re.nrows().max(self.re.ncols());
        let p = self.re.nrows().min(self.re.ncols());
        (mul_up(2.0, gamma(n + 1)), (p * (2 * n + 1)) as f64 * ETA * 4.0)
    }

    fn scaled(&self, e: i32) -> Option<Self> {
        Some(CMatrix { re: scale_exact(&self.re, e)?, im: scale_exact(&self.im, e)? })
    }
}

/// The state of a Gram iteration; it can be advanced step by step and bounded at any time.
#[derive(Clone, Debug)]
pub struct GramState<M> {
    current: M,
    exps: Vec<i32>,
    errs: Vec<f64>,
    zero: bool,
}

fn exponent(f: f64) -> i32 {
    if f > 0.0 && f.is_finite() { (f.log2().floor() as i32).clamp(-1000, 1000) } else { 0 }
}

impl<M: GramMatrix> GramState<M> {
    /// Starts from A (rescaled by an exact power of two when possible).
    pub fn new(a: M) -> Self {
        let f = a.frob_up();
        let e = exponent(f);
        let (current, e) = match a.scaled(e) {
            Some(s) => (s, e),
            None => (a, 0),
        };
        GramState { current, exps: vec![e], errs: Vec::new(), zero: f == 0.0 }
    }

    /// Number of squarings done.
    pub fn steps(&self) -> usize {
        self.errs.len()
    }

    /// One squaring.
    pub fn step(&mut self) {
        if self.zero {
            return;
        }
        let f = self.current.frob_up();
        let (c, a) = self.current.gram_error();
        self.errs.push(add_up(mul_up(c, mul_up(f, f)), a));
        let g = self.current.gram();
        let e = exponent(g.frob_up());
        let (next, e) = match g.scaled(e) {
            Some(s) => (s, e),
            None => (g, 0),
        };
        self.current = next;
        self.exps.push(e);
    }

    /// The certified upper bound on σ₁(A) after the steps done so far (+∞ if anything overflowed).
    ///
    /// Theorem S2 (proofs/spectral.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
    pub fn bound(&self) -> f64 {
        let mut b = self.current.frob_up();
        for k in (0..self.errs.len()).rev() {
            b = sqrt_up(add_up(mul_up(b, pow2(self.exps[k + 1])), self.errs[k]));
        }
        let b = mul_up(b, pow2(self.exps[0]));
        if b.is_nan() { f64::INFINITY } else { b }
    }

    /// The current iterate (rescaled M_T); for a Hermitian iterate its dominant columns approximate the top
    /// singular vectors.
    pub fn current(&self) -> &M {
        &self.current
    }
}

/// The outcome of [`sigma_upper`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigmaUpper {
    /// Certified upper bound on σ₁.
    pub upper: f64,
    /// Squarings done.
    pub iterations: usize,
    /// The last relative decrease: a bound on the remaining relative excess over σ₁ (in exact arithmetic).
    pub excess: f64,
    /// Whether `excess` fell below the requested tolerance (the bound is valid either way).
    pub converged: bool,
}

/// Runs Gram iteration until the relative decrease is ≤ `rel_tol` or `max_iter` squarings.
///
/// Theorems S2 (the bound) and S3 (`excess`, reporting only) (proofs/spectral.md); checked by
/// tests/spectral.rs::complex_gram_matches_real_embedding.
pub fn gram_until<M: GramMatrix>(state: &mut GramState<M>, rel_tol: f64, max_iter: usize) -> SigmaUpper {
    let mut prev = state.bound();
    let mut excess = f64::INFINITY;
    while state.steps() < max_iter {
        state.step();
        let b = state.bound();
        if b <= 0.0 {
            return SigmaUpper { upper: b, iterations: state.steps(), excess: 0.0, converged: true };
        }
        if b >= prev {
            // No further progress: floating-point noise floor reached.
            return SigmaUpper {
                upper: prev,
                iterations: state.steps(),
                excess,
                converged: excess <= rel_tol,
            };
        }
        excess = up(prev / b - 1.0);
        prev = b;
        if excess <= rel_tol {
            return SigmaUpper { upper: b, iterations: state.steps(), excess, converged: true };
        }
    }
    SigmaUpper { upper: prev, iterations: state.steps(), excess, converged: excess <= rel_tol }
}

/// A certified upper bound on σ₁(A) for a real matrix (theorem S2).
///
/// Checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn sigma_upper(a: &DMatrix<f64>, rel_tol: f64, max_iter: usize) -> SigmaUpper {
    if a.is_empty() {
        return SigmaUpper { upper: 0.0, iterations: 0, excess: 0.0, converged: true };
    }
    gram_until(&mut GramState::new(a.clone()), rel_tol, max_iter)
}
