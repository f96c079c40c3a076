//! Batch normalisation (Ioffe & Szegedy 2015) over the channel axis 1 of `(N, C)` or `(N, C, H, W)` inputs.
//!
//! Train mode normalises with the batch statistics (biased variance) and updates the running statistics
//! r ← (1 − m)·r + m·s (unbiased variance for r_var, as PyTorch does); eval mode uses the running statistics,
//! so that the layer is the fixed per-channel affine map y = γ(x − μ)/√(σ² + ε) + β that the verification IR
//! folds in.

use candle_core::{DType, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::store::{Init, ParamStore};
use crate::error::Result;

/// Numerical ε under the square root.
pub const BN_EPS: f64 = 1e-5;
/// Running-statistics momentum m.
pub const BN_MOMENTUM: f64 = 0.1;

/// A batch-normalisation layer.
pub struct BatchNorm {
    /// Scale γ.
    pub gamma: Var,
    /// Shift β.
    pub beta: Var,
    /// Running mean μ.
    pub running_mean: Var,
    /// Running variance σ².
    pub running_var: Var,
    channels: usize,
}

impl BatchNorm {
    /// Creates (or loads) the layer `name` over `channels` channels.
    pub fn new(store: &mut ParamStore, name: &str, channels: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        Ok(BatchNorm {
            gamma: store.param(&format!("{name}.gamma"), &[channels], Init::Const(1.0), false, rng)?,
            beta: store.param(&format!("{name}.beta"), &[channels], Init::Const(0.0), false, rng)?,
            running_mean: store.buffer(
                &format!("{name}.running_mean"),
                &[channels],
                Init::Const(0.0),
                rng,
            )?,
            running_var: store.buffer(&format!("{name}.running_var"), &[channels], Init::Const(1.0), rng)?,
            channels,
        })
    }

    fn shaped(&self, t: &Tensor, rank: usize) -> Result<Tensor> {
        Ok(match rank {
            2 => t.reshape((1, self.channels))?,
            _ => t.reshape((1, self.channels, 1, 1))?,
        })
    }

    /// Applies the layer; `train` selects batch statistics (and updates the running ones).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let rank = x.rank();
        let (mean, var) = if train {
            let dims: Vec<usize> = (0..rank).filter(|d| *d != 1).collect();
            let count = x.elem_count() / self.channels;
            let mean = x.mean_keepdim(dims.as_slice())?;
            let centred = x.broadcast_sub(&mean)?;
            let var = centred.sqr()?.mean_keepdim(dims.as_slice())?;
            let unbiased = (var.detach().flatten_all()? * (count as f64 / (count.max(2) - 1) as f64))?;
            let m = BN_MOMENTUM;
            let new_mean =
                ((self.running_mean.as_tensor() * (1.0 - m))? + (mean.detach().flatten_all()? * m)?)?;
            let new_var = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?;
            self.running_mean.set(&new_mean)?;
            self.running_var.set(&new_var)?;
            (mean, var)
        } else {
            (
                self.shaped(self.running_mean.as_tensor(), rank)?,
                self.shaped(self.running_var.as_tensor(), rank)?,
            )
        };
        let inv = (var + BN_EPS)?.sqrt()?.recip()?;
        let gamma = self.shaped(self.gamma.as_tensor(), rank)?;
        let beta = self.shaped(self.beta.as_tensor(), rank)?;
        Ok(x.broadcast_sub(&mean)?.broadcast_mul(&inv)?.broadcast_mul(&gamma)?.broadcast_add(&beta)?)
    }

    /// The eval-mode affine map as (scale, shift) per channel, in f64:
    /// scale = γ/√(σ² + ε), shift = β − μ·scale.
    pub fn folded(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let values =
            |v: &Var| -> Result<Vec<f64>> { Ok(v.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?) };
        let (g, b, m, v) = (
            values(&self.gamma)?,
            values(&self.beta)?,
            values(&self.running_mean)?,
            values(&self.running_var)?,
        );
        let mut scale = Vec::with_capacity(g.len());
        let mut shift = Vec::with_capacity(g.len());
        for c in 0..g.len() {
            let s = g[c] / (v[c] + BN_EPS).sqrt();
            scale.push(s);
            shift.push(b[c] - m[c] * s);
        }
        Ok((scale, shift))
    }
}
