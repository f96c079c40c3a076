//! The verification IR: forward semantics in the three functions, points, validation errors.
mod common;

use common::*;
use lcr_verify::Error;
use lcr_verify::ir::{ConvGeometry, Function, Kernel, Layer, Net, SignZero, conv2d, conv2d_transpose};
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// Exact comparisons: these forwards involve a handful of exactly representable operations.
const EXACT: f64 = 0.0;

fn dense(rows: usize, cols: usize, w: &[f64]) -> Layer {
    Layer::Dense { weight: DMatrix::from_row_slice(rows, cols, w), latent: None, bias: None }
}

/// x → Dense(real) → Sign → Dense(binary: weight = 0.5·sign(latent)) → logits.
fn tiny_binary(zero: SignZero) -> Net {
    Net {
        input_shape: vec![2],
        classes: 1,
        sign_zero: zero,
        layers: vec![
            dense(2, 2, &[1.0, 0.0, 0.0, 2.0]),
            Layer::Sign,
            Layer::Dense {
                weight: DMatrix::from_row_slice(1, 2, &[0.5, -0.5]),
                latent: Some(DMatrix::from_row_slice(1, 2, &[0.25, -0.75])),
                bias: Some(DVector::from_vec(vec![0.125])),
            },
        ],
    }
}

#[test]
fn three_functions_differ_as_specified() {
    let net = tiny_binary(SignZero::PlusOne);
    let x = [0.25, -0.25]; // hidden pre-activations (0.25, −0.5)
    // deployed: signs (1, −1) → 0.5·1 − 0.5·(−1) + 0.125
    assert_eq!(net.forward(&x, Function::Deployed).unwrap(), vec![1.125]);
    // surrogate: hardtanh (0.25, −0.5) → 0.125 + 0.25 + 0.125
    assert_eq!(net.forward(&x, Function::Surrogate).unwrap(), vec![0.5]);
    // latent: 0.25·0.25 − 0.75·(−0.5) + 0.125
    assert!((net.forward(&x, Function::Latent).unwrap()[0] - 0.5625).abs() <= EXACT);
}

#[test]
fn sign_zero_convention_is_honoured() {
    let x = [0.0, 1.0];
    assert_eq!(
        tiny_binary(SignZero::PlusOne).forward(&x, Function::Deployed).unwrap(),
        vec![0.5 - 0.5 + 0.125]
    );
    assert_eq!(tiny_binary(SignZero::Zero).forward(&x, Function::Deployed).unwrap(), vec![-0.5 + 0.125]);
}

fn naive_conv(k: &Kernel, x: &[f64], c: usize, h: usize, w: usize, s: usize, p: usize) -> Vec<f64> {
    let g = ConvGeometry::new(k, [c, h, w], s, p);
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = vec![0.0; k.c_out * oh * ow];
    for o in 0..k.c_out {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = 0.0;
                for ci in 0..c {
                    for a in 0..k.kh {
                        for b in 0..k.kw {
                            let (r, q) =
                                ((i * s + a) as isize - p as isize, (j * s + b) as isize - p as isize);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                acc += k.at(o, ci, a, b) * x[(ci * h + r as usize) * w + q as usize];
                            }
                        }
                    }
                }
                y[(o * oh + i) * ow + j] = acc;
            }
        }
    }
    y
}

#[test]
fn conv_matches_direct_sum_and_transpose_is_adjoint() {
    let mut r = rng(1);
    for &(c, o, h, w, k, s, p) in
        &[(3, 4, 7, 5, 3, 1, 1), (2, 3, 8, 8, 3, 2, 1), (2, 2, 6, 7, 1, 2, 0), (1, 2, 5, 5, 5, 1, 2)]
    {
        let kern = random_kernel(&mut r, o, c, k);
        let x: Vec<f64> = (0..c * h * w).map(|_| r.random::<f64>() - 0.5).collect();
        let g = ConvGeometry::new(&kern, [c, h, w], s, p);
        let y = conv2d(&kern, &g, &x);
        let yn = naive_conv(&kern, &x, c, h, w, s, p);
        for (a, b) in y.iter().zip(&yn) {
            assert!((a - b).abs() <= ROUNDING * (1.0 + b.abs()), "conv {a} vs {b}");
        }
        let v: Vec<f64> = (0..y.len()).map(|_| r.random::<f64>() - 0.5).collect();
        let xt = conv2d_transpose(&kern, &g, &v);
        let lhs: f64 = y.iter().zip(&v).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&xt).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() <= ROUNDING * (1.0 + lhs.abs()), "<Ax,y> {lhs} vs <x,A^T y> {rhs}");
    }
}

#[test]
fn pooling_layers() {
    // One channel 4×4 image 0..16.
    let x: Vec<f64> = (0..16).map(|v| v as f64).collect();
    let mk = |layer: Layer, classes| Net {
        input_shape: vec![1, 4, 4],
        classes,
        sign_zero: SignZero::PlusOne,
        layers: vec![layer, Layer::Flatten],
    };
    let mp = mk(Layer::MaxPool { kernel: 2, stride: 2, padding: 0 }, 4);
    assert_eq!(mp.forward(&x, Function::Surrogate).unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
    let mp_pad = mk(Layer::MaxPool { kernel: 3, stride: 2, padding: 1 }, 4);
    assert_eq!(mp_pad.forward(&x, Function::Surrogate).unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
    let ap = mk(Layer::AvgPool { kernel: 2, stride: 2 }, 4);
    assert_eq!(ap.forward(&x, Function::Surrogate).unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
    let gap = mk(Layer::GlobalAvgPool, 1);
    assert_eq!(gap.forward(&x, Function::Surrogate).unwrap(), vec![7.5]);
}

#[test]
fn points_follow_the_signs() {
    let mut r = rng(2);
    let mlp = random_mlp(&mut r, &[5, 4, 4, 4, 3], ActKind::Sign, true);
    let x: Vec<f64> = (0..5).map(|i| i as f64 * 0.1).collect();
    let f = mlp.forward_points(&x, Function::Deployed).unwrap();
    assert_eq!(f.points.len(), 3, "one point per sign");
    assert!(f.points.iter().all(|p| p.shape == vec![4]));
    assert_eq!(f.logits, mlp.forward(&x, Function::Deployed).unwrap());

    let net = tiny_resnet(3);
    net.validate().unwrap();
    let x: Vec<f64> = (0..64).map(|i| (i as f64 * 0.37).sin()).collect();
    let f = net.forward_points(&x, Function::Deployed).unwrap();
    let shapes: Vec<Vec<usize>> = f.points.iter().map(|p| p.shape.clone()).collect();
    assert_eq!(
        shapes,
        vec![vec![2, 8, 8], vec![2, 8, 8], vec![4, 4, 4]],
        "block inputs and the last block's output"
    );
    // The last point is taken after the HardTanh that follows the block.
    assert!(f.points[2].values.iter().all(|v| v.abs() <= 1.0));
}

#[test]
fn residual_adds_branches() {
    let net = Net {
        input_shape: vec![2],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![Layer::Residual { body: vec![dense(2, 2, &[2.0, 0.0, 0.0, 3.0])], shortcut: vec![] }],
    };
    assert_eq!(net.forward(&[1.0, 1.0], Function::Surrogate).unwrap(), vec![3.0, 4.0]);
}

fn expect_err(net: &Net, what: &str, pred: impl Fn(&Error) -> bool) {
    let e = net.validate().expect_err(what);
    assert!(pred(&e), "{what}: unexpected error {e}");
    let msg = e.to_string();
    assert!(msg.contains("layer"), "{what}: message should name the layer: {msg}");
}

#[test]
fn bad_nets_give_clear_errors() {
    let mut r = rng(4);
    let mut net = random_mlp(&mut r, &[3, 4, 2], ActKind::Relu, false);
    if let Layer::Dense { weight, .. } = &mut net.layers[0] {
        weight[(1, 2)] = f64::NAN;
    }
    expect_err(
        &net,
        "NaN weight",
        |e| matches!(e, Error::NonFinite { context } if context.contains("layer 0 (dense) weight")),
    );

    let mut net = random_mlp(&mut r, &[3, 4, 2], ActKind::Relu, false);
    net.layers[2] = Layer::Dense { weight: uniform(&mut r, 2, 5), latent: None, bias: None };
    expect_err(
        &net,
        "dense input mismatch",
        |e| matches!(e, Error::Shape { expected, found, .. } if expected == &vec![5] && found == &vec![4]),
    );

    let mut net = random_mlp(&mut r, &[3, 4, 2], ActKind::Relu, false);
    net.layers.insert(1, Layer::Affine { scale: vec![1.0; 3], shift: vec![0.0; 4] });
    expect_err(&net, "affine length", |e| matches!(e, Error::Shape { .. }));

    let mut net = tiny_resnet(5);
    if let Layer::Residual { shortcut, .. } = &mut net.layers[5] {
        shortcut.clear();
    }
    expect_err(
        &net,
        "residual branch shapes",
        |e| matches!(e, Error::Shape { context, .. } if context.contains("layer 5 (residual)")),
    );

    let mut net = tiny_resnet(6);
    if let Layer::Conv2d { in_shape, .. } = &mut net.layers[0] {
        *in_shape = [1, 9, 9];
    }
    expect_err(&net, "conv input shape", |e| matches!(e, Error::Shape { .. }));

    let mut net = tiny_resnet(7);
    net.classes = 4;
    assert!(matches!(net.validate(), Err(Error::Shape { .. })));

    let net = tiny_resnet(8);
    assert!(matches!(net.forward(&[0.0; 63], Function::Surrogate), Err(Error::Shape { .. })));
    let mut x = vec![0.0; 64];
    x[3] = f64::INFINITY;
    assert!(matches!(net.forward(&x, Function::Surrogate), Err(Error::NonFinite { .. })));
    assert!(matches!(Kernel::new(2, 2, 3, 3, vec![0.0; 17]), Err(Error::Shape { .. })));
}
