//! The `certify` stage as a library call: a typed [`CertifyRequest`], [`run`] to compute
//! `RUN_DIR/certificates.json`, and [`reusable`], the rule under which an earlier file stands for a new one.
//!
//! ```text
//! RUN_DIR/model.safetensors --export--> Net ──┬── deployed: sign stability, bound propagation, exact (tiny nets)
//! RUN_DIR/bounds.json (same model) ──pairs──> └── surrogate, latent: margin radii, local LP (small nets)
//!     first N test images (normalised) ──> CertificatesFile ──> RUN_DIR/certificates.json
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::file::{
    CERTIFICATES_FORMAT, CertificatesFile, CurveEntry, ExactEntry, MethodEntry, SampleCertificates,
    SkippedMethod, method, to_file,
};
use super::{
    Applicable, Coverage, ExactOptions, LocalLpOptions, PairTable, PointLogits, PropagationOptions,
    bound_propagation, certified_accuracy, default_grid, exact_minimal_perturbation, first_sign,
    local_lp_radii, margin_radii_at,
};
use crate::audit::stats::median;
use crate::bounds::{BoundsFile, Method, Soundness};
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::export::export;
use crate::ir::{BoxBatch, Function, InputNorm, Net, Verdict, verdict};
use crate::run_dir::RunDir;

/// Samples per batch (each batch is one set of matrix products per layer; batches run in parallel).
const CHUNK: usize = 256;

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

/// Runs `f` on batches of `n` samples in parallel and concatenates the results in order.
fn batched<T: Send>(n: usize, f: impl Fn(Range<usize>) -> Result<Vec<T>> + Sync) -> Result<Vec<T>> {
    let ranges: Vec<Range<usize>> = (0..n).step_by(CHUNK).map(|s| s..(s + CHUNK).min(n)).collect();
    let parts: Vec<Vec<T>> = ranges.into_par_iter().map(&f).collect::<Result<_>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// The class an enclosure proves at column k, if any.
fn proven(b: &BoxBatch, k: usize) -> Option<usize> {
    let col = b.lo.column(k);
    let c = (0..col.len()).max_by(|&a, &b| col[a].total_cmp(&col[b]))?;
    (verdict(b, k, c) == Verdict::Keeps).then_some(c)
}

/// What one method gave for every sample, before it is written out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Radii {
    pub(super) function: Function,
    pub(super) norm: InputNorm,
    pub(super) method: String,
    pub(super) coverage: Coverage,
    pub(super) theorem: String,
    #[serde(with = "crate::shard::partial::radii")]
    pub(super) radius: Vec<f64>,
    pub(super) seconds: f64,
}

/// The work of the stage, on loaded inputs.
pub(super) struct Work<'a> {
    net: &'a Net,
    /// The nets of the Lipschitz functions (the latent one refitted when the run has `latent_bn.json`).
    nets: &'a crate::latent_bn::FunctionNets,
    x: &'a DMatrix<f64>,
    labels: &'a [usize],
    domain: &'a (Vec<f64>, Vec<f64>),
    bounds: Option<&'a BoundsFile>,
    bound_methods: Option<&'a [Method]>,
    progress: &'a (dyn Fn(&str) + Sync),
}

impl Work<'_> {
    fn cols(&self, r: &Range<usize>) -> DMatrix<f64> {
        self.x.columns(r.start, r.len()).into_owned()
    }

    /// Deployed: predictions, then per norm bound propagation (with sign stability on the way) and the exact
    /// bracket on tiny nets.
    fn deployed(&self, norms: &[InputNorm], out: &mut Outcome) -> Result<()> {
        let f = Function::Deployed;
        (self.progress)("deployed: predictions");
        out.predictions.push((
            f,
            batched(self.labels.len(), |r| {
                let b = self.net.enclose_points(&self.cols(&r), f)?;
                Ok((0..r.len()).map(|k| proven(&b, k)).collect())
            })?,
        ));
        let stability_na = first_sign(self.net)?.err();
        for &norm in norms {
            (self.progress)(&format!("deployed {}: bound propagation", norm.name()));
            let start = Instant::now();
            let opts = PropagationOptions::default();
            let bp = batched(self.labels.len(), |r| {
                bound_propagation(self.net, &self.cols(&r), &self.labels[r], norm, &opts)
            })?;
            let seconds = start.elapsed().as_secs_f64();
            match &stability_na {
                None => out.radii.push(Radii {
                    function: f,
                    norm,
                    method: method::SIGN_STABILITY.into(),
                    coverage: Coverage::Network,
                    theorem: "V3".into(),
                    radius: bp.iter().map(|p| p.stability.unwrap_or(0.0)).collect(),
                    seconds,
                }),
                Some(na) => out.skip(f, Some(norm), method::SIGN_STABILITY, &na.reason),
            }
            let coverage = if bp.iter().any(|p| p.coverage == Coverage::Domain) {
                Coverage::Domain
            } else {
                Coverage::Network
            };
            out.radii.push(Radii {
                function: f,
                norm,
                method: method::BOUND_PROPAGATION.into(),
                coverage,
                theorem: "V4".into(),
                radius: bp.iter().map(|p| p.radius).collect(),
                seconds,
            });
            let start = Instant::now();
            let opts = ExactOptions { domain: Some(self.domain.clone()), ..Default::default() };
            let exact = batched(self.labels.len(), |r| {
                Ok(vec![exact_minimal_perturbation(self.net, &self.cols(&r), &self.labels[r], norm, &opts)?])
            })?;
            match exact.into_iter().collect::<Applicable<Vec<_>>>() {
                Ok(parts) => {
                    (self.progress)(&format!("deployed {}: exact minimal perturbation", norm.name()));
                    let all: Vec<_> = parts.into_iter().flatten().collect();
                    out.radii.push(Radii {
                        function: f,
                        norm,
                        method: method::EXACT.into(),
                        coverage: Coverage::Domain,
                        theorem: "V5".into(),
                        radius: all.iter().map(|e| e.lower).collect(),
                        seconds: start.elapsed().as_secs_f64(),
                    });
                    out.exact.push((norm, all.iter().map(|e| (to_file(e.lower), e.upper)).collect()));
                }
                Err(na) => out.skip(f, Some(norm), method::EXACT, &na.reason),
            }
        }
        Ok(())
    }

    /// Surrogate or latent: predictions and margin radii from one point enclosure, and the local LP radius on
    /// small nets (ℓ∞).
    fn lipschitz(&self, f: Function, norms: &[InputNorm], out: &mut Outcome) -> Result<()> {
        let Some(bounds) = self.bounds else {
            out.skip(f, None, method::MARGIN, "no bounds.json: run `lcr-verify bound RUN_DIR` first");
            return Ok(());
        };
        let allowed: Vec<_> = bounds
            .bounds
            .iter()
            .filter(|b| self.bound_methods.is_none_or(|m| m.contains(&b.method)))
            .cloned()
            .collect();
        // (table, coverage): the network-scope table of each norm, and beside it the domain table (V8) where
        // bounds.json holds domain-scope constants.
        let mut tables: Vec<(PairTable, Coverage)> = Vec::new();
        for &norm in norms {
            let t = PairTable::from_bounds(&allowed, f, norm, self.net.classes)?;
            if t.covers_every_pair() {
                tables.push((t, Coverage::Network));
                if PairTable::has_domain_constants(&allowed, f, norm) {
                    let d = PairTable::from_bounds_on_domain(&allowed, f, norm, self.net.classes)?;
                    tables.push((d, Coverage::Domain));
                }
            } else {
                out.skip(
                    f,
                    Some(norm),
                    method::MARGIN,
                    &format!(
                        "bounds.json holds no certified network-scope constant for every class pair of {} in {} \
                         (run `lcr-verify bound` with that function and norm)",
                        f.name(),
                        norm.name()
                    ),
                );
            }
        }
        (self.progress)(&format!("{}: predictions and margin radii", f.name()));
        let start = Instant::now();
        let per: Vec<(Option<usize>, Vec<f64>)> = batched(self.labels.len(), |r| {
            let points = PointLogits::new(self.nets.get(f), f, &self.cols(&r))?;
            let radii: Vec<Vec<f64>> = tables
                .iter()
                .map(|(t, _)| {
                    Ok(margin_radii_at(&points, t, &self.labels[r.clone()])?
                        .iter()
                        .map(|m| m.radius)
                        .collect())
                })
                .collect::<Result<_>>()?;
            Ok((0..r.len())
                .map(|k| (proven(points.logits(), k), radii.iter().map(|v| v[k]).collect()))
                .collect())
        })?;
        let seconds = start.elapsed().as_secs_f64();
        out.predictions.push((f, per.iter().map(|p| p.0).collect()));
        for (i, (t, coverage)) in tables.iter().enumerate() {
            let (method, theorem) = match coverage {
                Coverage::Network => (method::MARGIN, "V2"),
                Coverage::Domain => (method::MARGIN_DOMAIN, "V8"),
            };
            out.radii.push(Radii {
                function: f,
                norm: t.norm(),
                method: method.into(),
                coverage: *coverage,
                theorem: theorem.into(),
                radius: per.iter().map(|p| p.1[i]).collect(),
                seconds,
            });
        }
        let network_linf = tables
            .iter()
            .find(|(t, c)| t.norm() == InputNorm::Linf && *c == Coverage::Network)
            .map(|(t, _)| t);
        if let Some(t) = network_linf {
            let start = Instant::now();
            let opts = LocalLpOptions { domain: Some(self.domain.clone()), ..Default::default() };
            let local = batched(self.labels.len(), |r| {
                Ok(vec![local_lp_radii(self.nets.get(f), f, t, &self.cols(&r), &self.labels[r], &opts)?])
            })?;
            match local.into_iter().collect::<Applicable<Vec<_>>>() {
                Ok(parts) => {
                    (self.progress)(&format!("{}: local LP radii", f.name()));
                    out.radii.push(Radii {
                        function: f,
                        norm: InputNorm::Linf,
                        method: method::LOCAL_LP.into(),
                        coverage: Coverage::Domain,
                        theorem: "V6".into(),
                        radius: parts.into_iter().flatten().map(|l| l.radius).collect(),
                        seconds: start.elapsed().as_secs_f64(),
                    });
                }
                Err(na) => out.skip(f, Some(InputNorm::Linf), method::LOCAL_LP, &na.reason),
            }
        }
        Ok(())
    }
}

/// The exact minimal perturbation of one sample: the certified lower side (`None` for +∞, as in the file) and
/// the distance of a proven misclassified input.
pub(super) type ExactBracket = (Option<f64>, Option<f64>);

/// What the stage computed, before it is written out: per-sample vectors in sample order (a shard's partial
/// file holds the same for its samples).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Outcome {
    pub(super) predictions: Vec<(Function, Vec<Option<usize>>)>,
    pub(super) radii: Vec<Radii>,
    pub(super) exact: Vec<(InputNorm, Vec<ExactBracket>)>,
    pub(super) skipped: Vec<SkippedMethod>,
}

impl Outcome {
    fn skip(&mut self, function: Function, norm: Option<InputNorm>, method: &str, reason: &str) {
        self.skipped.push(SkippedMethod { function, norm, method: method.into(), reason: reason.into() });
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
