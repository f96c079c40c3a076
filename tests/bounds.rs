//! The public entry point: compute_bounds, bounds.json, the table, and bad input.
mod common;

use common::*;
use lcr_verify::Error;
use lcr_verify::bounds::Soundness;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::{BoundOptions, BoundsFile, Method, Methods, Norm, compute_bounds, render_table};
use lcr_verify::ir::{Function, Layer};
use rand::Rng;

fn sample(n: usize, d: usize) -> Vec<Vec<f64>> {
    let mut r = rng(60);
    (0..n).map(|_| (0..d).map(|_| r.random::<f64>()).collect()).collect()
}

#[test]
fn all_methods_run_on_a_small_binary_mlp() {
    let mut r = rng(61);
    let net = random_mlp(&mut r, &[5, 5, 5, 3], ActKind::Sign, true);
    let s = sample(20, 5);
    let opts =
        BoundOptions { lp_local_radius: Some(0.05), lp_domain: Some((0.0, 1.0)), ..Default::default() };
    let messages = std::sync::Mutex::new(Vec::new());
    let out =
        compute_bounds(&net, &opts, Some(&s), &|m| messages.lock().unwrap().push(m.to_string())).unwrap();
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert!(!messages.lock().unwrap().is_empty(), "progress is reported");
    for m in [
        Method::SpectralProduct,
        Method::LpGlobal,
        Method::LpLocal,
        Method::ExactPatterns,
        Method::ExactRegions,
        Method::SampledGradient,
        Method::RetentionReleased,
        Method::RetentionConverged,
        Method::RetentionNormalised,
    ] {
        assert!(out.bounds.iter().any(|b| b.method == m), "{m:?} missing");
    }
    for b in &out.bounds {
        assert!(b.value.is_finite() && b.value >= 0.0, "{:?}", b.method);
        let expected = match b.method {
            Method::SampledGradient | Method::RetentionNormalised | Method::ExactRegions => Soundness::Lower,
            Method::RetentionReleased | Method::RetentionConverged => Soundness::Estimate,
            _ => Soundness::Certified,
        };
        assert_eq!(b.soundness, expected, "{:?}", b.method);
    }
    // Certified ≥ lower for the same function and norm.
    for f in [Function::Surrogate, Function::Latent] {
        let get = |m, n| {
            out.bounds.iter().find(|b| b.method == m && b.function == f && b.norm == n).map(|b| b.value)
        };
        let lower = get(Method::SampledGradient, Norm::LinfMargin).unwrap();
        for m in [Method::SpectralProduct, Method::LpGlobal, Method::ExactPatterns] {
            assert_le(lower, get(m, Norm::LinfMargin).unwrap(), 0.0, "lower <= certified");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounds.json");
    let file = BoundsFile::new(&net, out.clone(), s.len(), serde_json::json!({ "seed": 61 }));
    file.write(&path).unwrap();
    let back = BoundsFile::read(&path).unwrap();
    assert_eq!(back.bounds.len(), out.bounds.len());
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "\"method\"",
        "\"function\"",
        "\"soundness\"",
        "\"norm\"",
        "\"value\"",
        "\"per_layer\"",
        "\"seconds\"",
        "\"detail\"",
    ] {
        assert!(text.contains(key), "{key} missing from bounds.json");
    }
    let table = render_table(&out.bounds, &out.skipped);
    assert!(table.contains("| spectral-product | surrogate | certified | l2 |"), "{table}");
    assert!(table.contains("retention-released | deployed | estimate"), "{table}");
}

#[test]
fn inapplicable_methods_are_skipped_with_a_reason() {
    let net = tiny_resnet(62);
    let opts = BoundOptions { norms: vec![Norm::L2], ..Default::default() };
    let out = compute_bounds(&net, &opts, None, &|_| {}).unwrap();
    assert!(out.bounds.iter().all(|b| b.method == Method::SpectralProduct));
    assert!(
        out.skipped.iter().any(|s| s.method == Method::LpGlobal && s.reason.contains("residual")),
        "{:?}",
        out.skipped
    );
    assert!(out.skipped.iter().any(|s| s.method == Method::RetentionReleased && s.reason.contains("sample")));
}

#[test]
fn a_bad_local_lp_request_is_refused_not_skipped() {
    let mut r = rng(65);
    let net = random_mlp(&mut r, &[4, 5, 3], ActKind::Relu, true);
    let lp_only = Methods { lp: true, ..Methods::none() };
    let s = sample(3, 4);
    for radius in [-0.1, f64::NAN, f64::INFINITY] {
        let opts =
            BoundOptions { methods: lp_only.clone(), lp_local_radius: Some(radius), ..Default::default() };
        match compute_bounds(&net, &opts, Some(&s), &|_| {}) {
            Err(Error::Config { key, problem }) => {
                assert!(key.contains("lp local box") && problem.contains("radius"), "{key}: {problem}")
            }
            other => panic!("radius {radius}: expected a refusal, got {other:?}"),
        }
    }
    // A center of the wrong length reaching the LP itself.
    let ch = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let mode = LpMode::Local { center: vec![0.0; 3], radius: 0.1, domain: None };
    let b = lp_bound(&ch, Function::Surrogate, Norm::LinfMargin, &mode, &LpOptions::default(), &|_| {});
    assert!(matches!(b, Err(Error::Config { .. })), "{b:?}");
    // The same options with a valid radius give both LP entries and skip nothing.
    let opts = BoundOptions { methods: lp_only, lp_local_radius: Some(0.1), ..Default::default() };
    let out = compute_bounds(&net, &opts, Some(&s), &|_| {}).unwrap();
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert!(out.bounds.iter().any(|b| b.method == Method::LpLocal));
}

#[test]
fn bad_input_is_an_error() {
    let mut r = rng(63);
    let mut net = random_mlp(&mut r, &[4, 5, 3], ActKind::Sign, true);
    if let Layer::Affine { scale, .. } = &mut net.layers[1] {
        scale[2] = f64::NAN;
    }
    match compute_bounds(&net, &BoundOptions::default(), None, &|_| {}) {
        Err(Error::NonFinite { context }) => assert!(context.contains("layer 1 (affine) scale"), "{context}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let net = random_mlp(&mut r, &[4, 5, 3], ActKind::Sign, true);
    let bad = vec![vec![0.0; 4], vec![0.0; 3]];
    assert!(matches!(
        compute_bounds(&net, &BoundOptions::default(), Some(&bad), &|_| {}),
        Err(Error::Shape { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bounds.json");
    std::fs::write(&p, "{ \"format\": 1 ").unwrap();
    assert!(matches!(BoundsFile::read(&p), Err(Error::Format { .. })));
}

#[test]
fn pair_constants_are_typed_symmetric_and_only_on_margin_bounds() {
    let mut r = rng(64);
    let net = random_mlp(&mut r, &[4, 5, 3], ActKind::Relu, false);
    let opts = BoundOptions { norms: vec![Norm::L2, Norm::LinfMargin], ..Default::default() };
    let out = compute_bounds(&net, &opts, Some(&sample(5, 4)), &|_| {}).unwrap();
    for b in &out.bounds {
        assert!(b.detail.get("pairs").is_none(), "{:?}: pairs left in detail", b.method);
        if b.norm == Norm::L2 {
            assert!(b.pairs.is_empty(), "{:?} {:?}", b.method, b.pairs);
            continue;
        }
        assert_eq!(b.pairs.len(), 3, "{:?}", b.method);
        let max = b.pairs.iter().fold(0.0f64, |m, p| m.max(p.value));
        assert_eq!(b.value, max, "{:?}: the value is the largest pair constant", b.method);
        for p in &b.pairs {
            assert_eq!((b.pair_value(p.t, p.j), b.pair_value(p.j, p.t)), (Some(p.value), Some(p.value)));
        }
        assert_eq!(b.pair_value(0, 0), None);
        assert_eq!(b.pair_value(0, 7), None);
    }
}

#[test]
fn a_format_1_file_says_to_rerun_bound() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bounds.json");
    std::fs::write(&p, r#"{ "format": 1, "bounds": [{ "detail": { "pairs": [[0, 1, 2.0]] } }] }"#).unwrap();
    match BoundsFile::read(&p) {
        Err(Error::Format { problem, .. }) => {
            assert!(problem.contains("format 1") && problem.contains("re-run `lcr-verify bound"), "{problem}")
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn a_bound_request_is_checked_before_any_work() {
    use lcr_verify::bounds::{self, BoundRequest, NormChoice};
    use lcr_verify::run_dir::RunDir;
    let run = RunDir::new("/no/such/run");
    let bad = [
        BoundRequest { samples: 0, ..Default::default() },
        BoundRequest { lp_local_radius: Some(0.0), ..Default::default() },
        BoundRequest { lp_local_radius: Some(-0.5), ..Default::default() },
        BoundRequest { lp_local_radius: Some(f64::NAN), ..Default::default() },
    ];
    for req in &bad {
        assert!(matches!(req.check(), Err(Error::Config { .. })), "{req:?}");
        // Refused as a bad value, not as a missing run: nothing was looked at.
        assert!(matches!(bounds::run(&run, req, &|_| {}), Err(Error::Config { .. })), "{req:?}");
    }
    let good = BoundRequest { norms: NormChoice::Linf, lp_local_radius: Some(0.1), ..Default::default() };
    good.check().unwrap();
    assert!(matches!(bounds::run(&run, &good, &|_| {}), Err(Error::Missing { .. })));
    assert!(bounds::reusable(&run, &good).unwrap().is_none(), "no bounds.json, nothing to reuse");
    // The request is recorded as readable JSON and read back equal.
    let json = serde_json::to_value(&good).unwrap();
    assert_eq!(json["norms"].as_str(), Some("linf"));
    assert_eq!(json["methods"], serde_json::json!(["spectral", "retention", "lp", "exact", "sampled", "lipsdp", "sequential"]));
    assert_eq!(json["functions"], serde_json::json!(["surrogate", "latent"]));
    assert_eq!(serde_json::from_value::<BoundRequest>(json).unwrap(), good);
}

/// Relative tolerance between the batched and the one-box evaluations of the same outward-rounded formulas
/// (they differ only in the order of rounded sums).
const BATCH_REL_TOL: f64 = 1e-9;
/// Rounding error allowed to a floating-point forward pass checked against an enclosure of the exact one.
const TRACE_REL_TOL: f64 = 1e-12;

#[test]
fn batched_boxes_contain_the_forward_pass() {
    use lcr_verify::bounds::interval::{Interval, forward, forward_batch};
    use nalgebra::DMatrix;
    let mut r = rng(907);
    for (seed, act) in [(0u64, ActKind::HardTanh), (1, ActKind::Relu), (2, ActKind::HardTanh)] {
        let net = random_mlp(&mut r, &[12, 9, 7, 4], act, seed != 1);
        let chain = Chain::from_net(&net, Function::Surrogate, usize::MAX).unwrap();
        // Boxes of several widths, one per column; points sampled inside each.
        let centers: Vec<Vec<f64>> =
            (0..6).map(|_| (0..12).map(|_| r.random_range(-2.0..2.0)).collect()).collect();
        let radii = [0.0, 0.0, 1e-3, 0.05, 0.3, 1.0];
        let lo = DMatrix::from_fn(12, 6, |i, k| centers[k][i] - radii[k]);
        let hi = DMatrix::from_fn(12, 6, |i, k| centers[k][i] + radii[k]);
        let batch = forward_batch(&chain, lo.clone(), hi.clone());
        for k in 0..6 {
            let single = forward(
                &chain,
                &Interval::new(
                    lo.column(k).iter().copied().collect(),
                    hi.column(k).iter().copied().collect(),
                ),
            );
            for (s, (bl, bh)) in batch.iter().enumerate() {
                for i in 0..bl.nrows() {
                    let (l, h) = (single[s].lo[i], single[s].hi[i]);
                    let tol = BATCH_REL_TOL * (1.0 + l.abs().max(h.abs()));
                    assert!(
                        (bl[(i, k)] - l).abs() <= tol && (bh[(i, k)] - h).abs() <= tol,
                        "step {s} unit {i}"
                    );
                    assert!(bl[(i, k)] <= bh[(i, k)]);
                }
            }
            for _ in 0..50 {
                let x: Vec<f64> = (0..12).map(|i| r.random_range(lo[(i, k)]..=hi[(i, k)])).collect();
                for (s, values) in chain.trace(&x).iter().enumerate() {
                    let (bl, bh) = &batch[s];
                    for (i, v) in values.iter().enumerate() {
                        // The trace is itself rounded: allow its own few-ulp error.
                        let tol = TRACE_REL_TOL * (1.0 + v.abs());
                        assert!(
                            bl[(i, k)] - tol <= *v && *v <= bh[(i, k)] + tol,
                            "box {k} step {s} unit {i}: {v} outside"
                        );
                    }
                }
            }
        }
        // Batched gradients and their slacks agree with the row-by-row forms.
        let c = DMatrix::from_fn(3, 4, |i, j| {
            if j == i {
                1.0
            } else if j == 3 {
                -1.0
            } else {
                0.0
            }
        });
        let pats = chain.patterns_at(&centers[0]);
        let rows = chain.backward_rows(&c, &pats);
        let slacks = chain.gradient_slack_rows(&c);
        for i in 0..3 {
            let ci: Vec<f64> = c.row(i).iter().copied().collect();
            let one = chain.backward(&ci, &pats);
            let slack = chain.gradient_slack(&ci);
            for j in 0..12 {
                assert!((rows[(i, j)] - one[j]).abs() <= slacks[(i, j)] + slack[j], "row {i} coordinate {j}");
                let rel = (slacks[(i, j)] - slack[j]).abs() / slack[j].max(f64::MIN_POSITIVE);
                assert!(rel <= 1e-6, "slack {i},{j}: {} vs {}", slacks[(i, j)], slack[j]);
            }
        }
    }
}
