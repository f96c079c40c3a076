//! Reading run directories for the report: the configuration and training metrics every run has, and each later
//! stage's file when that stage ran.
//!
//! A directory without `config.toml` is not a run directory, and a malformed file is an error naming it (the
//! CLI exits with status 2). A stage file that is missing makes that stage "not run" for the run; one about
//! another model file than the run's `model.safetensors` (its recorded SHA-256 differs) is "stale" and left out,
//! so that no figure of an earlier model is reported as this one's.

use std::path::{Path, PathBuf};

use crate::attack::EmpiricalFile;
use crate::bounds::BoundsFile;
use crate::certify::CertificatesFile;
use crate::error::{Error, Result};
use crate::fsio;
use crate::robustness::CorruptionFile;
use crate::run_dir::RunDir;
use crate::train::{Metrics, TrainConfig};

/// A later stage's file of one run.
#[derive(Clone, Debug)]
pub enum Stage<T> {
    /// The file, about the run's model.
    Present(T),
    /// No file: the stage did not run.
    NotRun,
    /// A file about another model file than the run's, left out.
    Stale,
}

impl<T> Stage<T> {
    /// The file, when present and current.
    pub fn get(&self) -> Option<&T> {
        match self {
            Stage::Present(t) => Some(t),
            _ => None,
        }
    }

    /// One word for the run table.
    pub fn status(&self) -> &'static str {
        match self {
            Stage::Present(_) => "yes",
            Stage::NotRun => "not run",
            Stage::Stale => "stale",
        }
    }
}

/// Everything the report reads from one run directory.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The directory as named by the caller.
    pub dir: PathBuf,
    /// How the report names it: its path relative to the report's directory when there is one, else as given.
    pub name: String,
    /// The checked training configuration (`config.toml`).
    pub config: TrainConfig,
    /// The training metrics (`metrics.json`).
    pub metrics: Metrics,
    /// SHA-256 of `model.safetensors`, when the file is there.
    pub model_sha256: Option<String>,
    /// `bounds.json`.
    pub bounds: Stage<BoundsFile>,
    /// `certificates.json`.
    pub certificates: Stage<CertificatesFile>,
    /// `empirical.json`.
    pub empirical: Stage<EmpiricalFile>,
    /// `corruption.json` (its suites about another model dropped; `Stale` when none is left).
    pub corruption: Stage<CorruptionFile>,
}

impl RunData {
    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }
}

/// Reads every run directory in `dirs`, in order; the first one that is not a run directory, or holds a
/// malformed file, is the error.
pub fn collect(dirs: &[PathBuf]) -> Result<Vec<RunData>> {
    dirs.iter().map(|d| read_run(d)).collect()
}

/// Reads one run directory.
pub fn read_run(dir: &Path) -> Result<RunData> {
    let run = RunDir::new(dir);
    if !dir.is_dir() {
        return Err(Error::format(dir, "not a run directory: no such directory"));
    }
    if !run.config().is_file() {
        return Err(Error::format(
            dir,
            "not a run directory: it holds no config.toml (`lcr-verify train --out DIR` writes one)",
        ));
    }
    let config = TrainConfig::from_file(&run.config())?;
    if !run.metrics().is_file() {
        return Err(Error::format(
            dir,
            "not a run directory: it holds no metrics.json (training never started)",
        ));
    }
    let bytes = fsio::read(&run.metrics())?;
    let metrics: Metrics = serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(run.metrics(), format!("not training metrics: {e}")))?;
    let model_sha256 = if run.model().is_file() { Some(fsio::file_sha256(&run.model())?) } else { None };
    let current = |recorded: Option<&str>| match (&model_sha256, recorded) {
        (Some(ours), Some(theirs)) => ours == theirs,
        // Without the model file, or without a recorded digest, there is nothing to compare: the file stands.
        _ => true,
    };
    let bounds = stage(&run.bounds(), BoundsFile::read, |b| current(b.meta["model_sha256"].as_str()))?;
    let certificates = stage(&run.certificates(), CertificatesFile::read, |c| current(c.model_sha256()))?;
    let empirical =
        stage(&run.empirical(), EmpiricalFile::read, |e| current(e.provenance["model_sha256"].as_str()))?;
    let corruption = if run.corruption().exists() {
        let mut file = CorruptionFile::read(&run.corruption())?;
        let before = file.suites.len();
        file.suites.retain(|_, s| current(s.provenance["model_sha256"].as_str()));
        if file.suites.is_empty() && before > 0 { Stage::Stale } else { Stage::Present(file) }
    } else {
        Stage::NotRun
    };
    let name = dir.display().to_string();
    Ok(RunData {
        dir: dir.to_path_buf(),
        name,
        config,
        metrics,
        model_sha256,
        bounds,
        certificates,
        empirical,
        corruption,
    })
}

fn stage<T>(path: &Path, read: fn(&Path) -> Result<T>, current: impl Fn(&T) -> bool) -> Result<Stage<T>> {
    if !path.exists() {
        return Ok(Stage::NotRun);
    }
    let file = read(path)?;
    Ok(if current(&file) { Stage::Present(file) } else { Stage::Stale })
}
