//! Vector–Jacobian products of the IR (`Net::value_and_grad`): the true gradient of the surrogate and latent
//! functions against central differences, the forward values against `Net::forward`, and the straight-through
//! (BPDA) backward of the deployed function.

mod common;

use common::{ActKind, random_kernel, random_mlp, rng, tiny_cnn, tiny_resnet, uniform};
use lcr_verify::ir::{Function, Layer, Net, SignZero};
use rand::Rng;

/// Step of the central differences.
const FD_STEP: f64 = 1e-6;
/// Agreement of a central difference with the gradient, relative to max(1, |value|): the networks are
/// piecewise linear, so away from kinks the difference is exact up to rounding (~1e-16·|f|/FD_STEP).
const FD_TOL: f64 = 1e-6;

/// A CNN with every pooling kind: conv (stride 2), ReLU, average pooling, a padded max pooling, flatten, dense.
fn pooling_cnn(seed: u64) -> Net {
    let mut r = rng(seed);
    Net {
        input_shape: vec![2, 9, 9],
        classes: 3,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Conv2d {
                weight: random_kernel(&mut r, 3, 2, 3),
                latent: None,
                bias: Some(vec![0.1, -0.2, 0.05]),
                stride: 1,
                padding: 1,
                in_shape: [2, 9, 9],
            },
            Layer::Relu,
            Layer::AvgPool { kernel: 3, stride: 2 },
            Layer::Affine { scale: vec![1.5, -0.7, 0.9], shift: vec![0.0, 0.2, -0.1] },
            Layer::HardTanh,
            Layer::MaxPool { kernel: 2, stride: 1, padding: 1 },
            Layer::Flatten,
            Layer::Dense { weight: uniform(&mut r, 3, 75), latent: None, bias: None },
        ],
    }
}

fn nets() -> Vec<(String, Net)> {
    let mut r = rng(5);
    let mut out = Vec::new();
    for (i, act) in [ActKind::Sign, ActKind::HardTanh, ActKind::Relu].into_iter().enumerate() {
        out.push((format!("mlp-{i}"), random_mlp(&mut r, &[6, 9, 8, 4], act, true)));
    }
    out.push(("tiny-cnn".into(), tiny_cnn(8)));
    out.push(("tiny-resnet".into(), tiny_resnet(9)));
    out.push(("pooling-cnn".into(), pooling_cnn(10)));
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn random_vec(r: &mut impl Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()
}

#[test]
fn gradients_match_central_differences_on_surrogate_and_latent() {
    let mut r = rng(21);
    for (name, net) in nets() {
        let n = net.input_len();
        for f in [Function::Surrogate, Function::Latent] {
            for _ in 0..4 {
                let x = random_vec(&mut r, n);
                let c = random_vec(&mut r, net.classes);
                let cot = |_: &[f64]| c.clone();
                let (_, g) = net.value_and_grad(&x, f, &cot).unwrap();
                let value = |y: &[f64]| dot(&c, &net.forward(y, f).unwrap());
                // Every coordinate on the small nets, random directions on the image nets.
                let dirs: Vec<Vec<f64>> = if n <= 8 {
                    (0..n).map(|i| (0..n).map(|k| if k == i { 1.0 } else { 0.0 }).collect()).collect()
                } else {
                    (0..6).map(|_| random_vec(&mut r, n)).collect()
                };
                for v in dirs {
                    let plus: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + FD_STEP * b).collect();
                    let minus: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - FD_STEP * b).collect();
                    let fd = (value(&plus) - value(&minus)) / (2.0 * FD_STEP);
                    let gv = dot(&g, &v);
                    assert!(
                        (fd - gv).abs() <= FD_TOL * gv.abs().max(1.0),
                        "{name} {f:?}: central difference {fd} vs gradient {gv}"
                    );
                }
            }
        }
    }
}

#[test]
fn logits_are_the_forward_pass_bit_for_bit() {
    let mut r = rng(22);
    for (name, net) in nets() {
        for f in [Function::Deployed, Function::Surrogate, Function::Latent] {
            let x = random_vec(&mut r, net.input_len());
            let zero = vec![0.0; net.classes];
            let (z, g) = net.value_and_grad(&x, f, &|_| zero.clone()).unwrap();
            assert_eq!(z, net.forward(&x, f).unwrap(), "{name} {f:?}");
            assert!(g.iter().all(|v| *v == 0.0), "{name} {f:?}: a zero cotangent pulls back to zero");
        }
    }
}

/// With a single sign layer the deployed (straight-through) and surrogate (hardtanh) backward passes differ
/// only in the derivative at |u| = 1 (1 against 0): for a fixed cotangent they agree exactly when no sign
/// input sits there, although the forward values differ.
#[test]
fn deployed_backward_equals_surrogate_backward_with_one_sign_layer() {
    let mut r = rng(23);
    for k in 0..20 {
        let net = random_mlp(&mut r, &[7, 12, 5], ActKind::Sign, k % 2 == 0);
        let x = random_vec(&mut r, 7);
        let u = &net.forward_points(&x, Function::Deployed).unwrap().points[0].values;
        assert!(u.iter().all(|v| v.abs() != 1.0), "a sign input on the window's edge");
        let c = random_vec(&mut r, 5);
        let (zd, gd) = net.value_and_grad(&x, Function::Deployed, &|_| c.clone()).unwrap();
        let (zs, gs) = net.value_and_grad(&x, Function::Surrogate, &|_| c.clone()).unwrap();
        assert_eq!(gd, gs, "net {k}");
        if u.iter().any(|v| v.abs() < 1.0) {
            assert_ne!(zd, zs, "net {k}: sign and hardtanh differ inside the window");
        }
    }
}

/// A deployed net whose sign inputs all lie outside the straight-through window [−1, 1] has a zero BPDA
/// gradient, whatever the cotangent; inside the window the gradient is not zero.
#[test]
fn deployed_gradient_vanishes_outside_the_straight_through_window() {
    let mut r = rng(24);
    let mut net = random_mlp(&mut r, &[6, 10, 10, 3], ActKind::Sign, true);
    let x = random_vec(&mut r, 6);
    let c = vec![1.0, -1.0, 0.5];
    let (_, g) = net.value_and_grad(&x, Function::Deployed, &|_| c.clone()).unwrap();
    assert!(g.iter().any(|v| *v != 0.0), "some sign input of a random net lies in the window");
    // Push every sign input out of the window: scale the affine maps before each sign by a large factor.
    for layer in &mut net.layers {
        if let Layer::Affine { scale, shift } = layer {
            scale.iter_mut().for_each(|s| *s *= 1e6);
            shift.iter_mut().for_each(|s| *s *= 1e6);
        }
    }
    let fw = net.forward_points(&x, Function::Deployed).unwrap();
    assert!(fw.points.iter().all(|p| p.values.iter().all(|v| v.abs() > 1.0)));
    let (_, g) = net.value_and_grad(&x, Function::Deployed, &|_| c.clone()).unwrap();
    assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
}

#[test]
fn max_pool_routes_the_cotangent_to_the_selected_input() {
    // One 1×2×2 image, 2×2 window: only the maximum (index 2) receives the cotangent.
    let net = Net {
        input_shape: vec![1, 2, 2],
        classes: 1,
        sign_zero: SignZero::PlusOne,
        layers: vec![Layer::MaxPool { kernel: 2, stride: 2, padding: 0 }, Layer::Flatten],
    };
    let (z, g) = net.value_and_grad(&[0.1, -0.3, 0.7, 0.2], Function::Surrogate, &|_| vec![2.5]).unwrap();
    assert_eq!(z, vec![0.7]);
    assert_eq!(g, vec![0.0, 0.0, 2.5, 0.0]);
}

#[test]
fn bad_inputs_and_cotangents_are_errors() {
    let net = tiny_cnn(3);
    let x = vec![0.1; net.input_len()];
    let ok = |_: &[f64]| vec![1.0, 0.0, 0.0];
    assert!(net.value_and_grad(&x[1..], Function::Surrogate, &ok).is_err());
    let mut nan = x.clone();
    nan[4] = f64::NAN;
    assert!(net.value_and_grad(&nan, Function::Deployed, &ok).is_err());
    assert!(net.value_and_grad(&x, Function::Surrogate, &|_| vec![1.0]).is_err());
    assert!(net.value_and_grad(&x, Function::Surrogate, &|_| vec![f64::INFINITY, 0.0, 0.0]).is_err());
    assert!(net.value_and_grad(&x, Function::Surrogate, &ok).is_ok());
}
