//! Branch and bound (`lp-bab`, proofs/bab.md): the bracket [witnessed lower, certified upper] around the true
//! constant, the order lower ≤ L ≤ BaB ≤ LP ≤ product on 1000 random nets, and (ignored, heavy) the
//! measurements on the tightness suite and MNIST-sized nets:
//! `cargo test --release --test bab -- --ignored --nocapture`.
mod common;

use common::*;
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::bab::{BabOptions, bab_bound};
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::exact::{ExactOptions, exact_patterns};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
use lcr_verify::bounds::regions::{RegionOptions, exact_regions};
use lcr_verify::bounds::sampled::{SampledOptions, sampled_gradient};
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::ir::{Function, Net};
use rand::Rng;

const F: Function = Function::Surrogate;

/// Budgets that keep a tiny net's tree deterministic (no time limit is reached) and cheap.
fn tiny_budget(max_nodes: usize) -> BabOptions {
    BabOptions { seconds_per_pair: 1e9, max_nodes, ascent: None, ..Default::default() }
}

/// The options of the measurements: `BAB_SECONDS` per pair (else `seconds`), and the defaults changed by
/// `BAB_BOX` (coordinates of the box bound's walk), `BAB_NODES` (node budget, so that runs compare at equal
/// nodes), `BAB_FIRST` and `BAB_LATER` (B9's budgets), `BAB_RESTARTS`, `BAB_MOVES`, `BAB_KICKS` (the lower-bound
/// search) and `BAB_WITNESSES` (its candidates checked).
fn measure_options(seconds: f64) -> BabOptions {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let d = BabOptions::default();
    let mut search = d.search.clone().expect("a default search");
    search.restarts = var("BAB_RESTARTS").unwrap_or(search.restarts);
    search.moves = var("BAB_MOVES").unwrap_or(search.moves);
    search.kicks = var("BAB_KICKS").unwrap_or(search.kicks);
    BabOptions {
        seconds_per_pair: std::env::var("BAB_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(seconds),
        box_enum: var("BAB_BOX").unwrap_or(d.box_enum),
        max_nodes: var("BAB_NODES").unwrap_or(d.max_nodes),
        first_enum: var("BAB_FIRST").unwrap_or(d.first_enum),
        later_enum: var("BAB_LATER").unwrap_or(d.later_enum),
        search: Some(search),
        search_witnesses: var("BAB_WITNESSES").unwrap_or(d.search_witnesses),
        ..d
    }
}

fn lower_of(b: &lcr_verify::bounds::Bound) -> f64 {
    b.detail["lower"].as_f64().unwrap()
}

/// The default gap tolerance of a pair's tree.
const GAP_TOL: f64 = 1e-4;

/// Whether every pair's tree finished: its upper side closed, or its bracket within the gap tolerance.
fn all_finished(b: &lcr_verify::bounds::Bound) -> bool {
    b.detail["per_pair"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["closed"] == true || p["relative_gap"].as_f64().is_some_and(|g| g <= GAP_TOL))
}

#[test]
fn bab_brackets_the_true_constant() {
    // |x|: L = 1, reached from both sides.
    let c = Chain::from_net(&abs_net(), F, 1 << 20).unwrap();
    let b = bab_bound(&c, F, Norm::LinfMargin, &tiny_budget(1000), &|_| {}).unwrap();
    assert!((b.value - 1.0).abs() <= OUTWARD && (lower_of(&b) - 1.0).abs() <= OUTWARD, "|x|: {}", b.detail);
    let mut r = rng(60);
    let mut exact_reached = 0;
    let cases = [
        (vec![3, 3, 3], ActKind::Relu),
        (vec![4, 4, 3], ActKind::HardTanh),
        (vec![3, 5, 4, 3], ActKind::Sign),
        (vec![3, 5, 4, 3], ActKind::HardTanh),
        (vec![2, 4, 4, 3], ActKind::Relu),
        (vec![4, 6, 3], ActKind::Sign),
    ];
    for (dims, act) in cases.iter().cycle().take(18) {
        let net = random_mlp(&mut r, dims, *act, true);
        let c = Chain::from_net(&net, F, 1 << 20).unwrap();
        let b = bab_bound(
            &c,
            F,
            Norm::LinfMargin,
            &BabOptions { seconds_per_pair: 1e9, ..Default::default() },
            &|_| {},
        )
        .unwrap();
        let reg =
            exact_regions(&c, F, Norm::LinfMargin, &RegionOptions { max_hidden: 12, ..Default::default() })
                .unwrap();
        let fgl = exact_patterns(&c, F, Norm::LinfMargin, &ExactOptions::default()).unwrap();
        let ctx = format!("{dims:?} {act:?}");
        for p in &b.pairs {
            let true_l = reg.pair_value(p.t, p.j).unwrap();
            assert_le(true_l, p.value, OUTWARD, &format!("{ctx}: regions <= BaB, pair {}-{}", p.t, p.j));
        }
        assert_le(lower_of(&b), b.value, 0.0, &format!("{ctx}: lower <= upper"));
        assert_le(lower_of(&b), fgl.value, 0.0, &format!("{ctx}: lower <= FGL"));
        assert!(all_finished(&b), "{ctx}: tree not finished within the node budget: {}", b.detail);
        assert_le(b.value, fgl.value, GAP_TOL + OUTWARD, &format!("{ctx}: finished BaB <= FGL"));
        if b.value <= lower_of(&b) * 1.01 {
            exact_reached += 1;
        }
        eprintln!(
            "{ctx}: lower {:.6} regions {:.6} bab {:.6} fgl {:.6}",
            lower_of(&b),
            reg.value,
            b.value,
            fgl.value
        );
    }
    // The witnesses must do their part: on most of these nets the bracket closes to 1 %.
    assert!(exact_reached >= 9, "bracket within 1 % on only {exact_reached} of 18 nets");
}

fn product(net: &Net) -> f64 {
    spectral_product(net, F, Norm::LinfMargin, &SpectralOptions::default(), &|_| {}).unwrap().value
}

#[test]
fn order_holds_on_random_nets() {
    let mut r = rng(61);
    let acts = [ActKind::Relu, ActKind::HardTanh, ActKind::Sign];
    let (mut closed, mut with_regions) = (0, 0);
    for case in 0..1000u64 {
        let depth = 1 + r.random_range(0..2usize);
        let mut dims = vec![r.random_range(2..5usize)];
        for _ in 0..depth {
            dims.push(r.random_range(2..6usize));
        }
        dims.push(r.random_range(2..4usize));
        let affine = r.random::<bool>();
        let net = random_mlp(&mut r, &dims, acts[case as usize % 3], affine);
        let f = if case % 2 == 0 { Function::Surrogate } else { Function::Latent };
        let c = Chain::from_net(&net, f, 1 << 20).unwrap();
        let ctx = |what: &str| format!("net {case} {dims:?} {f:?}: {what}");
        let so = SampledOptions { random_points: 20, seed: case, ..Default::default() };
        let sampled = sampled_gradient(&c, f, Norm::LinfMargin, &[], &so).unwrap().value;
        let b = bab_bound(&c, f, Norm::LinfMargin, &tiny_budget(2000), &|_| {}).unwrap();
        let lp =
            lp_bound(&c, f, Norm::LinfMargin, &LpMode::Global, &LpOptions::default(), &|_| {}).unwrap().value;
        let fgl = exact_patterns(&c, f, Norm::LinfMargin, &ExactOptions::default()).unwrap().value;
        assert_le(sampled, b.value, OUTWARD, &ctx("sampled lower <= BaB"));
        assert_le(lower_of(&b), fgl, 0.0, &ctx("BaB lower <= FGL"));
        assert_le(lower_of(&b), b.value, 0.0, &ctx("BaB lower <= BaB"));
        assert_le(b.value, lp, OUTWARD, &ctx("BaB <= LP"));
        assert_le(lp, product(&net), OUTWARD, &ctx("LP <= product"));
        if all_finished(&b) {
            closed += 1;
            assert_le(b.value, fgl, GAP_TOL + OUTWARD, &ctx("finished BaB <= FGL"));
        }
        if case % 5 == 0
            && let Ok(reg) = exact_regions(&c, f, Norm::LinfMargin, &RegionOptions::default())
        {
            with_regions += 1;
            assert_le(sampled, reg.value, OUTWARD, &ctx("sampled <= regions"));
            assert_le(reg.value, b.value, OUTWARD, &ctx("true L (regions) <= BaB"));
        }
    }
    eprintln!("{closed} of 1000 trees finished; regions compared on {with_regions}");
    assert!(closed >= 900, "only {closed} of 1000 trees finished within 2000 nodes per pair");
    assert!(with_regions >= 150, "regions compared on only {with_regions} nets");
}

#[test]
fn compute_bounds_runs_bab_when_asked_for_by_name() {
    use lcr_verify::bounds::{BoundOptions, Method, Methods, compute_bounds};
    let net = random_mlp(&mut rng(62), &[3, 5, 4, 3], ActKind::Sign, true);
    let methods = Methods::try_from(vec!["lp".to_string(), "lp-bab".to_string()]).unwrap();
    assert_eq!(methods.names(), vec!["lp", "bab"]);
    assert!(!Methods::default().bab, "budgeted per pair: not in the default list");
    let mut opts = BoundOptions { methods, ..Default::default() };
    opts.bab.seconds_per_pair = 1e9;
    opts.bab.max_nodes = 5000;
    let out = compute_bounds(&net, &opts, None, &|_| {}).unwrap();
    for f in [Function::Surrogate, Function::Latent] {
        let of = |m: Method| out.bounds.iter().find(|b| b.method == m && b.function == f).unwrap();
        let (bab, lp) = (of(Method::LpBab), of(Method::LpGlobal));
        assert_eq!(bab.norm, Norm::LinfMargin);
        assert_eq!(bab.pairs.len(), 3);
        assert_le(bab.value, lp.value, OUTWARD, "BaB <= LP");
        assert_le(lower_of(bab), bab.value, 0.0, "lower <= BaB");
    }
}

#[test]
fn bad_budgets_are_refused() {
    use lcr_verify::bounds::BoundRequest;
    for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = BoundRequest { bab_seconds: Some(s), ..Default::default() }.check().unwrap_err();
        assert!(err.to_string().contains("bab_seconds"), "{err}");
    }
    assert!(
        BoundRequest { bab_seconds: Some(0.5), bab_nodes: Some(10), ..Default::default() }.check().is_ok()
    );
    let c = Chain::from_net(&abs_net(), F, 1 << 20).unwrap();
    let bad = BabOptions { seconds_per_pair: f64::NAN, ..Default::default() };
    assert!(bab_bound(&c, F, Norm::LinfMargin, &bad, &|_| {}).is_err());
    let pairs = BabOptions { pairs: Some(vec![(1, 0)]), ..Default::default() };
    assert!(bab_bound(&c, F, Norm::LinfMargin, &pairs, &|_| {}).is_err());
    assert!(bab_bound(&c, F, Norm::L2, &BabOptions::default(), &|_| {}).is_err(), "ℓ∞ margins only");
}

#[test]
fn search_candidates_are_proven_below_the_true_constant() {
    use lcr_verify::bounds::bab_search::{SearchOptions, witness_candidates};
    use lcr_verify::bounds::first_layer::FirstLayer;
    let mut r = rng(63);
    let cases = [
        (vec![6, 4, 4, 3], ActKind::Sign),
        (vec![7, 5, 3, 3], ActKind::HardTanh),
        (vec![5, 4, 4, 3], ActKind::Relu),
        (vec![8, 5, 5, 3], ActKind::Sign),
    ];
    let so = SearchOptions { restarts: 8, moves: 300, seed: 3, ..Default::default() };
    let (mut pairs, mut reached) = (0, 0);
    for (case, (dims, act)) in cases.iter().cycle().take(12).enumerate() {
        let net = random_mlp(&mut r, dims, *act, true);
        let chain = Chain::from_net(&net, F, 1 << 20).unwrap();
        let fl = FirstLayer::of(&chain).expect("a random wide first layer has full row rank");
        let reg = exact_regions(
            &chain,
            F,
            Norm::LinfMargin,
            &RegionOptions { max_hidden: 12, ..Default::default() },
        )
        .unwrap();
        let out = chain.output_dim();
        for t in 0..out {
            for j in t + 1..out {
                let ctx = format!("case {case} {dims:?} {act:?} pair {t}-{j}");
                let mut c = vec![0.0; out];
                (c[t], c[j]) = (1.0, -1.0);
                let cands = witness_candidates(&chain, &fl, &c, &so);
                assert!(
                    cands.len() >= so.restarts,
                    "{ctx}: one candidate per restart, and one per improving kick"
                );
                assert!(cands.windows(2).all(|w| w[0].0 >= w[1].0), "{ctx}: best first");
                // The preimage realises the searched pattern: the gradient norm at the input is the search's value.
                for (v, x) in &cands {
                    let g: f64 = chain.backward(&c, &chain.patterns_at(x)).iter().map(|g| g.abs()).sum();
                    assert!((g - v).abs() <= 1e-9 * v.max(1.0), "{ctx}: value {v} but {g} at its input");
                }
                let points: Vec<Vec<f64>> = cands.iter().map(|(_, x)| x.clone()).collect();
                let sopts = SampledOptions { random_points: 0, ..Default::default() };
                let proven = sampled_gradient(&chain, F, Norm::LinfMargin, &points, &sopts).unwrap();
                let lower = proven.pair_value(t, j).unwrap();
                let true_l = reg.pair_value(t, j).unwrap();
                assert_le(lower, true_l, OUTWARD, &format!("{ctx}: proven search value <= true L"));
                pairs += 1;
                reached += usize::from(lower >= true_l * 0.99);
            }
        }
    }
    eprintln!("search within 1 % of the true constant on {reached} of {pairs} pairs");
    assert!(reached * 4 >= pairs * 3, "search within 1 % of the true L on only {reached} of {pairs} pairs");
}

/// Measurement (ignored): the 24 seeded 4-8-8-3 sign nets of the tightness suite (`tests/tightness.rs`, seed 51),
/// BaB with `BAB_SECONDS` per pair (default 10), against FGL and the global LP.
#[test]
#[ignore]
fn measure_tightness_suite() {
    let mut r = rng(51);
    let (mut at_fgl, mut bracket_1pc) = (0, 0);
    for case in 0..24u64 {
        let net = random_mlp(&mut r, &[4, 8, 8, 3], ActKind::Sign, true);
        // The suite draws a sample after each net; draw it too so that the nets are the suite's.
        let _sample: Vec<Vec<f64>> =
            (0..64).map(|_| (0..4).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect();
        let c = Chain::from_net(&net, F, 1 << 20).unwrap();
        let t = std::time::Instant::now();
        let opts = measure_options(10.0);
        let b = bab_bound(&c, F, Norm::LinfMargin, &opts, &|_| {}).unwrap();
        let el = t.elapsed();
        let fgl = exact_patterns(&c, F, Norm::LinfMargin, &ExactOptions::default()).unwrap().value;
        let lp =
            lp_bound(&c, F, Norm::LinfMargin, &LpMode::Global, &LpOptions::default(), &|_| {}).unwrap().value;
        if b.value > lower_of(&b) * 1.01 {
            for p in b.detail["per_pair"].as_array().unwrap() {
                eprintln!("   {p}");
            }
        }
        at_fgl += usize::from(b.value <= fgl * 1.01);
        bracket_1pc += usize::from(b.value <= lower_of(&b) * 1.01);
        eprintln!(
            "case {case}: bab {:.5} lower {:.5} fgl {fgl:.5} lp {lp:.5} bab/fgl {:.4} bab/lower {:.4} nodes {} \
             pairs closed {} in {el:.1?}",
            b.value,
            lower_of(&b),
            b.value / fgl,
            b.value / lower_of(&b),
            b.detail["nodes"],
            b.detail["pairs_closed"]
        );
    }
    eprintln!(
        "BaB within 1 % of FGL on {at_fgl} of 24 nets; bracket [lower, BaB] within 1 % on {bracket_1pc}"
    );
}

/// Measurement (ignored): seeded 784-16-16-10 sign nets (uniform weights, as the suite's), two class pairs each,
/// `BAB_SECONDS` per pair (default 20), the pairs named by `BAB_PAIRS` ("t-j,t-j" or "all", default 0-1,2-7).
#[test]
#[ignore]
fn measure_mnist_sized() {
    let mut r = rng(52);
    for case in 0..2u64 {
        let net = random_mlp(&mut r, &[784, 16, 16, 10], ActKind::Sign, true);
        let c = Chain::from_net(&net, F, 1 << 20).unwrap();
        let pairs = match std::env::var("BAB_PAIRS").as_deref() {
            Ok("all") => None,
            Ok(list) => Some(parse_pairs(list)),
            Err(_) => Some(vec![(0, 1), (2, 7)]),
        };
        let t = std::time::Instant::now();
        let opts = BabOptions { pairs: pairs.clone(), ..measure_options(20.0) };
        let b = bab_bound(&c, F, Norm::LinfMargin, &opts, &|_| {}).unwrap();
        let lo = LpOptions { pairs, ..Default::default() };
        let lp = lp_bound(&c, F, Norm::LinfMargin, &LpMode::Global, &lo, &|_| {}).unwrap().value;
        eprintln!(
            "case {case}: bab {:.3} lower {:.3} lp {lp:.3} in {:.1?}",
            b.value,
            lower_of(&b),
            t.elapsed()
        );
        for p in b.detail["per_pair"].as_array().unwrap() {
            eprintln!("   {p}");
        }
    }
}

/// Class pairs written "t-j,t-j".
fn parse_pairs(list: &str) -> Vec<(usize, usize)> {
    list.split(',')
        .map(|p| {
            let (a, b) = p.split_once('-').expect("pairs are written t-j");
            (a.parse().expect("a class index"), b.parse().expect("a class index"))
        })
        .collect()
}

/// The trained 784-32-32-10 fixtures (`tests/fixtures/mlp32/{baseline,lcr}`), surrogate, ℓ∞: the pairs named by
/// `BAB_PAIRS` ("t-j,t-j", default 0-1) with `BAB_SECONDS` per pair (default 60).
#[test]
#[ignore]
fn measure_mlp32() {
    use lcr_verify::export::export;
    use lcr_verify::run_dir::RunDir;
    let pairs = parse_pairs(&std::env::var("BAB_PAIRS").unwrap_or_else(|_| "0-1".into()));
    for name in ["baseline", "lcr"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlp32").join(name);
        let (model, _) = RunDir::new(&dir).load_model(&candle_core::Device::Cpu).unwrap();
        let net = export(&model).unwrap();
        let c = Chain::from_net(&net, F, 1 << 22).unwrap();
        let opts = BabOptions { pairs: Some(pairs.clone()), ..measure_options(60.0) };
        let b = bab_bound(&c, F, Norm::LinfMargin, &opts, &|_| {}).unwrap();
        for p in b.detail["per_pair"].as_array().unwrap() {
            eprintln!(
                "{name} pair {}: upper {:.2} lower {:.2} bracket {:.3} closed {} nodes {}",
                p["pair"],
                p["upper"].as_f64().unwrap(),
                p["lower"].as_f64().unwrap(),
                p["upper"].as_f64().unwrap() / p["lower"].as_f64().unwrap(),
                p["closed"],
                p["nodes"]
            );
            eprintln!("   {p}");
        }
    }
}
