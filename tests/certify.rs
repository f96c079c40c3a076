//! Certified radii (theorems V2–V6): soundness by sampling, the order of the deployed methods, the exact bracket
//! on tiny nets, which constants may enter, and refusals.

mod common;

use common::{ActKind, random_mlp, rng, tiny_cnn, tiny_resnet, uniform};
use lcr_verify::Error;
use lcr_verify::bounds::Soundness;
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::spectral::spectral_product;
use lcr_verify::bounds::{Bound, Method, Norm, Scope};
use lcr_verify::certify::*;
use lcr_verify::ir::{Function, InputNorm, Layer, Net, SignZero, Verdict, columns, verdict};
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Sampled inputs per certified sample (half on the sphere of radius r·(1 − SHRINK), half inside).
const DRAWS: usize = 150;
/// How far inside the open ball the sphere samples sit, relative to r.
const SHRINK: f64 = 1e-9;
/// Largest relative gap allowed between the two sides of the exact bracket.
const EXACT_GAP: f64 = 1e-5;
/// Largest absolute gap: the upper-side point keeps 1e-7 (the default interior push) from each boundary.
const EXACT_GAP_ABS: f64 = 1e-6;
/// Relative agreement of a radius with an exact value computed in closed form.
const CLOSED_FORM: f64 = 1e-9;

const NORMS: [InputNorm; 2] = [InputNorm::L2, InputNorm::Linf];

/// The unique argmax, or none on a tie.
fn argmax(out: &[f64]) -> Option<usize> {
    let best = (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b]))?;
    out.iter().enumerate().all(|(j, v)| j == best || *v < out[best]).then_some(best)
}

fn random_inputs(r: &mut ChaCha8Rng, n: usize, count: usize) -> DMatrix<f64> {
    DMatrix::from_fn(n, count, |_, _| r.random::<f64>() * 2.0 - 1.0)
}

/// Labels: the float prediction of `f` at each column (0 on a tie).
fn predictions(net: &Net, f: Function, x: &DMatrix<f64>) -> Vec<usize> {
    x.column_iter().map(|c| argmax(&net.forward(c.as_slice(), f).unwrap()).unwrap_or(0)).collect()
}

/// A point at distance `radius` (on the sphere, or a random fraction of it) from x, clamped into the domain.
fn draw(
    r: &mut ChaCha8Rng,
    x: &[f64],
    norm: InputNorm,
    radius: f64,
    on_sphere: bool,
    dom: Option<&(Vec<f64>, Vec<f64>)>,
) -> Vec<f64> {
    let mut d: Vec<f64> = x.iter().map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let size = match norm {
        InputNorm::L2 => d.iter().map(|v| v * v).sum::<f64>().sqrt(),
        InputNorm::Linf => {
            let i = r.random_range(0..d.len());
            d[i] = d[i].signum();
            1.0
        }
    };
    let t = if on_sphere { 1.0 } else { r.random::<f64>() };
    x.iter()
        .zip(&d)
        .enumerate()
        .map(|(i, (v, dv))| {
            let y = v + t * radius * dv / size;
            dom.map_or(y, |(lo, hi)| y.clamp(lo[i], hi[i]))
        })
        .collect()
}

/// Every sampled input within each certified radius keeps the label under the float forward of `f`.
fn assert_sound(
    (net, f): (&Net, Function),
    x: &DMatrix<f64>,
    labels: &[usize],
    radii: &[f64],
    norm: InputNorm,
    dom: Option<&(Vec<f64>, Vec<f64>)>,
    what: &str,
) {
    let mut r = rng(99);
    for (k, &radius) in radii.iter().enumerate() {
        if radius == 0.0 {
            continue;
        }
        let xk: Vec<f64> = x.column(k).iter().copied().collect();
        let scales: Vec<f64> =
            if radius.is_finite() { vec![radius * (1.0 - SHRINK)] } else { vec![1.0, 10.0, 1e3] };
        for s in scales {
            for i in 0..DRAWS {
                let y = draw(&mut r, &xk, norm, s, i % 2 == 0, dom);
                let out = net.forward(&y, f).unwrap();
                assert_eq!(
                    argmax(&out),
                    Some(labels[k]),
                    "{what}: sample {k}, radius {radius}, {norm:?}: {out:?}"
                );
            }
        }
    }
}

fn spectral_bounds(net: &Net, f: Function) -> Vec<Bound> {
    [Norm::L2, Norm::L2Margin, Norm::LinfMargin]
        .into_iter()
        .map(|n| spectral_product(net, f, n, &SpectralOptions::default(), &|_| {}).unwrap())
        .collect()
}

fn margin(
    net: &Net,
    f: Function,
    bounds: &[Bound],
    x: &DMatrix<f64>,
    labels: &[usize],
    norm: InputNorm,
) -> Vec<MarginRadius> {
    let table = PairTable::from_bounds(bounds, f, norm, net.classes).unwrap();
    margin_radii(net, f, &table, x, labels).unwrap()
}

fn radii<T>(v: &[T], f: impl Fn(&T) -> f64) -> Vec<f64> {
    v.iter().map(f).collect()
}

#[test]
fn margin_radii_are_sound_by_sampling() {
    let mut r = rng(1);
    let mut nets: Vec<Net> = (0..4)
        .map(|i| {
            let act = if i % 2 == 0 { ActKind::Sign } else { ActKind::HardTanh };
            random_mlp(&mut r, &[5, 8, 6, 3], act, true)
        })
        .collect();
    nets.push(tiny_cnn(2));
    let mut certified = 0;
    for (n, net) in nets.iter().enumerate() {
        for f in [Function::Surrogate, Function::Latent] {
            let bounds = spectral_bounds(net, f);
            let x = random_inputs(&mut r, net.input_len(), 12);
            let labels = predictions(net, f, &x);
            let points = PointLogits::new(net, f, &x).unwrap();
            for norm in NORMS {
                let m = margin(net, f, &bounds, &x, &labels, norm);
                let table = PairTable::from_bounds(&bounds, f, norm, net.classes).unwrap();
                assert_eq!(
                    margin_radii_at(&points, &table, &labels).unwrap(),
                    m,
                    "one enclosure for both norms"
                );
                certified += m.iter().filter(|m| m.radius > 0.0).count();
                assert!(
                    m.iter().all(
                        |m| m.radius == 0.0 || m.binding.unwrap().method == Some(Method::SpectralProduct)
                    )
                );
                assert_sound(
                    (net, f),
                    &x,
                    &labels,
                    &radii(&m, |m| m.radius),
                    norm,
                    None,
                    &format!("net {n} {f:?}"),
                );
            }
        }
    }
    assert!(certified > 100, "only {certified} samples certified: the test would be vacuous");
}

#[test]
fn margin_radius_of_a_linear_classifier_is_the_distance_to_its_boundary() {
    let mut r = rng(2);
    let w = uniform(&mut r, 4, 6);
    let b = DVector::from_fn(4, |_, _| r.random::<f64>() - 0.5);
    let net = Net {
        input_shape: vec![6],
        classes: 4,
        sign_zero: SignZero::PlusOne,
        layers: vec![Layer::Dense { weight: w.clone(), latent: None, bias: Some(b.clone()) }],
    };
    let bounds = spectral_bounds(&net, Function::Surrogate);
    let x = random_inputs(&mut r, 6, 20);
    let labels = predictions(&net, Function::Surrogate, &x);
    for norm in NORMS {
        let m = margin(&net, Function::Surrogate, &bounds, &x, &labels, norm);
        for (k, &t) in labels.iter().enumerate() {
            let exact = (0..4)
                .filter(|&j| j != t)
                .map(|j| {
                    let d: Vec<f64> = (0..6).map(|c| w[(t, c)] - w[(j, c)]).collect();
                    let dual = match norm {
                        InputNorm::L2 => d.iter().map(|v| v * v).sum::<f64>().sqrt(),
                        InputNorm::Linf => d.iter().map(|v| v.abs()).sum(),
                    };
                    let margin: f64 =
                        d.iter().zip(x.column(k).iter()).map(|(a, b)| a * b).sum::<f64>() + b[t] - b[j];
                    margin / dual
                })
                .fold(f64::INFINITY, f64::min);
            let got = m[k].radius;
            assert!(
                got <= exact && got >= exact * (1.0 - CLOSED_FORM),
                "{norm:?} sample {k}: {got} vs {exact}"
            );
        }
    }
}

/// A copy of `b` with another soundness, scope, function or value.
fn variant(b: &Bound, soundness: Soundness, scope: Scope, function: Function, factor: f64) -> Bound {
    let mut v = b.clone();
    (v.soundness, v.scope, v.function, v.value) = (soundness, scope, function, b.value * factor);
    for p in &mut v.pairs {
        p.value *= factor;
    }
    v
}

#[test]
fn margin_radii_use_only_certified_network_constants() {
    let mut r = rng(3);
    let net = random_mlp(&mut r, &[5, 8, 6, 4], ActKind::HardTanh, true);
    let f = Function::Surrogate;
    let bounds = spectral_bounds(&net, f);
    let x = random_inputs(&mut r, 5, 16);
    let labels = predictions(&net, f, &x);
    for norm in NORMS {
        let base = margin(&net, f, &bounds, &x, &labels, norm);
        let mut noisy = bounds.clone();
        for b in &bounds {
            noisy.push(variant(b, Soundness::Lower, Scope::Network, f, 0.01));
            noisy.push(variant(b, Soundness::Estimate, Scope::Network, f, 0.01));
            noisy.push(variant(b, Soundness::Certified, Scope::LocalBox, f, 0.01));
            noisy.push(variant(b, Soundness::Certified, Scope::Network, Function::Latent, 0.01));
        }
        assert_eq!(
            margin(&net, f, &noisy, &x, &labels, norm),
            base,
            "{norm:?}: a non-certified constant entered"
        );
        // A smaller certified network constant does enter.
        let mut better = variant(
            &bounds[if norm == InputNorm::L2 { 1 } else { 2 }],
            Soundness::Certified,
            Scope::Network,
            f,
            0.5,
        );
        better.method = Method::LpGlobal;
        let improved = margin(&net, f, &[bounds.clone(), vec![better]].concat(), &x, &labels, norm);
        for (a, b) in improved.iter().zip(&base) {
            assert!(a.radius >= b.radius);
            if b.radius > 0.0 {
                assert_eq!(a.binding.unwrap().method, Some(Method::LpGlobal));
            }
        }
    }
    // Without any constant for the norm the radius is 0.
    let m = margin(&net, f, &bounds[..1], &x, &labels, InputNorm::Linf);
    assert!(m.iter().all(|m| m.radius == 0.0));
}

/// The two-unit net of known radii: logits (s₁ + s₂ + 1.5, 0) for s = sign(y): class 0 unless both inputs are
/// negative, so from x = (0.3, 0.4) the nearest class-1 input is at (0.3, 0.4) away in ℓ2 (0.5) or 0.4 in ℓ∞.
fn two_unit_net() -> Net {
    Net {
        input_shape: vec![2],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Dense { weight: DMatrix::identity(2, 2), latent: None, bias: None },
            Layer::Sign,
            Layer::Dense {
                weight: DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 0.0]),
                latent: None,
                bias: Some(DVector::from_vec(vec![1.5, 0.0])),
            },
        ],
    }
}

#[test]
fn hand_built_sign_net_has_known_radii() {
    let net = two_unit_net();
    let x = columns(&[vec![0.3, 0.4]]);
    for (norm, exact) in [(InputNorm::L2, 0.5), (InputNorm::Linf, 0.4)] {
        let a = sign_stability(&net, &x, &[0], norm).unwrap().unwrap()[0];
        assert!(a.radius <= 0.3 && a.radius >= 0.3 * (1.0 - CLOSED_FORM) && a.unit == Some(0), "{a:?}");
        let b = bound_propagation(&net, &x, &[0], norm, &PropagationOptions::default()).unwrap()[0];
        assert!(b.radius <= 0.4 && b.radius >= 0.4 * (1.0 - CLOSED_FORM), "{b:?}");
        assert_eq!(b.form, PropagationForm::Thresholds { free: 1 });
        let c = exact_minimal_perturbation(&net, &x, &[0], norm, &ExactOptions::default()).unwrap().unwrap();
        let (lower, upper) = (c[0].lower, c[0].upper.unwrap());
        assert!(lower <= exact && lower >= exact * (1.0 - 1e-6), "{norm:?}: lower {lower}");
        assert!(
            upper >= exact && upper <= exact * (1.0 + EXACT_GAP) + EXACT_GAP_ABS,
            "{norm:?}: upper {upper}"
        );
        let w = c[0].witness.as_ref().unwrap();
        assert_eq!(argmax(&net.forward(w, Function::Deployed).unwrap()), Some(1));
    }
}

fn sign_suite(seed: u64) -> Vec<Net> {
    let mut r = rng(seed);
    let mut nets: Vec<Net> =
        (0..6).map(|i| random_mlp(&mut r, &[4 + i % 3, 6, 5, 3], ActKind::Sign, i % 3 != 2)).collect();
    nets.push(tiny_cnn(5));
    nets.push(tiny_cnn(6));
    nets
}

#[test]
fn stability_is_sound_by_sampling() {
    let mut r = rng(4);
    let mut certified = 0;
    for (n, net) in sign_suite(40).iter().enumerate() {
        let x = random_inputs(&mut r, net.input_len(), 12);
        let labels = predictions(net, Function::Deployed, &x);
        for norm in NORMS {
            let s = sign_stability(net, &x, &labels, norm).unwrap().unwrap();
            certified += s.iter().filter(|s| s.radius > 0.0).count();
            assert_sound(
                (net, Function::Deployed),
                &x,
                &labels,
                &radii(&s, |s| s.radius),
                norm,
                None,
                &format!("net {n}"),
            );
        }
    }
    assert!(certified > 100, "only {certified} samples certified");
}

#[test]
fn propagation_dominates_stability_and_is_sound() {
    let mut r = rng(5);
    let (mut strictly, mut domain_gain) = (0, 0);
    for (n, net) in sign_suite(50).iter().enumerate() {
        let x = random_inputs(&mut r, net.input_len(), 16);
        let labels = predictions(net, Function::Deployed, &x);
        let dom = (vec![-1.0; net.input_len()], vec![1.0; net.input_len()]);
        for norm in NORMS {
            let a = sign_stability(net, &x, &labels, norm).unwrap().unwrap();
            let b = bound_propagation(net, &x, &labels, norm, &PropagationOptions::default()).unwrap();
            for (k, (a, b)) in a.iter().zip(&b).enumerate() {
                assert!(b.radius >= a.radius, "net {n} sample {k}: (b) {} < (a) {}", b.radius, a.radius);
                assert_eq!(b.stability, Some(a.radius));
                assert_eq!(b.coverage, Coverage::Network);
                strictly += usize::from(b.radius > a.radius);
            }
            assert_sound(
                (net, Function::Deployed),
                &x,
                &labels,
                &radii(&b, |b| b.radius),
                norm,
                None,
                &format!("net {n}"),
            );
            let opts = PropagationOptions { domain: Some(dom.clone()), ..Default::default() };
            let d = bound_propagation(net, &x, &labels, norm, &opts).unwrap();
            for (k, (d, b)) in d.iter().zip(&b).enumerate() {
                assert!(d.radius >= b.radius, "net {n} sample {k}: domain radius below the threshold radius");
                domain_gain += usize::from(d.coverage == Coverage::Domain);
            }
            assert_sound(
                (net, Function::Deployed),
                &x,
                &labels,
                &radii(&d, |d| d.radius),
                norm,
                Some(&dom),
                &format!("net {n} domain"),
            );
        }
    }
    assert!(strictly > 20, "(b) beat (a) on only {strictly} samples");
    assert!(domain_gain > 0, "the domain never helped: the ε form was not exercised");
}

#[test]
fn resnet_is_declined_and_propagation_is_sound() {
    let mut r = rng(6);
    let mut certified = 0;
    for seed in [4, 7, 8] {
        let net = tiny_resnet(seed);
        let x = random_inputs(&mut r, net.input_len(), 8);
        let labels = predictions(&net, Function::Deployed, &x);
        for norm in NORMS {
            let na = sign_stability(&net, &x, &labels, norm).unwrap().unwrap_err();
            assert!(na.reason.contains("residual"), "{na}");
            assert!(
                exact_minimal_perturbation(&net, &x, &labels, norm, &ExactOptions::default())
                    .unwrap()
                    .is_err()
            );
            let b = bound_propagation(&net, &x, &labels, norm, &PropagationOptions::default()).unwrap();
            assert!(b.iter().all(|b| b.form == PropagationForm::Bisection && b.stability.is_none()));
            certified += b.iter().filter(|b| b.radius > 0.0).count();
            assert_sound(
                (&net, Function::Deployed),
                &x,
                &labels,
                &radii(&b, |b| b.radius),
                norm,
                None,
                "resnet",
            );
        }
    }
    assert!(certified > 10, "only {certified} ResNet samples certified");
}

/// The smallest distance along a set of rays at which the surrogate's enclosure proves another class: an upper
/// bound on the surrogate's minimal adversarial perturbation (none found: +∞).
fn surrogate_attack(
    net: &Net,
    f: Function,
    x: &[f64],
    t: usize,
    norm: InputNorm,
    towards: &[Vec<f64>],
    r: &mut ChaCha8Rng,
) -> f64 {
    let mut dirs: Vec<Vec<f64>> =
        towards.iter().map(|w| w.iter().zip(x).map(|(a, b)| a - b).collect()).collect();
    for _ in 0..100 {
        dirs.push(x.iter().map(|_| if r.random::<bool>() { 1.0 } else { -1.0 } * if norm == InputNorm::L2 { r.random::<f64>() } else { 1.0 }).collect());
    }
    let loses = |s: f64, d: &[f64]| {
        let y: Vec<f64> = x.iter().zip(d).map(|(a, b)| a + s * b).collect();
        verdict(&net.enclose_points(&columns(&[y]), f).unwrap(), 0, t) == Verdict::Loses
    };
    let mut best = f64::INFINITY;
    for d in dirs {
        let size = match norm {
            InputNorm::L2 => d.iter().map(|v| v * v).sum::<f64>().sqrt(),
            InputNorm::Linf => d.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        };
        let d: Vec<f64> = d.iter().map(|v| v / size).collect();
        let Some(mut hi) = (1..=40).map(|i| i as f64 * 0.1).find(|&s| loses(s, &d)) else { continue };
        let mut lo = hi - 0.1;
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if loses(mid, &d) { hi = mid } else { lo = mid }
        }
        let y: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + hi * b).collect();
        best = best.min(norm.dist_up(&y, x));
    }
    best
}

#[test]
fn exact_radius_brackets_every_certificate() {
    let mut r = rng(7);
    let (mut compared, mut surrogate_compared) = (0, 0);
    for i in 0..6 {
        let net = random_mlp(&mut r, &[3 + i % 2, 5 + i % 3, 4, 3], ActKind::Sign, true);
        let x = random_inputs(&mut r, net.input_len(), 10);
        let labels = predictions(&net, Function::Deployed, &x);
        for norm in NORMS {
            let c = exact_minimal_perturbation(&net, &x, &labels, norm, &ExactOptions::default())
                .unwrap()
                .unwrap();
            let a = sign_stability(&net, &x, &labels, norm).unwrap().unwrap();
            let b = bound_propagation(&net, &x, &labels, norm, &PropagationOptions::default()).unwrap();
            for k in 0..x.ncols() {
                let Some(upper) = c[k].upper else {
                    panic!("net {i} sample {k}: no confirmed point ({:?})", c[k])
                };
                for (name, v) in [("(a)", a[k].radius), ("(b)", b[k].radius), ("(c) lower", c[k].lower)] {
                    assert!(v <= upper, "net {i} sample {k} {norm:?}: {name} {v} > exact upper {upper}");
                }
                if upper.is_finite() && upper > 0.0 {
                    assert!(
                        upper - c[k].lower <= EXACT_GAP * upper + EXACT_GAP_ABS,
                        "net {i} sample {k} {norm:?}: gap {:?}",
                        c[k]
                    );
                    compared += 1;
                }
            }
            assert_sound(
                (&net, Function::Deployed),
                &x,
                &labels,
                &radii(&c, |c| c.lower),
                norm,
                None,
                &format!("exact net {i}"),
            );
            // The surrogate of the same weights: its margin radius against an attack on the surrogate itself.
            let f = Function::Surrogate;
            let sl = predictions(&net, f, &x);
            let m = margin(&net, f, &spectral_bounds(&net, f), &x, &sl, norm);
            for k in 0..x.ncols() {
                let xk: Vec<f64> = x.column(k).iter().copied().collect();
                let towards: Vec<Vec<f64>> = c[k].witness.iter().cloned().collect();
                let attack = surrogate_attack(&net, f, &xk, sl[k], norm, &towards, &mut r);
                assert!(
                    m[k].radius <= attack,
                    "net {i} sample {k}: surrogate radius {} > attack {attack}",
                    m[k].radius
                );
                surrogate_compared += usize::from(attack.is_finite() && m[k].radius > 0.0);
            }
        }
    }
    assert!(compared > 60, "only {compared} exact brackets compared");
    assert!(surrogate_compared > 30, "only {surrogate_compared} surrogate radii compared");
}

#[test]
fn dual_lower_bound_holds_for_any_multipliers() {
    let mut r = rng(8);
    for trial in 0..40 {
        let (rows, n) = (2 + trial % 4, 3);
        let g = uniform(&mut r, rows, n);
        let beta: Vec<f64> = (0..rows).map(|_| r.random::<f64>() - 0.3).collect();
        let p = Polyhedron {
            g: g.clone(),
            beta_lo: beta.clone(),
            beta_hi: beta.clone(),
            strict: vec![true; rows],
        };
        let feasible: Vec<Vec<f64>> = (0..4000)
            .map(|_| (0..n).map(|_| (r.random::<f64>() * 2.0 - 1.0) * 4.0).collect::<Vec<f64>>())
            .filter(|d| (0..rows).all(|i| (0..n).map(|c| g[(i, c)] * d[c]).sum::<f64>() >= beta[i]))
            .collect();
        for norm in NORMS {
            let size = |d: &[f64]| match norm {
                InputNorm::L2 => d.iter().map(|v| v * v).sum::<f64>().sqrt(),
                InputNorm::Linf => d.iter().fold(0.0f64, |m, v| m.max(v.abs())),
            };
            let nearest = feasible.iter().map(|d| size(d)).fold(f64::INFINITY, f64::min);
            let mut lambdas: Vec<Vec<f64>> =
                (0..20).map(|_| (0..rows).map(|_| r.random::<f64>() * 3.0 - 1.0).collect()).collect();
            lambdas.push(vec![f64::NAN; rows]);
            lambdas.push(vec![1e300; rows]);
            let solved = region_distance(&p, norm, 0.0);
            for l in &lambdas {
                let v = dual_lower(&p, l, norm);
                assert!(
                    v <= nearest,
                    "trial {trial} {norm:?}: dual bound {v} above a feasible point at {nearest}"
                );
            }
            assert!(row_lower(&p, norm) <= nearest && solved.lower <= nearest, "trial {trial} {norm:?}");
            if nearest.is_finite() && solved.status == "Solved" {
                // Sampling only finds points at or beyond the true distance; the solved bound sits at it.
                assert!(solved.lower >= 0.0 && solved.lower <= nearest);
            }
        }
    }
    // One half-space: the single-row bound is the exact distance β/‖g‖_q.
    let p = Polyhedron {
        g: DMatrix::from_row_slice(1, 2, &[3.0, 4.0]),
        beta_lo: vec![1.0],
        beta_hi: vec![1.0],
        strict: vec![true],
    };
    assert!((row_lower(&p, InputNorm::L2) - 0.2).abs() <= 0.2 * CLOSED_FORM);
    assert!((row_lower(&p, InputNorm::Linf) - 1.0 / 7.0).abs() <= CLOSED_FORM);
    // An empty polyhedron (y₁ ≥ 1 and −y₁ ≥ 0): the Farkas multipliers prove it.
    let p = Polyhedron {
        g: DMatrix::from_row_slice(2, 1, &[1.0, -1.0]),
        beta_lo: vec![1.0, 0.0],
        beta_hi: vec![1.0, 0.0],
        strict: vec![false; 2],
    };
    // (Σλg = 0 exactly, but the bound only knows it up to its rounding allowance: a huge value.)
    assert!(dual_lower(&p, &[1.0, 1.0], InputNorm::L2) > 1e12);
    assert!(region_distance(&p, InputNorm::Linf, 0.0).lower > 1e6);
}

#[test]
fn local_lp_radius_dominates_and_is_sound() {
    let mut r = rng(9);
    let mut gained = 0;
    for i in 0..3 {
        let net =
            random_mlp(&mut r, &[4, 6, 5, 3], if i == 2 { ActKind::Sign } else { ActKind::HardTanh }, true);
        let f = Function::Surrogate;
        let table = PairTable::from_bounds(&spectral_bounds(&net, f), f, InputNorm::Linf, 3).unwrap();
        let x = random_inputs(&mut r, 4, 6);
        let labels = predictions(&net, f, &x);
        let dom = (vec![-1.0; 4], vec![1.0; 4]);
        for domain in [None, Some(dom.clone())] {
            let opts = LocalLpOptions { domain: domain.clone(), ..Default::default() };
            let l = local_lp_radii(&net, f, &table, &x, &labels, &opts).unwrap().unwrap();
            for (k, l) in l.iter().enumerate() {
                assert!(l.radius >= l.global, "net {i} sample {k}: {l:?}");
                gained += usize::from(l.radius > l.global);
            }
            assert_sound(
                (&net, f),
                &x,
                &labels,
                &radii(&l, |l| l.radius),
                InputNorm::Linf,
                domain.as_ref(),
                &format!("local LP net {i}"),
            );
        }
    }
    assert!(gained > 5, "the local LP improved on only {gained} samples");
    // Declined above the size limit; refused for the deployed function and for ℓ2 constants.
    let big = random_mlp(&mut r, &[4, 40, 40, 3], ActKind::HardTanh, true);
    let f = Function::Surrogate;
    let x = random_inputs(&mut r, 4, 2);
    let table = PairTable::from_bounds(&spectral_bounds(&big, f), f, InputNorm::Linf, 3).unwrap();
    let na = local_lp_radii(&big, f, &table, &x, &[0, 1], &LocalLpOptions::default()).unwrap().unwrap_err();
    assert!(na.reason.contains("limit"), "{na}");
    let l2 = PairTable::from_bounds(&spectral_bounds(&big, f), f, InputNorm::L2, 3).unwrap();
    assert!(matches!(
        local_lp_radii(&big, f, &l2, &x, &[0, 1], &LocalLpOptions::default()),
        Err(Error::Config { .. })
    ));
    assert!(matches!(margin_radii(&big, Function::Deployed, &table, &x, &[0, 1]), Err(Error::Config { .. })));
    let resnet = tiny_resnet(3);
    let xr = random_inputs(&mut r, resnet.input_len(), 1);
    let t = PairTable::from_bounds(&[], f, InputNorm::Linf, 3).unwrap();
    assert!(local_lp_radii(&resnet, f, &t, &xr, &[0], &LocalLpOptions::default()).unwrap().is_err());
}

#[test]
fn misclassified_samples_get_zero_everywhere() {
    let mut r = rng(10);
    let net = random_mlp(&mut r, &[4, 6, 5, 3], ActKind::Sign, true);
    let x = random_inputs(&mut r, 4, 10);
    let wrong =
        |f: Function| -> Vec<usize> { predictions(&net, f, &x).iter().map(|t| (t + 1) % 3).collect() };
    for norm in NORMS {
        let d = wrong(Function::Deployed);
        assert!(sign_stability(&net, &x, &d, norm).unwrap().unwrap().iter().all(|s| s.radius == 0.0));
        assert!(
            bound_propagation(&net, &x, &d, norm, &PropagationOptions::default())
                .unwrap()
                .iter()
                .all(|b| b.radius == 0.0)
        );
        let c = exact_minimal_perturbation(&net, &x, &d, norm, &ExactOptions::default()).unwrap().unwrap();
        assert!(c.iter().all(|c| c.lower == 0.0 && c.upper == Some(0.0)), "{c:?}");
        for f in [Function::Surrogate, Function::Latent] {
            let s = wrong(f);
            let bounds = spectral_bounds(&net, f);
            assert!(
                margin(&net, f, &bounds, &x, &s, norm).iter().all(|m| m.radius == 0.0 && m.binding.is_none())
            );
            if norm == InputNorm::Linf {
                let table = PairTable::from_bounds(&bounds, f, norm, 3).unwrap();
                let l = local_lp_radii(&net, f, &table, &x, &s, &LocalLpOptions::default()).unwrap().unwrap();
                assert!(l.iter().all(|l| l.radius == 0.0 && l.lps == 0));
            }
        }
    }
}

#[test]
fn certified_accuracy_counts_radii_above_eps() {
    let radii = [0.0, 0.05, 0.2, f64::INFINITY];
    let c = certified_accuracy(&radii, &[0.0, 0.05, 0.1, 10.0], 1.0).unwrap();
    assert_eq!(c.iter().map(|p| p.accuracy).collect::<Vec<_>>(), vec![0.75, 0.5, 0.5, 0.25]);
    // Pixel units: a normalised radius r covers r·min_std.
    let c = certified_accuracy(&radii, &[0.05], 0.5).unwrap();
    assert_eq!(c[0].accuracy, 0.5);
    for norm in NORMS {
        let g = default_grid(norm);
        assert!(g[0] == 0.0 && g.windows(2).all(|w| w[0] < w[1]));
    }
    assert!(certified_accuracy(&[f64::NAN], &[0.0], 1.0).is_err());
    assert!(certified_accuracy(&[0.1], &[-1.0], 1.0).is_err());
    assert!(certified_accuracy(&[0.1], &[0.0], 0.0).is_err());
}

#[test]
fn bad_requests_are_refused() {
    let net = two_unit_net();
    let x = columns(&[vec![0.3, 0.4]]);
    let n = InputNorm::L2;
    assert!(matches!(sign_stability(&net, &x, &[], n), Err(Error::Config { .. })), "label count");
    assert!(matches!(sign_stability(&net, &x, &[2], n), Err(Error::Config { .. })), "label range");
    assert!(matches!(sign_stability(&net, &columns(&[vec![0.0; 3]]), &[0], n), Err(Error::Shape { .. })));
    assert!(matches!(
        sign_stability(&net, &columns(&[vec![f64::NAN, 0.0]]), &[0], n),
        Err(Error::NonFinite { .. })
    ));
    let huge = ExactOptions { max_units: usize::MAX, ..Default::default() };
    assert!(exact_minimal_perturbation(&net, &x, &[0], n, &huge).unwrap().is_ok(), "two units are few");
    let outside = PropagationOptions { domain: Some((vec![0.5; 2], vec![1.0; 2])), ..Default::default() };
    assert!(
        matches!(bound_propagation(&net, &x, &[0], n, &outside), Err(Error::Config { .. })),
        "outside the domain"
    );
    let short = PropagationOptions { domain: Some((vec![0.0], vec![1.0])), ..Default::default() };
    assert!(
        matches!(bound_propagation(&net, &x, &[0], n, &short), Err(Error::Config { .. })),
        "domain length"
    );
    let bad_start = PropagationOptions { start: Some(f64::NAN), ..Default::default() };
    assert!(matches!(bound_propagation(&net, &x, &[0], n, &bad_start), Err(Error::Config { .. })));
    let interior = ExactOptions { interior: -1.0, ..Default::default() };
    assert!(matches!(exact_minimal_perturbation(&net, &x, &[0], n, &interior), Err(Error::Config { .. })));
    // Over the unit limit the exact method declines with the reason.
    let few = ExactOptions { max_units: 1, ..Default::default() };
    let na = exact_minimal_perturbation(&net, &x, &[0], n, &few).unwrap().unwrap_err();
    assert!(na.reason.contains("limit"), "{na}");
    // A pair outside the classes in a certified bound is an error, not a silent skip.
    let mut b = spectral_bounds(&net_with_head(), Function::Surrogate).remove(1);
    b.pairs = vec![lcr_verify::bounds::PairConstant { t: 0, j: 5, value: 1.0 }];
    assert!(PairTable::from_bounds(&[b], Function::Surrogate, n, 2).is_err());
}

fn net_with_head() -> Net {
    let mut net = two_unit_net();
    net.layers[1] = Layer::HardTanh;
    net
}

/// An LP over no class pair is refused, and a per-pair entry that lists no pair never stands for every pair
/// (it would give L = 0 and an unbounded radius).
#[test]
fn an_empty_pair_list_bounds_nothing() {
    use lcr_verify::bounds::chain::Chain;
    use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
    // Logits (x₀, −x₀) after a hardtanh: class 0 iff x₀ > 0.
    let net = Net {
        input_shape: vec![2],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Dense { weight: DMatrix::identity(2, 2), latent: None, bias: None },
            Layer::HardTanh,
            Layer::Dense {
                weight: DMatrix::from_row_slice(2, 2, &[1.0, 0.0, -1.0, 0.0]),
                latent: None,
                bias: None,
            },
        ],
    };
    let chain = Chain::from_net(&net, Function::Surrogate, 1 << 20).unwrap();
    let opts = LpOptions { pairs: Some(vec![]), ..Default::default() };
    let refused = lp_bound(&chain, Function::Surrogate, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {});
    assert!(matches!(refused, Err(Error::Config { .. })), "{refused:?}");
    let mut lp = lp_bound(
        &chain,
        Function::Surrogate,
        Norm::LinfMargin,
        &LpMode::Global,
        &LpOptions::default(),
        &|_| {},
    )
    .unwrap();
    lp.pairs.clear();
    lp.value = 0.0;
    let table = PairTable::from_bounds(&[lp], Function::Surrogate, InputNorm::Linf, 2).unwrap();
    assert!(!table.covers_every_pair());
    let r = margin_radii(&net, Function::Surrogate, &table, &columns(&[vec![0.5, 0.0]]), &[0]).unwrap();
    assert_eq!(r[0].radius, 0.0);
}

#[test]
fn domain_margin_radii_hold_inside_the_domain() {
    use lcr_verify::bounds::chain::Chain;
    use lcr_verify::bounds::lp::{LpMode, LpOptions, lp_bound};
    let mut r = rng(17);
    let dom = (vec![-1.0; 5], vec![1.0; 5]);
    let mut gained = 0;
    for i in 0..3 {
        let mut net = random_mlp(&mut r, &[5, 8, 6, 4], ActKind::HardTanh, true);
        common::saturate_first_layer(&mut net, 1.0);
        let f = Function::Surrogate;
        let chain = Chain::from_net(&net, f, 1 << 20).unwrap();
        let opts = LpOptions::default();
        let global = lp_bound(&chain, f, Norm::LinfMargin, &LpMode::Global, &opts, &|_| {}).unwrap();
        let mode = LpMode::Domain { lo: dom.0.clone(), hi: dom.1.clone() };
        let on_domain = lp_bound(&chain, f, Norm::LinfMargin, &mode, &opts, &|_| {}).unwrap();
        assert_eq!(on_domain.scope, Scope::Domain);
        let bounds = vec![global, on_domain];
        let x = random_inputs(&mut r, 5, 24);
        let labels = predictions(&net, f, &x);
        // The network table ignores the domain constant; the domain table takes the smaller of the two.
        let network = PairTable::from_bounds(&bounds, f, InputNorm::Linf, 4).unwrap();
        let domain = PairTable::from_bounds_on_domain(&bounds, f, InputNorm::Linf, 4).unwrap();
        assert!(PairTable::has_domain_constants(&bounds, f, InputNorm::Linf));
        assert!(!PairTable::has_domain_constants(&bounds, f, InputNorm::L2));
        assert_eq!(network, PairTable::from_bounds(&bounds[..1], f, InputNorm::Linf, 4).unwrap());
        let base = margin_radii(&net, f, &network, &x, &labels).unwrap();
        let wide = margin_radii(&net, f, &domain, &x, &labels).unwrap();
        for (k, (a, b)) in wide.iter().zip(&base).enumerate() {
            assert!(a.radius >= b.radius, "net {i} sample {k}");
            gained += usize::from(a.radius > b.radius);
        }
        assert_sound(
            (&net, f),
            &x,
            &labels,
            &radii(&wide, |m| m.radius),
            InputNorm::Linf,
            Some(&dom),
            "domain margin",
        );
    }
    assert!(gained > 10, "domain constants widened only {gained} radii");
}
