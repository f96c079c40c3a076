//! The distance from a point to a polyhedron, bracketed: a certified lower bound from weak duality with any
//! multipliers, and a candidate point for an upper value (theorem V5, `proofs/certify.md`).
//!
//! The polyhedron is P = {y : g_r·(y − x) ≥ β_r, r = 1..R} with exact float rows g_r and β_r ∈ [β̲_r, β̄_r].
//! For any λ ≥ 0 and y ∈ P, with δ = y − x and v = Σ_r λ_r g_r:
//! Σ_r λ_r β̲_r ≤ Σ_r λ_r g_r·δ = v·δ ≤ ‖v‖_q‖δ‖_p (Hölder; q = 1 for p = ∞, q = 2 for p = 2), so
//! ‖δ‖_p ≥ (Σ λ_r β̲_r)/‖v‖_q whenever the numerator is > 0, and P is empty when moreover v = 0 (a Farkas
//! ray). Both sides are evaluated with outward rounding (v with the a-priori inner-product bound, theorem F2),
//! so the bound holds whatever λ is: Clarabel's duals, a Farkas certificate, or the output of a failed solve.
//! The minimiser comes from Clarabel directly: an LP (min τ, −τ ≤ δ_i ≤ τ) for ℓ∞, an SOCP (‖δ‖₂ ≤ τ) for ℓ2.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SecondOrderConeT, SolverStatus,
    SupportedConeT,
};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::float::{ETA, U, dn, gamma, up};
use crate::ir::InputNorm;

/// A polyhedron around a point: rows g_r·δ ≥ β_r with δ = y − x.
#[derive(Clone, Debug, PartialEq)]
pub struct Polyhedron {
    /// Row r is g_r (exact values).
    pub g: DMatrix<f64>,
    /// Lower ends of β_r.
    pub beta_lo: Vec<f64>,
    /// Upper ends of β_r.
    pub beta_hi: Vec<f64>,
    /// Rows whose boundary is not part of the region (the point search keeps away from them).
    pub strict: Vec<bool>,
}

/// The bracket of one polyhedron's distance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionDistance {
    /// Certified lower bound on min ‖y − x‖ over the polyhedron (+∞: proven empty).
    pub lower: f64,
    /// A minimiser δ of the problem with the strict rows pushed inward, when the solver found one (unverified:
    /// the caller checks what it needs).
    pub point: Option<Vec<f64>>,
    /// Clarabel's status of the solve whose multipliers gave `lower`, by name.
    pub status: String,
}

/// The dual norm ‖·‖_q of the input norm, rounded up, of a vector given with per-entry error allowances.
fn dual_norm_up(v: &[f64], err: &[f64], norm: InputNorm) -> f64 {
    let mag: Vec<f64> = v.iter().zip(err).map(|(a, e)| up(a.abs() + e)).collect();
    norm.dual_norm_up(&mag)
}

/// The certified lower bound on ‖δ‖_p over the polyhedron from multipliers `lambda` (negative or non-finite
/// entries count as 0): (Σ λ_r β̲_r)/‖Σ λ_r g_r‖_q rounded down, 0 when the numerator is not positive, +∞ when
/// the denominator is 0.
///
/// Theorem V5 (proofs/certify.md); checked by tests/certify.rs::dual_lower_bound_holds_for_any_multipliers.
pub fn dual_lower(p: &Polyhedron, lambda: &[f64], norm: InputNorm) -> f64 {
    let (rows, n) = p.g.shape();
    let lam: Vec<f64> =
        (0..rows).map(|r| lambda.get(r).copied().filter(|l| l.is_finite()).unwrap_or(0.0).max(0.0)).collect();
    let mut num = 0.0f64;
    for (l, b) in lam.iter().zip(&p.beta_lo) {
        if *l > 0.0 {
            num = dn(num + dn(l * b));
        }
    }
    if num.is_nan() || num <= 0.0 {
        return 0.0;
    }
    // v = gᵀλ: |fl(v) − v| ≤ γ_R Σ_r |g_r λ_r| + Rη (theorem F2).
    let (g_r, r_eta) = (gamma(rows), rows as f64 * ETA);
    let mut v = vec![0.0f64; n];
    let mut err = vec![0.0f64; n];
    for i in 0..n {
        let (mut s, mut a) = (0.0f64, 0.0f64);
        for (r, l) in lam.iter().enumerate() {
            let t = p.g[(r, i)] * l;
            s += t;
            a = up(a + t.abs());
        }
        v[i] = s;
        // a sums the rounded products; the exact ones sum to at most (a + Rη)/(1 − u) (F1).
        let exact = up(up(a + r_eta) / dn(1.0 - U));
        err[i] = up(up(g_r * exact) + r_eta);
    }
    let den = dual_norm_up(&v, &err, norm);
    if den == 0.0 {
        return f64::INFINITY;
    }
    let q = dn(num / den);
    if q.is_nan() { 0.0 } else { q.max(0.0) }
}

/// The best single-row bound: max over rows of β̲_r/‖g_r‖_q (the distance to one half-space contains the
/// distance to the polyhedron); the dual bound with λ a unit vector.
///
/// Theorem V5 (proofs/certify.md); checked by tests/certify.rs::dual_lower_bound_holds_for_any_multipliers.
pub fn row_lower(p: &Polyhedron, norm: InputNorm) -> f64 {
    (0..p.g.nrows())
        .map(|r| {
            if p.beta_lo[r].is_nan() || p.beta_lo[r] <= 0.0 {
                return 0.0;
            }
            let d = norm.dual_norm_up(p.g.row(r).iter());
            if d == 0.0 { f64::INFINITY } else { dn(p.beta_lo[r] / d).max(0.0) }
        })
        .fold(0.0, f64::max)
}

/// Solves min ‖δ‖_p subject to g_r·δ ≥ β̄_r + κ_r (κ_r = `interior`·‖g_r‖_q on strict rows, 0 elsewhere);
/// returns Clarabel's status, the multipliers of the rows and δ.
fn solve(p: &Polyhedron, norm: InputNorm, interior: f64) -> (SolverStatus, Vec<f64>, Vec<f64>) {
    let (rows, n) = p.g.shape();
    let (mut ii, mut jj, mut vv) = (Vec::new(), Vec::new(), Vec::new());
    let mut b = Vec::with_capacity(rows + 2 * n + 1);
    for r in 0..rows {
        for i in 0..n {
            if p.g[(r, i)] != 0.0 {
                ii.push(r);
                jj.push(i);
                vv.push(-p.g[(r, i)]);
            }
        }
        let kappa = if p.strict[r] { interior * norm.dual_norm_up(p.g.row(r).iter()) } else { 0.0 };
        b.push(-(p.beta_hi[r] + kappa));
    }
    let cones: Vec<SupportedConeT<f64>> = match norm {
        InputNorm::Linf => {
            for i in 0..n {
                for (k, s) in [(0, 1.0), (1, -1.0)] {
                    ii.extend([rows + 2 * i + k, rows + 2 * i + k]);
                    jj.extend([i, n]);
                    vv.extend([s, -1.0]);
                    b.push(0.0);
                }
            }
            vec![NonnegativeConeT(rows + 2 * n)]
        }
        InputNorm::L2 => {
            // s = b − A v = (τ, δ) ∈ SOC.
            ii.push(rows);
            jj.push(n);
            vv.push(-1.0);
            b.push(0.0);
            for i in 0..n {
                ii.push(rows + 1 + i);
                jj.push(i);
                vv.push(-1.0);
                b.push(0.0);
            }
            vec![NonnegativeConeT(rows), SecondOrderConeT(n + 1)]
        }
    };
    let a = CscMatrix::new_from_triplets(b.len(), n + 1, ii, jj, vv);
    let pm = CscMatrix::<f64>::zeros((n + 1, n + 1));
    let mut q = vec![0.0; n + 1];
    q[n] = 1.0;
    let settings = DefaultSettingsBuilder::default().verbose(false).build().expect("valid settings");
    match DefaultSolver::new(&pm, &q, &a, &b, &cones, settings) {
        Ok(mut s) => {
            s.solve();
            let sol = &s.solution;
            (sol.status, sol.z[..rows].to_vec(), sol.x[..n].to_vec())
        }
        Err(_) => (SolverStatus::NumericalError, vec![0.0; rows], vec![0.0; n]),
    }
}

/// The bracket of the distance from x to the polyhedron in `norm`: the certified lower bound (the better of the
/// dual bound from the solver's multipliers and [`row_lower`]) and a candidate point pushed `interior` inside
/// the strict rows.
///
/// Theorem V5 (proofs/certify.md); checked by tests/certify.rs::exact_radius_brackets_every_certificate.
pub fn region_distance(p: &Polyhedron, norm: InputNorm, interior: f64) -> RegionDistance {
    let rows = row_lower(p, norm);
    let (status, lambda, delta) = solve(p, norm, interior);
    let solved = matches!(status, SolverStatus::Solved | SolverStatus::AlmostSolved);
    let (status, lambda, point) = if solved || interior == 0.0 {
        (status, lambda, solved.then_some(delta))
    } else {
        // The pushed problem failed (e.g. a region thinner than the push): take the multipliers of the plain one.
        let (status, lambda, _) = solve(p, norm, 0.0);
        (status, lambda, None)
    };
    RegionDistance { lower: dual_lower(p, &lambda, norm).max(rows), point, status: format!("{status:?}") }
}
