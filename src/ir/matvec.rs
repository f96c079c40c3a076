//! Matrix–vector products of the dense layers, y = Wx and y = |W|x, with the widest vector instructions the
//! processor has ([`crate::wide`]), giving to the last bit what nalgebra's `w * x` gives.
//!
//! The attacks and the per-point enclosures spend most of their time in these products (one or two per
//! forward pass, hundreds of passes per sample). nalgebra runs them with the baseline SSE2 instructions, one
//! column of W per pass over y; here four `f64` lanes wide, four columns per pass, which halves the time on
//! the default MLP's 384×784 layer.
//!
//! # The same bits
//! nalgebra (0.35) computes a column-major W times a vector as a sequence of column updates,
//! y ← W₋₀x₀, then y ← W₋ⱼxⱼ + y for j = 1, …, n − 1: every yᵢ is the left-to-right sum of its products, each
//! product and each sum rounded once. [`mul`] adds four columns per pass, to each yᵢ one after the other, so
//! every yᵢ sees the same operations in the same order (the vector lanes are different rows). Rust never fuses
//! a multiply and an add nor reorders a sum unless asked to, so the x86-64-v3 build of the loop and the
//! baseline one give the same bits too (`LCR_VERIFY_PORTABLE=1` keeps the baseline). The unit test checks
//! against nalgebra bit for bit, on shapes that are and are not multiples of four, with signed zeros.
//!
//! The transposed product Wᵀg (the backward pass) stays nalgebra's: a dot product per column of W, eight
//! partial sums each, already bound by reading W.

use nalgebra::DMatrix;

/// Columns of W added to y per pass over y in [`mul`] (the pass body names four).
const COLUMN_SWEEP: usize = 4;

/// y = Wx, bit for bit `w * x` of nalgebra (module documentation).
///
/// Panics when `x.len() != w.ncols()` (callers check shapes first).
pub fn mul(w: &DMatrix<f64>, x: &[f64]) -> Vec<f64> {
    product(w, x, false)
}

/// y = |W|x without forming |W|: each product |Wᵢⱼ|xⱼ, summed in the order of [`mul`].
///
/// Panics when `x.len() != w.ncols()`.
pub fn abs_mul(w: &DMatrix<f64>, x: &[f64]) -> Vec<f64> {
    product(w, x, true)
}

fn product(w: &DMatrix<f64>, x: &[f64], abs: bool) -> Vec<f64> {
    assert_eq!(
        x.len(),
        w.ncols(),
        "matrix-vector product: x has {} entries for {} columns",
        x.len(),
        w.ncols()
    );
    let mut y = vec![0.0; w.nrows()];
    if w.ncols() > 0 {
        crate::wide::wide(Mul { w: w.as_slice(), rows: w.nrows(), x, y: &mut y, abs });
    }
    y
}

/// [`mul`]'s arguments, run by [`crate::wide::wide`]; `abs` multiplies |Wᵢⱼ| instead of Wᵢⱼ.
struct Mul<'a> {
    w: &'a [f64],
    rows: usize,
    x: &'a [f64],
    y: &'a mut [f64],
    abs: bool,
}

impl pulp::NullaryFnOnce for Mul<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        if self.abs {
            columns::<true>(self.w, self.rows, self.x, self.y)
        } else {
            columns::<false>(self.w, self.rows, self.x, self.y)
        }
    }
}

/// y ← W₋₀x₀, then y ← W₋ⱼxⱼ + y for j = 1, …, n − 1 (|W| with `ABS`), [`COLUMN_SWEEP`] columns per pass over y:
/// each pass reads that many contiguous columns side by side and y once, and adds the columns' products to
/// each yᵢ one after the other, so every yᵢ still sees its products in column order (`y += p` is `p + y`: IEEE
/// addition is commutative, to the sign of zero).
#[inline(always)]
fn columns<const ABS: bool>(w: &[f64], rows: usize, x: &[f64], y: &mut [f64]) {
    let entry = |v: f64| if ABS { v.abs() } else { v };
    let column = |j: usize| &w[j * rows..(j + 1) * rows];
    for (yi, &wi) in y.iter_mut().zip(column(0)) {
        *yi = entry(wi) * x[0];
    }
    let mut j = 1;
    while j + COLUMN_SWEEP <= x.len() {
        let (c0, c1, c2, c3) = (column(j), column(j + 1), column(j + 2), column(j + 3));
        let (x0, x1, x2, x3) = (x[j], x[j + 1], x[j + 2], x[j + 3]);
        for (i, yi) in y.iter_mut().enumerate() {
            let mut v = *yi;
            v += entry(c0[i]) * x0;
            v += entry(c1[i]) * x1;
            v += entry(c2[i]) * x2;
            v += entry(c3[i]) * x3;
            *yi = v;
        }
        j += COLUMN_SWEEP;
    }
    for (k, &xk) in x.iter().enumerate().skip(j) {
        for (yi, &wi) in y.iter_mut().zip(column(k)) {
            *yi += entry(wi) * xk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    /// A reproducible value in [−1, 1) with some exact zeros and negative zeros, so that signs of zero count.
    fn value(seed: &mut u64) -> f64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        match *seed % 23 {
            0 => 0.0,
            1 => -0.0,
            _ => (*seed >> 11) as f64 / (1u64 << 52) as f64 - 1.0,
        }
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits())
    }

    #[test]
    fn products_are_nalgebras_to_the_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for &(m, n) in
            &[(1, 1), (3, 7), (8, 8), (16, 5), (17, 9), (10, 384), (384, 784), (33, 31), (0, 4), (5, 0)]
        {
            let w = DMatrix::from_fn(m, n, |_, _| value(&mut seed));
            let x: Vec<f64> = (0..n).map(|_| value(&mut seed)).collect();
            let y = &w * DVector::from_column_slice(&x);
            assert!(same(&mul(&w, &x), y.as_slice()), "{m}x{n}: Wx");
            let ya = w.abs() * DVector::from_column_slice(&x);
            assert!(same(&abs_mul(&w, &x), ya.as_slice()), "{m}x{n}: |W|x");
        }
    }
}
