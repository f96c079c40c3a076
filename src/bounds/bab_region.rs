//! The region LP of a branch-and-bound node: is there an open set of inputs on which every fixed unit is in its
//! piece? (theorems B4–B6, `proofs/bab.md`).
//!
//! Variables: t ∈ [0, 1] (maximised) and the value of every step up to the last activation, starting from the
//! input x ∈ ℝⁿ, or — when the first layer is proven onto ([`super::first_layer`], theorem B6) — from the first
//! post-activations, whose free units range over their pieces independently. Boxes come from the node's
//! interval propagation (B2 (a)). Rows, all with coefficients that are numbers of the net (so exact):
//! * dense and diagonal steps: out − W·in = b, out − s ⊙ in = t;
//! * a unit whose piece is known (fixed, or its interval inside one piece): h = z on the slope-1 piece, h fixed
//!   by its box on a flat one;
//! * a unit not known: lines above and below the graph of the activation over its interval, each valid at every
//!   breakpoint with its intercept rounded outward and at an infinite end by its slope;
//! * a fixed unit: z ≤ κ_hi − c·t and z ≥ κ_lo + c·t for the finite ends κ of its piece, with c = 1 where the
//!   unit's pre-activation is proven non-constant on every open subset of the region, else c = 0.
//!
//! If the region has an interior point, this LP has a point with t > 0 (B4), so a certificate that max t ≤ 0
//! ([`super::region_cert::certified_max`], B5) proves the region a null set and the node can be dropped. A
//! point with t > 0 is mapped to an input, which only proposes a witness for the lower bound (E2 decides).

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, microlp, variable};

use super::bab_leaf::{FLAT, FREE, Pieces, activations, known_pieces};
use super::chain::{Act, Chain, Step};
use super::first_layer::FirstLayer;
use super::interval::Interval;
use super::lp_solve::LpProblem;
use super::region_cert::{certified_max, dual_multipliers};
use super::region_strict::non_constant;
use super::region_unit::{LINEAR, first_over_inputs, input_prefix, piece_rows, unit_rows};

/// t above which the LP's point is taken as an interior point (smaller optima are sent to the certificate).
const OPEN_T: f64 = 1e-9;

/// A node's region LP with the indices needed to read its point back.
pub struct RegionLp {
    /// The LP (maximise t).
    pub lp: LpProblem,
    /// Index of t.
    pub t: usize,
    /// The variables of the input (ℝⁿ) or of the first post-activations (onto first layer).
    pub start: Vec<usize>,
}

/// What the region LP says about a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Proven: the node's region has no interior point (B4 with the certificate of B5).
    Empty,
    /// The LP found a point with t > 0: t and a proposed input.
    Open {
        /// The LP's t.
        t: f64,
        /// An input near the LP's point (a witness candidate only).
        input: Vec<f64>,
    },
    /// Neither proven empty nor opened.
    Unknown,
}

/// The region LP of the node `pieces` with boxes `boxes` (from [`super::bab_leaf::leaf_boxes`]).
///
/// Theorem B4 (proofs/bab.md); checked by tests/bab_region.rs::pruned_regions_are_empty.
pub fn region_lp(chain: &Chain, first: Option<&FirstLayer>, pieces: &Pieces, boxes: &[Interval]) -> RegionLp {
    let acts = activations(chain);
    let known = known_pieces(chain, pieces, boxes);
    let strict = non_constant(chain, first, &known);
    let mut lp = LpProblem::default();
    let t = lp.var(0.0, 1.0);
    lp.obj[t] = 1.0;
    let mut start_h = Vec::new();
    let var = |lp: &mut LpProblem, bx: &Interval, i: usize| {
        let v = lp.var(bx.lo[i], bx.hi[i]);
        (lp.lo[v], lp.hi[v]) = (bx.lo[i], bx.hi[i]);
        v
    };
    let (mut cur, from, mut ai): (Vec<usize>, usize, usize) = match first {
        None => match input_prefix(chain) {
            Some(prefix) => {
                let (h, from) =
                    first_over_inputs(&mut lp, chain, &prefix, pieces, boxes, &known[0], &strict[0]);
                (h, from, 1)
            }
            None => ((0..chain.input_dim).map(|i| var(&mut lp, &boxes[0], i)).collect(), 0, 0),
        },
        Some(fl) => {
            let (k, Step::Act(a)) = (fl.act_step, &chain.steps[fl.act_step]) else { unreachable!() };
            let h: Vec<usize> = (0..fl.width())
                .map(|i| {
                    let h = var(&mut lp, &boxes[k + 1], i);
                    let fixed = pieces[0][i] != FREE;
                    if fl.free[i] {
                        // z is a free coordinate: only the slope-1 piece ties it to h (B6).
                        if fixed && known[0][i] == Some(LINEAR) {
                            piece_rows(&mut lp, *a, LINEAR, h, t, strict[0][i]);
                        }
                    } else {
                        let z = var(&mut lp, &boxes[k], i);
                        unit_rows(&mut lp, *a, known[0][i], (boxes[k].lo[i], boxes[k].hi[i]), z, h);
                        if fixed {
                            piece_rows(&mut lp, *a, pieces[0][i], z, t, strict[0][i]);
                        }
                    }
                    h
                })
                .collect();
            start_h = h.clone();
            (h, k + 1, 1)
        }
    };
    let last = acts.last().map_or(0, |&(k, _)| k);
    for k in from..=last {
        let bx = &boxes[k + 1];
        let out: Vec<usize> = (0..bx.lo.len()).map(|i| var(&mut lp, bx, i)).collect();
        match &chain.steps[k] {
            Step::Linear { w, b } => {
                for r in 0..w.nrows() {
                    let mut terms = vec![(out[r], 1.0)];
                    terms.extend((0..w.ncols()).filter(|&c| w[(r, c)] != 0.0).map(|c| (cur[c], -w[(r, c)])));
                    lp.eq_row(terms, b[r], 0.0);
                }
            }
            Step::Diag { s, t: off } => {
                for i in 0..s.len() {
                    let terms =
                        if s[i] == 0.0 { vec![(out[i], 1.0)] } else { vec![(out[i], 1.0), (cur[i], -s[i])] };
                    lp.eq_row(terms, off[i], 0.0);
                }
            }
            Step::Act(a) => {
                for i in 0..out.len() {
                    let range = (boxes[k].lo[i], boxes[k].hi[i]);
                    unit_rows(&mut lp, *a, known[ai][i], range, cur[i], out[i]);
                    // A unit fixed to both flat pieces gets the margin rows of the one its cut interval left, and
                    // none while both remain (the LP then relaxes their union).
                    let fixed = match pieces[ai][i] {
                        FLAT => known[ai][i],
                        FREE => None,
                        p => Some(p),
                    };
                    if let Some(p) = fixed {
                        piece_rows(&mut lp, *a, p, cur[i], t, strict[ai][i]);
                    }
                }
                ai += 1;
            }
        }
        cur = out;
    }
    let start = match first {
        None => (1..=chain.input_dim).collect(),
        Some(_) => start_h,
    };
    RegionLp { lp, t, start }
}

/// Maximises the LP's objective with microlp (infinite box ends left open); the optimum and the point, or `None`
/// when the solver gives up or finds none. Only a proposal: nothing proven rests on it.
pub fn maximise(lp: &LpProblem) -> Option<(f64, Vec<f64>)> {
    let mut vars = ProblemVariables::new();
    let x: Vec<Variable> = (0..lp.obj.len())
        .map(|i| {
            let mut v = variable();
            if lp.lo[i].is_finite() {
                v = v.min(lp.lo[i]);
            }
            if lp.hi[i].is_finite() {
                v = v.max(lp.hi[i]);
            }
            vars.add(v)
        })
        .collect();
    let mut obj = Expression::with_capacity(1);
    for (i, &c) in lp.obj.iter().enumerate().filter(|(_, c)| **c != 0.0) {
        obj.add_mul(c, x[i]);
    }
    let mut model = vars.maximise(obj).using(microlp);
    for row in &lp.rows {
        let mut e = Expression::with_capacity(row.terms.len());
        for &(i, a) in &row.terms {
            e.add_mul(a, x[i]);
        }
        model = model.with(if row.eq { e.eq(row.rhs) } else { e.leq(row.rhs) });
    }
    let sol = model.solve().ok()?;
    let v: Vec<f64> = x.iter().map(|&x| sol.value(x)).collect();
    Some((lp.obj.iter().zip(&v).map(|(c, v)| c * v).sum(), v))
}

/// The input proposed by an LP point: x itself, or a preimage of first pre-activations read off the first
/// post-activations (a slope-1 unit's h is its z; a flat or undecided one at a kink is put 1 beyond it).
fn proposed_input(
    chain: &Chain,
    rl: &RegionLp,
    first: Option<&FirstLayer>,
    known: &[Vec<Option<u8>>],
    v: &[f64],
) -> Vec<f64> {
    let Some(fl) = first else { return rl.start.iter().map(|&i| v[i]).collect() };
    let Step::Act(act) = chain.steps[fl.act_step] else { unreachable!("the first activation") };
    let (lo, hi) = if act == Act::Relu { (0.0, f64::INFINITY) } else { (-1.0, 1.0) };
    let z: Vec<f64> = (0..fl.width())
        .map(|i| {
            let h = v[rl.start[i]];
            match known[0][i] {
                Some(LINEAR) => h,
                Some(0) => lo - 1.0,
                Some(_) => hi + 1.0,
                None if h <= lo + 1e-9 => lo - 1.0,
                None if h >= hi - 1e-9 => hi + 1.0,
                None => h,
            }
        })
        .collect();
    fl.input_for(&z)
}

/// Solves the node's region LP: an interior point, a proof of emptiness, or neither.
///
/// Theorems B4–B6 (proofs/bab.md); checked by tests/bab_region.rs::pruned_regions_are_empty and
/// tests/bab_region.rs::closed_trees_reach_the_region_enumeration.
pub fn check_region(
    chain: &Chain,
    first: Option<&FirstLayer>,
    pieces: &Pieces,
    boxes: &[Interval],
) -> Verdict {
    let rl = region_lp(chain, first, pieces, boxes);
    if let Some((t, v)) = maximise(&rl.lp)
        && t > OPEN_T
    {
        let known = known_pieces(chain, pieces, boxes);
        return Verdict::Open { t, input: proposed_input(chain, &rl, first, &known, &v) };
    }
    match dual_multipliers(&rl.lp) {
        Some(w) if certified_max(&rl.lp, &w) <= 0.0 => Verdict::Empty,
        _ => Verdict::Unknown,
    }
}
