//! The small binary CNN.
//!
//! ```text
//! x → conv0 3×3 (real) → maxpool 2 → bn0 = p₀ → [sign → conv_k 3×3 (binary) → maxpool 2 → bn_k = p_k]ₖ₌₁..K
//!   → flatten → sign → head (real) → logits
//! ```
//! `widths = [c₀, …, c_K]`: the stem has c₀ channels and block k has c_k. Every convolution is followed by a
//! 2×2 max-pool (28 → 14 → 7 → 3 on MNIST), which keeps the cost of the binary convolutions low. Pooling comes
//! before BatchNorm and sign, so that it acts on real values (max-pooling ±1 values would mostly give +1).

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::batchnorm::BatchNorm;
use super::layers::{Binary, Conv2d, Ctx, Linear};
use super::pool_op::max_pool2;
use super::store::ParamStore;
use super::{Forward, ModelSpec};
use crate::error::Result;

/// A binary convolutional network.
pub struct Cnn {
    /// Stem convolution.
    pub stem: Conv2d,
    /// Binary 3×3 convolutions, one per block.
    pub convs: Vec<Conv2d>,
    /// BatchNorm after the stem and after each block's pooling.
    pub norms: Vec<BatchNorm>,
    /// Classifier on the signs of the flattened last block.
    pub head: Linear,
    /// Spatial size (h, w) after each point.
    pub sizes: Vec<(usize, usize)>,
}

impl Cnn {
    pub(super) fn new(spec: &ModelSpec, store: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let w = &spec.widths;
        let [c, mut h, mut wd] = spec.input;
        let bin = |weights| Binary { input: true, weights, scaling: spec.weight_scaling };
        let stem_binary = Binary { input: false, ..bin(!spec.real_first) };
        let stem = Conv2d::new(store, "conv0", (c, w[0]), 3, 1, 1, stem_binary, rng)?;
        let mut norms = vec![BatchNorm::new(store, "bn0", w[0], rng)?];
        let mut convs = Vec::new();
        h /= 2;
        wd /= 2;
        let mut sizes = vec![(h, wd)];
        for k in 1..w.len() {
            convs.push(Conv2d::new(store, &format!("conv{k}"), (w[k - 1], w[k]), 3, 1, 1, bin(true), rng)?);
            norms.push(BatchNorm::new(store, &format!("bn{k}"), w[k], rng)?);
            h /= 2;
            wd /= 2;
            sizes.push((h, wd));
        }
        let features = w[w.len() - 1] * h * wd;
        let head = Linear::new(store, "head", (features, spec.classes), true, bin(!spec.real_last), rng)?;
        Ok(Cnn { stem, convs, norms, head, sizes })
    }

    pub(super) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Forward> {
        let mut h = self.norms[0].forward(&max_pool2(&self.stem.forward(x, ctx)?)?, ctx.train)?;
        let mut points = vec![h.clone()];
        for (conv, norm) in self.convs.iter().zip(&self.norms[1..]) {
            let y = max_pool2(&conv.forward(&h, ctx)?)?;
            h = norm.forward(&y, ctx.train)?;
            points.push(h.clone());
        }
        let logits = self.head.forward(&h.flatten_from(1)?, ctx)?;
        let stages = (0..points.len()).collect();
        Ok(Forward { logits, points, stages })
    }

    pub(super) fn binary_weight_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.stem.binary.weights {
            names.push("conv0.weight".to_string());
        }
        names.extend((1..=self.convs.len()).map(|k| format!("conv{k}.weight")));
        if self.head.binary.weights {
            names.push("head.weight".to_string());
        }
        names
    }
}
