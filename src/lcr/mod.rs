//! The Lipschitz-continuity-retention (LCR) regulariser.
//!
//! Loss = CE + λ·LCR with LCR = Σ_{k=1..K} β^{k−K} · mean_b (ρ(RM_{B,k,b}) − ρ(RM_{F,k,b}))², where ρ is a
//! [`PowerEstimate`] of a [`retention_matrix`]'s top singular value. λ = 0 is the plain BNN baseline. Two variants:
//!
//! * **layer** (the paper, Fig. 1a): for binary layer k mapping point p_{k−1} to point p_k (the real activations
//!   that feed the signs), RM_F from (p_{k−1}, p_k) and RM_B from (sign p_{k−1}, sign p_k) of the same network.
//!   Gradients reach the sign side through the straight-through estimator.
//! * **stage** (the released code, `LCR.py`): between consecutive stage outputs, RM of the student's hardtanh
//!   features against RM of a full-precision teacher's features (detached). The teacher is either the model's own
//!   latent counterpart (real weights, hardtanh; the README caption's "latent full-precision counterpart") or a
//!   full-precision model trained separately. Both run in eval mode.
//!
//! Departures from the released code, each deliberate: the learnable per-stage scalars `gamma` are left out (with
//! four free scalars for three terms they let the loss fall by rescaling, lcr-bnn.md §3.4); the teacher's BatchNorm
//! runs in eval mode (the code leaves it in train mode, so its statistics drift); the depth weight is β^{k−K}
//! (the code's 2^{−(K+1−k)} is the same with β = 2 up to a factor ½ absorbed into λ); the code's coefficient
//! alpha/(batch·10⁴) (6.25e-6 for alpha = 8, batch 128) is λ here. For MLPs, retention matrices use the batch as
//! the sample axis (see [`retention`]).

pub mod power;
pub mod retention;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

pub use power::PowerEstimate;
pub use retention::{retention_factors, retention_matrix};

use crate::error::{Error, Result};
use crate::model::binarize::hardtanh;
use crate::model::{Ctx, Forward};

/// Which features the regulariser compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LcrVariant {
    /// Per binary layer, sign features against real features of the same network (the paper).
    Layer,
    /// Per pair of consecutive stages, student against a full-precision teacher (the released code).
    Stage,
}

impl LcrVariant {
    /// Every variant.
    pub const ALL: [LcrVariant; 2] = [LcrVariant::Layer, LcrVariant::Stage];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            LcrVariant::Layer => "layer",
            LcrVariant::Stage => "stage",
        }
    }
}

/// The regulariser's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lcr {
    /// Variant.
    pub variant: LcrVariant,
    /// Depth weighting base β (term k of K weighs β^{k−K}).
    pub beta: f64,
    /// Spectral-norm proxy.
    pub estimate: PowerEstimate,
}

impl Lcr {
    /// The weight of term `k` (1-based) of `count`.
    pub fn depth_weight(&self, k: usize, count: usize) -> f64 {
        self.beta.powi(k as i32 - count as i32)
    }

    /// (ρ_a − ρ_b)² averaged over the retention matrices of one pair.
    fn term(&self, (xa, ya): (&Tensor, &Tensor), (xb, yb): (&Tensor, &Tensor)) -> Result<Tensor> {
        let (fa, ga) = retention_factors(xa, ya)?;
        let (fb, gb) = retention_factors(xb, yb)?;
        let ra = self.estimate.estimate_factored(&fa, &ga)?;
        let rb = self.estimate.estimate_factored(&fb, &gb)?;
        Ok((ra - rb)?.sqr()?.mean_all()?)
    }

    fn weighted_sum(&self, terms: Vec<Tensor>) -> Result<Tensor> {
        let count = terms.len();
        let mut total: Option<Tensor> = None;
        for (i, t) in terms.into_iter().enumerate() {
            let w = (t * self.depth_weight(i + 1, count))?;
            total = Some(match total {
                Some(acc) => (acc + w)?,
                None => w,
            });
        }
        total.ok_or_else(|| Error::config("lcr_variant", "the network has no pair of features to regularise"))
    }

    /// The per-layer terms of the layer variant, before weighting.
    pub fn layer_terms(&self, fwd: &Forward, ctx: &Ctx) -> Result<Vec<Tensor>> {
        let p = &fwd.points;
        let signs: Vec<Tensor> = p.iter().map(|t| ctx.activation(t)).collect::<Result<_>>()?;
        (1..p.len()).map(|k| self.term((&signs[k - 1], &signs[k]), (&p[k - 1], &p[k]))).collect()
    }

    /// The layer variant of the loss for one forward pass.
    pub fn layer_loss(&self, fwd: &Forward, ctx: &Ctx) -> Result<Tensor> {
        self.weighted_sum(self.layer_terms(fwd, ctx)?)
    }

    /// The stage variant: student stage features against the teacher's (detached).
    pub fn stage_loss(&self, student: &Forward, teacher: &Forward) -> Result<Tensor> {
        let features = |f: &Forward, detach: bool| -> Result<Vec<Tensor>> {
            f.stages
                .iter()
                .map(|&i| {
                    let h = hardtanh(&f.points[i])?;
                    Ok(if detach { h.detach() } else { h })
                })
                .collect()
        };
        let s = features(student, false)?;
        let t = features(teacher, true)?;
        if s.len() != t.len() {
            return Err(Error::config(
                "lcr_teacher",
                format!("the teacher has {} stages, the student {}", t.len(), s.len()),
            ));
        }
        for (a, b) in s.iter().zip(&t) {
            if a.dims()[1..] != b.dims()[1..] {
                return Err(Error::Shape {
                    context: "teacher stage features".into(),
                    expected: a.dims().to_vec(),
                    found: b.dims().to_vec(),
                });
            }
        }
        let terms =
            (1..s.len()).map(|k| self.term((&s[k - 1], &s[k]), (&t[k - 1], &t[k]))).collect::<Result<_>>()?;
        self.weighted_sum(terms)
    }
}
