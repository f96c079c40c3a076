//! `lcr-verify run`: the whole study ([`crate::study`]) on the shipped data.
//!
//! For each dataset and seed, trains the plain BNN baseline (λ = 0) and the LCR model(s), then, for each:
//! evaluates the deployed network, bounds its Lipschitz constant, certifies the test images, attacks the first
//! `--attack-samples` of them with the adversarial audit (first seed), and scores it on the shared MNIST-C and
//! 15 × 5 corrupted sets with the corruption audit, CE normalised by the same seed's baseline; then writes the
//! report to `OUT/report/`. Finished stages are reused, interrupted training is resumed; `--fresh` starts over.
//! A contradicted certificate makes the study exit with status 1.

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::Outcome;
use crate::data::DatasetKind;
use crate::error::Result;
use crate::lcr::LcrVariant;
use crate::study::{self, Progress, STUDY_LCR_WEIGHT, StudyRequest};

/// Flags of `lcr-verify run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directory of the study: OUT/<dataset>/<model>-s<seed>/, OUT/<dataset>/corrupted/, OUT/report/.
    #[arg(long, default_value = "runs/study")]
    pub out: PathBuf,
    /// Dataset(s) to study.
    #[arg(long, default_value = "mnist", value_parser = PossibleValuesParser::new(["mnist", "fashion-mnist", "all"])
        .map(|s| s.to_string()))]
    pub dataset: String,
    /// Seeds 1..=N of every configuration (default 3; 2 with --quick).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed)]
    pub seeds: Option<u64>,
    /// Epochs (default: the architecture's; 1 with --quick).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub epochs: Option<usize>,
    /// LCR coefficients λ of the regularised models, comma-separated: one model per value (a sweep; default 0.001).
    #[arg(long, alias = "lcr-weight", allow_negative_numbers = true, value_parser = super::number::real,
        value_delimiter = ',', action = clap::ArgAction::Set)]
    pub lcr_weights: Option<Vec<f64>>,
    /// LCR variant: the paper's per-layer form or the released code's per-stage form.
    #[arg(long, value_parser = super::choice::parser::<LcrVariant>())]
    pub lcr_variant: Option<LcrVariant>,
    /// MLP hidden widths, comma-separated (default: the architecture's, 384,384; 48,48 with --quick).
    #[arg(long, allow_hyphen_values = true, value_parser = super::number::positive, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub widths: Option<Vec<usize>>,
    /// Directory holding the dataset's IDX files (one dataset only; default: the shipped copy).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Test images attacked per first-seed model (default 100; 10 with --quick).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub attack_samples: Option<usize>,
    /// Fewer samples and epochs and a smaller network, the same stages (about a minute on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// Recompute every stage, discarding earlier results in --out.
    #[arg(long)]
    pub fresh: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    /// The request the flags make.
    pub fn request(&self) -> StudyRequest {
        let datasets = match self.dataset.as_str() {
            "all" => vec![DatasetKind::Mnist, DatasetKind::FashionMnist],
            "fashion-mnist" => vec![DatasetKind::FashionMnist],
            _ => vec![DatasetKind::Mnist],
        };
        StudyRequest {
            out: self.out.clone(),
            datasets,
            seeds: self.seeds,
            epochs: self.epochs,
            widths: self.widths.clone(),
            data_dir: self.data_dir.clone(),
            lcr_weights: self.lcr_weights.clone().unwrap_or_else(|| vec![STUDY_LCR_WEIGHT]),
            lcr_variant: self.lcr_variant,
            attack_samples: self.attack_samples,
            quick: self.quick,
        }
    }
}

/// Runs the study.
pub fn run(args: &RunArgs) -> Result<Outcome> {
    // Every configuration is checked before any work or lock.
    let plan = study::plan(&args.request())?;
    // Every directory is this study's alone until it ends (taken in a fixed order, never waited for).
    let mut locks = Vec::new();
    for dir in plan.dirs() {
        locks.push(super::lock(&dir, true)?);
    }
    if args.fresh {
        plan.clear()?;
    }
    plan.check_reusable()?;
    let say = super::progress_lines(args.quiet);
    let outcome = study::run(&plan, &Progress { say: &say, bars: !args.quiet })?;
    for line in study::summary(&outcome) {
        super::emit(line)?;
    }
    super::emit(format!(
        "\nReport (means ± sd over seeds, every per-seed value, plots): {}/report.md (also .csv, .json, .tex, .html)",
        outcome.report.out.display()
    ))?;
    drop(locks);
    Ok(super::audit_outcome(&outcome.violations()))
}
