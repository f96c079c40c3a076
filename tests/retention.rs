//! Retention matrices: the regulariser's proxies reproduced, and the proven lower bounds (proofs/retention.md).
mod common;

use common::*;
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::retention::{RetentionOptions, retention_bounds};
use lcr_verify::bounds::{Bound, Method};
use lcr_verify::ir::{Function, Net, Soundness};
use nalgebra::{DMatrix, DVector, SVD};
use rand::Rng;

/// The proxies are plain floating-point computations; independent reimplementations agree to this.
const SAME_COMPUTATION: f64 = 1e-10;

fn sample(net: &Net, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut r = rng(seed);
    (0..n).map(|_| (0..net.input_len()).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect()
}

fn find<'a>(bs: &'a [Bound], m: Method, side: &str, gran: &str) -> &'a Bound {
    bs.iter()
        .find(|b| b.method == m && b.detail["side"] == side && b.detail["granularity"] == gran)
        .unwrap_or_else(|| panic!("no {m:?} {side} {gran}"))
}

#[test]
fn dense_proxies_match_the_regulariser_definition() {
    let mut r = rng(40);
    let net = random_mlp(&mut r, &[4, 5, 6, 5, 3], ActKind::Sign, true);
    let xs = sample(&net, 10, 1);
    let opts = RetentionOptions { batch: 4, ..Default::default() };
    let bs = retention_bounds(&net, &xs, &opts, &SpectralOptions::default(), &|_| {}).unwrap();
    let pts: Vec<_> = xs.iter().map(|x| net.forward_points(x, Function::Deployed).unwrap().points).collect();
    let released = find(&bs, Method::RetentionReleased, "F", "layer");
    let converged = find(&bs, Method::RetentionConverged, "F", "layer");
    assert_eq!(released.soundness, Soundness::Estimate);
    assert_eq!(released.per_layer.len(), 2);
    for k in 0..2 {
        let (mut rel, mut conv, mut nb) = (0.0, 0.0, 0.0);
        for chunk in pts.chunks(4) {
            let n = chunk.len();
            let x = DMatrix::from_fn(n, chunk[0][k].values.len(), |i, j| chunk[i][k].values[j]);
            let y = DMatrix::from_fn(n, chunk[0][k + 1].values.len(), |i, j| chunk[i][k + 1].values[j]);
            let rm = x.transpose() * y / n as f64;
            let kmat = &rm * rm.transpose();
            rel += (kmat * DVector::from_element(rm.nrows(), 1.0)).norm().sqrt();
            conv += SVD::new(rm, false, false).singular_values[0];
            nb += 1.0;
        }
        let (a, b) = (released.per_layer[k].value, rel / nb);
        assert!((a - b).abs() <= SAME_COMPUTATION * b, "released {a} vs {b}");
        let (a, b) = (converged.per_layer[k].value, conv / nb);
        assert!((a - b).abs() <= 1e-6 * b, "converged {a} vs sigma(RM) {b}");
    }
}

fn check_lower(net: &Net, n: usize) {
    let xs = sample(net, n, 2);
    let bs = retention_bounds(
        net,
        &xs,
        &RetentionOptions { batch: 8, ..Default::default() },
        &SpectralOptions::default(),
        &|_| {},
    )
    .unwrap();
    let lower = bs.iter().find(|b| b.method == Method::RetentionNormalised).expect("normalised entry");
    assert_eq!(lower.soundness, Soundness::Lower);
    assert!(!lower.per_layer.is_empty());
    for p in &lower.per_layer {
        let up = p.detail["exact_sigma_upper"].as_f64().unwrap();
        assert!(p.value > 0.0, "{}: normalised proxy should be positive", p.layer);
        assert_le(p.value, up, 0.0, "R2/R3: normalised proxy <= sigma(A)");
        if let Some(lo) = p.detail["exact_sigma_lower"].as_f64() {
            assert_le(p.value, up.max(lo), 0.0, "below the bracket's top");
        }
    }
    for b in &bs {
        assert!(b.value.is_finite(), "{:?}", b.method);
    }
}

#[test]
fn normalised_proxies_are_lower_bounds() {
    let mut r = rng(41);
    for _ in 0..3 {
        check_lower(&random_mlp(&mut r, &[6, 8, 8, 8, 3], ActKind::Sign, true), 40);
    }
    check_lower(&tiny_cnn(42), 12);
    check_lower(&tiny_resnet(43), 12);
}

#[test]
fn resnet_stages_are_detected() {
    let net = tiny_resnet(44);
    let bs = retention_bounds(
        &net,
        &sample(&net, 6, 3),
        &RetentionOptions::default(),
        &SpectralOptions::default(),
        &|_| {},
    )
    .unwrap();
    let stage = find(&bs, Method::RetentionReleased, "B", "stage");
    assert_eq!(stage.per_layer.len(), 1, "stage ends after point 1 (shape change) and at point 2");
    assert_eq!(stage.per_layer[0].kind, "stage 1->2");
    let layer = find(&bs, Method::RetentionReleased, "B", "layer");
    assert_eq!(layer.per_layer.len(), 2);
}

#[test]
fn retention_needs_a_sample() {
    let net = tiny_cnn(45);
    assert!(
        retention_bounds(&net, &[], &RetentionOptions::default(), &SpectralOptions::default(), &|_| {})
            .is_err()
    );
    let bad = vec![vec![0.0; 5]];
    assert!(
        retention_bounds(&net, &bad, &RetentionOptions::default(), &SpectralOptions::default(), &|_| {})
            .is_err()
    );
}
