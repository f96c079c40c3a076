//! The audits flag exactly the contradicted certificates, and nothing else.

mod common;

use lcr_verify::audit::adversarial::{RadiusPair, audit};
use lcr_verify::audit::corruption::{CertifiedRadii, CorruptionAudit};
use lcr_verify::data::{ImageSet, Normalization};
use lcr_verify::ir::{Function, InputNorm, Layer, Net, SignZero};
use nalgebra::{DMatrix, DVector};

#[test]
fn adversarial_audit_counts_and_flags() {
    let pairs = [
        RadiusPair { sample: 0, certified: 0.5, empirical: Some(0.7) },
        RadiusPair { sample: 1, certified: 0.5, empirical: Some(0.5) }, // on the sphere: allowed (open ball)
        RadiusPair { sample: 2, certified: 0.6, empirical: Some(0.4) }, // contradicted
        RadiusPair { sample: 3, certified: 0.6, empirical: None },      // nothing found: not checked
        RadiusPair { sample: 4, certified: 0.0, empirical: Some(0.0) }, // misclassified
    ];
    let (count, bad) = audit(Function::Surrogate, InputNorm::L2, &pairs);
    assert_eq!((count.checked, count.violations), (4, 1));
    assert_eq!(bad, vec![2]);
}

/// A 2×2 gray image network whose logits are [x₀ + x₁ + x₂ + x₃, 0]: class 0 iff the mean normalised pixel is
/// positive.
fn sum_net() -> Net {
    Net {
        input_shape: vec![1, 2, 2],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Flatten,
            Layer::Dense {
                weight: DMatrix::from_row_slice(2, 4, &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
                latent: None,
                bias: Some(DVector::zeros(2)),
            },
        ],
    }
}

#[test]
fn corruption_audit_catches_a_false_certificate_and_passes_true_ones() {
    let net = sum_net();
    let norm = Normalization { mean: vec![0.5], std: vec![0.5] };
    // Clean: two bright images (class 0, normalised sum 4·(0.8/0.5·... ) > 0).
    let clean = ImageSet::new(2, 2, 1, vec![230, 230, 230, 230, 200, 200, 200, 200], vec![0, 0]).unwrap();
    // Corrupted: image 0 darkened to class 1, image 1 barely changed.
    let corrupted = ImageSet::new(2, 2, 1, vec![20, 20, 20, 20, 198, 200, 200, 200], vec![0, 0]).unwrap();
    let predictions = [1u8, 0u8];
    // Sample 0's ℓ∞ distance: (230 − 20)/255/0.5 ≈ 1.647; its true ℓ∞ radius is its mean normalised value ≈ 0.804.
    // A false certificate of radius 10 covers the corrupted image, whose label changed: a violation. Sample 1's
    // certificate (0.5, true: its normalised pixels are ≈ 0.569) covers its barely changed copy, which keeps it.
    let certs = vec![CertifiedRadii {
        function: Function::Surrogate,
        norm: InputNorm::Linf,
        radius: vec![10.0, 0.5],
        method: vec!["false".into(), "true".into()],
    }];
    let mut audit = CorruptionAudit::new(&net, &norm, &clean, certs).unwrap();
    audit.begin_cell("darken", 3);
    audit.observe(0, &corrupted, &predictions).unwrap();
    audit.end_cell();
    let (report, violations) = audit.finish();
    assert_eq!(report.checks[0].checked, 2);
    assert_eq!(report.checks[0].violations, 1);
    assert_eq!(violations.len(), 1);
    let v = &violations[0];
    assert_eq!((v.sample, v.perturbed_prediction, v.method.as_str()), (0, 1, "false"));
    assert!(v.distance > 1.6 && v.distance < 1.7, "{}", v.distance);
    let cell = &report.cells[0];
    assert_eq!((cell.images, cell.inside, cell.violations, cell.undecided), (2, 2, 1, 0));
    assert_eq!(cell.inside_fraction, 1.0);
    // Ratios 1.647/10 and (2/255/0.5)/0.5 ≈ 0.031: median is their mean.
    let expect = ((210.0 / 255.0 / 0.5) / 10.0 + (2.0 / 255.0 / 0.5) / 0.5) / 2.0;
    assert!((cell.median_ratio.unwrap() - expect).abs() < 1e-6, "{:?} vs {expect}", cell.median_ratio);
}

#[test]
fn images_beyond_the_certified_samples_are_not_audited() {
    let net = sum_net();
    let norm = Normalization { mean: vec![0.5], std: vec![0.5] };
    let clean = ImageSet::new(2, 2, 1, vec![230; 8], vec![0, 0]).unwrap();
    let certs = vec![CertifiedRadii {
        function: Function::Deployed,
        norm: InputNorm::L2,
        radius: vec![0.1],
        method: vec!["m".into()],
    }];
    let mut audit = CorruptionAudit::new(&net, &norm, &clean, certs).unwrap();
    assert_eq!(audit.samples(), 1);
    audit.begin_cell("noise", 1);
    let corrupted = ImageSet::new(2, 2, 1, vec![230; 8], vec![0, 0]).unwrap();
    audit.observe(0, &corrupted, &[0, 0]).unwrap();
    audit.end_cell();
    let (report, _) = audit.finish();
    assert_eq!(report.cells[0].images, 1);
    assert_eq!(report.checks[0].checked, 1);
}
