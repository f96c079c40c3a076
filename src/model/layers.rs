//! Binary-capable linear and convolution layers.
//!
//! A layer optionally binarises its **input** (sign activations, as IR-Net's `BinarizeConv2d` does) and its
//! **weights** (scaled signs, see [`binarize`](super::binarize)). With `binary_input = false` and
//! `binary_weights = false` it is an ordinary real-valued layer, as the first and last layers are by default.
//! In the `latent` mode of [`Ctx`] every layer runs on its real latent weights and sign is replaced by hardtanh.

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::binarize::{self, SignZero, Ste, WeightScaling};
use super::store::{Init, ParamStore};
use crate::error::Result;

/// How a forward pass runs.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Train mode (batch statistics) or eval mode (running statistics).
    pub train: bool,
    /// `false` runs the latent full-precision counterpart: real weights, hardtanh for sign.
    pub binarize: bool,
    /// sign(0) convention.
    pub sign_zero: SignZero,
    /// Straight-through estimator state.
    pub ste: Ste,
}

impl Ctx {
    /// Eval mode of the deployed binary network.
    pub fn deployed(sign_zero: SignZero) -> Self {
        Ctx { train: false, binarize: true, sign_zero, ste: Ste::clipped() }
    }

    /// sign(x) with the estimator's gradient, or hardtanh(x) in latent mode.
    pub fn activation(&self, x: &Tensor) -> Result<Tensor> {
        if self.binarize { binarize::binarize(x, self.sign_zero, &self.ste) } else { binarize::hardtanh(x) }
    }
}

/// What is binary in a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binary {
    /// sign() is applied to the layer input.
    pub input: bool,
    /// The weights are scaled signs of the latent weights.
    pub weights: bool,
    /// The scaling of binary weights.
    pub scaling: WeightScaling,
}

impl Binary {
    /// A fully real layer.
    pub const REAL: Binary = Binary { input: false, weights: false, scaling: WeightScaling::None };
}

/// The weight a layer computes with in the given context.
fn effective_weight(weight: &Var, binary: Binary, ctx: &Ctx) -> Result<Tensor> {
    if binary.weights && ctx.binarize {
        binarize::binary_weight(weight.as_tensor(), binary.scaling, ctx.sign_zero, &ctx.ste)
    } else {
        Ok(weight.as_tensor().clone())
    }
}

fn input(x: &Tensor, binary: Binary, ctx: &Ctx) -> Result<Tensor> {
    if binary.input { ctx.activation(x) } else { Ok(x.clone()) }
}

/// y = [sign](x) · Wᵀ + b.
pub struct Linear {
    /// Latent weight, `(out, in)`.
    pub weight: Var,
    /// Optional bias, `(out,)`.
    pub bias: Option<Var>,
    /// What is binary.
    pub binary: Binary,
}

impl Linear {
    /// Creates (or loads) `name` with Kaiming-normal weights.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        (inputs, outputs): (usize, usize),
        bias: bool,
        binary: Binary,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let weight = store.param(
            &format!("{name}.weight"),
            &[outputs, inputs],
            Init::KaimingNormal { fan_in: inputs },
            true,
            rng,
        )?;
        let bias = if bias {
            let b = 1.0 / (inputs as f32).sqrt();
            Some(store.param(&format!("{name}.bias"), &[outputs], Init::Uniform(b), false, rng)?)
        } else {
            None
        };
        Ok(Linear { weight, bias, binary })
    }

    /// The weight used in `ctx` (binary weights scaled, or latent).
    pub fn weight_in(&self, ctx: &Ctx) -> Result<Tensor> {
        effective_weight(&self.weight, self.binary, ctx)
    }

    /// Applies the layer to `(n, in)`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let x = input(x, self.binary, ctx)?;
        let y = x.matmul(&self.weight_in(ctx)?.t()?)?;
        match &self.bias {
            Some(b) => Ok(y.broadcast_add(b.as_tensor())?),
            None => Ok(y),
        }
    }
}

/// y = conv2d([sign](x), W) with square kernels, zero padding and stride.
pub struct Conv2d {
    /// Latent weight, `(out, in, k, k)`.
    pub weight: Var,
    /// Zero padding on each side.
    pub padding: usize,
    /// Stride.
    pub stride: usize,
    /// What is binary.
    pub binary: Binary,
}

impl Conv2d {
    /// Creates (or loads) `name` with Kaiming-normal weights and no bias (a BatchNorm always follows).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        (inputs, outputs): (usize, usize),
        kernel: usize,
        stride: usize,
        padding: usize,
        binary: Binary,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let fan_in = inputs * kernel * kernel;
        let weight = store.param(
            &format!("{name}.weight"),
            &[outputs, inputs, kernel, kernel],
            Init::KaimingNormal { fan_in },
            true,
            rng,
        )?;
        Ok(Conv2d { weight, padding, stride, binary })
    }

    /// The weight used in `ctx`.
    pub fn weight_in(&self, ctx: &Ctx) -> Result<Tensor> {
        effective_weight(&self.weight, self.binary, ctx)
    }

    /// Applies the layer to `(n, c, h, w)`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let w = self.weight_in(ctx)?;
        if self.binary.input && ctx.binarize {
            let geometry = (self.stride, self.padding);
            return super::conv_op::conv2d_signed(x, &w, geometry, ctx.sign_zero, &ctx.ste);
        }
        let x_in = input(x, self.binary, ctx)?;
        // The first layer's input is data: it needs no gradient.
        super::conv_op::conv2d(&x_in, &w, self.stride, self.padding, x_in.track_op())
    }
}
