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

    /// Sets entry (i, j), j ≤ i: the one [`certify_psd`] reads (the entry above the diagonal keeps its value).
    #[inline]
    pub fn set_lower(&mut self, i: usize, j: usize, v: f64) {
        debug_assert!(j <= i, "({i}, {j}) is above the diagonal");
        self.a[i * self.n + j] = v;
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

/// An inner product for the factorisation. Every implementation sums the exact products in some order, with or
/// without fused multiply-adds, which is all the error bound needs (F2; Higham, Lemma 8.4: "no matter what the
/// order of evaluation").
trait Dot {
    /// Σ a[k]·b[k] over k < a.len() (`b` at least as long).
    fn dot(&self, a: &[f64], b: &[f64]) -> f64;

    /// The inner products of four rows with one: [Σ a[r][k]·b[k] over k < b.len()] (each `a[r]` at least as
    /// long as `b`).
    fn dot4(&self, a: [&[f64]; 4], b: &[f64]) -> [f64; 4] {
        a.map(|a| self.dot(b, a))
    }
}

/// Four scalar partial sums, for processors without AVX2/FMA (and under `LCR_VERIFY_PORTABLE=1`).
struct Portable;

impl Dot for Portable {
    #[inline(always)]
    fn dot(&self, a: &[f64], b: &[f64]) -> f64 {
        let b = &b[..a.len()];
        let (mut s0, mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0, 0.0);
        for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            s0 += x[0] * y[0];
            s1 += x[1] * y[1];
            s2 += x[2] * y[2];
            s3 += x[3] * y[3];
        }
        let tail = a.len() / 4 * 4;
        for (x, y) in a[tail..].iter().zip(&b[tail..]) {
            s0 += x * y;
        }
        (s0 + s1) + (s2 + s3)
    }
}

/// Sixteen partial sums in four AVX2 vectors, fused multiply-adds.
#[cfg(target_arch = "x86_64")]
struct Avx2(pulp::x86::V3);

#[cfg(target_arch = "x86_64")]
impl Dot for Avx2 {
    #[inline(always)]
    fn dot(&self, a: &[f64], b: &[f64]) -> f64 {
        use pulp::{Simd, bytemuck::cast_slice, f64x4};
        let s = self.0;
        let b = &b[..a.len()];
        let body = a.len() / 16 * 16;
        let (av, bv): (&[f64x4], &[f64x4]) = (cast_slice(&a[..body]), cast_slice(&b[..body]));
        let mut acc = [s.splat_f64x4(0.0); 4];
        for (x, y) in av.chunks_exact(4).zip(bv.chunks_exact(4)) {
            for k in 0..4 {
                acc[k] = s.mul_add_f64x4(x[k], y[k], acc[k]);
            }
        }
        let v = s.add_f64x4(s.add_f64x4(acc[0], acc[1]), s.add_f64x4(acc[2], acc[3]));
        let mut sum = s.reduce_sum_f64s(v);
        for (x, y) in a[body..].iter().zip(&b[body..]) {
            sum = x.mul_add(*y, sum);
        }
        sum
    }

    #[inline(always)]
    fn dot4(&self, a: [&[f64]; 4], b: &[f64]) -> [f64; 4] {
        use pulp::{Simd, bytemuck::cast_slice, f64x4};
        let s = self.0;
        let len = b.len();
        let body = len / 8 * 8;
        let bv: &[f64x4] = cast_slice(&b[..body]);
        let av: [&[f64x4]; 4] = a.map(|a| cast_slice(&a[..body]));
        let mut acc = [[s.splat_f64x4(0.0); 2]; 4];
        for c in 0..body / 8 {
            let (y0, y1) = (bv[2 * c], bv[2 * c + 1]);
            for r in 0..4 {
                acc[r][0] = s.mul_add_f64x4(av[r][2 * c], y0, acc[r][0]);
                acc[r][1] = s.mul_add_f64x4(av[r][2 * c + 1], y1, acc[r][1]);
            }
        }
        let mut out = [0.0; 4];
        for r in 0..4 {
            let mut sum = s.reduce_sum_f64s(s.add_f64x4(acc[r][0], acc[r][1]));
            for k in body..len {
                sum = a[r][k].mul_add(b[k], sum);
            }
            out[r] = sum;
        }
        out
    }
}

/// The row-by-row (Cholesky–Crout) factorisation of the envelope, in place: the largest pivot, or the row whose
/// pivot was not positive.
/// Rows factored together by [`factor`]: each row of the matrix is read once per block of rows.
const BLOCK: usize = 4;

/// The row-by-row (Cholesky–Crout) factorisation of the envelope, in place: the largest pivot, or the row whose
/// pivot was not positive. Rows go in blocks of [`BLOCK`] that start in the same column: their entries left of
/// the block take one pass over the earlier rows ([`Dot::dot4`]), the rest is done row by row. Every entry is the
/// same expression as row by row; only the order of its inner product's terms may differ.
#[inline(always)]
fn factor(m: &mut Envelope, dot: &impl Dot) -> std::result::Result<f64, PsdFailure> {
    let n = m.n;
    let mut pivot_max = 0.0f64;
    let mut i = 0;
    while i < n {
        let fi = m.first[i];
        let rows = if i + BLOCK <= n && m.first[i..i + BLOCK].iter().all(|&f| f == fi) { BLOCK } else { 1 };
        if rows == BLOCK {
            let (before, rest) = m.a.split_at_mut(i * n);
            let (r0, rest) = rest.split_at_mut(n);
            let (r1, rest) = rest.split_at_mut(n);
            let (r2, rest) = rest.split_at_mut(n);
            let r3 = &mut rest[..n];
            for j in fi..i {
                let k0 = fi.max(m.first[j]);
                let row_j = &before[j * n..j * n + n];
                let d = dot.dot4([&r0[k0..j], &r1[k0..j], &r2[k0..j], &r3[k0..j]], &row_j[k0..j]);
                let p = row_j[j];
                r0[j] = (r0[j] - d[0]) / p;
                r1[j] = (r1[j] - d[1]) / p;
                r2[j] = (r2[j] - d[2]) / p;
                r3[j] = (r3[j] - d[3]) / p;
            }
        }
        for row in i..i + rows {
            let (before, rest) = m.a.split_at_mut(row * n);
            let row_r = &mut rest[..n];
            // Columns left of the block are done when the block was factored together.
            let from = if rows == BLOCK { i } else { fi };
            for j in from..row {
                let k0 = fi.max(m.first[j]);
                let row_j = &before[j * n..j * n + n];
                let s = row_r[j] - dot.dot(&row_r[k0..j], &row_j[k0..j]);
                row_r[j] = s / row_j[j];
            }
            let d = row_r[row] - dot.dot(&row_r[fi..row], &row_r[fi..row]);
            if d.is_nan() || d <= 0.0 {
                return Err(PsdFailure::Pivot(row));
            }
            row_r[row] = d.sqrt();
            pivot_max = pivot_max.max(row_r[row]);
        }
        i += rows;
    }
    Ok(pivot_max)
}

/// [`factor`] compiled for AVX2/FMA: run inside [`pulp::x86::V3::vectorize`], everything inlined into it.
#[cfg(target_arch = "x86_64")]
struct FactorAvx2<'a>(pulp::x86::V3, &'a mut Envelope);

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for FactorAvx2<'_> {
    type Output = std::result::Result<f64, PsdFailure>;

    #[inline(always)]
    fn call(self) -> Self::Output {
        factor(self.1, &Avx2(self.0))
    }
}

/// [`factor`] with the widest inner products the processor has ([`crate::wide::v3`]).
fn factor_fastest(m: &mut Envelope) -> std::result::Result<f64, PsdFailure> {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = crate::wide::v3() {
        return s.vectorize(FactorAvx2(s, m));
    }
    factor(m, &Portable)
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
    let pivot_max = factor_fastest(m)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Factors of the vector and the portable inner products agree to within the rounding of their sums.
    const FACTOR_TOL: f64 = 1e-12;

    /// A diagonally dominant envelope with rows starting in mixed columns (blocks of four and single rows)
    /// and a size that is not a multiple of four.
    fn envelope(n: usize) -> Envelope {
        let first: Vec<usize> = (0..n).map(|i| if i < 20 { 0 } else { (i / 7) * 5 }.min(i)).collect();
        let mut m = Envelope::zeros(first.clone());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for (i, &start) in first.iter().enumerate() {
            for j in start..i {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                m.set(i, j, ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5);
            }
            m.set(i, i, n as f64);
        }
        m
    }

    #[test]
    fn every_inner_product_route_gives_the_same_factor() {
        for n in [1, 5, 37, 64, 101] {
            let mut portable = envelope(n);
            let p_max = factor(&mut portable, &Portable).expect("definite");
            #[cfg(target_arch = "x86_64")]
            if let Some(s) = pulp::x86::V3::try_new() {
                let mut wide = envelope(n);
                let w_max = s.vectorize(FactorAvx2(s, &mut wide)).expect("definite");
                assert!((p_max - w_max).abs() <= FACTOR_TOL * p_max);
                for (a, b) in portable.a.iter().zip(&wide.a) {
                    assert!((a - b).abs() <= FACTOR_TOL * p_max, "n = {n}: {a} against {b}");
                }
            }
            // L̂L̂ᵀ reproduces the matrix (lower triangle, within the envelope).
            let m = envelope(n);
            for i in 0..n {
                for j in m.first[i]..=i {
                    let k0 = m.first[i].max(m.first[j]);
                    let s: f64 = (k0..=j).map(|k| portable.get(i, k) * portable.get(j, k)).sum();
                    assert!((s - m.get(i, j)).abs() <= FACTOR_TOL * n as f64, "n = {n}, ({i}, {j})");
                }
            }
        }
    }
}
