//! Evaluation of the deployed network: binarised, BatchNorm in eval mode, computed in `f64`.
//!
//! Evaluation always runs on an `f64` copy of the model, the same arithmetic as the verification IR, so that the
//! accuracy reported here and every verified statement are about one and the same function.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{ImageSet, Normalization};
use crate::error::Result;
use crate::model::{Ctx, Model};
use crate::run_dir::RunDir;

/// Accuracy on a set of images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Correct predictions.
    pub correct: usize,
    /// Images evaluated.
    pub total: usize,
    /// correct / total.
    pub accuracy: f64,
}

/// Logits of the deployed network for images `indices` of `set`, as an `(n, classes)` tensor in the model's type.
pub fn deployed_logits(
    model: &Model,
    set: &ImageSet,
    norm: &Normalization,
    indices: &[usize],
) -> Result<Tensor> {
    if set.geometry() != model.spec.input {
        return Err(crate::error::Error::Shape {
            context: format!("images fed to the {} model (channels, height, width)", model.spec.arch.name()),
            expected: model.spec.input.to_vec(),
            found: set.geometry().to_vec(),
        });
    }
    let x = norm.tensor(set, indices, model.store.device())?.to_dtype(model.store.dtype())?;
    Ok(model.forward(&x, &Ctx::deployed(model.spec.sign_zero))?.logits)
}

/// Predicted classes of the deployed network for every image of `set`, in batches of `batch`.
pub fn predict(model: &Model, set: &ImageSet, norm: &Normalization, batch: usize) -> Result<Vec<u8>> {
    let model64;
    let model = if model.store.dtype() == DType::F64 {
        model
    } else {
        model64 = model.converted(DType::F64)?;
        &model64
    };
    let mut out = Vec::with_capacity(set.len());
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(batch.max(1)) {
        let logits = deployed_logits(model, set, norm, chunk)?;
        out.extend(logits.argmax(1)?.to_vec1::<u32>()?.into_iter().map(|c| c as u8));
    }
    Ok(out)
}

/// Accuracy of the deployed network on `set`.
pub fn accuracy(model: &Model, set: &ImageSet, norm: &Normalization, batch: usize) -> Result<Accuracy> {
    let predictions = predict(model, set, norm, batch)?;
    let correct = predictions.iter().zip(&set.labels).filter(|(p, l)| p == l).count();
    let total = set.len();
    Ok(Accuracy { correct, total, accuracy: if total == 0 { 0.0 } else { correct as f64 / total as f64 } })
}

/// What the `eval` stage reports: the deployed network's accuracy on the test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The run directory.
    pub run: String,
    /// Always `deployed`: the binarised network in eval mode.
    pub function: String,
    /// Dataset name.
    pub dataset: String,
    /// Always `test`.
    pub split: String,
    /// Correct predictions.
    pub correct: usize,
    /// Images.
    pub total: usize,
    /// correct / total.
    pub accuracy: f64,
    /// Whether the dataset's checksum equals the one recorded in the model.
    pub dataset_matches_model: bool,
}

/// Evaluates a run directory's deployed network on its test split (the dataset from `data_dir`, else the run's
/// own, see [`RunDir::load_dataset`]).
pub fn evaluate_run(run: &RunDir, data_dir: Option<&Path>) -> Result<EvalReport> {
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let dataset = run.load_dataset(&meta, data_dir)?;
    let acc = accuracy(&model, &dataset.test, &meta.normalization, 1000)
        .map_err(|e| e.about(run.model().display()))?;
    Ok(EvalReport {
        run: run.root().display().to_string(),
        function: "deployed".into(),
        dataset: meta.dataset.name().to_string(),
        split: "test".into(),
        correct: acc.correct,
        total: acc.total,
        accuracy: acc.accuracy,
        dataset_matches_model: dataset.checksum == meta.dataset_checksum,
    })
}
