//! The run directory: where each stage reads and writes its files.
//!
//! ```text
//! RUN_DIR/config.toml              the checked training configuration
//! RUN_DIR/model.safetensors        the trained model with its metadata
//! RUN_DIR/metrics.json             per-epoch training metrics and the final test accuracy
//! RUN_DIR/checkpoint.safetensors   the last completed epoch while training runs (removed at the end)
//! ```

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::io::{ModelMeta, load_model};

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

    /// Loads the trained model in `f64` (the type evaluation and verification use).
    pub fn load_model(&self, device: &Device) -> Result<(Model, ModelMeta)> {
        if !self.root.is_dir() {
            return Err(Error::Missing { path: self.root.clone(), what: "run directory" });
        }
        load_model(&self.model(), device, DType::F64)
    }
}
