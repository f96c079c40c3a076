//! A trained model's deployed network as a [`Classifier`]: the model the robustness evaluation scores.

use super::Classifier;
use crate::data::{ImageSet, Normalization};
use crate::error::Result;
use crate::eval::predict;
use crate::model::Model;

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
        predict(&self.model, images, &self.normalization, 1000)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn classes(&self) -> usize {
        self.model.spec.classes
    }
}
