//! The Bi-Real/IR-Net-style binary ResNet (Liu et al. ECCV 2018; Qin et al. CVPR 2020).
//!
//! ```text
//! x → stem 3×3 conv (real) → BN → hardtanh = p₀
//! unit:  p → hardtanh( BN(conv3×3_binary(sign p)) + shortcut(p) ) = next point
//!        shortcut = identity, or (first unit of a later stage) real 1×1 stride-2 conv + BN
//! head:  global average pool → BN → linear (real) → logits
//! ```
//! `widths` are the channels of each stage (the stem has the first stage's width); `blocks` is the number of
//! units (binary convolutions, each with its own shortcut) per stage.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::batchnorm::BatchNorm;
use super::layers::{Binary, Conv2d, Ctx, Linear};
use super::store::ParamStore;
use super::{Forward, ModelSpec};
use crate::error::Result;

/// The real 1×1 stride-2 projection of a downsampling shortcut.
pub struct Downsample {
    /// 1×1 convolution.
    pub conv: Conv2d,
    /// Its BatchNorm.
    pub norm: BatchNorm,
}

/// One residual unit around a binary convolution.
pub struct Unit {
    /// Binary 3×3 convolution (stride 2 in the first unit of a later stage).
    pub conv: Conv2d,
    /// Its BatchNorm.
    pub norm: BatchNorm,
    /// Projection shortcut, or `None` for the identity.
    pub down: Option<Downsample>,
    /// Whether this unit ends its stage.
    pub ends_stage: bool,
}

/// A binary ResNet.
pub struct ResNet {
    /// Stem convolution.
    pub stem: Conv2d,
    /// Stem BatchNorm.
    pub stem_norm: BatchNorm,
    /// Residual units in order.
    pub units: Vec<Unit>,
    /// BatchNorm on the pooled features.
    pub head_norm: BatchNorm,
    /// Classifier.
    pub head: Linear,
}

impl ResNet {
    pub(super) fn new(spec: &ModelSpec, store: &mut ParamStore, rng: &mut ChaCha8Rng) -> Result<Self> {
        let w = &spec.widths;
        let bin = Binary { input: true, weights: true, scaling: spec.weight_scaling };
        let stem_binary = Binary { input: false, weights: !spec.real_first, scaling: spec.weight_scaling };
        let stem = Conv2d::new(store, "stem.conv", (spec.input[0], w[0]), 3, 1, 1, stem_binary, rng)?;
        let stem_norm = BatchNorm::new(store, "stem.bn", w[0], rng)?;
        let mut units = Vec::new();
        let mut channels = w[0];
        for (s, &width) in w.iter().enumerate() {
            for u in 0..spec.blocks {
                let name = format!("s{s}.u{u}");
                let stride = if s > 0 && u == 0 { 2 } else { 1 };
                let conv =
                    Conv2d::new(store, &format!("{name}.conv"), (channels, width), 3, stride, 1, bin, rng)?;
                let norm = BatchNorm::new(store, &format!("{name}.bn"), width, rng)?;
                let down = if stride != 1 || channels != width {
                    let conv = Conv2d::new(
                        store,
                        &format!("{name}.down.conv"),
                        (channels, width),
                        1,
                        stride,
                        0,
                        Binary::REAL,
                        rng,
                    )?;
                    Some(Downsample {
                        conv,
                        norm: BatchNorm::new(store, &format!("{name}.down.bn"), width, rng)?,
                    })
                } else {
                    None
                };
                units.push(Unit { conv, norm, down, ends_stage: u + 1 == spec.blocks });
                channels = width;
            }
        }
        let head_norm = BatchNorm::new(store, "head_bn", channels, rng)?;
        let head_binary = Binary { input: false, weights: !spec.real_last, scaling: spec.weight_scaling };
        let head = Linear::new(store, "head", (channels, spec.classes), true, head_binary, rng)?;
        Ok(ResNet { stem, stem_norm, units, head_norm, head })
    }

    pub(super) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Forward> {
        let mut h = self.stem_norm.forward_clamped(&self.stem.forward(x, ctx)?, None, ctx.train)?;
        let mut points = vec![h.clone()];
        let mut stages = Vec::new();
        for unit in &self.units {
            let body = unit.conv.forward(&h, ctx)?;
            let shortcut = match &unit.down {
                Some(d) => d.norm.forward(&d.conv.forward(&h, ctx)?, ctx.train)?,
                None => h.clone(),
            };
            h = unit.norm.forward_clamped(&body, Some(&shortcut), ctx.train)?;
            points.push(h.clone());
            if unit.ends_stage {
                stages.push(points.len() - 1);
            }
        }
        let pooled = h.mean((2, 3))?;
        let logits = self.head.forward(&self.head_norm.forward(&pooled, ctx.train)?, ctx)?;
        Ok(Forward { logits, points, stages })
    }

    pub(super) fn binary_weight_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.stem.binary.weights {
            names.push("stem.conv.weight".to_string());
        }
        names.extend(self.unit_names().into_iter().map(|n| format!("{n}.conv.weight")));
        if self.head.binary.weights {
            names.push("head.weight".to_string());
        }
        names
    }

    fn unit_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut stage = 0;
        let mut index = 0;
        for unit in &self.units {
            names.push(format!("s{stage}.u{index}"));
            index += 1;
            if unit.ends_stage {
                stage += 1;
                index = 0;
            }
        }
        names
    }
}
