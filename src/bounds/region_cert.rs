//! A proven upper bound on the maximum of an LP whose variables may be unbounded, from any multipliers
//! (theorem B5, `proofs/bab.md`): the certificate behind the region pruning of the branch and bound.
//!
//! For the LP max cᵀv subject to A v ≤ b (some rows equalities, right-hand sides within ± e), l ≤ v ≤ u with
//! some ends infinite, and multipliers w (w ≥ 0 on ≤ rows), weak duality with the box kept explicit gives
//! cᵀv ≤ bᵀw + Σ_j max(r_j l_j, r_j u_j), r = c − Aᵀw (L2, proofs/lp.md), which is finite only if every
//! residual r_j of a column with an infinite end has the right sign (0 for a free column). Floating-point
//! multipliers leave residuals of order 10⁻¹⁶ there, so the columns whose residual's enclosure has the wrong sign
//! are made exact: a set B of rows whose coefficients on those columns form a nonsingular matrix is chosen, and
//! the multipliers of B are replaced by the exact solution of M w_B = c_F − A_{N,F}ᵀ w_N, enclosed by a verified
//! solve (an approximate inverse R with ‖I − RM‖∞ < 1 proven in rounded arithmetic). The bound is then evaluated
//! with those multipliers as intervals, every operation rounded outward; a sign condition that fails, or a
//! singular or ill-conditioned M, gives +∞ (nothing is proven).

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, microlp, variable};
use nalgebra::{DMatrix, DVector};

use super::float::{add_up, dn, gamma, mul_up, up};
use super::lp_solve::LpProblem;

/// The allowance for the underflow of a sum of products (F2's nη for any n below 10²³).
const UNDERFLOW: f64 = 1e-300;

/// Relative size below which a candidate row is taken as dependent on the rows already chosen.
const DEPENDENT: f64 = 1e-8;

/// An enclosure of the exact solution of M x = c for every c with |c − c̃| ≤ β: (x̃, e) with |x − x̃| ≤ e
/// entrywise, or `None` when ‖I − RM‖∞ < 1 cannot be proven.
///
/// Theorem B5, part (b) (proofs/bab.md); checked by tests/bab_region.rs::verified_solve_encloses_the_solution.
pub fn verified_solve(m: &DMatrix<f64>, c: &[f64], beta: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let k = m.nrows();
    let r = m.clone().lu().try_inverse()?;
    let x = &r * DVector::from_column_slice(c);
    if x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let g = gamma(k + 1);
    // |ρ| = |c − M x̃| ≤ |fl(c̃ − M x̃)| + γ_{k+1}(|c̃| + |M||x̃|) + β + underflow.
    let rho: Vec<f64> = (0..k)
        .map(|i| {
            let (mut s, mut mag) = (c[i], c[i].abs());
            for j in 0..k {
                s -= m[(i, j)] * x[j];
                mag = add_up(mag, mul_up(m[(i, j)].abs(), x[j].abs()));
            }
            add_up(add_up(s.abs(), add_up(mul_up(g, mag), UNDERFLOW)), beta[i])
        })
        .collect();
    // Row sums of an upper bound on |I − R M|.
    let mut row_sum = vec![0.0f64; k];
    for i in 0..k {
        for j in 0..k {
            let (mut s, mut mag) = (if i == j { 1.0 } else { 0.0 }, if i == j { 1.0 } else { 0.0 });
            for l in 0..k {
                s -= r[(i, l)] * m[(l, j)];
                mag = add_up(mag, mul_up(r[(i, l)].abs(), m[(l, j)].abs()));
            }
            row_sum[i] = add_up(row_sum[i], add_up(s.abs(), add_up(mul_up(g, mag), UNDERFLOW)));
        }
    }
    let alpha = row_sum.iter().copied().fold(0.0f64, f64::max);
    if alpha.is_nan() || alpha >= 1.0 {
        return None;
    }
    let q: Vec<f64> =
        (0..k).map(|i| (0..k).fold(0.0f64, |s, l| add_up(s, mul_up(r[(i, l)].abs(), rho[l])))).collect();
    let e_max = up(q.iter().copied().fold(0.0f64, f64::max) / dn(1.0 - alpha));
    if !e_max.is_finite() {
        return None;
    }
    let e = (0..k).map(|i| add_up(q[i], mul_up(row_sum[i], e_max))).collect();
    Some((x.iter().copied().collect(), e))
}

/// Per column: the float residual r̃_j = c_j − Σ_i A_ij w̃_i and a radius ρ_j with |r_j − r̃_j| ≤ ρ_j for every
/// exact w with |w − w̃| ≤ rad; also whether any row touches the column (or its objective is nonzero).
fn residuals(lp: &LpProblem, w: &[f64], rad: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    let n = lp.obj.len();
    let mut r = lp.obj.clone();
    let mut mag: Vec<f64> = lp.obj.iter().map(|c| c.abs()).collect();
    let mut spread = vec![0.0f64; n];
    let mut cnt = vec![1usize; n];
    for (row, (&wk, &ek)) in lp.rows.iter().zip(w.iter().zip(rad)) {
        if wk == 0.0 && ek == 0.0 {
            continue;
        }
        for &(i, a) in &row.terms {
            r[i] -= a * wk;
            mag[i] = add_up(mag[i], mul_up(a.abs(), wk.abs()));
            spread[i] = add_up(spread[i], mul_up(a.abs(), ek));
            cnt[i] += 1;
        }
    }
    let touched: Vec<bool> = (0..n).map(|i| mag[i] > 0.0 || spread[i] > 0.0).collect();
    let rho =
        (0..n).map(|i| add_up(add_up(mul_up(gamma(cnt[i] + 1), mag[i]), UNDERFLOW), spread[i])).collect();
    (r, rho, touched)
}

/// max over r ∈ [r̃ − ρ, r̃ + ρ] and v ∈ [l, u] of r·v, rounded up; +∞ when unbounded.
fn column_term(r: f64, rho: f64, l: f64, u: f64) -> f64 {
    let (rl, rh) = (dn(r - rho), up(r + rho));
    let mut m = f64::NEG_INFINITY;
    for v in [l, u] {
        for s in [rl, rh] {
            let p = if v.is_infinite() {
                match s.partial_cmp(&0.0) {
                    Some(std::cmp::Ordering::Equal) => 0.0,
                    _ => s.signum() * v,
                }
            } else {
                up(s * v)
            };
            m = m.max(p);
        }
    }
    m
}

/// Chooses rows whose coefficients on `cols` are linearly independent (equalities first, then ≤ rows by
/// decreasing multiplier), as many as there are columns; `None` if there are not enough.
fn choose_basis(lp: &LpProblem, w: &[f64], cols: &[usize]) -> Option<Vec<usize>> {
    let pos: std::collections::HashMap<usize, usize> =
        cols.iter().enumerate().map(|(k, &j)| (j, k)).collect();
    let mut cand: Vec<usize> = (0..lp.rows.len())
        .filter(|&i| lp.rows[i].terms.iter().any(|(j, a)| *a != 0.0 && pos.contains_key(j)))
        .collect();
    cand.sort_by(|&a, &b| {
        let key = |i: usize| (!lp.rows[i].eq, -w[i]);
        key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let k = cols.len();
    let mut q: Vec<DVector<f64>> = Vec::with_capacity(k);
    let mut chosen = Vec::with_capacity(k);
    for i in cand {
        let mut v = DVector::zeros(k);
        for &(j, a) in &lp.rows[i].terms {
            if let Some(&p) = pos.get(&j) {
                v[p] += a;
            }
        }
        let norm = v.norm();
        for _ in 0..2 {
            for b in &q {
                let d = b.dot(&v);
                v -= b * d;
            }
        }
        let left = v.norm();
        if left > DEPENDENT * norm {
            q.push(v / left);
            chosen.push(i);
            if chosen.len() == k {
                return Some(chosen);
            }
        }
    }
    None
}

/// A proven upper bound on the LP's maximum from the multipliers `w` (one per row; ≤ rows clipped at 0), or
/// +∞ when no finite bound could be proven.
///
/// Theorem B5 (proofs/bab.md); checked by tests/bab_region.rs::certified_max_is_sound_on_random_lps.
pub fn certified_max(lp: &LpProblem, w: &[f64]) -> f64 {
    let mut best = certified_max_once(lp, w);
    // Multipliers of the size of rounding errors leave residuals on unbounded columns that an exact certificate
    // would not have; the same multipliers with them set to zero are another candidate (any multipliers are).
    let scale = w.iter().fold(0.0f64, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
    for rel in CLEAN {
        if best <= 0.0 {
            break;
        }
        let clean: Vec<f64> = w.iter().map(|&v| if v.abs() <= rel * scale { 0.0 } else { v }).collect();
        best = best.min(certified_max_once(lp, &clean));
    }
    best
}

/// Relative sizes below which multipliers are set to zero in the further attempts of [`certified_max`].
const CLEAN: [f64; 2] = [1e-12, 1e-8];

fn certified_max_once(lp: &LpProblem, w: &[f64]) -> f64 {
    let w0: Vec<f64> = lp
        .rows
        .iter()
        .zip(w)
        .map(|(row, &v)| {
            if !v.is_finite() {
                0.0
            } else if row.eq {
                v
            } else {
                v.max(0.0)
            }
        })
        .collect();
    let n = lp.obj.len();
    let infinite = |j: usize| !(lp.lo[j].is_finite() && lp.hi[j].is_finite());
    // Columns made exact so far; grown while the corrected multipliers leave another unbounded column unsafe.
    let mut cols: Vec<usize> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let (w, rad) = if cols.is_empty() {
            (w0.clone(), vec![0.0; w0.len()])
        } else {
            match exact_columns(lp, &w0, &cols) {
                Some(m) => m,
                None => return f64::INFINITY,
            }
        };
        let (r, rho, touched) = residuals(lp, &w, &rad);
        let mut exact = vec![false; n];
        cols.iter().for_each(|&j| exact[j] = true);
        let bad: Vec<usize> = (0..n)
            .filter(|&j| {
                !exact[j]
                    && infinite(j)
                    && touched[j]
                    && column_term(r[j], rho[j], lp.lo[j], lp.hi[j]).is_infinite()
            })
            .collect();
        if !bad.is_empty() {
            cols.extend(bad);
            continue;
        }
        let mut total = 0.0f64;
        for (row, (&wk, &ek)) in lp.rows.iter().zip(w.iter().zip(&rad)) {
            if wk == 0.0 && ek == 0.0 {
                continue;
            }
            total = add_up(total, up(wk * row.rhs));
            total = add_up(total, mul_up(ek, row.rhs.abs()));
            total = add_up(total, mul_up(add_up(wk.abs(), ek), row.rhs_err));
        }
        for j in 0..n {
            if exact[j] || (!touched[j] && infinite(j)) {
                continue; // residual exactly zero
            }
            total = add_up(total, column_term(r[j], rho[j], lp.lo[j], lp.hi[j]));
        }
        return if total.is_nan() { f64::INFINITY } else { total };
    }
    f64::INFINITY
}

/// How many times the set of exact columns may grow.
const MAX_ROUNDS: usize = 6;

/// Multipliers (value, radius) equal to `w` off a basis B and, on B, the enclosed exact solution that makes the
/// residual of every column in `cols` exactly zero; `None` when no basis, no verified solve, or a ≤ row's
/// multiplier that might be negative.
fn exact_columns(lp: &LpProblem, w: &[f64], cols: &[usize]) -> Option<(Vec<f64>, Vec<f64>)> {
    let basis = choose_basis(lp, w, cols)?;
    let mut w = w.to_vec();
    let mut rad = vec![0.0f64; w.len()];
    for &i in &basis {
        w[i] = 0.0;
    }
    // The right-hand side c_F − A_{N,F}ᵀ w_N with the basis rows' multipliers at zero.
    let (c, beta, _) = residuals(lp, &w, &rad);
    let pos: std::collections::HashMap<usize, usize> =
        cols.iter().enumerate().map(|(k, &j)| (j, k)).collect();
    let mut m = DMatrix::zeros(cols.len(), cols.len());
    for (col, &i) in basis.iter().enumerate() {
        for &(j, a) in &lp.rows[i].terms {
            if let Some(&p) = pos.get(&j) {
                if m[(p, col)] != 0.0 {
                    return None; // a column twice in one row: its coefficient would be a rounded sum
                }
                m[(p, col)] = a;
            }
        }
    }
    let cf: Vec<f64> = cols.iter().map(|&j| c[j]).collect();
    let bf: Vec<f64> = cols.iter().map(|&j| beta[j]).collect();
    let (x, e) = verified_solve(&m, &cf, &bf)?;
    for (col, &i) in basis.iter().enumerate() {
        if !lp.rows[i].eq && x[col] < e[col] {
            return None; // the exact multiplier of a ≤ row might be negative
        }
        (w[i], rad[i]) = (x[col], e[col]);
    }
    Some((w, rad))
}

/// Multipliers for `lp` from its dual, solved with microlp: minimise bᵀw + Σ u_j s⁺_j − Σ l_j s⁻_j over
/// Aᵀw + s⁺ − s⁻ = c (s± only for finite ends), w ≥ 0 on ≤ rows, with the dual objective kept ≥ −1 so that an
/// infeasible primal gives a bounded dual. Whatever comes back is only a proposal for [`certified_max`].
pub fn dual_multipliers(lp: &LpProblem) -> Option<Vec<f64>> {
    let n = lp.obj.len();
    let mut vars = ProblemVariables::new();
    let wp: Vec<Variable> = lp.rows.iter().map(|_| vars.add(variable().min(0.0))).collect();
    let wm: Vec<Option<Variable>> =
        lp.rows.iter().map(|r| r.eq.then(|| vars.add(variable().min(0.0)))).collect();
    let sp: Vec<Option<Variable>> =
        (0..n).map(|j| lp.hi[j].is_finite().then(|| vars.add(variable().min(0.0)))).collect();
    let sm: Vec<Option<Variable>> =
        (0..n).map(|j| lp.lo[j].is_finite().then(|| vars.add(variable().min(0.0)))).collect();
    let mut obj = Expression::with_capacity(lp.rows.len() + 2 * n);
    let mut cols: Vec<Expression> = (0..n).map(|_| Expression::with_capacity(4)).collect();
    for (k, row) in lp.rows.iter().enumerate() {
        obj.add_mul(row.rhs, wp[k]);
        if let Some(v) = wm[k] {
            obj.add_mul(-row.rhs, v);
        }
        for &(j, a) in &row.terms {
            cols[j].add_mul(a, wp[k]);
            if let Some(v) = wm[k] {
                cols[j].add_mul(-a, v);
            }
        }
    }
    for j in 0..n {
        if let Some(v) = sp[j] {
            obj.add_mul(lp.hi[j], v);
            cols[j].add_mul(1.0, v);
        }
        if let Some(v) = sm[j] {
            obj.add_mul(-lp.lo[j], v);
            cols[j].add_mul(-1.0, v);
        }
    }
    let mut model = vars.minimise(obj.clone()).using(microlp);
    for (j, col) in cols.into_iter().enumerate() {
        model = model.with(col.eq(lp.obj[j]));
    }
    model = model.with(obj.geq(-1.0));
    let sol = model.solve().ok()?;
    Some((0..lp.rows.len()).map(|k| sol.value(wp[k]) - wm[k].map_or(0.0, |v| sol.value(v))).collect())
}
