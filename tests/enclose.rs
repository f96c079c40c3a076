//! Enclosures of the exact network output (theorem V1): every sampled input of the set maps inside, points give
//! tight boxes, and verdicts agree with the forward pass.

mod common;

use common::{ActKind, random_mlp, rng, tiny_cnn, tiny_resnet};
use lcr_verify::ir::{Function, InputNorm, Net, Perturbation, Verdict, columns, verdict};
use rand::Rng;

/// Width of a point enclosure relative to the logits' scale: the a-priori rounding allowance, far below this.
const POINT_WIDTH: f64 = 1e-9;

fn nets() -> Vec<(String, Net)> {
    let mut r = rng(7);
    let mut out = Vec::new();
    for (i, act) in [ActKind::Sign, ActKind::HardTanh, ActKind::Relu].into_iter().enumerate() {
        out.push((format!("mlp-{i}"), random_mlp(&mut r, &[5, 7, 6, 3], act, true)));
    }
    out.push(("cnn".into(), tiny_cnn(3)));
    out.push(("resnet".into(), tiny_resnet(4)));
    out
}

fn random_in_ball(
    r: &mut impl Rng,
    x: &[f64],
    norm: InputNorm,
    eps: f64,
    domain: &(Vec<f64>, Vec<f64>),
) -> Vec<f64> {
    let d: Vec<f64> = x.iter().map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let scale = match norm {
        InputNorm::L2 => eps / d.iter().map(|v| v * v).sum::<f64>().sqrt(),
        InputNorm::Linf => eps,
    };
    // Half the points on the sphere (the extreme ones), half inside.
    let t = if r.random::<bool>() { 1.0 } else { r.random::<f64>() };
    x.iter()
        .zip(&d)
        .enumerate()
        .map(|(i, (v, dv))| (v + t * scale * dv).clamp(domain.0[i], domain.1[i]))
        .collect()
}

#[test]
fn enclosures_hold_every_sampled_input() {
    let mut r = rng(11);
    for (name, net) in nets() {
        let n = net.input_len();
        let domain = (vec![-1.5; n], vec![1.5; n]);
        for f in [Function::Deployed, Function::Surrogate, Function::Latent] {
            for norm in [InputNorm::L2, InputNorm::Linf] {
                for with_domain in [false, true] {
                    let xs: Vec<Vec<f64>> =
                        (0..4).map(|_| (0..n).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect();
                    let eps: Vec<f64> = (0..4).map(|k| [0.0, 0.01, 0.1, 0.5][k]).collect();
                    let pert =
                        Perturbation { norm, eps: eps.clone(), domain: with_domain.then(|| domain.clone()) };
                    let b = net.enclose(&columns(&xs), f, Some(&pert)).unwrap();
                    let unbounded = (vec![f64::NEG_INFINITY; n], vec![f64::INFINITY; n]);
                    let dom = if with_domain { &domain } else { &unbounded };
                    for (k, x) in xs.iter().enumerate() {
                        for _ in 0..200 {
                            let y = random_in_ball(&mut r, x, norm, eps[k], dom);
                            let out = net.forward(&y, f).unwrap();
                            for (c, v) in out.iter().enumerate() {
                                assert!(
                                    b.lo[(c, k)] <= *v && *v <= b.hi[(c, k)],
                                    "{name} {f:?} {norm:?} domain {with_domain} eps {}: logit {c} = {v} outside [{}, {}]",
                                    eps[k],
                                    b.lo[(c, k)],
                                    b.hi[(c, k)]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn point_enclosures_are_tight_and_verdicts_match_the_forward_pass() {
    let mut r = rng(12);
    for (name, net) in nets() {
        let n = net.input_len();
        for f in [Function::Deployed, Function::Surrogate, Function::Latent] {
            let xs: Vec<Vec<f64>> =
                (0..32).map(|_| (0..n).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect();
            let b = net.enclose_points(&columns(&xs), f).unwrap();
            for (k, x) in xs.iter().enumerate() {
                let out = net.forward(x, f).unwrap();
                let scale = out.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for c in 0..out.len() {
                    let w = b.hi[(c, k)] - b.lo[(c, k)];
                    // The deployed function jumps: a sign input within rounding of 0 gives a wide box, rarely.
                    if f != Function::Deployed {
                        assert!(w <= POINT_WIDTH * scale, "{name} {f:?}: width {w} at logit {c}");
                    }
                }
                let best = (0..out.len()).max_by(|&a, &c| out[a].total_cmp(&out[c])).unwrap();
                let second = (0..out.len()).filter(|&j| j != best).map(|j| out[j]).fold(f64::MIN, f64::max);
                if out[best] - second > 1e-6 * scale {
                    assert_eq!(verdict(&b, k, best), Verdict::Keeps, "{name} {f:?}");
                    let other = (best + 1) % out.len();
                    assert_eq!(verdict(&b, k, other), Verdict::Loses, "{name} {f:?}");
                }
            }
        }
    }
}

#[test]
fn the_ball_enters_the_first_layer_exactly() {
    // For ℓ2, the first dense layer sees the ball, not its bounding box: a row's range is ±ε‖w‖₂, not ±ε‖w‖₁.
    let mut r = rng(13);
    let net = random_mlp(&mut r, &[50, 8, 3], ActKind::HardTanh, false);
    let x = vec![vec![0.0; 50]];
    let eps = 0.1;
    let ball = Perturbation { norm: InputNorm::L2, eps: vec![eps], domain: None };
    let (_, b) = net.enclose_input(&columns(&x), Function::Surrogate, Some(&ball)).unwrap();
    let lcr_verify::ir::Layer::Dense { weight, .. } = &net.layers[0] else { panic!() };
    for i in 0..weight.nrows() {
        let l2 = weight.row(i).norm();
        let half = (b.hi[(i, 0)] - b.lo[(i, 0)]) / 2.0;
        assert!(half >= eps * l2, "row {i}: {half} < {}", eps * l2);
        assert!(half <= eps * l2 * (1.0 + 1e-9) + 1e-12, "row {i}: {half} > {}", eps * l2);
    }
}

#[test]
fn bad_requests_are_refused() {
    let net = tiny_cnn(1);
    let x = columns(&[vec![0.0; net.input_len()]]);
    for eps in [f64::NAN, -1.0, f64::INFINITY] {
        let p = Perturbation { norm: InputNorm::Linf, eps: vec![eps], domain: None };
        assert!(net.enclose(&x, Function::Deployed, Some(&p)).is_err(), "eps {eps}");
    }
    let p = Perturbation { norm: InputNorm::Linf, eps: vec![0.1, 0.1], domain: None };
    assert!(net.enclose(&x, Function::Deployed, Some(&p)).is_err(), "two radii for one sample");
    let short = columns(&[vec![0.0; 3]]);
    assert!(net.enclose_points(&short, Function::Surrogate).is_err());
}

fn dense(rows: usize, cols: usize, w: &[f64], b: Option<Vec<f64>>) -> lcr_verify::ir::Layer {
    lcr_verify::ir::Layer::Dense {
        weight: nalgebra::DMatrix::from_row_slice(rows, cols, w),
        latent: None,
        bias: b.map(nalgebra::DVector::from_vec),
    }
}

/// Overflowing sums and NaN (∞ − ∞, 0·∞) never become a decision: each net below is exactly classified 1 at x,
/// and the float forward pass overflows on the way.
#[test]
fn overflow_and_nan_never_prove_a_wrong_class() {
    use lcr_verify::attack::{AttackKind, Sample, Target};
    use lcr_verify::certify::{PropagationOptions, bound_propagation, sign_stability};
    use lcr_verify::ir::{Layer, SignZero};
    let net = |input: usize, layers: Vec<Layer>| Net {
        input_shape: vec![input],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers,
    };
    let cases = [
        // The sum 1e308 + 1e308 − 1e308 overflows to +∞ though its exact value is 1e308 < 1.5e308.
        net(
            3,
            vec![
                dense(3, 3, &[1., 0., 0., 0., 1., 0., 0., 0., 1.], None),
                Layer::Sign,
                dense(2, 3, &[1e308, 1e308, -1e308, 0., 0., 0.], Some(vec![0.0, 1.5e308])),
            ],
        ),
        // ∞ − ∞ = NaN after the first sign: the exact pre-activation is −1e600, so the second sign gives −1.
        net(
            1,
            vec![
                dense(1, 1, &[1.0], None),
                Layer::Sign,
                dense(2, 1, &[1e300, 1e300], None),
                dense(1, 2, &[1e300, -2e300], None),
                Layer::Sign,
                dense(2, 1, &[1.0, -1.0], None),
            ],
        ),
        // The same NaN into a ReLU: the exact logits are [1 − 1e600, 0].
        net(
            1,
            vec![
                dense(2, 1, &[1e300, 1e300], None),
                dense(1, 2, &[1e300, -2e300], None),
                Layer::Relu,
                dense(2, 1, &[-1.0, 0.0], Some(vec![1.0, 0.0])),
            ],
        ),
    ];
    for (c, n) in cases.iter().enumerate() {
        let xv = vec![1.0; n.input_len()];
        let x = columns(std::slice::from_ref(&xv));
        for f in [Function::Deployed, Function::Surrogate] {
            let e = n.enclose_points(&x, f).unwrap();
            assert_ne!(verdict(&e, 0, 0), Verdict::Keeps, "case {c} {f:?}: {:?} {:?}", e.lo, e.hi);
            assert_ne!(verdict(&e, 0, 1), Verdict::Loses, "case {c} {f:?}: {:?} {:?}", e.lo, e.hi);
        }
        for norm in [InputNorm::L2, InputNorm::Linf] {
            if let Ok(s) = sign_stability(n, &x, &[0], norm).unwrap() {
                assert_eq!(s[0].radius, 0.0, "case {c} {norm:?}: sign stability certifies the wrong class");
            }
            let b = bound_propagation(n, &x, &[0], norm, &PropagationOptions::default()).unwrap();
            assert_eq!(b[0].radius, 0.0, "case {c} {norm:?}: bound propagation certifies the wrong class");
        }
        let domain = (vec![-10.0; xv.len()], vec![10.0; xv.len()]);
        let target = Target::new(n, Function::Deployed, InputNorm::Linf, &domain, 0).unwrap();
        let sample = Sample { x: &xv, label: 1, index: 0 };
        assert!(
            target.confirm(&sample, xv.clone(), AttackKind::Minimal).unwrap().is_none(),
            "case {c}: x confirmed"
        );
    }
}
