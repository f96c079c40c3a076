//! `lcr-verify run`: the whole study on the shipped default data.
//!
//! Trains the default binary MLP on MNIST twice, as the plain BNN baseline (λ = 0) and with the LCR regulariser,
//! then, for each: evaluates the deployed network, bounds its Lipschitz constant (`bound`), certifies every test
//! image (`certify`), attacks the first `--attack-samples` of them and audits the certificates against the attacks
//! (`attack`), and evaluates it under the MNIST-C suite and the 15 × 5 ImageNet-C-style table (CIFAR parameter
//! table, see the README) with the corruption audit, CE normalised by the baseline. Stages whose output already
//! exists in `--out` are reused, interrupted training is resumed; `--fresh` starts over. A contradicted
//! certificate makes the study exit with status 1.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Outcome;
use crate::attack::{AttackRequest, EmpiricalFile};
use crate::bounds::{Bound, BoundRequest, BoundsFile, Method, Norm};
use crate::certify::{CertificatesFile, CertifyRequest};
use crate::corrupt::Suite;
use crate::error::{Error, Result};
use crate::fsio;
use crate::ir::Function;
use crate::robustness::{EvalOptions, RobustnessRequest, SuiteReport, load_deployed};
use crate::run_dir::RunDir;
use crate::train::{self, RawConfig, TrainConfig, TrainOptions};

/// The LCR coefficient of the study's regularised model.
pub const STUDY_LCR_WEIGHT: f64 = 1e-3;

/// Flags of `lcr-verify run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directory for the study's run directories.
    #[arg(long, default_value = "runs/study")]
    pub out: PathBuf,
    /// Seed of both models.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed, default_value_t = 1)]
    pub seed: u64,
    /// Epochs (default: the architecture's).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub epochs: Option<usize>,
    /// LCR coefficient of the regularised model.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real, default_value_t = STUDY_LCR_WEIGHT)]
    pub lcr_weight: f64,
    /// MLP hidden widths, comma-separated (default: the architecture's, 384,384).
    #[arg(long, allow_hyphen_values = true, value_parser = super::number::positive, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub widths: Option<Vec<usize>>,
    /// Directory holding the MNIST IDX files (default: the shipped copy).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Test images attacked per model (the minimal-perturbation search, both norms, all three functions).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = crate::attack::DEFAULT_SAMPLES)]
    pub attack_samples: usize,
    /// Recompute every stage, discarding earlier results in --out.
    #[arg(long)]
    pub fresh: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What the study measured for one model.
struct Row {
    name: &'static str,
    lambda: f64,
    accuracy: f64,
    bounds: BoundsFile,
    certificates: CertificatesFile,
    empirical: EmpiricalFile,
    mnist_c: SuiteReport,
    table: SuiteReport,
}

impl Row {
    /// Violation records of every audit of this model.
    fn violations(&self) -> Vec<String> {
        let mut v = self.empirical.violation_records.clone();
        for r in [&self.mnist_c, &self.table] {
            v.extend(r.audit.iter().flat_map(|a| a.records().iter().cloned()));
        }
        v
    }
}

fn say(quiet: bool, msg: String) {
    if !quiet {
        eprintln!("{msg}");
    }
}

/// The study's report of the model in `dir` on `suite` (CE normalised by `reference`): an earlier report reused
/// when it is about these very model files and was asked for in the same way.
fn robustness(dir: &Path, suite: Suite, reference: Option<&Path>, quiet: bool) -> Result<SuiteReport> {
    let run = RunDir::new(dir);
    let req = RobustnessRequest {
        suite: Some(suite),
        reference: reference.map(Path::to_path_buf),
        ..Default::default()
    };
    if let Some(earlier) = crate::robustness::reusable(&run, &req)? {
        return Ok(earlier);
    }
    let options = EvalOptions { chunk: 2000, progress: !quiet };
    crate::robustness::run(&run, &req, &load_deployed, &options)
}

/// The study's bounds of the model in `dir`: the default request, an earlier `bounds.json` reused when it is
/// about this very model file and was asked for in the same way.
fn bounds(dir: &Path, quiet: bool) -> Result<BoundsFile> {
    let (run, req) = (RunDir::new(dir), BoundRequest::default());
    if let Some(earlier) = crate::bounds::reusable(&run, &req)? {
        return Ok(earlier);
    }
    crate::bounds::run(&run, &req, &super::progress_lines(quiet))
}

/// The study's certificates of the model in `dir`: every test image, both norms, all three functions.
fn certificates(dir: &Path, quiet: bool) -> Result<CertificatesFile> {
    let (run, req) = (RunDir::new(dir), CertifyRequest::default());
    if let Some(earlier) = crate::certify::reusable(&run, &req)? {
        return Ok(earlier);
    }
    crate::certify::run(&run, &req, &super::progress_lines(quiet))
}

/// The study's attacks on the model in `dir`: the minimal-perturbation search on the first `samples` test
/// images, audited against the certificates.
fn empirical(dir: &Path, samples: usize, quiet: bool) -> Result<EmpiricalFile> {
    let (run, req) = (RunDir::new(dir), AttackRequest { samples, ..AttackRequest::default() });
    if let Some(earlier) = crate::attack::reusable(&run, &req)? {
        return Ok(earlier);
    }
    crate::attack::run(&run, &req, &super::progress_lines(quiet))
}

/// The study's training configuration of one model.
fn study_config(args: &RunArgs, lambda: f64) -> Result<TrainConfig> {
    RawConfig {
        seed: Some(args.seed),
        epochs: args.epochs,
        lcr_weight: Some(lambda),
        widths: args.widths.clone(),
        data_dir: args.data_dir.clone(),
        ..RawConfig::default()
    }
    .check()
}

/// Removes everything in `dir` but its lock file (`--fresh`: the directory stays owned while it is emptied).
fn clear_except_lock(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("listing", dir, e))?;
        if e.file_name() == crate::lock::LOCK_FILE {
            continue;
        }
        let path = e.path();
        let removed = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io("removing", &path, e))?;
    }
    Ok(())
}

/// Refuses to reuse a run directory that holds a model (or checkpoint) of another configuration, or of an
/// unknown one.
fn check_reusable(dir: &Path, cfg: &TrainConfig) -> Result<()> {
    let run = RunDir::new(dir);
    if !(fsio::exists(&run.model())? || fsio::exists(&run.checkpoint())?) {
        return Ok(());
    }
    let problem = match train::recorded_config_matches(&run, &cfg.to_toml()?)? {
        Some(true) => return Ok(()),
        Some(false) => format!("a run with another configuration ({})", run.config().display()),
        None => format!("a run without its configuration ({} is missing)", run.config().display()),
    };
    Err(Error::config(
        "out",
        format!("{} holds {problem}; pass --fresh to start over or choose another --out", dir.display()),
    ))
}

fn study_one(args: &RunArgs, name: &'static str, cfg: &TrainConfig, reference: Option<&Path>) -> Result<Row> {
    let dir = args.out.join(name);
    let lambda = cfg.lcr_weight;
    let run = RunDir::new(&dir);
    let resume = fsio::exists(&run.model())? || fsio::exists(&run.checkpoint())?;
    say(
        args.quiet,
        format!("== {name}: {} {:?}, λ = {lambda} -> {}", cfg.arch.name(), cfg.widths, dir.display()),
    );
    train::train(cfg, &dir, &TrainOptions { resume, stop_after: None, progress: !args.quiet })?;
    let accuracy = crate::eval::evaluate_run(&run, None)?.accuracy;
    say(args.quiet, format!("== {name}: Lipschitz bounds"));
    let bounds = bounds(&dir, args.quiet)?;
    say(args.quiet, format!("== {name}: certified radii of every test image"));
    let certificates = certificates(&dir, args.quiet)?;
    say(args.quiet, format!("== {name}: attacks on {} test images and the audit", args.attack_samples));
    let empirical = empirical(&dir, args.attack_samples, args.quiet)?;
    say(args.quiet, format!("== {name}: MNIST-C and the 15 × 5 corruption table, with the corruption audit"));
    let mnist_c = robustness(&dir, Suite::MnistC, reference, args.quiet)?;
    let table = robustness(&dir, Suite::CifarC, reference, args.quiet)?;
    Ok(Row { name, lambda, accuracy, bounds, certificates, empirical, mnist_c, table })
}

fn find(b: &BoundsFile, method: Method, norm: Norm) -> String {
    b.bounds
        .iter()
        .find(|x| x.method == method && x.function == Function::Surrogate && x.norm == norm)
        .map_or_else(|| "-".to_string(), |x: &Bound| format!("{:.4}", x.value))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

/// Runs the study.
pub fn run(args: &RunArgs) -> Result<Outcome> {
    // Check both configurations, and that earlier results can be reused, before any work.
    let (base_cfg, lcr_cfg) = (study_config(args, 0.0)?, study_config(args, args.lcr_weight)?);
    // Both run directories are this study's alone until it ends (taken in a fixed order, never waited for).
    let mut locks = Vec::new();
    for (name, cfg) in [("baseline", &base_cfg), ("lcr", &lcr_cfg)] {
        let dir = args.out.join(name);
        locks.push(super::lock(&dir, true)?);
        if args.fresh {
            clear_except_lock(&dir)?;
        }
        check_reusable(&dir, cfg)?;
    }
    let baseline = study_one(args, "baseline", &base_cfg, None)?;
    let base_dir = args.out.join("baseline");
    let lcr = study_one(args, "lcr", &lcr_cfg, Some(&base_dir))?;
    let rows = [baseline, lcr];
    super::emit(
        "Accuracy and robustness (deployed network, MNIST test set; CE normalised by the baseline):\n",
    )?;
    super::emit(
        "| model | λ | clean accuracy | MNIST-C mean error | 15×5 table mean error | mCE | mPC | rPC |",
    )?;
    super::emit("|---|---|---|---|---|---|---|---|")?;
    for r in &rows {
        super::emit(format!(
            "| {} | {} | {:.2}% | {} | {} | {} | {} | {} |",
            r.name,
            r.lambda,
            100.0 * r.accuracy,
            pct(Some(r.mnist_c.totals.mean_error)),
            pct(Some(r.table.totals.mean_error)),
            pct(r.table.totals.mce),
            pct(Some(r.table.totals.mpc)),
            pct(r.table.totals.rpc),
        ))?;
    }
    super::emit(
        "\nLipschitz constant of the surrogate (hardtanh for sign), ℓ∞ input, worst class-pair margin:\n",
    )?;
    super::emit(
        "| model | sampled (lower) | LP (certified) | product (certified) | ℓ2 product (certified) |",
    )?;
    super::emit("|---|---|---|---|---|")?;
    for r in &rows {
        super::emit(format!(
            "| {} | {} | {} | {} | {} |",
            r.name,
            find(&r.bounds, Method::SampledGradient, Norm::LinfMargin),
            find(&r.bounds, Method::LpGlobal, Norm::LinfMargin),
            find(&r.bounds, Method::SpectralProduct, Norm::LinfMargin),
            find(&r.bounds, Method::SpectralProduct, Norm::L2),
        ))?;
    }
    radii_table(&rows, args.attack_samples)?;
    super::emit(format!(
        "\nFiles: {}/{{baseline,lcr}}/{{model.safetensors,metrics.json,bounds.json,certificates.json,empirical.json,corruption.json}}",
        args.out.display()
    ))?;
    let records: Vec<String> = rows.iter().flat_map(Row::violations).collect();
    Ok(super::audit_outcome(&records))
}

/// The certified against the empirical radii of both models, with the audits.
fn radii_table(rows: &[Row], attacked: usize) -> Result<()> {
    super::emit(format!(
        "\nCertified vs empirical radii (first {attacked} test images; pixel units p/255; medians over correctly \
         classified images; CA/RA = certified/robust accuracy at ε = 0.1 (ℓ2) or 0.01 (ℓ∞)):\n"
    ))?;
    super::emit(
        "| model | function | norm | clean | median certified | median empirical | median ratio | CA | RA | audit |",
    )?;
    super::emit("|---|---|---|---:|---:|---:|---:|---:|---:|---|")?;
    for r in rows {
        for s in &r.empirical.summary {
            let (f, norm) = (s.function, s.norm);
            let ratio =
                r.empirical.ratios.iter().find(|x| x.function == f && x.norm == norm && x.method == "best");
            let curve = r.empirical.curves.iter().find(|c| c.function == f && c.norm == norm);
            let eps = if norm == crate::ir::InputNorm::L2 { 0.1 } else { 0.01 };
            let at = |v: Option<&Vec<f64>>| -> String {
                let (Some(c), Some(v)) = (curve, v) else { return "-".into() };
                c.eps_pixel
                    .iter()
                    .position(|e| (e - eps).abs() < 1e-12)
                    .map_or("-".into(), |i| pct(Some(v[i])))
            };
            // The best certificate of each correctly classified attacked image, in pixel units.
            let best_cert = crate::audit::stats::median(r.empirical.samples.iter().filter_map(|e| {
                let c = r.certificates.samples.get(e.index)?;
                (e.prediction.get(&f).copied().flatten() == Some(e.label))
                    .then(|| c.best_pixel.get(&f)?.get(&norm).copied().map(crate::certify::file::from_file))
                    .flatten()
            }));
            let audit = r.empirical.audit.iter().flatten().find(|a| a.function == f && a.norm == norm);
            super::emit(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                f.name(),
                norm.name(),
                pct(r.empirical.accuracy.get(&f).copied()),
                best_cert.map_or("-".into(), |v| format!("{v:.4}")),
                s.median_radius_pixel.map_or("-".into(), |v| format!("{v:.4}")),
                ratio.and_then(|x| x.median_ratio).map_or("-".into(), |v| format!("{v:.3}")),
                at(curve.and_then(|c| c.certified_accuracy.as_ref())),
                at(curve.map(|c| &c.robust_accuracy)),
                audit.map_or("not run".into(), |a| format!(
                    "{} checked, {} violations",
                    a.checked, a.violations
                )),
            ))?;
        }
    }
    Ok(())
}
