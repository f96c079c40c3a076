//! 2×2 max pooling (stride 2, floor mode) with a correct gradient on odd sizes.
//!
//! candle's `max_pool2d` backward upsamples the pooled map by nearest neighbour to the input size, which for an
//! input side that is not a multiple of 2 (7 → 3 on MNIST's last block) sends gradient to the wrong rows and
//! columns, including the ones pooling drops. This kernel routes each window's gradient to the window's first
//! maximum (PyTorch's convention), and rows or columns outside every window get none. Planes are pooled in
//! parallel, in groups of [`PLANES_PER_TASK`]. On devices other than the CPU, candle's operation is used.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::kernel::{float_op1, float_op2, zeros};
use crate::error::Result;

/// Planes per rayon task (a 28×28 plane is 3 KiB of `f32`).
const PLANES_PER_TASK: usize = 32;

/// Which of the window's four values (a, b on the top row, c, d below) is its first maximum: 0, 1, 2 or 3.
fn first_max<T: WithDType>(a: T, b: T, c: T, d: T) -> (usize, T) {
    let (mut k, mut m) = (0, a);
    for (i, v) in [(1, b), (2, c), (3, d)] {
        if v > m {
            (k, m) = (i, v);
        }
    }
    (k, m)
}

fn forward<T: WithDType>(x: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = zeros(planes * oh * ow, T::zero());
    let per_task = PLANES_PER_TASK * oh * ow;
    out.par_chunks_mut(per_task.max(1)).zip(x.par_chunks((PLANES_PER_TASK * h * w).max(1))).for_each(
        |(out, x)| {
            for (pooled, plane) in out.chunks_exact_mut(oh * ow).zip(x.chunks_exact(h * w)) {
                for (i, row) in pooled.chunks_exact_mut(ow).enumerate() {
                    let (top, bottom) = (&plane[2 * i * w..][..w], &plane[(2 * i + 1) * w..][..w]);
                    for (j, o) in row.iter_mut().enumerate() {
                        *o = first_max(top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]).1;
                    }
                }
            }
        },
    );
    out
}

fn backward<T: WithDType>(x: &[T], g: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = zeros(planes * h * w, T::zero());
    let per_task = PLANES_PER_TASK * h * w;
    let inputs = x.par_chunks(per_task.max(1)).zip(g.par_chunks((PLANES_PER_TASK * oh * ow).max(1)));
    out.par_chunks_mut(per_task.max(1)).zip(inputs).for_each(|(out, (x, g))| {
        for ((dx, plane), grad) in
            out.chunks_exact_mut(h * w).zip(x.chunks_exact(h * w)).zip(g.chunks((oh * ow).max(1)))
        {
            for i in 0..oh {
                let (top, bottom) = (&plane[2 * i * w..][..w], &plane[(2 * i + 1) * w..][..w]);
                for j in 0..ow {
                    let (k, _) = first_max(top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]);
                    dx[(2 * i + k / 2) * w + 2 * j + k % 2] = grad[i * ow + j];
                }
            }
        }
    });
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
        // 70 planes: several parallel groups, the last one partial. No ties (random values).
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (5, 14, 6, 4), &Device::Cpu).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (5, 14, 3, 2), &Device::Cpu).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (a, b) = (max_pool2(x.as_tensor()).unwrap(), x.as_tensor().max_pool2d(2).unwrap());
        assert_eq!(flat(&a), flat(&b));
        // The gradient (candle's is a quarter of it: it averages the window's mask): each window's output
        // gradient at the window's maximum, zero elsewhere.
        let dx = flat((a * &probe).unwrap().sum_all().unwrap().backward().unwrap().get(&x).unwrap());
        let (xs, gs) = (flat(x.as_tensor()), flat(&probe));
        for (window, g) in gs.iter().enumerate() {
            let (plane, i, j) = (window / 6, window % 6 / 2, window % 2);
            let at = |di: usize, dj: usize| plane * 24 + (2 * i + di) * 4 + 2 * j + dj;
            let cells = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
            let top = cells.into_iter().max_by(|&p, &q| xs[p].total_cmp(&xs[q])).unwrap();
            for cell in cells {
                assert_eq!(dx[cell], if cell == top { *g } else { 0.0 });
            }
        }
    }
}
