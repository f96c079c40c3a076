//! One training step (batch 128) of the default MLP, CNN and ResNet, without and with the LCR regulariser:
//! `train_step/{mlp,cnn,resnet}/{baseline,lcr}` (`cargo bench --bench train_step -- resnet` for one of them).
//!
//! Inputs are seeded random tensors of MNIST's shape; the cost of a step does not depend on pixel values.

use candle_core::{DType, Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use lcr_verify::model::binarize::Ste;
use lcr_verify::model::{Ctx, Model};
use lcr_verify::train::{Optimizer, RawConfig, StepSpec, train_step};

/// (name, architecture config) of the benchmarked networks: each architecture's defaults.
const WORKLOADS: [(&str, &str); 3] =
    [("mlp", "arch = \"mlp\""), ("cnn", "arch = \"cnn\""), ("resnet", "arch = \"resnet\"")];
const BATCH: usize = 128;

fn bench(c: &mut Criterion) {
    // As the `lcr-verify` binary does (see src/main.rs): element-wise work on one thread.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: set before candle starts any thread; criterion runs benchmarks on this thread.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    keep_freed_memory();
    let device = Device::Cpu;
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    for (name, toml) in WORKLOADS {
        let raw: RawConfig = toml::from_str(toml).expect("workload config");
        for lambda in [0.0, 1e-3] {
            let cfg = RawConfig { lcr_weight: Some(lambda), ..raw.clone() }.check().expect("valid");
            let model = Model::new(&cfg.model_spec(), &device, 7).expect("model");
            let mut opt =
                Optimizer::new(cfg.optimizer, &model.store, cfg.momentum, cfg.weight_decay).expect("opt");
            let x = Tensor::randn(0f32, 1.0, (BATCH, 1, 28, 28), &device).expect("x");
            let y = Tensor::arange(0u32, BATCH as u32, &device).expect("y").affine(1.0, 0.0).expect("y");
            let y = (y.to_dtype(DType::F32).unwrap() / 13.0)
                .unwrap()
                .floor()
                .unwrap()
                .to_dtype(DType::U32)
                .unwrap();
            let ctx = Ctx { train: true, binarize: true, sign_zero: cfg.sign_zero, ste: Ste::clipped() };
            let lcr = cfg.lcr();
            let spec =
                StepSpec { ctx: &ctx, lcr: (lambda > 0.0).then_some((&lcr, lambda)), lr: 1e-3, clip: true };
            let label = if lambda > 0.0 { "lcr" } else { "baseline" };
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| train_step(&model, None, &mut opt, &x, &y, &spec).expect("step"))
            });
        }
    }
    group.finish();
}

/// As the `lcr-verify` binary does for `train` and `run` (see `keep_freed_memory` in src/main.rs): freed
/// activations stay in the heap for the next step instead of coming back from the kernel as fresh pages.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; criterion runs benchmarks on this thread, and no other
    // thread allocates yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
