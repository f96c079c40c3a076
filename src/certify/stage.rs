//! The `certify` stage as a library call: a typed [`CertifyRequest`], [`run`] to compute
//! `RUN_DIR/certificates.json`, and [`reusable`], the rule under which an earlier file stands for a new one.
//!
//! ```text
//! RUN_DIR/model.safetensors --export--> Net ──┬── deployed: sign stability, bound propagation, exact (tiny nets)
//! RUN_DIR/bounds.json (same model) ──pairs──> └── surrogate, latent: margin radii, local LP (small nets)
//!     first N test images (normalised) ──> CertificatesFile ──> RUN_DIR/certificates.json
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::file::{
    CERTIFICATES_FORMAT, CertificatesFile, CurveEntry, ExactEntry, MethodEntry, SampleCertificates, to_file,
};
use super::{certified_accuracy, default_grid};
use crate::audit::stats::median;
use crate::bounds::{BoundsFile, Method, Soundness};
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::export::export;
use crate::ir::{Function, InputNorm};
use crate::run_dir::RunDir;

pub(super) use super::work::Outcome;
use super::work::Work;

/// Samples per batch (each batch is one set of matrix products per layer; batches run in parallel).
pub(super) const CHUNK: usize = 256;

/// The unit of a sharded run: blocks of [`CHUNK`] consecutive samples, the unsharded run's batches (a sample's
/// enclosure is exact to the bit only within the same batch: small batches take other matrix-product paths).
pub(super) const BLOCK: usize = CHUNK;

/// Everything that decides a run's certificates. Recorded as `provenance.request` in `certificates.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifyRequest {
    /// Input norms (default both).
    pub norms: Vec<InputNorm>,
    /// Functions (default all three).
    pub functions: Vec<Function>,
    /// The first N test images (default: all of them); ≥ 1.
    pub samples: Option<usize>,
    /// Dataset directory, when not the one the run was trained on.
    pub data_dir: Option<PathBuf>,
    /// Only the constants of these bound methods may feed the margin radii (default: every certified constant
    /// in `bounds.json`). A study uses the same list on every seed, so that runs with and without an LP bound
    /// give radii of the same kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_methods: Option<Vec<Method>>,
}

impl Default for CertifyRequest {
    fn default() -> Self {
        CertifyRequest {
            norms: vec![InputNorm::L2, InputNorm::Linf],
            functions: vec![Function::Deployed, Function::Surrogate, Function::Latent],
            samples: None,
            data_dir: None,
            bound_methods: None,
        }
    }
}

impl CertifyRequest {
    /// Refuses what no computation can use, before any work: no samples, no norm, no function, repeats.
    pub fn check(&self) -> Result<()> {
        if self.samples == Some(0) {
            return Err(Error::config("samples", "0 samples leaves nothing to certify; give at least 1"));
        }
        if self.bound_methods.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::config("bound-methods", "an empty list leaves no constant to certify with"));
        }
        if self.norms.is_empty() || self.functions.is_empty() {
            return Err(Error::config("certify", "needs at least one norm and one function"));
        }
        let mut n = self.norms.clone();
        n.sort();
        n.dedup();
        let mut f = self.functions.clone();
        f.sort();
        f.dedup();
        if n.len() != self.norms.len() || f.len() != self.functions.len() {
            return Err(Error::config("certify", "a norm or function is listed twice"));
        }
        Ok(())
    }
}

/// Computes the certificates of the run's model on its first test images and writes
/// `RUN_DIR/certificates.json`. The surrogate and latent radii need the run's `bounds.json`, about the very
/// same model file (refused otherwise); without it those functions are listed as skipped.
///
/// Refuses a request that fails [`CertifyRequest::check`] before loading anything.
pub fn run(run: &RunDir, req: &CertifyRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<CertificatesFile> {
    run_stage(run, req, progress).map_err(|e| e.about(run.model().display()))
}

fn run_stage(
    run: &RunDir,
    req: &CertifyRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<CertificatesFile> {
    req.check()?;
    let started = Instant::now();
    let loaded = load(run, req)?;
    let out = loaded.compute(req, None, progress)?;
    let file = loaded.file(run, req, &out, started.elapsed().as_secs_f64())?;
    file.write(&run.certificates())?;
    Ok(file)
}

/// The stage's inputs, loaded and checked: the net, the run's bounds about the same model file, the first N
/// test images (normalised, one per column) and their labels.
pub(super) struct Loaded {
    /// The exported net, with the refitted latent net when the run has `latent_bn.json`.
    nets: crate::latent_bn::FunctionNets,
    model_sha: String,
    bounds: Option<BoundsFile>,
    bounds_sha: Option<String>,
    dataset: &'static str,
    dataset_checksum: String,
    normalization: Normalization,
    x: DMatrix<f64>,
    labels: Vec<usize>,
    domain: (Vec<f64>, Vec<f64>),
}

/// Loads what [`run`] works on; bounds about another model file are refused.
pub(super) fn load(run: &RunDir, req: &CertifyRequest) -> Result<Loaded> {
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = export(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let model_sha = crate::fsio::file_sha256(&run.model())?;
    let bounds =
        if crate::fsio::exists(&run.bounds())? { Some(BoundsFile::read(&run.bounds())?) } else { None };
    if let Some(b) = &bounds
        && b.meta["model_sha256"].as_str() != Some(model_sha.as_str())
    {
        return Err(Error::format(
            run.bounds(),
            format!(
                "its bounds are about another model file than {}: re-run `lcr-verify bound`",
                run.model().display()
            ),
        ));
    }
    let bounds_sha = if bounds.is_some() { Some(crate::fsio::file_sha256(&run.bounds())?) } else { None };
    let nets = crate::latent_bn::FunctionNets::of_run(run, net)?;
    if let Some(b) = &bounds
        && req.functions.contains(&Function::Latent)
        && crate::latent_bn::recorded_sha256(&b.meta["latent_function"]) != nets.latent_sha256()
    {
        return Err(Error::format(
            run.bounds(),
            "its latent bounds are about the latent function with other BatchNorm statistics than the run's \
             latent_bn.json now gives: re-run `lcr-verify bound`",
        ));
    }
    let dataset = run.load_dataset(&meta, req.data_dir.as_deref())?;
    let n = req.samples.unwrap_or(usize::MAX).min(dataset.test.len());
    let indices: Vec<usize> = (0..n).collect();
    let values = meta.normalization.values(&dataset.test, &indices)?;
    let x = DMatrix::from_iterator(nets.net.input_len(), n, values.iter().map(|&v| v as f64));
    let labels: Vec<usize> = dataset.test.labels[..n].iter().map(|&l| l as usize).collect();
    let (h, w) = (dataset.test.height, dataset.test.width);
    let domain = meta.normalization.input_box(h, w);
    Ok(Loaded {
        nets,
        model_sha,
        bounds,
        bounds_sha,
        dataset: meta.dataset.name(),
        dataset_checksum: dataset.checksum,
        normalization: meta.normalization,
        x,
        labels,
        domain,
    })
}

impl Loaded {
    /// The number of samples certified.
    pub(super) fn samples(&self) -> usize {
        self.labels.len()
    }

    /// The digests of what the stage read (a partial file records them; a merge checks them).
    pub(super) fn inputs(&self) -> serde_json::Value {
        json!({
            "model_sha256": self.model_sha,
            "bounds_sha256": self.bounds_sha,
            "dataset_checksum": self.dataset_checksum,
            "latent_bn_sha256": self.nets.latent_sha256(),
        })
    }

    /// Runs every requested function and norm on the samples `only` (increasing indices; all when `None`). The
    /// samples are enclosed in batches of [`CHUNK`]: a shard's samples are whole batches of the unsharded run
    /// ([`BLOCK`]), so each is computed exactly as there.
    pub(super) fn compute(
        &self,
        req: &CertifyRequest,
        only: Option<&[usize]>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Outcome> {
        let subset;
        let (x, labels) = match only {
            None => (&self.x, &self.labels[..]),
            Some(ks) => {
                let cols: Vec<_> = ks.iter().map(|&k| self.x.column(k)).collect();
                subset =
                    (DMatrix::from_columns(&cols), ks.iter().map(|&k| self.labels[k]).collect::<Vec<_>>());
                (&subset.0, &subset.1[..])
            }
        };
        let work = Work {
            net: &self.nets.net,
            nets: &self.nets,
            x,
            labels,
            domain: &self.domain,
            bounds: self.bounds.as_ref(),
            bound_methods: req.bound_methods.as_deref(),
            progress,
        };
        let mut out = Outcome::default();
        let mut functions = req.functions.clone();
        functions.sort();
        for &f in &functions {
            match f {
                Function::Deployed => work.deployed(&req.norms, &mut out)?,
                _ => work.lipschitz(f, &req.norms, &mut out)?,
            }
        }
        Ok(out)
    }

    /// The file of what was computed for every sample, with `seconds` as the stage's time.
    pub(super) fn file(
        &self,
        run: &RunDir,
        req: &CertifyRequest,
        out: &Outcome,
        seconds: f64,
    ) -> Result<CertificatesFile> {
        let n = self.samples();
        let net = &self.nets.net;
        let meta_norm = &self.normalization;
        let min_std = meta_norm.min_std();
        let provenance = json!({
            "run_dir": run.root().display().to_string(),
            "model_sha256": self.model_sha,
            "bounds_sha256": self.bounds_sha,
            "dataset": self.dataset,
            "dataset_checksum": self.dataset_checksum,
            "input_space": {
                "kind": "normalised",
                "mean": meta_norm.mean,
                "std": meta_norm.std,
                "min_std": min_std,
                "pixel": "a normalised radius r covers every pixel-scale (p/255) perturbation of norm below (r − e)·min_std, e the f32 rounding of the normalisation (theorem V7)",
                "fed_rounding": { "l2": meta_norm.fed_rounding(InputNorm::L2, net.input_len()), "linf": meta_norm.fed_rounding(InputNorm::Linf, net.input_len()) },
                "domain": "valid pixels p/255 in [0, 1], normalised (methods with coverage `domain` speak of these inputs only)",
            },
            "samples": format!("first {n} test images"),
            "request": req,
            "latent_function": self.nets.latent_note(),
            "seconds": seconds,
        });
        assemble(out, &self.labels, meta_norm, net.input_len(), provenance)
    }
}

/// The file from what the stage computed; pixel units by theorem V7 (`normalization`, `inputs` coordinates).
fn assemble(
    out: &Outcome,
    labels: &[usize],
    normalization: &Normalization,
    inputs: usize,
    provenance: serde_json::Value,
) -> Result<CertificatesFile> {
    let pixel = |r: f64, norm: InputNorm| normalization.pixel_radius(r, norm, inputs);
    let pixels = |radii: &[f64], norm: InputNorm| -> Vec<f64> {
        radii.iter().map(|&r| if r.is_finite() { pixel(r, norm) } else { f64::MAX }).collect()
    };
    let n = labels.len();
    let mut samples: Vec<SampleCertificates> = (0..n)
        .map(|i| SampleCertificates {
            index: i,
            label: labels[i],
            prediction: out.predictions.iter().map(|(f, p)| (*f, p[i])).collect(),
            radius: BTreeMap::new(),
            best_pixel: BTreeMap::new(),
            best_method: BTreeMap::new(),
            exact: out
                .exact
                .iter()
                .map(|(norm, e)| (*norm, ExactEntry { lower: e[i].0, upper: e[i].1 }))
                .collect(),
        })
        .collect();
    let mut methods = Vec::new();
    let mut curves = Vec::new();
    for r in &out.radii {
        for (s, &v) in samples.iter_mut().zip(&r.radius) {
            s.radius
                .entry(r.function)
                .or_default()
                .entry(r.norm)
                .or_default()
                .insert(r.method.clone(), to_file(v));
        }
        let med = median(r.radius.iter().map(|&v| if v.is_finite() { v } else { f64::MAX }));
        let grid = default_grid(r.norm);
        curves.push(CurveEntry {
            function: r.function,
            norm: r.norm,
            method: r.method.clone(),
            certified_accuracy: certified_accuracy(&pixels(&r.radius, r.norm), &grid, 1.0)?
                .iter()
                .map(|p| p.accuracy)
                .collect(),
            eps_pixel: grid,
        });
        methods.push(MethodEntry {
            function: r.function,
            norm: r.norm,
            method: r.method.clone(),
            soundness: Soundness::Certified,
            coverage: r.coverage,
            theorem: r.theorem.clone(),
            certified: r.radius.iter().filter(|&&v| v > 0.0).count(),
            median_radius: med.filter(|m| *m < f64::MAX),
            median_radius_pixel: med.filter(|m| *m < f64::MAX).map(|m| pixel(m, r.norm)),
            seconds: r.seconds,
        });
    }
    let mut pairs: Vec<(Function, InputNorm)> = out.radii.iter().map(|r| (r.function, r.norm)).collect();
    pairs.sort();
    pairs.dedup();
    for (f, norm) in pairs {
        let best: Vec<(f64, String)> = samples.iter().map(|s| s.best(f, norm)).collect();
        for (s, (b, m)) in samples.iter_mut().zip(&best) {
            s.best_pixel.entry(f).or_default().insert(norm, to_file(pixel(*b, norm)));
            s.best_method.entry(f).or_default().insert(norm, m.clone());
        }
        let best: Vec<f64> = best.into_iter().map(|b| b.0).collect();
        let grid = default_grid(norm);
        curves.push(CurveEntry {
            function: f,
            norm,
            method: "best".into(),
            certified_accuracy: certified_accuracy(&pixels(&best, norm), &grid, 1.0)?
                .iter()
                .map(|p| p.accuracy)
                .collect(),
            eps_pixel: grid,
        });
    }
    let accuracy = out
        .predictions
        .iter()
        .map(|(f, p)| {
            (*f, p.iter().zip(labels).filter(|(p, l)| **p == Some(**l)).count() as f64 / n.max(1) as f64)
        })
        .collect();
    Ok(CertificatesFile {
        format: CERTIFICATES_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        provenance,
        methods,
        skipped: out.skipped.clone(),
        accuracy,
        curves,
        samples,
    })
}

/// The run's `certificates.json` when it can stand for [`run`] with `req`: in the current format, about the
/// very model file now in the run directory and the very `bounds.json` there, for an equal request.
pub fn reusable(run: &RunDir, req: &CertifyRequest) -> Result<Option<CertificatesFile>> {
    let path = run.certificates();
    if !crate::fsio::exists(&path)? {
        return Ok(None);
    }
    let Ok(earlier) = CertificatesFile::read(&path) else { return Ok(None) };
    let model = crate::fsio::file_sha256(&run.model())?;
    let bounds = if crate::fsio::exists(&run.bounds())? {
        Some(crate::fsio::file_sha256(&run.bounds())?)
    } else {
        None
    };
    let p = &earlier.provenance;
    let recorded = serde_json::from_value::<CertifyRequest>(p["request"].clone()).ok();
    let latent = crate::latent_bn::file_sha256(run)?;
    let same = p["model_sha256"].as_str() == Some(model.as_str())
        && crate::latent_bn::recorded_sha256(&p["latent_function"]) == latent.as_deref()
        && p["bounds_sha256"].as_str() == bounds.as_deref()
        && recorded.as_ref() == Some(req);
    Ok(same.then_some(earlier))
}
