mod common;

use common::*;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::ir::Function;

#[test]
fn experiment() {
    let net = abs_net();
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let lp = lp_bound(
        &chain,
        Function::Surrogate,
        Norm::LinfMargin,
        &LpMode::Global,
        &LpOptions::default(),
        &|_| {},
    )
    .unwrap();
    println!("abs lp {} {}", lp.value, lp.detail);
    let mut r = rng(3);
    for act in [ActKind::Relu, ActKind::HardTanh] {
        for _ in 0..5 {
            let net = random_mlp(&mut r, &[3, 5, 4, 3], act, true);
            let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
            for norm in [Norm::LinfMargin, Norm::L1Margin] {
                let ex = exact_patterns(&chain, Function::Surrogate, norm, &ExactOptions::default()).unwrap();
                let lp = lp_bound(
                    &chain,
                    Function::Surrogate,
                    norm,
                    &LpMode::Global,
                    &LpOptions::default(),
                    &|_| {},
                )
                .unwrap();
                let pr =
                    spectral_product(&net, Function::Surrogate, norm, &SpectralOptions::default(), &|_| {})
                        .unwrap();
                let loc = lp_bound(
                    &chain,
                    Function::Surrogate,
                    norm,
                    &LpMode::Local { center: vec![0.1, 0.2, 0.3], radius: 0.1, domain: None },
                    &LpOptions::default(),
                    &|_| {},
                )
                .unwrap();
                println!(
                    "{act:?} {norm:?} exact {:.5} lp {:.5} local {:.5} product {:.5}",
                    ex.value, lp.value, loc.value, pr.value
                );
            }
        }
    }
}

#[test]
#[ignore]
fn mnist_size_experiment() {
    let w: usize = std::env::var("W").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut r = rng(5);
    let net = random_mlp(&mut r, &[784, w, w, 10], ActKind::Sign, true);
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let t = std::time::Instant::now();
    let opts = LpOptions {
        pairs: Some(vec![(0, 1)]),
        check_primal: std::env::var("PRIMAL").is_ok(),
        ..Default::default()
    };
    let lp =
        lp_bound(&chain, Function::Surrogate, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}).unwrap();
    println!("lp {} in {:?}: {}", lp.value, t.elapsed(), lp.detail["per_pair"][0]["lp"]);
    let pr =
        spectral_product(&net, Function::Surrogate, Norm::LinfMargin, &Default::default(), &|_| {}).unwrap();
    println!("product {}", pr.value);
}

#[test]
#[ignore]
fn debug_dual() {
    use lcr_verify::bounds::interval::{backward, stability};
    use lcr_verify::bounds::lp_model::{Objective, build};
    use lcr_verify::bounds::lp_solve::{solve_dual, solve_primal};
    let w: usize = std::env::var("W").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let d: usize = std::env::var("D").ok().and_then(|v| v.parse().ok()).unwrap_or(784);
    let mut r = rng(5);
    let net = random_mlp(&mut r, &[d, w, w, 10], ActKind::Sign, true);
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let st = stability(&chain, None);
    let mut c = vec![0.0; 10];
    c[0] = 1.0;
    c[1] = -1.0;
    let grads = backward(&chain, &c, &st);
    let lp = build(&chain, &c, &grads, &st, None, Objective::SumAbs);
    let (rep, x) = solve_primal(&lp, None);
    let x = x.unwrap();
    let mut worst = 0.0f64;
    for row in &lp.rows {
        let v: f64 = row.terms.iter().map(|&(i, a)| a * x[i]).sum();
        let viol = if row.eq { (v - row.rhs).abs() } else { (v - row.rhs).max(0.0) };
        worst = worst.max(viol);
    }
    let bviol = (0..x.len()).map(|i| (lp.lo[i] - x[i]).max(x[i] - lp.hi[i]).max(0.0)).fold(0.0, f64::max);
    println!("primal {rep:?} worst row violation {worst} box violation {bviol} vars {}", x.len());
    let (rep, y) = solve_dual(&lp, None);
    println!("dual {rep:?} {:?}", y.map(|y| lp.dual_bound(&y)));
}

#[test]
#[ignore]
fn debug_clarabel() {
    use lcr_verify::bounds::interval::{backward, stability};
    use lcr_verify::bounds::lp_model::{Objective, build};
    use lcr_verify::bounds::lp_solve::{solve_clarabel, solve_primal};
    let w: usize = std::env::var("W").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let d: usize = std::env::var("D").ok().and_then(|v| v.parse().ok()).unwrap_or(784);
    let mut r = rng(5);
    let net = random_mlp(&mut r, &[d, w, w, 10], ActKind::Sign, true);
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let st = stability(&chain, None);
    let mut c = vec![0.0; 10];
    c[0] = 1.0;
    c[1] = -1.0;
    let grads = backward(&chain, &c, &st);
    let lp = build(&chain, &c, &grads, &st, None, Objective::SumAbs);
    let (rep, x) = solve_primal(&lp, None);
    let p: f64 = x.unwrap().iter().zip(&lp.obj).map(|(a, b)| a * b).sum();
    println!("microlp primal {rep:?} obj {p}");
    let (rep, y) = solve_clarabel(&lp);
    println!("clarabel {rep:?} NS {:?} box {}", y.map(|y| lp.dual_bound(&y)), lp.box_bound());
}
