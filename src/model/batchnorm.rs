//! Batch normalisation (Ioffe & Szegedy 2015) over the channel axis 1 of `(N, C)` or `(N, C, H, W)` inputs.
//!
//! Train mode normalises with the batch statistics (biased variance) and updates the running statistics
//! r ← (1 − m)·r + m·s (unbiased variance for r_var, as PyTorch does); eval mode uses the running statistics,
//! so that the layer is the fixed per-channel affine map y = γ(x − μ)/√(σ² + ε) + β that the verification IR
//! folds in.

use candle_core::{DType, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::binarize::hardtanh;
use super::bn_clamp_op::NormalizeClamp;
use super::bn_op::{ChannelStats, Normalize};
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
    ///
    /// On the CPU this runs the fused kernels of [`bn_op`](super::bn_op); elsewhere [`BatchNorm::forward_generic`].
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
            return self.forward_fused(x, train);
        }
        self.forward_generic(x, train)
    }

    fn update_running(&self, mean: &[f64], var: &[f64], count: usize) -> Result<()> {
        let m = BN_MOMENTUM;
        let unbiased = count as f64 / (count.max(2) - 1) as f64;
        let blend = |running: &Var, batch: &[f64], factor: f64| -> Result<()> {
            let old = running.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let new: Vec<f64> = old.iter().zip(batch).map(|(r, b)| (1.0 - m) * r + m * b * factor).collect();
            let t = Tensor::from_vec(new, old.len(), running.device())?.to_dtype(running.dtype())?;
            Ok(running.set(&t)?)
        };
        blend(&self.running_mean, mean, 1.0)?;
        blend(&self.running_var, var, unbiased)
    }

    /// The statistics the layer normalises with, as (μ, 1/√(σ² + ε)) per channel: the batch's in train mode
    /// (the running ones are updated), the running ones in eval mode.
    fn statistics(&self, x: &Tensor, train: bool) -> Result<Normalize> {
        let (mean, var) = if train {
            let stats = x.apply_op1_no_bwd(&ChannelStats)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
            self.update_running(&stats[0], &stats[1], x.elem_count() / self.channels)?;
            (stats[0].clone(), stats[1].clone())
        } else {
            let values =
                |v: &Var| -> Result<Vec<f64>> { Ok(v.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?) };
            (values(&self.running_mean)?, values(&self.running_var)?)
        };
        let inv_std = var.iter().map(|v| 1.0 / (v + BN_EPS).sqrt()).collect();
        Ok(Normalize { mean, inv_std, batch: train })
    }

    fn forward_fused(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = x.contiguous()?;
        let op = self.statistics(&x, train)?;
        Ok(x.apply_op3(self.gamma.as_tensor(), self.beta.as_tensor(), op)?)
    }

    /// hardtanh(BN(z) + shortcut), or hardtanh(BN(z)) without a shortcut: the end of a ResNet unit.
    ///
    /// On the CPU this is one fused kernel ([`NormalizeClamp`]) with the composition's values and gradients;
    /// elsewhere the composition of [`BatchNorm::forward`], an addition and [`hardtanh`].
    pub fn forward_clamped(&self, z: &Tensor, shortcut: Option<&Tensor>, train: bool) -> Result<Tensor> {
        if !(z.device().is_cpu() && matches!(z.dtype(), DType::F32 | DType::F64)) {
            let y = self.forward(z, train)?;
            return hardtanh(&match shortcut {
                Some(s) => (y + s)?,
                None => y,
            });
        }
        let z = z.contiguous()?;
        let op = NormalizeClamp(self.statistics(&z, train)?);
        let gb = Tensor::cat(&[self.gamma.as_tensor(), self.beta.as_tensor()], 0)?;
        Ok(match shortcut {
            Some(s) => z.apply_op3(&s.contiguous()?, &gb, op)?,
            None => z.apply_op2(&gb, op)?,
        })
    }

    /// The same layer composed from generic tensor operations (any device).
    pub fn forward_generic(&self, x: &Tensor, train: bool) -> Result<Tensor> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::SeedableRng;

    /// Relative tolerance between the fused and generic forms (f32 arithmetic in different orders).
    const TOL: f32 = 2e-4;

    fn close(a: &Tensor, b: &Tensor) {
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= TOL * y.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn fused_and_generic_batchnorm_agree_in_values_gradients_and_statistics() {
        let dev = Device::Cpu;
        for dims in [vec![16usize, 5], vec![4, 3, 5, 7]] {
            for train in [true, false] {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
                let (mut sa, mut sb) = (ParamStore::new(&dev), ParamStore::new(&dev));
                let a = BatchNorm::new(&mut sa, "bn", dims[1], &mut rng).unwrap();
                let b = BatchNorm::new(&mut sb, "bn", dims[1], &mut rng).unwrap();
                for bn in [&a, &b] {
                    bn.gamma
                        .set(&Tensor::new(&[0.5f32, 2.0, -1.0, 1.5, 0.7][..dims[1]], &dev).unwrap())
                        .unwrap();
                    bn.running_var
                        .set(&Tensor::new(&[0.5f32, 2.0, 3.0, 1.0, 0.2][..dims[1]], &dev).unwrap())
                        .unwrap();
                }
                let x = candle_core::Var::from_tensor(
                    &(Tensor::randn(0f32, 2.0, dims.as_slice(), &dev).unwrap() + 1.0).unwrap(),
                )
                .unwrap();
                let w = Tensor::randn(0f32, 1.0, dims.as_slice(), &dev).unwrap();
                let ya = a.forward(x.as_tensor(), train).unwrap();
                let yb = b.forward_generic(x.as_tensor(), train).unwrap();
                close(&ya, &yb);
                let ga = (ya * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let gb = (yb * &w).unwrap().sum_all().unwrap().backward().unwrap();
                for (va, vb) in [
                    (x.as_tensor(), x.as_tensor()),
                    (a.gamma.as_tensor(), b.gamma.as_tensor()),
                    (a.beta.as_tensor(), b.beta.as_tensor()),
                ] {
                    close(ga.get(va).unwrap(), gb.get(vb).unwrap());
                }
                close(a.running_mean.as_tensor(), b.running_mean.as_tensor());
                close(a.running_var.as_tensor(), b.running_var.as_tensor());
            }
        }
    }
}
