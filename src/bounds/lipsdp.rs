//! LipSDP-Neuron (Fazlyab, Robey, Hassani, Morari & Pappas, "Efficient and Accurate Estimation of Lipschitz
//! Constants for Deep Neural Networks", NeurIPS 2019) as a certified ℓ2 bound of the surrogate and latent
//! functions (theorems LS1–LS3, `proofs/lipsdp.md`).
//!
//! The net is lowered to its LipSDP form ([`LipForm`]: BatchNorm and binary scales folded into the maps, with
//! their rounding bounded); [`solve`] finds multipliers (ρ, λ) by a barrier method, and only
//! [`certify_multipliers`] turns them into a bound: S(ρ, λ) proven positive semidefinite in rounded arithmetic,
//! value √ρ rounded up. `l2-margin` entries solve one SDP per class pair with the last map replaced by
//! ŵ_t − ŵ_j, within [`LipSdpOptions::max_margin_dim`].

use std::time::Instant;

use serde_json::json;

use super::bound::{Bound, Method, Norm, PairConstant, Scope, Soundness};
use super::chain::Chain;
use super::lipsdp_form::LipForm;
use super::lipsdp_lmi::{LmiCertificate, certify_multipliers};
use super::lipsdp_solve::{Solution, SolveOptions, solve};
use crate::error::{Error, Result};
use crate::ir::Function;

/// Options of [`lipsdp_bound`].
#[derive(Clone, Debug, PartialEq)]
pub struct LipSdpOptions {
    /// Barrier-method options.
    pub solve: SolveOptions,
    /// Largest dimension of the solver's matrix (n₁ + N after reducing a wide input, else n₀ + N); its cost
    /// grows as the cube (1152, the default MNIST MLP, takes tens of seconds).
    pub max_dim: usize,
    /// Largest such dimension for which `l2-margin` solves one SDP per class pair.
    pub max_margin_dim: usize,
}

impl Default for LipSdpOptions {
    fn default() -> Self {
        LipSdpOptions { solve: SolveOptions::default(), max_dim: 1600, max_margin_dim: 256 }
    }
}

/// The solver's dimension for a form (after the reduction of a wide input).
pub fn solver_dim(form: &LipForm) -> usize {
    let n0 = match form.weights.first() {
        Some(w) if form.depth() >= 2 => form.input_dim.min(w.nrows()),
        _ => form.input_dim,
    };
    n0 + form.neurons()
}

/// The certificate's details for `bounds.json`.
pub(crate) fn certificate_detail(c: &LmiCertificate) -> serde_json::Value {
    json!({
        "certified_rho": c.rho,
        "multiplier_scale": c.scale,
        "shift": c.check.shift,
        "cholesky_error": c.check.cholesky_error,
        "matrix_error": c.check.matrix_error,
        "lambda_min_lower": c.check.lambda_min_lower,
        "failed_scales": c.attempts.iter().map(|(s, r)| json!({ "scale": s, "reason": r })).collect::<Vec<_>>(),
    })
}

/// Refusal of multipliers the check could not prove.
pub(crate) fn not_certified(method: &'static str, attempts: &[(f64, String)]) -> Error {
    let last = attempts.last().map_or("no attempt".to_string(), |(s, r)| format!("scale {s}: {r}"));
    Error::not_applicable(method, format!("the multipliers were not proven feasible ({last})"))
}

fn solve_and_certify(
    form: &LipForm,
    opts: &LipSdpOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Solution, LmiCertificate)> {
    let sol = solve(form, &opts.solve, super::sequential::proposal(form), progress)?;
    let cert =
        certify_multipliers(form, sol.rho, &sol.lambda).map_err(|a| not_certified("lipsdp-neuron", &a))?;
    Ok((sol, cert))
}

fn solution_detail(sol: &Solution) -> serde_json::Value {
    json!({
        "solver": "log-det barrier, Newton steps (pure Rust)",
        "solver_rho": sol.rho,
        "newton_steps": sol.newton_steps,
        "centring_steps": sol.centring_steps,
        "gap_bound": sol.gap,
        "converged": sol.converged,
        "input_block_reduced": sol.reduced,
    })
}

/// The certified LipSDP-Neuron bound of `chain` in `norm` (`l2`, or `l2-margin` per class pair).
///
/// Theorems LS1–LS3 (proofs/lipsdp.md); checked by tests/lipsdp.rs::fixture_neuron_value_is_certified,
/// tests/lipsdp.rs::certified_values_hold_on_sampled_pairs and tests/lipsdp.rs::bounds_sit_above_the_exact_value.
pub fn lipsdp_bound(
    chain: &Chain,
    function: Function,
    norm: Norm,
    opts: &LipSdpOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bound> {
    let start = Instant::now();
    if !matches!(norm, Norm::L2 | Norm::L2Margin) {
        return Err(Error::not_applicable("lipsdp-neuron", "LipSDP bounds ℓ2 constants only"));
    }
    let form = LipForm::from_chain(chain)?;
    let dim = solver_dim(&form);
    let limit = if norm == Norm::L2 { opts.max_dim } else { opts.max_margin_dim };
    if dim > limit {
        return Err(Error::TooLarge {
            method: "lipsdp-neuron",
            problem: format!(
                "the SDP matrix has dimension {dim} (limit {limit} for {}); the solver's cost grows as its cube",
                norm.name()
            ),
        });
    }
    let size = json!({ "input": form.input_dim, "hidden": form.hidden(), "solver_dim": dim });
    let (value, pairs, detail) = if norm == Norm::L2 {
        let (sol, cert) = solve_and_certify(&form, opts, progress)?;
        let detail =
            json!({ "size": size, "solve": solution_detail(&sol), "certificate": certificate_detail(&cert) });
        (cert.value, Vec::new(), detail)
    } else {
        let out = form.weights.last().expect("non-empty").nrows();
        let (mut pairs, mut per_pair) = (Vec::new(), Vec::new());
        for t in 0..out {
            for j in t + 1..out {
                progress(&format!("LipSDP-Neuron, margin pair ({t}, {j})"));
                let (sol, cert) = solve_and_certify(&form.margin(t, j), opts, progress)?;
                pairs.push(PairConstant { t, j, value: cert.value });
                per_pair.push(json!({ "t": t, "j": j, "newton_steps": sol.newton_steps,
                    "multiplier_scale": cert.scale, "lambda_min_lower": cert.check.lambda_min_lower }));
            }
        }
        let value = pairs.iter().map(|p| p.value).fold(0.0, f64::max);
        (value, pairs, json!({ "size": size, "pairs": per_pair }))
    };
    Ok(Bound {
        request: None,
        method: Method::LipSdpNeuron,
        function,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs,
        per_layer: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        detail,
    })
}
