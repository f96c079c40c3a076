//! Criterion benches of the bound methods on named workloads (seeded inputs).
//!
//! `cargo bench --bench bounds` — conv bracket on 64→64 3×3 at 32×32; Gram bound of a 784×256 dense layer;
//! LipLP (all pairs) on a 16-16-16-3 MLP; one LipLP pair on a 784-100-100-10 MLP with Clarabel; all 45 pairs of
//! the global LipLP on a 784-384-384-10 MLP (the default MLP's shape) with the backward pass (theorem L4);
//! LipSDP-Neuron and the sequential LipSDP bound (ℓ2) on a 784-100-100-10 MLP, the sequential bound also on
//! 784-384-384-10; branch and bound on a 784-16-16-10 MLP: the box bound (B8) of the root (2¹⁶ vertices × 784)
//! and one pair's tree to a fixed number of nodes.

use criterion::{Criterion, criterion_group, criterion_main};
use lcr_verify::bounds::Norm;
use lcr_verify::bounds::chain::Chain;
use lcr_verify::bounds::conv_norm::{ConvOptions, conv_bracket};
use lcr_verify::bounds::gram::sigma_upper;
use lcr_verify::bounds::lp::{LpBackend, LpMode, LpOptions, lp_bound};
use lcr_verify::ir::{ConvGeometry, Function, Kernel, Layer, Net, SignZero};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn uniform(r: &mut ChaCha8Rng, rows: usize, cols: usize) -> DMatrix<f64> {
    let s = 1.0 / (cols as f64).sqrt();
    DMatrix::from_fn(rows, cols, |_, _| s * (2.0 * r.random::<f64>() - 1.0))
}

/// dims = [d, h, ..., classes] with Affine + Sign after every hidden layer.
fn mlp(dims: &[usize], seed: u64) -> Net {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut layers = Vec::new();
    for k in 0..dims.len() - 1 {
        layers.push(Layer::Dense { weight: uniform(&mut r, dims[k + 1], dims[k]), latent: None, bias: None });
        if k + 2 < dims.len() {
            layers.push(Layer::Affine { scale: vec![1.5; dims[k + 1]], shift: vec![0.1; dims[k + 1]] });
            layers.push(Layer::Sign);
        }
    }
    Net { input_shape: vec![dims[0]], classes: *dims.last().unwrap(), sign_zero: SignZero::PlusOne, layers }
}

fn conv(c: &mut Criterion) {
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let data = (0..64 * 64 * 9).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let k = Kernel::new(64, 64, 3, 3, data).unwrap();
    let g = ConvGeometry::new(&k, [64, 32, 32], 1, 1);
    let b = conv_bracket(&k, &g, &ConvOptions::default());
    eprintln!("conv 64->64 3x3 @32x32: upper {} lower {} gap {:.3e}", b.upper, b.lower, b.gap);
    let mut group = c.benchmark_group("spectral");
    group.sample_size(10);
    group.bench_function("conv_bracket_64x64_3x3_32x32", |bch| {
        bch.iter(|| conv_bracket(&k, &g, &ConvOptions::default()))
    });
    let w = uniform(&mut r, 256, 784);
    group.bench_function("gram_dense_256x784", |bch| bch.iter(|| sigma_upper(&w, 1e-9, 60)));
    group.finish();
}

fn lp(c: &mut Criterion) {
    let small = Chain::from_net(&mlp(&[16, 16, 16, 3], 2), Function::Surrogate, 1 << 20).unwrap();
    let mnist = Chain::from_net(&mlp(&[784, 100, 100, 10], 3), Function::Surrogate, 1 << 20).unwrap();
    let default_mlp = Chain::from_net(&mlp(&[784, 384, 384, 10], 4), Function::Surrogate, 1 << 20).unwrap();
    let one = LpOptions { pairs: Some(vec![(0, 1)]), backend: LpBackend::Clarabel, ..Default::default() };
    let mut group = c.benchmark_group("lp");
    group.sample_size(10);
    group.bench_function("liplp_global_16-16-16-3_all_pairs", |b| {
        b.iter(|| {
            lp_bound(
                &small,
                Function::Surrogate,
                Norm::LinfMargin,
                &LpMode::Global,
                &LpOptions::default(),
                &|_| {},
            )
            .unwrap()
        })
    });
    group.bench_function("liplp_global_784-100-100-10_one_pair", |b| {
        b.iter(|| {
            lp_bound(&mnist, Function::Surrogate, Norm::LinfMargin, &LpMode::Global, &one, &|_| {}).unwrap()
        })
    });
    let all = LpOptions::default();
    group.bench_function("global-45-pairs", |b| {
        b.iter(|| {
            let bound =
                lp_bound(&default_mlp, Function::Surrogate, Norm::LinfMargin, &LpMode::Global, &all, &|_| {})
                    .unwrap();
            assert_eq!(bound.pairs.len(), 45);
            bound
        })
    });
    group.finish();
}

fn lipsdp(c: &mut Criterion) {
    use lcr_verify::bounds::lipsdp::{LipSdpOptions, lipsdp_bound};
    use lcr_verify::bounds::sequential::{SequentialOptions, sequential_bound};
    let f = Function::Surrogate;
    let small = Chain::from_net(&mlp(&[784, 100, 100, 10], 4), f, 1 << 20).unwrap();
    let wide = Chain::from_net(&mlp(&[784, 384, 384, 10], 5), f, 1 << 20).unwrap();
    let mut group = c.benchmark_group("lipsdp");
    group.sample_size(10);
    group.bench_function("neuron_l2_784-100-100-10", |b| {
        b.iter(|| lipsdp_bound(&small, f, Norm::L2, &LipSdpOptions::default(), &|_| {}).unwrap())
    });
    group.bench_function("sequential_l2_784-100-100-10", |b| {
        b.iter(|| sequential_bound(&small, f, Norm::L2, &SequentialOptions::default()).unwrap())
    });
    group.bench_function("sequential_l2_784-384-384-10", |b| {
        b.iter(|| sequential_bound(&wide, f, Norm::L2, &SequentialOptions::default()).unwrap())
    });
    group.bench_function("sequential_l2-margin_784-384-384-10", |b| {
        b.iter(|| sequential_bound(&wide, f, Norm::L2Margin, &SequentialOptions::default()).unwrap())
    });
    group.finish();
}

fn bab(c: &mut Criterion) {
    use lcr_verify::bounds::bab::{BabOptions, bab_bound};
    use lcr_verify::bounds::bab_box::box_bound;
    use lcr_verify::bounds::bab_vertex::all_undecided;
    let chain = Chain::from_net(&mlp(&[784, 16, 16, 10], 6), Function::Surrogate, 1 << 20).unwrap();
    let mut margin = vec![0.0; 10];
    (margin[0], margin[1]) = (1.0, -1.0);
    let root = all_undecided(&chain);
    let mut group = c.benchmark_group("bab");
    group.sample_size(10);
    group.bench_function("box_bound_784-16-16-10_root", |b| {
        b.iter(|| box_bound(&chain, &margin, &root, 16).unwrap())
    });
    // A fixed node budget (no time budget) keeps the tree, and so the work, the same on every run.
    let opts = BabOptions {
        seconds_per_pair: f64::INFINITY,
        max_nodes: 2000,
        pairs: Some(vec![(0, 1)]),
        ..Default::default()
    };
    group.bench_function("tree_784-16-16-10_one_pair_2000_nodes", |b| {
        b.iter(|| bab_bound(&chain, Function::Surrogate, Norm::LinfMargin, &opts, &|_| {}).unwrap())
    });
    group.finish();
}

criterion_group!(benches, conv, lp, lipsdp, bab);
criterion_main!(benches);
