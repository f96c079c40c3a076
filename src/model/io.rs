//! Model files: safetensors with the architecture, configuration, dataset checksum, seed and version inside.
//!
//! The metadata is one JSON document under the single key `lcr_verify` (one key, so that the file's bytes do
//! not depend on hash-map order: two runs with the same seed write identical files). Tensors are stored as
//! little-endian `f32`. Reading checks the container, the metadata, every tensor's type and finiteness, and
//! (when the model is built) every shape against the architecture.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::{Model, ModelSpec};
use crate::data::{DatasetKind, Normalization};
use crate::error::{Error, Result};
use crate::fsio;

/// The metadata key holding the JSON document.
pub const META_KEY: &str = "lcr_verify";

/// The layout of [`ModelMeta`] this build writes (`format`); models that predate the field read as format 1.
pub const MODEL_FORMAT: u32 = 1;

/// What a model file says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// Always `"model"` for model files (`"checkpoint"` for training checkpoints).
    pub kind: String,
    /// [`MODEL_FORMAT`] (1 when absent); a later one is refused.
    #[serde(default = "crate::format::first_format")]
    pub format: u32,
    /// lcr-verify version that wrote the file; a later one is refused.
    pub version: String,
    /// The architecture.
    pub spec: ModelSpec,
    /// Dataset trained on.
    pub dataset: DatasetKind,
    /// Its checksum (see [`crate::data`]).
    pub dataset_checksum: String,
    /// Input normalisation used in training.
    pub normalization: Normalization,
    /// Training seed.
    pub seed: u64,
    /// The full training configuration, as TOML.
    pub config: String,
}

/// Writes tensors and a JSON metadata document atomically.
pub fn write_tensors<M: Serialize>(path: &Path, tensors: &BTreeMap<String, Tensor>, meta: &M) -> Result<()> {
    let mut bytes: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.push((name.clone(), raw, t.dims().to_vec()));
    }
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, raw, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), raw)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::format(path, format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<_>>()?;
    let json = serde_json::to_string(meta).map_err(|e| Error::format(path, format!("metadata: {e}")))?;
    let info = HashMap::from([(META_KEY.to_string(), json)]);
    let data = safetensors::serialize(views, Some(info))
        .map_err(|e| Error::format(path, format!("cannot serialise safetensors: {e}")))?;
    fsio::write_atomic(path, &data)
}

/// Reads a safetensors file written by [`write_tensors`]: its metadata document and its tensors (as `f32`).
pub fn read_tensors<M: for<'de> Deserialize<'de>>(
    path: &Path,
    device: &Device,
) -> Result<(M, BTreeMap<String, Tensor>)> {
    let bytes = fsio::read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let json =
        header.metadata().as_ref().and_then(|m| m.get(META_KEY)).ok_or_else(|| {
            Error::format(path, format!("no `{META_KEY}` metadata: not written by lcr-verify"))
        })?;
    let meta: M = serde_json::from_str(json)
        .map_err(|e| Error::format(path, format!("metadata is not understood: {e}")))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::format(
                path,
                format!("tensor `{name}` has type {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { context: format!("{}: tensor `{name}`", path.display()) });
        }
        tensors.insert(name, Tensor::from_vec(values, view.shape(), device)?);
    }
    Ok((meta, tensors))
}

/// Saves a trained model with its metadata.
pub fn save_model(path: &Path, model: &Model, meta: &ModelMeta) -> Result<()> {
    write_tensors(path, &model.store.tensors(), meta)
}

/// Refuses recorded values no trained model can have: a normalisation that does not fit the input channels or
/// divides by a non-positive deviation, and negative BatchNorm running variances.
fn check_stored_values(
    path: &Path,
    meta: &ModelMeta,
    tensors: &std::collections::BTreeMap<String, Tensor>,
) -> Result<()> {
    let bad = |problem: String| Error::Model { path: path.to_path_buf(), problem };
    let n = &meta.normalization;
    let channels = meta.spec.input[0];
    if n.mean.len() != channels || n.std.len() != channels {
        return Err(bad(format!(
            "normalisation has {} means and {} deviations for {channels}-channel inputs",
            n.mean.len(),
            n.std.len()
        )));
    }
    if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(bad(format!("normalisation deviation {s} is not a positive number")));
    }
    if let Some(m) = n.mean.iter().find(|m| !m.is_finite()) {
        return Err(bad(format!("normalisation mean {m} is not finite")));
    }
    for (name, t) in tensors.iter().filter(|(name, _)| name.ends_with(".running_var")) {
        let values = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        if let Some(v) = values.iter().find(|v| **v < 0.0) {
            return Err(bad(format!("tensor `{name}`: negative running variance {v}")));
        }
    }
    Ok(())
}

/// Refuses an input shape the recorded dataset's images do not have, or one whose number of values overflows,
/// and a class count other than the dataset's: every dimension is compared, since only the product reaches the
/// first layer of an MLP (a `[1, 56, 14]` input has the 784 values of `[1, 28, 28]`). The first layer's own
/// tensors are then checked against this shape when the network is built.
fn check_input_shape(path: &Path, meta: &ModelMeta) -> Result<()> {
    let bad = |problem: String| Error::Model { path: path.to_path_buf(), problem };
    let input = meta.spec.input;
    if input.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none() {
        return Err(bad(format!("metadata gives the input shape {input:?}, whose size overflows")));
    }
    let (c, h, w) = meta.dataset.image_shape();
    if input != [c, h, w] {
        return Err(bad(format!(
            "metadata gives the input shape {input:?} (channels, height, width), but the {} images it was trained \
             on are {:?}",
            meta.dataset,
            [c, h, w]
        )));
    }
    if meta.spec.classes != meta.dataset.classes() {
        return Err(bad(format!(
            "metadata gives {} classes, but {} has {}",
            meta.spec.classes,
            meta.dataset,
            meta.dataset.classes()
        )));
    }
    Ok(())
}

/// Loads a model file and builds the network in `dtype` (`F64` for evaluation and export).
pub fn load_model(path: &Path, device: &Device, dtype: DType) -> Result<(Model, ModelMeta)> {
    if !fsio::exists(path)? {
        return Err(Error::Missing { path: path.to_path_buf(), what: "model file" });
    }
    let (meta, tensors): (ModelMeta, _) = read_tensors(path, device)?;
    if meta.kind != "model" {
        return Err(Error::format(path, format!("this is a {} file, not a model", meta.kind)));
    }
    crate::format::check_format(path, "model metadata", meta.format, MODEL_FORMAT)?;
    crate::format::check_writer(path, "the model", &meta.version)?;
    check_input_shape(path, &meta)?;
    check_stored_values(path, &meta, &tensors)?;
    let model = Model::from_tensors(&meta.spec, tensors, device, dtype)
        .map_err(|e| Error::Model { path: path.to_path_buf(), problem: e.to_string() })?;
    Ok((model, meta))
}
