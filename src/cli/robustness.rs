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
    self, Classifier, CorruptionFile, EvalOptions, Generated, OnDisk, Source, SuiteReport,
};

/// Arguments of `lcr-verify robustness`.
#[derive(clap::Args, Debug, Clone)]
pub struct RobustnessArgs {
    /// The run directory whose deployed model is evaluated.
    pub run_dir: PathBuf,
    /// Benchmark suite (default: the one a --from directory declares, else mnist-c for 28×28 gray data,
    /// cifar-c up to 64 px, imagenet-c above).
    #[arg(long, value_enum)]
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

/// A run directory's model with the data it was trained for.
pub struct LoadedModel {
    /// The deployed model.
    pub classifier: Box<dyn Classifier>,
    /// Its clean test set.
    pub test: ImageSet,
    /// Where the test set came from: dataset name, directory and checksum (recorded in `corruption.json`).
    pub dataset: serde_json::Value,
}

/// Turns a run directory into a [`LoadedModel`] (implemented by the main CLI; any `Fn(&Path)` works).
pub trait ModelLoader {
    /// Loads the model of `run_dir`.
    fn load(&self, run_dir: &Path) -> Result<LoadedModel>;
}

impl<F: Fn(&Path) -> Result<LoadedModel>> ModelLoader for F {
    fn load(&self, run_dir: &Path) -> Result<LoadedModel> {
        self(run_dir)
    }
}

/// The file written in the run directory.
pub const REPORT_FILE: &str = "corruption.json";

/// Evaluates the run's model under the suite and merges the report into `RUN_DIR/corruption.json`.
pub fn evaluate(args: &RobustnessArgs, loader: &dyn ModelLoader) -> Result<SuiteReport> {
    let model = loader.load(&args.run_dir)?;
    let reference = args.reference.as_deref().map(|r| loader.load(r)).transpose()?;
    let options = EvalOptions { chunk: args.chunk, progress: !args.quiet };
    let mut test = model.test.clone();
    if let Some(n) = args.limit {
        test = test.take(n);
    }
    let (source, suite, clean, alexnet): (Box<dyn Source>, Suite, Option<ImageSet>, bool) = match &args.from {
        Some(dir) => {
            if args.corruptions.is_some() || args.severities.is_some() || args.limit.is_some() {
                return Err(Error::config(
                    "from",
                    "--corruptions, --severities and --limit apply to generated sets only",
                ));
            }
            let disk = OnDisk::open(dir)?;
            let declared = disk.suite().unwrap_or(Suite::CifarC);
            let suite = match args.suite {
                Some(s)
                    if s != declared && matches!(disk.layout(), Layout::MnistC(_) | Layout::ImagenetC(_)) =>
                {
                    return Err(Error::config(
                        "suite",
                        format!("{} holds a {declared} set, not {s}", dir.display()),
                    ));
                }
                Some(s) => s,
                None => declared,
            };
            let shape = first_shape(&disk)?;
            // A set written by `corrupt --limit N` holds the first N test images: compare with those.
            let manifest = match disk.layout() {
                Layout::CifarC(c) => c.manifest.as_ref(),
                Layout::MnistC(m) => m.manifest.as_ref(),
                Layout::ImagenetC(_) => None,
            };
            let test = match manifest {
                Some(m) if m.images < test.len() => test.take(m.images),
                _ => test,
            };
            let clean = (shape == Some((test.height, test.width, test.channels))).then(|| test.clone());
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
        "from": args.from.as_ref().map(|d| d.display().to_string()),
        // Generated sets only: the corruption seed and the images used.
        "seed": args.from.is_none().then_some(args.seed),
        "limit": args.limit,
    });
    CorruptionFile::merge_and_write(&args.run_dir.join(REPORT_FILE), report.clone())?;
    Ok(report)
}

/// Runs `lcr-verify robustness`: evaluates, writes `RUN_DIR/corruption.json`, prints a summary table (or, with
/// `--json`, the report as JSON on stdout and the table on stderr), and returns the report.
pub fn run(args: &RobustnessArgs, loader: &dyn ModelLoader) -> Result<SuiteReport> {
    let report = evaluate(args, loader)?;
    if args.json {
        // Machine-readable output alone on stdout; the table goes to stderr.
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::format(args.run_dir.join(REPORT_FILE), format!("cannot serialise: {e}")))?;
        if !args.quiet {
            eprint!("{}", summary(&report));
        }
        super::emit(text)?;
    } else {
        super::emit(summary(&report).trim_end())?;
    }
    Ok(report)
}

/// The SHA-256 of a run directory's model file, when it has one (stand-in models in tests have none).
pub fn model_digest(run_dir: &Path) -> Option<String> {
    crate::fsio::file_sha256(&crate::run_dir::RunDir::new(run_dir).model()).ok()
}

fn first_shape(disk: &OnDisk) -> Result<Option<(usize, usize, usize)>> {
    Ok(match disk.layout() {
        Layout::CifarC(c) => Some(c.shape),
        Layout::MnistC(_) | Layout::ImagenetC(_) => {
            let cells = disk.cells();
            match cells.first() {
                Some(cell) if cell.images > 0 => {
                    let s = disk.chunk(cell, 0..1)?;
                    Some((s.height, s.width, s.channels))
                }
                _ => None,
            }
        }
    })
}

fn fmt_opt(v: Option<f64>, scale: f64) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v * scale))
}

/// A plain-text table of the report: errors in percent per severity, mean, CE.
pub fn summary(r: &SuiteReport) -> String {
    let mut out = format!("{} on {} ({})\n", r.model, r.suite, r.source);
    out.push_str(&format!("clean error: {}%\n", fmt_opt(r.clean_error, 100.0)));
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
