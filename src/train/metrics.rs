//! `metrics.json`: what training measured, epoch by epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Measurements of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches.
    pub ce: f64,
    /// Mean LCR term over the training batches (`None` when λ = 0: the term is not computed).
    pub lcr: Option<f64>,
    /// LCR term of the configured variant on the first evaluation batch of the test split, eval mode, computed
    /// for every run so that baseline and regularised runs can be compared.
    pub lcr_eval: f64,
    /// Accuracy on the training batches as they were trained (train mode).
    pub train_accuracy: f64,
    /// Accuracy of the deployed network on the test split after the epoch.
    pub test_accuracy: f64,
    /// Per binary layer: fraction of binary weights whose sign changed during the epoch.
    pub flip_ratio: BTreeMap<String, f64>,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Wall-clock seconds of the training steps.
    pub train_seconds: f64,
    /// Wall-clock seconds of the whole epoch, evaluation included.
    pub seconds: f64,
}

/// The end of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Test accuracy of the deployed network (the same figure `lcr-verify eval` reports).
    pub test_accuracy: f64,
    /// Correct test predictions.
    pub test_correct: usize,
    /// Test images.
    pub test_total: usize,
    /// Total training wall-clock seconds, over all sessions of a resumed run.
    pub seconds: f64,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// lcr-verify version.
    pub version: String,
    /// Dataset name.
    pub dataset: String,
    /// Dataset checksum.
    pub dataset_checksum: String,
    /// Seed.
    pub seed: u64,
    /// Which function the accuracies describe.
    pub function: String,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochMetrics>,
    /// SHA-256 of the `model.safetensors` these metrics end with (written with the final metrics, after the
    /// model), so that a reader can tell metrics of another run's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// Present once training has finished.
    #[serde(rename = "final")]
    pub final_: Option<FinalMetrics>,
}
