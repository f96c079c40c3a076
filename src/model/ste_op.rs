//! Fused CPU kernels for sign with a straight-through gradient.
//!
//! The generic form in [`binarize`](super::binarize) composes about ten tensor operations per call; on the CPU
//! these element-wise passes, not the matrix products, dominate a binary MLP's training step. Here the forward
//! pass is one sweep computing sign(x), and the backward pass one sweep computing g·s′(x). Other devices use the
//! generic form; a test holds the two equal, value and gradient.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::binarize::{SignZero, Ste, SteKind};

fn contiguous<'a, T: candle_core::WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("sign-ste: non-contiguous input"),
    }
}

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
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(
                contiguous::<f32>(s, l)?
                    .iter()
                    .map(|&x| crate::ir::sign(x as f64, self.zero) as f32)
                    .collect(),
            ),
            CpuStorage::F64(_) => CpuStorage::F64(
                contiguous::<f64>(s, l)?.iter().map(|&x| crate::ir::sign(x, self.zero)).collect(),
            ),
            _ => candle_core::bail!("sign-ste: only f32 and f64 are supported"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?.apply_op2_no_bwd(&arg.contiguous()?, &SteGrad { ste: self.ste })?;
        Ok(Some(g))
    }
}

/// g·s′(x) for (g, x).
struct SteGrad {
    ste: Ste,
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
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (g, x) = (contiguous::<f32>(s1, l1)?, contiguous::<f32>(s2, l2)?);
                CpuStorage::F32(
                    g.iter().zip(x).map(|(&g, &x)| g * ste_derivative(x as f64, &self.ste) as f32).collect(),
                )
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (g, x) = (contiguous::<f64>(s1, l1)?, contiguous::<f64>(s2, l2)?);
                CpuStorage::F64(g.iter().zip(x).map(|(&g, &x)| g * ste_derivative(x, &self.ste)).collect())
            }
            _ => candle_core::bail!("ste-grad: mismatched or unsupported types"),
        };
        Ok((out, l1.shape().clone()))
    }
}
