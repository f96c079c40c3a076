//! AVX2 micro-kernels of the convolutions: a matrix product that reads its right operand as rows at arbitrary
//! offsets, and a batch of dot products over such rows.
//!
//! Both read the rows of their right operand B straight from where they lie: row k of B is
//! `src[base[k]..]`. For an im2col matrix `base[k]` steps by the row length; for a zero-padded image, row
//! (c, a, b) of the patch matrix is the padded plane of channel c shifted by a rows and b columns, so
//! `base[(c, a, b)] = c·plane + a·width + b` and no patch matrix is built at all (see
//! [`conv_fast`](super::conv_fast)).
//!
//! * [`Product`]: out = A·B for A packed by [`pack`] in blocks of [`MR`] rows. Each step of the inner loop
//!   loads [`NV`] vectors of a row of B and multiplies them with [`MR`] broadcast entries of A into
//!   [`MR`]·[`NV`] accumulators (12 of the 16 vector registers), the classic register-blocked kernel.
//! * [`Dots`]: out[r, c] = Σ_q A_r[q]·B_c[q] for [`DR`] rows of A and [`DC`] rows of B at a time, summed over
//!   several images: the kernel gradient Σ dy·X̃ᵀ without transposing anything. Each step holds [`DC`] vectors
//!   of B and streams [`DR`] vectors of A through [`DR`]·[`DC`] accumulators.
//!
//! Sums run in a fixed order (vector lanes, then the lanes added by pulp's fixed reduction), so the results do
//! not depend on threads or on where the operands lie in memory. Everything runs inside
//! [`V3::vectorize`], so the loops are compiled for AVX2 and FMA whatever the crate's baseline.

use pulp::x86::V3;
use pulp::{NullaryFnOnce, Simd, bytemuck};

use super::conv_gemm::Real;

/// Rows of A per block of [`Product`].
pub const MR: usize = 6;
/// Vectors per row and step of [`Product`] (columns per strip: `NV · Lanes::N`).
pub const NV: usize = 2;
/// Rows of A per block of [`Dots`].
pub const DR: usize = 4;
/// Rows of B per block of [`Dots`].
pub const DC: usize = 3;

/// `f32` and `f64` with their AVX2 vectors (8 and 4 lanes).
pub trait Lanes: Real + bytemuck::Pod {
    /// The vector.
    type V: Copy + bytemuck::Pod;
    /// Its lanes.
    const N: usize;
    /// Every lane `v`.
    fn broadcast(s: V3, v: Self) -> Self::V;
    /// a·b + c, fused.
    fn fma(s: V3, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn sum(s: V3, v: Self::V) -> Self;
}

impl Lanes for f32 {
    type V = pulp::f32x8;
    const N: usize = 8;
    #[inline(always)]
    fn broadcast(s: V3, v: f32) -> Self::V {
        s.splat_f32x8(v)
    }
    #[inline(always)]
    fn fma(s: V3, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        s.mul_add_f32x8(a, b, c)
    }
    #[inline(always)]
    fn sum(s: V3, v: Self::V) -> f32 {
        s.reduce_sum_f32s(v)
    }
}

impl Lanes for f64 {
    type V = pulp::f64x4;
    const N: usize = 4;
    #[inline(always)]
    fn broadcast(s: V3, v: f64) -> Self::V {
        s.splat_f64x4(v)
    }
    #[inline(always)]
    fn fma(s: V3, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        s.mul_add_f64x4(a, b, c)
    }
    #[inline(always)]
    fn sum(s: V3, v: Self::V) -> f64 {
        s.reduce_sum_f64s(v)
    }
}

/// Columns per strip of [`Product`] for `T`.
pub fn strip<T: Lanes>() -> usize {
    NV * T::N
}

/// A (rows × depth, entry (r, k) = `at(r, k)`) packed for [`Product`]: blocks of [`MR`] rows, each stored
/// depth-major (`[block][k][MR]`), rows past `rows` zero.
pub fn pack<T: Real>(rows: usize, depth: usize, at: impl Fn(usize, usize) -> T) -> Vec<T> {
    let blocks = rows.div_ceil(MR);
    let mut packed = vec![T::zero(); blocks * depth * MR];
    for (blk, block) in packed.chunks_exact_mut(depth * MR).enumerate() {
        for (k, column) in block.chunks_exact_mut(MR).enumerate() {
            for (i, v) in column.iter_mut().enumerate().take(rows.saturating_sub(blk * MR)) {
                *v = at(blk * MR + i, k);
            }
        }
    }
    packed
}

/// out (blocks·[`MR`] rows of `ld` values) = A·B, with A packed by [`pack`] and row k of B at
/// `src[base[k]..base[k] + ld]`; `ld` is a multiple of [`strip`].
pub struct Product<'a, T> {
    /// The token proving AVX2 and FMA.
    pub s: V3,
    /// A, packed.
    pub a: &'a [T],
    /// Where B's rows lie.
    pub src: &'a [T],
    /// Start of each row of B in `src`.
    pub base: &'a [usize],
    /// The product, row-major.
    pub out: &'a mut [T],
    /// Columns (and row stride of `out`).
    pub ld: usize,
}

impl<T: Lanes> NullaryFnOnce for Product<'_, T> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Product { s, a, src, base, out, ld } = self;
        let (depth, nr) = (base.len(), strip::<T>());
        let zero = T::broadcast(s, T::zero());
        for q in (0..ld).step_by(nr) {
            for (blk, panel) in a.chunks_exact(depth * MR).enumerate() {
                let mut acc = [[zero; NV]; MR];
                for (w, &b) in panel.chunks_exact(MR).zip(base) {
                    let x: &[T::V] = bytemuck::cast_slice(&src[b + q..b + q + nr]);
                    let x: [T::V; NV] = std::array::from_fn(|v| x[v]);
                    for (acc, &w) in acc.iter_mut().zip(w) {
                        let w = T::broadcast(s, w);
                        for (acc, &x) in acc.iter_mut().zip(&x) {
                            *acc = T::fma(s, w, x, *acc);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    let row = &mut out[(blk * MR + r) * ld + q..(blk * MR + r) * ld + q + nr];
                    bytemuck::cast_slice_mut::<T, T::V>(row).copy_from_slice(acc);
                }
            }
        }
    }
}

/// out[r·cols + c] = Σ over images i and q < `len` of `a[i·a_step + r·lda + q] · src[i·src_step + base[c] + q]`
/// for r < `rows` and c < `base.len()` (`rows` a multiple of [`DR`], `base.len()` of [`DC`], `len` and `lda`
/// of the lanes); `cols = base.len()`.
pub struct Dots<'a, T> {
    /// The token proving AVX2 and FMA.
    pub s: V3,
    /// The rows of A, image after image.
    pub a: &'a [T],
    /// Row stride of A.
    pub lda: usize,
    /// Stride of A between images.
    pub a_step: usize,
    /// Rows of A.
    pub rows: usize,
    /// Where B's rows lie, image after image.
    pub src: &'a [T],
    /// Stride of `src` between images.
    pub src_step: usize,
    /// Start of each row of B within an image's part of `src`.
    pub base: &'a [usize],
    /// Values per row and image.
    pub len: usize,
    /// Images.
    pub images: usize,
    /// The sums, `rows × base.len()`.
    pub out: &'a mut [T],
}

impl<T: Lanes> NullaryFnOnce for Dots<'_, T> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Dots { s, a, lda, a_step, rows, src, src_step, base, len, images, out } = self;
        let (cols, n) = (base.len(), len / T::N);
        let zero = T::broadcast(s, T::zero());
        for rb in (0..rows).step_by(DR) {
            for cb in (0..cols).step_by(DC) {
                let mut acc = [[zero; DC]; DR];
                for image in 0..images {
                    let av: [&[T::V]; DR] = std::array::from_fn(|r| {
                        let at = image * a_step + (rb + r) * lda;
                        &bytemuck::cast_slice::<T, T::V>(&a[at..at + len])[..n]
                    });
                    let bv: [&[T::V]; DC] = std::array::from_fn(|c| {
                        let at = image * src_step + base[cb + c];
                        &bytemuck::cast_slice::<T, T::V>(&src[at..at + len])[..n]
                    });
                    for i in 0..n {
                        let y: [T::V; DC] = std::array::from_fn(|c| bv[c][i]);
                        for (acc, a) in acc.iter_mut().zip(&av) {
                            let x = a[i];
                            for (acc, &y) in acc.iter_mut().zip(&y) {
                                *acc = T::fma(s, x, y, *acc);
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (c, &v) in acc.iter().enumerate() {
                        out[(rb + r) * cols + cb + c] = T::sum(s, v);
                    }
                }
            }
        }
    }
}
