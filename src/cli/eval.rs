//! `lcr-verify eval`: the deployed network's accuracy on the test split.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::error::Result;
use crate::eval::evaluate_run;
use crate::run_dir::RunDir;

/// Flags of `lcr-verify eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory holding model.safetensors.
    pub run_dir: PathBuf,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lcr-verify eval`.
pub fn run(args: &EvalArgs) -> Result<Outcome> {
    let report = evaluate_run(&RunDir::new(&args.run_dir), args.data_dir.as_deref())?;
    if !report.dataset_matches_model {
        eprintln!("warning: the dataset's checksum differs from the one the model was trained with");
    }
    if args.json {
        super::emit(serde_json::to_string_pretty(&report).expect("serialisable"))?;
    } else {
        super::emit(format!(
            "{}: deployed accuracy {:.2}% ({}/{}) on the {} test split",
            report.run,
            100.0 * report.accuracy,
            report.correct,
            report.total,
            report.dataset
        ))?;
    }
    Ok(Outcome::Success)
}
