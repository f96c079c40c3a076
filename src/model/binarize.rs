//! Sign binarisation with straight-through gradients, and binary weight scaling.
//!
//! Forward values are exactly ±1 (or 0 under the `zero` convention); gradients come from a smooth surrogate s(x)
//! by the identity `out = sign(x)ᵈ + (s(x) − s(x)ᵈ)`, where ᵈ marks a value detached from the graph. Since
//! `a − a = 0` exactly in IEEE arithmetic, the forward value is the sign itself, bit for bit, and the gradient is
//! s′(x). Two estimators:
//!
//! * **clipped identity** (hardtanh, Courbariaux et al. 2016): s′(x) = 1 for |x| ≤ 1, else 0;
//! * **EDE** (IR-Net, Qin et al. CVPR 2020): s(x) = k·tanh(t·x), s′(x) = k·t·(1 − tanh²(t·x)), with
//!   t = 10^(log₁₀T_min + (log₁₀T_max − log₁₀T_min)·e/E) at epoch e of E and k = max(1/t, 1).
//!
//! Weight scaling per output channel c: none; XNOR-Net's α_c = mean|w_c|; or IR-Net's "Libra-PB":
//! ŵ = (w − mean_c)/std_c, then s_c = 2^round(log₂ mean|ŵ_c|) (detached), weight = s_c·sign(ŵ).

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use crate::ir::SignZero;

/// The straight-through estimator used for the gradient of sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SteKind {
    /// Clipped identity: gradient 1 on [−1, 1], 0 outside.
    Clipped,
    /// IR-Net's error-decay estimator k·t·(1 − tanh²(t·x)) with its epoch schedule.
    Ede,
}

impl SteKind {
    /// Every estimator.
    pub const ALL: [SteKind; 2] = [SteKind::Clipped, SteKind::Ede];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            SteKind::Clipped => "clipped",
            SteKind::Ede => "ede",
        }
    }
}

/// How binary weights are scaled per output channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightScaling {
    /// Plain ±1 weights.
    None,
    /// XNOR-Net: α_c = mean |w_c| (gradient flows through α).
    Mean,
    /// IR-Net: standardise per channel, then a detached power-of-two scale.
    Irnet,
}

impl WeightScaling {
    /// Every scaling.
    pub const ALL: [WeightScaling; 3] = [WeightScaling::None, WeightScaling::Mean, WeightScaling::Irnet];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            WeightScaling::None => "none",
            WeightScaling::Mean => "mean",
            WeightScaling::Irnet => "irnet",
        }
    }
}

/// The state of the straight-through estimator for the current epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ste {
    /// Which estimator.
    pub kind: SteKind,
    /// EDE sharpness t (unused by the clipped identity).
    pub t: f64,
    /// EDE gain k (unused by the clipped identity).
    pub k: f64,
}

impl Ste {
    /// The clipped identity.
    pub fn clipped() -> Self {
        Ste { kind: SteKind::Clipped, t: 1.0, k: 1.0 }
    }

    /// The estimator for epoch `epoch` of `epochs` (EDE: IR-Net's schedule between `t_min` and `t_max`).
    pub fn for_epoch(kind: SteKind, epoch: usize, epochs: usize, t_min: f64, t_max: f64) -> Self {
        match kind {
            SteKind::Clipped => Ste::clipped(),
            SteKind::Ede => {
                let frac = epoch as f64 / epochs.max(1) as f64;
                let t = 10f64.powf(t_min.log10() + (t_max.log10() - t_min.log10()) * frac);
                Ste { kind, t, k: (1.0 / t).max(1.0) }
            }
        }
    }
}

/// sign(x) under the chosen convention, with no gradient.
pub fn sign(x: &Tensor, zero: SignZero) -> Result<Tensor> {
    let s = match zero {
        SignZero::PlusOne => x.ge(0.0)?.to_dtype(x.dtype())?.affine(2.0, -1.0)?,
        SignZero::Zero => x.sign()?,
    };
    Ok(s.detach())
}

/// sign(x) in the forward pass, the estimator's surrogate derivative in the backward pass.
///
/// On the CPU this is one fused kernel ([`SignSte`](super::ste_op::SignSte)); elsewhere it is
/// [`binarize_generic`]. The two agree exactly.
pub fn binarize(x: &Tensor, zero: SignZero, ste: &Ste) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return Ok(x.contiguous()?.apply_op1(super::ste_op::SignSte { zero, ste: *ste })?);
    }
    binarize_generic(x, zero, ste)
}

/// [`binarize`] composed from generic tensor operations: `sign(x)ᵈ + (s(x) − s(x)ᵈ)`.
pub fn binarize_generic(x: &Tensor, zero: SignZero, ste: &Ste) -> Result<Tensor> {
    let value = sign(x, zero)?;
    let surrogate = match ste.kind {
        SteKind::Clipped => {
            let inside = x.abs()?.le(1.0)?.to_dtype(x.dtype())?.detach();
            (x * inside)?
        }
        SteKind::Ede => (x * ste.t)?.tanh()?.affine(ste.k, 0.0)?,
    };
    let zero_with_grad = (&surrogate - surrogate.detach())?;
    Ok((value + zero_with_grad)?)
}

/// hardtanh(x) = clamp(x, −1, 1), the surrogate of sign in the `latent` and `surrogate` functions.
///
/// On the CPU this is one fused kernel ([`HardTanh`](super::clamp_op::HardTanh)); elsewhere candle's `clamp`.
/// The two agree exactly, gradients included.
pub fn hardtanh(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return Ok(x.contiguous()?.apply_op1(super::clamp_op::HardTanh)?);
    }
    Ok(x.clamp(-1.0, 1.0)?)
}

/// Per-output-channel statistics view: `(out, rest)`.
fn rows(w: &Tensor) -> Result<Tensor> {
    let out = w.dim(0)?;
    Ok(w.reshape((out, ()))?)
}

/// The binary weight actually used by a layer: scale_c · sign(ŵ), shaped like `w`.
///
/// The gradient reaches the latent weights through the estimator `ste` (and through α for `Mean`).
pub fn binary_weight(w: &Tensor, scaling: WeightScaling, zero: SignZero, ste: &Ste) -> Result<Tensor> {
    let shape = w.shape().clone();
    let flat = rows(w)?;
    let bin = match scaling {
        WeightScaling::None => binarize(&flat, zero, ste)?,
        WeightScaling::Mean => {
            let alpha = flat.abs()?.mean_keepdim(1)?;
            binarize(&flat, zero, ste)?.broadcast_mul(&alpha)?
        }
        WeightScaling::Irnet => {
            let n = flat.dim(1)?;
            let mean = flat.mean_keepdim(1)?;
            let centred = flat.broadcast_sub(&mean)?;
            let denom = (n.max(2) - 1) as f64;
            let std = (centred.sqr()?.sum_keepdim(1)? / denom)?.sqrt()?;
            let standard = centred.broadcast_div(&(std + STD_FLOOR)?)?;
            let scale = power_of_two_scale(&standard)?;
            binarize(&standard, zero, ste)?.broadcast_mul(&scale)?
        }
    };
    Ok(bin.reshape(shape)?)
}

/// Added to per-channel standard deviations so that a constant channel does not divide by zero.
pub const STD_FLOOR: f64 = 1e-8;

/// 2^round(log₂ mean|ŵ_c|) per row, detached (IR-Net).
fn power_of_two_scale(standard: &Tensor) -> Result<Tensor> {
    let mean_abs = standard.abs()?.mean_keepdim(1)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let scales: Vec<f64> =
        mean_abs.iter().map(|r| if r[0] > 0.0 { 2f64.powf(r[0].log2().round()) } else { 1.0 }).collect();
    Ok(Tensor::from_vec(scales, (mean_abs.len(), 1), standard.device())?.to_dtype(standard.dtype())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn grad_of(f: impl Fn(&Tensor) -> Result<Tensor>, xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let x = Var::new(xs, &Device::Cpu).unwrap();
        let y = f(x.as_tensor()).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        (y.to_vec1().unwrap(), grads.get(x.as_tensor()).unwrap().to_vec1().unwrap())
    }

    #[test]
    fn sign_conventions_at_zero() {
        let x = Tensor::new(&[-2f32, 0.0, 3.0], &Device::Cpu).unwrap();
        assert_eq!(sign(&x, SignZero::PlusOne).unwrap().to_vec1::<f32>().unwrap(), [-1.0, 1.0, 1.0]);
        assert_eq!(sign(&x, SignZero::Zero).unwrap().to_vec1::<f32>().unwrap(), [-1.0, 0.0, 1.0]);
    }

    #[test]
    fn clipped_identity_gradient_is_the_indicator_of_the_unit_interval() {
        let xs = [-1.5f32, -1.0, -0.3, 0.0, 0.7, 1.0, 2.0];
        let (y, g) = grad_of(|x| binarize(x, SignZero::PlusOne, &Ste::clipped()), &xs);
        assert_eq!(y, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(g, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn ede_gradient_matches_its_definition() {
        let ste = Ste::for_epoch(SteKind::Ede, 3, 10, 1e-3, 10.0);
        let want_t = 10f64.powf(-3.0 + 4.0 * 0.3);
        assert!((ste.t - want_t).abs() < 1e-12 && (ste.k - 1.0 / want_t).abs() < 1e-9);
        let xs = [-0.8f32, -0.1, 0.0, 0.25, 2.0];
        let (y, g) = grad_of(|x| binarize(x, SignZero::PlusOne, &ste), &xs);
        assert_eq!(y, [-1.0, -1.0, 1.0, 1.0, 1.0]);
        for (x, got) in xs.iter().zip(g) {
            let th = (ste.t * *x as f64).tanh();
            let want = ste.k * ste.t * (1.0 - th * th);
            assert!((got as f64 - want).abs() < 1e-5 * want.max(1.0), "x={x}: {got} vs {want}");
        }
    }

    #[test]
    fn fused_and_generic_binarisation_agree_in_value_and_gradient() {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.05).collect();
        for ste in [Ste::clipped(), Ste::for_epoch(SteKind::Ede, 7, 10, 1e-3, 10.0)] {
            for zero in [SignZero::PlusOne, SignZero::Zero] {
                let fused = grad_of(|x| binarize(x, zero, &ste), &xs);
                let generic = grad_of(|x| binarize_generic(x, zero, &ste), &xs);
                assert_eq!(fused.0, generic.0);
                for (a, b) in fused.1.iter().zip(&generic.1) {
                    assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn ede_schedule_runs_from_t_min_to_t_max() {
        let first = Ste::for_epoch(SteKind::Ede, 0, 100, 1e-3, 10.0);
        let last = Ste::for_epoch(SteKind::Ede, 100, 100, 1e-3, 10.0);
        assert!((first.t - 1e-3).abs() < 1e-15 && (first.k - 1000.0).abs() < 1e-9);
        assert!((last.t - 10.0).abs() < 1e-12 && last.k == 1.0);
    }

    #[test]
    fn weight_scalings_have_their_defined_values() {
        let w = Tensor::new(&[[0.5f32, -0.25, 0.25, -1.0], [2.0, 2.0, -2.0, 0.0]], &Device::Cpu).unwrap();
        let ste = Ste::clipped();
        let plain = binary_weight(&w, WeightScaling::None, SignZero::PlusOne, &ste).unwrap();
        assert_eq!(plain.to_vec2::<f32>().unwrap(), [[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, 1.0]]);
        let mean = binary_weight(&w, WeightScaling::Mean, SignZero::PlusOne, &ste).unwrap();
        assert_eq!(mean.to_vec2::<f32>().unwrap(), [[0.5, -0.5, 0.5, -0.5], [1.5, 1.5, -1.5, 1.5]]);
        let ir = binary_weight(&w, WeightScaling::Irnet, SignZero::PlusOne, &ste)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for row in &ir {
            // Every entry is ±s with s a power of two.
            let s = row[0].abs();
            assert!(row.iter().all(|v| v.abs() == s) && s.log2().fract() == 0.0, "{row:?}");
        }
        // Row 0: mean −0.125, so signs of w + 0.125 are (+, −, +, −).
        assert!(ir[0][0] > 0.0 && ir[0][1] < 0.0 && ir[0][2] > 0.0 && ir[0][3] < 0.0);
    }
}
