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

use super::bab_leaf::{FREE, Pieces, activations, piece_of, piece_range};
use super::chain::{Act, Chain, Step};
use super::first_layer::FirstLayer;
use super::float::{dn, up};
use super::interval::Interval;
use super::lp_solve::LpProblem;
use super::region_cert::{certified_max, dual_multipliers};
use super::region_rows::non_constant;

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

/// The slope-1 piece of either activation.
const LINEAR: u8 = 1;

/// The slopes of the edges of the upper (`upper`) or lower hull of the points, left to right.
fn hull_slopes(pts: &[(f64, f64)], upper: bool) -> Vec<f64> {
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for &p in pts {
        while hull.len() >= 2 {
            let (o, a) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            let cross = (a.0 - o.0) * (p.1 - o.1) - (a.1 - o.1) * (p.0 - o.0);
            if (upper && cross >= 0.0) || (!upper && cross <= 0.0) {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    hull.windows(2).filter(|e| e[1].0 > e[0].0).map(|e| (e[1].1 - e[0].1) / (e[1].0 - e[0].0)).collect()
}

/// Lines above (`true`) and below the graph of `act` over [l, u] (not inside one piece): (slope, intercept,
/// upper). Candidates are the edges of the hulls of the finite breakpoints and the slope 1; each is kept only
/// where it is valid at an infinite end (by its slope against the activation's slope there), and its intercept
/// is the extreme of h − a·z over the finite breakpoints, rounded outward, so the line is valid at every point of
/// [l, u] (between breakpoints both are affine; beyond the last one the activation is affine with the end slope).
fn hull_lines(act: Act, l: f64, u: f64) -> Vec<(f64, f64, bool)> {
    let kinks: &[f64] = if act == Act::Relu { &[0.0] } else { &[-1.0, 1.0] };
    let (s_minus, s_plus) = (0.0, if act == Act::Relu { 1.0 } else { 0.0 });
    let mut zs: Vec<f64> = [l, u].into_iter().filter(|v| v.is_finite()).collect();
    zs.extend(kinks.iter().copied().filter(|&k| l < k && k < u));
    zs.sort_by(f64::total_cmp);
    let pts: Vec<(f64, f64)> = zs.iter().map(|&z| (z, act.apply(z))).collect();
    let mut lines = Vec::new();
    for upper in [true, false] {
        let mut slopes = hull_slopes(&pts, upper);
        slopes.push(1.0);
        slopes.sort_by(f64::total_cmp);
        slopes.dedup();
        for a in slopes {
            if !a.is_finite() || a == 0.0 {
                continue; // flat lines are the box
            }
            let ok = if upper {
                (l.is_finite() || a <= s_minus) && (u.is_finite() || a >= s_plus)
            } else {
                (l.is_finite() || a >= s_minus) && (u.is_finite() || a <= s_plus)
            };
            if !ok {
                continue;
            }
            let beta = if upper {
                zs.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(up(act.apply(z) - dn(a * z))))
            } else {
                zs.iter().fold(f64::INFINITY, |m, &z| m.min(dn(act.apply(z) - up(a * z))))
            };
            if beta.is_finite() {
                lines.push((a, beta, upper));
            }
        }
    }
    lines
}

/// Rows z ≤ κ_hi − c·t and z ≥ κ_lo + c·t for piece `p` of `act`.
fn piece_rows(lp: &mut LpProblem, act: Act, p: u8, z: usize, t: usize, c: f64) {
    let (lo, hi) = piece_range(act, p);
    let with_t = |mut v: Vec<(usize, f64)>| {
        if c != 0.0 {
            v.push((t, c));
        }
        v
    };
    if hi.is_finite() {
        lp.le_row(with_t(vec![(z, 1.0)]), hi);
    }
    if lo.is_finite() {
        lp.le_row(with_t(vec![(z, -1.0)]), -lo);
    }
}

/// The relation between a unit's pre-activation z (box [l, u]) and post-activation h.
fn unit_rows(lp: &mut LpProblem, act: Act, known: Option<u8>, (l, u): (f64, f64), z: usize, h: usize) {
    match known {
        Some(LINEAR) => lp.eq_row(vec![(h, 1.0), (z, -1.0)], 0.0, 0.0),
        Some(_) => {} // flat: h is its box's constant
        None => {
            for (a, beta, upper) in hull_lines(act, l, u) {
                if upper {
                    lp.le_row(vec![(h, 1.0), (z, -a)], beta);
                } else {
                    lp.le_row(vec![(h, -1.0), (z, a)], -beta);
                }
            }
        }
    }
}

/// The known piece of every unit (fixed, or its interval inside one piece).
pub fn known_pieces(chain: &Chain, pieces: &Pieces, boxes: &[Interval]) -> Vec<Vec<Option<u8>>> {
    activations(chain)
        .iter()
        .zip(pieces)
        .map(|(&(k, a), fixed)| {
            fixed
                .iter()
                .enumerate()
                .map(|(i, &p)| if p != FREE { Some(p) } else { piece_of(a, boxes[k].lo[i], boxes[k].hi[i]) })
                .collect()
        })
        .collect()
}

/// A chain that starts `Linear(W, b)`, at most one diagonal step (s, t) and an activation: W, b, s, t and the
/// activation's step.
struct Prefix<'a> {
    w: &'a nalgebra::DMatrix<f64>,
    b: &'a nalgebra::DVector<f64>,
    diag: Option<(&'a [f64], &'a [f64])>,
    act_step: usize,
}

fn input_prefix(chain: &Chain) -> Option<Prefix<'_>> {
    let Some(Step::Linear { w, b }) = chain.steps.first() else { return None };
    match (chain.steps.get(1)?, chain.steps.get(2)) {
        (Step::Act(_), _) => Some(Prefix { w, b, diag: None, act_step: 1 }),
        (Step::Diag { s, t }, Some(Step::Act(_))) => Some(Prefix { w, b, diag: Some((s, t)), act_step: 2 }),
        _ => None,
    }
}

/// Rows W_u x + c·t ≤ β (or −W_u x + c·t ≤ β) for s(W_u x + b) + τ ≤ κ − c·t (`upper`) or ≥ κ + c·t, with
/// s ≠ 0: the inequality divided by s, its right-hand side rounded up (a relaxation), and the positive factor
/// c/|s| of t replaced by c (any positive factor serves B4).
fn affine_piece_row(
    lp: &mut LpProblem,
    x: &[usize],
    w: &[f64],
    (b, s, tau): (f64, f64, f64),
    kappa: f64,
    upper: bool,
    (t, c): (usize, f64),
) {
    // With q = (κ − τ)/s: s > 0 and upper, or s < 0 and lower: W x ≤ q − b; otherwise −W x ≤ b − q.
    let plus = (s > 0.0) == upper;
    let rhs = if plus {
        let num = if s > 0.0 { up(kappa - tau) } else { dn(kappa - tau) };
        up(up(num / s) - b)
    } else {
        let num = if s > 0.0 { dn(kappa - tau) } else { up(kappa - tau) };
        up(b - dn(num / s))
    };
    let sign = if plus { 1.0 } else { -1.0 };
    let mut terms: Vec<(usize, f64)> =
        x.iter().zip(w).filter(|(_, a)| **a != 0.0).map(|(&v, &a)| (v, sign * a)).collect();
    if c != 0.0 {
        terms.push((t, c));
    }
    lp.le_row(terms, rhs);
}

/// The first layer over the input x ∈ ℝⁿ, keeping few unbounded variables besides x: a unit with a finite
/// pre-activation box, or known to be on its slope-1 piece, gets variables y = W_u x + b_u and z = s·y + τ (y's box from z's, outward rounded), the
/// others no variables at all — a fixed one its piece's rows on x directly ([`affine_piece_row`]), a free one
/// only its output's box (the hull of a hardtanh over ℝ is that strip; for ReLU the row h ≥ z is left out). Returns
/// the post-activation variables and the step after the activation.
fn first_over_inputs(
    lp: &mut LpProblem,
    chain: &Chain,
    p: &Prefix,
    pieces: &Pieces,
    boxes: &[Interval],
    known: &[Option<u8>],
    strict: &[f64],
) -> (Vec<usize>, usize) {
    let Step::Act(act) = chain.steps[p.act_step] else { unreachable!("the prefix ends at an activation") };
    let x: Vec<usize> = (0..chain.input_dim).map(|_| lp.var(f64::NEG_INFINITY, f64::INFINITY)).collect();
    let (pre, post) = (&boxes[p.act_step], &boxes[p.act_step + 1]);
    let t = 0;
    let h = (0..p.w.nrows())
        .map(|u| {
            let h = lp.var(post.lo[u], post.hi[u]);
            let (l, hi) = (pre.lo[u], pre.hi[u]);
            let (s, tau) = p.diag.map_or((1.0, 0.0), |(s, t)| (s[u], t[u]));
            let row: Vec<f64> = p.w.row(u).iter().copied().collect();
            if (l.is_finite() && hi.is_finite()) || known[u] == Some(LINEAR) {
                let z = lp.var(l, hi);
                if s != 0.0 {
                    // Infinite ends stay infinite through the outward-rounded division.
                    let (ylo, yhi) = if s > 0.0 {
                        (dn(dn(l - tau) / s), up(up(hi - tau) / s))
                    } else {
                        (dn(up(hi - tau) / s), up(dn(l - tau) / s))
                    };
                    let y = if p.diag.is_some() { lp.var(ylo, yhi) } else { z };
                    let mut terms = vec![(y, 1.0)];
                    terms.extend(x.iter().zip(&row).filter(|(_, a)| **a != 0.0).map(|(&v, &a)| (v, -a)));
                    lp.eq_row(terms, p.b[u], 0.0);
                    if p.diag.is_some() {
                        lp.eq_row(vec![(z, 1.0), (y, -s)], tau, 0.0);
                    }
                }
                unit_rows(lp, act, known[u], (l, hi), z, h);
                if pieces[0][u] != FREE {
                    piece_rows(lp, act, pieces[0][u], z, t, strict[u]);
                }
            } else if pieces[0][u] != FREE && s != 0.0 {
                let (klo, khi) = piece_range(act, pieces[0][u]);
                for (kappa, upper) in [(khi, true), (klo, false)] {
                    if kappa.is_finite() {
                        affine_piece_row(lp, &x, &row, (p.b[u], s, tau), kappa, upper, (t, strict[u]));
                    }
                }
            }
            h
        })
        .collect();
    (h, p.act_step + 1)
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
                    if pieces[ai][i] != FREE {
                        piece_rows(&mut lp, *a, pieces[ai][i], cur[i], t, strict[ai][i]);
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
