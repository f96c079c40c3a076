//! Interval bounds with outward rounding: forward (pre-activation boxes) and backward (gradient boxes).
//!
//! Linear steps use the midpoint–radius form: for x ∈ [m − r, m + r], Wx + b ∈ [c − ρ, c + ρ] with
//! c = fl(Wm + b) and ρ = |W|r + γ_{n+1}(|W||m| + |b|) + n·2⁻¹⁰⁷⁴, all rounded upward (theorem F4,
//! `proofs/float.md`). Monotone activations map interval ends exactly.

use nalgebra::{DMatrix, DVector};

use super::chain::{Chain, Step};
use super::float::{ETA, dn, gamma, up};

/// A box [lo, hi].
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Lower ends.
    pub lo: Vec<f64>,
    /// Upper ends.
    pub hi: Vec<f64>,
}

impl Interval {
    /// The box [lo, hi] (ends given).
    pub fn new(lo: Vec<f64>, hi: Vec<f64>) -> Self {
        Interval { lo, hi }
    }

    /// The degenerate box [x, x].
    pub fn point(x: &[f64]) -> Self {
        Interval { lo: x.to_vec(), hi: x.to_vec() }
    }

    /// max(|lo|, |hi|) per coordinate.
    pub fn mag(&self) -> Vec<f64> {
        self.lo.iter().zip(&self.hi).map(|(l, h)| l.abs().max(h.abs())).collect()
    }

    /// The centres and radii of the coordinates ([`mid_rad`]).
    pub(crate) fn mid_rad(&self) -> (Vec<f64>, Vec<f64>) {
        self.lo.iter().zip(&self.hi).map(|(&l, &h)| mid_rad(l, h)).unzip()
    }
}

/// The centre μ = fl(l + fl(h − l)/2) of [l, h] and a radius ρ = up(max(fl(h − μ), fl(μ − l))), so that
/// [l, h] ⊆ [μ − ρ, μ + ρ] (F1).
pub(crate) fn mid_rad(l: f64, h: f64) -> (f64, f64) {
    let m = l + (h - l) / 2.0;
    (m, up((h - m).max(m - l)))
}

/// y = W x + b over a box (`transpose` uses Wᵀ and no offset).
pub(crate) fn linear(w: &DMatrix<f64>, b: Option<&DVector<f64>>, x: &Interval, transpose: bool) -> Interval {
    let (m, r) = x.mid_rad();
    let (mv, rv) = (DVector::from_vec(m), DVector::from_vec(r));
    let (c, n_out, n) =
        if transpose { (w.tr_mul(&mv), w.ncols(), w.nrows()) } else { (w * &mv, w.nrows(), w.ncols()) };
    let g = gamma(n + 1);
    let mut lo = Vec::with_capacity(n_out);
    let mut hi = Vec::with_capacity(n_out);
    for i in 0..n_out {
        let (mut rad, mut mag) = (0.0f64, 0.0f64);
        for k in 0..n {
            let a = if transpose { w[(k, i)] } else { w[(i, k)] }.abs();
            rad = up(rad + up(a * rv[k]));
            mag = up(mag + up(a * mv[k].abs()));
        }
        let (ci, bi) = match b {
            Some(b) => (c[i] + b[i], b[i].abs()),
            None => (c[i], 0.0),
        };
        let slack = up(up(g * up(mag + bi)) + (n + 1) as f64 * ETA);
        let rad = up(rad + slack);
        lo.push(dn(ci - rad));
        hi.push(up(ci + rad));
    }
    Interval { lo, hi }
}

fn diag(s: &[f64], t: Option<&[f64]>, x: &Interval) -> Interval {
    let mut lo = Vec::with_capacity(s.len());
    let mut hi = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        let (a, b) = (s[i] * x.lo[i], s[i] * x.hi[i]);
        let off = t.map_or(0.0, |t| t[i]);
        // One rounding for the product, one for the sum: step outward twice.
        lo.push(dn(dn(a.min(b)) + off));
        hi.push(up(up(a.max(b)) + off));
    }
    Interval { lo, hi }
}

/// The box of the input of every step (index s) and of the output (index S), for inputs in `input`.
///
/// Theorem F4 (proofs/float.md); checked by tests/lp.rs::local_is_tighter_and_holds_inside_its_box.
pub fn forward(chain: &Chain, input: &Interval) -> Vec<Interval> {
    let mut boxes = vec![input.clone()];
    for step in &chain.steps {
        let x = boxes.last().expect("non-empty");
        let y = match step {
            Step::Linear { w, b } => linear(w, Some(b), x, false),
            Step::Diag { s, t } => diag(s, Some(t), x),
            Step::Act(a) => Interval {
                lo: x.lo.iter().map(|&v| a.apply(v)).collect(),
                hi: x.hi.iter().map(|&v| a.apply(v)).collect(),
            },
        };
        boxes.push(y);
    }
    boxes
}

/// Derivative pattern knowledge of one activation unit: `Some(d)` when fixed on the region, `None` if unknown.
pub type Stability = Vec<Option<bool>>;

/// The stability of every activation step's units given the forward boxes (`None` = global: all unstable).
pub fn stability(chain: &Chain, boxes: Option<&[Interval]>) -> Vec<Stability> {
    chain
        .steps
        .iter()
        .enumerate()
        .filter_map(|(s, step)| match step {
            Step::Act(a) => Some(match boxes {
                Some(b) => b[s].lo.iter().zip(&b[s].hi).map(|(&l, &u)| a.stable(l, u)).collect(),
                None => vec![None; chain.width_before(s)],
            }),
            _ => None,
        })
        .collect()
}

/// Boxes of the gradient of cᵀf with respect to the output of every step (index s ↦ ∂/∂(output of step s−1),
/// i.e. index 0 is the input gradient, index S is c), over all patterns allowed by `stable`.
///
/// Theorem F4 (proofs/float.md); checked by tests/lp.rs::local_is_tighter_and_holds_inside_its_box.
pub fn backward(chain: &Chain, c: &[f64], stable: &[Stability]) -> Vec<Interval> {
    let s_len = chain.steps.len();
    let mut boxes = vec![Interval::point(c)];
    let mut act = stable.len();
    for step in chain.steps.iter().rev() {
        let g = boxes.last().expect("non-empty");
        let next = match step {
            Step::Linear { w, .. } => linear(w, None, g, true),
            Step::Diag { s, .. } => diag(s, None, g),
            Step::Act(_) => {
                act -= 1;
                let st = &stable[act];
                let lo =
                    g.lo.iter()
                        .zip(st)
                        .map(|(&l, d)| match d {
                            Some(true) => l,
                            Some(false) => 0.0,
                            None => l.min(0.0),
                        })
                        .collect();
                let hi =
                    g.hi.iter()
                        .zip(st)
                        .map(|(&h, d)| match d {
                            Some(true) => h,
                            Some(false) => 0.0,
                            None => h.max(0.0),
                        })
                        .collect();
                Interval { lo, hi }
            }
        };
        boxes.push(next);
    }
    boxes.reverse();
    debug_assert_eq!(boxes.len(), s_len + 1);
    boxes
}

/// The boxes of every step's input and of the output (as in [`forward`]) for many input boxes at once: column k
/// of `lo`/`hi` is box k. Each dense step's radius is one matrix product with |W| (theorem F5:
/// |W|r + γ_{n+1}|W||m| ≤ |W|v with v = up(r + up(γ_{n+1}|m|)), bounded from fl(|W|v)), so a batch costs two
/// GEMMs per layer instead of a scalar loop per box.
///
/// Theorems F4 and F5 (proofs/float.md); checked by tests/bounds.rs::batched_boxes_contain_the_forward_pass.
pub fn forward_batch(chain: &Chain, lo: DMatrix<f64>, hi: DMatrix<f64>) -> Vec<(DMatrix<f64>, DMatrix<f64>)> {
    let mut boxes = vec![(lo, hi)];
    for step in &chain.steps {
        let (lo, hi) = boxes.last().expect("non-empty");
        let next = match step {
            Step::Linear { w, b } => linear_batch(w, b, lo, hi),
            Step::Diag { s, t } => {
                let (mut l, mut h) = (lo.clone(), hi.clone());
                for (i, (&s, &t)) in s.iter().zip(t).enumerate() {
                    for k in 0..l.ncols() {
                        let (a, c) = (s * lo[(i, k)], s * hi[(i, k)]);
                        l[(i, k)] = dn(dn(a.min(c)) + t);
                        h[(i, k)] = up(up(a.max(c)) + t);
                    }
                }
                (l, h)
            }
            Step::Act(a) => (lo.map(|v| a.apply(v)), hi.map(|v| a.apply(v))),
        };
        boxes.push(next);
    }
    boxes
}

fn linear_batch(
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    lo: &DMatrix<f64>,
    hi: &DMatrix<f64>,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = w.ncols();
    let g1 = gamma(n + 1);
    let m = lo.zip_map(hi, |l, h| l + (h - l) / 2.0);
    // v = r + γ_{n+1}|m| rounded up, r the radius covering both ends (F1).
    let v = DMatrix::from_fn(m.nrows(), m.ncols(), |i, k| {
        let (l, h, c) = (lo[(i, k)], hi[(i, k)], m[(i, k)]);
        up(up((h - c).max(c - l)).max(0.0) + up(g1 * c.abs()))
    });
    let c = w * &m;
    let a = w.abs() * &v;
    let (n_eta, one_minus, tail) = (n as f64 * ETA, dn(1.0 - gamma(n)), (n + 1) as f64 * ETA);
    let (mut l, mut h) = (c.clone(), c);
    for k in 0..l.ncols() {
        for i in 0..l.nrows() {
            // |W|v ≤ (fl(|W|v) + nη)/(1 − γ_n) (F5); the bias adds γ_{n+1}|b| and one more rounding (F4).
            let s = up(up(a[(i, k)] + n_eta) / one_minus);
            let rad = up(up(s + up(g1 * b[i].abs())) + tail);
            let ci = l[(i, k)] + b[i];
            if ci.is_finite() && rad.is_finite() {
                l[(i, k)] = dn(ci - rad);
                h[(i, k)] = up(ci + rad);
            } else {
                l[(i, k)] = f64::NEG_INFINITY;
                h[(i, k)] = f64::INFINITY;
            }
        }
    }
    (l, h)
}
