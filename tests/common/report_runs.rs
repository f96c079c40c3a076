//! Synthetic run directories for the report tests: every stage file written through the library's own types,
//! with figures made consistent the way the stages make them (curves from the per-sample radii by
//! `certify::certified_accuracy`, corruption scores by `robustness::metrics::score`), so a test can re-derive a
//! figure from the raw files and find it in the report. Only `+ − × ÷` and `sqrt` are used, so the files are
//! the same bytes on every platform.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use lcr_verify::attack::EmpiricalFile;
use lcr_verify::attack::file::{EmpiricalSummary, RatioEntry, RobustCurve, SampleEmpirical};
use lcr_verify::audit::AuditCount;
use lcr_verify::audit::corruption::{CellAudit, CorruptionAuditReport, SuiteCorrelation};
use lcr_verify::audit::stats::median;
use lcr_verify::bounds::{
    BOUNDS_FORMAT, Bound, BoundsFile, LayerPart, Method, NetSummary, Norm, Scope, Soundness,
};
use lcr_verify::certify::file::{CurveEntry, MethodEntry, SampleCertificates};
use lcr_verify::certify::{
    CERTIFICATES_FORMAT, CertificatesFile, Coverage, certified_accuracy, default_grid,
};
use lcr_verify::corrupt::Suite;
use lcr_verify::fsio::sha256_hex;
use lcr_verify::ir::{Function, InputNorm, SignZero};
use lcr_verify::robustness::metrics::{Baseline, ErrorTable, score};
use lcr_verify::robustness::{AuditOutcome, CorruptionFile, Normalisation, SuiteReport};
use lcr_verify::train::{EpochMetrics, FinalMetrics, Metrics, RawConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// Test images certified per run.
pub const CERTIFIED: usize = 40;
/// The first images attacked.
pub const ATTACKED: usize = 20;
/// The synthetic corruptions (three benchmark ones and one extra).
pub const CORRUPTIONS: [&str; 4] = ["gaussian_noise", "fog", "contrast", "saturate"];
const FUNCTIONS: [Function; 3] = [Function::Deployed, Function::Surrogate, Function::Latent];
const NORMS: [InputNorm; 2] = [InputNorm::L2, InputNorm::Linf];

/// Which synthetic run: λ and seed.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The LCR coefficient (0: baseline).
    pub lambda: f64,
    /// The seed.
    pub seed: u64,
}

impl Spec {
    /// The run's directory name.
    pub fn name(&self) -> String {
        format!("{}-s{}", if self.lambda == 0.0 { "baseline" } else { "lcr" }, self.seed)
    }

    fn rng(&self, salt: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed * 1000 + if self.lambda == 0.0 { 0 } else { 500 } + salt)
    }

    fn model_bytes(&self) -> Vec<u8> {
        format!("synthetic model, λ = {}, seed {}", self.lambda, self.seed).into_bytes()
    }

    /// SHA-256 of the run's model file.
    pub fn model_sha256(&self) -> String {
        sha256_hex(&self.model_bytes())
    }
}

/// Writes `config.toml`, `metrics.json` and `model.safetensors` (placeholder bytes: the report only hashes it).
pub fn write_training(dir: &Path, s: Spec) {
    fs::create_dir_all(dir).unwrap();
    let cfg = RawConfig {
        widths: Some(vec![16, 16]),
        epochs: Some(3),
        lcr_weight: Some(s.lambda),
        seed: Some(s.seed),
        ..RawConfig::default()
    }
    .check()
    .unwrap();
    fs::write(dir.join("config.toml"), cfg.to_toml().unwrap()).unwrap();
    fs::write(dir.join("model.safetensors"), s.model_bytes()).unwrap();
    let mut rng = s.rng(1);
    let reg = s.lambda > 0.0;
    let epochs: Vec<EpochMetrics> = (1..=3)
        .map(|e| EpochMetrics {
            epoch: e,
            ce: 0.5 / e as f64 + rng.random_range(0.0..0.01),
            lcr: reg.then(|| 30.0 / (e * e) as f64 + rng.random_range(0.0..1.0)),
            lcr_eval: if reg { 40.0 / e as f64 } else { 100.0 + 10.0 * e as f64 }
                + rng.random_range(0.0..2.0),
            train_accuracy: 0.80 + 0.05 * e as f64,
            test_accuracy: 0.85 + 0.04 * e as f64 - if reg { 0.01 } else { 0.0 },
            flip_ratio: BTreeMap::from([("fc1.weight".to_string(), 0.1 / e as f64)]),
            lr: 0.005 / e as f64,
            train_seconds: 1.0 + rng.random_range(0.0..0.5),
            seconds: 1.25 + rng.random_range(0.0..0.5),
        })
        .collect();
    // Seeds 1 and 2 end at 0.97 and 0.98 (baseline), 0.96 and 0.98 (LCR): exact counts out of 10000.
    let correct = match (reg, s.seed) {
        (false, 1) => 9700,
        (false, _) => 9800,
        (true, 1) => 9600,
        (true, _) => 9800,
    };
    let metrics = Metrics {
        version: "0.1.0".into(),
        dataset: "mnist".into(),
        dataset_checksum: "synthetic".into(),
        seed: s.seed,
        function: "deployed".into(),
        epochs,
        final_: Some(FinalMetrics {
            test_accuracy: correct as f64 / 10000.0,
            test_correct: correct,
            test_total: 10000,
            seconds: 4.0 + s.seed as f64 + if reg { 0.5 } else { 0.0 },
        }),
        model_sha256: Some(s.model_sha256()),
    };
    fs::write(dir.join("metrics.json"), serde_json::to_string_pretty(&metrics).unwrap()).unwrap();
}

fn bound(
    method: Method,
    function: Function,
    soundness: Soundness,
    norm: Norm,
    scope: Scope,
    value: f64,
) -> Bound {
    Bound {
        method,
        function,
        soundness,
        norm,
        scope,
        value,
        pairs: Vec::new(),
        per_layer: Vec::new(),
        seconds: 0.5,
        detail: json!({}),
        request: None,
    }
}

/// Writes `bounds.json`.
pub fn write_bounds(dir: &Path, s: Spec) {
    let shrink = if s.lambda > 0.0 { 0.75 } else { 1.0 };
    let jitter = s.seed as f64 * 0.125;
    let sigma = 2.0 * shrink + jitter / 4.0;
    let mut retention = Vec::new();
    for (side, value) in [("F", 40.0 * shrink + jitter), ("B", 30.0 * shrink + jitter)] {
        let mut b = bound(
            Method::RetentionReleased,
            Function::Deployed,
            Soundness::Estimate,
            Norm::L2,
            Scope::BinaryLayerProduct,
            value,
        );
        b.per_layer = vec![LayerPart {
            layer: "4".into(),
            kind: "layer 0->1".into(),
            value,
            lower: None,
            detail: json!({ "exact_sigma": sigma, "ratio": value / sigma }),
        }];
        b.detail = json!({ "side": side, "granularity": "layer" });
        retention.push(b);
    }
    let lower = 1.25 * shrink;
    let mut normalised = bound(
        Method::RetentionNormalised,
        Function::Deployed,
        Soundness::Lower,
        Norm::L2,
        Scope::BinaryLayerProduct,
        lower,
    );
    normalised.per_layer = vec![LayerPart {
        layer: "4".into(),
        kind: "binary layer 1".into(),
        value: lower,
        lower: None,
        detail: json!({ "exact_sigma_upper": sigma, "exact_sigma_lower": sigma, "ratio": lower / sigma }),
    }];
    normalised.detail = json!({ "side": "B input, Y = A X", "granularity": "layer" });
    let mut bounds = vec![
        bound(
            Method::SpectralProduct,
            Function::Surrogate,
            Soundness::Certified,
            Norm::L2,
            Scope::Network,
            12.0 * shrink + jitter,
        ),
        bound(
            Method::SampledGradient,
            Function::Surrogate,
            Soundness::Lower,
            Norm::L2,
            Scope::Network,
            6.0 * shrink + jitter,
        ),
        bound(
            Method::LpGlobal,
            Function::Surrogate,
            Soundness::Certified,
            Norm::LinfMargin,
            Scope::Network,
            3000.0 * shrink + 100.0 * jitter,
        ),
        bound(
            Method::SampledGradient,
            Function::Surrogate,
            Soundness::Lower,
            Norm::LinfMargin,
            Scope::Network,
            150.0 * shrink + jitter,
        ),
        bound(
            Method::SpectralProduct,
            Function::Latent,
            Soundness::Certified,
            Norm::L2,
            Scope::Network,
            2.5 * shrink + jitter,
        ),
        bound(
            Method::SampledGradient,
            Function::Latent,
            Soundness::Lower,
            Norm::L2,
            Scope::Network,
            1.25 * shrink + jitter,
        ),
    ];
    bounds.extend(retention);
    bounds.push(normalised);
    let file = BoundsFile {
        format: BOUNDS_FORMAT,
        version: "0.1.0".into(),
        meta: json!({
            "model_sha256": s.model_sha256(),
            "dataset": "mnist",
            "latent_function": { "test_accuracy": 0.95 - 0.1 * shrink + jitter / 100.0 },
        }),
        net: NetSummary {
            input_shape: vec![1, 28, 28],
            classes: 10,
            sign_zero: SignZero::PlusOne,
            layers: vec!["flatten".into(), "dense".into()],
        },
        sample_size: 16,
        bounds,
        skipped: Vec::new(),
    };
    file.write(&dir.join("bounds.json")).unwrap();
}

/// One sample's (correct, best certified radius in pixel units, empirical radius in pixel units).
pub type SampleRadii = (bool, f64, f64);

/// Per sample, for one function and norm: [`SampleRadii`].
pub fn sample_radii(s: Spec, f: Function, n: InputNorm) -> Vec<SampleRadii> {
    let mut rng = s.rng(10 + f as u64 * 3 + n as u64);
    let scale = match (f, n) {
        (Function::Deployed, InputNorm::L2) => 0.02,
        (Function::Deployed, InputNorm::Linf) => 0.001,
        (_, InputNorm::L2) => 0.1,
        (_, InputNorm::Linf) => 0.002,
    };
    let lcr = if s.lambda > 0.0 { 1.25 } else { 1.0 };
    (0..CERTIFIED)
        .map(|k| {
            let correct = f != Function::Latent || k % 3 != 0;
            let correct = correct && k % 11 != 7;
            let cert = if correct { scale * lcr * (0.25 + 4.0 * rng.random_range(0.0..1.0f64)) } else { 0.0 };
            let emp = if correct { cert * (2.0 + 8.0 * rng.random_range(0.0..1.0f64)) } else { 0.0 };
            (correct, cert, emp)
        })
        .collect()
}

/// Writes `certificates.json`.
pub fn write_certificates(dir: &Path, s: Spec) {
    let mut samples: Vec<SampleCertificates> = (0..CERTIFIED)
        .map(|k| SampleCertificates {
            index: k,
            label: k % 10,
            prediction: BTreeMap::new(),
            radius: BTreeMap::new(),
            best_pixel: BTreeMap::new(),
            best_method: BTreeMap::new(),
            exact: BTreeMap::new(),
        })
        .collect();
    let mut methods = Vec::new();
    let mut curves = Vec::new();
    let mut accuracy = BTreeMap::new();
    for f in FUNCTIONS {
        let names: &[&str] =
            if f == Function::Deployed { &["sign-stability", "bound-propagation"] } else { &["margin"] };
        for n in NORMS {
            let radii = sample_radii(s, f, n);
            // The best method's radius is the last one's; the first deployed method reaches a third of it.
            let per_method: Vec<Vec<f64>> = names
                .iter()
                .enumerate()
                .map(|(m, _)| {
                    radii.iter().map(|r| if m + 1 == names.len() { r.1 } else { r.1 / 3.0 }).collect()
                })
                .collect();
            for (k, sample) in samples.iter_mut().enumerate() {
                let (correct, best, _) = radii[k];
                sample.prediction.insert(f, Some(if correct { k % 10 } else { (k + 1) % 10 }));
                let per: BTreeMap<String, Option<f64>> = names
                    .iter()
                    .enumerate()
                    .map(|(m, name)| (name.to_string(), Some(per_method[m][k] * 2.0)))
                    .collect();
                sample.radius.entry(f).or_default().insert(n, per);
                sample.best_pixel.entry(f).or_default().insert(n, Some(best));
                sample.best_method.entry(f).or_default().insert(n, names[names.len() - 1].to_string());
            }
            let grid = default_grid(n);
            let ca = |r: &[f64]| -> Vec<f64> {
                certified_accuracy(r, &grid, 1.0).unwrap().iter().map(|p| p.accuracy).collect()
            };
            for (m, name) in names.iter().enumerate() {
                methods.push(MethodEntry {
                    function: f,
                    norm: n,
                    method: name.to_string(),
                    soundness: Soundness::Certified,
                    coverage: Coverage::Network,
                    theorem: "V2".into(),
                    certified: per_method[m].iter().filter(|r| **r > 0.0).count(),
                    median_radius: median(per_method[m].iter().map(|r| r * 2.0)),
                    median_radius_pixel: median(per_method[m].iter().copied()),
                    seconds: 0.25,
                });
                curves.push(CurveEntry {
                    function: f,
                    norm: n,
                    method: name.to_string(),
                    eps_pixel: grid.clone(),
                    certified_accuracy: ca(&per_method[m]),
                });
            }
            let best: Vec<f64> = radii.iter().map(|r| r.1).collect();
            curves.push(CurveEntry {
                function: f,
                norm: n,
                method: "best".into(),
                eps_pixel: grid.clone(),
                certified_accuracy: ca(&best),
            });
            accuracy.insert(f, radii.iter().filter(|r| r.0).count() as f64 / CERTIFIED as f64);
        }
    }
    let file = CertificatesFile {
        format: CERTIFICATES_FORMAT,
        version: "0.1.0".into(),
        provenance: json!({ "model_sha256": s.model_sha256(), "dataset_checksum": "synthetic" }),
        methods,
        skipped: Vec::new(),
        accuracy,
        curves,
        samples,
    };
    file.write(&dir.join("certificates.json")).unwrap();
}

/// Writes `empirical.json` about the first [`ATTACKED`] images.
pub fn write_empirical(dir: &Path, s: Spec) {
    let mut samples: Vec<SampleEmpirical> = (0..ATTACKED)
        .map(|k| SampleEmpirical {
            index: k,
            label: k % 10,
            prediction: BTreeMap::new(),
            radius: BTreeMap::new(),
            radius_pixel: BTreeMap::new(),
            found_by: BTreeMap::new(),
        })
        .collect();
    let (mut summary, mut curves, mut audit, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut accuracy = BTreeMap::new();
    for f in FUNCTIONS {
        for n in NORMS {
            let radii: Vec<SampleRadii> = sample_radii(s, f, n).into_iter().take(ATTACKED).collect();
            for (k, sample) in samples.iter_mut().enumerate() {
                let (correct, _, emp) = radii[k];
                sample.prediction.insert(f, Some(if correct { k % 10 } else { (k + 1) % 10 }));
                sample.radius.entry(f).or_default().insert(n, Some(emp * 2.0));
                sample.radius_pixel.entry(f).or_default().insert(n, Some(emp));
                sample.found_by.entry(f).or_default().insert(n, "pgd".into());
            }
            let correct: Vec<&SampleRadii> = radii.iter().filter(|r| r.0).collect();
            summary.push(EmpiricalSummary {
                function: f,
                norm: n,
                broken: correct.len(),
                correct: correct.len(),
                median_radius: median(correct.iter().map(|r| r.2 * 2.0)),
                median_radius_pixel: median(correct.iter().map(|r| r.2)),
            });
            let grid = default_grid(n);
            let frac = |pred: &dyn Fn(&SampleRadii, f64) -> bool, e: f64| {
                radii.iter().filter(|r| pred(r, e)).count() as f64 / ATTACKED as f64
            };
            curves.push(RobustCurve {
                function: f,
                norm: n,
                eps_pixel: grid.clone(),
                robust_accuracy: grid
                    .iter()
                    .map(|&e| frac(&|r, e| r.0 && (e == 0.0 || r.2 > e), e))
                    .collect(),
                certified_accuracy: Some(grid.iter().map(|&e| frac(&|r, e| r.0 && r.1 > e, e)).collect()),
            });
            audit.push(AuditCount { function: f, norm: n, checked: correct.len(), violations: 0 });
            let q: Vec<f64> = correct.iter().filter(|r| r.1 > 0.0).map(|r| r.1 / r.2).collect();
            ratios.push(RatioEntry {
                function: f,
                norm: n,
                method: "best".into(),
                samples: q.len(),
                median_ratio: median(q),
            });
            accuracy.insert(f, correct.len() as f64 / ATTACKED as f64);
        }
    }
    let file = EmpiricalFile {
        format: lcr_verify::attack::EMPIRICAL_FORMAT,
        version: "0.1.0".into(),
        provenance: json!({ "model_sha256": s.model_sha256() }),
        accuracy,
        summary,
        curves,
        success: Vec::new(),
        audit: Some(audit),
        audit_note: None,
        ratios,
        violation_records: Vec::new(),
        samples,
    };
    file.write(&dir.join("empirical.json")).unwrap();
}

/// The run's errors on the synthetic corruptions (severities 1–5) and its clean error.
pub fn error_table(s: Spec) -> ErrorTable {
    let mut rng = s.rng(40);
    let worse = if s.lambda > 0.0 { 1.25 } else { 1.0 };
    let mut errors = BTreeMap::new();
    for (c, base) in CORRUPTIONS.iter().zip([0.04, 0.2, 0.1, 0.03]) {
        let row: BTreeMap<u8, f64> = (1..=5u8)
            .map(|sev| (sev, worse * base * (1.0 + 0.5 * sev as f64) + rng.random_range(0.0..0.01)))
            .collect();
        errors.insert(c.to_string(), row);
    }
    ErrorTable { clean: Some(0.03 * worse), errors }
}

/// Writes `corruption.json` (suite cifar-c): the baseline unnormalised, an LCR run normalised by the baseline
/// run of the same seed.
pub fn write_corruption(dir: &Path, s: Spec) {
    let table = error_table(s);
    let benchmark: Vec<&str> = Suite::CifarC.benchmark().iter().map(|c| c.as_str()).collect();
    let (baseline, normalisation, reference_errors) = if s.lambda > 0.0 {
        let base = error_table(Spec { lambda: 0.0, seed: s.seed });
        let name = format!("baseline-s{} (mlp on mnist, deployed)", s.seed);
        (
            Some(Baseline::Reference { name: name.clone(), errors: base.clone() }),
            Normalisation { kind: "reference".into(), reference: Some(name), note: "reference model".into() },
            Some(base),
        )
    } else {
        (None, Normalisation { kind: "none".into(), reference: None, note: "no baseline".into() }, None)
    };
    let scores = score(&table, &benchmark, baseline.as_ref());
    let mut cells = Vec::new();
    for c in CORRUPTIONS {
        for sev in 1..=5u8 {
            for f in [Function::Deployed, Function::Surrogate] {
                let inside = if c == "saturate" && sev <= 2 { 30 } else { sev as usize % 2 };
                cells.push(CellAudit {
                    corruption: c.into(),
                    severity: sev,
                    function: f,
                    norm: InputNorm::L2,
                    images: CERTIFIED,
                    inside,
                    inside_fraction: inside as f64 / CERTIFIED as f64,
                    median_ratio: Some(4.0 + sev as f64),
                    correlation: Some(0.25),
                    violations: 0,
                    undecided: 0,
                });
            }
        }
    }
    let checks = [Function::Deployed, Function::Surrogate]
        .map(|f| {
            let checked = cells.iter().filter(|c| c.function == f).map(|c| c.inside).sum();
            AuditCount { function: f, norm: InputNorm::L2, checked, violations: 0 }
        })
        .to_vec();
    let audit = CorruptionAuditReport {
        samples: CERTIFIED,
        checks,
        cells,
        correlation: [Function::Deployed, Function::Surrogate]
            .map(|f| SuiteCorrelation {
                function: f,
                norm: InputNorm::L2,
                samples: CERTIFIED,
                spearman: Some(0.5),
            })
            .to_vec(),
        note: "synthetic".into(),
        violation_records: Vec::new(),
    };
    let report = SuiteReport {
        suite: Suite::CifarC,
        source: "generated cifar-c (synthetic)".into(),
        model: format!("{} (mlp on mnist, deployed)", s.name()),
        clean_error: table.clean,
        corruptions: scores.corruptions,
        totals: scores.totals,
        normalisation,
        reference_errors,
        seconds: 1.5,
        audit: Some(AuditOutcome::Ran(audit)),
        provenance: json!({ "model_sha256": s.model_sha256() }),
    };
    let file = CorruptionFile {
        format: lcr_verify::robustness::CORRUPTION_FORMAT,
        generator: "lcr-verify 0.1.0".into(),
        suites: BTreeMap::from([("cifar-c".to_string(), report)]),
    };
    fs::write(dir.join("corruption.json"), serde_json::to_string_pretty(&file).unwrap()).unwrap();
}

/// Writes a complete synthetic run directory.
pub fn write_full_run(dir: &Path, s: Spec) {
    write_training(dir, s);
    write_bounds(dir, s);
    write_certificates(dir, s);
    write_empirical(dir, s);
    write_corruption(dir, s);
}

/// The four runs of the synthetic study (baseline and LCR, seeds 1 and 2) under `root/runs/`, in the order
/// lcr-s2, baseline-s1, lcr-s1, baseline-s2 (the report must not depend on it).
pub fn write_study(root: &Path) -> Vec<PathBuf> {
    let specs = [
        Spec { lambda: 1e-3, seed: 2 },
        Spec { lambda: 0.0, seed: 1 },
        Spec { lambda: 1e-3, seed: 1 },
        Spec { lambda: 0.0, seed: 2 },
    ];
    specs
        .iter()
        .map(|s| {
            let dir = root.join("runs").join(s.name());
            write_full_run(&dir, *s);
            dir
        })
        .collect()
}
