//! The network bound as a product of certified per-layer norms (theorems S1, S5–S8, `proofs/spectral.md`).
//!
//! For f = f_n ∘ ⋯ ∘ f_1, Lip(f) ≤ Π Lip(f_i) (S1). Per-channel affine maps (folded BatchNorm, scale factors)
//! are folded into the linear layer before them, also across channel-wise pooling, since
//! Affine ∘ Pool ∘ Lin = Pool′ ∘ (diag(s)·Lin) + const with Pool′ a pooling of the same kind (max becomes min on
//! channels with s < 0) and the same Lipschitz factor (S7). A residual block has Lip ≤ Lip(body) + Lip(shortcut)
//! (1 for the identity) (S8). hardtanh and ReLU are 1-Lipschitz in every ℓp; `Sign` is hardtanh in the two
//! functions bounded here. Margins: |m_tj(x) − m_tj(y)| ≤ ‖w_t − w_j‖_q · Lip_p(penultimate), q the dual of p,
//! when the net ends in a dense layer (S9).

use std::time::Instant;

use nalgebra::DMatrix;
use serde_json::json;

use super::bound::{Bound, LayerPart, Method, Norm, PairConstant, Scope, Soundness};
use super::float::{ETA, abs_sum_up, gamma, mul_up, norm2_up, up};
use super::layer_norm::{
    Factor, SpectralOptions, affine_factor, avgpool_factor, conv_l2, conv_lp, dense_l2, dense_lp,
    global_avg_factor, maxpool_factor,
};
use crate::error::{Error, Result};
use crate::ir::{ConvGeometry, Function, Layer, Net, layer_output, layer_path};

/// Index of an `Affine` that can be folded into the linear layer at `i` (possibly across channel-wise pooling).
fn fold_target(layers: &[Layer], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < layers.len()
        && matches!(layers[j], Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::GlobalAvgPool)
    {
        j += 1;
    }
    matches!(layers.get(j), Some(Layer::Affine { .. })).then_some(j)
}

fn scale_of(layer: &Layer) -> &[f64] {
    match layer {
        Layer::Affine { scale, .. } => scale,
        _ => unreachable!("fold target is an affine layer"),
    }
}

/// The (folded) linear layer at `i` and its factor in `norm`.
fn linear_factor(
    layer: &Layer,
    scale: Option<&[f64]>,
    f: Function,
    norm: Norm,
    opts: &SpectralOptions,
) -> Factor {
    match layer {
        Layer::Dense { .. } => {
            let w = layer.dense_weight(f).expect("dense");
            let w = match scale {
                Some(s) => DMatrix::from_fn(w.nrows(), w.ncols(), |r, c| s[r] * w[(r, c)]),
                None => w.clone(),
            };
            match norm {
                Norm::L2 | Norm::L2Margin => dense_l2(&w, scale.is_some(), opts),
                _ => dense_lp(&w, norm, scale.is_some()),
            }
        }
        Layer::Conv2d { stride, padding, in_shape, .. } => {
            let k = layer.conv_kernel(f).expect("conv");
            let k = scale.map_or_else(|| k.clone(), |s| k.scaled_out(s));
            let g = ConvGeometry::new(&k, *in_shape, *stride, *padding);
            match norm {
                Norm::L2 | Norm::L2Margin => conv_l2(&k, &g, scale.is_some(), opts),
                _ => conv_lp(&k, norm, scale.is_some()),
            }
        }
        _ => unreachable!("linear layer"),
    }
}

/// Certified Lipschitz constant (in `norm`'s input norm, ℓp → ℓp) of a layer sequence, with its parts.
///
/// Theorems S1, S7, S8 (proofs/spectral.md), layer factors by S2–S6, S10; checked by
/// tests/spectral.rs::lipschitz_inequality_on_sampled_pairs.
pub(crate) fn compose(
    layers: &[Layer],
    prefix: &str,
    shape: &[usize],
    f: Function,
    norm: Norm,
    opts: &SpectralOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(f64, Vec<LayerPart>)> {
    let mut shape = shape.to_vec();
    let (mut total, mut parts, mut skip) = (1.0f64, Vec::new(), None);
    for (i, layer) in layers.iter().enumerate() {
        let path = layer_path(prefix, i);
        let next = layer_output(&path, layer, &shape, false)?;
        let factor = match layer {
            _ if skip == Some(i) => None,
            Layer::Dense { .. } | Layer::Conv2d { .. } => {
                let j = fold_target(layers, i);
                skip = j;
                progress(&format!("spectral norm of layer {path} ({})", layer.kind()));
                let fac = linear_factor(layer, j.map(|j| scale_of(&layers[j])), f, norm, opts);
                let (path, kind) = match j {
                    Some(j) => {
                        (format!("{path}+{}", layer_path(prefix, j)), format!("{}+affine", layer.kind()))
                    }
                    None => (path.clone(), layer.kind().to_string()),
                };
                Some((path, kind, fac))
            }
            Layer::Affine { scale, .. } => Some((path.clone(), "affine".into(), affine_factor(scale))),
            Layer::MaxPool { kernel, stride, padding } => Some((
                path.clone(),
                "maxpool".into(),
                maxpool_factor(&shape, *kernel, *stride, *padding, norm),
            )),
            Layer::AvgPool { kernel, stride } => {
                Some((path.clone(), "avgpool".into(), avgpool_factor(&shape, *kernel, *stride, norm)))
            }
            Layer::GlobalAvgPool => {
                Some((path.clone(), "global-avgpool".into(), global_avg_factor(&shape, norm)))
            }
            Layer::Residual { body, shortcut } => {
                let (b, mut bp) = compose(body, &format!("{path}.body"), &shape, f, norm, opts, progress)?;
                let (s, sp) =
                    compose(shortcut, &format!("{path}.shortcut"), &shape, f, norm, opts, progress)?;
                bp.extend(sp);
                parts.extend(bp);
                let v = up(b + s);
                let rule = if shortcut.is_empty() {
                    "residual: Lip(body) + 1 (S8)"
                } else {
                    "residual: Lip(body) + Lip(shortcut) (S8)"
                };
                Some((
                    path.clone(),
                    "residual".into(),
                    Factor {
                        upper: v,
                        lower: None,
                        detail: json!({ "rule": rule, "body": b, "shortcut": s }),
                    },
                ))
            }
            Layer::Sign | Layer::HardTanh | Layer::Relu | Layer::Flatten => None,
        };
        if let Some((path, kind, fac)) = factor {
            // 0 · ∞ (a zero layer after an overflowed one) is NaN: keep the trivially true bound +∞ instead.
            total = match mul_up(total, fac.upper) {
                v if v.is_nan() => f64::INFINITY,
                v => v,
            };
            parts.push(LayerPart {
                layer: path,
                kind,
                value: fac.upper,
                lower: fac.lower,
                detail: fac.detail,
            });
        }
        shape = next;
    }
    Ok((total, parts))
}

/// Upper bound on ‖w_t − w_j‖_q for the (folded) head rows, q dual to the input norm (S9 rounding).
fn pair_norm(w: &DMatrix<f64>, folded: bool, t: usize, j: usize, norm: Norm) -> f64 {
    let n = w.ncols();
    let d: Vec<f64> = (0..n).map(|c| w[(t, c)] - w[(j, c)]).collect();
    let q = |v: &[f64]| match norm {
        Norm::LinfMargin => abs_sum_up(v),
        Norm::L1Margin => v.iter().fold(0.0f64, |m, x| m.max(x.abs())),
        _ => norm2_up(v),
    };
    let g1 = gamma(1);
    let base = mul_up(q(&d), up(1.0 + g1));
    if !folded {
        return base;
    }
    let s: Vec<f64> = (0..n).map(|c| up(w[(t, c)].abs() + w[(j, c)].abs())).collect();
    // Plus the folded entries' underflow, η/2 each: at most n·η in any of the three norms.
    up(up(base + mul_up(g1, q(&s))) + mul_up(n as f64, ETA))
}

/// The certified product bound of `net` under `function` in `norm` (theorems S1–S9).
///
/// Theorems S1–S10 (proofs/spectral.md); checked by tests/spectral.rs::lipschitz_inequality_on_sampled_pairs.
pub fn spectral_product(
    net: &Net,
    function: Function,
    norm: Norm,
    opts: &SpectralOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bound> {
    if function == Function::Deployed {
        return Err(Error::not_applicable(
            "spectral-product",
            "the deployed (sign) network is discontinuous: it has no finite Lipschitz constant; bound `surrogate` or `latent`",
        ));
    }
    let start = Instant::now();
    let layers = &net.layers;
    // Split off the head (last dense layer and an optional affine after it) for pairwise margins.
    let head_at = match layers.as_slice() {
        [.., Layer::Dense { .. }] => Some(layers.len() - 1),
        [.., Layer::Dense { .. }, Layer::Affine { .. }] => Some(layers.len() - 2),
        _ => None,
    };
    let body_len = if norm.is_margin() { head_at.unwrap_or(layers.len()) } else { layers.len() };
    let (lip, mut parts) =
        compose(&layers[..body_len], "", &net.input_shape, function, norm, opts, progress)?;
    let mut detail = json!({ "rule": "product of certified layer norms (S1, S5-S8)" });
    let mut pairs = Vec::new();
    let value = if !norm.is_margin() {
        lip
    } else if let Some(h) = head_at {
        let w = layers[h].dense_weight(function).expect("dense head");
        let scale = layers.get(h + 1).map(scale_of);
        let w = scale
            .map_or_else(|| w.clone(), |s| DMatrix::from_fn(w.nrows(), w.ncols(), |r, c| s[r] * w[(r, c)]));
        let mut best = 0.0f64;
        for t in 0..w.nrows() {
            for j in t + 1..w.nrows() {
                let value = mul_up(pair_norm(&w, scale.is_some(), t, j, norm), lip);
                best = best.max(value);
                pairs.push(PairConstant { t, j, value });
            }
        }
        parts.push(LayerPart {
            layer: if scale.is_some() { format!("{h}+{}", h + 1) } else { h.to_string() },
            kind: "head: max ||w_t - w_j||".into(),
            value: if lip > 0.0 { best / lip } else { 0.0 },
            lower: None,
            detail: serde_json::Value::Null,
        });
        detail = json!({ "rule": "pairwise head rows times the body product (S9)" });
        best
    } else {
        // |m(x) − m(y)| ≤ ‖e_t − e_j‖_{q}·‖f(x) − f(y)‖_p: √2 (ℓ2), 2 (ℓ∞ → ℓ1 dual), 1 (ℓ1).
        let c = match norm {
            Norm::L2Margin => std::f64::consts::SQRT_2.next_up(),
            Norm::LinfMargin => 2.0,
            _ => 1.0,
        };
        detail = json!({ "rule": "||e_t - e_j||_q times the logit-map product (S9)" });
        mul_up(c, lip)
    };
    Ok(Bound {
        request: None,
        method: Method::SpectralProduct,
        function,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs,
        per_layer: parts,
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}
