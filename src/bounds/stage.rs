//! The `bound` stage as a library call: a typed [`BoundRequest`], [`run`] to compute `RUN_DIR/bounds.json`,
//! and [`reusable`], the rule under which an earlier file stands for a new computation.
//!
//! ```text
//! RUN_DIR/model.safetensors --export--> Net --compute_bounds(request's options, first `samples` test images)
//!     --> BoundsFile { meta.request = the request, meta.model_sha256, ... } --> RUN_DIR/bounds.json
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::compute::{BoundOptions, Bounds, Methods, compute_bounds};
use super::lp::LpBackend;
use super::{BOUNDS_FORMAT, BoundsFile, Norm};
use crate::error::{Error, Result};
use crate::export::export;
use crate::ir::Function;
use crate::model::Ctx;
use crate::run_dir::RunDir;

/// Which input norms to bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormChoice {
    /// ℓ2 (the logit map and the pairwise margins) and ℓ∞ (the pairwise margins, also by LP).
    #[default]
    Both,
    /// ℓ2 only: the whole logit map and the pairwise margins; no LP.
    L2,
    /// ℓ∞ only: the pairwise margins, also by LP.
    Linf,
}

impl NormChoice {
    /// The norms of the products, exact values and sampled bounds, then those of the LP.
    fn norms(self) -> (Vec<Norm>, Vec<Norm>) {
        match self {
            NormChoice::Both => (vec![Norm::L2, Norm::L2Margin, Norm::LinfMargin], vec![Norm::LinfMargin]),
            NormChoice::L2 => (vec![Norm::L2, Norm::L2Margin], Vec::new()),
            NormChoice::Linf => (vec![Norm::LinfMargin], vec![Norm::LinfMargin]),
        }
    }

    /// In words, for the provenance.
    fn describe(self) -> &'static str {
        match self {
            NormChoice::Both => "l2 and linf",
            NormChoice::L2 => "l2",
            NormChoice::Linf => "linf",
        }
    }
}

/// Everything that decides a run's bounds. Recorded as `meta.request` in `bounds.json`; an earlier file is
/// reused only for an equal request (see [`reusable`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundRequest {
    /// Methods to run.
    pub methods: Methods,
    /// Input norms.
    pub norms: NormChoice,
    /// Functions to bound (`deployed` is listed as skipped: it has no finite Lipschitz constant).
    pub functions: Vec<Function>,
    /// Test images used by the data-dependent methods (retention matrices, sampled gradients, local LP); ≥ 1.
    pub samples: usize,
    /// Also a local LP bound on the ℓ∞ ball of this radius (normalised input units) around the first sample,
    /// intersected with the normalised pixel box; > 0 and at most the box's extent. Never above the global LP
    /// bound of the same function (see [`super::capped_by_global`]).
    pub lp_local_radius: Option<f64>,
    /// The LP's limit on nonzero coefficients, when not the default.
    pub lp_max_nnz: Option<usize>,
    /// The LP's source of multipliers, when not the default ([`LpBackend::Backward`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lp_backend: Option<LpBackend>,
    /// The branch and bound's time budget per class pair in seconds, when not the default (60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bab_seconds: Option<f64>,
    /// The branch and bound's node budget per class pair, when not the default (200,000). A tree stopped by its
    /// node budget alone is deterministic; one stopped by time depends on the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bab_nodes: Option<usize>,
    /// Dataset directory, when not the one the run was trained on.
    pub data_dir: Option<PathBuf>,
    /// Also the constants over the input domain (the normalised pixel box), for the methods that have a
    /// [`super::Scope::Domain`] form.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub domain_scope: bool,
}

impl Default for BoundRequest {
    fn default() -> Self {
        BoundRequest {
            methods: Methods::default(),
            norms: NormChoice::Both,
            functions: vec![Function::Surrogate, Function::Latent],
            samples: 256,
            lp_local_radius: None,
            lp_max_nnz: None,
            lp_backend: None,
            bab_seconds: None,
            bab_nodes: None,
            data_dir: None,
            domain_scope: false,
        }
    }
}

impl BoundRequest {
    /// Refuses values no computation can use, before any work: no samples, a local radius that is not a
    /// positive number.
    pub fn check(&self) -> Result<()> {
        if self.samples == 0 {
            return Err(Error::config(
                "samples",
                "must be at least 1 (to skip the data-dependent methods, leave them out of the methods)",
            ));
        }
        if let Some(r) = self.lp_local_radius.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(Error::config("lp_local_radius", format!("{r} must be a positive number")));
        }
        if let Some(s) = self.bab_seconds.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::config("bab_seconds", format!("{s} must be a positive number of seconds")));
        }
        Ok(())
    }

    /// Refuses a local radius beyond the input domain `(lo, hi)` (the normalised pixel box, per coordinate): a
    /// ball wider than the box covers every valid input around any of them, which is the global bound's case.
    pub fn check_domain(&self, domain: &(Vec<f64>, Vec<f64>)) -> Result<()> {
        let extent = domain.0.iter().zip(&domain.1).map(|(l, h)| h - l).fold(0.0f64, f64::max);
        if let Some(r) = self.lp_local_radius.filter(|r| *r > extent) {
            return Err(Error::config(
                "lp_local_radius",
                format!(
                    "{r:?} exceeds the extent of the input domain, {extent:.6} in normalised units (the pixel box \
                     [0, 1] after normalisation): a ball that large holds every valid image around any of them; \
                     the global LP bound (lp-global) is the constant for that"
                ),
            ));
        }
        Ok(())
    }

    /// The options of [`compute_bounds`]; `stage_ends` are the model's stages, for the per-stage retention
    /// matrices; `domain` the normalised pixel box, which the local LP's box is intersected with.
    fn options(&self, stage_ends: Vec<usize>, domain: &(Vec<f64>, Vec<f64>)) -> BoundOptions {
        let mut o = BoundOptions {
            methods: self.methods.clone(),
            functions: self.functions.clone(),
            ..Default::default()
        };
        (o.norms, o.lp_norms) = self.norms.norms();
        o.lp_local_radius = self.lp_local_radius;
        // One interval for every coordinate: the hull of the channels' boxes (exact for one channel, a superset
        // otherwise, which keeps the bound valid on the domain).
        o.lp_domain = Some((
            domain.0.iter().copied().fold(f64::INFINITY, f64::min),
            domain.1.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ));
        if self.domain_scope {
            o.domain = Some(domain.clone());
        }
        if let Some(n) = self.lp_max_nnz {
            o.lp.max_nnz = n;
        }
        if let Some(b) = self.lp_backend {
            o.lp.backend = b;
        }
        if let Some(s) = self.bab_seconds {
            o.bab.seconds_per_pair = s;
        }
        if let Some(n) = self.bab_nodes {
            o.bab.max_nodes = n;
        }
        o.retention.stage_ends = Some(stage_ends);
        o
    }
}

/// Computes the bounds of the run's model and writes `RUN_DIR/bounds.json`. `progress` receives one line per
/// step.
///
/// The file holds the bounds of one model file (its SHA-256 in `meta.model_sha256`), each entry with the request
/// that computed it (`request`). An earlier file about the same model keeps every entry this request does not
/// recompute (same method, function and norm), and `meta` describes this call; an earlier file about another
/// model, of another format or unreadable as bounds is replaced, which `meta.earlier` records.
///
/// Refuses a request that fails [`BoundRequest::check`] before loading anything.
pub fn run(run: &RunDir, req: &BoundRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<BoundsFile> {
    run_stage(run, req, progress).map_err(|e| e.about(run.model().display()))
}

fn run_stage(run: &RunDir, req: &BoundRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<BoundsFile> {
    req.check()?;
    let loaded = load(run, req)?;
    let started = Instant::now();
    let result = loaded.compute(&loaded.options, progress)?;
    loaded.write(run, req, result, started.elapsed().as_secs_f64())
}

/// The stage's inputs, loaded and checked: the net, the first `samples` test images, the options of
/// [`compute_bounds`] the request makes, and what the provenance records.
pub(super) struct Loaded {
    /// The exported net, with the refitted latent net when the run has `latent_bn.json`.
    pub(super) nets: crate::latent_bn::FunctionNets,
    sample: Vec<Vec<f64>>,
    /// The options of [`compute_bounds`] for the request.
    pub(super) options: BoundOptions,
    model_seed: u64,
    model_sha256: String,
    dataset: &'static str,
    dataset_checksum: String,
    normalization: crate::data::Normalization,
}

/// Loads what [`run`] works on.
pub(super) fn load(run: &RunDir, req: &BoundRequest) -> Result<Loaded> {
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = export(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let dataset = run.load_dataset(&meta, req.data_dir.as_deref())?;
    let domain = meta.normalization.input_box(dataset.test.height, dataset.test.width);
    req.check_domain(&domain)?;
    let n = req.samples.min(dataset.test.len());
    let indices: Vec<usize> = (0..n).collect();
    let flat = meta.normalization.values(&dataset.test, &indices)?;
    let sample: Vec<Vec<f64>> =
        flat.chunks(net.input_len()).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    // The model's own stage list, for the per-stage retention matrices.
    let x = meta.normalization.tensor(&dataset.test, &indices[..n.min(2)], &Device::Cpu)?;
    let stages = model.forward(&x.to_dtype(DType::F64)?, &Ctx::deployed(meta.spec.sign_zero))?.stages;
    Ok(Loaded {
        options: req.options(stages, &domain),
        nets: crate::latent_bn::FunctionNets::of_run(run, net)?,
        sample,
        model_seed: meta.seed,
        model_sha256: crate::fsio::file_sha256(&run.model())?,
        dataset: meta.dataset.name(),
        dataset_checksum: meta.dataset_checksum.clone(),
        normalization: meta.normalization.clone(),
    })
}

impl Loaded {
    /// The digests of what the stage read (a partial file records them; a merge checks them).
    pub(super) fn inputs(&self) -> serde_json::Value {
        json!({
            "model_sha256": self.model_sha256,
            "dataset_checksum": self.dataset_checksum,
            "latent_bn_sha256": self.nets.latent_sha256(),
        })
    }

    /// [`compute_bounds`] with `options` on the loaded net and sample.
    /// The latent function is bounded on its refitted net when the run has one, every other on the exported net.
    pub(super) fn compute(&self, options: &BoundOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<Bounds> {
        let n = self.sample.len();
        let sample = (n > 0).then_some(&self.sample[..]);
        match &self.nets.latent {
            Some((latent, _, _)) if options.functions.contains(&Function::Latent) => {
                let others = BoundOptions {
                    functions: options.functions.iter().copied().filter(|f| *f != Function::Latent).collect(),
                    ..options.clone()
                };
                let mut only_latent = BoundOptions { functions: vec![Function::Latent], ..options.clone() };
                only_latent.methods.retention = false;
                let mut all = compute_bounds(&self.nets.net, &others, sample, progress)?;
                let l = compute_bounds(latent, &only_latent, sample, progress)?;
                all.bounds.extend(l.bounds);
                all.skipped.extend(l.skipped);
                Ok(all)
            }
            _ => compute_bounds(&self.nets.net, options, sample, progress),
        }
    }

    /// Writes `RUN_DIR/bounds.json` from `result` (over an earlier file about the same model, see [`run`]),
    /// with `seconds` as the stage's time.
    pub(super) fn write(
        &self,
        run: &RunDir,
        req: &BoundRequest,
        result: Bounds,
        seconds: f64,
    ) -> Result<BoundsFile> {
        let n = self.sample.len();
        let model_sha256 = &self.model_sha256;
        let provenance = json!({
            "run_dir": run.root().display().to_string(),
            "model_seed": self.model_seed,
            "model_sha256": model_sha256,
            "dataset": self.dataset,
            "dataset_checksum": self.dataset_checksum,
            // Every constant is about the network's input, the normalised image x = (p/255 − mean)/std per
            // channel: in pixel units (p/255) an ℓp constant L becomes at most L / min(std).
            "input_space": {
                "kind": "normalised",
                "mean": self.normalization.mean,
                "std": self.normalization.std,
                "pixel_scale": 1.0 / 255.0,
            },
            "sample": format!("first {n} test images"),
            "methods": req.methods.names(),
            "norm": req.norms.describe(),
            "lp_local_radius": req.lp_local_radius,
            "request": req,
            "latent_function": self.nets.latent_note(),
            "seconds": seconds,
        });
        let mut file = BoundsFile::new(&self.nets.net, result, n, provenance);
        for b in &mut file.bounds {
            b.request = Some(req.clone());
        }
        for s in &mut file.skipped {
            s.request = Some(req.clone());
        }
        let file = match earlier_of_model(&run.bounds(), model_sha256)? {
            None => file,
            Some(Ok(mut earlier)) => {
                // Latent entries of an earlier call are about another latent net when the refit changed.
                let then = crate::latent_bn::recorded_sha256(&earlier.meta["latent_function"]);
                if then != self.nets.latent_sha256() {
                    earlier.bounds.retain(|b| b.function != Function::Latent);
                    earlier.skipped.retain(|s| s.function != Some(Function::Latent));
                }
                file.merged_over(earlier)
            }
            Some(Err(replaced)) => {
                let mut file = file;
                file.meta["earlier"] = json!({ "replaced": replaced });
                file
            }
        };
        file.write(&run.bounds())?;
        Ok(file)
    }
}

/// The earlier `bounds.json` at `path`: `Ok` when it is about the model with digest `sha` and in the current
/// format, otherwise why it is replaced (`Err`); `None` when there is none. A file that cannot be read
/// (permission denied, ...) is an error.
fn earlier_of_model(path: &Path, sha: &str) -> Result<Option<std::result::Result<BoundsFile, String>>> {
    if !crate::fsio::exists(path)? {
        return Ok(None);
    }
    let bytes = crate::fsio::read(path)?;
    let format = match BoundsFile::format_of(&bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Some(Err(format!("the file was not readable as bounds ({e})")))),
    };
    if format != BOUNDS_FORMAT {
        return Ok(Some(Err(format!(
            "the file was in bounds format {format}, this version writes {BOUNDS_FORMAT}"
        ))));
    }
    let earlier: BoundsFile = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Some(Err(format!("the file was not readable as bounds ({e})")))),
    };
    match earlier.meta["model_sha256"].as_str() {
        Some(s) if s == sha => Ok(Some(Ok(earlier))),
        other => Ok(Some(Err(format!(
            "the file held bounds of another model file (sha256 {})",
            other.unwrap_or("not recorded")
        )))),
    }
}

/// The run's `bounds.json` when it can stand for [`run`] with `req`: written in the current format, about the
/// very model file now in the run directory (same SHA-256), its latest call an equal request (whose entries
/// are then all in the file; entries of other requests about the same model may be there too). `None` when there is no such
/// file; an unreadable or malformed one is an error.
pub fn reusable(run: &RunDir, req: &BoundRequest) -> Result<Option<BoundsFile>> {
    let path = run.bounds();
    if !crate::fsio::exists(&path)? || !BoundsFile::is_current(&path)? {
        return Ok(None);
    }
    let earlier = BoundsFile::read(&path)?;
    let same_model =
        earlier.meta["model_sha256"].as_str() == Some(crate::fsio::file_sha256(&run.model())?.as_str());
    let latent = crate::latent_bn::file_sha256(run)?;
    let same_latent =
        crate::latent_bn::recorded_sha256(&earlier.meta["latent_function"]) == latent.as_deref();
    let recorded = serde_json::from_value::<BoundRequest>(earlier.meta["request"].clone()).ok();
    Ok((same_model && same_latent && recorded.as_ref() == Some(req)).then_some(earlier))
}
