//! The convolution layers' candle operation on the CPU: forward pass and both gradients from
//! [`conv_gemm`](super::conv_gemm).
//!
//! candle's own CPU convolution computes the input gradient with `conv_transpose2d`, a direct loop of short dot
//! products (for stride 2 it was most of a ResNet training step), and the kernel gradient as a convolution of the
//! input with the output gradient, whose im2col tiles hold only the k² output pixels. Here all three are one
//! im2col and one matrix product per group of images. `input_grad = false` skips the input gradient altogether
//! (the first layer's input is data). On other devices and element types candle's operation is used.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use super::conv_fast;
use super::conv_gemm::ConvShape;
use super::kernel::float_op2;
use crate::error::Result;

/// The shape of conv(x, w) from the operands' layouts.
fn conv_shape(lx: &Layout, lw: &Layout, stride: usize, padding: usize) -> candle_core::Result<ConvShape> {
    let (batch, c_in, height, width) = lx.shape().dims4()?;
    let (c_out, c_w, kernel, kernel_w) = lw.shape().dims4()?;
    if c_w != c_in || kernel_w != kernel {
        candle_core::bail!("conv2d: kernel {:?} does not fit input {:?}", lw.dims(), lx.dims());
    }
    let g = ConvShape { batch, c_in, height, width, c_out, kernel, stride, padding };
    if let Some(problem) = g.problem() {
        candle_core::bail!("conv2d: {problem}");
    }
    Ok(g)
}

/// y = conv(x, w).
struct Conv {
    stride: usize,
    padding: usize,
    input_grad: bool,
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "conv2d-gemm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = conv_shape(l1, l2, self.stride, self.padding)?;
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |x, w| conv_fast::forward(&g, x, w));
        Ok((out, Shape::from((g.batch, g.c_out, g.out_height(), g.out_width()))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (stride, padding) = (self.stride, self.padding);
        let dx = if self.input_grad {
            Some(grad.apply_op2_no_bwd(w, &InputGrad { stride, padding, input: x.shape().clone() })?)
        } else {
            None
        };
        let dw = x.apply_op2_no_bwd(&grad, &WeightGrad { stride, padding, kernel: w.shape().clone() })?;
        Ok((dx, Some(dw)))
    }
}

/// dx from (dy, w); `input` is the shape of x.
struct InputGrad {
    stride: usize,
    padding: usize,
    input: Shape,
}

impl CustomOp2 for InputGrad {
    fn name(&self) -> &'static str {
        "conv2d-gemm-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = conv_shape(&Layout::contiguous(self.input.clone()), l2, self.stride, self.padding)?;
        if l1.dims() != [g.batch, g.c_out, g.out_height(), g.out_width()] {
            candle_core::bail!("{}: output gradient {:?} does not fit {g:?}", self.name(), l1.dims());
        }
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |dy, w| conv_fast::input_grad(&g, dy, w));
        Ok((out, self.input.clone()))
    }
}

/// dW from (x, dy); `kernel` is the shape of W.
struct WeightGrad {
    stride: usize,
    padding: usize,
    kernel: Shape,
}

impl CustomOp2 for WeightGrad {
    fn name(&self) -> &'static str {
        "conv2d-gemm-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = conv_shape(l1, &Layout::contiguous(self.kernel.clone()), self.stride, self.padding)?;
        if l2.dims() != [g.batch, g.c_out, g.out_height(), g.out_width()] {
            candle_core::bail!("{}: output gradient {:?} does not fit {g:?}", self.name(), l2.dims());
        }
        let out = float_op2!(self.name(), (s1, l1), (s2, l2), |x, dy| conv_fast::weight_grad(&g, x, dy));
        Ok((out, self.kernel.clone()))
    }
}

/// conv2d(x, w) with square kernels, zero padding `padding` and stride `stride`. On the CPU in `f32`/`f64` the
/// forward and backward passes are [`conv_gemm`]'s; elsewhere candle's operation.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize, input_grad: bool) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return Ok(x.contiguous()?.apply_op2(&w.contiguous()?, Conv { stride, padding, input_grad })?);
    }
    Ok(x.conv2d(w, padding, stride, 1, 1)?)
}
