//! Outward rounding for certified values (`proofs/float.md`).
//!
//! IEEE-754 binary64 with round-to-nearest: for every basic operation ∘ and finite result,
//! fl(a ∘ b) = (a ∘ b)(1 + δ) + η with |δ| ≤ u = 2⁻⁵³ and |η| ≤ 2⁻¹⁰⁷⁵ (η = 0 for + and −), and √ is correctly
//! rounded. The exact result lies between the rounded result and its neighbour, so stepping one ulp outward
//! ([`up`], [`dn`]) after each operation gives a guaranteed bound (theorem F1). Inner products use the a-priori
//! bound |fl(xᵀy) − xᵀy| ≤ γ_n |x|ᵀ|y| + n·2⁻¹⁰⁷⁴, γ_n = nu/(1 − nu), valid for any summation order and with fused
//! multiply-add (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1 and Lemma 3.4) (F2).

use nalgebra::DMatrix;

/// The unit roundoff u = 2⁻⁵³.
pub const U: f64 = f64::EPSILON / 2.0;

/// The smallest positive subnormal, 2⁻¹⁰⁷⁴: a bound on the absolute error of one underflowing product.
pub const ETA: f64 = f64::from_bits(1);

/// The next float above `x` (an upper bound on any real that rounds to `x`): `x.next_up()`, written without
/// branches so that loops of it vectorise (`tests` below check it against the standard library on every class
/// of float).
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn up(x: f64) -> f64 {
    const SIGN: u64 = 1 << 63;
    const INF: u64 = 0x7ff0_0000_0000_0000;
    let bits = x.to_bits();
    let abs = bits & !SIGN;
    // ±0 steps to the smallest positive subnormal, a positive float one unit up, a negative one unit down (in
    // magnitude); NaN and +∞ have nothing above them and stay.
    let stepped = if abs == 0 {
        1
    } else if bits == abs {
        bits.wrapping_add(1)
    } else {
        bits.wrapping_sub(1)
    };
    f64::from_bits(if abs > INF || bits == INF { bits } else { stepped })
}

/// The next float below `x`: `x.next_down()`, as −[`up`](−x).
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn dn(x: f64) -> f64 {
    -up(-x)
}

/// An upper bound on γ_n = nu/(1 − nu); infinite when nu ≥ 1/2.
///
/// Theorem F2 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn gamma(n: usize) -> f64 {
    let nu = up(n as f64 * U);
    if nu >= 0.5 {
        return f64::INFINITY;
    }
    up(nu / dn(1.0 - nu))
}

/// An upper bound on a + b.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn add_up(a: f64, b: f64) -> f64 {
    up(a + b)
}

/// An upper bound on a·b.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn mul_up(a: f64, b: f64) -> f64 {
    up(a * b)
}

/// An upper bound on a/b for b > 0.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn div_up(a: f64, b: f64) -> f64 {
    up(a / b)
}

/// An upper bound on √a (a ≥ 0).
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn sqrt_up(a: f64) -> f64 {
    up(a.max(0.0).sqrt())
}

/// A lower bound on √a, never negative.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
#[inline]
pub fn sqrt_dn(a: f64) -> f64 {
    dn(a.max(0.0).sqrt()).max(0.0)
}

/// An upper bound on Σ|xᵢ|.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn abs_sum_up<'a>(xs: impl IntoIterator<Item = &'a f64>) -> f64 {
    xs.into_iter().fold(0.0, |s, x| up(s + x.abs()))
}

/// An upper bound on Σ xᵢ².
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn sum_sq_up<'a>(xs: impl IntoIterator<Item = &'a f64>) -> f64 {
    xs.into_iter().fold(0.0, |s, x| up(s + up(x * x)))
}

/// A lower bound on Σ xᵢ² (never negative).
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn sum_sq_dn<'a>(xs: impl IntoIterator<Item = &'a f64>) -> f64 {
    xs.into_iter().fold(0.0, |s: f64, x| dn(s + dn(x * x)).max(0.0))
}

/// An upper bound on ‖x‖₂.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn norm2_up(xs: &[f64]) -> f64 {
    sqrt_up(sum_sq_up(xs))
}

/// A lower bound on ‖x‖₂.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn norm2_dn(xs: &[f64]) -> f64 {
    sqrt_dn(sum_sq_dn(xs))
}

/// An upper bound on the Frobenius norm.
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn frob_up(m: &DMatrix<f64>) -> f64 {
    norm2_up(m.as_slice())
}

/// Upper bounds on (max column abs-sum, max row abs-sum) = (‖M‖₁, ‖M‖_∞).
///
/// Theorem F1 (proofs/float.md); checked by tests/spectral.rs::gram_upper_bounds_and_matches_svd.
pub fn abs_norms_up(m: &DMatrix<f64>) -> (f64, f64) {
    let col = m.column_iter().map(|c| abs_sum_up(c.iter())).fold(0.0, f64::max);
    let mut rows = vec![0.0; m.nrows()];
    for c in m.column_iter() {
        for (r, v) in rows.iter_mut().zip(c.iter()) {
            *r = up(*r + v.abs());
        }
    }
    (col, rows.into_iter().fold(0.0, f64::max))
}

/// 2ᵉ exactly, for −1022 ≤ e ≤ 1023.
#[inline]
pub fn pow2(e: i32) -> f64 {
    assert!((-1022..=1023).contains(&e), "2^{e} is not a normal f64");
    f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::{dn, up};

    #[test]
    fn steps_are_the_standard_librarys_on_every_class_of_float() {
        let mut special = vec![
            0.0,
            -0.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            1.0,
            -1.0,
            f64::EPSILON,
        ];
        let mut z = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            special.push(f64::from_bits(z));
        }
        for x in special {
            assert_eq!(up(x).to_bits(), x.next_up().to_bits(), "up({x:e}) [{:#x}]", x.to_bits());
            assert_eq!(dn(x).to_bits(), x.next_down().to_bits(), "dn({x:e}) [{:#x}]", x.to_bits());
        }
    }
}
