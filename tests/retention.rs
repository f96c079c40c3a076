//! Retention matrices: the regulariser's proxies reproduced, and the proven lower bounds (proofs/retention.md).
mod common;

use common::*;
use lcr_verify::bounds::Soundness;
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::retention::{RetentionOptions, retention_bounds};
use lcr_verify::bounds::{Bound, Method};
use lcr_verify::ir::{Function, Net};
use nalgebra::{DMatrix, DVector, SVD};
use rand::Rng;

/// The proxies are plain floating-point computations; independent reimplementations agree to this.
const SAME_COMPUTATION: f64 = 1e-10;

/// nalgebra's SVD and the f64 products are backward stable: each singular value, and each entry of RM, is
/// exact to this multiple of the largest scale involved (σ₁(XᵀX/N)·σ₁(A) for R1's inequalities).
const SVD_REFERENCE: f64 = 1e-10;

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

/// σ₁ and σ_min (the smallest of the min(rows, cols) singular values) by nalgebra's SVD.
fn sigma_max_min(m: &DMatrix<f64>) -> (f64, f64) {
    let s = SVD::new(m.clone(), false, false).singular_values;
    (s.max(), s.min())
}

/// Theorem R1 (proofs/retention.md): for flat points with Y = XAᵀ exactly, RM = XᵀY/N = (XᵀX/N)Aᵀ and
/// σ_min(XᵀX/N)·σ₁(A) ≤ σ₁(RM) ≤ σ₁(XᵀX/N)·σ₁(A), with equality when XᵀX/N = λI.
#[test]
fn linear_relation_brackets_sigma_of_the_retention_matrix() {
    let mut r = rng(46);
    // (N, C_in, C_out); N < C_in makes XᵀX/N singular (σ_min = 0), N = 1 is a single sample.
    let sizes = [
        (1, 1, 1),
        (1, 4, 3),
        (2, 3, 4),
        (5, 5, 5),
        (8, 4, 6),
        (3, 10, 4),
        (16, 8, 8),
        (40, 12, 20),
        (128, 32, 16),
    ];
    let mut checked = 0;
    for &(n, c_in, c_out) in &sizes {
        for trial in 0..100 {
            let a = uniform(&mut r, c_out, c_in);
            let x = match trial % 3 {
                // Real points.
                0 => uniform(&mut r, n, c_in),
                // Sign points, as in R2 (the binary layer's actual input).
                1 => uniform(&mut r, n, c_in).map(|v| if v >= 0.0 { 1.0 } else { -1.0 }),
                // Badly conditioned: columns scaled over six decades.
                _ => {
                    let scales: Vec<f64> =
                        (0..c_in).map(|_| 10f64.powf(r.random::<f64>() * 6.0 - 3.0)).collect();
                    DMatrix::from_fn(n, c_in, |_, j| (r.random::<f64>() * 2.0 - 1.0) * scales[j])
                }
            };
            let nf = n as f64;
            let y = &x * a.transpose();
            let rm = x.transpose() * &y / nf;
            let g = x.transpose() * &x / nf;
            let (sg, sg_min) = sigma_max_min(&g);
            let (sa, _) = sigma_max_min(&a);
            let (srm, _) = sigma_max_min(&rm);
            let scale = sg * sa;
            let what = format!("N={n} C_in={c_in} C_out={c_out} trial {trial}");
            // RM = (XᵀX/N)Aᵀ.
            let identity = (&rm - &g * a.transpose()).norm();
            assert!(
                identity <= SVD_REFERENCE * scale * ((c_in * c_out) as f64).sqrt(),
                "{what}: RM ≠ GAᵀ by {identity}"
            );
            // σ₁(RM) ≤ σ₁(XᵀX/N)·σ₁(A).
            assert!(srm <= scale + SVD_REFERENCE * scale, "{what}: upper side {srm} > {scale}");
            // σ_min(XᵀX/N)·σ₁(A) ≤ σ₁(RM).
            assert!(sg_min * sa <= srm + SVD_REFERENCE * scale, "{what}: lower side {} > {srm}", sg_min * sa);
            checked += 1;
        }
    }
    // Whitened inputs, XᵀX/N = λI: both sides meet, σ₁(RM) = λ·σ₁(A).
    for &(n, c_in, c_out) in &[(4, 4, 3), (16, 8, 8), (40, 12, 20), (128, 32, 16)] {
        for _ in 0..50 {
            let q = uniform(&mut r, n, c_in).qr().q();
            let lambda = 10f64.powf(r.random::<f64>() * 4.0 - 2.0);
            let x = q * (lambda * n as f64).sqrt();
            let a = uniform(&mut r, c_out, c_in);
            let rm = x.transpose() * (&x * a.transpose()) / n as f64;
            let (srm, _) = sigma_max_min(&rm);
            let want = lambda * sigma_max_min(&a).0;
            assert!(
                (srm - want).abs() <= SVD_REFERENCE * want,
                "whitened N={n} C_in={c_in}: {srm} vs λσ₁(A) = {want}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9 * 100 + 4 * 50);
}

/// Theorem R0(a) (proofs/retention.md): ‖RMᵀ1‖₂·C^{−1/4} ≤ ρ_rel = √‖K·1‖₂ ≤ σ₁(RM)·C^{1/4}, C = C_in, both
/// ends attained; and R0(b)'s side-B ceiling σ₁(RM_B) ≤ √(C_in·C_out) whatever σ(A).
#[test]
fn released_proxy_is_bracketed_by_sigma_and_the_column_sums() {
    let released = |rm: &DMatrix<f64>| {
        let ones = DVector::from_element(rm.nrows(), 1.0);
        (rm * (rm.transpose() * ones)).norm().sqrt()
    };
    let ends = |rm: &DMatrix<f64>| {
        let c = (rm.nrows() as f64).powf(0.25);
        let col_sums = (rm.transpose() * DVector::from_element(rm.nrows(), 1.0)).norm();
        (col_sums / c, sigma_max_min(rm).0 * c)
    };
    let mut r = rng(47);
    for &(c_in, c_out) in &[(1, 1), (1, 5), (5, 1), (3, 4), (8, 8), (16, 6), (32, 64)] {
        for _ in 0..100 {
            let rm = uniform(&mut r, c_in, c_out);
            let (lo, hi) = ends(&rm);
            let rho = released(&rm);
            assert_le(lo, rho, SVD_REFERENCE, "R0(a) lower end");
            assert_le(rho, hi, SVD_REFERENCE, "R0(a) upper end");
        }
        // Upper end attained: 1 is the top left singular vector (RM = 1·vᵀ); the lower end meets it there.
        let v = uniform(&mut r, 1, c_out);
        let rm = DMatrix::from_element(c_in, 1, 1.0) * &v;
        let (lo, hi) = ends(&rm);
        let rho = released(&rm);
        assert!((rho - hi).abs() <= SVD_REFERENCE * hi && (rho - lo).abs() <= SVD_REFERENCE * hi);
        // Lower end attained at 0 while σ₁ > 0: RM = u·vᵀ with u ⟂ 1.
        if c_in >= 2 {
            let mut u = DMatrix::from_element(c_in, 1, 0.0);
            (u[0], u[1]) = (1.0, -1.0);
            let rm = &u * &v;
            assert!(released(&rm) <= SVD_REFERENCE * ends(&rm).1 && ends(&rm).1 > 0.0);
        }
    }
    // The implementation: per-layer means over batches keep R0(a)'s upper end (converged ≈ σ₁ from below),
    // and side B stays under √(C_in·C_out).
    let net = random_mlp(&mut rng(48), &[4, 5, 6, 5, 3], ActKind::Sign, true);
    let xs = sample(&net, 24, 4);
    let opts = RetentionOptions { batch: 8, ..Default::default() };
    let bs = retention_bounds(&net, &xs, &opts, &SpectralOptions::default(), &|_| {}).unwrap();
    let pts = net.forward_points(&xs[0], Function::Deployed).unwrap().points;
    for side in ["F", "B"] {
        let rel = find(&bs, Method::RetentionReleased, side, "layer");
        let conv = find(&bs, Method::RetentionConverged, side, "layer");
        for k in 0..rel.per_layer.len() {
            let (c_in, c_out) = (pts[k].values.len() as f64, pts[k + 1].values.len() as f64);
            let (rho, sigma) = (rel.per_layer[k].value, conv.per_layer[k].value);
            assert_le(rho, sigma * c_in.powf(0.25), 1e-6, "released <= converged·C^(1/4)");
            if side == "B" {
                assert_le(sigma, (c_in * c_out).sqrt(), SVD_REFERENCE, "sigma(RM_B) <= sqrt(C_in C_out)");
            }
        }
    }
}
