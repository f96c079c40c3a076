//! ℓ∞ margin constants converted from ℓ2 ones (src/bounds/conversion.rs, theorem S12).
mod common;

use common::*;
use lcr_verify::bounds::conversion::linf_from_l2;
use lcr_verify::bounds::{
    Bound, BoundOptions, Method, Methods, Norm, PairConstant, Scope, Soundness, compute_bounds,
};
use lcr_verify::float::sqrt_up;
use lcr_verify::ir::{Function, Net};
use rand::Rng;

/// Spectral products, the sequential bound and gradient ascent in all three norms, on `net`.
fn bounds_of(net: &Net, sample: &[Vec<f64>]) -> Vec<Bound> {
    let methods = Methods { spectral: true, sequential: true, ascent: true, ..Methods::none() };
    let opts = BoundOptions { methods, ..Default::default() };
    compute_bounds(net, &opts, Some(sample), &|_| {}).unwrap().bounds
}

fn pick(bounds: &[Bound], method: Method, f: Function, norm: Norm) -> &Bound {
    bounds
        .iter()
        .find(|b| b.method == method && b.function == f && b.norm == norm && b.scope == Scope::Network)
        .unwrap_or_else(|| panic!("{method:?} {f:?} {norm:?} missing"))
}

#[test]
fn converted_linf_constants_hold_on_sampled_pairs() {
    let mut r = rng(90);
    for k in 0..6 {
        let d = [12, 30, 50][k % 3];
        let net = random_mlp(&mut r, &[d, 16, 12, 4], ActKind::Sign, k % 2 == 0);
        let sample: Vec<Vec<f64>> = (0..8).map(|_| (0..d).map(|_| r.random::<f64>()).collect()).collect();
        let bounds = bounds_of(&net, &sample);
        for f in [Function::Surrogate, Function::Latent] {
            let conv = pick(&bounds, Method::NormConversion, f, Norm::LinfMargin);
            assert_eq!(conv.soundness, Soundness::Certified);
            assert_eq!(conv.pairs.len(), 6, "every pair of 4 classes");
            // A proven lower bound on each pair's ℓ∞ constant never exceeds the converted upper bound.
            let lower = pick(&bounds, Method::GradientAscent, f, Norm::LinfMargin);
            for p in &lower.pairs {
                let c = conv.pair_value(p.t, p.j).unwrap();
                assert_le(
                    p.value,
                    c,
                    OUTWARD,
                    &format!("net {k} {f:?} pair ({}, {}): ascent ≤ conversion", p.t, p.j),
                );
            }
            // Sampled pairs, perturbed on every coordinate at once (the worst case for ℓ∞ against ℓ2).
            for _ in 0..300 {
                let x: Vec<f64> = (0..d).map(|_| 4.0 * r.random::<f64>() - 2.0).collect();
                let eps = if r.random::<bool>() { 1e-3 } else { 0.3 };
                let y: Vec<f64> = x.iter().map(|v| v + if r.random::<bool>() { eps } else { -eps }).collect();
                let (fx, fy) = (net.forward(&x, f).unwrap(), net.forward(&y, f).unwrap());
                let dx = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                for p in &conv.pairs {
                    let dm = ((fx[p.t] - fx[p.j]) - (fy[p.t] - fy[p.j])).abs();
                    assert_le(dm, p.value * dx, ROUNDING, &format!("net {k} {f:?} pair ({}, {})", p.t, p.j));
                }
            }
        }
    }
}

#[test]
fn the_conversion_beats_the_linf_product_on_wide_inputs() {
    // With 50 inputs the ℓ∞ product pays for every sign of a 50-wide row; √50 times the ℓ2 bound does not.
    let mut r = rng(91);
    let net = random_mlp(&mut r, &[50, 16, 12, 4], ActKind::HardTanh, true);
    let sample: Vec<Vec<f64>> = (0..4).map(|_| (0..50).map(|_| r.random::<f64>()).collect()).collect();
    let bounds = bounds_of(&net, &sample);
    let f = Function::Surrogate;
    let product = pick(&bounds, Method::SpectralProduct, f, Norm::LinfMargin).value;
    let conv = pick(&bounds, Method::NormConversion, f, Norm::LinfMargin).value;
    assert!(conv < product, "conversion {conv} vs ℓ∞ product {product}");
}

/// A certified network-scope bound of the surrogate listing `pairs` (or none).
fn entry(method: Method, norm: Norm, value: f64, pairs: &[(usize, usize, f64)]) -> Bound {
    Bound {
        method,
        function: Function::Surrogate,
        soundness: Soundness::Certified,
        norm,
        scope: Scope::Network,
        value,
        pairs: pairs.iter().map(|&(t, j, value)| PairConstant { t, j, value }).collect(),
        per_layer: Vec::new(),
        seconds: 0.0,
        detail: serde_json::Value::Null,
        request: None,
    }
}

#[test]
fn conversion_takes_the_smallest_certified_l2_constant() {
    let n = 784;
    let root = sqrt_up(n as f64);
    let seq = entry(Method::LipSdpSequential, Norm::L2Margin, 5.0, &[(0, 1, 5.0), (0, 2, 1.0), (1, 2, 3.0)]);
    let product = entry(Method::SpectralProduct, Norm::L2Margin, 2.0, &[]);
    let mut lower =
        entry(Method::GradientAscent, Norm::L2Margin, 0.1, &[(0, 1, 0.1), (0, 2, 0.1), (1, 2, 0.1)]);
    lower.soundness = Soundness::Lower;
    let mut latent =
        entry(Method::LipSdpSequential, Norm::L2Margin, 0.1, &[(0, 1, 0.1), (0, 2, 0.1), (1, 2, 0.1)]);
    latent.function = Function::Latent;
    let mut domain =
        entry(Method::LipSdpSequential, Norm::L2Margin, 0.1, &[(0, 1, 0.1), (0, 2, 0.1), (1, 2, 0.1)]);
    domain.scope = Scope::Domain;
    let linf = entry(Method::LpGlobal, Norm::LinfMargin, 0.01, &[(0, 1, 0.01), (0, 2, 0.01), (1, 2, 0.01)]);
    let all = [seq.clone(), product.clone(), lower, latent, domain, linf];
    let b = linf_from_l2(&all, Function::Surrogate, Scope::Network, n, 3).unwrap();
    assert_eq!(
        (b.method, b.norm, b.scope, b.soundness),
        (Method::NormConversion, Norm::LinfMargin, Scope::Network, Soundness::Certified)
    );
    // Pair by pair the smaller of the two certified ℓ2 constants, times √n rounded up, never below the exact product.
    for (t, j, l2) in [(0, 1, 2.0), (0, 2, 1.0), (1, 2, 2.0)] {
        let v = b.pair_value(t, j).unwrap();
        assert!(v >= root * l2 && v >= 28.0 * l2 && v <= 28.0 * l2 * (1.0 + 1e-12), "pair ({t}, {j}): {v}");
    }
    assert_eq!(b.value, b.pairs.iter().map(|p| p.value).fold(0.0, f64::max));
    let taken: Vec<u64> =
        b.detail["from"].as_array().unwrap().iter().map(|s| s["pairs_taken"].as_u64().unwrap()).collect();
    assert_eq!(taken, vec![1, 2], "the sequential bound wins one pair, the product two");
    // The logit-map ℓ2 constant gives every pair √2 times it.
    let logit = entry(Method::LipSdpSequential, Norm::L2, 1.0, &[]);
    let b = linf_from_l2(&[logit], Function::Surrogate, Scope::Network, 4, 3).unwrap();
    assert!(b.pairs.iter().all(|p| p.value >= 2.0 * std::f64::consts::SQRT_2 && p.value < 2.0 * 1.4143));
    // Nothing certified in ℓ2 for the function and scope: no entry.
    assert!(linf_from_l2(&all, Function::Surrogate, Scope::LocalBox, n, 3).is_none());
    assert!(linf_from_l2(&all[2..3], Function::Surrogate, Scope::Network, n, 3).is_none());
}

#[test]
fn compute_bounds_converts_only_when_linf_margins_are_asked_for() {
    let mut r = rng(92);
    let net = random_mlp(&mut r, &[10, 8, 8, 3], ActKind::Sign, true);
    let methods = Methods { spectral: true, sequential: true, ..Methods::none() };
    let count = |norms: Vec<Norm>| {
        let opts = BoundOptions { methods: methods.clone(), norms, ..Default::default() };
        let out = compute_bounds(&net, &opts, None, &|_| {}).unwrap();
        out.bounds.iter().filter(|b| b.method == Method::NormConversion).count()
    };
    assert_eq!(count(vec![Norm::L2, Norm::L2Margin, Norm::LinfMargin]), 2, "surrogate and latent");
    assert_eq!(count(vec![Norm::L2, Norm::L2Margin]), 0, "no ℓ∞ margins asked for");
    // ℓ∞ alone: no ℓ2 entry to convert.
    assert_eq!(count(vec![Norm::LinfMargin]), 0);
}

#[test]
fn convolutional_nets_get_converted_constants_that_hold() {
    // Chains do not cover residual nets: the products alone feed the conversion there.
    let mut r = rng(93);
    for net in [tiny_cnn(5), tiny_resnet(6)] {
        let d = net.input_len();
        let methods = Methods { spectral: true, ..Methods::none() };
        let opts = BoundOptions { methods, ..Default::default() };
        let bounds = compute_bounds(&net, &opts, None, &|_| {}).unwrap().bounds;
        for f in [Function::Surrogate, Function::Latent] {
            let conv = pick(&bounds, Method::NormConversion, f, Norm::LinfMargin);
            let pairs = net.classes * (net.classes - 1) / 2;
            assert_eq!(conv.pairs.len(), pairs);
            for _ in 0..100 {
                let x: Vec<f64> = (0..d).map(|_| 2.0 * r.random::<f64>() - 1.0).collect();
                let eps = if r.random::<bool>() { 1e-3 } else { 0.2 };
                let y: Vec<f64> = x.iter().map(|v| v + if r.random::<bool>() { eps } else { -eps }).collect();
                let (fx, fy) = (net.forward(&x, f).unwrap(), net.forward(&y, f).unwrap());
                for p in &conv.pairs {
                    let dm = ((fx[p.t] - fx[p.j]) - (fy[p.t] - fy[p.j])).abs();
                    assert_le(dm, p.value * eps, ROUNDING, &format!("{f:?} pair ({}, {})", p.t, p.j));
                }
            }
        }
    }
}
