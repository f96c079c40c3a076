//! A stride-1 convolution whose input gradient is itself a convolution.
//!
//! candle computes a convolution's input gradient with `conv_transpose2d`, a direct loop of short dot products
//! that costs about twice the forward pass and a fifth of a CNN training step. For stride 1 the input gradient is
//! the convolution of the output gradient with the kernel flipped in space and with its channel axes swapped,
//! padded by k − 1 − p, which candle runs as fast as the forward pass. The forward pass and the kernel gradient
//! are candle's own. `input_grad = false` skips the input gradient altogether (the first layer's input is data).

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Tensor, WithDType};

use super::kernel::float_op2;
use crate::error::Result;

struct Conv {
    padding: usize,
    input_grad: bool,
}

/// candle's forward convolution of two contiguous operands, as values.
fn convolve<T: WithDType>(
    x: &[T],
    lx: &Layout,
    w: &[T],
    lw: &Layout,
    padding: usize,
) -> candle_core::Result<Vec<T>> {
    let x = Tensor::from_slice(x, lx.shape(), &Device::Cpu)?;
    let w = Tensor::from_slice(w, lw.shape(), &Device::Cpu)?;
    x.conv2d(&w, padding, 1, 1, 1)?.flatten_all()?.to_vec1::<T>()
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "conv2d-s1"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, _, h, w) = l1.shape().dims4()?;
        let (co, _, k, _) = l2.shape().dims4()?;
        let padding = self.padding;
        let out =
            float_op2!(self.name(), (s1, l1), (s2, l2), |x, kernel| convolve(x, l1, kernel, l2, padding)?);
        let side = |d: usize| d + 2 * padding + 1 - k;
        Ok((out, Shape::from((n, co, side(h), side(w)))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let k = w.dim(2)?;
        let dx = if self.input_grad {
            let flipped = w.transpose(0, 1)?.contiguous()?.flip(&[2, 3])?.contiguous()?;
            Some(grad.conv2d(&flipped, k - 1 - self.padding, 1, 1, 1)?)
        } else {
            None
        };
        let dw = x.transpose(0, 1)?.conv2d(&grad.transpose(0, 1)?, self.padding, 1, 1, 1)?.transpose(0, 1)?;
        Ok((dx, Some(dw)))
    }
}

/// conv2d(x, w) at stride 1 with zero padding `padding` (square kernel, k − 1 − padding ≥ 0). On the CPU in
/// `f32`/`f64` the backward pass uses the convolution form of the input gradient; elsewhere candle's operation.
pub fn conv2d_s1(x: &Tensor, w: &Tensor, padding: usize, input_grad: bool) -> Result<Tensor> {
    let k = w.dim(2)?;
    if x.device().is_cpu()
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
        && padding < k
    {
        return Ok(x.contiguous()?.apply_op2(&w.contiguous()?, Conv { padding, input_grad })?);
    }
    Ok(x.conv2d(w, padding, 1, 1, 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn values_and_gradients_equal_candles() {
        let dev = Device::Cpu;
        for (ci, co, h, p) in [(3usize, 4usize, 7usize, 1usize), (2, 5, 6, 0), (1, 3, 5, 1)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, ci, h, h), &dev).unwrap()).unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (co, ci, 3, 3), &dev).unwrap()).unwrap();
            let probe = Tensor::randn(0f32, 1.0, (2, co, h + 2 * p - 2, h + 2 * p - 2), &dev).unwrap();
            let a = conv2d_s1(x.as_tensor(), w.as_tensor(), p, true).unwrap();
            let b = x.as_tensor().conv2d(w.as_tensor(), p, 1, 1, 1).unwrap();
            let ga = (&a * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (&b * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let pairs = [
                (a.clone(), b.clone()),
                (ga.get(x.as_tensor()).unwrap().clone(), gb.get(x.as_tensor()).unwrap().clone()),
                (ga.get(w.as_tensor()).unwrap().clone(), gb.get(w.as_tensor()).unwrap().clone()),
            ];
            for (u, v) in pairs {
                let (u, v) = (
                    u.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    v.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                assert_eq!(u.len(), v.len());
                for (s, t) in u.iter().zip(&v) {
                    assert!((s - t).abs() <= 1e-4 * t.abs().max(1.0), "{s} vs {t}");
                }
            }
        }
    }
}
