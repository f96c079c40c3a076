//! 2×2 max pooling (stride 2, floor mode) with a correct gradient on odd sizes.
//!
//! candle's `max_pool2d` backward upsamples the pooled map by nearest neighbour to the input size, which for an
//! input side that is not a multiple of 2 (7 → 3 on MNIST's last block) sends gradient to the wrong rows and
//! columns, including the ones pooling drops. This kernel routes each window's gradient to the window's first
//! maximum (PyTorch's convention), and rows or columns outside every window get none. On devices other than
//! the CPU, candle's operation is used.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};

use super::kernel::{float_op1, float_op2};
use crate::error::Result;

/// Index (within the plane) of the first maximum of window (i, j) of an h×w plane.
fn argmax<T: WithDType>(plane: &[T], w: usize, i: usize, j: usize) -> usize {
    let mut best = (2 * i) * w + 2 * j;
    for (di, dj) in [(0, 1), (1, 0), (1, 1)] {
        let k = (2 * i + di) * w + 2 * j + dj;
        if plane[k] > plane[best] {
            best = k;
        }
    }
    best
}

fn forward<T: WithDType>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = Vec::with_capacity(planes * oh * ow);
    for p in 0..planes {
        let plane = &x[p * h * w..(p + 1) * h * w];
        for i in 0..oh {
            for j in 0..ow {
                out.push(plane[argmax(plane, w, i, j)]);
            }
        }
    }
    out
}

fn backward<T: WithDType>(x: &[T], g: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![T::zero(); planes * h * w];
    for p in 0..planes {
        let plane = &x[p * h * w..(p + 1) * h * w];
        for i in 0..oh {
            for j in 0..ow {
                out[p * h * w + argmax(plane, w, i, j)] = g[(p * oh + i) * ow + j];
            }
        }
    }
    out
}

fn dims(l: &Layout) -> candle_core::Result<(usize, usize, usize, usize)> {
    l.shape().dims4()
}

struct MaxPool2;

impl CustomOp1 for MaxPool2 {
    fn name(&self) -> &'static str {
        "maxpool2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims(l)?;
        let out = float_op1!(self.name(), s, l, |x| forward(x, n * c, h, w));
        Ok((out, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &MaxPool2Grad)?))
    }
}

/// (x, g) ↦ the gradient of the input.
struct MaxPool2Grad;

impl CustomOp2 for MaxPool2Grad {
    fn name(&self) -> &'static str {
        "maxpool2-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims(l1)?;
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |x, g| backward(x, g, n * c, h, w));
        Ok((out, l1.shape().clone()))
    }
}

/// 2×2, stride-2 max pooling of `(n, c, h, w)` (floor mode: an odd last row or column is dropped).
pub fn max_pool2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64) {
        Ok(x.contiguous()?.apply_op1(MaxPool2)?)
    } else {
        Ok(x.max_pool2d(2)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn odd_sizes_pool_and_route_gradients_within_windows() {
        // One 3×3 plane: the only window is the top-left 2×2, whose maximum 5 sits at (1, 0).
        let x = Var::new(&[[[[1f32, 2.0, 9.0], [5.0, 3.0, 8.0], [7.0, 6.0, 4.0]]]], &Device::Cpu).unwrap();
        let y = max_pool2(x.as_tensor()).unwrap();
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [5.0]);
        let g = (y * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(gx, [0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn agrees_with_candle_on_even_sizes() {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 6, 4), &Device::Cpu).unwrap();
        let a = max_pool2(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = x.max_pool2d(2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b);
    }
}
