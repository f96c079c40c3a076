//! The convolution layers' candle operation on the CPU: forward pass and both gradients from
//! [`conv_fast`](super::conv_fast).
//!
//! candle's own CPU convolution computes the input gradient with `conv_transpose2d`, a direct loop of short dot
//! products (for stride 2 it was most of a ResNet training step), and the kernel gradient as a convolution of
//! the input with the output gradient, whose im2col tiles hold only the k² output pixels. Here all three are
//! matrix products on our kernels. `input_grad = false` skips the input gradient altogether (the first layer's
//! input is data), and [`conv2d_signed`] takes the signs of a binary layer's input inside the operation. On
//! other devices and element types candle's operations are used.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use super::binarize::{SignZero, Ste, binarize};
use super::conv_fast;
use super::conv_gemm::ConvShape;
use super::kernel::float_op2;
use super::ste_op::{SteGrad, signs};
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

/// y = conv(x, w), or conv(sign(x), w) with the estimator's gradient for x.
struct Conv {
    stride: usize,
    padding: usize,
    input_grad: bool,
    sign: Option<(SignZero, Ste)>,
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
        let out = match self.sign {
            Some((zero, _)) => {
                float_op2!(self.name(), (s1, l1), (s2, l2), |x, w| conv_fast::forward(&g, &signs(x, zero), w))
            }
            None => float_op2!(self.name(), (s1, l1), (s2, l2), |x, w| conv_fast::forward(&g, x, w)),
        };
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
            let dx = grad.apply_op2_no_bwd(w, &InputGrad { stride, padding, input: x.shape().clone() })?;
            Some(match self.sign {
                Some((_, ste)) => dx.apply_op2_no_bwd(x, &SteGrad { ste })?,
                None => dx,
            })
        } else {
            None
        };
        let sign = self.sign.map(|(zero, _)| zero);
        let dw =
            x.apply_op2_no_bwd(&grad, &WeightGrad { stride, padding, kernel: w.shape().clone(), sign })?;
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

/// dW from (x, dy) (or from (sign(x), dy)); `kernel` is the shape of W.
struct WeightGrad {
    stride: usize,
    padding: usize,
    kernel: Shape,
    sign: Option<SignZero>,
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
        let out = match self.sign {
            Some(zero) => float_op2!(self.name(), (s1, l1), (s2, l2), |x, dy| conv_fast::weight_grad(
                &g,
                &signs(x, zero),
                dy
            )),
            None => float_op2!(self.name(), (s1, l1), (s2, l2), |x, dy| conv_fast::weight_grad(&g, x, dy)),
        };
        Ok((out, self.kernel.clone()))
    }
}

/// conv2d(x, w) with square kernels, zero padding `padding` and stride `stride`. On the CPU in `f32`/`f64` the
/// forward and backward passes are [`conv_gemm`]'s; elsewhere candle's operation.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize, input_grad: bool) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        let op = Conv { stride, padding, input_grad, sign: None };
        return Ok(x.contiguous()?.apply_op2(&w.contiguous()?, op)?);
    }
    Ok(x.conv2d(w, padding, stride, 1, 1)?)
}

/// conv2d(sign(x), w) with the estimator `ste`'s gradient for x: a binary-input layer. On the CPU in
/// `f32`/`f64` the signs are taken inside the convolution, so that they are no tensor of the graph (whose
/// gradient candle would sum into a fresh tensor of zeros); elsewhere [`binarize`] then [`conv2d`]. The two
/// give the same values and gradients, bit for bit.
pub fn conv2d_signed(
    x: &Tensor,
    w: &Tensor,
    (stride, padding): (usize, usize),
    zero: SignZero,
    ste: &Ste,
) -> Result<Tensor> {
    let input_grad = x.track_op();
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        let op = Conv { stride, padding, input_grad, sign: Some((zero, *ste)) };
        return Ok(x.contiguous()?.apply_op2(&w.contiguous()?, op)?);
    }
    conv2d(&binarize(x, zero, ste)?, w, stride, padding, input_grad)
}
