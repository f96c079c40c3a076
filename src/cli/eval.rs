//! `lcr-verify eval`.

use std::path::{Path, PathBuf};

use candle_core::Device;
use clap::Args;
use serde::Serialize;

use super::Outcome;
use super::robustness::LoadedModel;
use crate::data;
use crate::error::Result;
use crate::eval;
use crate::model::io::ModelMeta;
use crate::robustness::DeployedClassifier;
use crate::run_dir::RunDir;
use crate::train::TrainConfig;

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

/// What `eval` reports.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// The run directory.
    pub run: String,
    /// Always `deployed`: the binarised network in eval mode.
    pub function: &'static str,
    /// Dataset name.
    pub dataset: String,
    /// Always `test`.
    pub split: &'static str,
    /// Correct predictions.
    pub correct: usize,
    /// Images.
    pub total: usize,
    /// correct / total.
    pub accuracy: f64,
    /// Whether the dataset's checksum equals the one recorded in the model.
    pub dataset_matches_model: bool,
}

/// The dataset a run was trained on: from `data_dir`, else the directory in its `config.toml`, else the shipped
/// copy.
pub fn run_dataset(run: &RunDir, meta: &ModelMeta, data_dir: Option<&Path>) -> Result<data::Dataset> {
    let cfg_dir =
        TrainConfig::from_file(&run.config()).ok().and_then(|c| c.data_dir().map(|p| p.to_path_buf()));
    data::load(meta.dataset, data_dir.or(cfg_dir.as_deref()))
}

/// A run directory's deployed network as a [`Classifier`](crate::robustness::Classifier), with its test set.
pub fn load_classifier(run_dir: &Path) -> Result<LoadedModel> {
    let run = RunDir::new(run_dir);
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let dataset = run_dataset(&run, &meta, None)?;
    let classifier = DeployedClassifier {
        model,
        normalization: meta.normalization,
        name: format!("{} ({} on {}, deployed)", run_dir.display(), meta.spec.arch.name(), meta.dataset),
    };
    let source = serde_json::json!({
        "name": dataset.kind.name(),
        "dir": dataset.source.display().to_string(),
        "checksum": dataset.checksum,
        "matches_model": dataset.checksum == meta.dataset_checksum,
    });
    Ok(LoadedModel { classifier: Box::new(classifier), test: dataset.test, dataset: source })
}

/// Evaluates a run directory's deployed network on its test split.
pub fn evaluate(run_dir: &Path, data_dir: Option<&Path>) -> Result<EvalReport> {
    let run = RunDir::new(run_dir);
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let dataset = run_dataset(&run, &meta, data_dir)?;
    let acc = eval::accuracy(&model, &dataset.test, &meta.normalization, 1000)?;
    Ok(EvalReport {
        run: run_dir.display().to_string(),
        function: "deployed",
        dataset: meta.dataset.name().to_string(),
        split: "test",
        correct: acc.correct,
        total: acc.total,
        accuracy: acc.accuracy,
        dataset_matches_model: dataset.checksum == meta.dataset_checksum,
    })
}

/// Runs `lcr-verify eval`.
pub fn run(args: &EvalArgs) -> Result<Outcome> {
    let report = evaluate(&args.run_dir, args.data_dir.as_deref())?;
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
