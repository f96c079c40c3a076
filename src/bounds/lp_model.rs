//! The LipLP relaxation of a chain (theorem L1, `proofs/lp.md`; Jordan & Dimakis, NeurIPS 2020).
//!
//! Variables: the gradient γ_k of cᵀf with respect to the input of every step (γ_S = c is fixed by its box),
//! one derivative indicator a ∈ [0, 1] per unstable unit, and, in local mode, the forward values of every step
//! with the input in a box. Rows:
//! * linear steps: γ_k = W_kᵀγ_{k+1} (diagonal: γ_k = s ⊙ γ_{k+1}); forward v_{k+1} = W_k v_k + b_k;
//! * backward switch q = a·p for an unstable unit, p ∈ [p_lo, p_hi], p̲ = min(p_lo, 0), p̄ = max(p_hi, 0):
//!   q ≤ p − p̲(1 − a), q ≥ p − p̄(1 − a), q ≥ p̲a, q ≤ p̄a (exact for a ∈ {0, 1}); stable units: q = p or q = 0;
//! * forward switch (local): ReLU h ≥ z, h ≤ u·a, h ≤ z − l(1 − a), h ≥ 0; hardtanh as −1 + relu(z + 1) −
//!   relu(z − 1) with indicators a₁ ≥ a₂ and a = a₁ − a₂, so the same a couples both passes;
//! * objective: for ℓ∞ inputs Σ τ_j with τ_j ≤ s̃·g_j + β_j, a line above |g_j| on [g_lo, g_hi] (the secant,
//!   its intercept rounded up); for ℓ1 inputs ±g_j for one coordinate j.
//!
//! Every box comes from outward-rounded interval propagation, so each true (x, pattern, gradient) satisfies all
//! rows: the LP maximum is ≥ the Lipschitz constant of the margin over the region.

use nalgebra::DMatrix;

use super::chain::{Act, Chain, Step};
use super::float::{dn, up};
use super::interval::{Interval, Stability};
use super::lp_solve::LpProblem;

/// What the LP maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Σ_j |g_j| (ℓ∞ inputs).
    SumAbs,
    /// sign·g_j for one coordinate (ℓ1 inputs need the max over j and both signs).
    Coordinate {
        /// The coordinate.
        j: usize,
        /// +1 or −1.
        positive: bool,
    },
}

/// The forward information of local mode: the boxes of the input of every step (index 0 = input box).
pub struct Forward<'a> {
    /// Interval boxes of every step's input and the output.
    pub boxes: &'a [Interval],
}

/// Indices of the LP variables of one activation unit's indicator (`None` for a stable unit).
type Indicators = Vec<Option<usize>>;

fn relu_piece(lp: &mut LpProblem, z: usize, offset: f64, l: f64, u: f64, h: usize) -> Option<usize> {
    // relu(z + offset) with z + offset ∈ [l, u]; h is its variable. Returns the indicator, if any.
    if l >= 0.0 {
        lp.eq_row(vec![(h, 1.0), (z, -1.0)], offset, 0.0);
        None
    } else if u <= 0.0 {
        lp.lo[h] = 0.0;
        lp.hi[h] = 0.0;
        None
    } else {
        let a = lp.var(0.0, 1.0);
        lp.le_row(vec![(z, 1.0), (h, -1.0)], -offset); // z + offset ≤ h
        lp.le_row(vec![(h, 1.0), (a, -u)], 0.0); // h ≤ u·a
        lp.le_row(vec![(h, 1.0), (z, -1.0), (a, -l)], up(offset - l)); // h ≤ z + offset − l(1 − a)
        Some(a)
    }
}

/// Builds the forward part (local mode); returns, per activation step, the indicator of each unstable unit.
fn forward_part(lp: &mut LpProblem, chain: &Chain, fwd: &Forward, stable: &[Stability]) -> Vec<Indicators> {
    let last_act = chain.steps.iter().rposition(|s| matches!(s, Step::Act(_))).unwrap_or(0);
    let b0 = &fwd.boxes[0];
    let mut v: Vec<usize> = (0..chain.input_dim).map(|i| lp.var(b0.lo[i], b0.hi[i])).collect();
    let (mut inds, mut act) = (Vec::new(), 0);
    for (k, step) in chain.steps.iter().enumerate().take(last_act + 1) {
        let bx = &fwd.boxes[k + 1];
        let out: Vec<usize> = (0..bx.lo.len()).map(|i| lp.var(bx.lo[i], bx.hi[i])).collect();
        match step {
            Step::Linear { w, b } => {
                for r in 0..w.nrows() {
                    let mut t: Vec<(usize, f64)> = vec![(out[r], 1.0)];
                    t.extend((0..w.ncols()).filter(|&c| w[(r, c)] != 0.0).map(|c| (v[c], -w[(r, c)])));
                    lp.eq_row(t, b[r], 0.0);
                }
            }
            Step::Diag { s, t } => {
                for i in 0..s.len() {
                    lp.eq_row(vec![(out[i], 1.0), (v[i], -s[i])], t[i], 0.0);
                }
            }
            Step::Act(a) => {
                let pre = &fwd.boxes[k];
                let mut ind = Vec::with_capacity(out.len());
                for i in 0..out.len() {
                    let (l, u) = (pre.lo[i], pre.hi[i]);
                    ind.push(match (stable[act][i], a) {
                        (Some(true), _) => {
                            lp.eq_row(vec![(out[i], 1.0), (v[i], -1.0)], 0.0, 0.0);
                            None
                        }
                        (Some(false), _) => None, // the box of `out` already pins the constant value
                        (None, Act::Relu) => relu_piece(lp, v[i], 0.0, l, u, out[i]),
                        (None, Act::HardTanh) => {
                            // hardtanh(z) = −1 + relu(z + 1) − relu(z − 1); derivative d = a₁ − a₂.
                            let (l1, u1, l2, u2) = (dn(l + 1.0), up(u + 1.0), dn(l - 1.0), up(u - 1.0));
                            let r1 = lp.var(0.0, u1.max(0.0));
                            let r2 = lp.var(0.0, u2.max(0.0));
                            let a1 = relu_piece(lp, v[i], 1.0, l1, u1, r1);
                            let a2 = relu_piece(lp, v[i], -1.0, l2, u2, r2);
                            lp.eq_row(vec![(out[i], 1.0), (r1, -1.0), (r2, 1.0)], -1.0, 0.0);
                            let d = lp.var(0.0, 1.0);
                            let (mut t, mut rhs) = (vec![(d, 1.0)], 0.0);
                            match a1 {
                                Some(a1) => t.push((a1, -1.0)),
                                None if l1 >= 0.0 => rhs += 1.0,
                                None => {}
                            }
                            match a2 {
                                Some(a2) => t.push((a2, 1.0)),
                                None if l2 >= 0.0 => rhs -= 1.0,
                                None => {}
                            }
                            lp.eq_row(t, rhs, 0.0);
                            Some(d)
                        }
                    });
                }
                inds.push(ind);
                act += 1;
            }
        }
        v = out;
    }
    inds
}

/// Where the backward part of a LipLP problem sits: the variables of every γ_k and the rows linking γ_k to
/// γ_{k+1}, in the order [`build_with_layout`] wrote them. The backward pass of [`super::lp_backward`] reads
/// it to give each row its multiplier (theorem L4, `proofs/lp.md`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    /// Whether the problem has forward (local-mode) rows, which couple the indicators to the input box.
    pub forward: bool,
    /// The variables of γ_k, k = 0..=S (index 0: the input gradient; index S: c, fixed by its box).
    pub grads: Vec<Vec<usize>>,
    /// Per step k < S, the rows linking γ_k to γ_{k+1}.
    pub steps: Vec<StepRows>,
    /// Per input coordinate, the secant row τ_j − s̃g_j ≤ β_j of the ℓ∞ objective (`None`: none was written).
    pub secant: Vec<Option<usize>>,
}

/// The rows of one step of the backward chain.
#[derive(Clone, Debug, PartialEq)]
pub enum StepRows {
    /// One equality row γ_{k,i} − Σ_r a_{ri} γ_{k+1,r} = 0 per coordinate i, rows `first..first + width`
    /// (dense and diagonal steps).
    Rows {
        /// The first row.
        first: usize,
    },
    /// An activation step, per unit.
    Act(Vec<Unit>),
}

/// The encoding of q = a·p for one activation unit of the backward chain (q ∈ γ_k, p ∈ γ_{k+1}).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Stable with derivative 1: the equality row q − p = 0.
    Pass(usize),
    /// Stable with derivative 0: q is fixed at 0 by its box; no row.
    Zero,
    /// Unstable: the four switch rows `first..first + 4` (q ≤ p − p̲(1 − a), q ≥ p − p̄(1 − a), q ≥ p̲a,
    /// q ≤ p̄a, in this order) with indicator `a`.
    Switch {
        /// The indicator variable.
        a: usize,
        /// The first of the four rows.
        first: usize,
        /// p̲ = min(p_lo, 0).
        pl: f64,
        /// p̄ = max(p_hi, 0).
        ph: f64,
    },
}

/// Builds the LipLP problem for margin vector `c`; `fwd = None` is the global relaxation.
///
/// Theorem L1 (proofs/lp.md); checked by tests/lp.rs::one_hidden_layer_matches_the_closed_form.
pub fn build(
    chain: &Chain,
    c: &[f64],
    grads: &[Interval],
    stable: &[Stability],
    fwd: Option<&Forward>,
    obj: Objective,
) -> LpProblem {
    build_with_layout(chain, c, grads, stable, fwd, obj).0
}

/// [`build`], also returning where the backward part's variables and rows are.
///
/// Theorem L1 (proofs/lp.md); checked by tests/lp.rs::one_hidden_layer_matches_the_closed_form.
pub fn build_with_layout(
    chain: &Chain,
    c: &[f64],
    grads: &[Interval],
    stable: &[Stability],
    fwd: Option<&Forward>,
    obj: Objective,
) -> (LpProblem, Layout) {
    let mut lp = LpProblem::default();
    let inds = fwd.map(|f| forward_part(&mut lp, chain, f, stable));
    let s_len = chain.steps.len();
    let mut layout = Layout { forward: fwd.is_some(), ..Default::default() };
    // γ_S = c, then backwards.
    let mut g_next: Vec<usize> = c.iter().map(|&v| lp.var(v, v)).collect();
    let mut act = stable.len();
    for k in (0..s_len).rev() {
        let bx = &grads[k];
        let g: Vec<usize> = (0..bx.lo.len()).map(|i| lp.var(bx.lo[i], bx.hi[i])).collect();
        let first = lp.rows.len();
        let rows = match &chain.steps[k] {
            Step::Linear { w, .. } => {
                transpose_rows(&mut lp, w, &g, &g_next);
                StepRows::Rows { first }
            }
            Step::Diag { s, .. } => {
                for i in 0..s.len() {
                    lp.eq_row(vec![(g[i], 1.0), (g_next[i], -s[i])], 0.0, 0.0);
                }
                StepRows::Rows { first }
            }
            Step::Act(_) => {
                act -= 1;
                let pb = &grads[k + 1];
                let mut units = Vec::with_capacity(g.len());
                for i in 0..g.len() {
                    let (q, p) = (g[i], g_next[i]);
                    units.push(match stable[act][i] {
                        Some(true) => {
                            lp.eq_row(vec![(q, 1.0), (p, -1.0)], 0.0, 0.0);
                            Unit::Pass(lp.rows.len() - 1)
                        }
                        Some(false) => {
                            lp.lo[q] = 0.0;
                            lp.hi[q] = 0.0;
                            Unit::Zero
                        }
                        None => {
                            let a = inds.as_ref().and_then(|v| v[act][i]).unwrap_or_else(|| lp.var(0.0, 1.0));
                            let (pl, ph) = (pb.lo[i].min(0.0), pb.hi[i].max(0.0));
                            let first = lp.rows.len();
                            lp.le_row(vec![(q, 1.0), (p, -1.0), (a, -pl)], -pl);
                            lp.le_row(vec![(p, 1.0), (a, ph), (q, -1.0)], ph);
                            lp.le_row(vec![(a, pl), (q, -1.0)], 0.0);
                            lp.le_row(vec![(q, 1.0), (a, -ph)], 0.0);
                            Unit::Switch { a, first, pl, ph }
                        }
                    });
                }
                StepRows::Act(units)
            }
        };
        layout.grads.push(std::mem::replace(&mut g_next, g));
        layout.steps.push(rows);
    }
    layout.secant = objective(&mut lp, &g_next, &grads[0], obj);
    layout.grads.push(g_next);
    layout.grads.reverse();
    layout.steps.reverse();
    (lp, layout)
}

fn transpose_rows(lp: &mut LpProblem, w: &DMatrix<f64>, g: &[usize], g_next: &[usize]) {
    for (i, &gi) in g.iter().enumerate().take(w.ncols()) {
        let mut t: Vec<(usize, f64)> = vec![(gi, 1.0)];
        t.extend(w.column(i).iter().enumerate().filter(|(_, a)| **a != 0.0).map(|(r, a)| (g_next[r], -a)));
        lp.eq_row(t, 0.0, 0.0);
    }
}

/// Writes the objective; returns the secant row of each input coordinate (ℓ∞ objective, unstable sign).
fn objective(lp: &mut LpProblem, g: &[usize], gb: &Interval, obj: Objective) -> Vec<Option<usize>> {
    let mut secant = vec![None; g.len()];
    match obj {
        Objective::Coordinate { j, positive } => lp.obj[g[j]] = if positive { 1.0 } else { -1.0 },
        Objective::SumAbs => {
            for (j, &gj) in g.iter().enumerate() {
                let (gl, gh) = (gb.lo[j], gb.hi[j]);
                if gl >= 0.0 {
                    lp.obj[gj] += 1.0;
                } else if gh <= 0.0 {
                    lp.obj[gj] -= 1.0;
                } else {
                    let s = (gh + gl) / (gh - gl);
                    let beta = up(-gl - dn(s * gl)).max(up(gh - dn(s * gh)));
                    let tau = lp.var(0.0, (-gl).max(gh));
                    secant[j] = Some(lp.rows.len());
                    lp.le_row(vec![(tau, 1.0), (gj, -s)], beta);
                    lp.obj[tau] = 1.0;
                }
            }
        }
    }
    secant
}
