//! Every bound method on a 784-w-w-10 binary MLP (seeded random weights, real MNIST test images as the sample).
//!
//! ```text
//! cargo run --release --example mnist_mlp_bounds -- [WIDTH] [SAMPLES]
//! ```
//! Prints the bounds table and the time of each method. The weights are random, not trained: the trained model
//! comes from `lcr-verify train`, and `lcr-verify bound RUN_DIR` runs the same code on it.

use std::time::Instant;

use lcr_verify::bounds::{BoundOptions, Method, Norm, compute_bounds, render_table};
use lcr_verify::data::{DatasetKind, load};
use lcr_verify::ir::{Function, Layer, Net, SignZero};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn mlp(w: usize, seed: u64) -> Net {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut u = |rows: usize, cols: usize| {
        let s = 1.0 / (cols as f64).sqrt();
        DMatrix::from_fn(rows, cols, |_, _| s * (2.0 * r.random::<f64>() - 1.0))
    };
    // Binary weights: per-row scale mean|w| times sign(w).
    let binary = |lat: DMatrix<f64>| {
        let w = DMatrix::from_fn(lat.nrows(), lat.ncols(), |i, j| {
            let m = lat.row(i).map(f64::abs).mean();
            if lat[(i, j)] >= 0.0 { m } else { -m }
        });
        Layer::Dense { weight: w, latent: Some(lat), bias: None }
    };
    let bn = |n: usize, k: f64| Layer::Affine { scale: vec![k; n], shift: vec![0.0; n] };
    Net {
        input_shape: vec![1, 28, 28],
        classes: 10,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Flatten,
            Layer::Dense { weight: u(w, 784), latent: None, bias: Some(DVector::zeros(w)) },
            bn(w, 2.0),
            Layer::Sign,
            binary(u(w, w)),
            bn(w, 4.0),
            Layer::Sign,
            Layer::Dense { weight: u(10, w), latent: None, bias: Some(DVector::zeros(10)) },
        ],
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (w, n) = (args.first().copied().unwrap_or(100), args.get(1).copied().unwrap_or(256));
    let net = mlp(w, 7);
    let data = load(DatasetKind::Mnist, None)?;
    let idx: Vec<usize> = (0..n).collect();
    let flat = data.normalization.values(&data.test, &idx)?;
    let sample: Vec<Vec<f64>> = flat.chunks(784).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    let opts = BoundOptions {
        functions: vec![Function::Surrogate],
        lp_local_radius: Some(0.02),
        ..Default::default()
    };
    let start = Instant::now();
    let out = compute_bounds(&net, &opts, Some(&sample), &|m| eprintln!("  {m}"))?;
    println!(
        "784-{w}-{w}-10 binary MLP, {n} MNIST test images, total {:.1} s\n",
        start.elapsed().as_secs_f64()
    );
    println!("{}", render_table(&out.bounds, &out.skipped));
    let get = |m: Method| out.bounds.iter().find(|b| b.method == m && b.norm == Norm::LinfMargin);
    if let (Some(lp), Some(p)) = (get(Method::LpGlobal), get(Method::SpectralProduct)) {
        println!(
            "linf margins: LP {:.6e} ({:.1} s) vs product {:.6e}: LP/product = {:.4}",
            lp.value,
            lp.seconds,
            p.value,
            lp.value / p.value
        );
    }
    Ok(())
}
