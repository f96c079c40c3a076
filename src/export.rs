//! Export: the only bridge from a candle [`Model`] to the verification IR ([`Net`]).
//!
//! The model is read in `f64` (a model in another type is converted first), and every deployed weight is taken
//! from the same code path that computes it in the forward pass ([`Linear::weight_in`] in the deployed context), so
//! the IR's deployed forward and candle's eval forward compute the same function in the same arithmetic; a test
//! holds them equal on the MNIST test set. BatchNorm layers are folded into per-channel affine maps with their
//! running statistics (eval mode). `latent` holds a binary layer's raw latent parameter, which is what the latent
//! forward in candle uses.

use candle_core::{DType, Tensor};
use nalgebra::{DMatrix, DVector};

use crate::error::Result;
use crate::ir::{Kernel, Layer, Net};
use crate::model::batchnorm::BatchNorm;
use crate::model::layers::{Conv2d, Linear};
use crate::model::{Arch, Ctx, Model};

fn matrix(t: &Tensor) -> Result<DMatrix<f64>> {
    let rows = t.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let (r, c) = (rows.len(), rows.first().map_or(0, |row| row.len()));
    Ok(DMatrix::from_row_iterator(r, c, rows.into_iter().flatten()))
}

fn kernel(t: &Tensor) -> Result<Kernel> {
    let (o, i, kh, kw) = t.dims4()?;
    Kernel::new(o, i, kh, kw, t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

fn dense(layer: &Linear, ctx: &Ctx) -> Result<Layer> {
    Ok(Layer::Dense {
        weight: matrix(&layer.weight_in(ctx)?)?,
        latent: if layer.binary.weights { Some(matrix(layer.weight.as_tensor())?) } else { None },
        bias: match &layer.bias {
            Some(b) => Some(DVector::from_vec(b.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?)),
            None => None,
        },
    })
}

fn conv(layer: &Conv2d, ctx: &Ctx, in_shape: [usize; 3]) -> Result<Layer> {
    Ok(Layer::Conv2d {
        weight: kernel(&layer.weight_in(ctx)?)?,
        latent: if layer.binary.weights { Some(kernel(layer.weight.as_tensor())?) } else { None },
        bias: None,
        stride: layer.stride,
        padding: layer.padding,
        in_shape,
    })
}

/// γ and β of every BatchNorm, in the order of the net's affine layers (depth first).
pub type Norms = Vec<(Vec<f64>, Vec<f64>)>;

fn affine(bn: &BatchNorm, norms: &mut Norms) -> Result<Layer> {
    let (scale, shift) = bn.folded()?;
    let values = |v: &candle_core::Var| -> Result<Vec<f64>> {
        Ok(v.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?)
    };
    norms.push((values(&bn.gamma)?, values(&bn.beta)?));
    Ok(Layer::Affine { scale, shift })
}

fn pool() -> Layer {
    Layer::MaxPool { kernel: 2, stride: 2, padding: 0 }
}

/// The model as a verification net (`f64`, eval-mode BatchNorm folded).
pub fn export(model: &Model) -> Result<Net> {
    Ok(export_with_norms(model)?.0)
}

/// [`export`], with the γ and β of every BatchNorm in the order of the net's affine layers (depth first), for
/// refitting their statistics (`crate::latent_bn`).
pub fn export_with_norms(model: &Model) -> Result<(Net, Norms)> {
    let mut norms = Norms::new();
    let n = &mut norms;
    let converted;
    let model = if model.store.dtype() == DType::F64 {
        model
    } else {
        converted = model.converted(DType::F64)?;
        &converted
    };
    let spec = &model.spec;
    let ctx = Ctx::deployed(spec.sign_zero);
    let mut layers = Vec::new();
    match spec.arch {
        Arch::Mlp => {
            let m = model.as_mlp().expect("an MLP spec builds an MLP");
            layers.push(Layer::Flatten);
            layers.push(dense(&m.first, &ctx)?);
            layers.push(affine(&m.norms[0], n)?);
            for (fc, bn) in m.hidden.iter().zip(&m.norms[1..]) {
                layers.extend([Layer::Sign, dense(fc, &ctx)?, affine(bn, n)?]);
            }
            layers.extend([Layer::Sign, dense(&m.head, &ctx)?]);
        }
        Arch::Cnn => {
            let m = model.as_cnn().expect("a CNN spec builds a CNN");
            let [c, h, w] = spec.input;
            layers.extend([conv(&m.stem, &ctx, [c, h, w])?, pool(), affine(&m.norms[0], n)?]);
            let mut channels = spec.widths[0];
            for (k, (cv, bn)) in m.convs.iter().zip(&m.norms[1..]).enumerate() {
                let (h, w) = m.sizes[k];
                layers.extend([Layer::Sign, conv(cv, &ctx, [channels, h, w])?, pool(), affine(bn, n)?]);
                channels = spec.widths[k + 1];
            }
            layers.extend([Layer::Flatten, Layer::Sign, dense(&m.head, &ctx)?]);
        }
        Arch::Resnet => {
            let m = model.as_resnet().expect("a ResNet spec builds a ResNet");
            let [c, mut h, mut w] = spec.input;
            layers.extend([conv(&m.stem, &ctx, [c, h, w])?, affine(&m.stem_norm, n)?, Layer::HardTanh]);
            let mut channels = spec.widths[0];
            for unit in &m.units {
                let out_channels = unit.conv.weight.dims()[0];
                let body =
                    vec![Layer::Sign, conv(&unit.conv, &ctx, [channels, h, w])?, affine(&unit.norm, n)?];
                let shortcut = match &unit.down {
                    Some(d) => vec![conv(&d.conv, &ctx, [channels, h, w])?, affine(&d.norm, n)?],
                    None => Vec::new(),
                };
                layers.extend([Layer::Residual { body, shortcut }, Layer::HardTanh]);
                let s = unit.conv.stride;
                h = (h + 2 * unit.conv.padding - 3) / s + 1;
                w = (w + 2 * unit.conv.padding - 3) / s + 1;
                channels = out_channels;
            }
            layers.extend([Layer::GlobalAvgPool, affine(&m.head_norm, n)?, dense(&m.head, &ctx)?]);
        }
    }
    let net =
        Net { input_shape: spec.input.to_vec(), classes: spec.classes, sign_zero: spec.sign_zero, layers };
    net.validate()?;
    Ok((net, norms))
}
