//! The rows of one unit of a region LP (theorem B4, rows 2–5, `proofs/bab.md`), and the first layer over the
//! input space ℝⁿ with the input as the only unbounded variables where possible.
//!
//! A unit with a known piece is tied to its post-activation exactly (h = z on the slope-1 piece, h constant on a
//! flat one); an undecided one by lines above and below the activation's graph over its interval, each valid at
//! every breakpoint with its intercept rounded outward; a fixed one gets the margin rows z ≤ κ_hi − c·t,
//! z ≥ κ_lo + c·t. Over ℝⁿ, the first-layer units whose pre-activation is unbounded and not on the slope-1 piece
//! get no variables: a fixed one has its margin rows written on x directly, divided by the diagonal scale with the
//! right-hand side rounded up.

use super::bab_leaf::{FREE, Pieces, piece_range};
use super::chain::{Act, Chain, Step};
use super::float::{dn, up};
use super::interval::Interval;
use super::lp_solve::LpProblem;

/// The slope-1 piece of either activation.
pub const LINEAR: u8 = 1;

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
pub fn piece_rows(lp: &mut LpProblem, act: Act, p: u8, z: usize, t: usize, c: f64) {
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
pub fn unit_rows(lp: &mut LpProblem, act: Act, known: Option<u8>, (l, u): (f64, f64), z: usize, h: usize) {
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

/// A chain that starts `Linear(W, b)`, at most one diagonal step (s, t) and an activation: W, b, s, t and the
/// activation's step.
pub struct Prefix<'a> {
    w: &'a nalgebra::DMatrix<f64>,
    b: &'a nalgebra::DVector<f64>,
    diag: Option<(&'a [f64], &'a [f64])>,
    act_step: usize,
}

/// The chain's first layer when it has that shape.
pub fn input_prefix(chain: &Chain) -> Option<Prefix<'_>> {
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
pub fn first_over_inputs(
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
