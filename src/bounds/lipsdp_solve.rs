//! A pure-Rust solver for the LipSDP-Neuron semidefinite program: minimise ρ subject to S(ρ, λ) ⪰ 0, by a
//! log-det barrier method with Newton steps (Boyd & Vandenberghe, *Convex Optimization*, §11.3; the matrix S is
//! that of [`super::lipsdp_lmi`]).
//!
//! Its output is **not** a bound: the returned (ρ, λ) become one only after [`super::lipsdp_lmi::certify_multipliers`]
//! proves S ⪰ 0 in rounded arithmetic. The solver works on a reduced copy of the form: when the input is wider
//! than the first hidden layer, W₁ is replaced by a square C with CCᵀ ⪰ Ŵ₁Ŵ₁ᵀ (the input block of S enters
//! only through W₁W₁ᵀ, after eliminating Δx), so the Newton steps cost O((n₁ + N)³) instead of O((n₀ + N)³).
//!
//! Barrier: φ_t(ρ, λ) = tρ − log det S(ρ, λ); S = ρE₀ + Σ_p λ_p F_p − G₀ with F_p = e_p g_pᵀ + g_p e_pᵀ,
//! g_p = e_p − w̄_p (w̄_p the weights into neuron p, placed in the previous block). With X = S⁻¹:
//! ∂φ/∂λ_p = −2 e_pᵀXg_p and ∂²φ/∂λ_p∂λ_q = 2[(e_pᵀXe_q)(g_pᵀXg_q) + (e_pᵀXg_q)(g_pᵀXe_q)]; the optimum of the
//! SDP lies within n/t of the barrier's minimiser (n the dimension of S).

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

use super::lipsdp_form::LipForm;
use crate::error::{Error, Result};

/// Options of the barrier method.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveOptions {
    /// Stop when the barrier's gap bound n/t is below this fraction of ρ.
    pub rel_gap: f64,
    /// Factor by which t grows between centring steps.
    pub mu: f64,
    /// Cap on Newton steps over all centring steps, for a matrix of dimension at most `large_dim`.
    pub max_newton: usize,
    /// Dimension above which `max_newton_large` applies instead.
    pub large_dim: usize,
    /// Cap on Newton steps for larger matrices (each step costs O(n³)); the point reached is still a feasible
    /// point, certified as any other, only not the SDP's optimum (`converged: false`).
    pub max_newton_large: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions { rel_gap: 1e-4, mu: 20.0, max_newton: 200, large_dim: 400, max_newton_large: 25 }
    }
}

/// The solver's point (not yet a bound).
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// ρ.
    pub rho: f64,
    /// One multiplier per hidden neuron.
    pub lambda: Vec<f64>,
    /// Newton steps taken.
    pub newton_steps: usize,
    /// Centring steps taken.
    pub centring_steps: usize,
    /// The barrier's final gap bound n/t (absolute, on ρ).
    pub gap: f64,
    /// Whether the gap reached `rel_gap`·ρ within the step cap.
    pub converged: bool,
    /// Whether the input block was reduced (n₀ > n₁).
    pub reduced: bool,
}

/// The form the solver works on: W₁ replaced by the Cholesky factor of Ŵ₁Ŵ₁ᵀ (plus a tiny jitter) when the
/// input is wider than the first hidden layer.
fn reduced(form: &LipForm) -> (LipForm, bool) {
    let w1 = &form.weights[0];
    if form.depth() < 2 || w1.ncols() <= w1.nrows() {
        return (form.clone(), false);
    }
    let mut g = w1 * w1.transpose();
    let n = g.nrows();
    let jitter = 1e-12 * (g.trace() / n as f64).max(f64::MIN_POSITIVE);
    for i in 0..n {
        g[(i, i)] += jitter;
    }
    let c = match Cholesky::new(g.clone()) {
        Some(c) => c.l(),
        None => return (form.clone(), false),
    };
    let mut r = form.clone();
    r.input_dim = n;
    r.weights[0] = c;
    r.errors[0] = None;
    (r, true)
}

/// Dense S(ρ, λ) of the (reduced) form, in floating point, for the solver.
fn dense_lmi(form: &LipForm, g0: &DMatrix<f64>, rho: f64, lambda: &[f64]) -> DMatrix<f64> {
    let o = form.offsets();
    let n = *o.last().expect("non-empty");
    let mut s = DMatrix::zeros(n, n);
    for i in 0..form.input_dim {
        s[(i, i)] = rho;
    }
    for k in 1..form.depth() {
        let w = &form.weights[k - 1];
        for i in 0..w.nrows() {
            let p = o[k] + i;
            let lam = lambda[p - form.input_dim];
            s[(p, p)] = 2.0 * lam;
            for j in 0..w.ncols() {
                let v = -lam * w[(i, j)];
                s[(p, o[k - 1] + j)] = v;
                s[(o[k - 1] + j, p)] = v;
            }
        }
    }
    let base = o[form.depth() - 1];
    let m = g0.nrows();
    let mut blk = s.view_mut((base, base), (m, m));
    blk -= g0;
    s
}

/// L⁻¹ for lower-triangular L, by halving: inv([A 0; B C]) = [A⁻¹ 0; −C⁻¹BA⁻¹ C⁻¹].
fn lower_inverse(l: &DMatrix<f64>) -> DMatrix<f64> {
    let n = l.nrows();
    if n <= 64 {
        let id = DMatrix::identity(n, n);
        return l.solve_lower_triangular(&id).expect("positive diagonal");
    }
    let h = n / 2;
    let ai = lower_inverse(&l.view((0, 0), (h, h)).into_owned());
    let ci = lower_inverse(&l.view((h, h), (n - h, n - h)).into_owned());
    let b = l.view((h, 0), (n - h, h));
    let low = -(&ci * (b * &ai));
    let mut out = DMatrix::zeros(n, n);
    out.view_mut((0, 0), (h, h)).copy_from(&ai);
    out.view_mut((h, h), (n - h, n - h)).copy_from(&ci);
    out.view_mut((h, 0), (n - h, h)).copy_from(&low);
    out
}

/// −log det S and S⁻¹ if S is positive definite.
fn barrier_and_inverse(s: DMatrix<f64>, want_inverse: bool) -> Option<(f64, Option<DMatrix<f64>>)> {
    let c: Cholesky<f64, Dyn> = Cholesky::new(s)?;
    let l = c.l();
    let logdet = 2.0 * l.diagonal().iter().map(|d| d.ln()).sum::<f64>();
    if !logdet.is_finite() {
        return None;
    }
    let x = want_inverse.then(|| {
        let li = lower_inverse(&l);
        li.tr_mul(&li)
    });
    Some((-logdet, x))
}

/// A strictly feasible start: layer-uniform multipliers that reproduce the product of norms, inflated.
fn start(form: &LipForm, norms: &[f64], inflate: f64) -> (f64, Vec<f64>) {
    let depth = form.depth();
    let hidden = form.hidden();
    // τ_{L−1} = c‖W_L‖², τ_{k−1} = c·τ_k‖W_k‖², ρ = τ₀.
    let mut tau = vec![0.0; depth];
    let floor = f64::MIN_POSITIVE.sqrt();
    let mut t = inflate * norms[depth - 1].max(floor).powi(2);
    for k in (1..depth).rev() {
        tau[k] = t;
        t *= inflate * norms[k - 1].max(floor).powi(2);
    }
    let lambda = (1..depth).flat_map(|k| std::iter::repeat_n(tau[k], hidden[k - 1])).collect();
    (t, lambda)
}

fn spectral_estimate(w: &DMatrix<f64>) -> f64 {
    // Power iteration on WᵀW from a fixed start; an estimate (the start is verified by Cholesky).
    let mut v = DVector::from_element(w.ncols(), 1.0 / (w.ncols() as f64).sqrt());
    let mut s = 0.0;
    for _ in 0..60 {
        let u = w * &v;
        let z = w.tr_mul(&u);
        let nz = z.norm();
        if nz == 0.0 {
            return 0.0;
        }
        s = nz.sqrt();
        v = z / nz;
    }
    s
}

/// Minimises ρ over S(ρ, λ) ⪰ 0 approximately; see the module documentation. `warm` is a feasible point
/// (ρ, λ) of the exact form (e.g. the sequential bound's), used when it is strictly feasible for the solver.
pub fn solve(
    form: &LipForm,
    opts: &SolveOptions,
    warm: Option<(f64, Vec<f64>)>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Solution> {
    let (rf, was_reduced) = reduced(form);
    let o = rf.offsets();
    let n = *o.last().expect("non-empty");
    let n0 = rf.input_dim;
    let m = n - n0;
    let wl = rf.weights.last().expect("non-empty");
    let g0 = wl.tr_mul(wl);
    let phi = |t: f64, rho: f64, lam: &[f64], inv: bool| {
        barrier_and_inverse(dense_lmi(&rf, &g0, rho, lam), inv).map(|(b, x)| (t * rho + b, x))
    };
    // Start: the warm point inflated by 10 % (S(sρ, sλ) = sS_h − G₀ gains (s − 1)S_h), else the product point.
    let mut start_point = None;
    if let Some((r, l)) = warm {
        let (r, l) = (1.1 * r, l.iter().map(|v| 1.1 * v).collect::<Vec<f64>>());
        if phi(1.0, r, &l, false).is_some() {
            start_point = Some((r, l, 0.25));
        }
    }
    if start_point.is_none() {
        let spectral: Vec<f64> = rf.weights.iter().map(spectral_estimate).collect();
        let frob: Vec<f64> = rf.weights.iter().map(|w| w.norm()).collect();
        for norms in [&spectral, &frob] {
            let (r, l) = start(&rf, norms, 1.5);
            if phi(1.0, r, &l, false).is_some() {
                start_point = Some((r, l, 1.0));
                break;
            }
        }
    }
    let Some((mut rho, mut lam, distance)) = start_point else {
        return Err(Error::Solver {
            solver: "LipSDP barrier",
            status: "no strictly feasible start".into(),
            context: "neither the warm point nor the inflated product-of-norms point was positive definite"
                .into(),
        });
    };
    // t such that the central point's gap n/t is about the start's distance to the optimum.
    let mut t = n as f64 / (distance * rho).max(f64::MIN_POSITIVE);
    let (mut steps, mut centring) = (0usize, 0usize);
    let cap = if n > opts.large_dim { opts.max_newton_large } else { opts.max_newton };
    let (mut f0, mut x) = phi(t, rho, &lam, true).expect("the start is feasible");
    loop {
        centring += 1;
        // Centring: Newton steps on φ_t with backtracking (Boyd & Vandenberghe §9.5, §11.3).
        loop {
            if steps >= cap {
                let gap = n as f64 / t;
                return Ok(Solution {
                    rho,
                    lambda: lam,
                    newton_steps: steps,
                    centring_steps: centring,
                    gap,
                    converged: false,
                    reduced: was_reduced,
                });
            }
            let xi = x.as_ref().expect("inverse requested");
            steps += 1;
            let (g, h) = gradient_and_hessian(&rf, &o, xi, t);
            let dim = m + 1;
            let d = match Cholesky::new(h.clone()) {
                Some(c) => c.solve(&(-&g)),
                None => {
                    // Regularise a numerically indefinite Hessian.
                    let mut hr = h;
                    let tr = hr.trace() / dim as f64;
                    for i in 0..dim {
                        hr[(i, i)] += 1e-10 * tr;
                    }
                    match Cholesky::new(hr) {
                        Some(c) => c.solve(&(-&g)),
                        None => break,
                    }
                }
            };
            let dec = -g.dot(&d);
            if dec.is_nan() || dec <= 1e-10 {
                break;
            }
            // Backtracking from the full step (Armijo), then doubling while φ_t keeps falling: far from the
            // central path the barrier is nearly linear along d and the full step is short. The inverse only at
            // the accepted point.
            let trial = |alpha: f64| {
                let r1 = rho + alpha * d[0];
                let l1: Vec<f64> = lam.iter().zip(d.iter().skip(1)).map(|(l, dl)| l + alpha * dl).collect();
                phi(t, r1, &l1, false).map(|(f1, _)| (f1, r1, l1))
            };
            let mut alpha = 1.0;
            let mut best = None;
            for _ in 0..50 {
                if let Some((f1, r1, l1)) = trial(alpha)
                    && f1 <= f0 - 0.01 * alpha * dec
                {
                    best = Some((f1, r1, l1));
                    break;
                }
                alpha *= 0.5;
            }
            if alpha == 1.0 {
                while alpha < 1024.0 {
                    match trial(2.0 * alpha) {
                        Some((f1, r1, l1)) if best.as_ref().is_some_and(|b| f1 < b.0) => {
                            best = Some((f1, r1, l1));
                            alpha *= 2.0;
                        }
                        _ => break,
                    }
                }
            }
            let moved = best.is_some();
            if let Some((_, r1, l1)) = best {
                let (f1, x1) = phi(t, r1, &l1, true).expect("feasible just above");
                (rho, lam, f0, x) = (r1, l1, f1, x1);
            }
            progress(&format!(
                "LipSDP barrier: Newton step {steps}, decrement {dec:.3e}, step length {alpha:.3e}, ρ = {rho:.6e}"
            ));
            if !moved || dec < 1e-5 {
                break;
            }
        }
        let gap = n as f64 / t;
        progress(&format!("LipSDP barrier: ρ = {rho:.6e}, gap bound {gap:.3e}, {steps} Newton steps"));
        if gap <= opts.rel_gap * rho {
            return Ok(Solution {
                rho,
                lambda: lam,
                newton_steps: steps,
                centring_steps: centring,
                gap,
                converged: true,
                reduced: was_reduced,
            });
        }
        t *= opts.mu;
        f0 = phi(t, rho, &lam, false).expect("the point is feasible").0;
    }
}

/// ∇φ_t and ∇²φ_t at the point with S⁻¹ = `x` (module documentation).
fn gradient_and_hessian(rf: &LipForm, o: &[usize], x: &DMatrix<f64>, t: f64) -> (DVector<f64>, DMatrix<f64>) {
    let n0 = rf.input_dim;
    let n = x.nrows();
    let m = n - n0;
    let depth = rf.depth();
    // Z = X·Ḡ with Ḡ's columns g_p = e_p − w̄_p.
    let mut z = x.columns(n0, m).into_owned();
    for k in 1..depth {
        let w = &rf.weights[k - 1];
        let xw = x.columns(o[k - 1], o[k] - o[k - 1]) * w.transpose();
        let mut zk = z.columns_mut(o[k] - n0, o[k + 1] - o[k]);
        zk -= xw;
    }
    let a = x.view((n0, n0), (m, m));
    let zh = z.rows(n0, m).into_owned();
    let mut b = zh.clone();
    for k in 1..depth {
        let w = &rf.weights[k - 1];
        let wz = w * z.rows(o[k - 1], o[k] - o[k - 1]);
        let mut bk = b.rows_mut(o[k] - n0, o[k + 1] - o[k]);
        bk -= wz;
    }
    let dim = m + 1;
    let mut h = DMatrix::zeros(dim, dim);
    let mut g = DVector::zeros(dim);
    g[0] = t - (0..n0).map(|i| x[(i, i)]).sum::<f64>();
    h[(0, 0)] = x.view((0, 0), (n0, n0)).iter().map(|v| v * v).sum::<f64>();
    for p in 0..m {
        g[p + 1] = -2.0 * zh[(p, p)];
        let hr: f64 = (0..n0).map(|c| x[(n0 + p, c)] * z[(c, p)]).sum();
        h[(0, p + 1)] = 2.0 * hr;
        h[(p + 1, 0)] = 2.0 * hr;
    }
    for q in 0..m {
        for p in 0..m {
            h[(p + 1, q + 1)] = 2.0 * (a[(p, q)] * b[(p, q)] + zh[(p, q)] * zh[(q, p)]);
        }
    }
    (g, h)
}
