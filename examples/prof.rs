use candle_core::{DType, Device, Tensor};
use lcr_verify::model::*;
use lcr_verify::train::{Optimizer, OptimizerKind};
use std::time::Instant;
fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}
fn main() {
    let cnn = std::env::var("CNN").is_ok();
    let widths: Vec<usize> = std::env::var("W")
        .map(|w| w.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or(vec![1024, 1024, 1024]);
    let b: usize = env("B", 128);
    let iters: usize = env("N", 10);
    let spec = ModelSpec {
        arch: if cnn { Arch::Cnn } else { Arch::Mlp },
        input: [1, 28, 28],
        classes: 10,
        widths,
        blocks: 1,
        real_first: true,
        real_last: true,
        binary: true,
        weight_scaling: WeightScaling::None,
        sign_zero: SignZero::PlusOne,
    };
    let dev = Device::Cpu;
    let model = Model::new(&spec, &dev, 1).unwrap();
    let mut opt = Optimizer::new(OptimizerKind::Adamw, &model.store, 0.9, 0.0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (b, 1, 28, 28), &dev).unwrap();
    let y = Tensor::zeros(b, DType::U32, &dev).unwrap();
    let ctx =
        Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: binarize::Ste::clipped() };
    let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
    for i in 0..iters {
        let t0 = Instant::now();
        let f = model.forward(&x, &ctx).unwrap();
        let loss = candle_nn::loss::cross_entropy(&f.logits, &y).unwrap();
        let _ = loss.to_scalar::<f32>().unwrap();
        let t1 = Instant::now();
        let g = loss.backward().unwrap();
        let t2 = Instant::now();
        opt.step(&g, 1e-3).unwrap();
        let t3 = Instant::now();
        if i >= 1 {
            tf += (t1 - t0).as_secs_f64();
            tb += (t2 - t1).as_secs_f64();
            to += (t3 - t2).as_secs_f64();
        }
    }
    let n = (iters - 1) as f64;
    println!("fwd {:.1} ms bwd {:.1} ms opt {:.1} ms", tf / n * 1e3, tb / n * 1e3, to / n * 1e3);
}
