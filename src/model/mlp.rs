//! The binary MLP.
//!
//! ```text
//! x → flatten → fc0 (real) → bn0 = p₀ → [sign → fc_k (binary) → bn_k = p_k]ₖ₌₁..K → sign → head (real) → logits
//! ```
//! `widths = [w₀, …, w_K]` gives fc0: d→w₀, fc_k: w_{k−1}→w_k and head: w_K→classes.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::batchnorm::BatchNorm;
use super::layers::{Binary, Ctx, Linear};
use super::store::ParamStore;
use super::{Forward, ModelSpec};
use crate::error::{Error, Result};

/// A binary multi-layer perceptron.
pub struct Mlp {
    /// First layer (real input; real weights unless `real_first` is off).
    pub first: Linear,
    /// Binary hidden layers fc1..fcK.
    pub hidden: Vec<Linear>,
    /// BatchNorm after fc0..fcK.
    pub norms: Vec<BatchNorm>,
    /// Classifier on the signs of the last hidden layer.
    pub head: Linear,
}

impl Mlp {
    pub(super) fn new(spec: &ModelSpec, store: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let inputs =
            spec.input_len().ok_or_else(|| Error::config("input", "the number of input values overflows"))?;
        let w = &spec.widths;
        let bin = |weights| Binary { input: true, weights, scaling: spec.weight_scaling };
        let first_binary = Binary { input: false, ..bin(!spec.real_first) };
        let first = Linear::new(store, "fc0", (inputs, w[0]), false, first_binary, rng)?;
        let mut norms = vec![BatchNorm::new(store, "bn0", w[0], rng)?];
        let mut hidden = Vec::new();
        for k in 1..w.len() {
            hidden.push(Linear::new(store, &format!("fc{k}"), (w[k - 1], w[k]), false, bin(true), rng)?);
            norms.push(BatchNorm::new(store, &format!("bn{k}"), w[k], rng)?);
        }
        let head =
            Linear::new(store, "head", (w[w.len() - 1], spec.classes), true, bin(!spec.real_last), rng)?;
        Ok(Mlp { first, hidden, norms, head })
    }

    pub(super) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Forward> {
        let x = x.flatten_from(1)?;
        let mut h = self.norms[0].forward(&self.first.forward(&x, ctx)?, ctx.train)?;
        let mut points = vec![h.clone()];
        for (layer, norm) in self.hidden.iter().zip(&self.norms[1..]) {
            h = norm.forward(&layer.forward(&h, ctx)?, ctx.train)?;
            points.push(h.clone());
        }
        let logits = self.head.forward(&h, ctx)?;
        let stages = (0..points.len()).collect();
        Ok(Forward { logits, points, stages })
    }

    pub(super) fn binary_weight_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.first.binary.weights {
            names.push("fc0.weight".to_string());
        }
        names.extend((1..=self.hidden.len()).map(|k| format!("fc{k}.weight")));
        if self.head.binary.weights {
            names.push("head.weight".to_string());
        }
        names
    }
}
