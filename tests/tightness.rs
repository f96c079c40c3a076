//! The order lower ≤ exact ≤ LP ≤ product on 1000 seeded random nets (with the region enumeration's true L between
//! lower and the FGL "exact" value on half of them), and golden tightness ratios.
//!
//! Golden figures live in `tests/golden/tightness.json`; `LCR_BLESS=1 cargo test --release --test tightness`
//! rewrites them (review the diff: a larger ratio means a looser bound).
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use lcr_verify::bounds::ascent::{AscentOptions, gradient_ascent};
use lcr_verify::bounds::bab::{BabOptions, bab_bound};
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::conversion::linf_from_l2;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::lipsdp::{LipSdpOptions, lipsdp_bound};
use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::regions::{RegionOptions, exact_regions};
use lcr_verify::bounds::retention::{RetentionOptions, retention_bounds};
use lcr_verify::bounds::sampled::{SampledOptions, sampled_gradient};
use lcr_verify::bounds::sequential::{SequentialOptions, sequential_bound};
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::bounds::{Method, Norm, Scope};
use lcr_verify::ir::{Function, Net};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Relative tolerance of a golden ratio: the computations are deterministic, so only platform rounding moves
/// them; anything larger is a change of the method.
const GOLDEN_TOL: f64 = 1e-6;

struct Values {
    lower: f64,
    exact: f64,
    lp: Option<f64>,
    product: f64,
}

fn values(net: &Net, f: Function, norm: Norm, points: usize, seed: u64) -> Values {
    let chain = Chain::from_net(net, f, 1 << 20).unwrap();
    let so = SampledOptions { random_points: points, seed, ..Default::default() };
    let lower = sampled_gradient(&chain, f, norm, &[], &so).unwrap().value;
    let exact = exact_patterns(&chain, f, norm, &ExactOptions::default()).unwrap().value;
    let lp = matches!(norm, Norm::LinfMargin | Norm::L1Margin)
        .then(|| lp_bound(&chain, f, norm, &LpMode::Global, &LpOptions::default(), &|_| {}).unwrap().value);
    let product = spectral_product(net, f, norm, &SpectralOptions::default(), &|_| {}).unwrap().value;
    Values { lower, exact, lp, product }
}

#[test]
fn order_holds_on_1000_random_nets() {
    let mut r = rng(50);
    let acts = [ActKind::Relu, ActKind::HardTanh, ActKind::Sign];
    let mut region_nets = std::collections::BTreeSet::new();
    for case in 0..1000u64 {
        let depth = 1 + r.random_range(0..2usize);
        let mut dims = vec![r.random_range(2..5usize)];
        for _ in 0..depth {
            dims.push(r.random_range(2..7usize));
        }
        dims.push(r.random_range(2..4usize));
        let affine = r.random::<bool>();
        let net = random_mlp(&mut r, &dims, acts[case as usize % 3], affine);
        let f = if case % 2 == 0 { Function::Surrogate } else { Function::Latent };
        for norm in [Norm::LinfMargin, Norm::L2] {
            let v = values(&net, f, norm, 40, case);
            let ctx = |what: &str| format!("net {case} {dims:?} {norm:?} {f:?}: {what}");
            assert_le(v.lower, v.exact, 0.0, &ctx("lower <= exact"));
            let top = match v.lp {
                Some(lp) => {
                    assert_le(v.exact, lp, OUTWARD, &ctx("exact <= LP"));
                    lp
                }
                None => v.exact,
            };
            assert_le(top, v.product, OUTWARD, &ctx("LP (or exact) <= product"));
            // "exact" above is FGL, an upper bound on L. Where the region enumeration applies, the true L (the
            // largest gradient over the linear regions that exist, each witnessed) sits between the sampled lower
            // bound and FGL.
            if case % 4 < 2 {
                let chain = Chain::from_net(&net, f, 1 << 20).unwrap();
                if let Ok(regions) = exact_regions(&chain, f, norm, &RegionOptions::default()) {
                    assert_le(v.lower, regions.value, OUTWARD, &ctx("lower <= regions"));
                    assert_le(regions.value, v.exact, OUTWARD, &ctx("regions <= FGL"));
                    region_nets.insert(case);
                }
            }
        }
    }
    assert!(region_nets.len() >= 250, "regions compared on only {} nets", region_nets.len());
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Golden {
    value: f64,
    tol: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean tightness ratios over a fixed suite of 24 binary MLPs [4, 8, 8, 3] (sign activations; LP, exact and
/// product of the surrogate function, retention proxies of the deployed activations).
fn measure() -> BTreeMap<String, f64> {
    let mut r = rng(51);
    let mut ratios: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut push = |k: &str, v: f64| ratios.entry(k.to_string()).or_default().push(v);
    for case in 0..24u64 {
        let net = random_mlp(&mut r, &[4, 8, 8, 3], ActKind::Sign, true);
        let f = Function::Surrogate;
        let li = values(&net, f, Norm::LinfMargin, 200, case);
        push("linf_lp_over_exact", li.lp.unwrap() / li.exact);
        push("linf_product_over_exact", li.product / li.exact);
        push("linf_lower_over_exact", li.lower / li.exact);
        let l2 = values(&net, f, Norm::L2, 200, case);
        push("l2_product_over_exact", l2.product / l2.exact);
        push("l2_lower_over_exact", l2.lower / l2.exact);
        // The climbing lower bound and the LipSDP bounds (their own seeds: `r` is not drawn from).
        let chain = Chain::from_net(&net, f, 1 << 20).unwrap();
        let climbed = gradient_ascent(
            &chain,
            f,
            Norm::LinfMargin,
            &[],
            &AscentOptions { seed: case, ..Default::default() },
        )
        .unwrap()
        .value;
        push("linf_ascent_over_exact", climbed / li.exact);
        // Branch and bound on the first 8 nets, with a node budget (no time budget: deterministic).
        if case < 8 {
            let bo = BabOptions { seconds_per_pair: 1e9, max_nodes: 20_000, ..Default::default() };
            let b = bab_bound(&chain, f, Norm::LinfMargin, &bo, &|_| {}).unwrap();
            push("linf_bab_over_exact", b.value / li.exact);
            push("linf_bab_lower_over_exact", b.detail["lower"].as_f64().unwrap() / li.exact);
        }
        // √n times the sequential margin constants (n = 4 inputs here, so a factor 2).
        let seq_margins = sequential_bound(&chain, f, Norm::L2Margin, &SequentialOptions::default()).unwrap();
        let converted = linf_from_l2(&[seq_margins], f, Scope::Network, 4, 3).unwrap().value;
        push("linf_conversion_over_exact", converted / li.exact);
        let seq = sequential_bound(&chain, f, Norm::L2, &SequentialOptions::default()).unwrap().value;
        push("l2_sequential_over_exact", seq / l2.exact);
        let sdp = lipsdp_bound(&chain, f, Norm::L2, &LipSdpOptions::default(), &|_| {}).unwrap().value;
        push("l2_lipsdp_over_exact", sdp / l2.exact);
        let sample: Vec<Vec<f64>> =
            (0..64).map(|_| (0..4).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect();
        let rb = retention_bounds(
            &net,
            &sample,
            &RetentionOptions { batch: 32, ..Default::default() },
            &SpectralOptions::default(),
            &|_| {},
        )
        .unwrap();
        for (m, key) in [
            (Method::RetentionReleased, "retention_released_F_over_exact_sigma"),
            (Method::RetentionConverged, "retention_converged_F_over_exact_sigma"),
        ] {
            let b = rb
                .iter()
                .find(|b| b.method == m && b.detail["side"] == "F" && b.detail["granularity"] == "layer")
                .unwrap();
            for p in &b.per_layer {
                push(key, p.detail["ratio"].as_f64().unwrap());
            }
        }
        let n = rb.iter().find(|b| b.method == Method::RetentionNormalised).unwrap();
        for p in &n.per_layer {
            push("retention_normalised_over_exact_sigma", p.detail["ratio"].as_f64().unwrap());
        }
    }
    // True L from region enumeration on smaller nets (3-5-4-3): how far FGL and the LP sit above it.
    for case in 0..8u64 {
        let net = random_mlp(&mut r, &[3, 5, 4, 3], ActKind::Sign, true);
        let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
        for norm in [Norm::L2, Norm::LinfMargin] {
            let reg =
                exact_regions(&chain, Function::Surrogate, norm, &RegionOptions::default()).unwrap().value;
            let v = values(&net, Function::Surrogate, norm, 10, case);
            push(
                &format!("{}_fgl_over_regions", if norm == Norm::L2 { "l2" } else { "linf" }),
                v.exact / reg,
            );
            if let Some(lp) = v.lp {
                push("linf_lp_over_regions", lp / reg);
            }
        }
    }
    ratios.into_iter().map(|(k, v)| (k, mean(&v))).collect()
}

#[test]
fn golden_tightness_ratios() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tightness.json");
    let measured = measure();
    if std::env::var("LCR_BLESS").is_ok_and(|v| v == "1") {
        let golden: BTreeMap<String, Golden> =
            measured.iter().map(|(k, &v)| (k.clone(), Golden { value: v, tol: GOLDEN_TOL })).collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&golden).unwrap() + "\n").unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let text =
        std::fs::read_to_string(&path).expect("tests/golden/tightness.json (run with LCR_BLESS=1 to create)");
    let golden: BTreeMap<String, Golden> = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    for (k, g) in &golden {
        let m = measured.get(k).copied().unwrap_or(f64::NAN);
        if m.is_nan() || (m - g.value).abs() > g.tol * g.value.abs() {
            failures.push(format!("{k}: measured {m:.9}, golden {:.9} (tol {:e})", g.value, g.tol));
        }
    }
    assert_eq!(
        golden.len(),
        measured.len(),
        "golden keys {:?} vs measured {:?}",
        golden.keys(),
        measured.keys()
    );
    assert!(failures.is_empty(), "tightness changed:\n{}", failures.join("\n"));
    // The orderings behind the ratios.
    assert!(
        golden["linf_lp_over_exact"].value >= 1.0
            && golden["linf_lp_over_exact"].value <= golden["linf_product_over_exact"].value
    );
    assert!(golden["linf_lower_over_exact"].value <= 1.0 && golden["l2_lower_over_exact"].value <= 1.0);
    assert!(golden["retention_normalised_over_exact_sigma"].value <= 1.0);
    assert!(golden["linf_lower_over_exact"].value <= golden["linf_ascent_over_exact"].value + 1e-9);
    assert!(golden["linf_ascent_over_exact"].value <= 1.0);
    assert!(golden["linf_ascent_over_exact"].value <= golden["linf_conversion_over_exact"].value);
    assert!(
        golden["linf_bab_lower_over_exact"].value <= 1.0
            && golden["linf_bab_over_exact"].value <= golden["linf_lp_over_exact"].value
    );
    assert!(
        golden["l2_lipsdp_over_exact"].value >= 1.0
            && golden["l2_lipsdp_over_exact"].value <= golden["l2_sequential_over_exact"].value
            && golden["l2_sequential_over_exact"].value <= golden["l2_product_over_exact"].value
    );
    assert!(golden["l2_fgl_over_regions"].value >= 1.0 && golden["linf_fgl_over_regions"].value >= 1.0);
}
