//! What the fused CPU kernels share: contiguous views of candle's storages and the `f32`/`f64` dispatch.

use candle_core::{CpuStorage, Layout, WithDType};
use rayon::prelude::*;

/// Values per rayon task in the element-wise maps (small inputs stay on one thread).
const MAP_GRAIN: usize = 1 << 14;

/// `n` copies of `zero`, written in parallel: the output buffers of the kernels are activation-sized, and
/// zeroing them on the calling thread (as `vec![0; n]` does with memory the allocator had kept) cost a tenth of
/// a ResNet step while the other threads waited.
pub(super) fn zeros<T: Copy + Send + Sync>(n: usize, zero: T) -> Vec<T> {
    rayon::iter::repeat_n(zero, n).with_min_len(MAP_GRAIN).collect()
}

/// `f` applied to every value, in parallel (element-wise, so the result does not depend on the threads).
pub(super) fn par_map<T: WithDType, U: WithDType>(x: &[T], f: impl Fn(T) -> U + Sync) -> Vec<U> {
    let mut out = zeros(x.len(), U::zero());
    out.par_chunks_mut(MAP_GRAIN).zip(x.par_chunks(MAP_GRAIN)).for_each(|(out, x)| {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    });
    out
}

/// `f` applied to every pair of values of two equal-length slices, in parallel.
pub(super) fn par_map2<T: WithDType, U: WithDType>(a: &[T], b: &[T], f: impl Fn(T, T) -> U + Sync) -> Vec<U> {
    let mut out = zeros(a.len(), U::zero());
    out.par_chunks_mut(MAP_GRAIN).zip(a.par_chunks(MAP_GRAIN).zip(b.par_chunks(MAP_GRAIN))).for_each(
        |(out, (a, b))| {
            for ((o, &u), &v) in out.iter_mut().zip(a).zip(b) {
                *o = f(u, v);
            }
        },
    );
    out
}

/// The values of a contiguous operand (every kernel makes its operands contiguous before it is applied).
pub(super) fn contiguous<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("{op}: non-contiguous operand"),
    }
}

/// Runs `$body` (generic over the element type, producing a `Vec`) on one `f32` or `f64` operand, bound to `$x`.
macro_rules! float_op1 {
    ($op:expr, $s:expr, $l:expr, |$x:ident| $body:expr) => {
        match $s {
            candle_core::CpuStorage::F32(_) => {
                let $x = $crate::model::kernel::contiguous::<f32>($s, $l, $op)?;
                candle_core::CpuStorage::F32($body)
            }
            candle_core::CpuStorage::F64(_) => {
                let $x = $crate::model::kernel::contiguous::<f64>($s, $l, $op)?;
                candle_core::CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: only f32 and f64 are supported", $op),
        }
    };
}

/// [`float_op1!`] for two operands of the same type, bound to `$a` and `$b`.
macro_rules! float_op2 {
    ($op:expr, ($s1:expr, $l1:expr), ($s2:expr, $l2:expr), |$a:ident, $b:ident| $body:expr) => {
        match ($s1, $s2) {
            (candle_core::CpuStorage::F32(_), candle_core::CpuStorage::F32(_)) => {
                let $a = $crate::model::kernel::contiguous::<f32>($s1, $l1, $op)?;
                let $b = $crate::model::kernel::contiguous::<f32>($s2, $l2, $op)?;
                candle_core::CpuStorage::F32($body)
            }
            (candle_core::CpuStorage::F64(_), candle_core::CpuStorage::F64(_)) => {
                let $a = $crate::model::kernel::contiguous::<f64>($s1, $l1, $op)?;
                let $b = $crate::model::kernel::contiguous::<f64>($s2, $l2, $op)?;
                candle_core::CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: operands must both be f32 or both f64", $op),
        }
    };
}

pub(super) use {float_op1, float_op2};
