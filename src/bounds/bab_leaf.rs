//! One node of the branch and bound of [`super::bab`]: a set of activation units fixed to pieces, its interval
//! boxes, its certified LP bound and the unit to split next (theorems B1–B2, `proofs/bab.md`).
//!
//! A node is the set R of inputs x ∈ ℝⁿ (network scope) at which every fixed unit's pre-activation lies in its
//! piece: ReLU z ≤ 0 | z ≥ 0, hardtanh z ≤ −1 | −1 ≤ z ≤ 1 | z ≥ 1. Its boxes come from outward-rounded interval
//! propagation from the unbounded input box, each fixed unit's pre-activation interval cut to its piece; an empty
//! cut proves R empty. Every unit whose slope is then known (fixed, or its interval inside one piece) is stable in
//! the LipLP relaxation of [`super::lp_model`] (global mode: backward rows only), whose multipliers come from the
//! backward pass of theorem L4 and whose value is the dual bound of theorem L2, min the box bound: a certified
//! upper bound on sup ‖∇m‖₁ over R. The unit split next is the unstable one whose switch rows contribute most to
//! that dual bound, |κ|·(−p̲p̄)/(p̄ − p̲) (the bound's slack from relaxing that unit). The node's bound is the
//! minimum of that, the box bound of [`super::bab_box`] (theorem B8) and the first-slopes bound of
//! [`super::bab_first`] (theorem B9); when one of the last two is the smallest, the unit split is the one that
//! widens the box of the input gradient most.

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, microlp, variable};
use nalgebra::{DMatrix, DVector};
use std::collections::HashMap;

use super::bab_box::box_bound_with;
use super::bab_first::first_slopes_bound;
use super::chain::{Act, Chain, Step};
use super::float::{dn, up};
use super::interval::{Interval, Stability, backward, linear};
use super::lp_backward::backward_multipliers;
use super::lp_model::{Objective, StepRows, Unit, build_with_layout};

/// A unit not fixed to a piece.
pub const FREE: u8 = u8::MAX;

/// A hardtanh unit of the last activation step fixed to its flat pieces, z < −1 or z > 1 (the open union), without
/// saying which: its slope is 0, and no later activation sees its value, so both pieces give a node the same bounds
/// (proofs/bab.md, "Both flat pieces at once", B1, B2). Split into the two closed pieces only when nothing else is
/// left to split (a pattern names a piece for every unit).
pub const FLAT: u8 = 3;

/// Per activation step, per unit: the piece it is fixed to (0: ReLU z ≤ 0 or hardtanh z ≤ −1; 1: the slope-1
/// piece, ReLU z ≥ 0 or hardtanh −1 ≤ z ≤ 1; 2: hardtanh z ≥ 1; [`FLAT`]: either hardtanh flat piece) or
/// [`FREE`].
pub type Pieces = Vec<Vec<u8>>;

/// Whether a point whose unit is on piece `at` lies in a node that fixes the unit to `fixed` (not [`FREE`]).
pub(crate) fn piece_holds(fixed: u8, at: u8) -> bool {
    fixed == at || (fixed == FLAT && matches!(at, 0 | 2))
}

/// The flat pieces of hardtanh whose open part (z < −1, z > 1) meets [l, u]: where a point of a [`FLAT`] unit's
/// region can lie. When both do, both closed pieces meet [l, u] in more than one point (l < −1 < 1 < u).
fn flat_sides(l: f64, u: f64) -> Vec<u8> {
    [(0, l < -1.0), (2, u > 1.0)].into_iter().filter(|&(_, meets)| meets).map(|(p, _)| p).collect()
}

/// Whether piece `p` of `act` meets [l, u] in more than one point.
fn piece_meets(act: Act, p: u8, l: f64, u: f64) -> bool {
    let (a, b) = piece_range(act, p);
    l.max(a) < u.min(b)
}

/// The closed pre-activation interval of piece `p` of `act`.
pub(crate) fn piece_range(act: Act, p: u8) -> (f64, f64) {
    let inf = f64::INFINITY;
    match (act, p) {
        (Act::Relu, 0) => (-inf, 0.0),
        (Act::Relu, _) => (0.0, inf),
        (Act::HardTanh, 0) => (-inf, -1.0),
        (Act::HardTanh, 1) => (-1.0, 1.0),
        (Act::HardTanh, FLAT) => (-inf, inf),
        (Act::HardTanh, _) => (1.0, inf),
    }
}

/// The pieces of `act` that meet [l, u] in more than one point (a piece met in a point only is a null set); with
/// `merge_flat` (a hardtanh unit of the last activation step), both flat pieces as one [`FLAT`].
fn pieces_meeting(act: Act, l: f64, u: f64, merge_flat: bool) -> Vec<u8> {
    let n = if act == Act::Relu { 2 } else { 3 };
    let all: Vec<u8> = (0..n).filter(|&p| piece_meets(act, p, l, u)).collect();
    if merge_flat && act == Act::HardTanh && all == [0, 1, 2] { vec![1, FLAT] } else { all }
}

/// Whether the units of activation step `ai` (of `n`) may be split with their flat pieces merged: those of the
/// last step, when it is not also the first (the first layer's pieces enter the region LPs over the first
/// pre-activations, B6).
fn merges_flat(ai: usize, n: usize) -> bool {
    n >= 2 && ai + 1 == n
}

/// The piece that contains all of [l, u], if one does.
pub(crate) fn piece_of(act: Act, l: f64, u: f64) -> Option<u8> {
    let n = if act == Act::Relu { 2 } else { 3 };
    (0..n).find(|&p| {
        let (a, b) = piece_range(act, p);
        a <= l && u <= b
    })
}

/// The unit to split: activation step index (among activation steps), unit, and the pieces its interval meets.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Index of the activation step (0 = first activation).
    pub act: usize,
    /// The unit.
    pub unit: usize,
    /// Its pieces that meet its interval (at least two).
    pub pieces: Vec<u8>,
}

/// A node evaluated: its certified bound, and either the unit to split or, when every slope is known, the full
/// piece assignment (fixed and interval-implied) that describes its region.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    /// The certified upper bound on sup ‖∇m‖₁ over the node's region (theorem B2).
    pub bound: f64,
    /// The unit to split next; `None` when every unit's slope is known (a pattern leaf).
    pub split: Option<Split>,
    /// For a pattern leaf, the piece of every unit.
    pub pattern: Option<Pieces>,
    /// Whether the first-slopes bound (B9) was the smallest of the node's bounds.
    pub by_first: bool,
    /// Whether the coupled bounds came from the memo (an earlier node of the tree had the same known slopes).
    pub reused: bool,
}

/// y = W x + b over a box some of whose ends are infinite: rows that read an unbounded coordinate are
/// (−∞, ∞); the others are [`linear`] over the bounded coordinates (the rest enter with weight exactly 0).
fn linear_unbounded(w: &DMatrix<f64>, b: &DVector<f64>, x: &Interval) -> Interval {
    let wild: Vec<usize> =
        (0..x.lo.len()).filter(|&i| !(x.lo[i].is_finite() && x.hi[i].is_finite())).collect();
    if wild.is_empty() {
        return linear(w, Some(b), x, false);
    }
    let mut tame = x.clone();
    for &i in &wild {
        (tame.lo[i], tame.hi[i]) = (0.0, 0.0);
    }
    let mut y = linear(w, Some(b), &tame, false);
    for r in 0..w.nrows() {
        if wild.iter().any(|&c| w[(r, c)] != 0.0) {
            (y.lo[r], y.hi[r]) = (f64::NEG_INFINITY, f64::INFINITY);
        }
    }
    y
}

/// The boxes of every step's input and of the output over the node's region (the input unbounded), each fixed
/// unit's pre-activation cut to its piece; `None` when a cut is empty (the region is empty).
///
/// Theorem B2, part (a) (proofs/bab.md); checked by tests/bab.rs::bab_brackets_the_true_constant.
pub fn leaf_boxes(chain: &Chain, pieces: &Pieces) -> Option<Vec<Interval>> {
    let n = chain.input_dim;
    let mut boxes = vec![Interval::new(vec![f64::NEG_INFINITY; n], vec![f64::INFINITY; n])];
    let mut act = 0;
    for (k, step) in chain.steps.iter().enumerate() {
        let y = match step {
            Step::Linear { w, b } => linear_unbounded(w, b, &boxes[k]),
            Step::Diag { s, t } => {
                let x = &boxes[k];
                let (mut lo, mut hi) = (Vec::with_capacity(s.len()), Vec::with_capacity(s.len()));
                for i in 0..s.len() {
                    if s[i] == 0.0 {
                        lo.push(t[i]);
                        hi.push(t[i]);
                    } else {
                        let (a, c) = (s[i] * x.lo[i], s[i] * x.hi[i]);
                        lo.push(dn(dn(a.min(c)) + t[i]));
                        hi.push(up(up(a.max(c)) + t[i]));
                    }
                }
                Interval::new(lo, hi)
            }
            Step::Act(a) => {
                let pre = &mut boxes[k];
                for (i, &p) in pieces[act].iter().enumerate() {
                    if p != FREE {
                        // Both flat pieces: their hull, or the one piece left; neither leaves a null set.
                        let p = match (p, flat_sides(pre.lo[i], pre.hi[i]).as_slice()) {
                            (FLAT, [_, _]) => FLAT,
                            (FLAT, [one]) => *one,
                            (FLAT, _) => return None,
                            (p, _) => p,
                        };
                        let (pl, ph) = piece_range(*a, p);
                        pre.lo[i] = pre.lo[i].max(pl);
                        pre.hi[i] = pre.hi[i].min(ph);
                        if pre.lo[i].is_nan() || pre.hi[i].is_nan() || pre.lo[i] > pre.hi[i] {
                            return None;
                        }
                    }
                }
                act += 1;
                Interval::new(
                    pre.lo.iter().map(|&v| a.apply(v)).collect(),
                    pre.hi.iter().map(|&v| a.apply(v)).collect(),
                )
            }
        };
        boxes.push(y);
    }
    Some(boxes)
}

/// The activation of each activation step, with the chain step it sits at.
pub fn activations(chain: &Chain) -> Vec<(usize, Act)> {
    chain
        .steps
        .iter()
        .enumerate()
        .filter_map(|(k, s)| match s {
            Step::Act(a) => Some((k, *a)),
            _ => None,
        })
        .collect()
}

/// The enumeration budgets of a node's coupled bounds; 0 turns a bound off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budgets {
    /// Coordinates of the first-layer gradient box enumerated by the box bound (B8).
    pub box_enum: usize,
    /// Undecided first-layer slopes enumerated by the first-slopes bound (B9).
    pub first_enum: usize,
    /// Coordinates of the later gradient box kept as rows by B9.
    pub later_enum: usize,
}

/// `f(activation, fixed piece or FREE, interval low, interval high)` for every unit of the node `pieces`, with
/// the pre-activation boxes `boxes` (from [`leaf_boxes`]).
fn per_unit<T>(
    chain: &Chain,
    pieces: &Pieces,
    boxes: &[Interval],
    f: impl Fn(Act, u8, f64, f64) -> T,
) -> Vec<Vec<T>> {
    activations(chain)
        .iter()
        .zip(pieces)
        .map(|(&(k, a), fixed)| {
            fixed.iter().enumerate().map(|(i, &p)| f(a, p, boxes[k].lo[i], boxes[k].hi[i])).collect()
        })
        .collect()
}

/// The slope of every unit known on the node `pieces` with boxes `boxes` (from [`leaf_boxes`]): a fixed unit's
/// piece's (0 on both flat pieces of a [`FLAT`] unit), or one its interval leaves no choice of; `None` otherwise.
pub(crate) fn known_slopes(chain: &Chain, pieces: &Pieces, boxes: &[Interval]) -> Vec<Stability> {
    per_unit(chain, pieces, boxes, |a, p, l, h| if p != FREE { Some(p == 1) } else { a.stable(l, h) })
}

/// The known piece of every unit: a fixed one (a [`FLAT`] unit's only when its cut interval left one flat
/// piece), or the piece its interval lies in.
pub fn known_pieces(chain: &Chain, pieces: &Pieces, boxes: &[Interval]) -> Vec<Vec<Option<u8>>> {
    per_unit(
        chain,
        pieces,
        boxes,
        |a, p, l, h| if p != FREE && p != FLAT { Some(p) } else { piece_of(a, l, h) },
    )
}

/// The coupled bounds (B8, B9) of the nodes evaluated so far, keyed by the known slopes they were computed from.
/// They depend on the chain, the margin and those slopes only, so any node of the same tree with the same slopes
/// (the flat pieces of hardtanh units in every combination, siblings whose cuts leave the other units as they
/// were) reuses them.
#[derive(Clone, Debug, Default)]
pub struct Memo {
    known: HashMap<Vec<Stability>, (Option<f64>, Option<f64>)>,
}

/// Entries kept by [`Memo`] (about 100 bytes each for a 16-16 net); beyond it new slopes are computed, not kept.
const MEMO_ENTRIES: usize = 1 << 18;

/// Evaluates the node `pieces` for margin `c`; `None` when interval propagation proves its region empty. `memo`
/// holds the coupled bounds of the nodes evaluated before (the tree's own, for one chain and margin).
///
/// Theorems B2, B8, B9 (proofs/bab.md); checked by tests/bab.rs::bab_brackets_the_true_constant.
pub fn evaluate(
    chain: &Chain,
    c: &[f64],
    pieces: &Pieces,
    budgets: Budgets,
    memo: &mut Memo,
) -> Option<Evaluated> {
    let Budgets { box_enum, first_enum, later_enum } = budgets;
    let boxes = leaf_boxes(chain, pieces)?;
    let acts = activations(chain);
    let stable = known_slopes(chain, pieces, &boxes);
    let grads = backward(chain, c, &stable);
    let (lp, layout) = build_with_layout(chain, c, &grads, &stable, None, Objective::SumAbs);
    let (multipliers, _) = backward_multipliers(&lp, &layout).expect("a global-mode LP has no forward rows");
    let lp_bound = lp.dual_bound(&multipliers).min(lp.box_bound());
    // The box bound (B8) keeps the input coordinates coupled; when it (or B9) is the smaller, the split is chosen
    // for it.
    let known = memo.known.get(&stable).copied();
    let reused = known.is_some();
    let (boxed, firsted) = known.unwrap_or_else(|| {
        let boxed = if box_enum > 0 { box_bound_with(chain, &grads, box_enum) } else { None };
        // The first-slopes bound (B9) is exact over the first layer's slopes and relaxes the later ones.
        let firsted = if first_enum > 0 && !stable.is_empty() {
            first_slopes_bound(chain, &grads, &stable[0], first_enum, later_enum)
        } else {
            None
        };
        if memo.known.len() < MEMO_ENTRIES {
            memo.known.insert(stable.clone(), (boxed, firsted));
        }
        (boxed, firsted)
    });
    let by_first = firsted.is_some_and(|f| f < lp_bound && boxed.is_none_or(|b| f < b));
    let boxed = match (boxed, firsted) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let bound = boxed.map_or(lp_bound, |b| b.min(lp_bound));
    if boxed.is_some_and(|b| b < lp_bound)
        && let Some(split) = box_split(chain, &acts, &boxes, &grads, &stable, box_enum.max(first_enum))
    {
        return Some(Evaluated { bound, split: Some(split), pattern: None, by_first, reused });
    }
    // The unstable unit whose relaxation costs the dual bound most (ties: the larger hull gap, then the first).
    let mut best: Option<(f64, f64, Split)> = None;
    for (ai, &(k, a)) in acts.iter().enumerate() {
        let StepRows::Act(units) = &layout.steps[k] else { continue };
        for (i, unit) in units.iter().enumerate() {
            let Unit::Switch { first, pl, ph, .. } = *unit else { continue };
            let cost: f64 = (first..first + 4).map(|r| multipliers[r].max(0.0) * lp.rows[r].rhs).sum();
            let gap = if ph > pl { -pl * ph / (ph - pl) } else { 0.0 };
            let better = best.as_ref().is_none_or(|(bc, bg, _)| (cost, gap) > (*bc, *bg));
            if better {
                let pieces = pieces_meeting(a, boxes[k].lo[i], boxes[k].hi[i], merges_flat(ai, acts.len()));
                if pieces.len() >= 2 {
                    best = Some((cost, gap, Split { act: ai, unit: i, pieces }));
                }
            }
        }
    }
    // Last, the units fixed to both flat pieces, so that a pattern names a piece for every unit.
    let split = best.map(|b| b.2).or_else(|| {
        acts.iter().zip(pieces).enumerate().find_map(|(ai, (&(k, _), fixed))| {
            fixed.iter().enumerate().filter(|&(_, &p)| p == FLAT).find_map(|(i, _)| {
                let sides = flat_sides(boxes[k].lo[i], boxes[k].hi[i]);
                (sides.len() == 2).then_some(Split { act: ai, unit: i, pieces: sides })
            })
        })
    });
    let pattern = split.is_none().then(|| {
        known_pieces(chain, pieces, &boxes)
            .into_iter()
            .map(|layer| layer.into_iter().map(|p| p.unwrap_or(FREE)).collect())
            .collect()
    });
    Some(Evaluated { bound, split, pattern, by_first, reused })
}

/// The undecided unit whose relaxation widens the box of the input gradient most: the magnitude of the gradient
/// box at its output times the absolute weight mass it reaches the input through (|W| chain, units known to be
/// flat cut off). First-layer units among the `box_enum` widest of the first layer are enumerated exactly by the
/// box bound and count only when nothing else is left. A heuristic: only the order of the splits depends on it.
fn box_split(
    chain: &Chain,
    acts: &[(usize, Act)],
    boxes: &[Interval],
    grads: &[Interval],
    stable: &[Stability],
    box_enum: usize,
) -> Option<Split> {
    // reach[a][k]: Σ over input coordinates of the |weight| path mass from unit k of activation a down to x.
    let Some(Step::Linear { w, .. }) = chain.steps.first() else { return None };
    let m = w.nrows();
    let mut reach: Vec<Vec<f64>> = Vec::with_capacity(acts.len());
    let mut cur: Vec<f64> = (0..m).map(|i| w.row(i).iter().map(|v| v.abs()).sum()).collect();
    let mut k0 = 1;
    for (ai, &(k, _)) in acts.iter().enumerate() {
        for step in &chain.steps[k0..k] {
            cur = match step {
                Step::Linear { w, .. } => (0..w.nrows())
                    .map(|r| w.row(r).iter().zip(&cur).map(|(a, b)| a.abs() * b).sum())
                    .collect(),
                Step::Diag { s, .. } => cur.iter().zip(s).map(|(v, s)| v * s.abs()).collect(),
                Step::Act(_) => cur,
            };
        }
        cur = cur.iter().zip(&stable[ai]).map(|(v, s)| if *s == Some(false) { 0.0 } else { *v }).collect();
        reach.push(cur.clone());
        k0 = k + 1;
    }
    let ub = &grads[1];
    let mut first: Vec<usize> = (0..m).filter(|&i| ub.lo[i] < ub.hi[i]).collect();
    first.sort_by(|&a, &b| {
        ((ub.hi[b] - ub.lo[b]) * reach[0][b]).total_cmp(&((ub.hi[a] - ub.lo[a]) * reach[0][a]))
    });
    first.truncate(box_enum);
    let mut best: Option<(f64, Split)> = None;
    for (ai, &(k, a)) in acts.iter().enumerate() {
        let g = &grads[k + 1];
        for i in 0..stable[ai].len() {
            if stable[ai][i].is_some() {
                continue;
            }
            let pieces = pieces_meeting(a, boxes[k].lo[i], boxes[k].hi[i], merges_flat(ai, acts.len()));
            if pieces.len() < 2 {
                continue;
            }
            let mut score = g.lo[i].abs().max(g.hi[i].abs()) * reach[ai][i];
            if ai == 0 && first.contains(&i) {
                score *= 1e-6;
            }
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, Split { act: ai, unit: i, pieces }));
            }
        }
    }
    best.map(|b| b.1)
}

/// The half-spaces aᵀx ≤ β (in floating point) describing the region of a full piece assignment: every
/// pre-activation is affine in x once the earlier pieces are fixed. Only a search for witness points uses them:
/// nothing proven rests on their accuracy.
fn pattern_halfspaces(chain: &Chain, pattern: &Pieces) -> Vec<(Vec<f64>, f64)> {
    let n = chain.input_dim;
    let (mut m, mut off) = (DMatrix::<f64>::identity(n, n), DVector::<f64>::zeros(n));
    let mut cons = Vec::new();
    let mut act = 0;
    for step in &chain.steps {
        match step {
            Step::Linear { w, b } => {
                m = w * &m;
                off = w * &off + b;
            }
            Step::Diag { s, t } => {
                m.row_iter_mut().zip(s).for_each(|(mut r, s)| r *= *s);
                off = off.component_mul(&DVector::from_column_slice(s)) + DVector::from_column_slice(t);
            }
            Step::Act(a) => {
                for (i, &p) in pattern[act].iter().enumerate() {
                    let row: Vec<f64> = m.row(i).iter().copied().collect();
                    let (lo, hi) = piece_range(*a, p);
                    if hi.is_finite() {
                        cons.push((row.clone(), hi - off[i]));
                    }
                    if lo.is_finite() {
                        cons.push((row.iter().map(|v| -v).collect(), off[i] - lo));
                    }
                    match (a, p) {
                        (_, 1) => {}
                        (Act::Relu, _) => {
                            m.row_mut(i).fill(0.0);
                            off[i] = 0.0;
                        }
                        (Act::HardTanh, _) => {
                            m.row_mut(i).fill(0.0);
                            off[i] = if p == 0 { -1.0 } else { 1.0 };
                        }
                    }
                }
                act += 1;
            }
        }
    }
    cons
}

/// A candidate witness point of a pattern leaf: the Chebyshev centre of its region within [−r, r]ⁿ (microlp),
/// or `None` when the solver finds no interior. Only a candidate: [`super::sampled::witness_lower`] decides.
pub fn witness_candidate(chain: &Chain, pattern: &Pieces, r: f64) -> Option<Vec<f64>> {
    let cons = pattern_halfspaces(chain, pattern);
    let mut vars = ProblemVariables::new();
    let x: Vec<Variable> = (0..chain.input_dim).map(|_| vars.add(variable().min(-r).max(r))).collect();
    let s = vars.add(variable().min(0.0).max(1.0));
    let mut model = vars.maximise(s).using(microlp);
    for (a, beta) in &cons {
        let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            if *beta < 0.0 {
                return None;
            }
            continue;
        }
        let mut e = Expression::with_capacity(a.len() + 1);
        for (xi, ai) in x.iter().zip(a).filter(|(_, ai)| **ai != 0.0) {
            e.add_mul(*ai, *xi);
        }
        e.add_mul(norm, s);
        model = model.with(e.leq(*beta));
    }
    match model.solve() {
        Ok(sol) if sol.value(s) > 1e-9 => Some(x.iter().map(|&v| sol.value(v)).collect()),
        _ => None,
    }
}
