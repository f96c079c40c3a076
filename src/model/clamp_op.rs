//! A fused CPU kernel for hardtanh(x) = clamp(x, −1, 1).
//!
//! candle's `clamp` is `maximum` then `minimum`, and the backward pass of each builds two equality masks,
//! converts them, adds, multiplies and divides: ten element-wise passes over the activation, plus the gradient
//! of the constant bounds, which made up about a third of a ResNet training step. Here the forward pass is one
//! sweep and the backward pass one sweep computing g·h′(x) with candle's convention at the kinks:
//!
//! h′(x) = 1 for |x| < 1, ½ for |x| = 1 (the two arguments of the max or min tie and share the gradient),
//! 0 for |x| > 1.
//!
//! A test holds values and gradients equal to candle's `clamp`, bit for bit, the kinks included.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};

use super::kernel::{float_op1, float_op2, par_map, par_map2};

/// h′(x) of hardtanh, with ½ at the kinks.
pub(super) fn slope<T: WithDType>(x: T) -> T {
    let (one, minus_one) = (T::one(), T::zero() - T::one());
    if x > minus_one && x < one {
        one
    } else if x == one || x == minus_one {
        T::from_f64(0.5)
    } else {
        T::zero()
    }
}

/// clamp(x, −1, 1).
pub(super) fn clamp<T: WithDType>(x: T) -> T {
    let (one, minus_one) = (T::one(), T::zero() - T::one());
    if x > one {
        one
    } else if x < minus_one {
        minus_one
    } else {
        x
    }
}

/// clamp(x, −1, 1) forward, g·h′(x) backward.
pub struct HardTanh;

impl CustomOp1 for HardTanh {
    fn name(&self) -> &'static str {
        "hardtanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = float_op1!(self.name(), s, l, |x| par_map(x, clamp));
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(arg, &HardTanhGrad)?))
    }
}

/// g·h′(x) for (g, x).
struct HardTanhGrad;

impl CustomOp2 for HardTanhGrad {
    fn name(&self) -> &'static str {
        "hardtanh-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            candle_core::bail!("{}: gradient {:?} and input {:?} differ", self.name(), l1.dims(), l2.dims());
        }
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |g, x| par_map2(g, x, |g, x| g * slope(x)));
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;

    #[test]
    fn values_and_gradients_equal_candles_clamp_bit_for_bit() {
        let dev = Device::Cpu;
        // Inside, outside and exactly on the kinks, with positive and negative output gradients.
        let xs = [-3.0, -1.0, -0.999, -0.25, 0.0, 0.5, 1.0, 1.0001, 7.0, -1.0, 1.0, 0.75];
        let gs = [0.3, -1.7, 2.0, -0.6, 1.1, -2.2, 0.9, 4.0, -0.1, 3.0, -5.0, 0.0];
        for dtype in [DType::F32, DType::F64] {
            let x = Var::from_tensor(&Tensor::new(&xs, &dev).unwrap().to_dtype(dtype).unwrap()).unwrap();
            let g = Tensor::new(&gs, &dev).unwrap().to_dtype(dtype).unwrap();
            let ours = x.as_tensor().apply_op1(HardTanh).unwrap();
            let theirs = x.as_tensor().clamp(-1.0, 1.0).unwrap();
            let grad = |y: &Tensor| {
                let store = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
                store.get(x.as_tensor()).unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap()
            };
            let values = |y: &Tensor| y.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(values(&ours), values(&theirs), "{dtype:?} values");
            let (a, b) = (grad(&ours), grad(&theirs));
            assert_eq!(a, b, "{dtype:?} gradients");
            assert_eq!(a[1] * 2.0, values(&g)[1], "the kink at −1 passes half the gradient");
        }
    }
}
