//! The run directory: where each stage reads and writes its files.
//!
//! ```text
//! RUN_DIR/config.toml              the checked training configuration
//! RUN_DIR/model.safetensors        the trained model with its metadata
//! RUN_DIR/metrics.json             per-epoch training metrics and the final test accuracy
//! RUN_DIR/checkpoint.safetensors   the last completed epoch while training runs (removed at the end)
//! RUN_DIR/bounds.json              the Lipschitz bounds (`bound`)
//! RUN_DIR/corruption.json          the robustness under corruptions, one report per suite (`robustness`)
//! RUN_DIR/certificates.json        per-sample certified radii (`certify`)
//! RUN_DIR/empirical.json           attacks and the soundness audit (`attack`)
//! RUN_DIR/import.json              where an imported network came from (`import`; trained runs have none)
//! RUN_DIR/.lock                    while a command writes the directory: its holder ([`crate::lock`])
//! ```
//!
//! One process writes a run directory at a time: the command line takes [`crate::lock::RunLock`] before a stage
//! writes. Readers pair files only when they belong together: `config.toml` must be the configuration recorded
//! in `model.safetensors` ([`RunDir::check_config`]), derived files record the model's SHA-256. A file that cannot
//! be read is an I/O error naming it, never "not found" ([`crate::fsio::exists`]).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::fsio;
use crate::model::Model;
use crate::model::io::{ModelMeta, load_model};
use crate::train::RawConfig;

/// Paths inside one run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (not checked).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `model.safetensors`.
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }

    /// `metrics.json`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.json")
    }

    /// `checkpoint.safetensors`.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.safetensors")
    }

    /// `bounds.json`.
    pub fn bounds(&self) -> PathBuf {
        self.root.join("bounds.json")
    }

    /// `corruption.json`.
    pub fn corruption(&self) -> PathBuf {
        self.root.join("corruption.json")
    }

    /// `certificates.json`.
    pub fn certificates(&self) -> PathBuf {
        self.root.join("certificates.json")
    }

    /// `empirical.json`.
    pub fn empirical(&self) -> PathBuf {
        self.root.join("empirical.json")
    }

    /// `import.json`.
    pub fn import_record(&self) -> PathBuf {
        self.root.join("import.json")
    }

    /// Loads the trained model in `f64` (the type evaluation and verification use).
    ///
    /// A directory that is missing is [`Error::Missing`]; one that cannot be read (permission denied, ...) is an
    /// [`Error::Io`] naming it, never a "not found".
    pub fn load_model(&self, device: &Device) -> Result<(Model, ModelMeta)> {
        self.check_dir()?;
        load_model(&self.model(), device, DType::F64)
    }

    /// Checks that the run directory exists, is a directory and can be listed.
    pub fn check_dir(&self) -> Result<()> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::format(&self.root, "not a directory (expected a run directory)")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing { path: self.root.clone(), what: "run directory" });
            }
            Err(e) => return Err(Error::io("opening the run directory", &self.root, e)),
        }
        std::fs::read_dir(&self.root).map_err(|e| Error::io("opening the run directory", &self.root, e))?;
        Ok(())
    }

    /// The dataset the run was trained on (`meta` is its model's metadata): from `data_dir`, else the directory
    /// the model's own configuration names, else the shipped copy. Both splits must have the model's input shape,
    /// dimension by dimension.
    ///
    /// The model file carries its training configuration; the run's `config.toml`, when present, must be that
    /// very configuration ([`RunDir::check_config`]), so a model is never paired with another run's settings.
    pub fn load_dataset(&self, meta: &ModelMeta, data_dir: Option<&Path>) -> Result<Dataset> {
        self.check_config(meta)?;
        let recorded = RawConfig::from_text(&meta.config)
            .ok()
            .and_then(|c| c.data_dir)
            .filter(|d| !d.as_os_str().is_empty());
        let dataset = data::load(meta.dataset, data_dir.or(recorded.as_deref()))?;
        let what = format!("the input of the model {}", self.model().display());
        dataset.check_geometry(meta.spec.input, &what)?;
        Ok(dataset)
    }

    /// Refuses a `config.toml` that is not the configuration recorded in the model file (`meta`): the two files
    /// would describe different runs. A missing `config.toml` is accepted (the model's own copy stands).
    pub fn check_config(&self, meta: &ModelMeta) -> Result<()> {
        let path = self.config();
        if !fsio::exists(&path)? {
            return Ok(());
        }
        if fsio::read(&path)? != meta.config.as_bytes() {
            return Err(Error::format(
                &path,
                format!(
                    "is not the configuration recorded in {} (the two files come from different runs); \
                     train the run again, or restore the run's own config.toml",
                    self.model().display()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path that cannot be looked into for another reason than "not found": its parent is a regular file. (A
    /// permission error behaves the same way, but cannot be produced where tests run as root.)
    fn blocked_path(root: &Path) -> PathBuf {
        std::fs::write(root.join("file"), b"x").unwrap();
        root.join("file").join("run")
    }

    #[test]
    fn a_directory_that_cannot_be_read_is_not_reported_missing() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::new(blocked_path(root.path()));
        let err = run.load_model(&Device::Cpu).err().unwrap();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(!err.to_string().contains("not found"), "{err}");
        let err = fsio::exists(&run.model()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        let missing = RunDir::new(root.path().join("none"));
        assert!(matches!(
            missing.load_model(&Device::Cpu),
            Err(Error::Missing { what: "run directory", .. })
        ));
        assert!(!fsio::exists(&missing.model()).unwrap());
    }

    #[test]
    fn a_model_file_that_cannot_be_read_is_not_reported_missing() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::new(root.path());
        // A directory where the model file should be: reading it fails, but it is there.
        std::fs::create_dir(run.model()).unwrap();
        let err = run.load_model(&Device::Cpu).err().unwrap();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(err.to_string().contains("a directory, not a regular file"), "{err}");
        std::fs::remove_dir(run.model()).unwrap();
        let err = run.load_model(&Device::Cpu).err().unwrap();
        assert!(matches!(err, Error::Missing { what: "model file", .. }), "{err}");
    }
}
