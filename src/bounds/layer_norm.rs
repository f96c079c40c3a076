//! Operator norms of single layers in ℓ2, ℓ∞ and ℓ1 (theorems S1–S6, S10 and C1–C4 of `proofs/`).
//!
//! Every `upper` is certified (outward rounding, proofs cited per function); every `lower` is proven; an
//! `estimate` (an SVD value) is neither and is only reported.

use nalgebra::{DMatrix, SVD};
use serde_json::json;

use super::Norm;
use super::conv_norm::{ConvOptions, conv_bracket};
use super::float::{ETA, abs_norms_up, add_up, gamma, mul_up, sqrt_up, up};
use super::gram::sigma_upper;
use super::power::{ConvOp, DenseOp, LinearOp, power_lower, rayleigh_lower};
use crate::ir::{ConvGeometry, Kernel};

/// Options of the per-layer spectral computations.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralOptions {
    /// Iteration cap of nalgebra's SVD (`SVD::try_new`); 0 would mean unbounded and is rejected.
    pub svd_max_iter: usize,
    /// Largest min(rows, cols) for which the SVD estimate is computed (the certified bound never needs it).
    pub svd_max_dim: usize,
    /// Relative tolerance of dense Gram iteration.
    pub gram_tol: f64,
    /// Cap on dense Gram squarings.
    pub gram_max_iter: usize,
    /// Convolution bracket options.
    pub conv: ConvOptions,
}

impl Default for SpectralOptions {
    fn default() -> Self {
        SpectralOptions {
            svd_max_iter: 10_000,
            svd_max_dim: 1024,
            gram_tol: 1e-9,
            gram_max_iter: 60,
            conv: ConvOptions::default(),
        }
    }
}

/// One layer's operator norm: certified upper, proven lower (when available), and details.
#[derive(Clone, Debug, PartialEq)]
pub struct Factor {
    /// Certified upper bound on the layer's Lipschitz constant in the chosen norm.
    pub upper: f64,
    /// Proven lower bound on the same operator norm, when computed.
    pub lower: Option<f64>,
    /// Method details (SVD value, iterations, gap, ...).
    pub detail: serde_json::Value,
}

impl Factor {
    /// A factor known exactly (upper = lower).
    pub fn exact(v: f64, how: &str) -> Self {
        Factor { upper: v, lower: Some(v), detail: json!({ "rule": how }) }
    }
}

/// |fl(s·w) − s·w| ≤ γ₁|fl(s·w)| + η/2: the ℓ2 allowance for a folded matrix, γ₁·√(‖|M|‖₁‖|M|‖_∞) + span·η (at
/// least the span·η/2 of theorem S5).
pub(crate) fn fold_allowance(abs_norm: f64, span: usize) -> f64 {
    // Relative: γ₁ per entry. Absolute: an entry may underflow by η/2, and ‖E‖₂ ≤ √(‖E‖₁‖E‖_∞) ≤ span·η/2 with
    // span = (entries per row + entries per column); span·η is added.
    add_up(mul_up(gamma(1), abs_norm), mul_up(span as f64, ETA))
}

/// The `span` of [`fold_allowance`] for a dense matrix.
pub(crate) fn dense_span(w: &DMatrix<f64>) -> usize {
    w.nrows() + w.ncols()
}

/// The `span` of [`fold_allowance`] for a convolution.
pub(crate) fn conv_span(k: &Kernel) -> usize {
    (k.c_in + k.c_out) * k.kh * k.kw
}

/// ℓ2 norm of a dense matrix: certified Gram bound (S2) plus `allowance`, rigorous Rayleigh lower bound (S4) at
/// the SVD's top right singular vector, and the SVD value as an estimate.
///
/// Theorems S2, S4, S5 (proofs/spectral.md); checked by
/// tests/spectral.rs::spectral_is_below_frobenius_per_layer.
pub fn dense_l2(w: &DMatrix<f64>, folded: bool, opts: &SpectralOptions) -> Factor {
    let g = sigma_upper(w, opts.gram_tol, opts.gram_max_iter);
    let op = DenseOp(w);
    let allowance = if folded { fold_allowance(op.abs_norm_up(), dense_span(w)) } else { 0.0 };
    let upper = add_up(g.upper, allowance);
    let small = w.nrows().min(w.ncols()) <= opts.svd_max_dim;
    let svd = if small { SVD::try_new(w.clone(), false, true, 1e-15, opts.svd_max_iter) } else { None };
    let (estimate, lower, svd_status) = match &svd {
        Some(s) if !s.singular_values.is_empty() => {
            let v: Vec<f64> = s.v_t.as_ref().expect("v requested").row(0).iter().copied().collect();
            (Some(s.singular_values[0]), rayleigh_lower(&op, &v), "converged")
        }
        Some(_) => (Some(0.0), 0.0, "converged"),
        None => {
            let p = power_lower(&op, None, 1e-10, 500, 0);
            (
                None,
                p.lower,
                if small { "not converged within the iteration cap" } else { "skipped (too large)" },
            )
        }
    };
    let lower = dn_fold(lower, allowance);
    Factor {
        upper,
        lower: Some(lower),
        detail: json!({
            "rule": "dense: Gram iteration (S2), Rayleigh lower bound (S4)",
            "svd_sigma": estimate, "svd": svd_status,
            "gram_iterations": g.iterations, "gram_excess": g.excess, "gram_converged": g.converged,
            "fold_allowance": allowance, "gap": rel_gap(upper, lower),
        }),
    }
}

/// A lower bound on ‖M‖ from one on ‖M̃‖ when ‖M − M̃‖ ≤ allowance.
pub(crate) fn dn_fold(lower: f64, allowance: f64) -> f64 {
    if allowance == 0.0 { lower } else { (lower - allowance).next_down().max(0.0) }
}

fn rel_gap(upper: f64, lower: f64) -> f64 {
    if lower > 0.0 { upper / lower - 1.0 } else { f64::INFINITY }
}

/// ℓ2 norm of a convolution on its input shape: the bracket of theorems C1–C3.
///
/// Theorems C1–C4 (proofs/conv.md), S5 (proofs/spectral.md); checked by
/// tests/spectral.rs::lipschitz_inequality_on_sampled_pairs (CNN, ResNet).
pub fn conv_l2(k: &Kernel, g: &ConvGeometry, folded: bool, opts: &SpectralOptions) -> Factor {
    let b = conv_bracket(k, g, &opts.conv);
    let allowance = if folded {
        fold_allowance(ConvOp { kernel: k, geometry: *g }.abs_norm_up(), conv_span(k))
    } else {
        0.0
    };
    let upper = add_up(b.upper, allowance);
    let lower = dn_fold(b.lower, allowance);
    Factor {
        upper,
        lower: Some(lower),
        detail: json!({
            "rule": "conv: circular embedding + Gram iteration (C1-C3), power iteration lower bound (S4)",
            "torus": b.torus, "frequencies": b.frequencies, "refined": b.refined,
            "dft_allowance": b.dft_allowance, "fold_allowance": allowance,
            "power_iterations": b.power_iterations, "gap": rel_gap(upper, lower),
        }),
    }
}

/// ℓ∞→ℓ∞ (max row abs-sum) or ℓ1→ℓ1 (max column abs-sum) of a dense matrix, rounded up (S10, S5 when folded).
///
/// Theorems S10, S5 (proofs/spectral.md); checked by
/// tests/spectral.rs::lipschitz_inequality_on_sampled_pairs.
pub fn dense_lp(w: &DMatrix<f64>, norm: Norm, folded: bool) -> Factor {
    let (col, row) = abs_norms_up(w);
    let v = if norm == Norm::L1Margin { col } else { row };
    // Folded: each entry within γ₁ relative plus η/2 absolute (underflow) of the exact one (S5).
    let v = if folded { add_up(mul_up(v, up(1.0 + gamma(1))), mul_up(dense_span(w) as f64, ETA)) } else { v };
    Factor { upper: v, lower: None, detail: json!({ "rule": "dense: max abs row/column sum (S10)" }) }
}

/// ℓ∞→ℓ∞ ≤ max_o Σ|W[o,·,·,·]|, ℓ1→ℓ1 ≤ max_c Σ|W[·,c,·,·]| of a convolution (S10, S5 when folded).
///
/// Theorems S10, S5 (proofs/spectral.md); checked by
/// tests/spectral.rs::lipschitz_inequality_on_sampled_pairs.
pub fn conv_lp(k: &Kernel, norm: Norm, folded: bool) -> Factor {
    let per = k.kh * k.kw;
    let mut rows = vec![0.0f64; k.c_out];
    let mut cols = vec![0.0f64; k.c_in];
    for (i, w) in k.data.iter().enumerate() {
        let (o, c) = (i / (k.c_in * per), (i / per) % k.c_in);
        rows[o] = up(rows[o] + w.abs());
        cols[c] = up(cols[c] + w.abs());
    }
    let v = if norm == Norm::L1Margin { cols } else { rows }.into_iter().fold(0.0, f64::max);
    let v = if folded { add_up(mul_up(v, up(1.0 + gamma(1))), mul_up(conv_span(k) as f64, ETA)) } else { v };
    Factor { upper: v, lower: None, detail: json!({ "rule": "conv: max abs row/column sum (S10)" }) }
}

/// The largest number of pooling windows (size k, stride s, padding p, n outputs) covering one input index.
///
/// Theorem S6 (proofs/spectral.md); checked by tests/spectral.rs::pooling_window_counts.
pub fn windows_per_index(extent: usize, k: usize, s: usize, p: usize) -> usize {
    let n = (extent + 2 * p - k) / s + 1;
    (0..extent).map(|i| (0..n).filter(|&o| o * s <= i + p && i + p < o * s + k).count()).max().unwrap_or(0)
}

/// Max pooling: ℓ2 ≤ √m, ℓ∞ = 1, ℓ1 ≤ m, m = windows covering one pixel (theorem S6).
///
/// Checked by tests/spectral.rs::lipschitz_inequality_on_sampled_pairs (CNN with max pooling).
pub fn maxpool_factor(shape: &[usize], k: usize, s: usize, p: usize, norm: Norm) -> Factor {
    let m = windows_per_index(shape[1], k, s, p) * windows_per_index(shape[2], k, s, p);
    let v = match norm {
        Norm::LinfMargin => 1.0,
        Norm::L1Margin => m as f64,
        Norm::L2 | Norm::L2Margin => sqrt_up(m as f64),
    };
    Factor { upper: v, lower: None, detail: json!({ "rule": "maxpool (S6)", "windows_per_pixel": m }) }
}

/// Average pooling: ℓ2 ≤ √m/k, ℓ∞ = 1, ℓ1 ≤ m/k² (theorem S6).
///
/// No bound test uses average pooling yet (tests/spectral.rs::pooling_window_counts checks the counts).
pub fn avgpool_factor(shape: &[usize], k: usize, s: usize, norm: Norm) -> Factor {
    let m = windows_per_index(shape[1], k, s, 0) * windows_per_index(shape[2], k, s, 0);
    let k2 = (k * k) as f64;
    let v = match norm {
        Norm::LinfMargin => 1.0,
        Norm::L1Margin => up(m as f64 / k2),
        Norm::L2 | Norm::L2Margin => up(sqrt_up(m as f64) / (k as f64)),
    };
    Factor { upper: v, lower: None, detail: json!({ "rule": "avgpool (S6)", "windows_per_pixel": m }) }
}

/// Global average pooling over n = h·w positions: ℓ2 = 1/√n, ℓ∞ = 1, ℓ1 = 1/n (theorem S6).
///
/// Checked by tests/spectral.rs::lipschitz_inequality_on_sampled_pairs (ResNet).
pub fn global_avg_factor(shape: &[usize], norm: Norm) -> Factor {
    let n = (shape[1] * shape[2]) as f64;
    let v = match norm {
        Norm::LinfMargin => 1.0,
        Norm::L1Margin => up(1.0 / n),
        Norm::L2 | Norm::L2Margin => up(1.0 / n.sqrt().next_down()),
    };
    Factor { upper: v, lower: None, detail: json!({ "rule": "global average pooling (S6)" }) }
}

/// A per-channel affine map: max |scale| in every norm (exact).
///
/// Theorem S1 (proofs/spectral.md); checked by tests/spectral.rs::lipschitz_inequality_on_sampled_pairs.
pub fn affine_factor(scale: &[f64]) -> Factor {
    Factor::exact(scale.iter().fold(0.0, |m, s| m.max(s.abs())), "affine: max |scale| (S1)")
}
