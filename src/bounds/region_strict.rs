//! Which fixed units of a branch-and-bound node may be asked for a strict margin in the region LP: those whose
//! pre-activation is proven non-constant on every open subset of the node's region (theorem B4, part (c),
//! `proofs/bab.md`).
//!
//! A pre-activation that is constant on an open set may sit exactly at a kink there (a ReLU unit whose inputs
//! are all dead and whose bias is 0, say); asking it for a margin would drop a region that exists. Two proofs of
//! non-constancy are used:
//! * while every unit of the earlier layers has a known piece, the pre-activation is affine on the region,
//!   z_u = a_uᵀξ + β_u in the start coordinates ξ (the input, or the free first pre-activations of theorem B6,
//!   both of which map open sets of inputs onto open sets); a_u is computed in floating point with an entrywise
//!   error bound carried through every product (F2), and a_u ≠ 0 is proven by an entry larger than its bound;
//! * over an onto first layer (B6), a second-layer unit u whose weight W_ui ≠ 0 reaches a first-layer unit i that
//!   is free (σ_i ≠ 0) and known to be on its slope-1 piece (with every diagonal factor of u nonzero) changes with
//!   z_i alone, the other first-layer units not depending on z_i: non-constant whatever the undecided units do.

use nalgebra::DMatrix;

use super::bab_leaf::activations;
use super::chain::{Chain, Step};
use super::first_layer::FirstLayer;
use super::float::{U, add_up, gamma, mul_up};

/// The allowance for the underflow of a sum of products.
const UNDERFLOW: f64 = 1e-300;

/// Rows of an affine map in the start coordinates, with an entrywise bound on their error.
struct Rows {
    /// Float rows; `None` for the identity (the input coordinates themselves).
    val: Option<DMatrix<f64>>,
    /// |exact − val| ≤ err entrywise (all zero for the identity).
    err: DMatrix<f64>,
}

impl Rows {
    fn linear(&self, w: &DMatrix<f64>) -> Rows {
        let Some(r) = &self.val else {
            return Rows { val: Some(w.clone()), err: DMatrix::zeros(w.nrows(), w.ncols()) };
        };
        let (out, inn, dim) = (w.nrows(), w.ncols(), r.ncols());
        let g = gamma(inn + 1);
        let mut val = DMatrix::zeros(out, dim);
        let mut err = DMatrix::zeros(out, dim);
        for o in 0..out {
            for j in 0..dim {
                let (mut s, mut mag, mut e) = (0.0, 0.0f64, 0.0f64);
                for c in 0..inn {
                    let a = w[(o, c)];
                    if a == 0.0 {
                        continue;
                    }
                    s += a * r[(c, j)];
                    mag = add_up(mag, mul_up(a.abs(), r[(c, j)].abs()));
                    e = add_up(e, mul_up(a.abs(), self.err[(c, j)]));
                }
                val[(o, j)] = s;
                err[(o, j)] = add_up(e, add_up(mul_up(g, mag), UNDERFLOW));
            }
        }
        Rows { val: Some(val), err }
    }

    fn diag(&self, s: &[f64]) -> Rows {
        let n = s.len();
        let (val, err) = match &self.val {
            Some(r) => (r.clone(), self.err.clone()),
            None => (DMatrix::identity(n, n), DMatrix::zeros(n, n)),
        };
        let mut out = Rows { val: Some(val), err };
        let (v, e) = (out.val.as_mut().expect("set"), &mut out.err);
        for i in 0..n {
            for j in 0..v.ncols() {
                let p = s[i] * v[(i, j)];
                e[(i, j)] =
                    add_up(add_up(mul_up(s[i].abs(), e[(i, j)]), mul_up(2.0 * U, p.abs())), UNDERFLOW);
                v[(i, j)] = p;
            }
        }
        out
    }

    /// Whether row `u` is proven nonzero.
    fn nonzero(&self, u: usize) -> bool {
        match &self.val {
            None => true,
            Some(v) => (0..v.ncols()).any(|j| v[(u, j)].abs() > self.err[(u, j)]),
        }
    }

    /// Zeroes the rows of units on a flat piece.
    fn flatten(&mut self, slope_one: &[bool], dim: usize) {
        if self.val.is_none() {
            self.val = Some(DMatrix::identity(dim, dim));
            self.err = DMatrix::zeros(dim, dim);
        }
        let v = self.val.as_mut().expect("set");
        for (i, &keep) in slope_one.iter().enumerate() {
            if !keep {
                v.row_mut(i).fill(0.0);
                self.err.row_mut(i).fill(0.0);
            }
        }
    }
}

/// Second-layer rule over an onto first layer: c = 1 where a weight reaches a free first-layer unit known on its
/// slope-1 piece and every diagonal factor after the dense step is nonzero.
fn second_layer(chain: &Chain, fl: &FirstLayer, known: &[Vec<Option<u8>>], c: &mut [f64]) {
    let mut k = fl.act_step + 1;
    let Some(Step::Linear { w, .. }) = chain.steps.get(k) else { return };
    let mut scaled = vec![true; w.nrows()];
    loop {
        k += 1;
        match chain.steps.get(k) {
            Some(Step::Diag { s, .. }) => scaled.iter_mut().zip(s).for_each(|(f, s)| *f &= *s != 0.0),
            Some(Step::Act(_)) => break,
            _ => return,
        }
    }
    for u in 0..w.nrows() {
        let reaches = (0..w.ncols()).any(|i| w[(u, i)] != 0.0 && fl.free[i] && known[0][i] == Some(1));
        if scaled[u] && reaches {
            c[u] = 1.0;
        }
    }
}

/// Per activation layer and unit: 1 where the unit's pre-activation is proven non-constant on every open subset
/// of the node's region, else 0 (`known`: the known piece of every unit).
///
/// Theorem B4 (c) (proofs/bab.md); checked by tests/bab_region.rs::pruned_regions_are_empty and
/// tests/bab.rs::order_holds_on_random_nets (ReLU nets with zero biases, where units sit at a kink on open sets).
pub fn non_constant(chain: &Chain, first: Option<&FirstLayer>, known: &[Vec<Option<u8>>]) -> Vec<Vec<f64>> {
    let acts = activations(chain);
    let mut c: Vec<Vec<f64>> = known.iter().map(|k| vec![0.0; k.len()]).collect();
    let (mut rows, from, mut ai) = match first {
        None => (Rows { val: None, err: DMatrix::zeros(0, 0) }, 0, 0),
        Some(fl) => {
            let m = fl.width();
            for (cu, &free) in c[0][..m].iter_mut().zip(&fl.free) {
                *cu = if free { 1.0 } else { 0.0 };
            }
            if acts.len() > 1 {
                second_layer(chain, fl, known, &mut c[1]);
            }
            let free = DMatrix::from_fn(m, m, |r, q| if r == q && fl.free[r] { 1.0 } else { 0.0 });
            (Rows { val: Some(free), err: DMatrix::zeros(m, m) }, fl.act_step, 0)
        }
    };
    let last = acts.last().map_or(0, |&(k, _)| k);
    for k in from..=last {
        match &chain.steps[k] {
            Step::Linear { w, .. } => rows = rows.linear(w),
            Step::Diag { s, .. } => rows = rows.diag(s),
            Step::Act(_) => {
                if first.is_none() || ai > 0 {
                    for (u, cu) in c[ai].iter_mut().enumerate() {
                        if rows.nonzero(u) {
                            *cu = 1.0;
                        }
                    }
                }
                if known[ai].iter().any(|p| p.is_none()) {
                    break; // the layers after an undecided unit are not affine on the region
                }
                let slope_one: Vec<bool> = known[ai].iter().map(|p| *p == Some(1)).collect();
                rows.flatten(&slope_one, chain.width_before(k));
                ai += 1;
            }
        }
    }
    c
}
