//! BatchNorm refitted for the `latent` function: `RUN_DIR/latent_bn.json`.
//!
//! The latent function (real latent weights, hardtanh for sign) shares the model's BatchNorm layers, whose
//! running statistics were collected on the *binary* weights' activations; with them the latent network is a poor
//! classifier (25–36 % on MNIST for the study's MLPs), so its Lipschitz constants describe a function nobody would
//! use. [`fit`] recomputes every BatchNorm's mean and variance for the latent forward, in eval mode, on the first
//! training images — layer by layer, each on what the refitted layers before it produce, as BatchNorm's statistics
//! are taken in training — keeps γ and β, and stores the resulting affine maps beside the model with the model's
//! SHA-256 and the latent test accuracy before and after. [`load`] gives the stages the latent net: the same
//! weights with those maps, after checking that the file is about this very model file and fits its layers.

use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::export::export_with_norms;
use crate::ir::{Function, Net, affine_count};
use crate::model::batchnorm::BN_EPS;
use crate::run_dir::RunDir;

/// The format this version writes and reads.
pub const LATENT_BN_FORMAT: u32 = 1;
/// Training images the statistics are taken over by default.
pub const DEFAULT_IMAGES: usize = 4096;
/// Test images the accuracies are measured on (at most).
pub const ACCURACY_IMAGES: usize = 10_000;

/// One refitted affine layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentAffine {
    /// The latent forward's mean of the layer's input, per channel.
    pub mean: Vec<f64>,
    /// Its variance (population), per channel.
    pub var: Vec<f64>,
    /// γ/√(var + ε).
    pub scale: Vec<f64>,
    /// β − mean·scale.
    pub shift: Vec<f64>,
}

/// Test accuracy of the latent function (float forward, argmax).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentAccuracy {
    /// The first this many test images.
    pub test_images: usize,
    /// With the refitted BatchNorm.
    pub refitted: f64,
    /// With the deployed network's BatchNorm statistics (the latent function without this file).
    pub deployed_statistics: f64,
}

/// `RUN_DIR/latent_bn.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentBnFile {
    /// [`LATENT_BN_FORMAT`].
    pub format: u32,
    /// SHA-256 of the model file the statistics belong to.
    pub model_sha256: String,
    /// The dataset's checksum, as recorded in the model.
    pub dataset_checksum: String,
    /// The first this many training images were used.
    pub train_images: usize,
    /// ε of the BatchNorm layers.
    pub eps: f64,
    /// Every affine layer of the net, depth first.
    pub layers: Vec<LatentAffine>,
    /// Latent test accuracy before and after.
    pub accuracy: LatentAccuracy,
    /// Seconds the fit took.
    pub seconds: f64,
}

/// The run's `latent_bn.json`.
pub fn path(run: &RunDir) -> std::path::PathBuf {
    run.root().join("latent_bn.json")
}

fn accuracy(net: &Net, x: &[Vec<f64>], labels: &[usize]) -> Result<f64> {
    use rayon::prelude::*;
    let correct: usize = x
        .par_iter()
        .zip(labels)
        .map(|(x, &l)| -> Result<usize> {
            let out = net.forward(x, Function::Latent)?;
            let best = (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b]));
            Ok(usize::from(best == Some(l)))
        })
        .sum::<Result<usize>>()?;
    Ok(correct as f64 / x.len().max(1) as f64)
}

/// The first `n` images of `set`, normalised as the model's input.
fn images(
    set: &crate::data::ImageSet,
    meta: &crate::model::io::ModelMeta,
    n: usize,
) -> Result<Vec<Vec<f64>>> {
    let indices: Vec<usize> = (0..n.min(set.len())).collect();
    let flat = meta.normalization.values(set, &indices)?;
    let per = flat.len() / indices.len().max(1);
    Ok(flat.chunks(per.max(1)).map(|c| c.iter().map(|&v| v as f64).collect()).collect())
}

/// Refits every BatchNorm of the run's model for the latent function on its first `train_images` training images
/// (≥ 1) and writes `RUN_DIR/latent_bn.json` (atomically).
pub fn fit(
    run: &RunDir,
    train_images: usize,
    data_dir: Option<&std::path::Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<LatentBnFile> {
    if train_images == 0 {
        return Err(Error::config(
            "images",
            "0 training images leave no statistics to take; give at least 1",
        ));
    }
    let start = Instant::now();
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let (net, norms) =
        export_with_norms(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let dataset = run.load_dataset(&meta, data_dir)?;
    let x = images(&dataset.train, &meta, train_images)?;
    let mut fitted: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let mut layers = Vec::new();
    for (k, (gamma, beta)) in norms.iter().enumerate() {
        progress(&format!(
            "latent BatchNorm: layer {} of {} on {} training images",
            k + 1,
            norms.len(),
            x.len()
        ));
        let m = net.affine_input_moments(Function::Latent, &fitted, k, &x)?;
        let scale: Vec<f64> = gamma.iter().zip(&m.var).map(|(g, v)| g / (v + BN_EPS).sqrt()).collect();
        let shift: Vec<f64> = beta.iter().zip(&m.mean).zip(&scale).map(|((b, mu), s)| b - mu * s).collect();
        if let Some(c) = scale.iter().chain(&shift).position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { context: format!("refitted BatchNorm {k}, value {c}") });
        }
        fitted.push((scale.clone(), shift.clone()));
        layers.push(LatentAffine { mean: m.mean, var: m.var, scale, shift });
    }
    let latent = net.with_affine_maps(&fitted)?;
    progress("latent BatchNorm: test accuracy");
    let n = ACCURACY_IMAGES.min(dataset.test.len());
    let test = images(&dataset.test, &meta, n)?;
    let labels: Vec<usize> = dataset.test.labels[..n].iter().map(|&l| l as usize).collect();
    let file = LatentBnFile {
        format: LATENT_BN_FORMAT,
        model_sha256: crate::fsio::file_sha256(&run.model())?,
        dataset_checksum: meta.dataset_checksum.clone(),
        train_images: x.len(),
        eps: BN_EPS,
        layers,
        accuracy: LatentAccuracy {
            test_images: n,
            refitted: accuracy(&latent, &test, &labels)?,
            deployed_statistics: accuracy(&net, &test, &labels)?,
        },
        seconds: start.elapsed().as_secs_f64(),
    };
    crate::fsio::write_json_atomic(&path(run), &file)?;
    Ok(file)
}

/// The run's `latent_bn.json` as it stands when it is of this format and about the run's model file (so that a
/// resumed study keeps the file its later stages recorded), otherwise a new [`fit`] on `train_images` images. A
/// file that cannot be read as a `latent_bn.json` is an error naming it.
pub fn ensure(
    run: &RunDir,
    train_images: usize,
    data_dir: Option<&std::path::Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<LatentBnFile> {
    let p = path(run);
    if crate::fsio::exists(&p)? {
        let (bytes, _) = crate::fsio::read_with_sha256(&p)?;
        let file: LatentBnFile =
            serde_json::from_slice(&bytes).map_err(|e| Error::format(&p, e.to_string()))?;
        if file.format == LATENT_BN_FORMAT && file.model_sha256 == crate::fsio::file_sha256(&run.model())? {
            return Ok(file);
        }
    }
    fit(run, train_images, data_dir, progress)
}

/// The latent net of `net` (the run's exported model) when the run has a `latent_bn.json`, with the file and its
/// SHA-256: `None` without one.
/// A file about another model file, of another format, or that does not fit the net's affine layers is an error
/// naming the file.
pub fn load(run: &RunDir, net: &Net) -> Result<Option<(Net, LatentBnFile, String)>> {
    let p = path(run);
    if !crate::fsio::exists(&p)? {
        return Ok(None);
    }
    let (bytes, sha) = crate::fsio::read_with_sha256(&p)?;
    let file: LatentBnFile = serde_json::from_slice(&bytes).map_err(|e| Error::format(&p, e.to_string()))?;
    if file.format != LATENT_BN_FORMAT {
        return Err(Error::format(
            &p,
            format!(
                "format {}, this version reads {LATENT_BN_FORMAT}: re-run `lcr-verify latent-bn`",
                file.format
            ),
        ));
    }
    if file.model_sha256 != crate::fsio::file_sha256(&run.model())? {
        return Err(Error::format(
            &p,
            format!(
                "its statistics are about another model file than {}: re-run `lcr-verify latent-bn`",
                run.model().display()
            ),
        ));
    }
    let count = affine_count(&net.layers);
    if file.layers.len() != count {
        return Err(Error::format(
            &p,
            format!("{} layers for a net with {count} BatchNorm layers", file.layers.len()),
        ));
    }
    if let Some(k) = file.layers.iter().position(|l| {
        l.scale.iter().chain(&l.shift).any(|v| !v.is_finite()) || l.scale.len() != l.shift.len()
    }) {
        return Err(Error::format(&p, format!("layer {k}: a non-finite value or unequal lengths")));
    }
    let maps: Vec<(Vec<f64>, Vec<f64>)> =
        file.layers.iter().map(|l| (l.scale.clone(), l.shift.clone())).collect();
    let latent = net.with_affine_maps(&maps).map_err(|e| Error::format(&p, e.to_string()))?;
    Ok(Some((latent, file, sha)))
}

/// The net each function is evaluated on: the exported net, and for `latent` the refitted one when the run has
/// it.
#[derive(Clone, Debug)]
pub struct FunctionNets {
    /// The exported model.
    pub net: Net,
    /// The latent net of [`load`], with its file and the file's SHA-256.
    pub latent: Option<(Net, LatentBnFile, String)>,
}

impl FunctionNets {
    /// Loads the latent net of the run, if any, beside `net`.
    pub fn of_run(run: &RunDir, net: Net) -> Result<Self> {
        let latent = load(run, &net)?;
        Ok(FunctionNets { net, latent })
    }

    /// The net `function` is evaluated on.
    pub fn get(&self, function: Function) -> &Net {
        match (&self.latent, function) {
            (Some((l, _, _)), Function::Latent) => l,
            _ => &self.net,
        }
    }

    /// The SHA-256 of the run's `latent_bn.json`, `None` without one: recorded by every stage that evaluates the
    /// latent function, so that files about different latent nets are never combined.
    pub fn latent_sha256(&self) -> Option<&str> {
        self.latent.as_ref().map(|l| l.2.as_str())
    }

    /// What the latent function's BatchNorm is, for provenance: refitted (with its accuracies) or the deployed
    /// statistics.
    pub fn latent_note(&self) -> serde_json::Value {
        match &self.latent {
            Some((_, f, sha)) => serde_json::json!({
                "latent_bn_sha256": sha,
                "batchnorm": format!("refitted for the latent forward on {} training images (latent_bn.json)", f.train_images),
                "test_accuracy": f.accuracy.refitted,
                "test_accuracy_with_deployed_statistics": f.accuracy.deployed_statistics,
                "test_images": f.accuracy.test_images,
            }),
            None => serde_json::json!({
                "latent_bn_sha256": null,
                "batchnorm": "the deployed network's running statistics (no latent_bn.json: `lcr-verify latent-bn RUN_DIR` refits them)",
            }),
        }
    }
}

/// The SHA-256 of the run's `latent_bn.json`, `None` without one.
pub fn file_sha256(run: &RunDir) -> Result<Option<String>> {
    let p = path(run);
    Ok(if crate::fsio::exists(&p)? { Some(crate::fsio::file_sha256(&p)?) } else { None })
}

/// The `latent_bn_sha256` a stage's file recorded under `note` (its `latent_function` object); `None` for a file
/// written without a `latent_bn.json`, or before the field existed.
pub fn recorded_sha256(note: &serde_json::Value) -> Option<&str> {
    note["latent_bn_sha256"].as_str()
}
