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

    fn mid_rad(&self) -> (Vec<f64>, Vec<f64>) {
        let m: Vec<f64> = self.lo.iter().zip(&self.hi).map(|(l, h)| l + (h - l) / 2.0).collect();
        let r = self.lo.iter().zip(&self.hi).zip(&m).map(|((l, h), m)| up((h - m).max(m - l))).collect();
        (m, r)
    }
}

/// y = W x + b over a box (`transpose` uses Wᵀ and no offset).
fn linear(w: &DMatrix<f64>, b: Option<&DVector<f64>>, x: &Interval, transpose: bool) -> Interval {
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
