//! Corruption-robustness metrics.
//!
//! With `E^f_{c,s}` the top-1 error of model `f` on corruption `c` at severity `s` and `E^f_clean` its clean
//! error (Hendrycks & Dietterich, ICLR 2019; Michaelis et al., 2019):
//!
//! - **CE**: `CE^f_c = Σ_s E^f_{c,s} / Σ_s E^b_{c,s}` for a baseline `b` (AlexNet on ImageNet-C, otherwise a
//!   reference model the user names). **mCE** is the mean CE over the suite's benchmark corruptions.
//! - **Relative CE**: `Σ_s (E^f_{c,s} − E^f_clean) / Σ_s (E^b_{c,s} − E^b_clean)`; **relative mCE** its mean.
//! - **mPC** `= (1/N_c) Σ_c (1/N_s) Σ_s (1 − E^f_{c,s})`, the mean accuracy under corruption; **rPC**
//!   `= mPC / (1 − E^f_clean)`.
//! - The unnormalised **mean error** over the benchmark corruptions and severities is what CIFAR-10-C papers
//!   report (there is no AlexNet baseline there).
//!
//! Extra corruptions (speckle noise, Gaussian blur, spatter, saturate) get per-corruption numbers but stay
//! out of every mean.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// AlexNet's ImageNet-C top-1 errors, the mean over the 5 severities (so `Σ_s E = 5 ×` the value), as
/// hard-coded from hendrycks/robustness by AugMix and easyrobust.
pub const ALEXNET_ERRORS: [(&str, f64); 15] = [
    ("gaussian_noise", 0.886428),
    ("shot_noise", 0.894468),
    ("impulse_noise", 0.922640),
    ("defocus_blur", 0.819880),
    ("glass_blur", 0.826268),
    ("motion_blur", 0.785948),
    ("zoom_blur", 0.798360),
    ("snow", 0.866816),
    ("frost", 0.826572),
    ("fog", 0.819324),
    ("brightness", 0.564592),
    ("contrast", 0.853204),
    ("elastic_transform", 0.646056),
    ("pixelate", 0.717840),
    ("jpeg_compression", 0.606500),
];

/// AlexNet's clean ImageNet top-1 error used for relative mCE (torchvision's AlexNet: 56.55 % top-1, as used
/// by public ImageNet-C code).
pub const ALEXNET_CLEAN_ERROR: f64 = 0.4345;

/// A model's errors on every corruption and severity evaluated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorTable {
    /// Clean top-1 error, when the clean set was evaluated.
    pub clean: Option<f64>,
    /// Corruption name → severity → top-1 error.
    pub errors: BTreeMap<String, BTreeMap<u8, f64>>,
}

impl ErrorTable {
    /// Mean error of one corruption over its severities.
    pub fn mean_error(&self, corruption: &str) -> Option<f64> {
        let e = self.errors.get(corruption)?;
        (!e.is_empty()).then(|| e.values().sum::<f64>() / e.len() as f64)
    }
}

/// What CE is normalised by.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// AlexNet's ImageNet-C errors ([`ALEXNET_ERRORS`], [`ALEXNET_CLEAN_ERROR`]); needs all 5 severities.
    AlexNet,
    /// A reference model evaluated on the same corrupted images.
    Reference {
        /// How the reference model describes itself.
        name: String,
        /// Its errors.
        errors: ErrorTable,
    },
}

/// Per-corruption results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionScore {
    /// Corruption name.
    pub name: String,
    /// Whether it counts towards mCE / mPC.
    pub benchmark: bool,
    /// Severity → top-1 error.
    pub errors: BTreeMap<u8, f64>,
    /// Mean error over the severities.
    pub mean_error: f64,
    /// Corruption error, or `None` without a usable baseline.
    pub ce: Option<f64>,
    /// Relative corruption error, or `None` (no baseline, no clean errors, or a zero denominator).
    pub relative_ce: Option<f64>,
}

/// Totals over the benchmark corruptions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Mean top-1 error over the benchmark corruptions and their severities.
    pub mean_error: f64,
    /// Mean CE (`None` unless every benchmark corruption has a CE).
    pub mce: Option<f64>,
    /// Mean relative CE (`None` unless every benchmark corruption has one).
    pub relative_mce: Option<f64>,
    /// Mean accuracy under corruption.
    pub mpc: f64,
    /// `mPC / clean accuracy` (`None` without the clean error).
    pub rpc: Option<f64>,
    /// How many benchmark corruptions the means are over.
    pub corruptions: usize,
}

/// Per-corruption scores and totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// One entry per corruption evaluated, benchmark corruptions first (in `benchmark` order), then the rest.
    pub corruptions: Vec<CorruptionScore>,
    /// The totals.
    pub totals: Totals,
}

fn alexnet(name: &str) -> Option<f64> {
    ALEXNET_ERRORS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den.abs() > 1e-12).then(|| num / den)
}

/// CE and relative CE of one corruption, or `None`s when the baseline cannot normalise it.
fn normalised(model: &ErrorTable, name: &str, baseline: Option<&Baseline>) -> (Option<f64>, Option<f64>) {
    let Some(errors) = model.errors.get(name) else { return (None, None) };
    match baseline {
        None => (None, None),
        Some(Baseline::AlexNet) => {
            let Some(a) = alexnet(name) else { return (None, None) };
            if errors.keys().copied().collect::<Vec<_>>() != vec![1, 2, 3, 4, 5] {
                return (None, None);
            }
            let sum: f64 = errors.values().sum();
            let ce = ratio(sum, 5.0 * a);
            let rel = model.clean.and_then(|c| ratio(sum - 5.0 * c, 5.0 * (a - ALEXNET_CLEAN_ERROR)));
            (ce, rel)
        }
        Some(Baseline::Reference { errors: reference, .. }) => {
            let Some(theirs) = reference.errors.get(name) else { return (None, None) };
            let shared: Vec<u8> = errors.keys().filter(|s| theirs.contains_key(s)).copied().collect();
            if shared.is_empty() {
                return (None, None);
            }
            let ours_sum: f64 = shared.iter().map(|s| errors[s]).sum();
            let theirs_sum: f64 = shared.iter().map(|s| theirs[s]).sum();
            let n = shared.len() as f64;
            let rel = match (model.clean, reference.clean) {
                (Some(a), Some(b)) => ratio(ours_sum - n * a, theirs_sum - n * b),
                _ => None,
            };
            (ratio(ours_sum, theirs_sum), rel)
        }
    }
}

/// Computes every score of `model` given the suite's benchmark corruption names and an optional baseline.
pub fn score(model: &ErrorTable, benchmark: &[&str], baseline: Option<&Baseline>) -> Scores {
    let mut names: Vec<&str> = benchmark.iter().copied().filter(|n| model.errors.contains_key(*n)).collect();
    names.extend(model.errors.keys().map(String::as_str).filter(|n| !benchmark.contains(n)));
    let corruptions: Vec<CorruptionScore> = names
        .iter()
        .map(|&name| {
            let (ce, relative_ce) = normalised(model, name, baseline);
            CorruptionScore {
                name: name.to_string(),
                benchmark: benchmark.contains(&name),
                errors: model.errors[name].clone(),
                mean_error: model.mean_error(name).unwrap_or(f64::NAN),
                ce,
                relative_ce,
            }
        })
        .collect();
    let bench: Vec<&CorruptionScore> = corruptions.iter().filter(|c| c.benchmark).collect();
    let n = bench.len().max(1) as f64;
    let mean_error = bench.iter().map(|c| c.mean_error).sum::<f64>() / n;
    let all = |f: fn(&CorruptionScore) -> Option<f64>| -> Option<f64> {
        let v: Option<Vec<f64>> = bench.iter().map(|c| f(c)).collect();
        v.filter(|v| !v.is_empty()).map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mpc = 1.0 - mean_error;
    Totals {
        mean_error,
        mce: all(|c| c.ce),
        relative_mce: all(|c| c.relative_ce),
        mpc,
        rpc: model.clean.and_then(|c| ratio(mpc, 1.0 - c)),
        corruptions: bench.len(),
    }
    .into_scores(corruptions)
}

impl Totals {
    fn into_scores(self, corruptions: Vec<CorruptionScore>) -> Scores {
        Scores { corruptions, totals: self }
    }
}
