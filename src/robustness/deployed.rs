//! A trained model's deployed network as a [`Classifier`]: the model the robustness evaluation scores, and the
//! [`ModelLoader`] indirection through which the evaluation obtains it (tests substitute stand-in models).

use std::path::Path;

use candle_core::Device;

use super::Classifier;
use crate::data::{ImageSet, Normalization};
use crate::error::Result;
use crate::eval::predict;
use crate::model::Model;
use crate::run_dir::RunDir;

/// A run directory's model with the data it was trained for.
pub struct LoadedModel {
    /// The deployed model.
    pub classifier: Box<dyn Classifier>,
    /// Its clean test set.
    pub test: ImageSet,
    /// Where the test set came from: dataset name, directory and checksum (recorded in `corruption.json`).
    pub dataset: serde_json::Value,
}

/// Turns a run directory into a [`LoadedModel`]: [`load_deployed`] for trained runs; any `Fn(&Path)` works.
pub trait ModelLoader {
    /// Loads the model of `run_dir`.
    fn load(&self, run_dir: &Path) -> Result<LoadedModel>;
}

impl<F: Fn(&Path) -> Result<LoadedModel>> ModelLoader for F {
    fn load(&self, run_dir: &Path) -> Result<LoadedModel> {
        self(run_dir)
    }
}

/// A run directory's deployed network as a [`DeployedClassifier`], with the test set of its own dataset.
pub fn load_deployed(run_dir: &Path) -> Result<LoadedModel> {
    let run = RunDir::new(run_dir);
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let dataset = run.load_dataset(&meta, None)?;
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

/// The deployed network of a trained model as a classifier of raw images: binarised, BatchNorm in eval mode,
/// evaluated in `f64` by [`crate::eval::predict`], so its errors are the ones `eval` reports.
pub struct DeployedClassifier {
    /// The model (evaluated in `f64`).
    pub model: Model,
    /// The normalisation it was trained with.
    pub normalization: Normalization,
    /// How it is named in reports.
    pub name: String,
}

impl Classifier for DeployedClassifier {
    fn predict(&self, images: &ImageSet) -> Result<Vec<u8>> {
        predict(&self.model, images, &self.normalization, 1000).map_err(|e| e.about(&self.name))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn classes(&self) -> usize {
        self.model.spec.classes
    }
}

#[cfg(test)]
mod tests {
    use candle_core::DType;

    use super::*;
    use crate::data::DatasetKind;
    use crate::train::RawConfig;

    #[test]
    fn an_evaluation_that_fails_inside_candle_names_the_model() {
        let cfg = RawConfig { widths: Some(vec![4, 4]), ..RawConfig::default() }.check().unwrap();
        let model = Model::new(&cfg.model_spec(), &Device::Cpu, 1).unwrap().converted(DType::F64).unwrap();
        let classifier = DeployedClassifier {
            model,
            normalization: Normalization::for_kind(DatasetKind::Mnist),
            name: "runs/x (mlp on mnist, deployed)".into(),
        };
        // 32×32 images for a network that takes 28×28 ones.
        let images = ImageSet::new(32, 32, 1, vec![0; 2 * 32 * 32], vec![0, 1]).unwrap();
        let err = classifier.predict(&images).unwrap_err().to_string();
        assert!(err.starts_with("runs/x (mlp on mnist, deployed): "), "{err}");
    }
}
