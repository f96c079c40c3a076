//! Criterion benches of the certificates on the default MLP shape, per batch of 256 samples (seeded inputs).
//!
//! `cargo bench --bench certify` — 784-384-384-10 (Flatten, Dense, Affine, Sign, binary Dense = per-row scale ×
//! sign, Affine, Sign, Dense), random seeded weights; pair constants from `spectral_product`. Margin radii for
//! surrogate and latent, sign stability and bound propagation (threshold form, and the ε form with the pixel
//! domain) for the deployed net, in ℓ2 and ℓ∞. Throughput is in samples per second.

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::bounds::{Bound, Norm};
use lcr_verify::certify::{
    PairTable, PointLogits, PropagationOptions, bound_propagation, margin_radii, margin_radii_at,
    sign_stability,
};
use lcr_verify::data::Normalization;
use lcr_verify::ir::{Function, InputNorm, Layer, Net, SignZero};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 256;
const NORMS: [(InputNorm, &str); 2] = [(InputNorm::L2, "l2"), (InputNorm::Linf, "linf")];

fn uniform(r: &mut ChaCha8Rng, rows: usize, cols: usize) -> DMatrix<f64> {
    let s = 1.0 / (cols as f64).sqrt();
    DMatrix::from_fn(rows, cols, |_, _| s * (2.0 * r.random::<f64>() - 1.0))
}

fn affine(r: &mut ChaCha8Rng, n: usize) -> Layer {
    Layer::Affine {
        scale: (0..n).map(|_| 0.5 + r.random::<f64>()).collect(),
        shift: (0..n).map(|_| 0.2 * (r.random::<f64>() - 0.5)).collect(),
    }
}

/// The default MLP shape with a binary middle layer (per-row scale × sign of the latent weights).
fn mlp(seed: u64) -> Net {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let bias = |r: &mut ChaCha8Rng, n| Some(DVector::from_fn(n, |_, _| 0.1 * (r.random::<f64>() - 0.5)));
    let first = Layer::Dense { weight: uniform(&mut r, 384, 784), latent: None, bias: bias(&mut r, 384) };
    let latent = uniform(&mut r, 384, 384);
    let scales: Vec<f64> =
        (0..384).map(|i| latent.row(i).iter().map(|v| v.abs()).sum::<f64>() / 384.0).collect();
    let weight = DMatrix::from_fn(384, 384, |i, j| scales[i] * latent[(i, j)].signum());
    let a1 = affine(&mut r, 384);
    let a2 = affine(&mut r, 384);
    let head = Layer::Dense { weight: uniform(&mut r, 10, 384), latent: None, bias: bias(&mut r, 10) };
    Net {
        input_shape: vec![1, 28, 28],
        classes: 10,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Flatten,
            first,
            a1,
            Layer::Sign,
            Layer::Dense { weight, latent: Some(latent), bias: None },
            a2,
            Layer::Sign,
            head,
        ],
    }
}

/// MNIST-like inputs: 80 % background pixels, the rest uniform, normalised with the MNIST constants.
fn inputs(seed: u64) -> DMatrix<f64> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let norm = Normalization { mean: vec![0.1307], std: vec![0.3081] };
    DMatrix::from_fn(784, BATCH, |_, _| {
        let p = if r.random::<f64>() < 0.8 { 0 } else { r.random_range(0..=255u8) };
        norm.apply(p, 0) as f64
    })
}

fn predictions(net: &Net, f: Function, x: &DMatrix<f64>) -> Vec<usize> {
    x.column_iter()
        .map(|c| {
            let out = net.forward(c.as_slice(), f).unwrap();
            (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b])).unwrap()
        })
        .collect()
}

fn pair_bounds(net: &Net, f: Function) -> Vec<Bound> {
    let start = Instant::now();
    let b = [Norm::L2Margin, Norm::LinfMargin]
        .into_iter()
        .map(|n| spectral_product(net, f, n, &SpectralOptions::default(), &|_| {}).unwrap())
        .collect();
    eprintln!("spectral_product pair constants of {f:?}: {:.2} s", start.elapsed().as_secs_f64());
    b
}

fn certify(c: &mut Criterion) {
    let net = mlp(1);
    let x = inputs(2);
    let (lo, hi) = Normalization { mean: vec![0.1307], std: vec![0.3081] }.input_box(28, 28);
    let mut group = c.benchmark_group("certify_784-384-384-10_batch256");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    for f in [Function::Surrogate, Function::Latent] {
        let bounds = pair_bounds(&net, f);
        let labels = predictions(&net, f, &x);
        let tables: Vec<PairTable> =
            NORMS.iter().map(|&(norm, _)| PairTable::from_bounds(&bounds, f, norm, 10).unwrap()).collect();
        for ((_, name), table) in NORMS.iter().zip(&tables) {
            let certified = margin_radii(&net, f, table, &x, &labels).unwrap();
            let mean = certified.iter().map(|m| m.radius).sum::<f64>() / BATCH as f64;
            eprintln!("margin {f:?} {name}: mean radius {mean:.3e}");
            group.bench_function(format!("margin_{}_{name}", f.name()), |b| {
                b.iter(|| margin_radii(&net, f, table, &x, &labels).unwrap())
            });
        }
        // Both norms from one point enclosure, as a certify run would do.
        group.bench_function(format!("margin_{}_both_norms", f.name()), |b| {
            b.iter(|| {
                let points = PointLogits::new(&net, f, &x).unwrap();
                tables.iter().map(|t| margin_radii_at(&points, t, &labels).unwrap()).collect::<Vec<_>>()
            })
        });
    }
    let labels = predictions(&net, Function::Deployed, &x);
    for (norm, name) in NORMS {
        let p = bound_propagation(&net, &x, &labels, norm, &PropagationOptions::default()).unwrap();
        let mean = |v: &dyn Fn(usize) -> f64| (0..BATCH).map(v).sum::<f64>() / BATCH as f64;
        eprintln!(
            "deployed {name}: mean stability radius {:.3e}, mean propagation radius {:.3e}",
            mean(&|k| p[k].stability.unwrap()),
            mean(&|k| p[k].radius)
        );
        group.bench_function(format!("stability_{name}"), |b| {
            b.iter(|| sign_stability(&net, &x, &labels, norm).unwrap().unwrap())
        });
        group.bench_function(format!("propagation_{name}"), |b| {
            b.iter(|| bound_propagation(&net, &x, &labels, norm, &PropagationOptions::default()).unwrap())
        });
        let domain = PropagationOptions { domain: Some((lo.clone(), hi.clone())), ..Default::default() };
        group.bench_function(format!("propagation_domain_{name}"), |b| {
            b.iter(|| bound_propagation(&net, &x, &labels, norm, &domain).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, certify);
criterion_main!(benches);
