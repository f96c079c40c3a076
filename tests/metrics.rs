//! Metrics with exact expected values: hand-made error tables, and a full evaluation of hand-written
//! classifiers on generated data whose errors follow from the definitions.

use std::collections::BTreeMap;

use lcr_verify::corrupt::{Corruption, Suite};
use lcr_verify::data::ImageSet;
use lcr_verify::robustness::metrics::{self, ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, Baseline, ErrorTable};
use lcr_verify::robustness::{self, Classifier, EvalOptions, Generated, NearestClassMean, SuiteRun};

/// Exact arithmetic up to `f64` rounding.
const EXACT: f64 = 1e-12;

fn row(v: &[f64]) -> BTreeMap<u8, f64> {
    v.iter().enumerate().map(|(i, &e)| (i as u8 + 1, e)).collect()
}

fn table(clean: Option<f64>, rows: &[(&str, &[f64])]) -> ErrorTable {
    ErrorTable { clean, errors: rows.iter().map(|(n, v)| (n.to_string(), row(v))).collect() }
}

#[test]
fn ce_mce_relative_mpc_rpc_against_a_reference() {
    let model = table(
        Some(0.1),
        &[
            ("gaussian_noise", &[0.2, 0.3, 0.4, 0.5, 0.6]),
            ("fog", &[0.1, 0.1, 0.2, 0.2, 0.4]),
            ("speckle_noise", &[0.9; 5]),
        ],
    );
    let reference =
        table(Some(0.2), &[("gaussian_noise", &[0.4; 5]), ("fog", &[0.5; 5]), ("speckle_noise", &[0.9; 5])]);
    let b = Baseline::Reference { name: "ref".into(), errors: reference };
    let s = metrics::score(&model, &["gaussian_noise", "fog"], Some(&b));
    let by = |n: &str| s.corruptions.iter().find(|c| c.name == n).unwrap();
    // CE = Σ E / Σ E_ref: 2.0/2.0 and 1.0/2.5.
    assert!((by("gaussian_noise").ce.unwrap() - 1.0).abs() < EXACT);
    assert!((by("fog").ce.unwrap() - 0.4).abs() < EXACT);
    // Relative CE = Σ (E − 0.1) / Σ (E_ref − 0.2): 1.5/1.0 and 0.5/1.5.
    assert!((by("gaussian_noise").relative_ce.unwrap() - 1.5).abs() < EXACT);
    assert!((by("fog").relative_ce.unwrap() - 1.0 / 3.0).abs() < EXACT);
    let t = &s.totals;
    assert_eq!(t.corruptions, 2, "the extra corruption stays out of the means");
    assert!((t.mce.unwrap() - 0.7).abs() < EXACT);
    assert!((t.relative_mce.unwrap() - (1.5 + 1.0 / 3.0) / 2.0).abs() < EXACT);
    assert!((t.mean_error - 0.3).abs() < EXACT);
    assert!((t.mpc - 0.7).abs() < EXACT);
    assert!((t.rpc.unwrap() - 0.7 / 0.9).abs() < EXACT);
    assert!(!by("speckle_noise").benchmark);
    assert_eq!(s.corruptions[0].name, "gaussian_noise", "benchmark corruptions first, in suite order");
}

#[test]
fn alexnet_scores_100_against_itself() {
    let rows: Vec<(&str, Vec<f64>)> = ALEXNET_ERRORS.iter().map(|&(n, e)| (n, vec![e; 5])).collect();
    let rows: Vec<(&str, &[f64])> = rows.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    let model = table(Some(ALEXNET_CLEAN_ERROR), &rows);
    let names: Vec<&str> = Corruption::BENCHMARK.iter().map(|c| c.as_str()).collect();
    let s = metrics::score(&model, &names, Some(&Baseline::AlexNet));
    assert!((s.totals.mce.unwrap() - 1.0).abs() < EXACT);
    assert!((s.totals.relative_mce.unwrap() - 1.0).abs() < EXACT);
    let mean: f64 = ALEXNET_ERRORS.iter().map(|e| e.1).sum::<f64>() / 15.0;
    assert!((mean - 0.78899).abs() < 1e-5, "the reference's mean of the AlexNet table");
    assert!((s.totals.mean_error - mean).abs() < EXACT);

    // A model with half AlexNet's errors has mCE 50; a missing severity makes AlexNet CE undefined.
    let half: Vec<(&str, Vec<f64>)> = ALEXNET_ERRORS.iter().map(|&(n, e)| (n, vec![e / 2.0; 5])).collect();
    let half: Vec<(&str, &[f64])> = half.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    assert!(
        (metrics::score(&table(None, &half), &names, Some(&Baseline::AlexNet)).totals.mce.unwrap() - 0.5)
            .abs()
            < EXACT
    );
    let mut partial = table(None, &half);
    partial.errors.get_mut("fog").unwrap().remove(&5);
    let s = metrics::score(&partial, &names, Some(&Baseline::AlexNet));
    assert_eq!(s.totals.mce, None);
    assert_eq!(s.totals.relative_mce, None, "no clean error, no relative CE");
}

#[test]
fn without_a_baseline_only_unnormalised_numbers() {
    let model = table(None, &[("fog", &[0.2, 0.4])]);
    let s = metrics::score(&model, &["fog"], None);
    assert_eq!((s.corruptions[0].ce, s.totals.mce, s.totals.rpc), (None, None, None));
    assert!((s.totals.mean_error - 0.3).abs() < EXACT && (s.totals.mpc - 0.7).abs() < EXACT);
    // A reference with no clean degradation gives an undefined relative CE (zero denominator), not infinity.
    let reference = table(Some(0.5), &[("fog", &[0.5, 0.5])]);
    let with_clean = table(Some(0.1), &[("fog", &[0.2, 0.4])]);
    let s = metrics::score(
        &with_clean,
        &["fog"],
        Some(&Baseline::Reference { name: "r".into(), errors: reference }),
    );
    assert_eq!(s.corruptions[0].relative_ce, None);
    assert!((s.corruptions[0].ce.unwrap() - 0.6).abs() < EXACT);
}

/// Predicts 1 when the mean pixel exceeds the threshold.
struct Threshold(f64);

impl Classifier for Threshold {
    fn predict(&self, images: &ImageSet) -> lcr_verify::Result<Vec<u8>> {
        let n = images.image_len() as f64;
        Ok((0..images.len())
            .map(|i| u8::from(images.image(i).iter().map(|&v| f64::from(v)).sum::<f64>() / n > self.0))
            .collect())
    }
    fn describe(&self) -> String {
        format!("threshold {}", self.0)
    }
    fn classes(&self) -> usize {
        2
    }
}

/// 256 flat 4×4 gray images of value v = 0…255, labelled `v > 127`.
fn ramp() -> ImageSet {
    let pixels: Vec<u8> = (0..=255u8).flat_map(|v| [v; 16]).collect();
    ImageSet::new(4, 4, 1, pixels, (0..=255u8).map(|v| u8::from(v > 127)).collect()).unwrap()
}

#[test]
fn evaluation_counts_exactly_the_flipped_images() {
    // CIFAR brightness adds c ∈ {.05, .1, .15, .2, .3}; the saver truncates ⌊v + 255c⌋. An image labelled 0
    // (v ≤ 127) is misread by `threshold 127` once ⌊v + 255c⌋ ≥ 128: v ≥ 115.25, 102.5, 89.75, 77, 51.5, i.e.
    // 12, 25, 38, 51, 76 of the 256 images. `threshold 100` errs on v = 101…127 when clean (27 images) and on
    // ⌊v + 255c⌋ ≥ 101: 39, 52, 65, 78, 103 images.
    let set = ramp();
    let source =
        Generated::new(set.clone(), Suite::CifarC, Some(&[Corruption::Brightness]), None, 0).unwrap();
    let (model, reference) = (Threshold(127.0), Threshold(100.0));
    let run = SuiteRun {
        model: &model,
        reference: Some(&reference),
        source: &source,
        suite: Suite::CifarC,
        clean: Some(&set),
        alexnet: false,
        options: EvalOptions { chunk: 100, progress: false },
    };
    let r = robustness::run_suite(&run, None).unwrap();
    let errors: Vec<f64> = r.corruptions[0].errors.values().map(|e| e * 256.0).collect();
    assert_eq!(errors, vec![12.0, 25.0, 38.0, 51.0, 76.0]);
    let theirs: Vec<f64> =
        r.reference_errors.as_ref().unwrap().errors["brightness"].values().map(|e| e * 256.0).collect();
    assert_eq!(theirs, vec![39.0, 52.0, 65.0, 78.0, 103.0]);
    assert_eq!(r.clean_error, Some(0.0));
    assert!((r.corruptions[0].ce.unwrap() - 202.0 / 337.0).abs() < EXACT);
    // Relative CE: (202 − 0) / (337 − 5·27) = 1.
    assert!((r.corruptions[0].relative_ce.unwrap() - 1.0).abs() < EXACT);
    assert_eq!(r.normalisation.kind, "reference");
    assert!((r.totals.mpc - (1.0 - 202.0 / 5.0 / 256.0)).abs() < EXACT);
}

#[test]
fn nearest_class_mean_is_exact_on_separable_data() {
    let set = ramp();
    let m = NearestClassMean::fit(&set).unwrap();
    // Means 63.5 and 191.5: the decision boundary is 127.5, so the ramp is classified perfectly.
    assert_eq!(m.predict(&set).unwrap(), set.labels);
    assert!(m.predict(&ImageSet::new(2, 2, 1, vec![0; 4], vec![0]).unwrap()).is_err(), "wrong image size");
}
