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
//! ```

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::io::{ModelMeta, load_model};
use crate::train::TrainConfig;

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

    /// Loads the trained model in `f64` (the type evaluation and verification use).
    pub fn load_model(&self, device: &Device) -> Result<(Model, ModelMeta)> {
        if !self.root.is_dir() {
            return Err(Error::Missing { path: self.root.clone(), what: "run directory" });
        }
        load_model(&self.model(), device, DType::F64)
    }

    /// The dataset the run was trained on (`meta` is its model's metadata): from `data_dir`, else the directory
    /// its `config.toml` names, else the shipped copy. Both splits must have the model's input shape, dimension
    /// by dimension.
    pub fn load_dataset(&self, meta: &ModelMeta, data_dir: Option<&Path>) -> Result<Dataset> {
        let recorded =
            TrainConfig::from_file(&self.config()).ok().and_then(|c| c.data_dir().map(Path::to_path_buf));
        let dataset = data::load(meta.dataset, data_dir.or(recorded.as_deref()))?;
        let what = format!("the input of the model {}", self.model().display());
        dataset.check_geometry(meta.spec.input, &what)?;
        Ok(dataset)
    }
}
