//! The attack library on seeded random nets and fixtures: the checklist of Carlini et al. (2019) as properties
//! (success rises to 100 %, iterative beats single-step, budgets nest, noise is weaker), every example
//! confirmed (theorem M1), the decision-based attack where BPDA is stuck, and the minimal search against closed
//! forms (theorem M3).

mod common;

use common::{ActKind, random_mlp, rng, tiny_cnn, tiny_resnet, uniform};
use lcr_verify::attack::{
    Adversarial, DecisionConfig, Domain, MinimalConfig, PgdConfig, Sample, Start, StepSchedule, SweepPoint,
    Target, decision, fgsm, minimal, noise, pgd, success_rate, sweep,
};
use lcr_verify::ir::{Function, InputNorm, Layer, Net, SignZero, Verdict, columns, verdict};
use nalgebra::DVector;
use rand::Rng;
use rayon::prelude::*;

/// Relative slack between a radius computed in floating point from a closed form and a confirmed distance
/// (both carry a few roundings of relative size 1e-16).
const CLOSED_FORM_ROUNDING: f64 = 1e-9;
/// How close (relative) the minimal search must come to the closed-form radius from above.
const MINIMAL_TOL: f64 = 1e-3;

const FUNCTIONS: [Function; 3] = [Function::Deployed, Function::Surrogate, Function::Latent];
const NORMS: [InputNorm; 2] = [InputNorm::L2, InputNorm::Linf];

/// Labelled samples: random points of the domain [−1, 1]ⁿ labelled by the function itself, kept when the
/// enclosure proves the label at the clean point (so the clean point is not adversarial).
fn samples(net: &Net, f: Function, count: usize, seed: u64) -> Vec<(Vec<f64>, usize)> {
    let mut r = rng(seed);
    let mut out = Vec::new();
    while out.len() < count {
        let x: Vec<f64> = (0..net.input_len()).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
        let z = net.forward(&x, f).unwrap();
        let t = (0..z.len()).max_by(|&a, &b| z[a].total_cmp(&z[b]).then(b.cmp(&a))).unwrap();
        let b = net.enclose_points(&columns(std::slice::from_ref(&x)), f).unwrap();
        if verdict(&b, 0, t) == Verdict::Keeps {
            out.push((x, t));
        }
    }
    out
}

fn unit_box(n: usize) -> Domain {
    (vec![-1.0; n], vec![1.0; n])
}

fn mlp(seed: u64, act: ActKind) -> Net {
    random_mlp(&mut rng(seed), &[10, 16, 16, 4], act, true)
}

/// Checks everything an example must satisfy: inside the domain, distance = dist_up (0 for x itself), within
/// `eps` when given, the float forward's label lost, and the enclosure's verdict `Loses`.
#[track_caller]
fn assert_confirmed(target: &Target, sample: &Sample, a: &Adversarial, eps: Option<f64>, what: &str) {
    assert!(target.contains(&a.point), "{what}: outside the domain");
    let d = if a.point.as_slice() == sample.x { 0.0 } else { target.norm.dist_up(sample.x, &a.point) };
    assert_eq!(a.distance, d, "{what}: distance");
    if let Some(eps) = eps {
        assert!(a.distance <= eps, "{what}: distance {} above eps {eps}", a.distance);
    }
    let z = target.net.forward(&a.point, target.function).unwrap();
    assert!(
        z[a.class] >= z[sample.label] && a.class != sample.label,
        "{what}: forward keeps the label: {z:?}"
    );
    let b = target.net.enclose_points(&columns(std::slice::from_ref(&a.point)), target.function).unwrap();
    assert_eq!(verdict(&b, 0, sample.label), Verdict::Loses, "{what}");
    assert!(b.lo[(a.class, 0)] >= b.hi[(sample.label, 0)], "{what}: class {} not proven", a.class);
}

fn pgd_found(target: &Target, s: &Sample, eps: f64, config: &PgdConfig) -> Option<Adversarial> {
    pgd(target, s, eps, config).unwrap().adversarial
}

/// A sweep of budgets that ends beyond the diameter of the domain [−1, 1]ⁿ in either norm.
const SWEEP: [f64; 8] = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 12.0];

/// The cases of the rate tests: (name, net, function).
fn rate_cases() -> Vec<(&'static str, Net, Function)> {
    vec![
        ("hardtanh-mlp", mlp(1, ActKind::HardTanh), Function::Surrogate),
        ("sign-mlp", mlp(1, ActKind::Sign), Function::Deployed),
        ("sign-mlp", mlp(1, ActKind::Sign), Function::Latent),
    ]
}

/// One sweep per sample of an attack run at every budget of [`SWEEP`].
fn sweeps(
    ss: &[(Vec<f64>, usize)],
    attack: &(dyn Fn(&Sample, f64) -> Option<Adversarial> + Sync),
) -> Vec<Vec<SweepPoint>> {
    ss.par_iter()
        .enumerate()
        .map(|(i, (x, t))| {
            let s = Sample { x, label: *t, index: i as u64 };
            sweep(&SWEEP, |e| Ok(attack(&s, e))).unwrap()
        })
        .collect()
}

fn rates(sw: &[Vec<SweepPoint>]) -> Vec<f64> {
    (0..SWEEP.len()).map(|k| success_rate(sw, k)).collect()
}

#[test]
fn success_rate_rises_to_one_as_eps_grows() {
    for (name, net, f) in rate_cases() {
        let domain = unit_box(net.input_len());
        let ss = samples(&net, f, 32, 4);
        for norm in NORMS {
            let target = Target::new(&net, f, norm, &domain, 3).unwrap();
            let r = rates(&sweeps(&ss, &|s, e| pgd_found(&target, s, e, &PgdConfig::default())));
            assert_eq!(r[0], 0.0, "{name} {f:?} {norm:?}: the clean points are proven correct");
            assert_eq!(*r.last().unwrap(), 1.0, "{name} {f:?} {norm:?}: {r:?}");
            assert!(r.windows(2).any(|w| w[0] < w[1]) && r[1] < 1.0, "{name} {f:?} {norm:?}: {r:?}");
        }
    }
}

/// PGD's first iterate is FGSM's point ([`Start::Fgsm`]), so a sample FGSM breaks PGD breaks too; over the
/// sweep the iterative attack is strictly stronger somewhere.
#[test]
fn pgd_is_at_least_as_strong_as_fgsm_at_every_eps() {
    for (name, net, f) in rate_cases() {
        let domain = unit_box(net.input_len());
        let ss = samples(&net, f, 32, 5);
        for norm in NORMS {
            let target = Target::new(&net, f, norm, &domain, 3).unwrap();
            let fg = sweeps(&ss, &|s, e| fgsm(&target, s, e).unwrap());
            let pg = sweeps(&ss, &|s, e| pgd_found(&target, s, e, &PgdConfig::default()));
            for (a, b) in fg.iter().flatten().zip(pg.iter().flatten()) {
                assert!(
                    !a.success() || b.success(),
                    "{name} {f:?} {norm:?} eps {}: FGSM broke it, PGD not",
                    a.eps
                );
            }
            let (rf, rp) = (rates(&fg), rates(&pg));
            assert!(rf.iter().zip(&rp).all(|(a, b)| a <= b), "{name} {f:?} {norm:?}: fgsm {rf:?} pgd {rp:?}");
            assert!(rf.iter().zip(&rp).any(|(a, b)| a < b), "{name} {f:?} {norm:?}: fgsm {rf:?} pgd {rp:?}");
        }
    }
}

/// With a schedule that does not depend on the number of steps, the runs of a smaller budget are prefixes of
/// the larger budget's: more steps or more restarts never lose a success (per sample, hence in rate).
#[test]
fn more_steps_or_restarts_never_lower_the_success_rate() {
    let budgets = [(0, 1), (1, 1), (3, 1), (10, 1), (10, 2), (30, 2), (30, 4)];
    let schedules = [StepSchedule::Constant(0.2), StepSchedule::Halving { c: 0.5, every: 5 }];
    for (name, net, f) in rate_cases() {
        let domain = unit_box(net.input_len());
        let ss = samples(&net, f, 16, 6);
        for norm in NORMS {
            let target = Target::new(&net, f, norm, &domain, 9).unwrap();
            for schedule in schedules {
                for stop_at_first in [false, true] {
                    let results: Vec<Vec<Vec<SweepPoint>>> = budgets
                        .iter()
                        .map(|&(steps, restarts)| {
                            let c = PgdConfig {
                                steps,
                                restarts,
                                schedule,
                                stop_at_first,
                                start: Start::Random,
                                ..PgdConfig::default()
                            };
                            sweeps(&ss, &|s, e| pgd_found(&target, s, e, &c))
                        })
                        .collect();
                    for (k, w) in results.windows(2).enumerate() {
                        for (a, b) in w[0].iter().flatten().zip(w[1].iter().flatten()) {
                            assert!(
                                !a.success() || b.success(),
                                "{name} {f:?} {norm:?} {schedule:?}: budget {:?} broke a sample at eps {} that {:?} did not",
                                budgets[k],
                                a.eps,
                                budgets[k + 1]
                            );
                        }
                    }
                    let first = rates(&results[0]);
                    let last = rates(results.last().unwrap());
                    assert!(first.iter().zip(&last).any(|(a, b)| a < b), "{name}: {first:?} vs {last:?}");
                }
            }
        }
    }
}

/// Noise gets as many random directions as PGD has runs. (On the deployed net in ℓ2 at the smallest budgets
/// the BPDA direction is no better than a random one, and noise with many more draws than PGD has starts can
/// match it there: the masking of corruptions-and-attacks.md §6.5.)
#[test]
fn random_noise_is_weaker_than_pgd() {
    let config = PgdConfig::default();
    for f in [Function::Surrogate, Function::Deployed] {
        let net = random_mlp(&mut rng(12), &[32, 24, 24, 4], ActKind::Sign, true);
        let domain = unit_box(32);
        let ss = samples(&net, f, 32, 13);
        for norm in NORMS {
            let target = Target::new(&net, f, norm, &domain, 3).unwrap();
            let rn = rates(&sweeps(&ss, &|s, e| noise(&target, s, e, config.restarts).unwrap()));
            let rp = rates(&sweeps(&ss, &|s, e| pgd_found(&target, s, e, &config)));
            assert!(rn.iter().zip(&rp).all(|(a, b)| a <= b), "{f:?} {norm:?}: noise {rn:?} pgd {rp:?}");
            assert!(rn.iter().zip(&rp).any(|(a, b)| a < b), "{f:?} {norm:?}: noise {rn:?} pgd {rp:?}");
        }
    }
}

/// The sign network of `mlp(seed, Sign)` with every affine map before a sign multiplied by 1000: the same
/// deployed function (sign is scale-invariant), but the sign inputs leave the straight-through window.
fn saturated(seed: u64) -> Net {
    let mut net = mlp(seed, ActKind::Sign);
    for layer in &mut net.layers {
        if let Layer::Affine { scale, shift } = layer {
            scale.iter_mut().for_each(|s| *s *= 1e3);
            shift.iter_mut().for_each(|s| *s *= 1e3);
        }
    }
    net
}

#[test]
fn decision_attack_breaks_a_deployed_net_where_bpda_is_stuck() {
    let net = saturated(1);
    let domain = unit_box(10);
    let f = Function::Deployed;
    let ss: Vec<_> = samples(&net, f, 40, 7)
        .into_iter()
        .filter(|(x, _)| {
            let fw = net.forward_points(x, f).unwrap();
            fw.points.iter().all(|p| p.values.iter().all(|v| v.abs() > 1.0))
        })
        .take(8)
        .collect();
    assert_eq!(ss.len(), 8, "enough samples with every sign input outside the window");
    let config = DecisionConfig { iterations: 10, ..DecisionConfig::default() };
    for norm in NORMS {
        let target = Target::new(&net, f, norm, &domain, 5).unwrap();
        for (i, (x, t)) in ss.iter().enumerate() {
            let s = Sample { x, label: *t, index: i as u64 };
            let g = target.loss_and_grad(x, *t, lcr_verify::attack::Loss::Margin).unwrap();
            assert!(g.grad.iter().all(|v| *v == 0.0), "the BPDA gradient is zero");
            let big = 12.0;
            assert!(fgsm(&target, &s, big).unwrap().is_none());
            let stuck = PgdConfig { restarts: 1, ..PgdConfig::default() };
            let out = pgd(&target, &s, big, &stuck).unwrap();
            assert!(out.adversarial.is_none(), "{norm:?} sample {i}: PGD without a gradient stays at x");
            let found = decision(&target, &s, &config).unwrap();
            let a =
                found.adversarial.unwrap_or_else(|| panic!("{norm:?} sample {i}: decision attack failed"));
            assert_confirmed(&target, &s, &a, None, "decision");
        }
    }
}

/// Small budgets for the confirmation sweep over every net, function and norm.
fn quick_decision() -> DecisionConfig {
    DecisionConfig { directions: 8, starts: 2, iterations: 4, probes: 16, ..DecisionConfig::default() }
}

fn quick_minimal() -> MinimalConfig {
    MinimalConfig {
        pgd: PgdConfig { steps: 10, restarts: 1, targeted: 1, ..PgdConfig::default() },
        eps_max: Some(1.0),
        decision: Some(quick_decision()),
        rounds: 4,
        ..MinimalConfig::default()
    }
}

#[test]
fn every_returned_example_is_confirmed() {
    let nets: Vec<(&str, Net)> = vec![
        ("hardtanh-mlp", mlp(2, ActKind::HardTanh)),
        ("sign-mlp", mlp(3, ActKind::Sign)),
        ("tiny-cnn", tiny_cnn(4)),
        ("tiny-resnet", tiny_resnet(5)),
    ];
    let mut count = 0;
    for (name, net) in &nets {
        let domain = unit_box(net.input_len());
        for f in FUNCTIONS {
            let ss = samples(net, f, 3, 8);
            for norm in NORMS {
                let target = Target::new(net, f, norm, &domain, 1).unwrap();
                for (i, (x, t)) in ss.iter().enumerate() {
                    let s = Sample { x, label: *t, index: i as u64 };
                    let what = |a: &str, e: f64| format!("{name} {f:?} {norm:?} sample {i} {a} eps {e}");
                    for eps in [0.1, 0.5, 2.0] {
                        let fixed = [
                            ("fgsm", fgsm(&target, &s, eps).unwrap()),
                            (
                                "pgd",
                                pgd_found(
                                    &target,
                                    &s,
                                    eps,
                                    &PgdConfig { targeted: 1, ..PgdConfig::default() },
                                ),
                            ),
                            ("noise", noise(&target, &s, eps, 8).unwrap()),
                        ];
                        for (a, found) in fixed {
                            if let Some(adv) = found {
                                assert_confirmed(&target, &s, &adv, Some(eps), &what(a, eps));
                                count += 1;
                            }
                        }
                    }
                    if let Some(adv) = decision(&target, &s, &quick_decision()).unwrap().adversarial {
                        assert_confirmed(&target, &s, &adv, None, &what("decision", 0.0));
                        count += 1;
                    }
                    let m = minimal(&target, &s, &quick_minimal(), &[]).unwrap();
                    if let Some(adv) = &m.best {
                        assert_confirmed(&target, &s, adv, None, &what("minimal", 0.0));
                        assert_eq!(m.radius, adv.distance);
                        count += 1;
                    } else {
                        assert_eq!(m.radius, f64::INFINITY);
                    }
                }
            }
        }
    }
    assert!(count > 300, "only {count} examples checked");
}

/// The minimal search is given every success of the single attacks for the sample and never ends above any of
/// them; run without them but with the same PGD budget at `eps_max` and the same decision attack (the same
/// seed streams), it never ends above those two either.
#[test]
fn minimal_radius_is_never_above_a_single_attack() {
    for (name, net, f) in rate_cases() {
        let domain = unit_box(net.input_len());
        let ss = samples(&net, f, 8, 14);
        for norm in NORMS {
            let target = Target::new(&net, f, norm, &domain, 2).unwrap();
            for (i, (x, t)) in ss.iter().enumerate() {
                let s = Sample { x, label: *t, index: i as u64 };
                let config = quick_minimal();
                let eps_max = config.eps_max.unwrap();
                let mut found: Vec<Adversarial> = Vec::new();
                for e in SWEEP {
                    found.extend(fgsm(&target, &s, e).unwrap());
                    found.extend(pgd_found(&target, &s, e, &config.pgd));
                    found.extend(noise(&target, &s, e, 4).unwrap());
                }
                found.extend(decision(&target, &s, config.decision.as_ref().unwrap()).unwrap().adversarial);
                let with = minimal(&target, &s, &config, &found).unwrap();
                for a in &found {
                    assert!(
                        with.radius <= a.distance,
                        "{name} {f:?} {norm:?} {i}: {} > {:?} {}",
                        with.radius,
                        a.attack,
                        a.distance
                    );
                }
                let alone = minimal(&target, &s, &config, &[]).unwrap();
                let singles = [
                    pgd_found(&target, &s, eps_max, &config.pgd),
                    decision(&target, &s, config.decision.as_ref().unwrap()).unwrap().adversarial,
                ];
                for a in singles.iter().flatten() {
                    assert!(
                        alone.radius <= a.distance,
                        "{name} {f:?} {norm:?} {i}: {} > {:?} {}",
                        alone.radius,
                        a.attack,
                        a.distance
                    );
                }
                assert!(with.radius.is_finite() && alone.radius.is_finite(), "{name} {f:?} {norm:?} {i}");
                assert!(with.bracket.0 <= with.bracket.1 && with.bracket.1 == with.radius);
            }
        }
    }
}

/// A classifier z = Ax + c (exactly affine on the domain), and its closed-form radius (theorem M3):
/// r* = min_{j≠t} (z_t − z_j)/‖a_t − a_j‖_q, q = 2 for ℓ2 and 1 for ℓ∞, when the domain holds the ball.
fn closed_form(a: &nalgebra::DMatrix<f64>, c: &DVector<f64>, x: &[f64], t: usize, norm: InputNorm) -> f64 {
    let z = a * DVector::from_column_slice(x) + c;
    let mut best = f64::INFINITY;
    for j in (0..z.len()).filter(|&j| j != t) {
        let w: Vec<f64> = (0..x.len()).map(|k| a[(t, k)] - a[(j, k)]).collect();
        let q = match norm {
            InputNorm::L2 => w.iter().map(|v| v * v).sum::<f64>().sqrt(),
            InputNorm::Linf => w.iter().map(|v| v.abs()).sum::<f64>(),
        };
        best = best.min((z[t] - z[j]) / q);
    }
    best
}

#[test]
fn minimal_search_finds_the_closed_form_radius_of_affine_classifiers() {
    let mut r = rng(15);
    let config = MinimalConfig {
        // Step sizes halved every 10 steps down to ε/128: fine enough to stop inside a thin adversarial shell.
        pgd: PgdConfig {
            steps: 60,
            restarts: 1,
            targeted: 3,
            schedule: StepSchedule::Halving { c: 0.25, every: 10 },
            ..PgdConfig::default()
        },
        eps_max: Some(8.0),
        decision: None,
        rounds: 20,
        tolerance: 1e-6,
        lower: 0.0,
    };
    // A linear net, and a one-hidden-layer hardtanh net, both on a domain far larger than every ball. The
    // hardtanh net is affine wherever its pre-activations lie in [−1, 1]; samples whose closed ball of radius r*
    // leaves that region are skipped (inside it the net is the affine classifier, so r* is its radius).
    let (d, h, k) = (6, 8, 4);
    let domain = (vec![-50.0; d], vec![50.0; d]);
    let w = uniform(&mut r, k, d);
    let b = DVector::from_fn(k, |_, _| r.random::<f64>() - 0.5);
    let linear = Net {
        input_shape: vec![d],
        classes: k,
        sign_zero: SignZero::PlusOne,
        layers: vec![Layer::Dense { weight: w.clone(), latent: None, bias: Some(b.clone()) }],
    };
    let w1 = uniform(&mut r, h, d) / 4.0;
    let b1 = DVector::from_fn(h, |_, _| (r.random::<f64>() - 0.5) / 4.0);
    let w2 = uniform(&mut r, k, h);
    let b2 = DVector::from_fn(k, |_, _| r.random::<f64>() - 0.5);
    let hardtanh = Net {
        input_shape: vec![d],
        classes: k,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Dense { weight: w1.clone(), latent: None, bias: Some(b1.clone()) },
            Layer::HardTanh,
            Layer::Dense { weight: w2.clone(), latent: None, bias: Some(b2.clone()) },
        ],
    };
    // Row norms of the first layer (dual norm: ℓ2 for ℓ2 balls, ℓ1 for ℓ∞ balls); none for the linear net.
    let affine_region = |x: &[f64], rstar: f64, norm: InputNorm| {
        (0..h).all(|i| {
            let u: f64 = (0..d).map(|j| w1[(i, j)] * x[j]).sum::<f64>() + b1[i];
            let q = match norm {
                InputNorm::L2 => w1.row(i).norm(),
                InputNorm::Linf => w1.row(i).iter().map(|v| v.abs()).sum(),
            };
            u.abs() + rstar * q < 1.0
        })
    };
    let cases = [
        ("linear", &linear, w.clone(), b.clone(), false),
        ("hardtanh", &hardtanh, &w2 * &w1, &w2 * &b1 + &b2, true),
    ];
    let mut checked = 0;
    for (name, net, a, c, nonlinear) in cases {
        for norm in NORMS {
            let target = Target::new(net, Function::Surrogate, norm, &domain, 4).unwrap();
            for (i, (x, t)) in samples(net, Function::Surrogate, 12, 16).iter().enumerate() {
                let rstar = closed_form(&a, &c, x, *t, norm);
                if nonlinear && !affine_region(x, rstar, norm) {
                    continue;
                }
                let s = Sample { x, label: *t, index: i as u64 };
                let m = minimal(&target, &s, &config, &[]).unwrap();
                assert!(
                    m.radius >= rstar * (1.0 - CLOSED_FORM_ROUNDING),
                    "{name} {norm:?} {i}: {} < r* {rstar}",
                    m.radius
                );
                assert!(
                    m.radius <= rstar * (1.0 + MINIMAL_TOL),
                    "{name} {norm:?} {i}: {} vs r* {rstar}",
                    m.radius
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 24, "only {checked} samples had their nearest point in the domain");
}

/// A one-hidden-layer ReLU net with logits (|v·x|, c): the label 0 is lost where |v·x| ≤ c, so
/// r* = (|v·x| − c)/‖v‖_q (q = 2 for ℓ2, 1 for ℓ∞).
#[test]
fn minimal_search_finds_the_closed_form_radius_of_a_relu_net() {
    let mut r = rng(17);
    let d = 6;
    let v: Vec<f64> = (0..d).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let level = 0.2;
    let mut first = nalgebra::DMatrix::zeros(2, d);
    for k in 0..d {
        first[(0, k)] = v[k];
        first[(1, k)] = -v[k];
    }
    let net = Net {
        input_shape: vec![d],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Dense { weight: first, latent: None, bias: None },
            Layer::Relu,
            Layer::Dense {
                weight: nalgebra::DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 0.0]),
                latent: None,
                bias: Some(DVector::from_vec(vec![0.0, level])),
            },
        ],
    };
    let domain = (vec![-50.0; d], vec![50.0; d]);
    let config = MinimalConfig { eps_max: Some(5.0), rounds: 20, tolerance: 1e-6, ..quick_minimal() };
    let mut checked = 0;
    for norm in NORMS {
        let target = Target::new(&net, Function::Surrogate, norm, &domain, 4).unwrap();
        for (i, (x, t)) in samples(&net, Function::Surrogate, 16, 18).iter().enumerate() {
            if *t != 0 {
                continue;
            }
            let dot: f64 = v.iter().zip(x.iter()).map(|(a, b)| a * b).sum();
            let q = match norm {
                InputNorm::L2 => v.iter().map(|a| a * a).sum::<f64>().sqrt(),
                InputNorm::Linf => v.iter().map(|a| a.abs()).sum::<f64>(),
            };
            let rstar = (dot.abs() - level) / q;
            let s = Sample { x, label: 0, index: i as u64 };
            let m = minimal(&target, &s, &config, &[]).unwrap();
            assert!(
                m.radius >= rstar * (1.0 - CLOSED_FORM_ROUNDING),
                "{norm:?} {i}: {} < r* {rstar}",
                m.radius
            );
            assert!(m.radius <= rstar * (1.0 + MINIMAL_TOL), "{norm:?} {i}: {} vs r* {rstar}", m.radius);
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} samples of class 0");
}

/// The same seed gives the same examples whether the samples run in order or in parallel, and another seed
/// gives other random choices.
#[test]
fn results_are_deterministic_and_independent_of_scheduling() {
    let net = tiny_cnn(6);
    let domain = unit_box(net.input_len());
    let f = Function::Deployed;
    let ss = samples(&net, f, 6, 19);
    let run = |seed: u64, parallel: bool| {
        let target = Target::new(&net, f, InputNorm::L2, &domain, seed).unwrap();
        let one = |(i, (x, t)): (usize, &(Vec<f64>, usize))| {
            let s = Sample { x, label: *t, index: i as u64 };
            let p = pgd(&target, &s, 0.8, &PgdConfig::default()).unwrap();
            let d = decision(&target, &s, &quick_decision()).unwrap();
            let n = noise(&target, &s, 0.8, 4).unwrap();
            (p.adversarial, p.best_margin, d.adversarial, d.queries, n)
        };
        if parallel {
            ss.par_iter().enumerate().map(one).collect::<Vec<_>>()
        } else {
            ss.iter().enumerate().map(one).collect::<Vec<_>>()
        }
    };
    let a = run(11, false);
    assert_eq!(a, run(11, true));
    assert_eq!(a, run(11, false));
    assert_ne!(a, run(12, false));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let net = mlp(1, ActKind::Sign);
    let domain = unit_box(10);
    let x = vec![0.1; 10];
    let target = Target::new(&net, Function::Deployed, InputNorm::Linf, &domain, 0).unwrap();
    let good = Sample { x: &x, label: 0, index: 0 };
    let short = Sample { x: &x[1..], ..good };
    let mut nan_x = x.clone();
    nan_x[3] = f64::NAN;
    let nan = Sample { x: &nan_x, ..good };
    let far_x = vec![1.5; 10];
    let outside = Sample { x: &far_x, ..good };
    let label = Sample { label: 4, ..good };
    let pc = PgdConfig::default();
    let dc = quick_decision();
    let mc = quick_minimal();
    for s in [short, nan, outside, label] {
        assert!(fgsm(&target, &s, 0.1).is_err());
        assert!(pgd(&target, &s, 0.1, &pc).is_err());
        assert!(noise(&target, &s, 0.1, 2).is_err());
        assert!(decision(&target, &s, &dc).is_err());
        assert!(minimal(&target, &s, &mc, &[]).is_err());
    }
    for eps in [f64::NAN, -0.1, f64::INFINITY] {
        assert!(fgsm(&target, &good, eps).is_err());
        assert!(pgd(&target, &good, eps, &pc).is_err());
        assert!(noise(&target, &good, eps, 2).is_err());
    }
    assert!(pgd(&target, &good, 0.1, &PgdConfig { restarts: 0, ..pc.clone() }).is_err());
    assert!(
        pgd(&target, &good, 0.1, &PgdConfig { schedule: StepSchedule::Constant(f64::NAN), ..pc.clone() })
            .is_err()
    );
    assert!(
        pgd(&target, &good, 0.1, &PgdConfig { start: Start::Point(vec![0.0; 3]), ..pc.clone() }).is_err()
    );
    assert!(decision(&target, &good, &DecisionConfig { probes: 1, ..dc.clone() }).is_err());
    assert!(minimal(&target, &good, &MinimalConfig { lower: f64::NAN, ..mc.clone() }, &[]).is_err());
    let wrong = Adversarial {
        point: vec![0.0; 3],
        distance: 0.0,
        attack: lcr_verify::attack::AttackKind::Pgd,
        class: 1,
    };
    assert!(minimal(&target, &good, &mc, &[wrong]).is_err());
    let bad_domain = (vec![0.0; 10], vec![-1.0; 10]);
    assert!(Target::new(&net, Function::Deployed, InputNorm::Linf, &bad_domain, 0).is_err());
    let short_domain = (vec![0.0; 9], vec![1.0; 9]);
    assert!(Target::new(&net, Function::Deployed, InputNorm::Linf, &short_domain, 0).is_err());
    assert!(target.loss_and_grad(&x, 0, lcr_verify::attack::Loss::Targeted(0)).is_err());
    // A net (not validated) whose output length disagrees with its class count.
    let mut liar = mlp(1, ActKind::Sign);
    liar.classes = 6;
    let lying = Target::new(&liar, Function::Surrogate, InputNorm::L2, &domain, 0).unwrap();
    for label in [0, 5] {
        let s = Sample { label, ..good };
        assert!(fgsm(&lying, &s, 0.1).is_err());
        assert!(pgd(&lying, &s, 0.1, &pc).is_err());
        assert!(noise(&lying, &s, 0.1, 2).is_err());
        assert!(decision(&lying, &s, &dc).is_err());
        assert!(minimal(&lying, &s, &mc, &[]).is_err());
    }
    // A good sample still works.
    assert!(pgd(&target, &good, 0.1, &pc).is_ok());
}
