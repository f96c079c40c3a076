//! The LipSDP-Neuron matrix S(ρ, λ) of a [`LipForm`] and the certified value √ρ (theorems LS1, LS2,
//! `proofs/lipsdp.md`).
//!
//! With v = (Δx, Δh₁, …, Δh_{L−1}) and Δz_k = W_kΔh_{k−1}, the quadratic form
//!
//! vᵀS v = ρ‖Δx‖² − ‖W_LΔh_{L−1}‖² − Σ_k 2Δh_kᵀT_k(W_kΔh_{k−1} − Δh_k),  T_k = diag(λ over layer k),
//!
//! is block tridiagonal: S₀₀ = ρI, S_kk = 2T_k (minus W_LᵀW_L in the last block), S_{k,k−1} = −T_kW_k. If
//! S ⪰ 0 and λ ≥ 0 then ‖f(x) − f(y)‖₂ ≤ √ρ‖x − y‖₂ for every activation with slopes in [0, 1] (LS1): each term
//! Δh_i(Δz_i − Δh_i) is ≥ 0. The floating-point matrix S̃ is built with an entrywise bound on |S − S̃| whose
//! Frobenius norm bounds ‖S − S̃‖₂, and S ⪰ 0 is proven by [`certify_psd`] (LS2).

use nalgebra::DMatrix;

use super::float::{ETA, add_up, gamma, mul_up, sqrt_up, up};
use super::lipsdp_form::{LipForm, abs_product_up};
use super::psd_check::{Envelope, PsdCertificate, PsdFailure, certify_psd, default_shift, frobenius_error};

/// S̃(ρ, λ) and a bound on ‖S(ρ, λ) − S̃‖₂ for the exact maps W_k.
pub fn lmi_matrix(form: &LipForm, rho: f64, lambda: &[f64]) -> (Envelope, f64) {
    let o = form.offsets();
    let depth = form.depth();
    let dim = *o.last().expect("non-empty");
    assert_eq!(lambda.len(), dim - form.input_dim, "one multiplier per hidden neuron");
    // Row starts: the input block is diagonal; block k ≥ 1 starts at block k − 1; the last block is dense.
    let mut first: Vec<usize> = (0..dim).collect();
    for k in 1..depth {
        for r in first.iter_mut().take(o[k + 1]).skip(o[k]) {
            *r = o[k - 1];
        }
    }
    let last = depth - 1;
    if last == 0 {
        // No hidden layer: S = ρI − W_LᵀW_L is dense.
        first.iter_mut().for_each(|r| *r = 0);
    }
    let mut m = Envelope::zeros(first);
    let g1 = gamma(1);
    let mut err2 = 0.0f64;
    for i in 0..form.input_dim {
        m.set_lower(i, i, rho);
    }
    for k in 1..depth {
        // Transposed once, so that row i of W_k (column i of Wᵀ) is contiguous.
        let wt = form.weights[k - 1].transpose();
        let bt = form.errors[k - 1].as_ref().map(|b| b.transpose());
        for i in 0..wt.ncols() {
            let p = o[k] + i;
            let lam = lambda[p - form.input_dim];
            m.set_lower(p, p, 2.0 * lam);
            let w_row = wt.column(i);
            let b_row = bt.as_ref().map(|b| b.column(i));
            for j in 0..wt.nrows() {
                let v = -lam * w_row[j];
                m.set_lower(p, o[k - 1] + j, v);
                // |λ·w − fl(λ·ŵ)| ≤ λ·b + γ₁|v| + η, counted twice (symmetric entries).
                let e = add_up(
                    add_up(b_row.as_ref().map_or(0.0, |b| mul_up(lam.abs(), b[j])), mul_up(g1, v.abs())),
                    ETA,
                );
                err2 = add_up(err2, mul_up(2.0, mul_up(e, e)));
            }
        }
    }
    // The last block: −W_LᵀW_L, with |WᵀW − fl(ŴᵀŴ)| ≤ γ_n|Ŵ|ᵀ|Ŵ| + nη + Bᵀ(|Ŵ| + B) + |Ŵ|ᵀB.
    let wl = &form.weights[last];
    let g = wl.tr_mul(wl);
    let abs = wl.abs();
    let n = wl.nrows();
    let mut eg =
        abs_product_up(&abs.transpose(), &abs).map(|v| add_up(mul_up(gamma(n), v), mul_up(n as f64, ETA)));
    if let Some(b) = &form.errors[last] {
        let wb = &abs + b;
        let t1 = abs_product_up(&b.transpose(), &wb.map(up));
        let t2 = abs_product_up(&abs.transpose(), b);
        eg.zip_zip_apply(&t1, &t2, |e, x, y| *e = add_up(*e, add_up(x, y)));
    }
    let base = o[last];
    for i in 0..g.nrows() {
        for j in 0..=i {
            let old = m.get(base + i, base + j);
            let v = old - g[(i, j)];
            m.set_lower(base + i, base + j, v);
            let e = add_up(eg[(i, j)], mul_up(g1, v.abs()));
            let copies = if i == j { 1.0 } else { 2.0 };
            err2 = add_up(err2, mul_up(copies, mul_up(e, e)));
        }
    }
    (m, frobenius_error(err2))
}

/// A certified value √ρ with the check that proved it.
#[derive(Clone, Debug, PartialEq)]
pub struct LmiCertificate {
    /// ρ actually checked.
    pub rho: f64,
    /// √ρ rounded up: the certified Lipschitz bound.
    pub value: f64,
    /// The factor s by which (ρ, λ) were scaled up before the check succeeded.
    pub scale: f64,
    /// The check.
    pub check: PsdCertificate,
    /// Failed attempts (scale, reason) before it.
    pub attempts: Vec<(f64, String)>,
}

/// The scalings tried in turn: S(sρ, sλ) = sS(ρ, λ) + (s − 1)·blkdiag(0, …, W_LᵀW_L) ⪰ sS(ρ, λ), so a larger s
/// never loses definiteness and gains margin where S_h(ρ, λ) = S + blkdiag(0, …, W_LᵀW_L) is definite.
pub const SCALES: [f64; 8] =
    [1.0, 1.0 + 1e-10, 1.0 + 1e-8, 1.0 + 1e-6, 1.0 + 1e-5, 1.0 + 1e-4, 1.0 + 1e-3, 1.0 + 1e-2];

/// Certifies √(sρ) for the first s in [`SCALES`] at which S(sρ, sλ) is proven PSD; `None` with the attempts
/// when none is.
///
/// Theorems LS1, LS2 (proofs/lipsdp.md); checked by tests/lipsdp.rs::fixture_neuron_value_is_certified and
/// tests/lipsdp.rs::certified_values_hold_on_sampled_pairs.
pub fn certify_multipliers(
    form: &LipForm,
    rho: f64,
    lambda: &[f64],
) -> std::result::Result<LmiCertificate, Vec<(f64, String)>> {
    let mut attempts = Vec::new();
    if !(rho.is_finite() && rho >= 0.0) || lambda.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
        attempts.push((1.0, "ρ or a multiplier is negative or not finite".to_string()));
        return Err(attempts);
    }
    for s in SCALES {
        let r = up(rho * s);
        let lam: Vec<f64> = lambda.iter().map(|l| l * s).collect();
        let (mut m, e) = lmi_matrix(form, r, &lam);
        let shift = default_shift(&m, e);
        match certify_psd(&mut m, shift, e) {
            Ok(check) => {
                return Ok(LmiCertificate { rho: r, value: sqrt_up(r), scale: s, check, attempts });
            }
            Err(PsdFailure::Pivot(i)) => attempts.push((s, format!("pivot {i} not positive"))),
            Err(PsdFailure::Margin { shift, needed }) => {
                attempts.push((s, format!("error bound {needed:e} exceeds the shift {shift:e}")))
            }
        }
    }
    Err(attempts)
}

/// ŴᵀŴ of the last map (the matrix the solver subtracts), for callers that build their own S.
pub fn last_gram(form: &LipForm) -> DMatrix<f64> {
    let wl = form.weights.last().expect("non-empty");
    wl.tr_mul(wl)
}
