//! Import: a network trained elsewhere (PyTorch, say) made into an ordinary run directory.
//!
//! The input is a weights file with PyTorch's key names (what `safetensors.torch.save_file(model.state_dict())`
//! writes) and a TOML spec that says what the network computes:
//!
//! ```toml
//! dataset = "mnist"                    # mnist | fashion-mnist | cifar10: the images it classifies
//! input = [1, 28, 28]                  # must be the dataset's image shape
//! classes = 10
//! sign_zero = "zero"                   # sign(0) = 0 as torch.sign, or "plus-one"
//! normalization = { mean = [0.1307], std = [0.3081] }   # x = (p/255 − mean)/std per channel
//! ignore = ["*.num_batches_tracked"]   # tensors in the file that no layer uses (`*` matches anything)
//! # data_dir = "data/mnist"           # optional: the dataset's directory (`--data-dir` overrides it)
//!
//! [[layers]]
//! kind = "flatten"
//! [[layers]]
//! kind = "dense"                       # nn.Linear: `fc0.weight` (out × in), `fc0.bias` unless bias = false
//! name = "fc0"
//! out = 256
//! bias = false
//! [[layers]]
//! kind = "batchnorm"                   # eval mode: weight, bias, running_mean, running_var; eps = 1e-5
//! name = "bn0"
//! [[layers]]
//! kind = "sign"
//! [[layers]]
//! kind = "dense"
//! name = "fc1"
//! out = 256
//! bias = false
//! binary = "plain"                     # weights sign(w); "mean": mean|w| per output · sign(w); "irnet"
//! ```
//!
//! Layer kinds and their keys (defaults as in PyTorch): `dense` (`name`, `out`, `bias` = true, `binary`),
//! `conv` (`name`, `out`, `kernel`, `stride` = 1, `padding` = 0, `bias` = true, `binary`), `batchnorm` (`name`,
//! `eps` = 1e-5, `affine` = true), `sign`, `hardtanh`, `relu`, `residual` (`body` and `shortcut`, lists of inline
//! layers; an empty shortcut is the identity), `maxpool` (`kernel`, `stride` = kernel, `padding` = 0), `avgpool`
//! (`kernel`, `stride` = kernel), `global-avgpool`, `flatten`. A binary layer's weights are binarised by
//! `binary` from the latent weights stored in the file; a sign layer before it binarises its input.
//!
//! Parse, then check, then write: the spec is parsed with every key checked ([`spec`]); the shapes of every
//! tensor follow from the input shape and the weights file is checked against them tensor by tensor
//! ([`weights`]); the layers must be one of lcr-verify's architectures, since every stage rebuilds the network
//! from its architecture ([`arch`]); the dataset is loaded and the deployed network evaluated. Only then is the
//! run directory written: `config.toml`, `model.safetensors` (the tensors renamed to the architecture's keys,
//! otherwise unchanged), `metrics.json` (no epochs; the final test accuracy) and `import.json` (where the network
//! came from and how every tensor was renamed). Anything refused leaves the output directory untouched.

pub mod arch;
pub mod layer;
pub mod spec;
pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data;
use crate::error::{Error, Result};
use crate::eval;
use crate::fsio;
use crate::model::Model;
use crate::model::io::{MODEL_FORMAT, ModelMeta, save_model};
use crate::run_dir::RunDir;
use crate::train::{FinalMetrics, Metrics};

pub use arch::Mapping;
pub use layer::SpecLayer;
pub use spec::NetSpec;

/// The layout of [`ImportRecord`] this build writes.
pub const IMPORT_FORMAT: u32 = 1;

/// What to import.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRequest {
    /// The TOML spec.
    pub spec: PathBuf,
    /// The safetensors weights with PyTorch's keys.
    pub weights: PathBuf,
    /// Dataset directory; `None`: the spec's `data_dir`, else the shipped copy.
    pub data_dir: Option<PathBuf>,
}

/// `import.json`: where an imported network came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// [`IMPORT_FORMAT`].
    pub format: u32,
    /// lcr-verify version that imported it.
    pub version: String,
    /// The spec file, as given.
    pub spec: String,
    /// Its SHA-256.
    pub spec_sha256: String,
    /// The weights file, as given.
    pub weights: String,
    /// Its SHA-256.
    pub weights_sha256: String,
    /// The architecture it was read as.
    pub arch: String,
    /// Key in the weights file → key in `model.safetensors`.
    pub tensors: BTreeMap<String, String>,
    /// Keys of `model.safetensors` with no tensor in the weights (γ = 1 and β = 0 of BatchNorm without affine).
    pub constants: Vec<String>,
    /// Keys of the weights file left out by the spec's `ignore` patterns.
    pub ignored: Vec<String>,
}

/// A checked import, ready to be written.
pub struct Prepared {
    /// The network in the architecture's keys.
    pub model: Model,
    /// Its model-file metadata.
    pub meta: ModelMeta,
    /// `config.toml`.
    pub config_text: String,
    /// `metrics.json` (without the model's SHA-256, known once written).
    pub metrics: Metrics,
    /// `import.json`.
    pub record: ImportRecord,
}

/// Refuses an output directory that holds anything: an import writes a new run directory.
pub fn check_out(out: &Path) -> Result<()> {
    only_holds(out, &[])
}

/// [`check_out`] once the directory's lock is taken: nothing in it but the lock file.
pub fn check_out_locked(out: &Path) -> Result<()> {
    only_holds(out, &[crate::lock::LOCK_FILE])
}

fn only_holds(out: &Path, allowed: &[&str]) -> Result<()> {
    if !fsio::exists(out)? {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::format(out, "not a directory (the run directory to write)"));
    }
    let entries = std::fs::read_dir(out).map_err(|e| Error::io("opening the run directory", out, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing the run directory", out, e))?;
        if !allowed.iter().any(|a| entry.file_name() == *a) {
            return Err(Error::config(
                "out",
                format!(
                    "{} already holds {}; an import writes a new run directory",
                    out.display(),
                    entry.file_name().to_string_lossy()
                ),
            ));
        }
    }
    Ok(())
}

/// Everything but writing: parse, check, map, build the model, evaluate it on the test split.
pub fn prepare(req: &ImportRequest) -> Result<Prepared> {
    let spec = NetSpec::from_file(&req.spec)?;
    let expected = weights::expected(&spec)?;
    let mapping = arch::map(&spec)?;
    let loaded = weights::read(&req.weights, &expected, &spec.ignore)?;
    let tensors = renamed(&loaded, &mapping)?;
    let device = Device::Cpu;
    let model = Model::from_tensors(&mapping.model, tensors, &device, DType::F32)
        .map_err(|e| Error::Model { path: req.weights.clone(), problem: e.to_string() })?;
    let data_dir = req.data_dir.clone().or_else(|| spec.data_dir.clone());
    let mut config = mapping.config.clone();
    config.data_dir = data_dir.clone().unwrap_or_default();
    let config_text = config.to_toml()?;
    let dataset = data::load(spec.dataset, data_dir.as_deref())?;
    dataset.check_geometry(spec.input, &format!("the input of the network of {}", req.spec.display()))?;
    let accuracy = eval::accuracy(&model, &dataset.test, &spec.normalization, config.eval_batch_size)
        .map_err(|e| e.about(req.weights.display()))?;
    let meta = ModelMeta {
        kind: "model".into(),
        format: MODEL_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        spec: mapping.model.clone(),
        dataset: spec.dataset,
        dataset_checksum: dataset.checksum.clone(),
        normalization: spec.normalization.clone(),
        seed: config.seed,
        config: config_text.clone(),
    };
    let metrics = Metrics {
        version: env!("CARGO_PKG_VERSION").into(),
        dataset: spec.dataset.name().into(),
        dataset_checksum: dataset.checksum.clone(),
        seed: config.seed,
        function: "deployed".into(),
        epochs: Vec::new(),
        model_sha256: None,
        final_: Some(FinalMetrics {
            test_accuracy: accuracy.accuracy,
            test_correct: accuracy.correct,
            test_total: accuracy.total,
            seconds: 0.0,
        }),
    };
    let record = ImportRecord {
        format: IMPORT_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        spec: req.spec.display().to_string(),
        spec_sha256: spec.sha256.clone(),
        weights: req.weights.display().to_string(),
        weights_sha256: loaded.sha256.clone(),
        arch: mapping.model.arch.name().into(),
        tensors: mapping.renames.iter().cloned().collect(),
        constants: mapping.constants.iter().map(|(k, _)| k.clone()).collect(),
        ignored: loaded.ignored.clone(),
    };
    Ok(Prepared { model, meta, config_text, metrics, record })
}

/// The weights under the architecture's keys, with the constants of BatchNorm layers without affine.
fn renamed(loaded: &weights::Weights, mapping: &Mapping) -> Result<BTreeMap<String, Tensor>> {
    let device = Device::Cpu;
    let mut out = BTreeMap::new();
    for (from, to) in &mapping.renames {
        let (shape, values) = loaded.tensors.get(from).ok_or_else(|| Error::Config {
            key: from.clone(),
            problem: "a renamed tensor was not read from the weights".into(),
        })?;
        out.insert(to.clone(), Tensor::from_vec(values.clone(), shape.as_slice(), &device)?);
    }
    for (key, value) in &mapping.constants {
        let prefix = key.rsplit_once('.').map_or(key.as_str(), |(p, _)| p);
        let features = out
            .get(&format!("{prefix}.running_mean"))
            .map(|t| t.dims().to_vec())
            .ok_or_else(|| Error::config(key.clone(), "no running mean beside it".to_string()))?;
        out.insert(key.clone(), Tensor::full(*value, features.as_slice(), &device)?);
    }
    Ok(out)
}

/// Writes a prepared import into `out` (which the caller owns, see [`crate::lock`]): `config.toml`, then
/// `model.safetensors`, then `metrics.json` with the model's SHA-256, then `import.json`, each atomically.
pub fn write(prepared: &Prepared, out: &Path) -> Result<Metrics> {
    let run = RunDir::new(out);
    fsio::ensure_dir(out)?;
    fsio::write_atomic(&run.config(), prepared.config_text.as_bytes())?;
    save_model(&run.model(), &prepared.model, &prepared.meta)?;
    let metrics =
        Metrics { model_sha256: Some(fsio::file_sha256(&run.model())?), ..prepared.metrics.clone() };
    fsio::write_json_atomic(&run.metrics(), &metrics)?;
    fsio::write_json_atomic(&run.import_record(), &prepared.record)?;
    Ok(metrics)
}

/// Imports `req` into the new run directory `out`: [`check_out`], [`prepare`], [`write`]. The command line takes
/// the directory's lock between the last two; a program calling this takes it itself.
pub fn run(req: &ImportRequest, out: &Path) -> Result<Metrics> {
    check_out(out)?;
    let prepared = prepare(req)?;
    write(&prepared, out)
}
