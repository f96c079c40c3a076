//! What the fused CPU kernels share: contiguous views of candle's storages and the `f32`/`f64` dispatch.

use candle_core::{CpuStorage, Layout, WithDType};

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
