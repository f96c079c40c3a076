//! Golden tightness of every certified method on trained networks: certified value over the best proven lower
//! bound of the same function and norm, per model, function and norm, through the `bound` stage itself.
//!
//! The models are `tests/fixtures/mlp32/{baseline,lcr}` (784-32-32-10 binary MLPs trained on the shipped MNIST,
//! provenance in `tests/fixtures/README.md`); the lower bounds are the sampled gradients on the first 64 test
//! images and the gradient ascent (seeded); for `lp-bab`, which is run on one class pair with a node budget, its
//! own lower bound. Golden figures live in `tests/golden/tightness_trained.json`;
//! `LCR_BLESS=1 cargo test --release --test tightness_trained` rewrites them (review the diff: a larger ratio is a
//! looser bound).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lcr_verify::bounds::{self, Bound, BoundRequest, Method, Methods, Norm, NormChoice, Scope, Soundness};
use lcr_verify::ir::Function;
use lcr_verify::run_dir::RunDir;
use serde::{Deserialize, Serialize};

/// A golden ratio may move by this much (relative) either way: a bound 1 % looser than recorded fails, and one
/// 1 % tighter asks for the golden file to be rewritten, so that the next loosening is measured from it.
const GOLDEN_TOL: f64 = 0.01;

#[derive(Serialize, Deserialize)]
struct Golden {
    value: f64,
    tol: f64,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlp32").join(name)
}

/// The bounds of one fixture model, computed by the stage on a copy of its run directory.
fn bounds_of(name: &str) -> Vec<Bound> {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.toml", "model.safetensors"] {
        std::fs::copy(fixture(name).join(file), dir.path().join(file)).unwrap();
    }
    let req = BoundRequest {
        methods: Methods {
            spectral: true,
            sequential: true,
            lp: true,
            sampled: true,
            ascent: true,
            ..Methods::none()
        },
        norms: NormChoice::Both,
        samples: 64,
        ..Default::default()
    };
    bounds::run(&RunDir::new(dir.path()), &req, &|_| {}).unwrap().bounds
}

/// The value of the entry of `method` about `f` in `norm` over the whole input space.
fn value(bounds: &[Bound], method: Method, f: Function, norm: Norm) -> f64 {
    bounds
        .iter()
        .find(|b| b.method == method && b.function == f && b.norm == norm && b.scope == Scope::Network)
        .unwrap_or_else(|| panic!("{method:?} {f:?} {norm:?} missing"))
        .value
}

/// Nodes of the branch and bound's tree in the golden run: a node budget (no time budget) keeps it deterministic.
const BAB_NODES: usize = 300;

/// Branch and bound on the worst class pair (2-9) of a fixture model, surrogate, ℓ∞: its certified upper bound
/// over its own proven lower bound after [`BAB_NODES`] nodes.
fn bab_ratio(name: &str) -> f64 {
    use lcr_verify::bounds::bab::{BabOptions, bab_bound};
    use lcr_verify::bounds::chain::Chain;
    let (model, _) = RunDir::new(fixture(name)).load_model(&candle_core::Device::Cpu).unwrap();
    let net = lcr_verify::export::export(&model).unwrap();
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 22).unwrap();
    let opts = BabOptions {
        seconds_per_pair: f64::INFINITY,
        max_nodes: BAB_NODES,
        pairs: Some(vec![(2, 9)]),
        ..Default::default()
    };
    let b = bab_bound(&chain, Function::Surrogate, Norm::LinfMargin, &opts, &|_| {}).unwrap();
    assert_eq!(b.soundness, Soundness::Certified);
    let lower = b.detail["lower"].as_f64().unwrap();
    assert!(lower > 0.0 && lower <= b.value, "{name}: lp-bab lower {lower} above its upper {}", b.value);
    b.value / lower
}

/// Every ratio certified / best lower bound of the two fixture models.
fn measure() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for model in ["baseline", "lcr"] {
        out.insert(format!("{model}_surrogate_linf-margin_lp-bab-pair-2-9_over_its_lower"), bab_ratio(model));
        let all = bounds_of(model);
        for f in [Function::Surrogate, Function::Latent] {
            for norm in [Norm::L2, Norm::L2Margin, Norm::LinfMargin] {
                let lower = [Method::SampledGradient, Method::GradientAscent]
                    .into_iter()
                    .map(|m| value(&all, m, f, norm))
                    .fold(0.0, f64::max);
                assert!(lower > 0.0, "{model} {f:?} {norm:?}: a positive lower bound");
                let certified: &[(Method, &str)] = match norm {
                    Norm::LinfMargin => &[
                        (Method::SpectralProduct, "product"),
                        (Method::LpGlobal, "lp"),
                        (Method::NormConversion, "conversion"),
                    ],
                    _ => &[(Method::SpectralProduct, "product"), (Method::LipSdpSequential, "sequential")],
                };
                for &(m, short) in certified {
                    let b = all.iter().find(|b| b.method == m && b.function == f && b.norm == norm).unwrap();
                    assert_eq!(b.soundness, Soundness::Certified);
                    let ratio = b.value / lower;
                    assert!(
                        ratio >= 1.0 - 1e-9,
                        "{model} {f:?} {norm:?} {m:?}: certified {} below lower {lower}",
                        b.value
                    );
                    out.insert(format!("{model}_{}_{}_{short}_over_lower", f.name(), norm.name()), ratio);
                }
            }
        }
    }
    out
}

#[test]
fn golden_tightness_on_trained_nets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tightness_trained.json");
    let measured = measure();
    if std::env::var("LCR_BLESS").is_ok_and(|v| v == "1") {
        let golden: BTreeMap<&String, Golden> =
            measured.iter().map(|(k, &v)| (k, Golden { value: v, tol: GOLDEN_TOL })).collect();
        std::fs::write(&path, serde_json::to_string_pretty(&golden).unwrap() + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .expect("tests/golden/tightness_trained.json (run with LCR_BLESS=1 to create)");
    let golden: BTreeMap<String, Golden> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        measured.keys().collect::<Vec<_>>(),
        "the golden file lists every measured ratio"
    );
    let mut failures = Vec::new();
    for (k, g) in &golden {
        let m = measured[k];
        if m > g.value * (1.0 + g.tol) {
            failures
                .push(format!("{k}: {m:.6} is looser than the golden {:.6} by more than {}", g.value, g.tol));
        } else if m < g.value * (1.0 - g.tol) {
            failures.push(format!(
                "{k}: {m:.6} is tighter than the golden {:.6}: rewrite it (LCR_BLESS=1)",
                g.value
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The orders the methods promise, on the recorded figures: the conversion and the LP below the ℓ∞ product,
    // the sequential bound below the ℓ2 product.
    for model in ["baseline", "lcr"] {
        for f in ["surrogate", "latent"] {
            let g = |norm: &str, m: &str| golden[&format!("{model}_{f}_{norm}_{m}_over_lower")].value;
            assert!(g("linf-margin", "lp") <= g("linf-margin", "product"));
            assert!(g("linf-margin", "conversion") <= g("linf-margin", "product"));
            for norm in ["l2", "l2-margin"] {
                assert!(g(norm, "sequential") <= g(norm, "product") * (1.0 + 1e-9));
            }
        }
    }
}
