//! The `robustness` stage as a library call: a typed [`RobustnessRequest`], [`run`] to evaluate a run's model
//! under a corruption suite and merge the report into `RUN_DIR/corruption.json`, and [`reusable`], the rule
//! under which an earlier report stands for a new evaluation.
//!
//! ```text
//! lcr-verify robustness runs/mnist-lcr                          # default suite for the data (MNIST: mnist-c)
//! lcr-verify robustness runs/mnist-lcr --suite cifar-c           # 15 + 4 corruptions × 5 severities, CIFAR table
//! lcr-verify robustness runs/mnist-lcr --suite cifar-c --reference runs/mnist-float   # CE / mCE vs a reference
//! lcr-verify robustness runs/cifar --from CIFAR-10-C/            # the released files
//! ```
//!
//! The model is not this module's business: the caller passes a [`ModelLoader`] that turns a run directory into
//! a [`super::Classifier`] and its clean test set ([`super::load_deployed`] for trained runs).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    AuditOutcome, CorruptionFile, EvalOptions, Generated, LoadedModel, ModelLoader, OnDisk, Source,
    SuiteReport, SuiteRun, run_suite,
};
use crate::audit::corruption::CorruptionAudit;
use crate::corrupt::layout::Layout;
use crate::corrupt::{self, Suite};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::run_dir::RunDir;

/// Everything that decides a report's numbers. Recorded as `provenance.request` in `corruption.json`; an
/// earlier report is reused only for an equal request (see [`reusable`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobustnessRequest {
    /// Benchmark suite (default: the one a `from` directory declares, else mnist-c for 28×28 gray data, cifar-c
    /// up to 64 px, imagenet-c above).
    pub suite: Option<Suite>,
    /// Read corrupted images from a CIFAR-10-C, MNIST-C or ImageNet-C directory instead of generating them.
    pub from: Option<PathBuf>,
    /// Normalise CE by this run's model, evaluated on the same corrupted images.
    pub reference: Option<PathBuf>,
    /// Comma-separated corruption names (generated sets only; default: all of the suite's).
    pub corruptions: Option<String>,
    /// Severities such as `1,3,5` or `1-5` (generated sets only).
    pub severities: Option<String>,
    /// Seed of the generated corruptions.
    pub seed: u64,
    /// Use only the first N test images (generated sets only); ≥ 1.
    pub limit: Option<usize>,
    /// Normalise CE by AlexNet's ImageNet-C errors (imagenet-c suite only); implied for an ImageNet-C tree
    /// named by `from` when no `reference` is given.
    pub alexnet: bool,
}

impl RobustnessRequest {
    /// Refuses combinations no evaluation can honour, before any work: no images, subset options on a set read
    /// from disk, two normalisations at once.
    pub fn check(&self) -> Result<()> {
        if self.limit == Some(0) {
            return Err(Error::config("limit", "0 images leaves nothing to evaluate; give at least 1"));
        }
        if self.from.is_some()
            && (self.corruptions.is_some() || self.severities.is_some() || self.limit.is_some())
        {
            return Err(Error::config(
                "from",
                "--corruptions, --severities and --limit apply to generated sets only",
            ));
        }
        if self.alexnet && self.reference.is_some() {
            return Err(Error::config(
                "alexnet",
                "--alexnet and --reference are two different normalisations; name one",
            ));
        }
        Ok(())
    }
}

/// The corrupted images, the suite they are scored under, the clean set (and why it is missing, when it is),
/// and whether AlexNet normalises CE.
struct Images {
    source: Box<dyn Source>,
    suite: Suite,
    clean: Option<ImageSet>,
    clean_note: Option<String>,
    alexnet: bool,
    /// An ImageNet-C tree: its images come in folder order, not in test-set order.
    imagenet_c: bool,
}

/// What the corruption audit needs: the run's nets (the latent one refitted where the run has it), its
/// normalisation and its certificates.
struct AuditInputs {
    nets: crate::latent_bn::FunctionNets,
    normalization: crate::data::Normalization,
    certificates: crate::certify::CertificatesFile,
}

/// The audit's inputs when the run directory holds `certificates.json` about its model file and the corrupted
/// images are the test images in order (`aligned`); otherwise why the audit does not run. Certificates about
/// another model file, or about the images of a dataset with another checksum than `dataset_checksum`, are
/// refused.
fn audit_inputs(
    run: &RunDir,
    aligned: bool,
    dataset_checksum: &str,
) -> Result<std::result::Result<AuditInputs, String>> {
    if !crate::fsio::exists(&run.certificates())? {
        return Ok(Err(format!(
            "{} not found (run `lcr-verify certify` first)",
            run.certificates().display()
        )));
    }
    if !aligned {
        return Ok(Err("which test image each corrupted image comes from is unknown for this set".into()));
    }
    let certificates = crate::certify::CertificatesFile::read(&run.certificates())?;
    let model_sha = crate::fsio::file_sha256(&run.model())?;
    certificates.check_matches(&run.certificates(), &model_sha, dataset_checksum)?;
    let (model, meta) = run.load_model(&candle_core::Device::Cpu)?;
    let net = crate::export::export(&model)
        .map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let nets = crate::latent_bn::FunctionNets::of_run(run, net)?;
    let has_latent = certificates.best_radii().iter().any(|c| c.function == crate::ir::Function::Latent);
    if has_latent
        && crate::latent_bn::recorded_sha256(&certificates.provenance["latent_function"])
            != nets.latent_sha256()
    {
        return Err(Error::format(
            run.certificates(),
            "its latent certificates are about the latent function with other BatchNorm statistics than the \
             run's latent_bn.json now gives: re-run `lcr-verify bound` and `lcr-verify certify`",
        ));
    }
    Ok(Ok(AuditInputs { nets, normalization: meta.normalization, certificates }))
}

/// The SHA-256 of the run's `certificates.json`, when it has one.
fn certificates_digest(run: &RunDir) -> Result<Option<String>> {
    if crate::fsio::exists(&run.certificates())? {
        crate::fsio::file_sha256(&run.certificates()).map(Some)
    } else {
        Ok(None)
    }
}

/// Refuses a reference model of another dataset or with another number of classes than the run's model: CE
/// compares two models' errors on the same images, which both must classify.
fn check_reference(run: &RunDir, model: &LoadedModel, reference: &LoadedModel, dir: &Path) -> Result<()> {
    let name = |m: &LoadedModel| m.dataset.get("name").and_then(|n| n.as_str()).map(str::to_string);
    if let (Some(ours), Some(theirs)) = (name(model), name(reference))
        && ours != theirs
    {
        return Err(Error::config(
            "reference",
            format!(
                "{}: the reference model was trained on {theirs}, the model of {} on {ours}; CE needs a reference \
                 model of the same dataset",
                RunDir::new(dir).model().display(),
                run.root().display()
            ),
        ));
    }
    let (ours, theirs) = (model.classifier.classes(), reference.classifier.classes());
    if ours != theirs {
        return Err(Error::config(
            "reference",
            format!(
                "{}: the reference model tells {theirs} classes apart, the model of {} {ours}",
                RunDir::new(dir).model().display(),
                run.root().display()
            ),
        ));
    }
    Ok(())
}

/// Evaluates the run's model under the requested suite and merges the report into `RUN_DIR/corruption.json`
/// (the file keeps one report per suite).
///
/// Refuses a request that fails [`RobustnessRequest::check`] before loading anything.
pub fn run(
    run: &RunDir,
    req: &RobustnessRequest,
    loader: &dyn ModelLoader,
    options: &EvalOptions,
) -> Result<SuiteReport> {
    req.check()?;
    let p = prepare(run, req, loader)?;
    let mut audit = p.new_audit()?;
    let report = run_suite(&p.suite_run(options), audit.as_mut())?;
    p.finish(run, req, report, audit)
}

/// The stage's inputs, loaded and checked: the models, the corrupted images and what the audit needs (or why it
/// does not run).
pub(super) struct Prepared {
    model: LoadedModel,
    reference: Option<LoadedModel>,
    images: Images,
    audit_parts: std::result::Result<AuditInputs, String>,
}

/// Loads what [`run`] works on.
pub(super) fn prepare(run: &RunDir, req: &RobustnessRequest, loader: &dyn ModelLoader) -> Result<Prepared> {
    let model = loader.load(run.root())?;
    let reference = req.reference.as_deref().map(|r| loader.load(r)).transpose()?;
    if let (Some(r), Some(dir)) = (&reference, &req.reference) {
        check_reference(run, &model, r, dir)?;
    }
    let mut test = model.test.clone();
    if let Some(n) = req.limit {
        test = test.take(n);
    }
    let images = match &req.from {
        Some(dir) => on_disk(run, req, dir, &model, reference.as_ref(), test)?,
        None => {
            let suite =
                req.suite.unwrap_or_else(|| Suite::default_for(test.height, test.width, test.channels));
            let list =
                req.corruptions.as_deref().map(|s| corrupt::parse_corruption_list(s, suite)).transpose()?;
            let sev = req.severities.as_deref().map(corrupt::parse_severity_list).transpose()?;
            let generated = Generated::new(test.clone(), suite, list.as_deref(), sev.as_deref(), req.seed)?;
            Images {
                source: Box::new(generated),
                suite,
                clean: Some(test),
                clean_note: None,
                alexnet: req.alexnet,
                imagenet_c: false,
            }
        }
    };
    if images.alexnet && images.suite != Suite::ImagenetC {
        return Err(Error::config(
            "alexnet",
            format!("AlexNet's table is for ImageNet-C, not {}", images.suite),
        ));
    }
    let aligned = images.clean.is_some() && !images.imagenet_c;
    let checksum = model.dataset.get("checksum").and_then(|c| c.as_str()).unwrap_or_default();
    let audit_parts = audit_inputs(run, aligned, checksum)?;
    Ok(Prepared { model, reference, images, audit_parts })
}

impl Prepared {
    /// The evaluation of the suite with `options`.
    pub(super) fn suite_run(&self, options: &EvalOptions) -> SuiteRun<'_> {
        SuiteRun {
            model: self.model.classifier.as_ref(),
            reference: self.reference.as_ref().map(|r| r.classifier.as_ref()),
            source: self.images.source.as_ref(),
            suite: self.images.suite,
            clean: self.images.clean.as_ref(),
            alexnet: self.images.alexnet,
            options: options.clone(),
        }
    }

    /// A fresh corruption audit, when its inputs exist.
    pub(super) fn new_audit(&self) -> Result<Option<CorruptionAudit<'_>>> {
        match &self.audit_parts {
            Ok(parts) => Ok(Some(
                CorruptionAudit::new(
                    &parts.nets.net,
                    &parts.normalization,
                    self.images.clean.as_ref().expect("aligned sets have their clean images"),
                    parts.certificates.best_radii(),
                )?
                .with_latent(parts.nets.latent.as_ref().map(|l| &l.0)),
            )),
            Err(_) => Ok(None),
        }
    }

    /// The digests of what the stage read (a partial file records them; a merge checks them).
    pub(super) fn inputs(&self, run: &RunDir, req: &RobustnessRequest) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "model_sha256": model_digest(run.root()),
            "reference_sha256": req.reference.as_deref().and_then(model_digest),
            "certificates_sha256": certificates_digest(run)?,
            "dataset": self.model.dataset,
        }))
    }

    /// Closes the audit (writing its violation records), records the provenance and merges the report into
    /// `RUN_DIR/corruption.json`.
    pub(super) fn finish(
        &self,
        run: &RunDir,
        req: &RobustnessRequest,
        mut report: SuiteReport,
        audit: Option<CorruptionAudit<'_>>,
    ) -> Result<SuiteReport> {
        report.audit = Some(match (audit, &self.audit_parts) {
            (Some(a), _) => {
                let (mut r, violations) = a.finish();
                crate::audit::clear_records(run.root(), crate::audit::ViolationKind::Corruption)?;
                for v in &violations {
                    r.violation_records.push(v.write(run.root())?.display().to_string());
                }
                AuditOutcome::Ran(r)
            }
            (None, Err(why)) => AuditOutcome::NotRun(why.clone()),
            (None, Ok(_)) => unreachable!("an audit exists whenever its inputs do"),
        });
        report.provenance = serde_json::json!({
            "run_dir": run.root().display().to_string(),
            "model_sha256": model_digest(run.root()),
            "reference_sha256": req.reference.as_deref().and_then(model_digest),
            "dataset": self.model.dataset,
            "reference_run_dir": req.reference.as_ref().map(|r| r.display().to_string()),
            "request": req,
            "certificates_sha256": certificates_digest(run)?,
        });
        if let Some(note) = self.images.clean_note.as_ref().filter(|_| report.clean_error.is_none()) {
            report.provenance["clean_note"] =
                serde_json::Value::String(format!("clean error not evaluated: {note}"));
        }
        CorruptionFile::merge_and_write(&run.corruption(), report.clone())?;
        Ok(report)
    }

    /// The corrupted images.
    pub(super) fn source(&self) -> &dyn Source {
        self.images.source.as_ref()
    }
}

/// A set read from `dir`: its images must have the shape and labels of every model evaluated; the clean set is
/// the model's test images the set was made from, when that can be told.
fn on_disk(
    run: &RunDir,
    req: &RobustnessRequest,
    dir: &Path,
    model: &LoadedModel,
    reference: Option<&LoadedModel>,
    test: ImageSet,
) -> Result<Images> {
    let disk = OnDisk::open(dir)?;
    let suite = from_suite(dir, &disk, req.suite)?;
    let shape = disk.image_shape()?;
    for (m, run_dir) in std::iter::once((model, run.root())).chain(reference.zip(req.reference.as_deref())) {
        let t = &m.test;
        if shape != (t.height, t.width, t.channels) {
            return Err(Error::format(
                dir,
                format!(
                    "images are {}x{}x{}, the model of {} takes {}x{}x{}",
                    shape.0,
                    shape.1,
                    shape.2,
                    run_dir.display(),
                    t.height,
                    t.width,
                    t.channels
                ),
            ));
        }
        disk.check_labels(m.classifier.classes())?;
    }
    let manifest = match disk.layout() {
        Layout::CifarC(c) => c.manifest.as_ref(),
        Layout::MnistC(m) => m.manifest.as_ref(),
        Layout::ImagenetC(i) => i.manifest.as_ref(),
    };
    let (clean, clean_note) = match manifest {
        // A set written by `corrupt --limit N` holds the first N test images: compare with those.
        Some(m) => {
            let checksum = model.dataset.get("checksum").and_then(|c| c.as_str());
            if m.split != "test" {
                (
                    None,
                    Some(format!(
                        "{} was made from the {} split, not the test images",
                        dir.display(),
                        m.split
                    )),
                )
            } else if checksum.is_some_and(|c| c != m.dataset_checksum) {
                let why = format!(
                    "{} was made from {} (another checksum than the model's test set)",
                    dir.display(),
                    m.dataset
                );
                (None, Some(why))
            } else if m.images > test.len() {
                let why = format!(
                    "{} holds {} images per cell, the model's test set {}",
                    dir.display(),
                    m.images,
                    test.len()
                );
                (None, Some(why))
            } else {
                (Some(test.take(m.images)), None)
            }
        }
        // Without a manifest the set is taken to be the whole test set only if the counts agree.
        None => {
            let cells = disk.cells();
            if cells.iter().all(|c| c.images == test.len()) {
                (Some(test), None)
            } else {
                let counts: std::collections::BTreeSet<usize> = cells.iter().map(|c| c.images).collect();
                let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
                let why = format!(
                    "{} has no {} and holds {} images per cell, the model's test set {}: which test images were \
                     corrupted is unknown",
                    dir.display(),
                    corrupt::layout::MANIFEST,
                    counts.join(" or "),
                    test.len()
                );
                (None, Some(why))
            }
        }
    };
    // A real ImageNet-C tree follows the ImageNet-C protocol: AlexNet normalises CE unless a reference model is
    // named. A tree lcr-verify wrote for another suite (its manifest says which) is not ImageNet-C's data.
    let imagenet_c = matches!(disk.layout(), Layout::ImagenetC(_));
    let alexnet = req.alexnet || (req.reference.is_none() && imagenet_c && suite == Suite::ImagenetC);
    Ok(Images { source: Box::new(disk), suite, clean, clean_note, alexnet, imagenet_c })
}

/// The suite a `from` set is scored under: the one it declares (its manifest, or its layout: MNIST-C and
/// ImageNet-C trees are their own suites), or the one asked for, which must agree with a declared suite and, for
/// a CIFAR-10-C directory without a manifest, find all its benchmark corruptions there.
fn from_suite(dir: &Path, disk: &OnDisk, asked: Option<Suite>) -> Result<Suite> {
    let declared = disk.suite().unwrap_or(Suite::CifarC);
    let (known, how) = match disk.layout() {
        Layout::CifarC(c) if c.manifest.is_some() => (true, "its manifest.json"),
        Layout::MnistC(m) if m.manifest.is_some() => (true, "its manifest.json"),
        Layout::ImagenetC(i) if i.manifest.is_some() => (true, "its manifest.json"),
        Layout::CifarC(_) => (false, "its CIFAR-10-C layout"),
        Layout::MnistC(_) => (true, "its MNIST-C layout"),
        Layout::ImagenetC(_) => (true, "its ImageNet-C layout"),
    };
    let Some(asked) = asked else { return Ok(declared) };
    if asked == declared {
        return Ok(asked);
    }
    if known {
        return Err(Error::config(
            "suite",
            format!(
                "{} holds a {declared} set (so says {how}), not {asked}; leave out --suite",
                dir.display()
            ),
        ));
    }
    let names = disk.corruption_names();
    let missing: Vec<&str> =
        asked.benchmark().iter().map(|c| c.as_str()).filter(|c| !names.iter().any(|n| n == c)).collect();
    if !missing.is_empty() {
        return Err(Error::config(
            "suite",
            format!(
                "{} lacks the {asked} benchmark corruptions {} (it holds {}); leave out --suite to score it as {declared}",
                dir.display(),
                missing.join(", "),
                names.join(", ")
            ),
        ));
    }
    Ok(asked)
}

/// The SHA-256 of a run directory's model file, when it has one (stand-in models in tests have none).
pub fn model_digest(run_dir: &Path) -> Option<String> {
    crate::fsio::file_sha256(&RunDir::new(run_dir).model()).ok()
}

/// A report in the run's `corruption.json` that can stand for [`run`] with `req`: about the very model file now
/// in the run directory (and the same reference model file), for an equal request. `None` when there is none;
/// an unreadable or malformed file is an error.
pub fn reusable(run: &RunDir, req: &RobustnessRequest) -> Result<Option<SuiteReport>> {
    let file = CorruptionFile::read(&run.corruption())?;
    let model = model_digest(run.root());
    let reference = req.reference.as_deref().and_then(model_digest);
    let certificates = certificates_digest(run)?;
    Ok(file.suites.into_values().find(|r| {
        let p = &r.provenance;
        let recorded = serde_json::from_value::<RobustnessRequest>(p["request"].clone()).ok();
        model.is_some()
            && p["model_sha256"].as_str() == model.as_deref()
            && p["reference_sha256"].as_str() == reference.as_deref()
            && p["certificates_sha256"].as_str() == certificates.as_deref()
            && recorded.as_ref() == Some(req)
    }))
}
