use candle_core::{DType, Device, Tensor};
use lcr_verify::model::*;
use lcr_verify::train::{Optimizer, RawConfig, StepSpec, train_step};
use std::time::Instant;
fn main() {
    let lambda: f64 = std::env::var("L").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let iters: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let cfg = RawConfig { lcr_weight: Some(1e-3), ..Default::default() }.check().unwrap();
    let dev = Device::Cpu;
    let model = Model::new(&cfg.model_spec(), &dev, 1).unwrap();
    let mut opt = Optimizer::new(cfg.optimizer, &model.store, 0.9, 0.0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (128, 1, 28, 28), &dev).unwrap();
    let y = Tensor::zeros(128, DType::U32, &dev).unwrap();
    let ctx =
        Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: binarize::Ste::clipped() };
    let lcr = cfg.lcr();
    let (mut tb, mut tl) = (0.0, 0.0);
    for i in 0..iters {
        for (lam, acc) in [(0.0, &mut tb), (lambda, &mut tl)] {
            let spec = StepSpec { ctx: &ctx, lcr: (lam > 0.0).then_some((&lcr, lam)), lr: 1e-3, clip: true };
            let t0 = Instant::now();
            train_step(&model, None, &mut opt, &x, &y, &spec).unwrap();
            if i > 2 {
                *acc += t0.elapsed().as_secs_f64();
            }
        }
    }
    let n = (iters - 3) as f64;
    println!("baseline {:.2} ms, lcr {:.2} ms, ratio {:.3}", tb / n * 1e3, tl / n * 1e3, tl / tb);
}
