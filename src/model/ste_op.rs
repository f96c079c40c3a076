//! Fused CPU kernels for sign with a straight-through gradient.
//!
//! The generic form in [`binarize`](super::binarize) composes about ten tensor operations per call; on the CPU
//! these element-wise passes, not the matrix products, dominate a binary MLP's training step. Here the forward
//! pass is one sweep computing sign(x), and the backward pass one sweep computing g·s′(x). Other devices use the
//! generic form; a test holds the two equal, value and gradient.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType as T64};

use super::kernel::{float_op1, float_op2, par_map, par_map2};

use super::binarize::{SignZero, Ste, SteKind};

/// s′(x) of the estimator.
pub fn ste_derivative(x: f64, ste: &Ste) -> f64 {
    match ste.kind {
        SteKind::Clipped => {
            if x.abs() <= 1.0 {
                1.0
            } else {
                0.0
            }
        }
        SteKind::Ede => {
            let th = (ste.t * x).tanh();
            ste.k * ste.t * (1.0 - th * th)
        }
    }
}

/// [`crate::ir::sign`] in the operand's type: +1 above zero, −1 below, the convention's value at zero (and for
/// NaN, as there). Written as selects, not branches: signs of activations are as good as random, and a branch
/// per value mispredicted half the time.
#[inline(always)]
fn typed_sign<T: T64>(v: T, zero: SignZero) -> T {
    let (one, minus_one) = (T::one(), T::zero() - T::one());
    match zero {
        SignZero::PlusOne => {
            if v < T::zero() {
                minus_one
            } else {
                one
            }
        }
        SignZero::Zero => {
            let above = if v > T::zero() { one } else { T::zero() };
            let below = if v < T::zero() { one } else { T::zero() };
            above - below
        }
    }
}

/// sign(x) of every value, in parallel; one loop per convention, so that the loop body has no branch.
pub(super) fn signs<T: T64>(x: &[T], zero: SignZero) -> Vec<T> {
    match zero {
        SignZero::PlusOne => par_map(x, |v| typed_sign(v, SignZero::PlusOne)),
        SignZero::Zero => par_map(x, |v| typed_sign(v, SignZero::Zero)),
    }
}

/// g·s′(x) of the clipped identity in the operand's type: g·1 for |x| ≤ 1, g·0 otherwise (as through f64).
#[inline(always)]
fn clipped<T: T64>(g: T, x: T) -> T {
    let (one, minus_one) = (T::one(), T::zero() - T::one());
    g * if x >= minus_one && x <= one { one } else { T::zero() }
}

/// sign(x) forward, g·s′(x) backward.
pub struct SignSte {
    /// sign(0) convention.
    pub zero: SignZero,
    /// Estimator.
    pub ste: Ste,
}

impl CustomOp1 for SignSte {
    fn name(&self) -> &'static str {
        "sign-ste"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let zero = self.zero;
        let out = float_op1!(self.name(), s, l, |x| signs(x, zero));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?.apply_op2_no_bwd(&arg.contiguous()?, &SteGrad { ste: self.ste })?;
        Ok(Some(g))
    }
}

/// g·s′(x) for (g, x).
pub(super) struct SteGrad {
    /// Estimator.
    pub ste: Ste,
}

impl CustomOp2 for SteGrad {
    fn name(&self) -> &'static str {
        "ste-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let ste = self.ste;
        if l1.dims() != l2.dims() {
            candle_core::bail!("{}: gradient {:?} and input {:?} differ", self.name(), l1.dims(), l2.dims());
        }
        let out = match ste.kind {
            // g·1 or g·0 exactly, in the operand's type (the same values as through f64).
            SteKind::Clipped => {
                float_op2!(self.name(), (s1, l1), (s2, l2), |g, x| par_map2(g, x, |g, x| { clipped(g, x) }))
            }
            SteKind::Ede => float_op2!(self.name(), (s1, l1), (s2, l2), |g, x| par_map2(g, x, |g, x| {
                T64::from_f64(g.to_f64() * ste_derivative(x.to_f64(), &ste))
            })),
        };
        Ok((out, l1.shape().clone()))
    }
}
