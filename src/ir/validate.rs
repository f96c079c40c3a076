//! Shape inference and validation of a [`Net`]: every shape must match and every number must be finite.

use super::{ConvGeometry, Kernel, Layer, Net, layer_path};
use crate::error::{Error, Result};

fn describe(path: &str, layer: &Layer) -> String {
    format!("layer {path} ({})", layer.kind())
}

fn finite(check: bool, context: impl FnOnce() -> String, values: &[f64]) -> Result<()> {
    if !check {
        return Ok(());
    }
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite { context: format!("{} at index {i}", context()) }),
    }
}

fn shape_err(context: String, expected: Vec<usize>, found: Vec<usize>) -> Error {
    Error::Shape { context, expected, found }
}

fn image(ctx: &str, shape: &[usize]) -> Result<[usize; 3]> {
    match shape {
        &[c, h, w] => Ok([c, h, w]),
        _ => Err(Error::config(ctx, format!("needs an image input [c, h, w], found shape {shape:?}"))),
    }
}

fn positive(ctx: &str, what: &str, v: usize) -> Result<()> {
    if v == 0 { Err(Error::config(format!("{ctx} {what}"), "must be at least 1")) } else { Ok(()) }
}

fn check_kernel(check: bool, ctx: &str, name: &str, k: &Kernel, dims: [usize; 4]) -> Result<()> {
    if k.dims() != dims || k.data.len() != dims.iter().product::<usize>() {
        return Err(shape_err(
            format!("{ctx} {name}"),
            dims.to_vec(),
            vec![k.c_out, k.c_in, k.kh, k.kw, k.data.len()],
        ));
    }
    finite(check, || format!("{ctx} {name}"), &k.data)
}

fn pooled(ctx: &str, extent: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize> {
    positive(ctx, "kernel", kernel)?;
    positive(ctx, "stride", stride)?;
    if 2 * padding > kernel {
        return Err(Error::config(format!("{ctx} padding"), "must be at most half the kernel"));
    }
    match (extent + 2 * padding).checked_sub(kernel) {
        Some(d) => Ok(d / stride + 1),
        None => Err(Error::config(ctx, format!("window {kernel} does not fit an extent of {extent}"))),
    }
}

/// Checks one layer on `shape` and returns its output shape; `check` also scans every number for finiteness.
pub(crate) fn layer_output(path: &str, layer: &Layer, shape: &[usize], check: bool) -> Result<Vec<usize>> {
    let ctx = describe(path, layer);
    match layer {
        Layer::Dense { weight, latent, bias } => {
            let d: usize = shape.iter().product();
            if shape.len() != 1 || weight.ncols() != d {
                return Err(shape_err(
                    format!("{ctx} input (flatten first)"),
                    vec![weight.ncols()],
                    shape.to_vec(),
                ));
            }
            finite(check, || format!("{ctx} weight"), weight.as_slice())?;
            if let Some(l) = latent {
                if l.shape() != weight.shape() {
                    return Err(shape_err(
                        format!("{ctx} latent weight"),
                        vec![weight.nrows(), weight.ncols()],
                        vec![l.nrows(), l.ncols()],
                    ));
                }
                finite(check, || format!("{ctx} latent weight"), l.as_slice())?;
            }
            if let Some(b) = bias {
                if b.len() != weight.nrows() {
                    return Err(shape_err(format!("{ctx} bias"), vec![weight.nrows()], vec![b.len()]));
                }
                finite(check, || format!("{ctx} bias"), b.as_slice())?;
            }
            Ok(vec![weight.nrows()])
        }
        Layer::Conv2d { weight, latent, bias, stride, padding, in_shape } => {
            if shape != in_shape {
                return Err(shape_err(format!("{ctx} input"), in_shape.to_vec(), shape.to_vec()));
            }
            positive(&ctx, "stride", *stride)?;
            if weight.c_in != in_shape[0] || weight.kh == 0 || weight.kw == 0 || weight.c_out == 0 {
                return Err(shape_err(
                    format!("{ctx} kernel"),
                    vec![weight.c_out, in_shape[0], weight.kh, weight.kw],
                    weight.dims().to_vec(),
                ));
            }
            check_kernel(check, &ctx, "weight", weight, weight.dims())?;
            if let Some(l) = latent {
                check_kernel(check, &ctx, "latent weight", l, weight.dims())?;
            }
            if let Some(b) = bias {
                if b.len() != weight.c_out {
                    return Err(shape_err(format!("{ctx} bias"), vec![weight.c_out], vec![b.len()]));
                }
                finite(check, || format!("{ctx} bias"), b)?;
            }
            let g = ConvGeometry::new(weight, *in_shape, *stride, *padding);
            if g.out_h() == 0 || g.out_w() == 0 {
                return Err(Error::config(
                    ctx,
                    format!(
                        "kernel {}×{} does not fit input {in_shape:?} with padding {padding}",
                        weight.kh, weight.kw
                    ),
                ));
            }
            Ok(g.out_shape().to_vec())
        }
        Layer::Affine { scale, shift } => {
            let n = if shape.len() == 3 { shape[0] } else { shape.iter().product() };
            if scale.len() != n || shift.len() != n {
                return Err(shape_err(
                    format!("{ctx} scale/shift (per channel or feature)"),
                    vec![n, n],
                    vec![scale.len(), shift.len()],
                ));
            }
            finite(check, || format!("{ctx} scale"), scale)?;
            finite(check, || format!("{ctx} shift"), shift)?;
            Ok(shape.to_vec())
        }
        Layer::Sign | Layer::HardTanh | Layer::Relu => Ok(shape.to_vec()),
        Layer::Residual { body, shortcut } => {
            let b = layers_output(&format!("{path}.body"), body, shape, check)?;
            let s = layers_output(&format!("{path}.shortcut"), shortcut, shape, check)?;
            if b != s {
                return Err(shape_err(format!("{ctx}: shortcut output must match body output"), b, s));
            }
            Ok(b)
        }
        Layer::MaxPool { kernel, stride, padding } => {
            let [c, h, w] = image(&ctx, shape)?;
            Ok(vec![
                c,
                pooled(&ctx, h, *kernel, *stride, *padding)?,
                pooled(&ctx, w, *kernel, *stride, *padding)?,
            ])
        }
        Layer::AvgPool { kernel, stride } => {
            let [c, h, w] = image(&ctx, shape)?;
            Ok(vec![c, pooled(&ctx, h, *kernel, *stride, 0)?, pooled(&ctx, w, *kernel, *stride, 0)?])
        }
        Layer::GlobalAvgPool => {
            let [c, h, w] = image(&ctx, shape)?;
            if h * w == 0 {
                return Err(Error::config(ctx, "empty image"));
            }
            Ok(vec![c])
        }
        Layer::Flatten => Ok(vec![shape.iter().product()]),
    }
}

/// Checks a sequence of layers and returns the final shape.
pub(super) fn layers_output(
    prefix: &str,
    layers: &[Layer],
    shape: &[usize],
    check: bool,
) -> Result<Vec<usize>> {
    let mut shape = shape.to_vec();
    for (i, layer) in layers.iter().enumerate() {
        shape = layer_output(&layer_path(prefix, i), layer, &shape, check)?;
    }
    Ok(shape)
}

impl Net {
    /// Checks shapes through the whole network and the finiteness of every number.
    ///
    /// Errors name the layer (`layer 5.body.1 (conv2d)`) and what is wrong.
    pub fn validate(&self) -> Result<()> {
        self.shapes().map(|_| ())
    }

    /// The input shape of every top-level layer followed by the output shape (validating on the way).
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        if !(self.input_shape.len() == 1 || self.input_shape.len() == 3) || self.input_len() == 0 {
            return Err(Error::config(
                "net input_shape",
                format!("must be [d] or [c, h, w], found {:?}", self.input_shape),
            ));
        }
        let mut shapes = vec![self.input_shape.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let next = layer_output(&i.to_string(), layer, shapes.last().expect("non-empty"), true)?;
            shapes.push(next);
        }
        let out = shapes.last().expect("non-empty");
        if out != &vec![self.classes] {
            return Err(shape_err("net output (logits)".into(), vec![self.classes], out.clone()));
        }
        Ok(shapes)
    }
}
