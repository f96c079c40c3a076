//! Both audits on seeded random networks: every certificate method against the minimal-perturbation search, and
//! against corrupted images.

mod common;

use common::{ActKind, random_mlp, rng, tiny_cnn, tiny_resnet};
use lcr_verify::attack::{DecisionConfig, MinimalConfig, PgdConfig, Sample, Target, minimal};
use lcr_verify::audit::adversarial::{RadiusPair, audit};
use lcr_verify::audit::corruption::{CertifiedRadii, CorruptionAudit};
use lcr_verify::bounds::layer_norm::SpectralOptions;
use lcr_verify::bounds::{Norm, spectral::spectral_product};
use lcr_verify::certify::{
    ExactOptions, LocalLpOptions, PairTable, PropagationOptions, bound_propagation,
    exact_minimal_perturbation, local_lp_radii, margin_radii,
};
use lcr_verify::data::{ImageSet, Normalization};
use lcr_verify::ir::{Function, InputNorm, Net, columns};
use nalgebra::DMatrix;
use rand::Rng;

const FUNCTIONS: [Function; 3] = [Function::Deployed, Function::Surrogate, Function::Latent];
const NORMS: [InputNorm; 2] = [InputNorm::L2, InputNorm::Linf];

fn nets() -> Vec<(&'static str, Net)> {
    let mut r = rng(31);
    vec![
        ("sign-mlp", random_mlp(&mut r, &[6, 8, 6, 3], ActKind::Sign, true)),
        ("hardtanh-mlp", random_mlp(&mut r, &[5, 7, 6, 3], ActKind::HardTanh, true)),
        ("cnn", tiny_cnn(32)),
        ("resnet", tiny_resnet(33)),
    ]
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

/// The best certified radius of every column of `x` for `f` and `norm`, over every method that applies.
fn certified(
    net: &Net,
    f: Function,
    norm: InputNorm,
    x: &DMatrix<f64>,
    labels: &[usize],
    domain: &(Vec<f64>, Vec<f64>),
) -> Vec<f64> {
    let n = x.ncols();
    let mut best = vec![0.0f64; n];
    let mut offer = |r: &[f64]| best.iter_mut().zip(r).for_each(|(b, v)| *b = b.max(*v));
    if f == Function::Deployed {
        let bp = bound_propagation(net, x, labels, norm, &PropagationOptions::default()).unwrap();
        offer(&bp.iter().map(|p| p.radius).collect::<Vec<_>>());
        let opts = ExactOptions { domain: Some(domain.clone()), ..Default::default() };
        if let Ok(e) = exact_minimal_perturbation(net, x, labels, norm, &opts).unwrap() {
            offer(&e.iter().map(|e| e.lower).collect::<Vec<_>>());
        }
    } else {
        let bounds: Vec<_> = [Norm::L2, Norm::L2Margin, Norm::LinfMargin]
            .into_iter()
            .map(|m| spectral_product(net, f, m, &SpectralOptions::default(), &|_| {}).unwrap())
            .collect();
        let table = PairTable::from_bounds(&bounds, f, norm, net.classes).unwrap();
        offer(&margin_radii(net, f, &table, x, labels).unwrap().iter().map(|m| m.radius).collect::<Vec<_>>());
        if norm == InputNorm::Linf {
            let opts = LocalLpOptions { domain: Some(domain.clone()), ..Default::default() };
            if let Ok(l) = local_lp_radii(net, f, &table, x, labels, &opts).unwrap() {
                offer(&l.iter().map(|l| l.radius).collect::<Vec<_>>());
            }
        }
    }
    best
}

#[test]
fn adversarial_audit_passes_on_seeded_random_networks() {
    let mut r = rng(41);
    let search = |f: Function| MinimalConfig {
        pgd: PgdConfig { steps: 15, restarts: 2, stop_at_first: true, ..PgdConfig::default() },
        eps_max: Some(6.0),
        decision: (f == Function::Deployed).then(DecisionConfig::default),
        lower: 0.0,
        rounds: 6,
        tolerance: 1e-4,
    };
    for (name, net) in nets() {
        let d = net.input_len();
        let domain = (vec![-1.5; d], vec![1.5; d]);
        let xs: Vec<Vec<f64>> =
            (0..10).map(|_| (0..d).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()).collect();
        let x = columns(&xs);
        for f in FUNCTIONS {
            let labels: Vec<usize> = xs.iter().map(|v| argmax(&net.forward(v, f).unwrap())).collect();
            for norm in NORMS {
                let cert = certified(&net, f, norm, &x, &labels, &domain);
                let target = Target::new(&net, f, norm, &domain, 7).unwrap();
                let pairs: Vec<RadiusPair> = (0..xs.len())
                    .map(|i| {
                        let sample = Sample { x: &xs[i], label: labels[i], index: i as u64 };
                        let out = minimal(&target, &sample, &search(f), &[]).unwrap();
                        RadiusPair { sample: i, certified: cert[i], empirical: out.best.map(|a| a.distance) }
                    })
                    .collect();
                let (count, bad) = audit(f, norm, &pairs);
                assert!(
                    bad.is_empty(),
                    "{name} {f:?} {norm:?}: {:?}",
                    bad.iter().map(|&b| pairs[b]).collect::<Vec<_>>()
                );
                // Not vacuous: most samples carry both a positive certificate and a confirmed example.
                let both = pairs.iter().filter(|p| p.certified > 0.0 && p.empirical.is_some()).count();
                assert!(
                    count.checked >= 5 && both >= 5,
                    "{name} {f:?} {norm:?}: {count:?}, {both} with both radii"
                );
            }
        }
    }
}

#[test]
fn corruption_audit_passes_on_a_seeded_random_network() {
    // tiny_cnn reads 6×6 gray images: pixels p normalised as (p/255 − 0.5)/0.25 ∈ [−2, 2].
    let net = tiny_cnn(35);
    let norm = Normalization { mean: vec![0.5], std: vec![0.25] };
    let mut r = rng(43);
    let n = 24;
    let pixels: Vec<u8> = (0..n * 36).map(|_| r.random::<u8>()).collect();
    let mut clean = ImageSet::new(6, 6, 1, pixels, vec![0; n]).unwrap();
    let values = norm.values(&clean, &(0..n).collect::<Vec<_>>()).unwrap();
    let xs: Vec<Vec<f64>> = values.chunks(36).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    let domain = norm.input_box(6, 6);
    for (k, v) in xs.iter().enumerate() {
        clean.labels[k] = argmax(&net.forward(v, Function::Deployed).unwrap()) as u8;
    }
    let labels: Vec<usize> = clean.labels.iter().map(|&l| l as usize).collect();
    let x = columns(&xs);
    let mut certs = Vec::new();
    for f in [Function::Deployed, Function::Surrogate] {
        for nm in NORMS {
            let radius = certified(&net, f, nm, &x, &labels, &domain);
            certs.push(CertifiedRadii { function: f, norm: nm, method: vec!["best".into(); n], radius });
        }
    }
    let mut a = CorruptionAudit::new(&net, &norm, &clean, certs).unwrap();
    // "Corruptions": every pixel moved by at most `level`, a few severities, seeded.
    for (sev, level) in [(1u8, 1i32), (2, 3), (3, 12), (4, 60)] {
        a.begin_cell("uniform_noise", sev);
        let noisy: Vec<u8> = clean
            .pixels
            .iter()
            .map(|&p| (p as i32 + r.random_range(-level..=level)).clamp(0, 255) as u8)
            .collect();
        let set = ImageSet::new(6, 6, 1, noisy, clean.labels.clone()).unwrap();
        let vals = norm.values(&set, &(0..n).collect::<Vec<_>>()).unwrap();
        let preds: Vec<u8> = vals
            .chunks(36)
            .map(|c| {
                argmax(
                    &net.forward(&c.iter().map(|&v| v as f64).collect::<Vec<_>>(), Function::Deployed)
                        .unwrap(),
                ) as u8
            })
            .collect();
        a.observe(0, &set, &preds).unwrap();
        a.end_cell();
    }
    let (report, violations) = a.finish();
    assert!(violations.is_empty(), "{violations:?}");
    assert!(report.checks.iter().all(|c| c.violations == 0));
    // The mildest noise lands inside some certified balls, so the check is exercised.
    assert!(report.checks.iter().any(|c| c.checked > 0), "{:?}", report.checks);
    assert_eq!(report.cells.len(), 4 * 4);
}
