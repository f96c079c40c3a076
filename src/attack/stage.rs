//! The `attack` stage as a library call: a typed [`AttackRequest`] and [`run`], which attacks the run's model on
//! its first test images, audits `certificates.json` against what it finds (theorem M2) and writes
//! `RUN_DIR/empirical.json`.
//!
//! ```text
//! RUN_DIR/model.safetensors --export--> Net ──> per sample, function and norm: the attack(s) ──> smallest
//!     confirmed example ──> empirical radius ──┬──> robust accuracy, success rates ──> empirical.json
//! RUN_DIR/certificates.json (same model) ──────┴──> audit: certified ≤ empirical, violations/ on failure
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use candle_core::Device;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::file::EmpiricalFile;
use super::{
    Adversarial, DecisionConfig, MinimalConfig, PgdConfig, Sample, StepSchedule, Target, closer, decision,
    fgsm, minimal, pgd,
};
use crate::audit::adversarial::RadiusPair;
use crate::certify::file::CertificatesFile;
use crate::error::{Error, Result};
use crate::export::export;
use crate::float::{mul_up, up};
use crate::ir::{Function, InputNorm, Verdict, columns, verdict};
use crate::run_dir::RunDir;

pub(super) use super::assemble::assemble;

/// Which attack the stage runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackChoice {
    /// FGSM / FGM at each ε.
    Fgsm,
    /// PGD at each ε (`steps`, `restarts`).
    Pgd,
    /// The decision-based (label-only) attack, once per sample; success at ε when its example is within ε.
    Decision,
    /// The minimal-perturbation search over every attack (PGD, FGSM starts, the decision attack on the
    /// deployed network), bisecting on ε from the certified radius.
    #[default]
    Min,
}

impl AttackChoice {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [AttackChoice; 4] =
        [AttackChoice::Fgsm, AttackChoice::Pgd, AttackChoice::Decision, AttackChoice::Min];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            AttackChoice::Fgsm => "fgsm",
            AttackChoice::Pgd => "pgd",
            AttackChoice::Decision => "decision",
            AttackChoice::Min => "min",
        }
    }
}

/// Everything that decides a run's empirical radii. Recorded as `provenance.request` in `empirical.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackRequest {
    /// The attack.
    pub attack: AttackChoice,
    /// Input norms (default both).
    pub norms: Vec<InputNorm>,
    /// Functions (default all three).
    pub functions: Vec<Function>,
    /// Budgets ε in pixel units (p/255) for the fixed-budget attacks (default per norm: ℓ2 0.1, 0.3, 0.5, 1,
    /// 1.58, 2; ℓ∞ 0.01, 0.03, 0.1, 0.2, 0.3); the normalised budget is ε / min std.
    pub eps: Option<Vec<f64>>,
    /// PGD steps per run; ≥ 1.
    pub steps: usize,
    /// PGD runs (the first from FGSM's point, the others random); ≥ 1.
    pub restarts: usize,
    /// The first N test images; ≥ 1.
    pub samples: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Dataset directory, when not the one the run was trained on.
    pub data_dir: Option<PathBuf>,
}

/// The default PGD steps per run.
pub const DEFAULT_STEPS: usize = 20;
/// The default PGD runs.
pub const DEFAULT_RESTARTS: usize = 1;
/// The default number of attacked test images.
pub const DEFAULT_SAMPLES: usize = 1000;

impl Default for AttackRequest {
    fn default() -> Self {
        AttackRequest {
            attack: AttackChoice::Min,
            norms: vec![InputNorm::L2, InputNorm::Linf],
            functions: vec![Function::Deployed, Function::Surrogate, Function::Latent],
            eps: None,
            steps: DEFAULT_STEPS,
            restarts: DEFAULT_RESTARTS,
            samples: DEFAULT_SAMPLES,
            seed: 0,
            data_dir: None,
        }
    }
}

impl AttackRequest {
    /// Refuses what no attack can use, before any work.
    pub fn check(&self) -> Result<()> {
        if self.samples == 0 || self.steps == 0 || self.restarts == 0 {
            return Err(Error::config("attack", "samples, steps and restarts must each be at least 1"));
        }
        if self.norms.is_empty() || self.functions.is_empty() {
            return Err(Error::config("attack", "needs at least one norm and one function"));
        }
        if let Some(e) = self.eps.iter().flatten().find(|e| !(e.is_finite() && **e > 0.0)) {
            return Err(Error::config("eps", format!("{e}: every budget must be a positive number")));
        }
        if self.eps.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::config("eps", "an empty list"));
        }
        Ok(())
    }

    pub(super) fn budgets(&self, norm: InputNorm) -> Vec<f64> {
        self.eps.clone().unwrap_or_else(|| match norm {
            InputNorm::L2 => vec![0.1, 0.3, 0.5, 1.0, 1.58, 2.0],
            InputNorm::Linf => vec![0.01, 0.03, 0.1, 0.2, 0.3],
        })
    }

    pub(super) fn pgd(&self) -> PgdConfig {
        PgdConfig {
            steps: self.steps,
            restarts: self.restarts,
            schedule: StepSchedule::Halving { c: 0.25, every: (self.steps / 4).max(1) },
            // The minimal search shrinks any success to the boundary, and a success rate needs one example.
            stop_at_first: true,
            ..PgdConfig::default()
        }
    }
}

/// The decision attack's budget in the stage: a few hundred label queries per sample.
pub(super) fn stage_decision() -> DecisionConfig {
    DecisionConfig {
        directions: 8,
        ladder: 6,
        starts: 2,
        use_gradient: true,
        iterations: 10,
        probes: 16,
        probe_radius: 0.01,
    }
}

/// What one (sample, function, norm) attack gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Found {
    /// The closest confirmed example (in a shard's partial file its point only where it contradicts a
    /// certificate: the audit's violation record needs it, nothing else does).
    pub(super) best: Option<Adversarial>,
    /// Its distance in pixel units.
    pub(super) pixel: Option<f64>,
    /// Per budget of the fixed-budget attacks: success.
    pub(super) success: Vec<bool>,
}

/// Per sample: the proven prediction of each function, and what each (function, norm) attack gave.
pub(super) type PerSample = (Vec<Option<usize>>, Vec<Found>);

/// ‖y − x‖ in pixel units (each coordinate scaled by its channel's deviation), rounded up.
fn pixel_distance(norm: InputNorm, x: &[f64], y: &[f64], std: &[f64]) -> f64 {
    let d = x.iter().zip(y).zip(std).map(|((a, b), s)| mul_up(up((a - b).abs()), *s));
    match norm {
        InputNorm::L2 => crate::float::sqrt_up(d.fold(0.0, |acc, v| up(acc + mul_up(v, v)))),
        InputNorm::Linf => d.fold(0.0, f64::max),
    }
}

/// The stage's inputs, loaded and checked.
pub(super) struct Setup {
    /// The exported net, and the refitted latent one when the run has `latent_bn.json`.
    pub(super) nets: crate::latent_bn::FunctionNets,
    pub(super) xs: Vec<Vec<f64>>,
    pub(super) labels: Vec<usize>,
    pub(super) domain: (Vec<f64>, Vec<f64>),
    pub(super) std: Vec<f64>,
    pub(super) min_std: f64,
    pub(super) normalization: crate::data::Normalization,
    pub(super) certificates: Option<CertificatesFile>,
    pub(super) audit_note: Option<String>,
    pub(super) provenance: serde_json::Value,
}

pub(super) fn setup(run: &RunDir, req: &AttackRequest) -> Result<Setup> {
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = export(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let model_sha = crate::fsio::file_sha256(&run.model())?;
    let dataset = run.load_dataset(&meta, req.data_dir.as_deref())?;
    let n = req.samples.min(dataset.test.len());
    let values = meta.normalization.values(&dataset.test, &(0..n).collect::<Vec<_>>())?;
    let xs: Vec<Vec<f64>> =
        values.chunks(net.input_len()).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    let labels = dataset.test.labels[..n].iter().map(|&l| l as usize).collect();
    let (h, w) = (dataset.test.height, dataset.test.width);
    let domain = meta.normalization.input_box(h, w);
    let std: Vec<f64> =
        meta.normalization.std.iter().flat_map(|&s| std::iter::repeat_n(s as f64, h * w)).collect();
    let nets = crate::latent_bn::FunctionNets::of_run(run, net)?;
    let (certificates, audit_note) = if crate::fsio::exists(&run.certificates())? {
        let c = CertificatesFile::read(&run.certificates())?;
        c.check_matches(&run.certificates(), &model_sha, &dataset.checksum)?;
        if req.functions.contains(&Function::Latent)
            && crate::latent_bn::recorded_sha256(&c.provenance["latent_function"]) != nets.latent_sha256()
        {
            return Err(Error::format(
                run.certificates(),
                "its latent certificates are about the latent function with other BatchNorm statistics than the \
                 run's latent_bn.json now gives: re-run `lcr-verify bound` and `lcr-verify certify`",
            ));
        }
        (Some(c), None)
    } else {
        (None, Some(format!("{} not found: run `lcr-verify certify` first", run.certificates().display())))
    };
    let provenance = json!({
        "run_dir": run.root().display().to_string(),
        "model_sha256": model_sha,
        "certificates_sha256": if certificates.is_some() { Some(crate::fsio::file_sha256(&run.certificates())?) } else { None },
        "dataset": meta.dataset.name(),
        "dataset_checksum": dataset.checksum,
        "input_space": {
            "kind": "normalised",
            "mean": meta.normalization.mean,
            "std": meta.normalization.std,
            "domain": "every example lies in the valid pixel box (p/255 in [0, 1], normalised) and is confirmed by the enclosure of the exact function (theorem M1)",
        },
        "samples": format!("first {n} test images"),
        "request": req,
        "latent_function": nets.latent_note(),
    });
    Ok(Setup {
        nets,
        xs,
        labels,
        domain,
        std,
        min_std: meta.normalization.min_std(),
        normalization: meta.normalization.clone(),
        certificates,
        audit_note,
        provenance,
    })
}

impl Setup {
    /// The best certified radius of sample i for (function, norm), when certificates cover it.
    pub(super) fn certified(&self, i: usize, f: Function, norm: InputNorm) -> Option<(f64, String)> {
        let c = self.certificates.as_ref()?;
        c.pairs().contains(&(f, norm)).then(|| c.samples.get(i).map(|s| s.best(f, norm))).flatten()
    }

    fn attack_one(&self, req: &AttackRequest, i: usize, f: Function, norm: InputNorm) -> Result<Found> {
        let target = Target::new(self.nets.get(f), f, norm, &self.domain, req.seed)?;
        let sample = Sample { x: &self.xs[i], label: self.labels[i], index: i as u64 };
        let eps: Vec<f64> = req.budgets(norm).iter().map(|e| e / self.min_std).collect();
        let mut best = None;
        let mut success = vec![false; eps.len()];
        match req.attack {
            AttackChoice::Min => {
                let diameter = match norm {
                    InputNorm::Linf => {
                        self.domain.0.iter().zip(&self.domain.1).map(|(l, h)| h - l).fold(0.0, f64::max)
                    }
                    InputNorm::L2 => self
                        .domain
                        .0
                        .iter()
                        .zip(&self.domain.1)
                        .map(|(l, h)| (h - l) * (h - l))
                        .sum::<f64>()
                        .sqrt(),
                };
                let config = MinimalConfig {
                    pgd: req.pgd(),
                    eps_max: Some(diameter),
                    decision: (f == Function::Deployed).then(stage_decision),
                    // The search is independent of the certificate it audits: it starts at 0.
                    lower: 0.0,
                    rounds: 8,
                    tolerance: 1e-3,
                };
                best = minimal(&target, &sample, &config, &[])?.best;
            }
            AttackChoice::Decision => best = decision(&target, &sample, &stage_decision())?.adversarial,
            AttackChoice::Fgsm | AttackChoice::Pgd => {
                if let Some(a) = target.confirm(&sample, sample.x.to_vec(), super::AttackKind::Minimal)? {
                    best = Some(a);
                } else {
                    for (k, &e) in eps.iter().enumerate() {
                        let found = match req.attack {
                            AttackChoice::Fgsm => fgsm(&target, &sample, e)?,
                            _ => pgd(&target, &sample, e, &req.pgd())?.adversarial,
                        };
                        success[k] = found.is_some();
                        best = closer(best, found);
                    }
                }
            }
        }
        if !matches!(req.attack, AttackChoice::Fgsm | AttackChoice::Pgd) {
            // Success at ε: an example within ε.
            let d = best.as_ref().map_or(f64::INFINITY, |a| a.distance);
            success = eps.iter().map(|&e| d <= e).collect();
        }
        let pixel = best.as_ref().map(|a| pixel_distance(norm, &self.xs[i], &a.point, &self.std));
        Ok(Found { best, pixel, success })
    }

    /// The number of samples attacked.
    pub(super) fn samples(&self) -> usize {
        self.xs.len()
    }

    /// The digests of what the stage read (a partial file records them; a merge checks them).
    pub(super) fn inputs(&self) -> serde_json::Value {
        let p = &self.provenance;
        json!({
            "model_sha256": p["model_sha256"],
            "certificates_sha256": p["certificates_sha256"],
            "dataset_checksum": p["dataset_checksum"],
            "latent_bn_sha256": p["latent_function"]["latent_bn_sha256"],
        })
    }

    /// Whether an example at `distance` from sample i contradicts its certificate for (f, norm).
    pub(super) fn contradicts(&self, i: usize, f: Function, norm: InputNorm, distance: f64) -> bool {
        self.certified(i, f, norm).is_some_and(|(r, _)| {
            RadiusPair { sample: i, certified: r, empirical: Some(distance) }.violates()
        })
    }

    /// The functions attacked (sorted) and every (function, norm) combination, in the stage's order.
    pub(super) fn combos(req: &AttackRequest) -> (Vec<Function>, Vec<(Function, InputNorm)>) {
        let mut functions = req.functions.clone();
        functions.sort();
        let combos = functions.iter().flat_map(|&f| req.norms.iter().map(move |&nm| (f, nm))).collect();
        (functions, combos)
    }

    /// Attacks the samples `only` (all when `None`), each on its own: what a sample gets depends on its
    /// test-set index and the request's seed, never on the other samples.
    pub(super) fn compute(
        &self,
        req: &AttackRequest,
        only: &[usize],
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<PerSample>> {
        let (functions, combos) = Self::combos(req);
        let n = only.len();
        progress(&format!(
            "{} attack on {n} samples, {} function/norm pairs",
            req.attack.name(),
            combos.len()
        ));
        let done = AtomicUsize::new(0);
        let step = (n / 20).max(1);
        only.par_iter()
            .map(|&i| -> Result<_> {
                let x = columns(std::slice::from_ref(&self.xs[i]));
                let mut preds = Vec::new();
                for &f in &functions {
                    let b = self.nets.get(f).enclose_points(&x, f)?;
                    let c = (0..self.nets.net.classes).max_by(|&a, &c| b.lo[(a, 0)].total_cmp(&b.lo[(c, 0)]));
                    preds.push(c.filter(|&c| verdict(&b, 0, c) == Verdict::Keeps));
                }
                let found = combos
                    .iter()
                    .map(|&(f, nm)| self.attack_one(req, i, f, nm))
                    .collect::<Result<Vec<_>>>()?;
                let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                if k.is_multiple_of(step) || k == n {
                    progress(&format!("attacked {k}/{n} samples"));
                }
                Ok((preds, found))
            })
            .collect()
    }
}

/// Attacks the run's model, audits its certificates and writes `RUN_DIR/empirical.json`; violations are written
/// to `RUN_DIR/violations/` (the caller turns them into exit status 1: [`EmpiricalFile::violations`]).
///
/// Refuses a request that fails [`AttackRequest::check`] before loading anything, and certificates about another
/// model file.
pub fn run(run: &RunDir, req: &AttackRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<EmpiricalFile> {
    run_stage(run, req, progress).map_err(|e| e.about(run.model().display()))
}

fn run_stage(run: &RunDir, req: &AttackRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<EmpiricalFile> {
    req.check()?;
    let started = Instant::now();
    let s = setup(run, req)?;
    let all: Vec<usize> = (0..s.samples()).collect();
    let per = s.compute(req, &all, progress)?;
    let file = assemble(run, req, &s, &per, started.elapsed().as_secs_f64())?;
    file.write(&run.empirical())?;
    Ok(file)
}

/// The run's `empirical.json` when it can stand for [`run`] with `req`: in the current format, about the very
/// model file and `certificates.json` now in the run directory, for an equal request.
pub fn reusable(run: &RunDir, req: &AttackRequest) -> Result<Option<EmpiricalFile>> {
    if !crate::fsio::exists(&run.empirical())? {
        return Ok(None);
    }
    let Ok(earlier) = EmpiricalFile::read(&run.empirical()) else { return Ok(None) };
    let model = crate::fsio::file_sha256(&run.model())?;
    let certificates = if crate::fsio::exists(&run.certificates())? {
        Some(crate::fsio::file_sha256(&run.certificates())?)
    } else {
        None
    };
    let p = &earlier.provenance;
    let recorded = serde_json::from_value::<AttackRequest>(p["request"].clone()).ok();
    let latent = crate::latent_bn::file_sha256(run)?;
    let same = p["model_sha256"].as_str() == Some(model.as_str())
        && crate::latent_bn::recorded_sha256(&p["latent_function"]) == latent.as_deref()
        && p["certificates_sha256"].as_str() == certificates.as_deref()
        && recorded.as_ref() == Some(req);
    Ok(same.then_some(earlier))
}
