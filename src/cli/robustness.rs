//! `lcr-verify robustness RUN_DIR`: evaluate a run's deployed model under corruptions and write
//! `RUN_DIR/corruption.json`.
//!
//! ```text
//! lcr-verify robustness runs/mnist-lcr                          # default suite for the data (MNIST: mnist-c)
//! lcr-verify robustness runs/mnist-lcr --suite cifar-c           # 15 + 4 corruptions × 5 severities, CIFAR table
//! lcr-verify robustness runs/mnist-lcr --suite cifar-c --reference runs/mnist-float   # CE / mCE vs a reference
//! lcr-verify robustness runs/cifar --from CIFAR-10-C/            # the released files
//! ```
//!
//! The model is not this module's business: the caller passes a [`ModelLoader`] that turns a run directory
//! into a [`Classifier`] and its clean test set.

use std::path::{Path, PathBuf};

use crate::corrupt::layout::Layout;
use crate::corrupt::{self, Suite};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::robustness::{
    self, CorruptionFile, EvalOptions, Generated, ModelLoader, OnDisk, Source, SuiteReport,
};
use crate::run_dir::RunDir;

/// Arguments of `lcr-verify robustness`.
#[derive(clap::Args, Debug, Clone)]
pub struct RobustnessArgs {
    /// The run directory whose deployed model is evaluated.
    pub run_dir: PathBuf,
    /// Benchmark suite (default: the one a --from directory declares, else mnist-c for 28×28 gray data,
    /// cifar-c up to 64 px, imagenet-c above).
    #[arg(long, value_parser = super::choice::parser::<Suite>())]
    pub suite: Option<Suite>,
    /// Read corrupted images from a CIFAR-10-C, MNIST-C or ImageNet-C directory instead of generating them.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Normalise CE by this run's model, evaluated on the same corrupted images.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Print the report as JSON on standard output (the table then goes to standard error).
    #[arg(long)]
    pub json: bool,
    /// Comma-separated corruption names (generated sets only; default: all of the suite's).
    #[arg(long)]
    pub corruptions: Option<String>,
    /// Severities such as `1,3,5` or `1-5` (generated sets only).
    #[arg(long)]
    pub severities: Option<String>,
    /// Seed of the generated corruptions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N test images (generated sets only).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Normalise CE by AlexNet's ImageNet-C errors (the ImageNet-C protocol; imagenet-c suite only). The default
    /// when --from names an ImageNet-C tree and no --reference is given.
    #[arg(long)]
    pub alexnet: bool,
    /// Images per batch.
    #[arg(long, default_value_t = 2000)]
    pub chunk: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Evaluates the run's model under the suite and merges the report into `RUN_DIR/corruption.json`.
pub fn evaluate(args: &RobustnessArgs, loader: &dyn ModelLoader) -> Result<SuiteReport> {
    if args.limit == Some(0) {
        return Err(Error::config("limit", "0 images leaves nothing to evaluate; give at least 1"));
    }
    let model = loader.load(&args.run_dir)?;
    let reference = args.reference.as_deref().map(|r| loader.load(r)).transpose()?;
    let options = EvalOptions { chunk: args.chunk, progress: !args.quiet };
    let mut test = model.test.clone();
    if let Some(n) = args.limit {
        test = test.take(n);
    }
    // Why the clean error is missing, when it is.
    let mut clean_note = None;
    let (source, suite, clean, alexnet): (Box<dyn Source>, Suite, Option<ImageSet>, bool) = match &args.from {
        Some(dir) => {
            if args.corruptions.is_some() || args.severities.is_some() || args.limit.is_some() {
                return Err(Error::config(
                    "from",
                    "--corruptions, --severities and --limit apply to generated sets only",
                ));
            }
            let disk = OnDisk::open(dir)?;
            let suite = from_suite(dir, &disk, args.suite)?;
            let shape = disk.image_shape()?;
            for (m, run) in std::iter::once((&model, &args.run_dir))
                .chain(reference.as_ref().zip(args.reference.as_ref()))
            {
                let t = &m.test;
                if shape != (t.height, t.width, t.channels) {
                    return Err(Error::format(
                        dir,
                        format!(
                            "images are {}x{}x{}, the model of {} takes {}x{}x{}",
                            shape.0,
                            shape.1,
                            shape.2,
                            run.display(),
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
                Layout::ImagenetC(_) => None,
            };
            let clean = match manifest {
                // A set written by `corrupt --limit N` holds the first N test images: compare with those.
                Some(m) => {
                    let checksum = model.dataset.get("checksum").and_then(|c| c.as_str());
                    if m.split != "test" {
                        clean_note = Some(format!(
                            "{} was made from the {} split, not the test images",
                            dir.display(),
                            m.split
                        ));
                        None
                    } else if checksum.is_some_and(|c| c != m.dataset_checksum) {
                        clean_note = Some(format!(
                            "{} was made from {} (another checksum than the model's test set)",
                            dir.display(),
                            m.dataset
                        ));
                        None
                    } else if m.images > test.len() {
                        clean_note = Some(format!(
                            "{} holds {} images per cell, the model's test set {}",
                            dir.display(),
                            m.images,
                            test.len()
                        ));
                        None
                    } else {
                        Some(test.take(m.images))
                    }
                }
                // Without a manifest the set is taken to be the whole test set only if the counts agree.
                None => {
                    let cells = disk.cells();
                    if cells.iter().all(|c| c.images == test.len()) {
                        Some(test.clone())
                    } else {
                        let counts: std::collections::BTreeSet<usize> =
                            cells.iter().map(|c| c.images).collect();
                        let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
                        clean_note = Some(format!(
                            "{} has no {} and holds {} images per cell, the model's test set {}: which test images \
                             were corrupted is unknown",
                            dir.display(),
                            corrupt::layout::MANIFEST,
                            counts.join(" or "),
                            test.len()
                        ));
                        None
                    }
                }
            };
            // A real ImageNet-C tree follows the ImageNet-C protocol: AlexNet normalises CE unless a reference
            // model is named.
            let alexnet =
                args.alexnet || (args.reference.is_none() && matches!(disk.layout(), Layout::ImagenetC(_)));
            (Box::new(disk), suite, clean, alexnet)
        }
        None => {
            let suite =
                args.suite.unwrap_or_else(|| Suite::default_for(test.height, test.width, test.channels));
            let list =
                args.corruptions.as_deref().map(|s| corrupt::parse_corruption_list(s, suite)).transpose()?;
            let sev = args.severities.as_deref().map(corrupt::parse_severity_list).transpose()?;
            let generated = Generated::new(test.clone(), suite, list.as_deref(), sev.as_deref(), args.seed)?;
            (Box::new(generated), suite, Some(test), args.alexnet)
        }
    };
    if args.alexnet && args.reference.is_some() {
        return Err(Error::config(
            "alexnet",
            "--alexnet and --reference are two different normalisations; name one",
        ));
    }
    if alexnet && suite != Suite::ImagenetC {
        return Err(Error::config("alexnet", format!("AlexNet's table is for ImageNet-C, not {suite}")));
    }
    let report = robustness::run_suite(&robustness::SuiteRun {
        model: model.classifier.as_ref(),
        reference: reference.as_ref().map(|r| r.classifier.as_ref()),
        source: source.as_ref(),
        suite,
        clean: clean.as_ref(),
        alexnet,
        options,
    })?;
    let mut report = report;
    report.provenance = serde_json::json!({
        "run_dir": args.run_dir.display().to_string(),
        "model_sha256": model_digest(&args.run_dir),
        "reference_sha256": args.reference.as_deref().and_then(model_digest),
        "dataset": model.dataset,
        "reference_run_dir": args.reference.as_ref().map(|r| r.display().to_string()),
        "request": request(args),
    });
    if let Some(note) = clean_note.filter(|_| report.clean_error.is_none()) {
        report.provenance["clean_note"] =
            serde_json::Value::String(format!("clean error not evaluated: {note}"));
    }
    CorruptionFile::merge_and_write(&RunDir::new(&args.run_dir).corruption(), report.clone())?;
    Ok(report)
}

/// The suite a `--from` set is scored under: the one it declares (its manifest, or its layout: MNIST-C and
/// ImageNet-C trees are their own suites), or the one asked for, which must agree with a declared suite and, for
/// a CIFAR-10-C directory without a manifest, find all its benchmark corruptions there.
fn from_suite(dir: &Path, disk: &OnDisk, asked: Option<Suite>) -> Result<Suite> {
    let declared = disk.suite().unwrap_or(Suite::CifarC);
    let (known, how) = match disk.layout() {
        Layout::CifarC(c) if c.manifest.is_some() => (true, "its manifest.json"),
        Layout::MnistC(m) if m.manifest.is_some() => (true, "its manifest.json"),
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

/// Runs `lcr-verify robustness`: evaluates, writes `RUN_DIR/corruption.json`, prints a summary table (or, with
/// `--json`, the report as JSON on stdout and the table on stderr), and returns the report.
pub fn run(args: &RobustnessArgs, loader: &dyn ModelLoader) -> Result<SuiteReport> {
    let report = evaluate(args, loader)?;
    if args.json {
        // Machine-readable output alone on stdout; the table goes to stderr.
        let text = serde_json::to_string_pretty(&report).map_err(|e| {
            Error::format(RunDir::new(&args.run_dir).corruption(), format!("cannot serialise: {e}"))
        })?;
        if !args.quiet {
            eprint!("{}", summary(&report));
        }
        super::emit(text)?;
    } else {
        super::emit(summary(&report).trim_end())?;
    }
    Ok(report)
}

/// Everything in `args` that decides the report's numbers (recorded as `provenance.request`; a report is reused
/// only for an equal request).
pub fn request(args: &RobustnessArgs) -> serde_json::Value {
    serde_json::json!({
        "suite": args.suite.map(|s| s.as_str()),
        "from": args.from.as_ref().map(|d| d.display().to_string()),
        // Generated sets only: the corruption seed, the images used, the subset of the table.
        "seed": args.from.is_none().then_some(args.seed),
        "limit": args.limit,
        "corruptions": args.corruptions,
        "severities": args.severities,
        "alexnet": args.alexnet,
    })
}

/// The SHA-256 of a run directory's model file, when it has one (stand-in models in tests have none).
pub fn model_digest(run_dir: &Path) -> Option<String> {
    crate::fsio::file_sha256(&RunDir::new(run_dir).model()).ok()
}

fn fmt_opt(v: Option<f64>, scale: f64) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v * scale))
}

/// A plain-text table of the report: errors in percent per severity, mean, CE.
pub fn summary(r: &SuiteReport) -> String {
    let mut out = format!("{} on {} ({})\n", r.model, r.suite, r.source);
    match (r.clean_error, r.provenance.get("clean_note").and_then(|n| n.as_str())) {
        (None, Some(note)) => out.push_str(&format!("clean error: - ({note})\n")),
        (e, _) => out.push_str(&format!("clean error: {}%\n", fmt_opt(e, 100.0))),
    }
    let sevs: Vec<u8> = {
        let mut s: Vec<u8> = r.corruptions.iter().flat_map(|c| c.errors.keys().copied()).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    out.push_str(&format!("{:<20}", "corruption"));
    for s in &sevs {
        out.push_str(&format!("{:>7}", format!("s{s}")));
    }
    out.push_str(&format!("{:>8}{:>8}\n", "mean", "CE"));
    for c in &r.corruptions {
        out.push_str(&format!("{:<20}", if c.benchmark { c.name.clone() } else { format!("{}*", c.name) }));
        for s in &sevs {
            out.push_str(&format!("{:>7}", fmt_opt(c.errors.get(s).copied(), 100.0)));
        }
        out.push_str(&format!("{:>8}{:>8}\n", format!("{:.1}", c.mean_error * 100.0), fmt_opt(c.ce, 100.0)));
    }
    let t = &r.totals;
    out.push_str(&format!(
        "mean error {:.1}%  mCE {}  relative mCE {}  mPC {:.1}%  rPC {}  ({} benchmark corruptions; * = extra, outside the means)\n",
        t.mean_error * 100.0,
        fmt_opt(t.mce, 100.0),
        fmt_opt(t.relative_mce, 100.0),
        t.mpc * 100.0,
        fmt_opt(t.rpc, 100.0),
        t.corruptions
    ));
    out.push_str(&format!("normalisation: {} ({})\n", r.normalisation.kind, r.normalisation.note));
    out
}
