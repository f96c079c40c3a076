//! Criterion benches of PGD on the default network shapes (random weights, seeded), surrogate and deployed.
//!
//! `cargo bench --bench attack` — one PGD run of 10 ℓ∞ steps (10 forward–backward passes and one final forward
//! pass, no confirmation: the budget is too small to change a label), reported as steps per second:
//! * MLP 784-384-384-10: flatten, dense (real), affine, sign, dense 384→384 (binary), affine, sign, dense head;
//! * CNN on 1×28×28 with widths 32-64-128: [conv 3×3 → max-pool 2 → affine] per block with a sign before each
//!   binary conv, flatten, sign, dense head (the layout `export` gives the trained CNN);
//!
//! and `matvec/384x784/{ir,nalgebra}`: the dense product the MLP's forward passes spend most of their time in.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcr_verify::attack::{PgdConfig, Sample, Start, StepSchedule, Target, pgd};
use lcr_verify::ir::{Function, InputNorm, Kernel, Layer, Net, SignZero};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Steps per PGD run.
const STEPS: usize = 10;

fn uniform(r: &mut ChaCha8Rng, len: usize, fan_in: usize) -> Vec<f64> {
    let s = 1.0 / (fan_in as f64).sqrt();
    (0..len).map(|_| s * (2.0 * r.random::<f64>() - 1.0)).collect()
}

fn binarised(latent: &[f64]) -> Vec<f64> {
    let scale = latent.iter().map(|v| v.abs()).sum::<f64>() / latent.len() as f64;
    latent.iter().map(|v| if *v >= 0.0 { scale } else { -scale }).collect()
}

/// A folded BatchNorm with scale 1 and a generic shift in [−0.1, 0.1] (a zero shift would leave binary
/// pre-activations, integer multiples of the weight scale, exactly at sign's discontinuity).
fn affine(r: &mut ChaCha8Rng, n: usize) -> Layer {
    Layer::Affine { scale: vec![1.0; n], shift: (0..n).map(|_| 0.2 * r.random::<f64>() - 0.1).collect() }
}

fn dense(r: &mut ChaCha8Rng, out: usize, inp: usize, binary: bool) -> Layer {
    let latent = DMatrix::from_row_slice(out, inp, &uniform(r, out * inp, inp));
    if binary {
        let weight = DMatrix::from_row_slice(out, inp, &binarised(latent.transpose().as_slice()));
        Layer::Dense { weight, latent: Some(latent), bias: None }
    } else {
        Layer::Dense { weight: latent, latent: None, bias: Some(DVector::zeros(out)) }
    }
}

fn mlp() -> Net {
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let layers = vec![
        Layer::Flatten,
        dense(&mut r, 384, 784, false),
        affine(&mut r, 384),
        Layer::Sign,
        dense(&mut r, 384, 384, true),
        affine(&mut r, 384),
        Layer::Sign,
        dense(&mut r, 10, 384, false),
    ];
    Net { input_shape: vec![1, 28, 28], classes: 10, sign_zero: SignZero::PlusOne, layers }
}

fn conv(r: &mut ChaCha8Rng, c_in: usize, c_out: usize, hw: usize, binary: bool) -> Layer {
    let data = uniform(r, c_out * c_in * 9, c_in * 9);
    let latent = Kernel::new(c_out, c_in, 3, 3, data.clone()).unwrap();
    let weight =
        if binary { Kernel::new(c_out, c_in, 3, 3, binarised(&data)).unwrap() } else { latent.clone() };
    Layer::Conv2d {
        weight,
        latent: binary.then_some(latent),
        bias: None,
        stride: 1,
        padding: 1,
        in_shape: [c_in, hw, hw],
    }
}

fn cnn() -> Net {
    let mut r = ChaCha8Rng::seed_from_u64(2);
    let pool = || Layer::MaxPool { kernel: 2, stride: 2, padding: 0 };
    let mut layers = vec![conv(&mut r, 1, 32, 28, false), pool()];
    layers.push(affine(&mut r, 32));
    for (c_in, c_out, hw) in [(32, 64, 14), (64, 128, 7)] {
        layers.extend([Layer::Sign, conv(&mut r, c_in, c_out, hw, true), pool()]);
        layers.push(affine(&mut r, c_out));
    }
    layers.extend([Layer::Flatten, Layer::Sign, dense(&mut r, 10, 128 * 3 * 3, false)]);
    Net { input_shape: vec![1, 28, 28], classes: 10, sign_zero: SignZero::PlusOne, layers }
}

fn pgd_steps(c: &mut Criterion) {
    let config = PgdConfig {
        steps: STEPS,
        restarts: 1,
        targeted: 0,
        schedule: StepSchedule::Constant(0.25),
        start: Start::Clean,
        stop_at_first: false,
    };
    let mut group = c.benchmark_group("pgd_linf_10_steps");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STEPS as u64));
    for (name, net) in [("mlp_784-384-384-10", mlp()), ("cnn_32-64-128", cnn())] {
        net.validate().unwrap();
        let mut r = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f64> = (0..784).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
        let domain = (vec![-1.0; 784], vec![1.0; 784]);
        for f in [Function::Surrogate, Function::Deployed] {
            let z = net.forward(&x, f).unwrap();
            let label = (0..10).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap();
            let target = Target::new(&net, f, InputNorm::Linf, &domain, 0).unwrap();
            let sample = Sample { x: &x, label, index: 0 };
            let out = pgd(&target, &sample, 1e-9, &config).unwrap();
            assert_eq!(out.gradient_calls, STEPS, "{name} {f:?}: every step has a direction");
            assert!(out.adversarial.is_none(), "{name} {f:?}: no confirmation in the timed loop");
            group.bench_function(format!("{name}_{}", f.name()), |b| {
                b.iter(|| pgd(&target, &sample, 1e-9, &config).unwrap())
            });
        }
    }
    group.finish();
}

/// The forward pass's product with the MLP's first weight matrix, 384×784 in `f64`: `matvec/384x784/ir` (the
/// verification IR's, `lcr_verify::ir::matvec::mul`) against `matvec/384x784/nalgebra` (the same bits).
fn matvec(c: &mut Criterion) {
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let w = DMatrix::from_vec(384, 784, uniform(&mut r, 384 * 784, 784));
    let x: Vec<f64> = (0..784).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let xv = DVector::from_column_slice(&x);
    assert_eq!(lcr_verify::ir::matvec::mul(&w, &x), (&w * &xv).as_slice(), "the same products");
    let mut group = c.benchmark_group("matvec/384x784");
    group.bench_function("ir", |b| b.iter(|| lcr_verify::ir::matvec::mul(&w, &x)));
    group.bench_function("nalgebra", |b| b.iter(|| &w * &xv));
    group.finish();
}

criterion_group!(benches, pgd_steps, matvec);
criterion_main!(benches);
