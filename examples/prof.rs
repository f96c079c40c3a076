use candle_core::{DType, Device, Tensor};
use lcr_verify::model::*;
use lcr_verify::train::{Optimizer, OptimizerKind};
use std::time::Instant;
fn main() {
    let spec = ModelSpec {
        arch: Arch::Mlp,
        input: [1, 28, 28],
        classes: 10,
        widths: vec![1024, 1024, 1024],
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
    let x = Tensor::randn(0f32, 1.0, (128, 1, 28, 28), &dev).unwrap();
    let y = Tensor::zeros(128, DType::U32, &dev).unwrap();
    let ctx =
        Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: binarize::Ste::clipped() };
    let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
    for i in 0..20 {
        let t0 = Instant::now();
        let f = model.forward(&x, &ctx).unwrap();
        let loss = candle_nn::loss::cross_entropy(&f.logits, &y).unwrap();
        let _ = loss.to_scalar::<f32>().unwrap();
        let t1 = Instant::now();
        let g = loss.backward().unwrap();
        let t2 = Instant::now();
        opt.step(&g, 1e-3).unwrap();
        let t3 = Instant::now();
        if i >= 5 {
            tf += (t1 - t0).as_secs_f64();
            tb += (t2 - t1).as_secs_f64();
            to += (t3 - t2).as_secs_f64();
        }
    }
    println!("fwd {:.1} ms bwd {:.1} ms opt {:.1} ms", tf / 15.0 * 1e3, tb / 15.0 * 1e3, to / 15.0 * 1e3);
    let a = Tensor::randn(0f32, 1.0, (1024, 1024), &dev).unwrap();
    let t0 = Instant::now();
    for _ in 0..10 {
        let _ = a.matmul(&a).unwrap();
    }
    println!("matmul 1024^3: {:.1} ms", t0.elapsed().as_secs_f64() * 100.0);
    let t0 = Instant::now();
    for _ in 0..10 {
        let _ = (&a * 2.0).unwrap();
    }
    println!("affine 1M: {:.2} ms", t0.elapsed().as_secs_f64() * 100.0);
}
