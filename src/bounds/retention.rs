//! Retention matrices and their spectral-norm proxies, as the LCR-BNN regulariser computes them
//! (lcr-bnn.md §2.1), compared with the exact norms of the same layers (theorems R1–R3, `proofs/retention.md`).
//!
//! Binary layer k maps point p_{k−1} to point p_k (see [`crate::ir`]). Side F uses X = p_{k−1}, Y = p_k; side B
//! uses X = sign(p_{k−1}), Y = sign(p_k) (the net's sign(0) convention).
//! * Flat points, a batch of N samples: X ∈ R^{N×C_in}, Y ∈ R^{N×C_out}, RM = XᵀY/N (one per batch).
//! * Image points, per sample: X ∈ R^{C_in×HW} (first adaptive-average-pooled to Y's spatial size when larger),
//!   Y ∈ R^{C_out×HW}, RM = X·Yᵀ/HW.
//!
//! Proxies (both `estimate`): *released* — K = RM·RMᵀ, one unnormalised step from the all-ones vector,
//! √‖K·1‖₂; *converged* — normalised power iteration on K from the ones vector to convergence, √λ_max(K) = σ₁(RM).
//! Reported per layer as the mean over batches (flat) or samples (images), with the ratio to the certified σ of
//! the layer's linear operator A (the weight with a following per-channel affine map folded in, as in the spectral
//! product).
//!
//! *Normalised* (`lower`): with X = sign(p_{k−1}) the layer's actual input and Y = A·X computed from it,
//! σ(XᵀY/N) ≤ σ(XᵀX/N)·σ(A) (R2), so σ(XᵀY/N)/σ(XᵀX/N) ≤ σ(A); for images, σ(X′Yᵀ/HW) ≤
//! σ(X′)·σ(A)·‖X‖_F/HW (R3). Both are evaluated with rigorous rounding allowances (theorem F3 style).

use std::time::Instant;

use nalgebra::{DMatrix, DVector};
use serde_json::json;

use super::bound::{Bound, LayerPart, Method, Norm, Scope, Soundness};
use super::float::{ETA, dn, frob_up, gamma, mul_up, sqrt_up, up};
use super::gram::sigma_upper;
use super::layer_norm::{
    Factor, SpectralOptions, conv_l2, conv_span, dense_l2, dense_span, dn_fold, fold_allowance,
};
use super::power::{ConvOp, DenseOp, LinearOp, rayleigh_lower};
use crate::error::{Error, Result};
use crate::ir::{ConvGeometry, Function, Kernel, Layer, Net, Point, SignZero, conv2d, sign};

/// Options of the retention-matrix estimates.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionOptions {
    /// Batch size for flat points (the training batch).
    pub batch: usize,
    /// Relative tolerance of the converged power iteration.
    pub power_tol: f64,
    /// Cap on its iterations.
    pub power_max_iter: usize,
    /// Point indices that end a stage (per-stage variant); `None` derives them (see [`stage_ends`]).
    pub stage_ends: Option<Vec<usize>>,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        RetentionOptions { batch: 128, power_tol: 1e-10, power_max_iter: 10_000, stage_ends: None }
    }
}

/// The linear operator A of a binary layer (folded weight).
#[derive(Clone, Debug)]
pub enum LayerOp {
    /// Dense: out×in.
    Dense(DMatrix<f64>),
    /// Convolution with its geometry.
    Conv(Kernel, ConvGeometry),
}

fn fold_rows(w: &DMatrix<f64>, s: Option<&[f64]>) -> DMatrix<f64> {
    s.map_or_else(|| w.clone(), |s| DMatrix::from_fn(w.nrows(), w.ncols(), |r, c| s[r] * w[(r, c)]))
}

fn op_after(layers: &[Layer], from: usize, prefix: &str) -> Option<(String, LayerOp, bool)> {
    let i =
        (from..layers.len()).find(|&i| matches!(layers[i], Layer::Dense { .. } | Layer::Conv2d { .. }))?;
    let j = (i + 1..layers.len())
        .find(|&j| !matches!(layers[j], Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::GlobalAvgPool))
        .filter(|&j| matches!(layers[j], Layer::Affine { .. }));
    let scale = j.map(|j| match &layers[j] {
        Layer::Affine { scale, .. } => scale.as_slice(),
        _ => unreachable!(),
    });
    let op = match &layers[i] {
        Layer::Dense { weight, .. } => LayerOp::Dense(fold_rows(weight, scale)),
        Layer::Conv2d { weight, stride, padding, in_shape, .. } => {
            let k = scale.map_or_else(|| weight.clone(), |s| weight.scaled_out(s));
            let g = ConvGeometry::new(&k, *in_shape, *stride, *padding);
            LayerOp::Conv(k, g)
        }
        _ => unreachable!(),
    };
    Some((format!("{prefix}{i}"), op, j.is_some()))
}

/// For every point that feeds a sign, the (folded) linear layer reading that sign's output.
pub fn binary_ops(net: &Net) -> Vec<Option<(String, LayerOp, bool)>> {
    net.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains_sign())
        .map(|(i, l)| match l {
            Layer::Residual { body, .. } => {
                let s = body.iter().position(|b| matches!(b, Layer::Sign))?;
                op_after(body, s + 1, &format!("{i}.body."))
            }
            _ => op_after(&net.layers, i + 1, ""),
        })
        .collect()
}

/// Stage ends: every point for a net without residual blocks; otherwise the points after which the shape
/// changes, and the last point (the stages of a Bi-Real ResNet).
pub fn stage_ends(net: &Net, points: &[Point]) -> Vec<usize> {
    let residual = net.layers.iter().any(|l| matches!(l, Layer::Residual { .. }) && l.contains_sign());
    (0..points.len())
        .filter(|&k| !residual || k + 1 == points.len() || points[k + 1].shape != points[k].shape)
        .collect()
}

/// Adaptive average pooling of a C×H×W image to C×h×w (PyTorch's window rule), as a C×(h·w) matrix.
fn adaptive_pool(p: &Point, h: usize, w: usize) -> DMatrix<f64> {
    let (c, hh, ww) = (p.shape[0], p.shape[1], p.shape[2]);
    DMatrix::from_fn(c, h * w, |ch, pos| {
        let (i, j) = (pos / w, pos % w);
        let (r0, r1) = (i * hh / h, ((i + 1) * hh).div_ceil(h));
        let (c0, c1) = (j * ww / w, ((j + 1) * ww).div_ceil(w));
        let mut s = 0.0;
        for r in r0..r1 {
            for q in c0..c1 {
                s += p.values[(ch * hh + r) * ww + q];
            }
        }
        s / ((r1 - r0) * (c1 - c0)) as f64
    })
}

fn as_image_matrix(p: &Point) -> DMatrix<f64> {
    let hw = p.shape[1] * p.shape[2];
    DMatrix::from_fn(p.shape[0], hw, |c, k| p.values[c * hw + k])
}

/// The released proxy √‖RM·RMᵀ·1‖₂ and the converged one σ₁(RM) (power iteration on RM·RMᵀ from 1).
fn proxies(rm: &DMatrix<f64>, opts: &RetentionOptions) -> (f64, f64, bool) {
    let ones = DVector::from_element(rm.nrows(), 1.0);
    let released = (rm * rm.tr_mul(&ones)).norm().sqrt();
    let mut v = ones.normalize();
    let (mut lambda, mut converged) = (0.0, false);
    for _ in 0..opts.power_max_iter {
        let kv = rm * rm.tr_mul(&v);
        let l = kv.norm();
        if l == 0.0 {
            converged = true;
            lambda = 0.0;
            break;
        }
        v = kv / l;
        if (l - lambda).abs() <= opts.power_tol * l {
            (lambda, converged) = (l, true);
            break;
        }
        lambda = l;
    }
    (released, lambda.sqrt(), converged)
}

fn signed(p: &Point, zero: SignZero) -> Point {
    Point { values: p.values.iter().map(|&v| sign(v, zero)).collect(), shape: p.shape.clone() }
}

/// The retention matrices of one pair of points over the sample (flat: one per batch; images: one per sample).
fn retention_matrices(xs: &[&Point], ys: &[&Point], batch: usize) -> Vec<DMatrix<f64>> {
    let image = xs[0].shape.len() == 3 && ys[0].shape.len() == 3;
    if image {
        xs.iter()
            .zip(ys)
            .map(|(x, y)| {
                let (h, w) = (y.shape[1], y.shape[2]);
                let xm = if x.shape[1] > h || x.shape[2] > w {
                    adaptive_pool(x, h, w)
                } else {
                    as_image_matrix(x)
                };
                xm * as_image_matrix(y).transpose() / (h * w) as f64
            })
            .collect()
    } else {
        xs.chunks(batch)
            .zip(ys.chunks(batch))
            .map(|(xb, yb)| {
                let n = xb.len();
                let x = DMatrix::from_fn(n, xb[0].values.len(), |r, c| xb[r].values[c]);
                let y = DMatrix::from_fn(n, yb[0].values.len(), |r, c| yb[r].values[c]);
                x.tr_mul(&y) / n as f64
            })
            .collect()
    }
}

/// The ℓ2 size of the absolute (underflow) errors of a computed retention matrix: at most (t + 1)·η per entry
/// for entries of t-term sums followed by one division (F2), √entries times that in Frobenius norm.
fn underflow_allowance(rm: &DMatrix<f64>, t: usize) -> f64 {
    mul_up(sqrt_up((rm.nrows() * rm.ncols()) as f64), mul_up((t + 1) as f64, ETA))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Dense R2: max over batches of σ(XᵀY/N)/σ(XᵀX/N) with Y = X·Aᵀ, X the sign inputs; rigorous.
///
/// Theorem R2, via R1 (proofs/retention.md); checked by
/// tests/retention.rs::normalised_proxies_are_lower_bounds.
fn normalised_dense(a: &DMatrix<f64>, xs: &[&Point], batch: usize) -> f64 {
    let mut best = 0.0f64;
    for xb in xs.chunks(batch) {
        let n = xb.len();
        let x = DMatrix::from_fn(n, xb[0].values.len(), |r, c| xb[r].values[c]);
        let y = &x * a.transpose();
        let rm = x.tr_mul(&y) / n as f64;
        let (xa, aa) = (x.abs(), a.abs());
        let t = a.ncols() + n + 2;
        let allowance =
            mul_up(mul_up(gamma(2 * t), frob_up(&(xa.tr_mul(&(&xa * aa.transpose()))))), up(1.0 / n as f64));
        let allowance = up(allowance + underflow_allowance(&rm, t));
        let num = match nalgebra::SVD::try_new(rm.clone(), false, true, 1e-15, 10_000) {
            Some(svd) => {
                let v: Vec<f64> = svd.v_t.expect("v").row(0).iter().copied().collect();
                dn(rayleigh_lower(&DenseOp(&rm), &v) - allowance).max(0.0)
            }
            None => 0.0,
        };
        let xtx = x.tr_mul(&x);
        let den =
            up(up(sigma_upper(&xtx, 1e-9, 60).upper + mul_up(gamma(n + 1), frob_up(&xa.tr_mul(&xa))))
                / n as f64);
        if den > 0.0 {
            best = best.max(dn(num / den));
        }
    }
    best
}

/// Image R3: max over samples of σ(X′Yᵀ/HW)·HW/(σ(X′)·‖X‖_F) with Y = A·x; rigorous.
///
/// Theorem R3 (proofs/retention.md); checked by tests/retention.rs::normalised_proxies_are_lower_bounds.
fn normalised_conv(k: &Kernel, g: &ConvGeometry, xs: &[&Point]) -> f64 {
    let ka = Kernel { data: k.data.iter().map(|v| v.abs()).collect(), ..k.clone() };
    let mut best = 0.0f64;
    for x in xs {
        let [co, h, w] = g.out_shape();
        let y = Point { values: conv2d(k, g, &x.values), shape: vec![co, h, w] };
        let ya = Point {
            values: conv2d(&ka, g, &x.values.iter().map(|v| v.abs()).collect::<Vec<_>>()),
            shape: vec![co, h, w],
        };
        let xabs = Point { values: x.values.iter().map(|v| v.abs()).collect(), shape: x.shape.clone() };
        let pool = x.shape[1] > h || x.shape[2] > w;
        let (xp, xpa) = if pool {
            (adaptive_pool(x, h, w), adaptive_pool(&xabs, h, w))
        } else {
            (as_image_matrix(x), as_image_matrix(&xabs))
        };
        let hw = (h * w) as f64;
        let rm = &xp * as_image_matrix(&y).transpose() / hw;
        let window = (x.shape[1].div_ceil(h) + 1) * (x.shape[2].div_ceil(w) + 1);
        let t = g.taps() + h * w + window + 3;
        let allowance = mul_up(gamma(2 * t), up(frob_up(&(&xpa * as_image_matrix(&ya).transpose())) / hw));
        let allowance = up(allowance + underflow_allowance(&rm, t));
        let num = match nalgebra::SVD::try_new(rm.clone(), false, true, 1e-15, 10_000) {
            Some(svd) => {
                let v: Vec<f64> = svd.v_t.expect("v").row(0).iter().copied().collect();
                dn(rayleigh_lower(&DenseOp(&rm), &v) - allowance).max(0.0)
            }
            None => 0.0,
        };
        let sx = up(sigma_upper(&xp, 1e-9, 60).upper + mul_up(gamma(window + 1), frob_up(&xpa)));
        let fx = super::float::norm2_up(&x.values);
        let den = mul_up(sx, fx);
        if den > 0.0 {
            best = best.max(dn(dn(num * hw) / den));
        }
    }
    best
}

/// All retention entries for `net` on `sample` (deployed activations).
///
/// Theorems R0 (the `estimate` proxies), R2, R3 (the `lower` entry) (proofs/retention.md); checked by
/// tests/retention.rs::normalised_proxies_are_lower_bounds.
pub fn retention_bounds(
    net: &Net,
    sample: &[Vec<f64>],
    opts: &RetentionOptions,
    spectral: &SpectralOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Bound>> {
    let start = Instant::now();
    net.validate()?;
    if sample.is_empty() || opts.batch == 0 {
        return Err(Error::config("retention sample", "needs at least one sample and a batch size ≥ 1"));
    }
    progress(&format!("retention: forward pass of {} samples", sample.len()));
    let fwd: Vec<Vec<Point>> = sample
        .iter()
        .map(|x| net.forward_points(x, Function::Deployed).map(|f| f.points))
        .collect::<Result<_>>()?;
    let n_points = fwd[0].len();
    if n_points < 2 {
        return Err(Error::not_applicable(
            "retention",
            "the net has fewer than two points (no binary layer between signs)",
        ));
    }
    let ops = binary_ops(net);
    let mut exact: Vec<Option<(String, Factor, bool)>> = Vec::new();
    for (k, op) in ops.iter().enumerate().take(n_points - 1) {
        progress(&format!("retention: exact norm of binary layer {}", k + 1));
        exact.push(op.as_ref().map(|(path, op, folded)| {
            let f = match op {
                LayerOp::Dense(a) => dense_l2(a, *folded, spectral),
                LayerOp::Conv(k, g) => conv_l2(k, g, *folded, spectral),
            };
            (path.clone(), f, matches!(op, LayerOp::Dense(_)))
        }));
    }
    let signs: Vec<Vec<Point>> =
        fwd.iter().map(|ps| ps.iter().map(|p| signed(p, net.sign_zero)).collect()).collect();
    let col = |pts: &[Vec<Point>], k: usize| -> Vec<Point> { pts.iter().map(|ps| ps[k].clone()).collect() };
    let mut out = Vec::new();
    let stages = opts.stage_ends.clone().unwrap_or_else(|| stage_ends(net, &fwd[0]));
    let layer_pairs: Vec<(usize, usize)> = (1..n_points).map(|k| (k - 1, k)).collect();
    let stage_pairs: Vec<(usize, usize)> = stages.windows(2).map(|w| (w[0], w[1])).collect();
    let mut variants = vec![("layer", layer_pairs)];
    if !stage_pairs.is_empty() && stage_pairs != variants[0].1 {
        variants.push(("stage", stage_pairs));
    }
    for (granularity, pairs) in &variants {
        for (side, pts) in [("F", &fwd), ("B", &signs)] {
            let mut rel = Vec::new();
            let mut conv = Vec::new();
            for &(a, b) in pairs {
                let (xs, ys) = (col(pts, a), col(pts, b));
                let xr: Vec<&Point> = xs.iter().collect();
                let yr: Vec<&Point> = ys.iter().collect();
                let rms = retention_matrices(&xr, &yr, opts.batch);
                let vals: Vec<(f64, f64, bool)> = rms.iter().map(|rm| proxies(rm, opts)).collect();
                let exact_sigma: f64 = (a..b)
                    .map(|k| exact.get(k).and_then(|e| e.as_ref()).map_or(f64::NAN, |e| e.1.upper))
                    .product();
                let path = if b == a + 1 {
                    exact.get(a).and_then(|e| e.as_ref()).map_or(format!("point {a}->{b}"), |e| e.0.clone())
                } else {
                    format!("points {a}->{b}")
                };
                let r = mean(&vals.iter().map(|v| v.0).collect::<Vec<_>>());
                let c = mean(&vals.iter().map(|v| v.1).collect::<Vec<_>>());
                let all_conv = vals.iter().all(|v| v.2);
                let shape = json!({ "x": xs[0].shape, "y": ys[0].shape, "matrices": rms.len(), "rm_shape": [rms[0].nrows(), rms[0].ncols()] });
                rel.push(LayerPart {
                    layer: path.clone(),
                    kind: format!("{granularity} {a}->{b}"),
                    value: r,
                    lower: None,
                    detail: json!({ "exact_sigma": exact_sigma, "ratio": r / exact_sigma, "shape": shape }),
                });
                conv.push(LayerPart { layer: path, kind: format!("{granularity} {a}->{b}"), value: c, lower: None,
                    detail: json!({ "exact_sigma": exact_sigma, "ratio": c / exact_sigma, "converged": all_conv, "shape": shape }) });
            }
            for (method, parts) in [(Method::RetentionReleased, rel), (Method::RetentionConverged, conv)] {
                out.push(entry(method, Soundness::Estimate, parts, json!({ "side": side, "granularity": granularity, "samples": sample.len(), "batch": opts.batch }), start));
            }
        }
    }
    // Normalised lower bounds per binary layer (R2/R3).
    let mut parts = Vec::new();
    for (k, e) in exact.iter().enumerate() {
        let (Some((path, fac, _)), Some((_, op, folded))) = (e, ops[k].as_ref()) else { continue };
        progress(&format!("retention: normalised lower bound of binary layer {}", k + 1));
        let xs = col(&signs, k);
        let xr: Vec<&Point> = xs.iter().collect();
        let (lower, rule) = match op {
            LayerOp::Dense(a) if xs[0].shape.len() == 1 => {
                (normalised_dense(a, &xr, opts.batch), "R2: sigma(X^T Y/N)/sigma(X^T X/N)")
            }
            LayerOp::Conv(kk, g) => {
                (normalised_conv(kk, g, &xr), "R3: sigma(X' Y^T/HW) HW/(sigma(X') ||X||_F)")
            }
            LayerOp::Dense(_) => continue,
        };
        // A is the float-folded weight: its σ may exceed the exact diag(s)·W's by the fold allowance (S5).
        let lower = if *folded {
            let (abs_norm, span) = match op {
                LayerOp::Dense(a) => (DenseOp(a).abs_norm_up(), dense_span(a)),
                LayerOp::Conv(kk, g) => (ConvOp { kernel: kk, geometry: *g }.abs_norm_up(), conv_span(kk)),
            };
            dn_fold(lower, fold_allowance(abs_norm, span))
        } else {
            lower
        };
        parts.push(LayerPart { layer: path.clone(), kind: format!("binary layer {}", k + 1), value: lower, lower: None,
            detail: json!({ "rule": rule, "exact_sigma_upper": fac.upper, "exact_sigma_lower": fac.lower, "ratio": lower / fac.upper }) });
    }
    if !parts.is_empty() {
        out.push(entry(Method::RetentionNormalised, Soundness::Lower, parts, json!({ "side": "B input, Y = A X", "granularity": "layer", "samples": sample.len(), "batch": opts.batch }), start));
    }
    Ok(out)
}

fn entry(
    method: Method,
    soundness: Soundness,
    parts: Vec<LayerPart>,
    detail: serde_json::Value,
    start: Instant,
) -> Bound {
    // A product of proven lower bounds is rounded down; estimates are plain products.
    let value = match soundness {
        Soundness::Lower => parts.iter().fold(1.0, |acc, p| dn(acc * p.value).max(0.0)),
        _ => parts.iter().map(|p| p.value).product(),
    };
    Bound {
        request: None,
        method,
        function: Function::Deployed,
        soundness,
        norm: Norm::L2,
        scope: Scope::BinaryLayerProduct,
        value,
        pairs: Vec::new(),
        per_layer: parts,
        seconds: start.elapsed().as_secs_f64(),
        detail,
    }
}
