//! `lcr-verify run`: the whole study on the shipped default data.
//!
//! Trains the default binary MLP on MNIST twice, as the plain BNN baseline (λ = 0) and with the LCR regulariser,
//! then evaluates both. Runs that already finished in `--out` are reused, interrupted ones resumed.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::error::Result;
use crate::train::{self, RawConfig, TrainOptions};

/// The LCR coefficient of the study's regularised model.
pub const STUDY_LCR_WEIGHT: f64 = 1e-3;

/// Flags of `lcr-verify run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directory for the study's run directories.
    #[arg(long, default_value = "runs/study")]
    pub out: PathBuf,
    /// Seed of both models.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Epochs (default: the architecture's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// LCR coefficient of the regularised model.
    #[arg(long, default_value_t = STUDY_LCR_WEIGHT)]
    pub lcr_weight: f64,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the study.
pub fn run(args: &RunArgs) -> Result<Outcome> {
    let mut rows = Vec::new();
    for (name, lambda) in [("baseline", 0.0), ("lcr", args.lcr_weight)] {
        let dir = args.out.join(name);
        let cfg = RawConfig {
            seed: Some(args.seed),
            epochs: args.epochs,
            lcr_weight: Some(lambda),
            ..RawConfig::default()
        }
        .check()?;
        let run = crate::run_dir::RunDir::new(&dir);
        let resume = run.model().exists() || run.checkpoint().exists();
        if !args.quiet {
            eprintln!("== {name}: {} (λ = {lambda}) -> {}", cfg.arch.name(), dir.display());
        }
        let opts = TrainOptions { resume, stop_after: None, progress: !args.quiet };
        train::train(&cfg, &dir, &opts)?;
        let report = super::eval::evaluate(&dir, None)?;
        rows.push((name, lambda, report));
    }
    super::emit(format!("| model | λ | function | test accuracy |"))?;
    super::emit(format!("|---|---|---|---|"))?;
    for (name, lambda, r) in &rows {
        super::emit(format!(
            "| {name} | {lambda} | {} | {:.2}% ({}/{}) |",
            r.function,
            100.0 * r.accuracy,
            r.correct,
            r.total
        ))?;
    }
    Ok(Outcome::Success)
}
