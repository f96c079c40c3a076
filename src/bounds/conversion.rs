//! ℓ∞ margin constants from ℓ2 ones: the input norms of ℝⁿ compared.
//!
//! For every x in ℝⁿ, ‖x‖₂ ≤ √n·‖x‖∞. So a margin m_tj = f_t − f_j with |m_tj(x) − m_tj(y)| ≤ L₂‖x − y‖₂
//! also has |m_tj(x) − m_tj(y)| ≤ √n·L₂·‖x − y‖∞ (theorem S12, proofs/spectral.md). The factor is the whole
//! price of the conversion, and it is often worth paying: the ℓ2 bounds (LipSDP, the sequential bound, the
//! spectral product) see how the layers' singular directions line up, while ℓ∞ bounds built from absolute
//! values (the LipLP relaxation, ℓ∞ operator norms) pay for every sign a product of 784-wide layers could take
//! and cannot realise. On the default MNIST MLP the converted sequential bound is about 8.5 times smaller than
//! the LP (README, "Every method on one model").

use serde_json::json;

use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness, class_pairs};
use crate::float::{mul_up, sqrt_up};
use crate::ir::Function;

/// The ℓ∞-margin constants that the certified ℓ2 entries of `bounds` about `function` in `scope` imply on
/// inputs of dimension `n`: for every class pair of `classes`, the smallest of √n·L over those entries, with L
/// the entry's pair constant (`l2-margin` entries; a spectral product that lists no pairs states its value for
/// every pair) or √2 times its value (`l2` entries, the logit map: |m_tj| ≤ ‖e_t − e_j‖₂‖Δf‖₂). `None` when
/// no certified ℓ2 entry applies. Products are rounded up, so every constant is certified.
///
/// Theorem S12 (proofs/spectral.md); checked by
/// tests/bounds.rs::converted_linf_constants_hold_on_sampled_pairs and
/// tests/bounds.rs::conversion_takes_the_smallest_certified_l2_constant.
pub fn linf_from_l2(
    bounds: &[Bound],
    function: Function,
    scope: Scope,
    n: usize,
    classes: usize,
) -> Option<Bound> {
    let factor = sqrt_up(n as f64);
    let pairs = class_pairs(classes);
    // Per pair: the smallest converted constant and the index of its source.
    let mut best: Vec<Option<(f64, usize)>> = vec![None; pairs.len()];
    let mut sources = Vec::new();
    for b in bounds {
        if b.function != function || b.soundness != Soundness::Certified || b.scope != scope {
            continue;
        }
        let per_pair: Vec<Option<f64>> = match b.norm {
            Norm::L2 => {
                let margin = mul_up(std::f64::consts::SQRT_2.next_up(), b.value);
                vec![Some(margin); pairs.len()]
            }
            Norm::L2Margin if b.pairs.is_empty() && b.method == Method::SpectralProduct => {
                vec![Some(b.value); pairs.len()]
            }
            Norm::L2Margin => pairs.iter().map(|&(t, j)| b.pair_value(t, j)).collect(),
            _ => continue,
        };
        if per_pair.iter().all(Option::is_none)
            || per_pair.iter().flatten().any(|v| !(v.is_finite() && *v >= 0.0))
        {
            continue;
        }
        let source = sources.len();
        sources.push(b);
        for (slot, v) in best.iter_mut().zip(per_pair) {
            if let Some(v) = v {
                let converted = mul_up(factor, v);
                if slot.is_none_or(|(current, _)| converted < current) {
                    *slot = Some((converted, source));
                }
            }
        }
    }
    let mut constants = Vec::new();
    let mut won = vec![0usize; sources.len()];
    for (&(t, j), slot) in pairs.iter().zip(&best) {
        if let Some((value, source)) = *slot {
            constants.push(PairConstant { t, j, value });
            won[source] += 1;
        }
    }
    if constants.is_empty() {
        return None;
    }
    let value = constants.iter().map(|p| p.value).fold(0.0, f64::max);
    let from: Vec<_> = sources
        .iter()
        .zip(&won)
        .map(|(b, &w)| json!({"method": b.method.name(), "norm": b.norm.name(), "value": b.value, "pairs_taken": w}))
        .collect();
    Some(Bound {
        method: Method::NormConversion,
        function,
        soundness: Soundness::Certified,
        norm: Norm::LinfMargin,
        scope,
        value,
        pairs: constants,
        per_layer: Vec::new(),
        seconds: 0.0,
        detail: json!({
            "rule": "‖x‖₂ ≤ √n‖x‖∞: L∞ ≤ √n·L₂ per pair (theorem S12)",
            "input_dimension": n,
            "factor": factor,
            "from": from,
        }),
        request: None,
    })
}
