//! Optimal multipliers of the global LipLP relaxation in one pass, and a primal point that measures their gap
//! (theorem L4, `proofs/lp.md`).
//!
//! Without forward rows (global mode) the LP of [`super::lp_model`] is a chain: γ_S = c is a point, every step
//! links γ_k to γ_{k+1} (γ_k = W_kᵀγ_{k+1}, γ_k = s ⊙ γ_{k+1}, or the switch q = a·p of an activation), and
//! the objective reads γ_0 (directly, or through the secant rows τ_j ≤ s̃_j g_j + β_j). The multipliers are
//! chosen from the objective towards c. Writing r = obj − Aᵀw for the reduced costs, once every row on the
//! input side of γ_k has its multiplier, κ = r(γ_k) is final, and the rows of step k take the multipliers that
//! make the reduced costs of γ_k (and of the indicators) exactly zero:
//! * a secant row: y = 1 (τ's cost), which passes s̃_j to g_j;
//! * a linear or diagonal row γ_{k,i} − Σ_r a_{ri}γ_{k+1,r} = 0: z_i = κ_i, which passes W_kκ (or s ⊙ κ) on;
//! * a switch with p ∈ [p̲, p̄], Δ = p̄ − p̲ > 0: for κ ≥ 0 the rows q ≤ p − p̲(1 − a) and q ≤ p̄a with
//!   y = κp̄/Δ and κ(−p̲)/Δ, which eliminate a and leave q ≤ p̄(p − p̲)/Δ (the upper side of the convex hull of
//!   {q = p} ∪ {q = 0}), passing κp̄/Δ to p; for κ < 0 the rows q ≥ p − p̄(1 − a) and q ≥ p̲a with
//!   y = |κ|(−p̲)/Δ and |κ|p̄/Δ (the lower side q ≥ p̲(p̄ − p)/Δ), passing κ(−p̲)/Δ to p.
//!
//! Every reduced cost but γ_S's is then zero, so the bound of theorem L2 is Σ_rows w·rhs + r(γ_S)·c: the value
//! of a linear-bound pass from the objective to c. The primal point is built the other way, from c to γ_0,
//! taking at every switch the hull side the dual chose (a = (p − p̲)/Δ, q = p̄a, or a = (p̄ − p)/Δ, q = p̲a),
//! which makes exactly the rows with nonzero multipliers tight: complementary slackness, so in exact arithmetic
//! both values are the LP optimum. Computed in floating point the point is feasible only up to rounding, so it
//! is never a bound: its value estimates the optimum from below and measures the gap of the certified value.
//! The cost is two passes over the nonzeros, against an interior-point solve (Jordan & Dimakis's LipLP,
//! NeurIPS 2020, is solved there with a general LP solver; the layer-by-layer relaxation choice is the one of
//! linear bound propagation, e.g. Zhang et al., NeurIPS 2018, CROWN).

use std::time::Instant;

use serde_json::json;

use super::lp::{LpBackend, relative, value_from};
use super::lp_model::{Layout, StepRows, Unit};
use super::lp_solve::{LpProblem, Row, SolveReport, SolveStatus, report_json};

/// Relative violation of a row or box at the primal point below which it counts as feasible (floating-point
/// evaluation of the chain leaves violations of a few ulps of the row's magnitude).
pub const FEASIBILITY_TOLERANCE: f64 = 1e-9;

/// A gap below this (absolute) is read as rounding, whatever the LP's value (an LP whose optimum is 0 cannot
/// meet a relative tolerance once outward rounding adds its few ulps).
pub const GAP_FLOOR: f64 = 1e-12;

/// The multipliers of the backward pass and the primal point that checks them.
#[derive(Clone, Debug, PartialEq)]
pub struct BackwardPass {
    /// One multiplier per row (those of ≤ rows are ≥ 0), for [`LpProblem::dual_bound`].
    pub multipliers: Vec<f64>,
    /// The primal point, one value per variable.
    pub x: Vec<f64>,
    /// objᵀx.
    pub primal_value: f64,
    /// The largest violation of a row or a box at `x`, relative to the magnitude of its terms.
    pub infeasibility: f64,
}

impl BackwardPass {
    /// Whether the primal point is feasible up to [`FEASIBILITY_TOLERANCE`] (only then does its value estimate
    /// the LP optimum).
    pub fn feasible(&self) -> bool {
        self.infeasibility <= FEASIBILITY_TOLERANCE
    }
}

fn apply(r: &mut [f64], row: &Row, w: f64) {
    for &(i, a) in &row.terms {
        r[i] -= a * w;
    }
}

/// The coefficient of variable `v` in `row` (the backward rows write it first).
fn coef(row: &Row, v: usize) -> f64 {
    row.terms.iter().find(|t| t.0 == v).map_or(0.0, |t| t.1)
}

/// The multipliers of theorem L4 and the matching primal point; `None` when the problem has forward rows (local
/// mode), where the pass does not apply.
///
/// Theorem L4 (proofs/lp.md); checked by tests/lp.rs::backward_pass_matches_the_simplex_optimum and
/// tests/lp.rs::backward_pass_matches_clarabel_on_medium_nets.
pub fn backward_pass(lp: &LpProblem, layout: &Layout) -> Option<BackwardPass> {
    let (w, upper) = backward_multipliers(lp, layout)?;
    let x = primal_point(lp, layout, &upper);
    let primal_value = x.iter().zip(&lp.obj).map(|(x, c)| x * c).sum();
    let infeasibility = infeasibility(lp, &x);
    Some(BackwardPass { multipliers: w, x, primal_value, infeasibility })
}

/// The multipliers of theorem L4 alone (one per row), and per activation step and unit whether the dual took the
/// upper side of the hull; `None` for a local-mode LP. [`backward_pass`] without its primal point: for callers
/// that need only the certified bound of theorem L2.
///
/// Theorem L4 (proofs/lp.md); checked by tests/lp_backward.rs::backward_pass_matches_the_simplex_optimum.
pub fn backward_multipliers(lp: &LpProblem, layout: &Layout) -> Option<(Vec<f64>, Vec<Vec<bool>>)> {
    if layout.forward || layout.grads.len() != layout.steps.len() + 1 {
        return None;
    }
    let mut w = vec![0.0; lp.rows.len()];
    let mut r = lp.obj.clone();
    let set = |w: &mut [f64], r: &mut [f64], k: usize, v: f64| {
        w[k] = v;
        apply(r, &lp.rows[k], v);
    };
    for &k in layout.secant.iter().flatten() {
        let (tau, a) = lp.rows[k].terms[0];
        let v = r[tau] / a;
        set(&mut w, &mut r, k, v);
    }
    // Per activation step and unit: whether the dual took the upper side of the hull (κ ≥ 0).
    let mut upper: Vec<Vec<bool>> = Vec::with_capacity(layout.steps.len());
    for (k, step) in layout.steps.iter().enumerate() {
        let g = &layout.grads[k];
        match step {
            StepRows::Rows { first } => {
                for (i, &gi) in g.iter().enumerate() {
                    let a = coef(&lp.rows[first + i], gi);
                    if a != 0.0 {
                        let v = r[gi] / a;
                        set(&mut w, &mut r, first + i, v);
                    }
                }
                upper.push(Vec::new());
            }
            StepRows::Act(units) => {
                let mut side = vec![true; units.len()];
                for (i, unit) in units.iter().enumerate() {
                    match *unit {
                        Unit::Pass(row) => {
                            let v = r[g[i]] / coef(&lp.rows[row], g[i]);
                            set(&mut w, &mut r, row, v);
                        }
                        Unit::Zero => {}
                        Unit::Switch { first, pl, ph, .. } => {
                            let (kappa, d) = (r[g[i]], ph - pl);
                            side[i] = kappa >= 0.0;
                            if kappa == 0.0 || d <= 0.0 {
                                continue;
                            }
                            if kappa > 0.0 {
                                set(&mut w, &mut r, first, kappa * ph / d);
                                set(&mut w, &mut r, first + 3, kappa * -pl / d);
                            } else {
                                set(&mut w, &mut r, first + 1, -kappa * -pl / d);
                                set(&mut w, &mut r, first + 2, -kappa * ph / d);
                            }
                        }
                    }
                }
                upper.push(side);
            }
        }
    }
    Some((w, upper))
}

/// The point from c to γ_0 with the hull side of every switch taken from `upper`.
fn primal_point(lp: &LpProblem, layout: &Layout, upper: &[Vec<bool>]) -> Vec<f64> {
    let mut x: Vec<f64> = lp.lo.iter().zip(&lp.hi).map(|(l, h)| 0.0f64.clamp(*l, *h)).collect();
    for &v in layout.grads.last().expect("γ_S") {
        x[v] = lp.lo[v];
    }
    for (k, step) in layout.steps.iter().enumerate().rev() {
        let (g, p) = (&layout.grads[k], &layout.grads[k + 1]);
        match step {
            StepRows::Rows { first } => {
                for (i, &gi) in g.iter().enumerate() {
                    let row = &lp.rows[first + i];
                    let a = coef(row, gi);
                    let rest: f64 = row.terms.iter().filter(|t| t.0 != gi).map(|&(v, c)| c * x[v]).sum();
                    x[gi] = if a != 0.0 { (row.rhs - rest) / a } else { 0.0 };
                }
            }
            StepRows::Act(units) => {
                for (i, unit) in units.iter().enumerate() {
                    match *unit {
                        Unit::Pass(_) => x[g[i]] = x[p[i]],
                        Unit::Zero => x[g[i]] = 0.0,
                        Unit::Switch { a, pl, ph, .. } => {
                            let d = ph - pl;
                            let (ai, qi) = if d <= 0.0 {
                                (0.0, 0.0)
                            } else if upper[k][i] {
                                let ai = ((x[p[i]] - pl) / d).clamp(0.0, 1.0);
                                (ai, ph * ai)
                            } else {
                                let ai = ((ph - x[p[i]]) / d).clamp(0.0, 1.0);
                                (ai, pl * ai)
                            };
                            x[a] = ai;
                            x[g[i]] = qi;
                        }
                    }
                }
            }
        }
    }
    for &k in layout.secant.iter().flatten() {
        // τ − s̃g ≤ β: τ as large as the row and its box allow.
        let row = &lp.rows[k];
        let (tau, a) = row.terms[0];
        let rest: f64 = row.terms[1..].iter().map(|&(v, c)| c * x[v]).sum();
        x[tau] = ((row.rhs - rest) / a).clamp(lp.lo[tau], lp.hi[tau]);
    }
    x
}

/// The largest violation of a row or box at `x`, relative to the magnitude of the terms involved.
fn infeasibility(lp: &LpProblem, x: &[f64]) -> f64 {
    let mut worst = 0.0f64;
    for row in &lp.rows {
        let (mut s, mut mag) = (0.0, row.rhs.abs());
        for &(i, a) in &row.terms {
            s += a * x[i];
            mag += (a * x[i]).abs();
        }
        let excess = if row.eq { (s - row.rhs).abs() - row.rhs_err } else { s - row.rhs };
        if excess > 0.0 {
            worst = worst.max(excess / mag.max(f64::MIN_POSITIVE));
        }
    }
    for ((&v, &l), &h) in x.iter().zip(&lp.lo).zip(&lp.hi) {
        let excess = (l - v).max(v - h);
        if excess > 0.0 {
            worst = worst.max(excess / l.abs().max(h.abs()).max(f64::MIN_POSITIVE));
        }
    }
    worst
}

/// The outcome of the backward pass on one LP.
#[derive(Clone, Copy)]
pub(crate) struct Fast {
    /// The certified bound of theorem L2 with the backward pass's multipliers.
    pub dual: f64,
    /// Whether the gap to its primal point is within the tolerance.
    pub accepted: bool,
}

/// Runs the backward pass (theorem L4) and records it in `detail`; `None` for a local-mode LP. Accepted when
/// the primal point is feasible and certified − primal ≤ `gap_tolerance`·primal + [`GAP_FLOOR`].
pub(crate) fn fast_path(
    lp: &LpProblem,
    layout: &Layout,
    gap_tolerance: f64,
    detail: &mut serde_json::Value,
) -> Option<Fast> {
    let start = Instant::now();
    let pass = backward_pass(lp, layout)?;
    let boxb = lp.box_bound();
    let dual = lp.dual_bound(&pass.multipliers);
    let value = dual.min(boxb);
    let gap = value - pass.primal_value;
    let accepted = pass.feasible() && gap <= gap_tolerance * pass.primal_value.max(0.0) + GAP_FLOOR;
    let seconds = start.elapsed().as_secs_f64();
    detail["backward_pass"] = json!({
        "dual_bound": dual, "primal_value": pass.primal_value, "primal_infeasibility": pass.infeasibility,
        "seconds": seconds, "accepted": accepted,
    });
    if accepted {
        let report = SolveReport {
            status: SolveStatus::ClosedForm,
            objective: Some(pass.primal_value),
            iterations: 1,
            seconds,
        };
        detail["backend"] = json!(LpBackend::Backward.name());
        detail["multiplier_solve"] = report_json(&report);
        detail["dual_bound"] = json!(dual);
        detail["value_from"] = json!(value_from(dual < boxb));
        detail["gap"] = json!(gap);
        detail["relative_gap"] = json!(relative(value, pass.primal_value));
        detail["gap_against"] = json!("primal point of the backward pass");
    }
    Some(Fast { dual, accepted })
}
