//! Enclosures of a [`Net`]'s exact output over sets of inputs, with outward rounding (theorem V1,
//! `proofs/certify.md`).
//!
//! Every function of the network (`deployed`, `surrogate`, `latent`) is a function of real numbers: the stored
//! `f64` weights taken as exact values. Its floating-point forward ([`Net::forward`]) differs from it by rounding.
//! An enclosure is a box [lo, hi] that provably contains the exact output for every input of the set, so a
//! decision read off an enclosure ("class t beats every other class", "class j is at least as large as t") is a
//! decision about the exact function. It is what certificates are built on and what confirms an adversarial
//! example.
//!
//! The sets are a point, an ℓ2 or ℓ∞ ball of radius ε around a point, optionally intersected with a domain
//! box (the valid pixel range). The work is batched: column k of every matrix is sample k, rows are the
//! flattened activation in CHW order, and each dense or convolution layer costs two matrix products (the
//! midpoint and the radius, theorem F5).

use nalgebra::DMatrix;

use super::enclose_rows::{AffineRows, Centre, Outward};
use super::forward::max_pool;
use super::matvec;
use super::{ConvGeometry, Function, Kernel, Layer, Net, SignZero, conv2d, layer_output, layer_path, sign};
use crate::error::{Error, Result};
use crate::float::{ETA, dn, gamma, up};

/// The norm of an input perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputNorm {
    /// ‖δ‖₂.
    L2,
    /// ‖δ‖∞ = maxᵢ |δᵢ|.
    Linf,
}

impl InputNorm {
    /// The name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            InputNorm::L2 => "l2",
            InputNorm::Linf => "linf",
        }
    }

    /// An upper bound on the dual norm ‖w‖_q (q = 2 for ℓ2, q = 1 for ℓ∞) of a row: |w·δ| ≤ ‖w‖_q‖δ‖_p.
    ///
    /// Theorem F1 (proofs/float.md), used by V1 and V3; checked by tests/enclose.rs::the_ball_enters_the_first_layer_exactly.
    pub fn dual_norm_up<'a>(self, w: impl IntoIterator<Item = &'a f64>) -> f64 {
        match self {
            InputNorm::L2 => crate::float::sqrt_up(crate::float::sum_sq_up(w)),
            InputNorm::Linf => crate::float::abs_sum_up(w),
        }
    }

    /// An upper bound on ‖a − b‖ (each difference rounded outward).
    ///
    /// Theorem F1 (proofs/float.md), used by M1 and the corruption audit; checked by
    /// tests/attack.rs::every_returned_example_is_confirmed.
    pub fn dist_up(self, a: &[f64], b: &[f64]) -> f64 {
        let d = a.iter().zip(b).map(|(x, y)| up((x - y).abs()));
        match self {
            InputNorm::L2 => crate::float::sqrt_up(d.fold(0.0, |s, v| up(s + up(v * v)))),
            InputNorm::Linf => d.fold(0.0, f64::max),
        }
    }

    /// A lower bound on ‖a − b‖ (never negative).
    pub fn dist_dn(self, a: &[f64], b: &[f64]) -> f64 {
        let d = a.iter().zip(b).map(|(x, y)| dn((x - y).abs()).max(0.0));
        match self {
            InputNorm::L2 => crate::float::sqrt_dn(d.fold(0.0, |s, v| dn(s + dn(v * v)).max(0.0))),
            InputNorm::Linf => d.fold(0.0, f64::max),
        }
    }
}

/// Enclosures of a batch of activations: column k is sample k, rows the flattened activation (CHW).
#[derive(Clone, Debug, PartialEq)]
pub struct BoxBatch {
    /// Lower ends.
    pub lo: DMatrix<f64>,
    /// Upper ends.
    pub hi: DMatrix<f64>,
    /// The activation shape (`[d]` or `[c, h, w]`).
    pub shape: Vec<usize>,
}

impl BoxBatch {
    /// Degenerate boxes [x, x].
    pub fn points(x: DMatrix<f64>, shape: Vec<usize>) -> Self {
        BoxBatch { lo: x.clone(), hi: x, shape }
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.lo.ncols()
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> BoxBatch {
        BoxBatch { lo: self.lo.map(&f), hi: self.hi.map(&f), shape: self.shape.clone() }
    }

    /// Intersection with another enclosure of the same values (both are true, so is their intersection).
    pub fn intersect(&self, other: &BoxBatch) -> BoxBatch {
        BoxBatch {
            lo: self.lo.zip_map(&other.lo, f64::max),
            hi: self.hi.zip_map(&other.hi, f64::min),
            shape: self.shape.clone(),
        }
    }
}

/// A set of inputs around each sample: the closed ball ‖δ‖ ≤ εₖ around column k, intersected with `domain`.
#[derive(Clone, Debug, PartialEq)]
pub struct Perturbation {
    /// The norm of the ball.
    pub norm: InputNorm,
    /// One radius per sample (0 for the point itself).
    pub eps: Vec<f64>,
    /// Per-coordinate bounds every input satisfies (e.g. the valid pixel box), or none.
    pub domain: Option<(Vec<f64>, Vec<f64>)>,
}

/// The enclosure of y = Ax + b for x in the boxes, where `apply(M)` computes A·M (n terms per entry) and
/// `apply_abs(V)` computes |A|·V; `bias[i]` is row i's offset (theorems F1, F2, F4, F5: the centre m and radius
/// r of the boxes with lo ≤ m − r and m + r ≥ hi, c = fl(A m + b) with error ≤ γ_{n+1}(|A||m| + |b|) + (n + 1)η,
/// and |A|v ≤ (fl(|A|v) + nη)/(1 − γ_n)); the element-wise passes are [`super::enclose_rows`].
fn affine_map(
    x: &BoxBatch,
    n: usize,
    bias: &[f64],
    apply: &dyn Fn(&DMatrix<f64>) -> DMatrix<f64>,
    apply_abs: &dyn Fn(&DMatrix<f64>) -> DMatrix<f64>,
    out_shape: Vec<usize>,
) -> BoxBatch {
    let g1 = gamma(n + 1);
    let (mut m, mut v) =
        (DMatrix::zeros(x.lo.nrows(), x.lo.ncols()), DMatrix::zeros(x.lo.nrows(), x.lo.ncols()));
    crate::wide::wide(Centre {
        lo: x.lo.as_slice(),
        hi: x.hi.as_slice(),
        gamma: g1,
        m: m.as_mut_slice(),
        v: v.as_mut_slice(),
    });
    let c = apply(&m);
    let a = apply_abs(&v);
    // An infinite input end leaves nothing to compute with: the column's outputs are unknown.
    let known: Vec<bool> = (0..x.samples())
        .map(|k| x.lo.column(k).iter().chain(x.hi.column(k).iter()).all(|v| v.is_finite()))
        .collect();
    let bias_rad: Vec<f64> = bias.iter().map(|b| up(g1 * b.abs())).collect();
    let mut lo = c.clone();
    let mut hi = c;
    crate::wide::wide(Outward {
        rows: lo.nrows(),
        a: a.as_slice(),
        lo: lo.as_mut_slice(),
        hi: hi.as_mut_slice(),
        bias,
        bias_rad: &bias_rad,
        n_eta: n as f64 * ETA,
        one_minus: dn(1.0 - gamma(n)),
        tail: (n + 1) as f64 * ETA,
        known: &known,
    });
    BoxBatch { lo, hi, shape: out_shape }
}

fn dense(w: &DMatrix<f64>, b: Option<&nalgebra::DVector<f64>>, x: &BoxBatch) -> BoxBatch {
    let bias = b.map_or_else(|| vec![0.0; w.nrows()], |b| b.as_slice().to_vec());
    // A few columns: one matrix-vector product each, and |W|v without forming |W| (building it would cost more
    // than the products; theorem F5 holds for the sum in any order).
    if x.samples() <= 4 {
        let each = |m: &DMatrix<f64>, f: fn(&DMatrix<f64>, &[f64]) -> Vec<f64>| {
            let cols: Vec<f64> = m.column_iter().flat_map(|c| f(w, c.as_slice())).collect();
            DMatrix::from_vec(w.nrows(), m.ncols(), cols)
        };
        return affine_map(
            x,
            w.ncols(),
            &bias,
            &|m| each(m, matvec::mul),
            &|v| each(v, matvec::abs_mul),
            vec![w.nrows()],
        );
    }
    let abs = w.abs();
    affine_map(x, w.ncols(), &bias, &|m| w * m, &|v| &abs * v, vec![w.nrows()])
}

fn conv_columns(k: &Kernel, g: &ConvGeometry, m: &DMatrix<f64>) -> DMatrix<f64> {
    let [co, oh, ow] = g.out_shape();
    let mut out = DMatrix::zeros(co * oh * ow, m.ncols());
    for (col, mut dst) in m.column_iter().zip(out.column_iter_mut()) {
        let y = conv2d(k, g, col.as_slice());
        dst.copy_from_slice(&y);
    }
    out
}

fn conv(k: &Kernel, g: &ConvGeometry, b: Option<&Vec<f64>>, x: &BoxBatch) -> BoxBatch {
    let abs = Kernel { data: k.data.iter().map(|v| v.abs()).collect(), ..k.clone() };
    let per = g.out_h() * g.out_w();
    let rows = k.c_out * per;
    let bias: Vec<f64> = (0..rows).map(|i| b.map_or(0.0, |b| b[i / per])).collect();
    affine_map(
        x,
        g.taps(),
        &bias,
        &|m| conv_columns(k, g, m),
        &|v| conv_columns(&abs, g, v),
        g.out_shape().to_vec(),
    )
}

/// y = s ⊙ x + t per channel (or feature): both products and sums rounded outward.
fn affine(scale: &[f64], shift: &[f64], x: &BoxBatch) -> BoxBatch {
    let per = if x.shape.len() == 3 { x.shape[1] * x.shape[2] } else { 1 };
    let rows = x.lo.nrows();
    let scale: Vec<f64> = (0..rows).map(|i| scale[i / per]).collect();
    let shift: Vec<f64> = (0..rows).map(|i| shift[i / per]).collect();
    let mut out = x.clone();
    crate::wide::wide(AffineRows {
        scale: &scale,
        shift: &shift,
        lo: out.lo.as_mut_slice(),
        hi: out.hi.as_mut_slice(),
    });
    out
}

/// Mean over windows (`window(out_index)` lists the input rows), sums and the division rounded outward.
fn mean_pool(
    x: &BoxBatch,
    outputs: usize,
    window: &dyn Fn(usize) -> Vec<usize>,
    shape: Vec<usize>,
) -> BoxBatch {
    let mut lo = DMatrix::zeros(outputs, x.samples());
    let mut hi = DMatrix::zeros(outputs, x.samples());
    for o in 0..outputs {
        let rows = window(o);
        let n = rows.len() as f64;
        for k in 0..x.samples() {
            let (mut sl, mut sh) = (0.0f64, 0.0f64);
            for &r in &rows {
                sl = dn(sl + x.lo[(r, k)]);
                sh = up(sh + x.hi[(r, k)]);
            }
            lo[(o, k)] = dn(sl / n);
            hi[(o, k)] = up(sh / n);
        }
    }
    BoxBatch { lo, hi, shape }
}

fn max_pool_box(x: &BoxBatch, kernel: usize, stride: usize, padding: usize, shape: Vec<usize>) -> BoxBatch {
    // max is monotone in every argument and exact in floating point.
    let pool = |m: &DMatrix<f64>| {
        let cols: Vec<Vec<f64>> =
            m.column_iter().map(|c| max_pool(c.as_slice(), &x.shape, kernel, stride, padding).0).collect();
        DMatrix::from_fn(cols[0].len(), cols.len(), |i, k| cols[k][i])
    };
    BoxBatch { lo: pool(&x.lo), hi: pool(&x.hi), shape }
}

/// The enclosure of one layer's exact output, with every NaN end (0·∞, ∞ − ∞ of an unknown input) made the
/// infinite end it stands for, so no later step (sign, ReLU, max, min) can turn it into a number.
fn layer_box(path: &str, layer: &Layer, function: Function, zero: SignZero, x: BoxBatch) -> Result<BoxBatch> {
    Ok(unknown_for_nan(layer_box_raw(path, layer, function, zero, x)?))
}

/// Every NaN end made the infinite end it stands for.
fn unknown_for_nan(mut b: BoxBatch) -> BoxBatch {
    b.lo.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = f64::NEG_INFINITY);
    b.hi.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = f64::INFINITY);
    b
}

fn layer_box_raw(
    path: &str,
    layer: &Layer,
    function: Function,
    zero: SignZero,
    x: BoxBatch,
) -> Result<BoxBatch> {
    let out_shape = layer_output(path, layer, &x.shape, false)?;
    Ok(match layer {
        Layer::Dense { bias, .. } => dense(layer.dense_weight(function).expect("dense"), bias.as_ref(), &x),
        Layer::Conv2d { bias, stride, padding, in_shape, .. } => {
            let k = layer.conv_kernel(function).expect("conv");
            conv(k, &ConvGeometry::new(k, *in_shape, *stride, *padding), bias.as_ref(), &x)
        }
        Layer::Affine { scale, shift } => affine(scale, shift, &x),
        // sign is non-decreasing under both sign(0) conventions: [sign(lo), sign(hi)] holds every value.
        Layer::Sign if function == Function::Deployed => x.map(|v| sign(v, zero)),
        Layer::Sign | Layer::HardTanh => x.map(|v| v.clamp(-1.0, 1.0)),
        Layer::Relu => x.map(|v| v.max(0.0)),
        Layer::Residual { body, shortcut } => {
            let b = enclose_seq(&format!("{path}.body"), body, function, zero, x.clone())?;
            let s = enclose_seq(&format!("{path}.shortcut"), shortcut, function, zero, x)?;
            BoxBatch {
                lo: b.lo.zip_map(&s.lo, |a, c| dn(a + c)),
                hi: b.hi.zip_map(&s.hi, |a, c| up(a + c)),
                shape: out_shape,
            }
        }
        Layer::MaxPool { kernel, stride, padding } => max_pool_box(&x, *kernel, *stride, *padding, out_shape),
        Layer::AvgPool { kernel, stride } => {
            let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
            let (oh, ow) = (out_shape[1], out_shape[2]);
            let (kernel, stride) = (*kernel, *stride);
            let window = |o: usize| {
                let (ch, i, j) = (o / (oh * ow), (o / ow) % oh, o % ow);
                let mut rows = Vec::with_capacity(kernel * kernel);
                for a in 0..kernel {
                    for b in 0..kernel {
                        rows.push((ch * h + i * stride + a) * w + j * stride + b);
                    }
                }
                rows
            };
            mean_pool(&x, c * oh * ow, &window, out_shape)
        }
        Layer::GlobalAvgPool => {
            let per = x.shape[1] * x.shape[2];
            mean_pool(&x, x.shape[0], &|o| (o * per..(o + 1) * per).collect(), out_shape)
        }
        Layer::Flatten => BoxBatch { shape: out_shape, ..x },
    })
}

fn enclose_seq(
    prefix: &str,
    layers: &[Layer],
    f: Function,
    zero: SignZero,
    mut x: BoxBatch,
) -> Result<BoxBatch> {
    for (i, layer) in layers.iter().enumerate() {
        x = layer_box(&layer_path(prefix, i), layer, f, zero, x)?;
    }
    Ok(x)
}

fn check_finite(b: &BoxBatch, what: &str) -> Result<()> {
    if b.lo.iter().chain(b.hi.iter()).any(|v| v.is_nan()) {
        return Err(Error::NonFinite { context: format!("enclosure of {what}") });
    }
    Ok(())
}

impl Net {
    /// The enclosure of the exact outputs of top-level layers `range` for inputs in `x` (theorem V1).
    ///
    /// Theorem V1 (proofs/certify.md); checked by tests/enclose.rs::enclosures_hold_every_sampled_input.
    pub fn enclose_layers(
        &self,
        range: std::ops::Range<usize>,
        x: BoxBatch,
        function: Function,
    ) -> Result<BoxBatch> {
        let mut x = x;
        for i in range {
            x = layer_box(&i.to_string(), &self.layers[i], function, self.sign_zero, x)?;
        }
        check_finite(&x, "the network output")?;
        Ok(x)
    }

    /// The enclosure of the exact output of `function` for every input within `pert` of each column of `x`
    /// (columns are flattened inputs, CHW order).
    ///
    /// Leading `Flatten` layers are skipped; when the first other layer is dense or a convolution, a ball enters
    /// it exactly: row i moves by at most εₖ‖wᵢ‖_q (q the dual norm; for a convolution the whole kernel slice of
    /// the output channel), intersected, when a domain is given, with the image of the box
    /// [x − ε, x + ε] ∩ domain. Otherwise that box (which contains both balls) is propagated.
    ///
    /// Theorem V1 (proofs/certify.md); checked by tests/enclose.rs::enclosures_hold_every_sampled_input.
    pub fn enclose(
        &self,
        x: &DMatrix<f64>,
        function: Function,
        pert: Option<&Perturbation>,
    ) -> Result<BoxBatch> {
        let (next, b) = self.enclose_input(x, function, pert)?;
        self.enclose_layers(next..self.layers.len(), b, function)
    }

    /// The enclosure after the input has entered the network: returns the index of the next top-level layer and
    /// the boxes of its input (see [`Net::enclose`]).
    pub fn enclose_input(
        &self,
        x: &DMatrix<f64>,
        function: Function,
        pert: Option<&Perturbation>,
    ) -> Result<(usize, BoxBatch)> {
        if x.nrows() != self.input_len() {
            return Err(Error::Shape {
                context: "enclosure input".into(),
                expected: self.input_shape.clone(),
                found: vec![x.nrows()],
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { context: "enclosure input".into() });
        }
        let mut first = 0;
        let mut shape = self.input_shape.clone();
        while let Some(Layer::Flatten) = self.layers.get(first) {
            shape = vec![shape.iter().product()];
            first += 1;
        }
        let Some(p) = pert else { return Ok((first, BoxBatch::points(x.clone(), shape))) };
        if p.eps.len() != x.ncols() || p.eps.iter().any(|e| !(e.is_finite() && *e >= 0.0)) {
            return Err(Error::config("perturbation", "needs one finite radius ≥ 0 per sample"));
        }
        let boxed = |x: &DMatrix<f64>| {
            let mut lo = DMatrix::from_fn(x.nrows(), x.ncols(), |i, k| dn(x[(i, k)] - p.eps[k]));
            let mut hi = DMatrix::from_fn(x.nrows(), x.ncols(), |i, k| up(x[(i, k)] + p.eps[k]));
            if let Some((dl, dh)) = &p.domain {
                for k in 0..x.ncols() {
                    for i in 0..x.nrows() {
                        lo[(i, k)] = lo[(i, k)].max(dl[i]);
                        hi[(i, k)] = hi[(i, k)].min(dh[i]);
                    }
                }
            }
            BoxBatch { lo, hi, shape: shape.clone() }
        };
        if let Some((dl, dh)) = &p.domain
            && (dl.len() != x.nrows() || dh.len() != x.nrows())
        {
            return Err(Error::config("perturbation domain", "needs one bound per input coordinate"));
        }
        let layer = self.layers.get(first);
        let rows = match layer {
            Some(l @ Layer::Dense { .. }) => {
                let w = l.dense_weight(function).expect("dense");
                (0..w.nrows()).map(|i| p.norm.dual_norm_up(w.row(i).iter())).collect::<Vec<f64>>()
            }
            Some(l @ Layer::Conv2d { .. }) => {
                let k = l.conv_kernel(function).expect("conv");
                let per_out = k.c_in * k.kh * k.kw;
                let out = layer_output(&first.to_string(), l, &shape, false)?;
                let (oh, ow) = (out[1], out[2]);
                (0..k.c_out)
                    .flat_map(|o| {
                        let n = p.norm.dual_norm_up(&k.data[o * per_out..(o + 1) * per_out]);
                        std::iter::repeat_n(n, oh * ow)
                    })
                    .collect()
            }
            _ => return Ok((first, boxed(x))),
        };
        let l = layer.expect("matched above");
        let path = first.to_string();
        let centre =
            layer_box(&path, l, function, self.sign_zero, BoxBatch::points(x.clone(), shape.clone()))?;
        let mut ball = centre.clone();
        for k in 0..x.ncols() {
            for (i, &n) in rows.iter().enumerate() {
                let w = up(p.eps[k] * n);
                ball.lo[(i, k)] = dn(centre.lo[(i, k)] - w);
                ball.hi[(i, k)] = up(centre.hi[(i, k)] + w);
            }
        }
        if p.domain.is_some() {
            ball = ball.intersect(&layer_box(&path, l, function, self.sign_zero, boxed(x))?);
        }
        Ok((first + 1, unknown_for_nan(ball)))
    }

    /// The enclosure of the exact output at single points (columns of `x`).
    ///
    /// Theorem V1 (proofs/certify.md); checked by
    /// tests/enclose.rs::point_enclosures_are_tight_and_verdicts_match_the_forward_pass.
    pub fn enclose_points(&self, x: &DMatrix<f64>, function: Function) -> Result<BoxBatch> {
        self.enclose(x, function, None)
    }
}

/// What an enclosure of the logits proves about the class `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// logit_t > logit_j for every j ≠ t, for every input of the set: the prediction is t.
    Keeps,
    /// Some j ≠ t has logit_j ≥ logit_t for every input of the set: the prediction is not (uniquely) t.
    Loses,
    /// Neither can be decided from the enclosure.
    Unknown,
}

/// The verdict for class `t` from column `k` of a logit enclosure (ties count against t).
pub fn verdict(logits: &BoxBatch, k: usize, t: usize) -> Verdict {
    let (lo, hi) = (logits.lo.column(k), logits.hi.column(k));
    let others = (0..lo.len()).filter(|&j| j != t);
    if others.clone().all(|j| lo[t] > hi[j]) {
        Verdict::Keeps
    } else if others.clone().any(|j| lo[j] >= hi[t]) {
        Verdict::Loses
    } else {
        Verdict::Unknown
    }
}

/// A lower bound on the exact margin logit_t − logit_j from column `k` of a logit enclosure.
pub fn pair_margin_lower(logits: &BoxBatch, k: usize, t: usize, j: usize) -> f64 {
    dn(logits.lo[(t, k)] - logits.hi[(j, k)])
}

/// A lower bound on the exact margin min_{j≠t}(logit_t − logit_j) from column `k` of a logit enclosure.
pub fn margin_lower(logits: &BoxBatch, k: usize, t: usize) -> f64 {
    (0..logits.lo.nrows())
        .filter(|&j| j != t)
        .map(|j| pair_margin_lower(logits, k, t, j))
        .fold(f64::INFINITY, f64::min)
}

/// The inputs of a batch as a matrix (one column per sample).
pub fn columns(samples: &[Vec<f64>]) -> DMatrix<f64> {
    let n = samples.first().map_or(0, Vec::len);
    DMatrix::from_fn(n, samples.len(), |i, k| samples[k][i])
}
