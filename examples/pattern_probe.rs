//! Where a pair's lp-bab bracket is loose: the largest gradient over activation patterns found by a local
//! search (every slope 0 or 1, feasibility ignored: the pattern maximum FGL from below), beside the bracket
//! [lower, upper] of `lp-bab` after a short budget. When the best pattern equals the proven lower bound, no
//! pattern the relaxation could still be paying for is worth more than the witnessed one: the gap lies on the
//! upper side only. The pattern value proves nothing about the true constant (a pattern counts only with a
//! witness point inside its region); this is a diagnostic.
//!
//! ```text
//! cargo run --release --example pattern_probe -- RUN_DIR [PAIRS|all] [RESTARTS] [BAB_SECONDS]
//! ```
//!
//! Surrogate function, ℓ∞ margins. PAIRS is `t-j,t-j` (default `all`); RESTARTS random starts per pair
//! (default 200, seeded); BAB_SECONDS per pair (default 5; 0 skips the tree).

use std::time::Instant;

use candle_core::Device;
use lcr_verify::bounds::bab::{BabOptions, bab_bound};
use lcr_verify::bounds::bab_leaf::activations;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::{Norm, class_pairs};
use lcr_verify::ir::Function;
use lcr_verify::run_dir::RunDir;
use rand::{Rng, SeedableRng};

/// Flipped slopes must raise the value by more than this (relative) to count as a move.
const MOVE_TOLERANCE: f64 = 1e-12;

/// The best ‖∇m‖₁ over patterns reached by first-improvement bit flips from `restarts` random patterns, and
/// how many restarts ended within 10⁻⁹ (relative) of it.
fn search(chain: &Chain, c: &[f64], restarts: usize, seed: u64) -> (f64, usize) {
    let widths: Vec<usize> = activations(chain).iter().map(|&(k, _)| chain.widths[k]).collect();
    let value = |p: &Vec<Vec<bool>>| chain.backward(c, p).iter().map(|g| g.abs()).sum::<f64>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ends = Vec::with_capacity(restarts);
    for _ in 0..restarts {
        let mut p: Vec<Vec<bool>> =
            widths.iter().map(|&w| (0..w).map(|_| rng.random_bool(0.5)).collect()).collect();
        let mut v = value(&p);
        let mut improved = true;
        while improved {
            improved = false;
            for a in 0..p.len() {
                for u in 0..p[a].len() {
                    p[a][u] = !p[a][u];
                    let w = value(&p);
                    if w > v * (1.0 + MOVE_TOLERANCE) {
                        (v, improved) = (w, true);
                    } else {
                        p[a][u] = !p[a][u];
                    }
                }
            }
        }
        ends.push(v);
    }
    let best = ends.iter().copied().fold(0.0, f64::max);
    (best, ends.iter().filter(|&&v| v >= best * (1.0 - 1e-9)).count())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = RunDir::new(args.first().expect("RUN_DIR"));
    let restarts: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let seconds: f64 = args.get(3).map_or(Ok(5.0), |s| s.parse())?;
    let (model, _) = run.load_model(&Device::Cpu)?;
    let net = lcr_verify::export::export(&model)?;
    let f = Function::Surrogate;
    let chain = Chain::from_net(&net, f, 1 << 28)?;
    let k = chain.output_dim();
    let pairs: Vec<(usize, usize)> = match args.get(1).map(String::as_str) {
        None | Some("all") => class_pairs(k),
        Some(list) => list
            .split(',')
            .map(|p| {
                let (a, b) = p.split_once('-').expect("pairs are written t-j");
                (a.parse().expect("a class"), b.parse().expect("a class"))
            })
            .collect(),
    };
    let bab = if seconds > 0.0 {
        let opts =
            BabOptions { pairs: Some(pairs.clone()), seconds_per_pair: seconds, ..BabOptions::default() };
        Some(bab_bound(&chain, f, Norm::LinfMargin, &opts, &|_| {})?)
    } else {
        None
    };
    println!("pair  patterns(best, restarts there, s)  lp-bab lower  upper  best/lower  upper/best");
    for (i, &(t, j)) in pairs.iter().enumerate() {
        let mut c = vec![0.0; k];
        (c[t], c[j]) = (1.0, -1.0);
        let start = Instant::now();
        let (best, hits) = search(&chain, &c, restarts, 1 + i as u64);
        let secs = start.elapsed().as_secs_f64();
        match &bab {
            Some(b) => {
                let per_pair = b.detail["per_pair"].as_array().expect("per-pair details");
                let p = per_pair.iter().find(|p| p["pair"] == serde_json::json!([t, j])).expect("the pair");
                let (lo, up) =
                    (p["lower"].as_f64().unwrap_or(f64::NAN), p["upper"].as_f64().unwrap_or(f64::NAN));
                println!(
                    "{t}-{j}   {best:9.3} {hits:4} {secs:5.1}   {lo:9.3} {up:9.3}   {:.4}   {:.3}",
                    best / lo,
                    up / best
                );
            }
            None => println!("{t}-{j}   {best:9.3} {hits:4} {secs:5.1}"),
        }
    }
    Ok(())
}
