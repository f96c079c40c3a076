//! Criterion benches of the training convolutions (src/model/conv_fast.rs, the path the layers take, as
//! `conv/…`; the portable path of src/model/conv_gemm.rs as `conv_portable/…`) on every convolution shape of
//! the default CNN and ResNet at batch 128, f32: `conv/{layer}/{forward,input_grad,weight_grad}`
//! (`cargo bench --bench conv -- resnet_s0` for one layer). Each reports its throughput in multiply-adds.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcr_verify::model::conv_fast;
use lcr_verify::model::conv_gemm::{self, ConvShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 128;

/// (name, c_in, c_out, input side, kernel, stride, padding) of the default models' convolutions on MNIST.
const LAYERS: [(&str, usize, usize, usize, usize, usize, usize); 9] = [
    ("cnn_stem", 1, 32, 28, 3, 1, 1),
    ("cnn_conv1", 32, 64, 14, 3, 1, 1),
    ("cnn_conv2", 64, 128, 7, 3, 1, 1),
    ("resnet_s0", 16, 16, 28, 3, 1, 1),
    ("resnet_s1_down", 16, 32, 28, 3, 2, 1),
    ("resnet_s1_proj", 16, 32, 28, 1, 2, 0),
    ("resnet_s1", 32, 32, 14, 3, 1, 1),
    ("resnet_s2_down", 32, 64, 14, 3, 2, 1),
    ("resnet_s2", 64, 64, 7, 3, 1, 1),
];

/// (name, shape, x, w, dy, multiply-adds) of a layer.
type Workload = (&'static str, ConvShape, Vec<f32>, Vec<f32>, Vec<f32>, u64);

/// Every layer's workload, seeded.
fn workloads() -> Vec<Workload> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut values = |len: usize| (0..len).map(|_| rng.random_range(-1f32..1.0)).collect::<Vec<f32>>();
    LAYERS
        .iter()
        .map(|&(name, c_in, c_out, side, kernel, stride, padding)| {
            let g =
                ConvShape { batch: BATCH, c_in, height: side, width: side, c_out, kernel, stride, padding };
            let pixels = g.out_height() * g.out_width();
            let (x, w, dy) = (
                values(BATCH * c_in * side * side),
                values(c_out * c_in * kernel * kernel),
                values(BATCH * c_out * pixels),
            );
            (name, g, x, w, dy, (BATCH * c_out * pixels * c_in * kernel * kernel) as u64)
        })
        .collect()
}

type Pass = fn(&ConvShape, &[f32], &[f32]) -> Vec<f32>;

fn bench(c: &mut Criterion) {
    let loads = workloads();
    let paths: [(&str, [Pass; 3]); 2] = [
        ("conv", [conv_fast::forward, conv_fast::input_grad, conv_fast::weight_grad]),
        ("conv_portable", [conv_gemm::forward, conv_gemm::input_grad, conv_gemm::weight_grad]),
    ];
    for (group_name, [forward, input_grad, weight_grad]) in paths {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        for (name, g, x, w, dy, macs) in &loads {
            if group_name == "conv" {
                eprintln!("{name}: {} route", conv_fast::route(g));
            }
            group.throughput(Throughput::Elements(*macs));
            group.bench_function(format!("{name}/forward"), |b| b.iter(|| forward(g, x, w)));
            group.bench_function(format!("{name}/input_grad"), |b| b.iter(|| input_grad(g, dy, w)));
            group.bench_function(format!("{name}/weight_grad"), |b| b.iter(|| weight_grad(g, x, dy)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
