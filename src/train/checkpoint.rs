//! Training checkpoints: model tensors, optimiser state and the metrics so far, in one file written atomically
//! after every epoch, so that an interrupted run resumes to bit-identical final weights.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::metrics::EpochMetrics;
use crate::error::{Error, Result};
use crate::model::io::{read_tensors, write_tensors};

/// What a checkpoint records besides tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// Always `"checkpoint"`.
    pub kind: String,
    /// [`CHECKPOINT_FORMAT`] (1 when absent); a later one is refused.
    #[serde(default = "crate::format::first_format")]
    pub format: u32,
    /// lcr-verify version; a later one is refused.
    pub version: String,
    /// The configuration as TOML (must match on resume).
    pub config: String,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// Metrics of the completed epochs.
    pub metrics: Vec<EpochMetrics>,
}

/// A loaded checkpoint.
pub struct Checkpoint {
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// Model tensors by name.
    pub model: BTreeMap<String, Tensor>,
    /// Optimiser state by name.
    pub optimizer: BTreeMap<String, Tensor>,
}

/// The layout of [`CheckpointMeta`] this build writes.
pub const CHECKPOINT_FORMAT: u32 = 1;

const MODEL: &str = "model/";
const OPTIMIZER: &str = "optimizer/";

/// Writes a checkpoint atomically.
pub fn save(
    path: &Path,
    meta: &CheckpointMeta,
    model: &BTreeMap<String, Tensor>,
    optimizer: &BTreeMap<String, Tensor>,
) -> Result<()> {
    let mut all = BTreeMap::new();
    for (k, v) in model {
        all.insert(format!("{MODEL}{k}"), v.clone());
    }
    for (k, v) in optimizer {
        all.insert(format!("{OPTIMIZER}{k}"), v.clone());
    }
    write_tensors(path, &all, meta)
}

/// Reads a checkpoint.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    let (meta, all): (CheckpointMeta, _) = read_tensors(path, device)?;
    if meta.kind != "checkpoint" {
        return Err(Error::format(path, format!("this is a {} file, not a checkpoint", meta.kind)));
    }
    crate::format::check_format(path, "checkpoint metadata", meta.format, CHECKPOINT_FORMAT)?;
    crate::format::check_writer(path, "the checkpoint", &meta.version)?;
    let mut model = BTreeMap::new();
    let mut optimizer = BTreeMap::new();
    for (k, v) in all {
        if let Some(name) = k.strip_prefix(MODEL) {
            model.insert(name.to_string(), v);
        } else if let Some(name) = k.strip_prefix(OPTIMIZER) {
            optimizer.insert(name.to_string(), v);
        } else {
            return Err(Error::format(path, format!("unexpected tensor `{k}`")));
        }
    }
    Ok(Checkpoint { meta, model, optimizer })
}
