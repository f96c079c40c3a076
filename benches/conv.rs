//! Criterion benches of the training convolution kernels (src/model/conv_gemm.rs) on every convolution shape of
//! the default CNN and ResNet at batch 128, f32: `conv/{layer}/{forward,input_grad,weight_grad}`
//! (`cargo bench --bench conv -- resnet_s0` for one layer). Each reports its throughput in multiply-adds.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    for (name, c_in, c_out, side, kernel, stride, padding) in LAYERS {
        let g = ConvShape { batch: BATCH, c_in, height: side, width: side, c_out, kernel, stride, padding };
        let mut values = |len: usize| (0..len).map(|_| rng.random_range(-1f32..1.0)).collect::<Vec<f32>>();
        let x = values(BATCH * c_in * side * side);
        let w = values(c_out * c_in * kernel * kernel);
        let dy = values(BATCH * c_out * g.out_height() * g.out_width());
        let macs = (BATCH * c_out * g.out_height() * g.out_width() * c_in * kernel * kernel) as u64;
        group.throughput(Throughput::Elements(macs));
        group.bench_function(format!("{name}/forward"), |b| b.iter(|| conv_gemm::forward(&g, &x, &w)));
        group.bench_function(format!("{name}/input_grad"), |b| b.iter(|| conv_gemm::input_grad(&g, &dy, &w)));
        group.bench_function(format!("{name}/weight_grad"), |b| {
            b.iter(|| conv_gemm::weight_grad(&g, &x, &dy))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
