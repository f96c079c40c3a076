//! The forward pass of a [`Net`] in each of the three functions, and the points feeding the signs.

use super::validate::layer_output;
use super::{ConvGeometry, Function, Layer, Net, SignZero, conv2d, layer_path, sign};
use crate::error::{Error, Result};

/// A real activation with its shape (CHW order for images).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The values.
    pub values: Vec<f64>,
    /// `[d]` or `[c, h, w]`.
    pub shape: Vec<usize>,
}

/// The result of [`Net::forward_points`].
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// The network output.
    pub logits: Vec<f64>,
    /// The points in order (see the module documentation of [`crate::ir`]).
    pub points: Vec<Point>,
}

/// Max pooling of one image; also returns, for each output, the input index it selected.
pub(crate) fn max_pool(
    x: &[f64],
    shape: &[usize],
    kernel: usize,
    stride: usize,
    padding: usize,
) -> (Vec<f64>, Vec<usize>) {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let oh = (h + 2 * padding - kernel) / stride + 1;
    let ow = (w + 2 * padding - kernel) / stride + 1;
    let mut out = Vec::with_capacity(c * oh * ow);
    let mut arg = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let (mut best, mut at) = (f64::NEG_INFINITY, usize::MAX);
                for a in 0..kernel {
                    let r = (i * stride + a) as isize - padding as isize;
                    if r < 0 || r >= h as isize {
                        continue;
                    }
                    for b in 0..kernel {
                        let q = (j * stride + b) as isize - padding as isize;
                        if q < 0 || q >= w as isize {
                            continue;
                        }
                        let idx = (ch * h + r as usize) * w + q as usize;
                        if x[idx] > best || at == usize::MAX {
                            best = x[idx];
                            at = idx;
                        }
                    }
                }
                out.push(best);
                arg.push(at);
            }
        }
    }
    (out, arg)
}

/// Average pooling (no padding) of one image.
pub(crate) fn avg_pool(x: &[f64], shape: &[usize], kernel: usize, stride: usize) -> Vec<f64> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
    let norm = (kernel * kernel) as f64;
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let mut s = 0.0;
                for a in 0..kernel {
                    let row = (ch * h + i * stride + a) * w + j * stride;
                    s += x[row..row + kernel].iter().sum::<f64>();
                }
                out.push(s / norm);
            }
        }
    }
    out
}

/// Applies one layer; `shape` is the input shape and the output shape is returned with the values.
pub(crate) fn apply(
    path: &str,
    layer: &Layer,
    function: Function,
    zero: SignZero,
    x: Vec<f64>,
    shape: &[usize],
) -> Result<(Vec<f64>, Vec<usize>)> {
    let out_shape = layer_output(path, layer, shape, false)?;
    let y = match layer {
        Layer::Dense { bias, .. } => {
            let w = layer.dense_weight(function).expect("dense");
            let mut y = super::matvec::mul(w, &x);
            if let Some(b) = bias {
                y.iter_mut().zip(b.iter()).for_each(|(v, b)| *v += b);
            }
            y
        }
        Layer::Conv2d { bias, stride, padding, in_shape, .. } => {
            let k = layer.conv_kernel(function).expect("conv");
            let g = ConvGeometry::new(k, *in_shape, *stride, *padding);
            let mut y = conv2d(k, &g, &x);
            if let Some(b) = bias {
                let per = g.out_h() * g.out_w();
                y.iter_mut().enumerate().for_each(|(i, v)| *v += b[i / per]);
            }
            y
        }
        Layer::Affine { scale, shift } => {
            let per = if shape.len() == 3 { shape[1] * shape[2] } else { 1 };
            x.iter().enumerate().map(|(i, v)| scale[i / per] * v + shift[i / per]).collect()
        }
        Layer::Sign if function == Function::Deployed => x.iter().map(|&v| sign(v, zero)).collect(),
        Layer::Sign | Layer::HardTanh => x.iter().map(|v| v.clamp(-1.0, 1.0)).collect(),
        Layer::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        Layer::Residual { body, shortcut } => {
            let b = run(&format!("{path}.body"), body, function, zero, x.clone(), shape)?.0;
            let s = run(&format!("{path}.shortcut"), shortcut, function, zero, x, shape)?.0;
            b.iter().zip(&s).map(|(u, v)| u + v).collect()
        }
        Layer::MaxPool { kernel, stride, padding } => max_pool(&x, shape, *kernel, *stride, *padding).0,
        Layer::AvgPool { kernel, stride } => avg_pool(&x, shape, *kernel, *stride),
        Layer::GlobalAvgPool => {
            let per = shape[1] * shape[2];
            x.chunks(per).map(|c| c.iter().sum::<f64>() / per as f64).collect()
        }
        Layer::Flatten => x,
    };
    Ok((y, out_shape))
}

/// Runs a sequence of layers.
pub(crate) fn run(
    prefix: &str,
    layers: &[Layer],
    function: Function,
    zero: SignZero,
    mut x: Vec<f64>,
    shape: &[usize],
) -> Result<(Vec<f64>, Vec<usize>)> {
    let mut shape = shape.to_vec();
    for (i, layer) in layers.iter().enumerate() {
        (x, shape) = apply(&layer_path(prefix, i), layer, function, zero, x, &shape)?;
    }
    Ok((x, shape))
}

impl Net {
    fn check_input(&self, x: &[f64]) -> Result<()> {
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
        Ok(())
    }

    /// The network output for input `x` (flat, CHW order) under `function`.
    ///
    /// The net is assumed validated ([`Net::validate`]); shapes are still checked on the way.
    pub fn forward(&self, x: &[f64], function: Function) -> Result<Vec<f64>> {
        self.check_input(x)?;
        Ok(run("", &self.layers, function, self.sign_zero, x.to_vec(), &self.input_shape)?.0)
    }

    /// The output together with the points (the real activations feeding the signs; see [`crate::ir`]).
    pub fn forward_points(&self, x: &[f64], function: Function) -> Result<Forward> {
        self.check_input(x)?;
        let last_sign = self.layers.iter().rposition(Layer::contains_sign);
        let mut points = Vec::new();
        let mut record_after = false;
        let (mut v, mut shape) = (x.to_vec(), self.input_shape.clone());
        for (i, layer) in self.layers.iter().enumerate() {
            if record_after && !matches!(layer, Layer::HardTanh | Layer::Relu) {
                points.push(Point { values: v.clone(), shape: shape.clone() });
                record_after = false;
            }
            if layer.contains_sign() {
                points.push(Point { values: v.clone(), shape: shape.clone() });
                record_after = Some(i) == last_sign && matches!(layer, Layer::Residual { .. });
            }
            (v, shape) = apply(&i.to_string(), layer, function, self.sign_zero, v, &shape)?;
        }
        if record_after {
            points.push(Point { values: v.clone(), shape });
        }
        Ok(Forward { logits: v, points })
    }
}
