//! The backward pass of the global LP (theorem L4, proofs/lp.md): its multipliers give the LP optimum through
//! theorem L2, its primal point is feasible and reaches it, it agrees with Clarabel on medium nets, and it
//! hands over to Clarabel when its check fails or the LP is local.
mod common;

use common::*;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::interval::{backward, stability};
use lcr_verify::bounds::lp::{LpBackend, LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::lp_backward::backward_pass;
use lcr_verify::bounds::lp_model::{Objective, build_with_layout};
use lcr_verify::bounds::lp_solve::{SolveStatus, solve_primal};
use lcr_verify::ir::{Function, Net};

const F: Function = Function::Surrogate;

/// The backward pass's certified value above the simplex optimum: outward rounding of theorem L2 and the
/// simplex's own tolerance (both a few ulps of the row magnitudes, measured ≤ 1e-12 relative).
const OPTIMUM: f64 = 1e-9;
/// Relative agreement with Clarabel on medium nets (its duals are accurate to about 1e-8; measured ≤ 2e-9 on
/// the trained 784-384-384-10 MLP). The acceptance limit of the backend is 1e-3.
const CLARABEL: f64 = 1e-6;

fn chain(net: &Net) -> Chain {
    Chain::from_net(net, F, 1 << 20).unwrap()
}

/// Objectives of the global LP of pair (0, 2): ℓ∞ and a few coordinates of ℓ1.
fn objectives(n: usize) -> Vec<Objective> {
    let mut o = vec![Objective::SumAbs];
    o.extend((0..n.min(3)).flat_map(|j| [true, false].map(|positive| Objective::Coordinate { j, positive })));
    o
}

#[test]
fn backward_pass_matches_the_simplex_optimum() {
    let mut r = rng(40);
    let shapes: [&[usize]; 4] = [&[3, 5, 3], &[4, 6, 5, 3], &[5, 4, 6, 4, 3], &[6, 8, 8, 4]];
    let mut checked = 0;
    for (case, dims) in shapes.iter().cycle().take(24).enumerate() {
        let act = [ActKind::Relu, ActKind::HardTanh, ActKind::Sign][case % 3];
        let net = random_mlp(&mut r, dims, act, case % 2 == 0);
        let ch = chain(&net);
        let st = stability(&ch, None);
        let mut c = vec![0.0; ch.output_dim()];
        (c[0], c[2]) = (1.0, -1.0);
        let grads = backward(&ch, &c, &st);
        for obj in objectives(ch.input_dim) {
            let (problem, layout) = build_with_layout(&ch, &c, &grads, &st, None, obj);
            let pass = backward_pass(&problem, &layout).expect("global mode");
            let certified = problem.dual_bound(&pass.multipliers).min(problem.box_bound());
            let (rep, x) = solve_primal(&problem, None);
            assert_eq!(rep.status, SolveStatus::Optimal, "case {case} {obj:?}");
            let opt: f64 = x.unwrap().iter().zip(&problem.obj).map(|(a, b)| a * b).sum();
            assert!(pass.feasible(), "case {case} {obj:?}: infeasibility {}", pass.infeasibility);
            assert_le(opt, certified, ROUNDING, "simplex optimum <= certified value");
            assert_le(pass.primal_value, opt, ROUNDING, "primal point <= simplex optimum");
            let scale = opt.abs().max(1.0);
            assert!(certified - opt <= OPTIMUM * scale, "case {case} {obj:?}: {certified} vs optimum {opt}");
            assert!(certified - pass.primal_value <= OPTIMUM * scale, "case {case} {obj:?}: primal gap");
            checked += 1;
        }
    }
    assert_eq!(checked, 24 * 7, "every objective of every net");
}

#[test]
fn backward_pass_holds_the_exact_value_on_tiny_nets() {
    let mut r = rng(41);
    for case in 0..40 {
        let act = [ActKind::Relu, ActKind::HardTanh, ActKind::Sign][case % 3];
        let net = random_mlp(&mut r, &[3, 5, 4, 3], act, case % 2 == 1);
        for norm in [Norm::LinfMargin, Norm::L1Margin] {
            let b = lp_bound(&chain(&net), F, norm, &LpMode::Global, &LpOptions::default(), &|_| {}).unwrap();
            let e = exact_patterns(&chain(&net), F, norm, &ExactOptions::default()).unwrap();
            for p in &e.pairs {
                let v = b.pair_value(p.t, p.j).unwrap();
                assert_le(
                    p.value,
                    v,
                    OUTWARD,
                    &format!("case {case} {norm:?} pair {}-{}: exact <= LP", p.t, p.j),
                );
            }
            let used = &b.detail["backends_used"]["lps"];
            assert_eq!(used.as_object().unwrap().len(), 1, "{used}");
            assert!(used["backward pass"].as_u64().unwrap() > 0, "{used}");
        }
    }
}

#[test]
fn backward_pass_matches_clarabel_on_medium_nets() {
    let mut r = rng(42);
    for (dims, act) in [(&[196, 48, 48, 10][..], ActKind::Sign), (&[100, 32, 24, 16, 10][..], ActKind::Relu)]
    {
        let net = random_mlp(&mut r, dims, act, true);
        let ch = chain(&net);
        let pairs = Some(vec![(0, 1), (2, 7), (3, 9), (5, 6)]);
        let fast = LpOptions { pairs: pairs.clone(), ..Default::default() };
        let clar = LpOptions { pairs, backend: LpBackend::Clarabel, ..Default::default() };
        let bf = lp_bound(&ch, F, Norm::LinfMargin, &LpMode::Global, &fast, &|_| {}).unwrap();
        let bc = lp_bound(&ch, F, Norm::LinfMargin, &LpMode::Global, &clar, &|_| {}).unwrap();
        for (pf, pc) in
            bf.detail["per_pair"].as_array().unwrap().iter().zip(bc.detail["per_pair"].as_array().unwrap())
        {
            let (vf, vc) = (pf["value"].as_f64().unwrap(), pc["value"].as_f64().unwrap());
            let opt = pc["lp"]["multiplier_solve"]["objective"].as_f64().unwrap();
            assert_eq!(pf["lp"]["multiplier_solve"]["status"], "closed-form", "{pf}");
            assert_eq!(pf["lp"]["gap_against"], "primal point of the backward pass");
            assert!(
                (vf / opt - 1.0).abs() <= CLARABEL,
                "{dims:?} {}: backward {vf} vs Clarabel optimum {opt}",
                pf["pair"]
            );
            assert_le(vf, vc, CLARABEL, "backward <= Clarabel's certified value");
            assert!(pf["lp"]["relative_gap"].as_f64().unwrap() <= CLARABEL, "{pf}");
        }
        assert!(bf.detail["backends_used"]["max_relative_gap"].as_f64().unwrap() <= CLARABEL);
    }
}

#[test]
fn failed_checks_and_local_lps_go_to_clarabel() {
    let mut r = rng(43);
    let net = random_mlp(&mut r, &[5, 7, 6, 3], ActKind::HardTanh, true);
    let ch = chain(&net);
    let clarabel = lp_bound(
        &ch,
        F,
        Norm::LinfMargin,
        &LpMode::Global,
        &LpOptions { backend: LpBackend::Clarabel, ..Default::default() },
        &|_| {},
    )
    .unwrap();
    // A tolerance no gap meets: every LP is handed to Clarabel, and the backward pass's bound still counts.
    let strict = LpOptions { gap_tolerance: -1.0, ..Default::default() };
    let b = lp_bound(&ch, F, Norm::LinfMargin, &LpMode::Global, &strict, &|_| {}).unwrap();
    for p in b.detail["per_pair"].as_array().unwrap() {
        let lp = &p["lp"];
        assert_eq!(lp["backend"], "Clarabel", "{lp}");
        assert_eq!(lp["backward_pass"]["accepted"], false, "{lp}");
        let fast = lp["backward_pass"]["dual_bound"].as_f64().unwrap();
        assert!(p["value"].as_f64().unwrap() <= fast, "{p}");
    }
    for e in &clarabel.pairs {
        assert_le(b.pair_value(e.t, e.j).unwrap(), e.value, ROUNDING, "fallback value <= Clarabel's");
    }
    // Local mode: forward rows couple the indicators; no backward pass, Clarabel's multipliers.
    let mode = LpMode::Local { center: vec![0.1; 5], radius: 0.2, domain: None };
    let local = lp_bound(&ch, F, Norm::LinfMargin, &mode, &LpOptions::default(), &|_| {}).unwrap();
    for p in local.detail["per_pair"].as_array().unwrap() {
        assert_eq!(p["lp"]["backend"], "Clarabel", "{p}");
        assert!(p["lp"].get("backward_pass").is_none(), "{p}");
    }
}
