//! A certified test that a symmetric matrix is positive semidefinite: a floating-point Cholesky factorisation
//! of the matrix shifted down by c, with a rigorous bound on its backward error (theorem LS2,
//! `proofs/lipsdp.md`).
//!
//! If the factorisation of A = fl(S̃ − cI) (diagonal rounded down) runs to completion with positive pivots,
//! the computed factor L̂ satisfies L̂L̂ᵀ = A + ΔA with |ΔA| ≤ γ_{n+1}|L̂||L̂|ᵀ + 2(n + r)η entrywise
//! (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Theorem 10.3 and Lemma 8.4, whose proof
//! does not use definiteness, plus the underflow terms; r bounds the pivots). Hence
//! λ_min(S̃) ≥ c − γ_{n+1}‖L̂‖_F² − 2n(n + r)η, and for the exact matrix S with ‖S − S̃‖₂ ≤ e,
//! λ_min(S) ≥ c − γ_{n+1}‖L̂‖_F² − 2n(n + r)η − e. The factorisation follows the matrix's envelope (rows start
//! at `first[i]`), which has no fill-in, so a block-tridiagonal LipSDP matrix costs time linear in depth.

use super::float::{ETA, add_up, dn, gamma, mul_up, sqrt_up, sum_sq_up, up};

/// A symmetric matrix stored by rows, with the column where each row's nonzeros start.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Dimension n.
    pub n: usize,
    /// Row-major n×n entries (symmetric; only j ≤ i is read).
    pub a: Vec<f64>,
    /// a[i][j] = 0 for j < first[i]; first[i] ≤ i.
    pub first: Vec<usize>,
}

impl Envelope {
    /// An all-zero matrix with the given row starts.
    pub fn zeros(first: Vec<usize>) -> Self {
        let n = first.len();
        Envelope { n, a: vec![0.0; n * n], first }
    }

    /// Entry (i, j), j ≤ i.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.a[i * self.n + j]
    }

    /// Sets entry (i, j) and (j, i).
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.a[i * self.n + j] = v;
        self.a[j * self.n + i] = v;
    }
}

/// What a successful check proved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PsdCertificate {
    /// The shift c.
    pub shift: f64,
    /// γ_{n+1}‖L̂‖_F² + 2n(n + r)η rounded up: the bound on ‖ΔA‖₂.
    pub cholesky_error: f64,
    /// The caller's bound e on ‖S − S̃‖₂.
    pub matrix_error: f64,
    /// A proven lower bound on λ_min(S): c − cholesky_error − matrix_error rounded down, ≥ 0.
    pub lambda_min_lower: f64,
}

/// Why a check failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PsdFailure {
    /// A pivot was ≤ 0 (or NaN) at this row: the shifted matrix is not numerically positive definite.
    Pivot(usize),
    /// The factorisation completed, but the error bounds exceed the shift.
    Margin {
        /// The shift.
        shift: f64,
        /// What the shift had to cover.
        needed: f64,
    },
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four partial sums: any summation order is covered by the error bound (F2).
    let (mut s0, mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0, 0.0);
    let chunks = a.len() / 4;
    for c in 0..chunks {
        let k = 4 * c;
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for k in 4 * chunks..a.len() {
        s0 += a[k] * b[k];
    }
    (s0 + s1) + (s2 + s3)
}

/// The shift that covers the a-priori error of the factorisation: about twice γ_{n+1}·tr(S̃) + e.
pub fn default_shift(m: &Envelope, matrix_error: f64) -> f64 {
    let tr = (0..m.n).fold(0.0f64, |s, i| add_up(s, m.get(i, i).max(0.0)));
    let g = gamma(m.n + 1);
    up(2.0 * add_up(mul_up(g, tr), matrix_error)) + f64::MIN_POSITIVE
}

/// Proves λ_min(S) ≥ 0 for every symmetric S with ‖S − S̃‖₂ ≤ `matrix_error`, S̃ = `m`, or says why not.
/// `m` is overwritten by the factor.
///
/// Theorem LS2 (proofs/lipsdp.md); checked by tests/lipsdp.rs::psd_check_accepts_and_refuses_by_the_margin.
pub fn certify_psd(
    m: &mut Envelope,
    shift: f64,
    matrix_error: f64,
) -> std::result::Result<PsdCertificate, PsdFailure> {
    let n = m.n;
    for i in 0..n {
        m.a[i * n + i] = dn(m.a[i * n + i] - shift);
    }
    let mut pivot_max = 0.0f64;
    for i in 0..n {
        let fi = m.first[i];
        let (before, rest) = m.a.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        for j in fi..i {
            let k0 = fi.max(m.first[j]);
            let row_j = &before[j * n..j * n + n];
            let s = row_i[j] - dot(&row_i[k0..j], &row_j[k0..j]);
            row_i[j] = s / row_j[j];
        }
        let d = row_i[i] - dot(&row_i[fi..i], &row_i[fi..i]);
        if d.is_nan() || d <= 0.0 {
            return Err(PsdFailure::Pivot(i));
        }
        row_i[i] = d.sqrt();
        pivot_max = pivot_max.max(row_i[i]);
    }
    let frob2 = (0..n).fold(0.0, |s, i| add_up(s, sum_sq_up(&m.a[i * n + m.first[i]..i * n + i + 1])));
    let absolute = mul_up(mul_up(2.0 * n as f64, add_up(n as f64, pivot_max)), ETA);
    let cholesky_error = add_up(mul_up(gamma(n + 1), frob2), absolute);
    let needed = add_up(cholesky_error, matrix_error);
    if needed.is_nan() || needed > shift {
        return Err(PsdFailure::Margin { shift, needed });
    }
    Ok(PsdCertificate { shift, cholesky_error, matrix_error, lambda_min_lower: dn(shift - needed).max(0.0) })
}

/// ‖E‖₂ ≤ ‖E‖_F ≤ √(Σ e²) for |E| ≤ e entrywise: the matrix error from an accumulated Σ e² (rounded up).
pub fn frobenius_error(sum_sq: f64) -> f64 {
    sqrt_up(sum_sq)
}
