use candle_core::{DType, Device, Tensor};
use lcr_verify::model::*;
use lcr_verify::train::{Optimizer, RawConfig, StepSpec, train_step};
use std::time::Instant;
fn main() {
    let cfg = RawConfig { arch: Some(Arch::Cnn), ..Default::default() }.check().unwrap();
    let dev = Device::Cpu;
    let model = Model::new(&cfg.model_spec(), &dev, 1).unwrap();
    let mut opt = Optimizer::new(cfg.optimizer, &model.store, 0.9, 0.0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (128, 1, 28, 28), &dev).unwrap();
    let y = Tensor::zeros(128, DType::U32, &dev).unwrap();
    let ctx =
        Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: binarize::Ste::clipped() };
    let spec = StepSpec { ctx: &ctx, lcr: None, lr: 1e-3, clip: true };
    let t0 = Instant::now();
    for _ in 0..3 {
        train_step(&model, None, &mut opt, &x, &y, &spec).unwrap();
    }
    println!("cnn step {:.0} ms", t0.elapsed().as_secs_f64() / 3.0 * 1e3);
}
