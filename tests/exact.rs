//! Exact pattern enumeration and sampled-gradient lower bounds (proofs/exact.md).
mod common;

use common::*;
use lcr_verify::Error;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::ascent::{AscentOptions, gradient_ascent};
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::sampled::{SampledOptions, sampled_gradient};
use lcr_verify::ir::{Function, Layer};
use nalgebra::{DMatrix, SVD};
use rand::Rng;

const F: Function = Function::Surrogate;

fn chain(net: &lcr_verify::ir::Net) -> Chain {
    Chain::from_net(net, F, 1 << 20).unwrap()
}

#[test]
fn abs_fixture_has_constant_one_in_every_norm() {
    let c = chain(&abs_net());
    for norm in [Norm::L2, Norm::L2Margin, Norm::LinfMargin, Norm::L1Margin] {
        let v = exact_patterns(&c, F, norm, &ExactOptions::default()).unwrap().value;
        assert!((v - 1.0).abs() <= OUTWARD, "{norm:?}: {v}");
        let s = sampled_gradient(&c, F, norm, &[vec![0.5], vec![-2.0]], &SampledOptions::default())
            .unwrap()
            .value;
        assert!((s - 1.0).abs() <= OUTWARD, "{norm:?} sampled: {s}");
    }
}

/// An independent brute force for one hidden layer: max over d ∈ {0,1}^h of the dual norm of W1ᵀ diag(d) v, and
/// σ₁(W2 diag(d) W1) for the ℓ2 map.
fn brute_force(w1: &DMatrix<f64>, w2: &DMatrix<f64>, norm: Norm) -> f64 {
    let h = w1.nrows();
    let mut best = 0.0f64;
    for mask in 0u32..(1 << h) {
        let d = DMatrix::from_fn(h, h, |i, j| if i == j && mask >> i & 1 == 1 { 1.0 } else { 0.0 });
        let j = w2 * &d * w1;
        let v = match norm {
            Norm::L2 => SVD::new(j.clone(), false, false).singular_values[0],
            _ => {
                let mut m = 0.0f64;
                for t in 0..j.nrows() {
                    for s in t + 1..j.nrows() {
                        let g: Vec<f64> = (0..j.ncols()).map(|c| j[(t, c)] - j[(s, c)]).collect();
                        let q = match norm {
                            Norm::LinfMargin => g.iter().map(|x| x.abs()).sum(),
                            Norm::L1Margin => g.iter().fold(0.0f64, |a, x| a.max(x.abs())),
                            _ => g.iter().map(|x| x * x).sum::<f64>().sqrt(),
                        };
                        m = m.max(q);
                    }
                }
                m
            }
        };
        best = best.max(v);
    }
    best
}

#[test]
fn enumeration_matches_brute_force_on_one_hidden_layer() {
    let mut r = rng(30);
    for case in 0..12 {
        let net = random_mlp(&mut r, &[2 + case % 4, 3 + case % 6, 3], ActKind::Relu, false);
        let (w1, w2) = match (&net.layers[0], &net.layers[2]) {
            (Layer::Dense { weight: a, .. }, Layer::Dense { weight: b, .. }) => (a.clone(), b.clone()),
            _ => unreachable!(),
        };
        for norm in [Norm::L2, Norm::L2Margin, Norm::LinfMargin, Norm::L1Margin] {
            let e = exact_patterns(&chain(&net), F, norm, &ExactOptions::default()).unwrap().value;
            let b = brute_force(&w1, &w2, norm);
            assert_le(b, e, 1e-12, "brute force <= certified exact");
            assert!(e <= b * (1.0 + 1e-9), "case {case} {norm:?}: {e} vs {b}");
        }
    }
}

#[test]
fn sampled_lower_bounds_stay_below_the_exact_value() {
    let mut r = rng(31);
    for act in [ActKind::Relu, ActKind::HardTanh, ActKind::Sign] {
        for _ in 0..4 {
            let net = random_mlp(&mut r, &[3, 5, 5, 3], act, true);
            let c = chain(&net);
            for norm in [Norm::L2, Norm::L2Margin, Norm::LinfMargin, Norm::L1Margin] {
                let e = exact_patterns(&c, F, norm, &ExactOptions::default()).unwrap().value;
                let s = sampled_gradient(
                    &c,
                    F,
                    norm,
                    &[],
                    &SampledOptions { random_points: 300, ..Default::default() },
                )
                .unwrap();
                assert!(s.value > 0.0, "some point must be usable");
                assert_le(s.value, e, 0.0, "sampled lower <= exact");
            }
        }
    }
}

#[test]
fn gradient_ascent_stays_below_the_exact_value_and_above_the_sample() {
    let mut r = rng(34);
    let (mut nets, mut climbed_higher) = (0, 0);
    for act in [ActKind::Relu, ActKind::HardTanh, ActKind::Sign] {
        for dims in [vec![3, 5, 5, 3], vec![6, 8, 8, 3]] {
            for _ in 0..3 {
                let net = random_mlp(&mut r, &dims, act, true);
                let c = chain(&net);
                let sample: Vec<Vec<f64>> =
                    (0..4).map(|_| (0..dims[0]).map(|_| r.random_range(-1.0..1.0)).collect()).collect();
                for norm in [Norm::L2, Norm::L2Margin, Norm::LinfMargin, Norm::L1Margin] {
                    let e = exact_patterns(&c, F, norm, &ExactOptions::default()).unwrap().value;
                    let on_sample = sampled_gradient(
                        &c,
                        F,
                        norm,
                        &sample,
                        &SampledOptions { random_points: 0, ..Default::default() },
                    )
                    .unwrap()
                    .value;
                    let a = gradient_ascent(&c, F, norm, &sample, &AscentOptions::default()).unwrap();
                    assert_le(a.value, e, 0.0, "ascent lower <= exact");
                    // The sample points are candidates too.
                    assert_le(on_sample, a.value, 0.0, "sample <= ascent");
                    for p in &a.pairs {
                        assert_le(p.value, e, 0.0, "pair <= exact");
                    }
                    nets += 1;
                    if a.value > on_sample * (1.0 + 1e-9) {
                        climbed_higher += 1;
                    }
                }
            }
        }
    }
    // The climb must find more than its start points on most nets (a climb that never moves would pass the
    // inequalities above).
    eprintln!("ascent beat its sample on {climbed_higher} of {nets} (net, norm) cases");
    assert!(climbed_higher * 2 > nets, "ascent beat its sample on {climbed_higher} of {nets}");
}

#[test]
fn enumeration_refuses_large_nets() {
    let mut r = rng(32);
    let net = random_mlp(&mut r, &[3, 12, 12, 3], ActKind::Relu, false);
    match exact_patterns(&chain(&net), F, Norm::LinfMargin, &ExactOptions::default()) {
        Err(Error::TooLarge { problem, .. }) => assert!(problem.contains("24 activation units"), "{problem}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn regions_bracket_the_constant_with_fgl() {
    use lcr_verify::bounds::regions::{RegionOptions, exact_regions};
    let c = chain(&abs_net());
    let v = exact_regions(&c, F, Norm::LinfMargin, &RegionOptions::default()).unwrap();
    assert!((v.value - 1.0).abs() <= OUTWARD, "|x| regions {}", v.value);
    let mut r = rng(33);
    for (dims, act) in [
        (vec![3, 3, 3], ActKind::Relu),
        (vec![4, 4, 3], ActKind::HardTanh),
        (vec![3, 5, 4, 3], ActKind::Sign),
        (vec![3, 6, 6, 3], ActKind::HardTanh),
    ] {
        let net = random_mlp(&mut r, &dims, act, true);
        let c = chain(&net);
        for norm in [Norm::L2, Norm::LinfMargin] {
            let t = std::time::Instant::now();
            let reg =
                exact_regions(&c, F, norm, &RegionOptions { max_hidden: 12, ..Default::default() }).unwrap();
            let fgl = exact_patterns(&c, F, norm, &ExactOptions::default()).unwrap().value;
            eprintln!(
                "{dims:?} {norm:?}: regions {} ({} regions, {} LPs, {:?}) fgl {fgl}",
                reg.value,
                reg.detail["regions"],
                reg.detail["lps"],
                t.elapsed()
            );
            assert_le(reg.value, fgl, 0.0, "regions lower <= FGL");
            if dims.len() == 3 && dims[1] <= dims[0] {
                // One hidden layer with independent rows: every pattern is realised, so the two agree.
                assert!(reg.value >= fgl * (1.0 - 1e-9), "{dims:?} {norm:?}: {} < {fgl}", reg.value);
            }
        }
    }
}
