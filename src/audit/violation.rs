//! A violation record: the evidence of a certificate contradicted, written to `RUN_DIR/violations/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ir::{Function, InputNorm};

/// The directory, inside a run directory, that holds violation records.
pub const VIOLATIONS_DIR: &str = "violations";

/// Which reality contradicted the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// A confirmed adversarial example closer than the certified radius.
    Adversarial,
    /// A corrupted image inside the certified ball whose label changed.
    Corruption,
}

impl ViolationKind {
    /// The name used in file names.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Adversarial => "adversarial",
            ViolationKind::Corruption => "corruption",
        }
    }
}

/// One contradicted certificate, with both inputs (normalised network inputs, CHW order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Adversarial or corruption.
    pub kind: ViolationKind,
    /// The sample's index in the test set.
    pub sample: usize,
    /// Its label.
    pub label: usize,
    /// The function the certificate is about.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// The certified radius.
    pub certified_radius: f64,
    /// The certificate method that gave it.
    pub method: String,
    /// The perturbed input's distance from the clean one, rounded up.
    pub distance: f64,
    /// The prediction on the clean input.
    pub clean_prediction: usize,
    /// The prediction on the perturbed input (floating-point forward).
    pub perturbed_prediction: usize,
    /// The attack that found it, or the corruption and severity.
    pub source: String,
    /// The clean input.
    pub input: Vec<f64>,
    /// The perturbed input.
    pub perturbed: Vec<f64>,
}

impl Violation {
    /// The record's file name: `KIND-FUNCTION-NORM-SAMPLE[-SOURCE].json`.
    pub fn file_name(&self) -> String {
        let source: String = self
            .source
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        format!(
            "{}-{}-{}-{}-{source}.json",
            self.kind.name(),
            self.function.name(),
            self.norm.name(),
            self.sample
        )
    }

    /// Writes the record atomically into `run_dir/violations/` and returns its path.
    pub fn write(&self, run_dir: &Path) -> Result<PathBuf> {
        let dir = run_dir.join(VIOLATIONS_DIR);
        crate::fsio::ensure_dir(&dir)?;
        let path = dir.join(self.file_name());
        crate::fsio::write_json_atomic(&path, self)?;
        Ok(path)
    }
}

/// Removes the earlier records of `kind` from `run_dir/violations/` (before an audit writes its own), so the
/// directory only ever holds what the latest audit found.
pub fn clear_records(run_dir: &Path, kind: ViolationKind) -> Result<()> {
    let dir = run_dir.join(VIOLATIONS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
    let prefix = format!("{}-", kind.name());
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_file(e.path())
                .map_err(|err| crate::error::Error::io("removing", e.path(), err))?;
        }
    }
    Ok(())
}
