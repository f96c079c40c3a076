//! Optimisers and the learning-rate schedule.
//!
//! candle-nn's SGD has neither momentum nor weight decay and its AdamW decays every variable, so both are written
//! here over the [`ParamStore`]: weight decay applies only to the weights of linear and convolution layers (not to
//! BatchNorm parameters or biases), and the state can be saved in a checkpoint and restored bit for bit.
//!
//! * SGD with momentum μ and coupled decay λ (PyTorch's form): b ← μ·b + g + λ·w; w ← w − η·b.
//! * AdamW (Loshchilov & Hutter 2019): w ← w·(1 − ηλ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
//!   w ← w − η·m̂/(√v̂ + ε) with bias corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
//! * Cosine schedule (Loshchilov & Hutter 2017) per step, after an optional linear warm-up.

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ParamStore;

/// AdamW β₁.
pub const ADAM_BETA1: f64 = 0.9;
/// AdamW β₂.
pub const ADAM_BETA2: f64 = 0.999;
/// AdamW ε.
pub const ADAM_EPS: f64 = 1e-8;

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum and coupled weight decay.
    Sgd,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl OptimizerKind {
    /// Every optimiser.
    pub const ALL: [OptimizerKind; 2] = [OptimizerKind::Sgd, OptimizerKind::Adamw];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adamw => "adamw",
        }
    }
}

/// Learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Cosine annealing to zero over the run.
    Cosine,
    /// Constant.
    Constant,
}

/// The learning rate at `step` of `total`, with `warmup` linear warm-up steps.
pub fn learning_rate(base: f64, schedule: Schedule, step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => base,
        Schedule::Cosine => {
            let span = (total - warmup).max(1) as f64;
            let t = (step - warmup) as f64 / span;
            0.5 * base * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    decay: bool,
    first: Vec<f32>,
    second: Vec<f32>,
}

/// An optimiser over the trainable parameters of a store.
///
/// The update runs as one fused loop per parameter over plain `f32` buffers (split over threads), rather than
/// a dozen tensor operations that each allocate and sweep memory.
pub struct Optimizer {
    kind: OptimizerKind,
    momentum: f64,
    weight_decay: f64,
    slots: Vec<Slot>,
    /// Steps taken so far.
    pub step: usize,
}

/// Elements per parallel work item of the fused update.
const CHUNK: usize = 1 << 14;

impl Optimizer {
    /// Creates zeroed state for every parameter of `store`.
    pub fn new(kind: OptimizerKind, store: &ParamStore, momentum: f64, weight_decay: f64) -> Result<Self> {
        let slots = store
            .params()
            .iter()
            .map(|(name, var)| {
                let n = var.elem_count();
                Slot {
                    name: name.clone(),
                    var: var.clone(),
                    decay: store.decays(name),
                    first: vec![0.0; n],
                    second: if kind == OptimizerKind::Adamw { vec![0.0; n] } else { Vec::new() },
                }
            })
            .collect();
        Ok(Optimizer { kind, momentum, weight_decay, slots, step: 0 })
    }

    /// One update with learning rate `lr`. Parameters without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (kind, momentum) = (self.kind, self.momentum as f32);
        let bias1 = 1.0 - ADAM_BETA1.powi(t);
        let bias2 = 1.0 - ADAM_BETA2.powi(t);
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else { continue };
            let g = g.flatten_all()?.to_vec1::<f32>()?;
            let mut w = slot.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let decay = if slot.decay { self.weight_decay } else { 0.0 };
            match kind {
                OptimizerKind::Sgd => {
                    let (lr, decay) = (lr as f32, decay as f32);
                    w.par_chunks_mut(CHUNK)
                        .zip(slot.first.par_chunks_mut(CHUNK))
                        .zip(g.par_chunks(CHUNK))
                        .for_each(|((w, b), g)| {
                            for i in 0..w.len() {
                                b[i] = momentum * b[i] + g[i] + decay * w[i];
                                w[i] -= lr * b[i];
                            }
                        });
                }
                OptimizerKind::Adamw => {
                    let shrink = (1.0 - lr * decay) as f32;
                    let (b1, b2) = (ADAM_BETA1 as f32, ADAM_BETA2 as f32);
                    let (c1, c2, lr, eps) = (bias1 as f32, bias2 as f32, lr as f32, ADAM_EPS as f32);
                    w.par_chunks_mut(CHUNK)
                        .zip(slot.first.par_chunks_mut(CHUNK))
                        .zip(slot.second.par_chunks_mut(CHUNK))
                        .zip(g.par_chunks(CHUNK))
                        .for_each(|(((w, m), v), g)| {
                            for i in 0..w.len() {
                                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                                let update = (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
                                w[i] = w[i] * shrink - lr * update;
                            }
                        });
                }
            }
            let shape = slot.var.shape().clone();
            slot.var.set(&Tensor::from_vec(w, shape, slot.var.device())?)?;
        }
        Ok(())
    }

    /// The state as named tensors (`m/<param>`, `v/<param>`), for checkpoints.
    pub fn state(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for slot in &self.slots {
            let shape = slot.var.shape().clone();
            let device = slot.var.device();
            out.insert(
                format!("m/{}", slot.name),
                Tensor::from_vec(slot.first.clone(), shape.clone(), device)?,
            );
            if self.kind == OptimizerKind::Adamw {
                out.insert(format!("v/{}", slot.name), Tensor::from_vec(slot.second.clone(), shape, device)?);
            }
        }
        Ok(out)
    }

    /// Restores the state saved by [`Optimizer::state`] after `step` steps.
    pub fn restore(&mut self, state: &BTreeMap<String, Tensor>, step: usize) -> Result<()> {
        let get = |key: String, n: usize| -> Result<Vec<f32>> {
            let t = state
                .get(&key)
                .ok_or_else(|| Error::config(&key, "optimiser state missing from the checkpoint"))?;
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            if v.len() != n {
                return Err(Error::config(key, format!("{} values for a parameter of {n}", v.len())));
            }
            Ok(v)
        };
        for slot in &mut self.slots {
            let n = slot.first.len();
            slot.first = get(format!("m/{}", slot.name), n)?;
            if self.kind == OptimizerKind::Adamw {
                slot.second = get(format!("v/{}", slot.name), n)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_starts_at_base_and_ends_near_zero() {
        assert_eq!(learning_rate(0.1, Schedule::Cosine, 0, 100, 0), 0.1);
        assert!((learning_rate(0.1, Schedule::Cosine, 50, 100, 0) - 0.05).abs() < 1e-12);
        assert!(learning_rate(0.1, Schedule::Cosine, 99, 100, 0) < 1e-4);
        assert_eq!(learning_rate(0.1, Schedule::Constant, 99, 100, 0), 0.1);
        assert!((learning_rate(0.1, Schedule::Cosine, 0, 100, 10) - 0.01).abs() < 1e-12);
    }
}
