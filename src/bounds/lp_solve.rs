//! A boxed LP, its solution with good_lp (Clarabel or microlp), and a certified upper bound from any multipliers
//! (theorem L2, `proofs/lp.md`).
//!
//! Primal: maximise cᵀx subject to A x ≤ b, E x = f, l ≤ x ≤ u, with every box finite. For any y ≥ 0 and any z,
//! cᵀx = bᵀy − (b − Ax)ᵀy + fᵀz + (c − Aᵀy − Eᵀz)ᵀx ≤ bᵀy + fᵀz + Σᵢ max(rᵢlᵢ, rᵢuᵢ), r = c − Aᵀy − Eᵀz
//! (weak duality with the box kept explicit, Neumaier & Shcherbina, Math. Program. 99, 2004). The multipliers
//! come from the backward pass of theorem L4 (`super::lp_backward`, global LPs), Clarabel's duals of the
//! primal, or solving the dual LP with microlp; whatever they are (even from a failed or inexact solve), the bound
//! is evaluated in outward-rounded arithmetic with r enclosed in an interval, so it is a certified upper bound.
//! Equality right-hand sides may carry an enclosure f ∈ [f̃ − e, f̃ + e].

use std::time::Instant;

use good_lp::solvers::microlp::MicroLpSolution;
use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable, WithTimeLimit, microlp,
    variable,
};
use serde_json::json;

use super::float::{add_up, dn, gamma, mul_up, up};
pub use super::solve_status::SolveStatus;

/// One constraint row: Σ a_i x_i ≤ rhs, or = rhs (exact value within ± `rhs_err`).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Sparse coefficients (variable index, value).
    pub terms: Vec<(usize, f64)>,
    /// Equality (`true`) or ≤.
    pub eq: bool,
    /// Right-hand side (for ≤ rows: a valid upper end).
    pub rhs: f64,
    /// Enclosure radius of an equality right-hand side.
    pub rhs_err: f64,
}

/// A maximisation LP with finite variable boxes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LpProblem {
    /// Lower ends of the variable boxes.
    pub lo: Vec<f64>,
    /// Upper ends.
    pub hi: Vec<f64>,
    /// Objective coefficients (maximised).
    pub obj: Vec<f64>,
    /// Constraint rows.
    pub rows: Vec<Row>,
}

impl LpProblem {
    /// Adds a variable with box [lo, hi]; returns its index.
    pub fn var(&mut self, lo: f64, hi: f64) -> usize {
        self.lo.push(lo);
        self.hi.push(hi.max(lo));
        self.obj.push(0.0);
        self.lo.len() - 1
    }

    /// Adds Σ terms ≤ rhs.
    pub fn le_row(&mut self, terms: Vec<(usize, f64)>, rhs: f64) {
        self.rows.push(Row { terms, eq: false, rhs, rhs_err: 0.0 });
    }

    /// Adds Σ terms = rhs (± err).
    pub fn eq_row(&mut self, terms: Vec<(usize, f64)>, rhs: f64, err: f64) {
        self.rows.push(Row { terms, eq: true, rhs, rhs_err: err });
    }

    /// Number of nonzero coefficients.
    pub fn nnz(&self) -> usize {
        self.rows.iter().map(|r| r.terms.len()).sum()
    }

    /// Whether every variable box is finite (else no finite bound is claimed).
    fn boxes_finite(&self) -> bool {
        self.lo.iter().chain(&self.hi).all(|v| v.is_finite())
    }

    /// The certified bound Σᵢ max over the box of cᵢxᵢ (all multipliers zero).
    ///
    /// Theorem L2 with zero multipliers (proofs/lp.md); checked by
    /// tests/lp.rs::dual_bound_is_sound_for_any_multipliers.
    pub fn box_bound(&self) -> f64 {
        if !self.boxes_finite() {
            return f64::INFINITY;
        }
        (0..self.obj.len())
            .fold(0.0, |s, i| add_up(s, up((self.obj[i] * self.lo[i]).max(self.obj[i] * self.hi[i]))))
    }

    /// The certified upper bound of theorem L2 for multipliers `w` (one per row; ≤ rows clipped at 0).
    ///
    /// Theorem L2 (proofs/lp.md); checked by tests/lp.rs::dual_bound_is_sound_for_any_multipliers.
    pub fn dual_bound(&self, w: &[f64]) -> f64 {
        if !self.boxes_finite() {
            return f64::INFINITY;
        }
        let n = self.obj.len();
        let mut r = self.obj.clone();
        let mut mag: Vec<f64> = self.obj.iter().map(|c| c.abs()).collect();
        let mut cnt = vec![1usize; n];
        let mut total = 0.0f64;
        for (row, &wk) in self.rows.iter().zip(w) {
            let wk = if row.eq { wk } else { wk.max(0.0) };
            if wk == 0.0 || !wk.is_finite() {
                continue;
            }
            total = add_up(total, up(wk * row.rhs));
            total = add_up(total, mul_up(wk.abs(), row.rhs_err));
            for &(i, a) in &row.terms {
                r[i] -= a * wk;
                mag[i] = up(mag[i] + up((a * wk).abs()));
                cnt[i] += 1;
            }
        }
        for i in 0..n {
            let err = up(mul_up(gamma(cnt[i] + 1), mag[i]) + 1e-300);
            let (rl, rh) = (dn(r[i] - err), up(r[i] + err));
            let (l, u) = (self.lo[i], self.hi[i]);
            let m = up((rl * l).max(rl * u)).max(up((rh * l).max(rh * u)));
            total = add_up(total, m);
        }
        total
    }
}

/// What a solve returned, with its status by name.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveReport {
    /// How the solve ended.
    pub status: SolveStatus,
    /// The solver's objective value (for a primal solve: meaningful only when `status` is
    /// [`SolveStatus::Optimal`]).
    pub objective: Option<f64>,
    /// Simplex iterations.
    pub iterations: u64,
    /// Seconds.
    pub seconds: f64,
}

fn linear(terms: impl IntoIterator<Item = (Variable, f64)>) -> Expression {
    let mut e = Expression::with_capacity(8);
    for (v, a) in terms {
        e.add_mul(a, v);
    }
    e
}

/// Solves `problem` (maximise) with microlp; returns the report and the primal values.
pub fn solve_primal(problem: &LpProblem, time_limit: Option<f64>) -> (SolveReport, Option<Vec<f64>>) {
    let start = Instant::now();
    let mut vars = ProblemVariables::new();
    let x: Vec<Variable> =
        (0..problem.obj.len()).map(|i| vars.add(variable().min(problem.lo[i]).max(problem.hi[i]))).collect();
    let obj = linear(problem.obj.iter().enumerate().filter(|(_, c)| **c != 0.0).map(|(i, c)| (x[i], *c)));
    let mut model = vars.maximise(obj).using(microlp);
    if let Some(t) = time_limit {
        model = model.with_time_limit(t);
    }
    for row in &problem.rows {
        let e = linear(row.terms.iter().map(|&(i, a)| (x[i], a)));
        model = model.with(if row.eq { e.eq(row.rhs) } else { e.leq(row.rhs) });
    }
    finish(model.solve(), &x, start)
}

fn finish(
    res: Result<MicroLpSolution, ResolutionError>,
    x: &[Variable],
    start: Instant,
) -> (SolveReport, Option<Vec<f64>>) {
    match res {
        Ok(sol) => {
            let status = SolveStatus::from(sol.status());
            let values: Vec<f64> = x.iter().map(|&v| sol.value(v)).collect();
            let iterations = sol.into_inner().stats().lp_iterations;
            (
                SolveReport { status, objective: None, iterations, seconds: start.elapsed().as_secs_f64() },
                Some(values),
            )
        }
        Err(e) => (
            SolveReport {
                status: SolveStatus::from(&e),
                objective: None,
                iterations: 0,
                seconds: start.elapsed().as_secs_f64(),
            },
            None,
        ),
    }
}

/// Solves the dual of `problem` with microlp and returns one multiplier per row (≤ rows: y ≥ 0; = rows: free).
///
/// Dual: minimise bᵀy + fᵀz + uᵀs⁺ − lᵀs⁻ subject to Aᵀy + Eᵀz + s⁺ − s⁻ = c, y, s± ≥ 0.
pub fn solve_dual(problem: &LpProblem, time_limit: Option<f64>) -> (SolveReport, Option<Vec<f64>>) {
    let start = Instant::now();
    let n = problem.obj.len();
    let mut vars = ProblemVariables::new();
    // Free multipliers are split into two non-negative parts.
    let wp: Vec<Variable> = problem.rows.iter().map(|_| vars.add(variable().min(0.0))).collect();
    let wm: Vec<Option<Variable>> =
        problem.rows.iter().map(|r| r.eq.then(|| vars.add(variable().min(0.0)))).collect();
    let sp: Vec<Variable> = (0..n).map(|_| vars.add(variable().min(0.0))).collect();
    let sm: Vec<Variable> = (0..n).map(|_| vars.add(variable().min(0.0))).collect();
    let mut obj = Expression::with_capacity(problem.rows.len() + 2 * n);
    let mut cols: Vec<Vec<(Variable, f64)>> = vec![Vec::new(); n];
    for (k, row) in problem.rows.iter().enumerate() {
        obj.add_mul(row.rhs, wp[k]);
        if let Some(m) = wm[k] {
            obj.add_mul(-row.rhs, m);
        }
        for &(i, a) in &row.terms {
            cols[i].push((wp[k], a));
            if let Some(m) = wm[k] {
                cols[i].push((m, -a));
            }
        }
    }
    for i in 0..n {
        obj.add_mul(problem.hi[i], sp[i]);
        obj.add_mul(-problem.lo[i], sm[i]);
    }
    let mut model = vars.minimise(obj).using(microlp);
    if let Some(t) = time_limit {
        model = model.with_time_limit(t);
    }
    for (i, col) in cols.into_iter().enumerate() {
        let mut e = linear(col);
        e.add_mul(1.0, sp[i]);
        e.add_mul(-1.0, sm[i]);
        model = model.with(e.eq(problem.obj[i]));
    }
    let all: Vec<Variable> = wp.iter().copied().chain(wm.iter().flatten().copied()).collect();
    let (report, values) = finish(model.solve(), &all, start);
    let values = values.map(|v| {
        let mut minus = v[wp.len()..].iter();
        (0..wp.len())
            .map(|k| v[k] - if wm[k].is_some() { *minus.next().expect("one per equality") } else { 0.0 })
            .collect()
    });
    (report, values)
}

/// The JSON summary of a solve.
pub fn report_json(r: &SolveReport) -> serde_json::Value {
    json!({ "status": r.status, "objective": r.objective, "iterations": r.iterations, "seconds": r.seconds })
}

/// Solves `problem` with Clarabel (interior point) and returns its duals as multipliers, with Clarabel's own
/// status (the good_lp wrapper would report every accepted status as optimal).
///
/// good_lp accepts Clarabel's `Solved`, `AlmostSolved`, `DualInfeasible` and `AlmostDualInfeasible`; their
/// status is read from the inner solution. Every other status reaches us as a good_lp error
/// ([`SolveStatus::Infeasible`] or [`SolveStatus::Error`] with good_lp's message).
///
/// `time_limit` (seconds) stops Clarabel early; a stopped or failed solve (time or iteration limit, numerical
/// trouble) returns no multipliers, and the caller's certified value is then the box bound.
pub fn solve_clarabel(problem: &LpProblem, time_limit: Option<f64>) -> (SolveReport, Option<Vec<f64>>) {
    use good_lp::{DualValues, SolutionWithDual, clarabel};
    let start = Instant::now();
    let mut vars = ProblemVariables::new();
    let x: Vec<Variable> =
        (0..problem.obj.len()).map(|i| vars.add(variable().min(problem.lo[i]).max(problem.hi[i]))).collect();
    let obj = linear(problem.obj.iter().enumerate().filter(|(_, c)| **c != 0.0).map(|(i, c)| (x[i], *c)));
    let mut model = vars.maximise(obj).using(clarabel);
    if let Some(t) = time_limit {
        model.settings().time_limit(t);
    }
    let refs: Vec<_> = problem
        .rows
        .iter()
        .map(|row| {
            let e = linear(row.terms.iter().map(|&(i, a)| (x[i], a)));
            model.add_constraint(if row.eq { e.eq(row.rhs) } else { e.leq(row.rhs) })
        })
        .collect();
    match model.solve() {
        Ok(mut sol) => {
            let inner = sol.inner();
            let status = SolveStatus::from(inner.status);
            let (objective, iterations) = (Some(-inner.obj_val), inner.iterations as u64);
            let dual = sol.compute_dual();
            let y: Vec<f64> = refs.iter().map(|r| dual.dual(r.clone())).collect();
            (SolveReport { status, objective, iterations, seconds: start.elapsed().as_secs_f64() }, Some(y))
        }
        Err(e) => (
            SolveReport {
                status: SolveStatus::from(&e),
                objective: None,
                iterations: 0,
                seconds: start.elapsed().as_secs_f64(),
            },
            None,
        ),
    }
}
