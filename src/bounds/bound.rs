//! A bound as a value with provenance: method, function, soundness, norm, value, per-layer parts, time, details.

use serde::{Deserialize, Serialize};

use crate::ir::Function;

/// How far a number can be trusted (DESIGN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Soundness {
    /// A proven upper bound computed with outward rounding; its theorem is in `proofs/`.
    Certified,
    /// A proven lower bound.
    Lower,
    /// Neither: a heuristic value.
    Estimate,
}

impl Soundness {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Soundness::Certified => "certified",
            Soundness::Lower => "lower",
            Soundness::Estimate => "estimate",
        }
    }
}

/// What a Lipschitz value measures.
///
/// `L2`: ‖f(x) − f(y)‖₂ ≤ L‖x − y‖₂ for the whole logit map. The margin norms bound, for every pair t ≠ j,
/// |m_tj(x) − m_tj(y)| ≤ L_tj‖x − y‖_p with m_tj = f_t − f_j and p = 2, ∞ or 1; the entry's value is the
/// maximum over pairs and [`Bound::pairs`] lists each L_tj. (For ℓ∞ inputs L_tj = sup‖∇m_tj‖₁, for ℓ1 inputs
/// sup‖∇m_tj‖_∞.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    /// ℓ2 → ℓ2 of the logit map.
    L2,
    /// Pairwise margins, ℓ2 input.
    L2Margin,
    /// Pairwise margins, ℓ∞ input.
    LinfMargin,
    /// Pairwise margins, ℓ1 input.
    L1Margin,
}

impl Norm {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Norm::L2 => "l2",
            Norm::L2Margin => "l2-margin",
            Norm::LinfMargin => "linf-margin",
            Norm::L1Margin => "l1-margin",
        }
    }

    /// Whether the value is a maximum over class pairs.
    pub fn is_margin(self) -> bool {
        self != Norm::L2
    }
}

/// How a bound was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Product of certified per-layer operator norms (BN folded, residual 1 + L, pooling factors).
    SpectralProduct,
    /// The retention-matrix proxy exactly as the released regulariser computes it (one unnormalised step).
    RetentionReleased,
    /// The same proxy with power iteration run to convergence: σ₁(RM).
    RetentionConverged,
    /// σ(X·Yᵀ/N)/σ(X·Xᵀ/N) with Y = A·X: a proven lower bound on each binary layer's σ(A).
    RetentionNormalised,
    /// LipLP relaxation over the whole input space, value from a dual bound.
    LpGlobal,
    /// LipLP relaxation over a box around an input, value from a dual bound.
    LpLocal,
    /// Branch and bound on the LipLP relaxation: the maximum of certified leaf bounds over a cover of the input
    /// space, with a witnessed lower bound in its details.
    LpBab,
    /// Exact maximum over all activation patterns (FGL), by enumeration.
    ExactPatterns,
    /// Maximum over the linear regions that exist, each witnessed by an interior point: a lower bound equal
    /// to L when no region is lost.
    ExactRegions,
    /// Largest gradient (or Jacobian) norm seen at sample points: a lower bound.
    SampledGradient,
    /// Largest gradient (or Jacobian) norm at points found by climbing a smoothed gradient norm: a lower bound.
    GradientAscent,
    /// LipSDP-Neuron (Fazlyab et al. 2019): one multiplier per neuron, solved by a barrier method, value from
    /// multipliers proven feasible.
    #[serde(rename = "lipsdp-neuron")]
    LipSdpNeuron,
    /// Layer-uniform LipSDP multipliers in closed form, layer by layer (ECLipsE-Fast-style), proven feasible.
    #[serde(rename = "lipsdp-sequential")]
    LipSdpSequential,
    /// ℓ∞ margin constants from certified ℓ2 ones of the same function and scope: √n times the smallest per
    /// pair (‖x‖₂ ≤ √n‖x‖∞).
    NormConversion,
}

impl Method {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Method::SpectralProduct => "spectral-product",
            Method::RetentionReleased => "retention-released",
            Method::RetentionConverged => "retention-converged",
            Method::RetentionNormalised => "retention-normalised",
            Method::LpGlobal => "lp-global",
            Method::LpLocal => "lp-local",
            Method::LpBab => "lp-bab",
            Method::ExactPatterns => "exact-patterns",
            Method::ExactRegions => "exact-regions",
            Method::SampledGradient => "sampled-gradient",
            Method::GradientAscent => "gradient-ascent",
            Method::LipSdpNeuron => "lipsdp-neuron",
            Method::LipSdpSequential => "lipsdp-sequential",
            Method::NormConversion => "norm-conversion",
        }
    }
}

/// What the value is a bound on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The Lipschitz constant of the network function (in `norm`).
    Network,
    /// The product of the spectral norms of the binary layers listed in `per_layer` (retention entries): not a
    /// Lipschitz constant of the network.
    BinaryLayerProduct,
    /// The Lipschitz constant of the network restricted to the input box given in `detail.mode` (local LP
    /// entries): valid for pairs of inputs inside that box only.
    LocalBox,
    /// The Lipschitz constant of the network restricted to the input domain, the normalised pixel box recorded in
    /// `detail.domain`: valid for pairs of inputs that both lie in it (every image a perturbation of a valid image
    /// can be). Units that the box keeps on one piece of their activation are fixed.
    Domain,
}

impl Scope {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Network => "network",
            Scope::BinaryLayerProduct => "binary-layer-product",
            Scope::LocalBox => "local-box",
            Scope::Domain => "domain",
        }
    }
}

/// One layer's contribution to a bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerPart {
    /// Layer path in the net (`"3"`, `"5.body.1"`, `"2+3"` for a linear layer with its affine folded in).
    pub layer: String,
    /// Layer kind (`"dense+affine"`, `"conv2d"`, `"residual"`, ...).
    pub kind: String,
    /// The layer's value (for a spectral product: its certified upper factor).
    pub value: f64,
    /// A proven lower bound on the same layer quantity, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lower: Option<f64>,
    /// Method-specific details.
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub detail: serde_json::Value,
}

/// The Lipschitz constant of one class pair's margin m_tj = f_t − f_j.
///
/// |m_tj(x) − m_tj(y)| ≤ `value`·‖x − y‖_p for the input norm p of the bound's [`Norm`], within the bound's
/// [`Scope`]. Since m_jt = −m_tj, the same constant holds for (j, t); each unordered pair is stored once, t < j.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairConstant {
    /// The first class.
    pub t: usize,
    /// The second class.
    pub j: usize,
    /// L_tj, of the same soundness as the bound that lists it.
    pub value: f64,
}

/// Every unordered class pair (t, j) with t < j of `classes` classes, in the order pair lists are stored.
pub fn class_pairs(classes: usize) -> Vec<(usize, usize)> {
    (0..classes).flat_map(|t| (t + 1..classes).map(move |j| (t, j))).collect()
}

/// One bound with its provenance: one entry of `bounds.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// How it was obtained.
    pub method: Method,
    /// Which function of the network it is about.
    pub function: Function,
    /// How far it can be trusted.
    pub soundness: Soundness,
    /// What it measures.
    pub norm: Norm,
    /// What it bounds; also the scope of every constant in [`Bound::pairs`].
    pub scope: Scope,
    /// The value (for margin norms: the maximum of the pairwise constants).
    pub value: f64,
    /// The per-pair constants L_tj of a margin bound (empty when the bound is not pairwise).
    pub pairs: Vec<PairConstant>,
    /// Per-layer parts.
    pub per_layer: Vec<LayerPart>,
    /// Wall-clock seconds spent.
    pub seconds: f64,
    /// Solver statuses, gaps, iterations, sizes.
    pub detail: serde_json::Value,
    /// The `bound` request that computed it (set in `bounds.json`, where entries of several requests about the
    /// same model live side by side; `None` for a bound computed outside the stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<super::BoundRequest>,
}

impl Bound {
    /// L_tj for the class pair (t, j), in either order (L_tj = L_jt); `None` when the bound lists no constant
    /// for that pair (not a pairwise bound, or the pair was not computed).
    pub fn pair_value(&self, t: usize, j: usize) -> Option<f64> {
        self.pairs.iter().find(|p| (p.t, p.j) == (t, j) || (p.t, p.j) == (j, t)).map(|p| p.value)
    }
}
