//! LP bounds: fixtures, closed forms, dual-bound soundness, local vs global, limits (proofs/lp.md).
mod common;

use common::*;
use lcr_verify::Error;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::interval::{backward, stability};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::lp::{LpBackend, LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::lp_model::{Objective, build};
use lcr_verify::bounds::lp_solve::{SolveStatus, solve_primal};
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::ir::{Function, Layer, Net};
use nalgebra::DMatrix;
use rand::Rng;

/// The LP value reproduces the closed form up to solver accuracy plus outward rounding.
const CLOSED_FORM: f64 = 1e-7;
/// Interior-point optimality: the dual bound is within this of the primal optimum.
const DUAL_GAP: f64 = 1e-6;

const F: Function = Function::Surrogate;

fn chain(net: &Net) -> Chain {
    Chain::from_net(net, F, 1 << 20).unwrap()
}

fn lp(net: &Net, norm: Norm, mode: &LpMode, opts: &LpOptions) -> f64 {
    lp_bound(&chain(net), F, norm, mode, opts, &|_| {}).unwrap().value
}

#[test]
fn abs_fixture_is_exact() {
    let net = abs_net();
    for norm in [Norm::LinfMargin, Norm::L1Margin] {
        let v = lp(&net, norm, &LpMode::Global, &LpOptions::default());
        assert!((v - 1.0).abs() <= OUTWARD, "{norm:?}: LP {v}");
        let e = exact_patterns(&chain(&net), F, norm, &ExactOptions::default()).unwrap().value;
        assert!((e - 1.0).abs() <= OUTWARD, "{norm:?}: exact {e}");
    }
    let p = spectral_product(&net, F, Norm::LinfMargin, &SpectralOptions::default(), &|_| {}).unwrap().value;
    assert!((p - 2.0).abs() <= 2.0 * OUTWARD, "product {p}");
}

fn weights(net: &Net) -> (DMatrix<f64>, DMatrix<f64>) {
    match (&net.layers[0], &net.layers[2]) {
        (Layer::Dense { weight: a, .. }, Layer::Dense { weight: b, .. }) => (a.clone(), b.clone()),
        _ => unreachable!(),
    }
}

/// lipschitz.md §3.3: gradient LP, t-McCormick, interval and product closed forms for one hidden layer.
fn closed_forms(w1: &DMatrix<f64>, w2: &DMatrix<f64>, t: usize, j: usize) -> [f64; 4] {
    let v: Vec<f64> = (0..w2.ncols()).map(|k| w2[(t, k)] - w2[(j, k)]).collect();
    let (h, n) = w1.shape();
    let m = |k: usize, c: usize| v[k] * w1[(k, c)];
    let mut grad_lp = 0.0;
    let mut slope = vec![0.0; n];
    for (c, sl) in slope.iter_mut().enumerate() {
        let gl: f64 = (0..h).map(|k| m(k, c).min(0.0)).sum();
        let gh: f64 = (0..h).map(|k| m(k, c).max(0.0)).sum();
        if gh > gl {
            *sl = (gh + gl) / (gh - gl);
            grad_lp += -gl * (1.0 + *sl);
        }
    }
    grad_lp += (0..h).map(|k| (0..n).map(|c| m(k, c) * slope[c]).sum::<f64>().max(0.0)).sum::<f64>();
    let row1 = |k: usize| w1.row(k).iter().map(|x| x.abs()).sum::<f64>();
    let linear: f64 = (0..n).map(|c| (0..h).map(|k| m(k, c)).sum::<f64>().abs()).sum();
    let interval: f64 = (0..h).map(|k| v[k].abs() * row1(k)).sum();
    let product = v.iter().map(|x| x.abs()).sum::<f64>() * (0..h).map(row1).fold(0.0, f64::max);
    [grad_lp, 0.5 * linear + 0.5 * interval, interval, product]
}

#[test]
fn one_hidden_layer_matches_the_closed_form() {
    let mut r = rng(20);
    for case in 0..20 {
        let (n, h) = (2 + case % 5, 3 + case % 8);
        let net = random_mlp(&mut r, &[n, h, 3], ActKind::Relu, false);
        let (w1, w2) = weights(&net);
        let b = lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, &LpOptions::default(), &|_| {})
            .unwrap();
        let exact = exact_patterns(&chain(&net), F, Norm::LinfMargin, &ExactOptions::default()).unwrap();
        for (t, j) in [(0, 1), (0, 2), (1, 2)] {
            let lpv = b.pair_value(t, j).unwrap();
            let ex = exact.pair_value(t, j).unwrap();
            let [grad, tmc, interval, product] = closed_forms(&w1, &w2, t, j);
            assert!(
                (lpv - grad).abs() <= CLOSED_FORM * grad.max(1.0),
                "case {case} pair {t}{j}: LP {lpv} vs closed form {grad}"
            );
            assert_le(ex, lpv, OUTWARD, "exact <= LP");
            assert_le(grad, tmc, ROUNDING, "gradient LP <= t-McCormick");
            assert_le(tmc, interval, ROUNDING, "t-McCormick <= interval");
            assert_le(interval, product, ROUNDING, "interval <= product");
        }
    }
}

#[test]
fn dual_bound_is_sound_for_any_multipliers() {
    let mut r = rng(21);
    for _ in 0..10 {
        let net = random_mlp(&mut r, &[4, 6, 5, 3], ActKind::HardTanh, true);
        let ch = chain(&net);
        let st = stability(&ch, None);
        let c = [1.0, 0.0, -1.0];
        let problem = build(&ch, &c, &backward(&ch, &c, &st), &st, None, Objective::SumAbs);
        let (rep, x) = solve_primal(&problem, None);
        assert_eq!(rep.status, SolveStatus::Optimal);
        let opt: f64 = x.unwrap().iter().zip(&problem.obj).map(|(a, b)| a * b).sum();
        for scale in [0.0, 0.1, 1.0, 10.0] {
            let y: Vec<f64> = problem.rows.iter().map(|_| scale * (r.random::<f64>() - 0.3)).collect();
            assert_le(opt, problem.dual_bound(&y), ROUNDING, "L2 bound with random multipliers");
        }
        assert_le(opt, problem.box_bound(), ROUNDING, "box bound");
    }
}

#[test]
fn backends_agree_and_bound_the_primal_optimum() {
    let mut r = rng(22);
    for act in [ActKind::Relu, ActKind::Sign] {
        let net = random_mlp(&mut r, &[5, 7, 6, 3], act, true);
        for mode in [LpMode::Global, LpMode::Local { center: vec![0.2; 5], radius: 0.3, domain: None }] {
            let mut vals = Vec::new();
            for backend in [LpBackend::Backward, LpBackend::Clarabel, LpBackend::MicrolpDual] {
                let opts = LpOptions { backend, check_primal: true, ..Default::default() };
                let b = lp_bound(&chain(&net), F, Norm::LinfMargin, &mode, &opts, &|_| {}).unwrap();
                for p in b.detail["per_pair"].as_array().unwrap() {
                    let primal = p["lp"]["primal_solve"]["objective"].as_f64().unwrap();
                    let v = p["value"].as_f64().unwrap();
                    assert_le(primal, v, ROUNDING, "certified value >= relaxation optimum");
                    assert!(
                        v <= primal + DUAL_GAP * primal.max(1.0),
                        "{backend:?}: {v} far above optimum {primal}"
                    );
                }
                vals.push(b.value);
            }
            for v in &vals[1..] {
                assert!((vals[0] - v).abs() <= DUAL_GAP * vals[0].max(1.0), "{vals:?}");
            }
        }
    }
}

#[test]
fn local_is_tighter_and_holds_inside_its_box() {
    let mut r = rng(23);
    for act in [ActKind::Relu, ActKind::HardTanh] {
        let net = random_mlp(&mut r, &[4, 8, 8, 3], act, true);
        let center: Vec<f64> = (0..4).map(|_| r.random::<f64>() - 0.5).collect();
        let radius = 0.2;
        let global = lp(&net, Norm::LinfMargin, &LpMode::Global, &LpOptions::default());
        let mode = LpMode::Local { center: center.clone(), radius, domain: None };
        let b = lp_bound(&chain(&net), F, Norm::LinfMargin, &mode, &LpOptions::default(), &|_| {}).unwrap();
        assert_le(b.value, global, OUTWARD, "local <= global");
        for _ in 0..300 {
            let y: Vec<f64> = center.iter().map(|c| c + radius * (2.0 * r.random::<f64>() - 1.0)).collect();
            let z: Vec<f64> = center.iter().map(|c| c + radius * (2.0 * r.random::<f64>() - 1.0)).collect();
            let (fy, fz) = (net.forward(&y, F).unwrap(), net.forward(&z, F).unwrap());
            let d = y.iter().zip(&z).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            for (t, j) in [(0, 1), (0, 2), (1, 2)] {
                let l = b.pair_value(t, j).unwrap();
                let dm = ((fy[t] - fy[j]) - (fz[t] - fz[j])).abs();
                assert_le(dm, l * d, ROUNDING, "local Lipschitz inequality");
            }
        }
    }
}

#[test]
fn l1_inputs_bound_the_exact_value() {
    let mut r = rng(24);
    for _ in 0..5 {
        let net = random_mlp(&mut r, &[4, 6, 6, 3], ActKind::HardTanh, true);
        let e = exact_patterns(&chain(&net), F, Norm::L1Margin, &ExactOptions::default()).unwrap().value;
        let l = lp(&net, Norm::L1Margin, &LpMode::Global, &LpOptions::default());
        let p =
            spectral_product(&net, F, Norm::L1Margin, &SpectralOptions::default(), &|_| {}).unwrap().value;
        assert_le(e, l, OUTWARD, "exact <= LP (l1)");
        assert_le(l, p, OUTWARD, "LP <= product (l1)");
    }
}

#[test]
fn refuses_what_it_cannot_do() {
    let mut r = rng(25);
    let net = random_mlp(&mut r, &[4, 30, 30, 3], ActKind::Relu, false);
    let opts = LpOptions { max_hidden: 40, ..Default::default() };
    match lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}) {
        Err(Error::TooLarge { problem, .. }) => assert!(problem.contains("limit 40"), "{problem}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The nonzero limit stops the LPs that reach a solver: Clarabel's, and local ones; the backward pass of a
    // global LP (linear in the nonzeros) runs whatever the size.
    let opts = LpOptions { max_nnz: 100, backend: LpBackend::Clarabel, ..Default::default() };
    assert!(matches!(
        lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}),
        Err(Error::TooLarge { .. })
    ));
    let local = LpMode::Local { center: vec![0.0; 4], radius: 0.1, domain: None };
    let opts = LpOptions { max_nnz: 100, ..Default::default() };
    assert!(matches!(
        lp_bound(&chain(&net), F, Norm::LinfMargin, &local, &opts, &|_| {}),
        Err(Error::TooLarge { .. })
    ));
    assert!(lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}).is_ok());
    assert!(matches!(
        lp_bound(&chain(&net), F, Norm::L2Margin, &LpMode::Global, &LpOptions::default(), &|_| {}),
        Err(Error::Config { .. })
    ));
    match Chain::from_net(&tiny_resnet(1), F, 1 << 20) {
        Err(Error::NotApplicable { reason, .. }) => assert!(reason.contains("residual"), "{reason}"),
        other => panic!("expected a refusal of residual blocks, got {other:?}"),
    }
    assert!(matches!(
        Chain::from_net(&abs_net(), Function::Deployed, 1 << 20),
        Err(Error::NotApplicable { .. })
    ));
}

#[test]
fn mnist_sized_mlp_lp_is_strictly_tighter_than_the_product() {
    // 784-64-64-10 binary MLP (first and last layers real), two class pairs to keep the test short; the full
    // 45-pair run on 784-100-100-10 is `cargo run --release --example mnist_mlp_bounds`.
    let mut r = rng(26);
    let net = random_mlp(&mut r, &[784, 64, 64, 10], ActKind::Sign, true);
    let opts = LpOptions { pairs: Some(vec![(0, 1), (3, 7)]), ..Default::default() };
    let b = lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}).unwrap();
    let p = spectral_product(&net, F, Norm::LinfMargin, &SpectralOptions::default(), &|_| {}).unwrap();
    let product_of = |t: usize, j: usize| p.pair_value(t, j).unwrap();
    for e in &b.pairs {
        let (t, j, v) = (e.t, e.j, e.value);
        assert!(v < product_of(t, j), "pair {t}-{j}: LP {v} not below product {}", product_of(t, j));
    }
    assert!(b.seconds > 0.0);
}

#[test]
fn solver_statuses_are_recorded_by_name() {
    let mut r = rng(27);
    let net = random_mlp(&mut r, &[4, 6, 3], ActKind::Relu, true);
    let status = |opts: &LpOptions| -> Vec<(SolveStatus, String)> {
        let b = lp_bound(&chain(&net), F, Norm::LinfMargin, &LpMode::Global, opts, &|_| {}).unwrap();
        let rows = b.detail["per_pair"].as_array().unwrap().clone();
        rows.iter()
            .map(|p| {
                let lp = &p["lp"];
                let s = serde_json::from_value(lp["multiplier_solve"]["status"].clone()).unwrap();
                (s, lp["value_from"].as_str().unwrap().to_string())
            })
            .collect()
    };
    for (s, from) in status(&LpOptions::default()) {
        assert_eq!(s, SolveStatus::ClosedForm);
        assert!(from.starts_with("dual bound"), "{from}");
    }
    let clarabel = LpOptions { backend: LpBackend::Clarabel, ..Default::default() };
    for (s, from) in status(&clarabel) {
        assert!(matches!(s, SolveStatus::Solved | SolveStatus::AlmostSolved), "{s}");
        assert!(from.starts_with("dual bound"), "{from}");
    }
    let microlp = LpOptions { backend: LpBackend::MicrolpDual, ..Default::default() };
    assert!(status(&microlp).iter().all(|(s, _)| *s == SolveStatus::Optimal));
    // Stopped at once: no multipliers, so the value is the box bound, and the status says why.
    let stopped = LpOptions { time_limit: Some(0.0), ..clarabel };
    for (s, from) in status(&stopped) {
        assert!(!matches!(s, SolveStatus::Solved | SolveStatus::AlmostSolved), "{s}");
        assert!(from.starts_with("box bound"), "{s}: {from}");
    }
}

#[test]
fn domain_scope_holds_inside_the_domain() {
    let mut r = rng(41);
    let (lo, hi) = (vec![-1.0; 4], vec![1.0; 4]);
    let mut tighter = 0;
    for i in 0..6 {
        let act = if i % 2 == 0 { ActKind::HardTanh } else { ActKind::Relu };
        let mut net = random_mlp(&mut r, &[4, 8, 8, 3], act, true);
        saturate_first_layer(&mut net, 1.0);
        let c = chain(&net);
        let mode = LpMode::Domain { lo: lo.clone(), hi: hi.clone() };
        for norm in [Norm::LinfMargin, Norm::L1Margin] {
            let global = lp_bound(&c, F, norm, &LpMode::Global, &LpOptions::default(), &|_| {}).unwrap();
            let b = lp_bound(&c, F, norm, &mode, &LpOptions::default(), &|_| {}).unwrap();
            assert_eq!(
                (b.scope, b.method),
                (lcr_verify::bounds::Scope::Domain, lcr_verify::bounds::Method::LpGlobal)
            );
            assert!(b.detail["unstable_units"].as_u64().unwrap() < 16, "net {i}: no unit fixed by the box");
            for p in &b.pairs {
                let g = global.pair_value(p.t, p.j).unwrap();
                assert_le(p.value, g, OUTWARD, "domain <= network, pair by pair");
                tighter += usize::from(p.value < g * (1.0 - 1e-6));
            }
            for _ in 0..300 {
                let y: Vec<f64> = (0..4).map(|_| 2.0 * r.random::<f64>() - 1.0).collect();
                let z: Vec<f64> = (0..4).map(|_| 2.0 * r.random::<f64>() - 1.0).collect();
                let (fy, fz) = (net.forward(&y, F).unwrap(), net.forward(&z, F).unwrap());
                let d = match norm {
                    Norm::LinfMargin => y.iter().zip(&z).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max),
                    _ => y.iter().zip(&z).map(|(a, b)| (a - b).abs()).sum(),
                };
                for p in &b.pairs {
                    let dm = ((fy[p.t] - fy[p.j]) - (fz[p.t] - fz[p.j])).abs();
                    assert_le(dm, p.value * d, ROUNDING, "domain Lipschitz inequality");
                }
            }
        }
    }
    assert!(tighter > 10, "the domain scope was tighter on only {tighter} pairs");
    // A domain of the wrong length, or with an empty coordinate, is refused.
    let net = random_mlp(&mut r, &[4, 8, 3], ActKind::HardTanh, true);
    for mode in [
        LpMode::Domain { lo: vec![0.0; 3], hi: vec![1.0; 3] },
        LpMode::Domain { lo: vec![0.0, 0.0, 2.0, 0.0], hi: vec![1.0; 4] },
        LpMode::Domain { lo: vec![f64::NEG_INFINITY; 4], hi: vec![1.0; 4] },
    ] {
        let e = lp_bound(&chain(&net), F, Norm::LinfMargin, &mode, &LpOptions::default(), &|_| {});
        assert!(matches!(e, Err(Error::Config { .. })), "{mode:?}");
    }
}
