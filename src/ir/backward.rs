//! Vector–Jacobian products of a [`Net`]: the input gradient of any scalar read off the logits.
//!
//! [`Net::value_and_grad`] runs the forward pass of [`Net::forward`] (bit for bit the same values) while it
//! records what each layer's derivative needs, then pulls an output cotangent c back to the input:
//! g = J(x)ᵀ c, where J is the Jacobian of the logits. Per layer, with u the layer's input and ḡ the cotangent
//! of its output:
//!
//! | layer | cotangent of the input |
//! |---|---|
//! | Dense y = Wu + b | Wᵀḡ |
//! | Conv2d | convᵀ(ḡ) ([`conv2d_transpose`]) |
//! | Affine y = s ⊙ u + t | s ⊙ ḡ |
//! | HardTanh | 1[\|u\| < 1] ⊙ ḡ |
//! | Relu | 1[u > 0] ⊙ ḡ |
//! | Sign, `surrogate`/`latent` (hardtanh) | 1[\|u\| < 1] ⊙ ḡ |
//! | Sign, `deployed` | 1[\|u\| ≤ 1] ⊙ ḡ (straight-through estimator) |
//! | Residual | the sum of both branches' pull-backs |
//! | MaxPool | ḡ routed to the input each window selected in the forward pass (ties: the first in the window) |
//! | AvgPool, GlobalAvgPool | ḡ/(window size) spread over the window |
//! | Flatten | ḡ |
//!
//! For `surrogate` and `latent` this is the true gradient wherever it exists (almost everywhere: away from the
//! kinks |u| = 1, u = 0 and max-pool ties). The `deployed` function is piecewise constant, its true gradient is
//! zero almost everywhere; there the forward pass is the exact sign network and only the backward pass replaces
//! each sign by the straight-through estimator ∂sign(u)/∂u ≈ 1[|u| ≤ 1] (Backward Pass Differentiable
//! Approximation, BPDA: Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security",
//! ICML 2018; the estimator of Hubara et al., NeurIPS 2016). The result is then a search direction, not a
//! derivative.

use super::forward::{apply, max_pool};
use super::{ConvGeometry, conv2d_transpose};
use super::{Function, Layer, Net, SignZero, layer_path};
use crate::error::{Error, Result};

/// What the backward pass of one layer needs from its forward pass.
enum Step {
    /// Dense or convolution: the layer itself holds the weights.
    Linear,
    /// Per-channel affine map; `per` values share a factor.
    Affine { per: usize },
    /// An element-wise activation: its derivative (0 or 1) at the layer input.
    Mask(Vec<bool>),
    /// Residual block: the tapes of both branches.
    Residual { body: Vec<Step>, shortcut: Vec<Step> },
    /// Max pooling: the input index each output selected, and the input length.
    MaxPool { arg: Vec<usize>, inputs: usize },
    /// Average pooling on the given input shape.
    AvgPool { shape: Vec<usize> },
    /// Global average pooling over `per` positions.
    GlobalAvgPool { per: usize },
    /// Flatten (the identity on values).
    Flatten,
}

/// Runs `layers` forward, returning the output, its shape and the tape.
fn forward_tape(
    prefix: &str,
    layers: &[Layer],
    function: Function,
    zero: SignZero,
    mut x: Vec<f64>,
    shape: &[usize],
) -> Result<(Vec<f64>, Vec<usize>, Vec<Step>)> {
    let mut shape = shape.to_vec();
    let mut tape = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let path = layer_path(prefix, i);
        let step = match layer {
            Layer::Dense { .. } | Layer::Conv2d { .. } => Step::Linear,
            Layer::Affine { .. } => {
                Step::Affine { per: if shape.len() == 3 { shape[1] * shape[2] } else { 1 } }
            }
            Layer::Sign if function == Function::Deployed => {
                Step::Mask(x.iter().map(|u| u.abs() <= 1.0).collect())
            }
            Layer::Sign | Layer::HardTanh => Step::Mask(x.iter().map(|u| u.abs() < 1.0).collect()),
            Layer::Relu => Step::Mask(x.iter().map(|&u| u > 0.0).collect()),
            Layer::Residual { body, shortcut } => {
                let (b, out_shape, bt) =
                    forward_tape(&format!("{path}.body"), body, function, zero, x.clone(), &shape)?;
                let (s, _, st) =
                    forward_tape(&format!("{path}.shortcut"), shortcut, function, zero, x, &shape)?;
                x = b.iter().zip(&s).map(|(u, v)| u + v).collect();
                shape = out_shape;
                tape.push(Step::Residual { body: bt, shortcut: st });
                continue;
            }
            Layer::MaxPool { kernel, stride, padding } => {
                let out_shape = super::layer_output(&path, layer, &shape, false)?;
                let (y, arg) = max_pool(&x, &shape, *kernel, *stride, *padding);
                tape.push(Step::MaxPool { arg, inputs: x.len() });
                x = y;
                shape = out_shape;
                continue;
            }
            Layer::AvgPool { .. } => Step::AvgPool { shape: shape.clone() },
            Layer::GlobalAvgPool => {
                Step::GlobalAvgPool { per: shape.get(1).zip(shape.get(2)).map_or(1, |(h, w)| h * w) }
            }
            Layer::Flatten => Step::Flatten,
        };
        (x, shape) = apply(&path, layer, function, zero, x, &shape)?;
        tape.push(step);
    }
    Ok((x, shape, tape))
}

/// Pulls the cotangent `g` of the output of `layers` back to their input (the tape from [`forward_tape`]).
fn backward(layers: &[Layer], tape: &[Step], function: Function, mut g: Vec<f64>) -> Vec<f64> {
    for (layer, step) in layers.iter().zip(tape).rev() {
        g = match (layer, step) {
            (Layer::Dense { .. }, _) => {
                let w = layer.dense_weight(function).expect("dense");
                (w.tr_mul(&nalgebra::DVector::from_vec(g))).data.into()
            }
            (Layer::Conv2d { stride, padding, in_shape, .. }, _) => {
                let k = layer.conv_kernel(function).expect("conv");
                conv2d_transpose(k, &ConvGeometry::new(k, *in_shape, *stride, *padding), &g)
            }
            (Layer::Affine { scale, .. }, Step::Affine { per }) => {
                g.iter().enumerate().map(|(i, v)| scale[i / per] * v).collect()
            }
            (_, Step::Mask(mask)) => g.iter().zip(mask).map(|(v, &m)| if m { *v } else { 0.0 }).collect(),
            (Layer::Residual { body, shortcut }, Step::Residual { body: bt, shortcut: st }) => {
                let b = backward(body, bt, function, g.clone());
                let s = backward(shortcut, st, function, g);
                b.iter().zip(&s).map(|(u, v)| u + v).collect()
            }
            (_, Step::MaxPool { arg, inputs }) => {
                let mut out = vec![0.0; *inputs];
                for (v, &a) in g.iter().zip(arg) {
                    if a != usize::MAX {
                        out[a] += v;
                    }
                }
                out
            }
            (Layer::AvgPool { kernel, stride }, Step::AvgPool { shape }) => {
                avg_pool_backward(&g, shape, *kernel, *stride)
            }
            (_, Step::GlobalAvgPool { per }) => {
                g.iter().flat_map(|v| std::iter::repeat_n(v / *per as f64, *per)).collect()
            }
            (_, Step::Flatten) => g,
            _ => unreachable!("the tape is recorded from the same layers"),
        };
    }
    g
}

/// The adjoint of average pooling: each output's cotangent divided by k² and added to its window.
fn avg_pool_backward(g: &[f64], shape: &[usize], kernel: usize, stride: usize) -> Vec<f64> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
    let norm = (kernel * kernel) as f64;
    let mut out = vec![0.0; c * h * w];
    for ch in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let v = g[(ch * oh + i) * ow + j] / norm;
                for a in 0..kernel {
                    let row = (ch * h + i * stride + a) * w + j * stride;
                    out[row..row + kernel].iter_mut().for_each(|o| *o += v);
                }
            }
        }
    }
    out
}

impl Net {
    /// The logits z = f(x) of `function` and the input gradient Jᵀc of the scalar c·z, where the output
    /// cotangent c = `cotangent(z)` is chosen from the logits of the same pass (e.g. e_j − e_t for the margin
    /// z_j − z_t with j the runner-up class).
    ///
    /// The logits equal [`Net::forward`]'s bit for bit. For [`Function::Surrogate`] and [`Function::Latent`]
    /// the gradient is the true one wherever the network is differentiable; for [`Function::Deployed`] it is
    /// the BPDA straight-through direction (see the module documentation of this file).
    ///
    /// Errors: a wrong-length or non-finite input, or a cotangent whose length is not the number of classes
    /// or which holds a non-finite value.
    pub fn value_and_grad(
        &self,
        x: &[f64],
        function: Function,
        cotangent: &dyn Fn(&[f64]) -> Vec<f64>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        if x.len() != self.input_len() {
            return Err(Error::Shape {
                context: "network input".into(),
                expected: self.input_shape.clone(),
                found: vec![x.len()],
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { context: format!("network input at index {i}") });
        }
        let (logits, _, tape) =
            forward_tape("", &self.layers, function, self.sign_zero, x.to_vec(), &self.input_shape)?;
        let c = cotangent(&logits);
        if c.len() != logits.len() {
            return Err(Error::Shape {
                context: "output cotangent".into(),
                expected: vec![logits.len()],
                found: vec![c.len()],
            });
        }
        if c.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { context: "output cotangent".into() });
        }
        let g = backward(&self.layers, &tape, function, c);
        Ok((logits, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_pool_adjoint_matches_forward() {
        // <pool(x), g> = <x, poolᵀ(g)> on a 2×4×4 image with a 2×2 window at stride 2 and 3×3 at stride 1.
        let shape = [2usize, 4, 4];
        let x: Vec<f64> = (0..32).map(|i| (i as f64 * 0.37).sin()).collect();
        for (k, s) in [(2, 2), (3, 1)] {
            let y = super::super::forward::avg_pool(&x, &shape, k, s);
            let g: Vec<f64> = (0..y.len()).map(|i| (i as f64 * 0.71).cos()).collect();
            let lhs: f64 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
            let xt = avg_pool_backward(&g, &shape, k, s);
            let rhs: f64 = x.iter().zip(&xt).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        }
    }
}
