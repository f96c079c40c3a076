//! Parity of the two forwards: the verification IR exported from a trained candle model computes the same
//! function as candle's eval forward, on the MNIST test set.

use candle_core::{DType, Device, Tensor};
use lcr_verify::data::{self, Dataset, DatasetKind};
use lcr_verify::export::export;
use lcr_verify::ir::Function;
use lcr_verify::model::binarize::Ste;
use lcr_verify::model::{Arch, Ctx, Model, ModelSpec, SignZero, WeightScaling};
use lcr_verify::train::{Optimizer, OptimizerKind, StepSpec, train_step};
use rayon::prelude::*;

/// Largest difference allowed between a candle logit and the IR's, relative to max(1, |logit|): both compute in
/// f64 and differ only in summation order.
const LOGIT_TOL: f64 = 1e-9;

fn spec(arch: Arch, widths: &[usize], scaling: WeightScaling, sign_zero: SignZero) -> ModelSpec {
    ModelSpec {
        arch,
        input: [1, 28, 28],
        classes: 10,
        widths: widths.to_vec(),
        blocks: 1,
        real_first: true,
        real_last: true,
        binary: true,
        weight_scaling: scaling,
        sign_zero,
    }
}

/// A model trained for `steps` steps of 128 MNIST training images (enough for non-trivial weights and BatchNorm
/// statistics).
fn trained(spec: &ModelSpec, ds: &Dataset, steps: usize) -> Model {
    let dev = Device::Cpu;
    let model = Model::new(spec, &dev, 5).unwrap();
    let mut opt = Optimizer::new(OptimizerKind::Adamw, &model.store, 0.9, 0.0).unwrap();
    let ctx = Ctx { train: true, binarize: true, sign_zero: spec.sign_zero, ste: Ste::clipped() };
    let step = StepSpec { ctx: &ctx, lcr: None, lr: 3e-3, clip: true };
    for s in 0..steps {
        let idx: Vec<usize> = (s * 128..(s + 1) * 128).collect();
        let x = ds.normalization.tensor(&ds.train, &idx, &dev).unwrap();
        let y =
            Tensor::new(idx.iter().map(|&i| ds.train.labels[i] as u32).collect::<Vec<_>>(), &dev).unwrap();
        train_step(&model, None, &mut opt, &x, &y, &step).unwrap();
    }
    model
}

/// Compares candle's eval forward (in f64) with the IR on the first `n` test images, for `function`.
fn assert_parity(model: &Model, ds: &Dataset, n: usize, function: Function) {
    let model64 = model.converted(DType::F64).unwrap();
    let net = export(model).unwrap();
    let ctx = match function {
        Function::Deployed => Ctx::deployed(model.spec.sign_zero),
        _ => Ctx { binarize: false, ..Ctx::deployed(model.spec.sign_zero) },
    };
    let per = 28 * 28;
    let indices: Vec<usize> = (0..n).collect();
    let mismatches: usize = indices
        .par_chunks(500)
        .map(|chunk| {
            let x =
                ds.normalization.tensor(&ds.test, chunk, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
            let logits = model64.forward(&x, &ctx).unwrap().logits.to_vec2::<f64>().unwrap();
            let flat: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
            let mut wrong = 0;
            for (k, row) in logits.iter().enumerate() {
                let ir = net.forward(&flat[k * per..(k + 1) * per], function).unwrap();
                for (a, b) in row.iter().zip(&ir) {
                    assert!((a - b).abs() <= LOGIT_TOL * a.abs().max(1.0), "image {}: {a} vs {b}", chunk[k]);
                }
                let argmax = |v: &[f64]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
                wrong += usize::from(argmax(row) != argmax(&ir));
            }
            wrong
        })
        .sum();
    assert_eq!(mismatches, 0, "predictions differ on {mismatches} images");
}

#[test]
fn mlp_parity_on_the_whole_mnist_test_set() {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    for (scaling, zero) in [(WeightScaling::None, SignZero::PlusOne), (WeightScaling::Irnet, SignZero::Zero)]
    {
        let model = trained(&spec(Arch::Mlp, &[64, 64, 64], scaling, zero), &ds, 30);
        assert_parity(&model, &ds, 10_000, Function::Deployed);
        assert_parity(&model, &ds, 2_000, Function::Latent);
    }
}

#[test]
fn cnn_parity_on_the_whole_mnist_test_set() {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    let model = trained(&spec(Arch::Cnn, &[8, 16, 16], WeightScaling::Mean, SignZero::PlusOne), &ds, 20);
    assert_parity(&model, &ds, 10_000, Function::Deployed);
}

#[test]
fn resnet_parity_on_mnist_test_images() {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    let model = trained(&spec(Arch::Resnet, &[4, 8], WeightScaling::None, SignZero::PlusOne), &ds, 10);
    assert_parity(&model, &ds, 2_000, Function::Deployed);
    assert_parity(&model, &ds, 500, Function::Latent);
}

#[test]
fn exported_points_match_candles() {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    for arch in [Arch::Mlp, Arch::Cnn, Arch::Resnet] {
        let widths: &[usize] = if arch == Arch::Mlp { &[32, 32, 32] } else { &[4, 8] };
        let model = trained(&spec(arch, widths, WeightScaling::None, SignZero::PlusOne), &ds, 3);
        let net = export(&model).unwrap();
        let model64 = model.converted(DType::F64).unwrap();
        let x = ds.normalization.tensor(&ds.test, &[0], &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
        let fwd = model64.forward(&x, &Ctx::deployed(SignZero::PlusOne)).unwrap();
        let flat: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
        let ir = net.forward_points(&flat, Function::Deployed).unwrap();
        assert_eq!(ir.points.len(), fwd.points.len(), "{arch:?}: number of points");
        for (p, t) in ir.points.iter().zip(&fwd.points) {
            let values: Vec<f64> = t.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(p.values.len(), values.len());
            for (a, b) in p.values.iter().zip(&values) {
                assert!((a - b).abs() <= LOGIT_TOL * b.abs().max(1.0), "{arch:?}: {a} vs {b}");
            }
        }
    }
}
