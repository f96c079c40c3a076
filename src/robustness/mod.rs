//! Robustness evaluation under corruptions: error per corruption and severity, CE / mCE, relative mCE, mPC and
//! rPC ([`metrics`]), for any model that implements [`Classifier`].
//!
//! ```text
//! Source (generated from a clean set, or a CIFAR-10-C / MNIST-C / ImageNet-C directory)
//!   --chunks of images (corrupted in parallel)--> Classifier::predict --> ErrorTable --metrics::score--> Report
//! ```
//!
//! Several models (the one under test and a reference) are evaluated on the very same corrupted chunks, so a
//! CE against a reference model compares like with like.

mod deployed;
pub mod metrics;
mod nearest;
pub mod source;
mod stage;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use self::deployed::{DeployedClassifier, LoadedModel, ModelLoader, load_deployed};
pub use self::metrics::{Baseline, ErrorTable, Scores};
pub use self::nearest::NearestClassMean;
pub use self::source::{Generated, OnDisk, Source};
pub use self::stage::{RobustnessRequest, model_digest, reusable, run};

pub mod shard;

use crate::audit::corruption::{CorruptionAudit, CorruptionAuditReport};
use crate::corrupt::{Corruption, Suite};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::fsio;

/// A model that labels images: a run directory's deployed network ([`DeployedClassifier`]), or for tests
/// [`NearestClassMean`].
pub trait Classifier: Sync {
    /// One predicted class per image of `images` (in order).
    fn predict(&self, images: &ImageSet) -> Result<Vec<u8>>;
    /// One line naming the model (recorded in `corruption.json`).
    fn describe(&self) -> String;
    /// How many classes it tells apart: it predicts `0..classes`, so labels must lie there too.
    fn classes(&self) -> usize;
}

/// One corruption at one severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Corruption name.
    pub corruption: String,
    /// Severity 1–5.
    pub severity: u8,
    /// Images in the cell.
    pub images: usize,
}

/// How the evaluation runs.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Images per chunk (bounded memory; each chunk is corrupted in parallel, then classified).
    pub chunk: usize,
    /// Show a progress bar on standard error.
    pub progress: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { chunk: 2000, progress: false }
    }
}

/// The model's predictions of `set` and how many are wrong.
fn count_errors(model: &dyn Classifier, set: &ImageSet) -> Result<(Vec<u8>, usize)> {
    let predicted = model.predict(set)?;
    if predicted.len() != set.len() {
        return Err(Error::Shape {
            context: format!("predictions of {}", model.describe()),
            expected: vec![set.len()],
            found: vec![predicted.len()],
        });
    }
    let wrong = predicted.iter().zip(&set.labels).filter(|(p, l)| p != l).count();
    Ok((predicted, wrong))
}

/// Evaluates every model on the clean set (if given) and on every cell of `source`, returning one
/// [`ErrorTable`] per model. With an `audit`, every corrupted chunk and the first model's predictions of it are
/// shown to it (image k of a cell corrupts test image k).
pub fn evaluate(
    models: &[&dyn Classifier],
    source: &dyn Source,
    clean: Option<&ImageSet>,
    options: &EvalOptions,
    audit: Option<&mut CorruptionAudit<'_>>,
) -> Result<Vec<ErrorTable>> {
    evaluate_cells(models, source, clean, options, audit, None)
}

/// [`evaluate`] on the cells `only` of `source` (indices into [`Source::cells`], increasing; all when `None`):
/// a shard's share. Every cell is evaluated on its own (a generated cell's images are drawn from the seed, the
/// corruption, the severity and the image index), so a cell gives the same numbers in any share.
pub fn evaluate_cells(
    models: &[&dyn Classifier],
    source: &dyn Source,
    clean: Option<&ImageSet>,
    options: &EvalOptions,
    mut audit: Option<&mut CorruptionAudit<'_>>,
    only: Option<&[usize]>,
) -> Result<Vec<ErrorTable>> {
    let all = source.cells();
    let cells: Vec<&Cell> = match only {
        None => all.iter().collect(),
        Some(ks) => ks.iter().filter_map(|&k| all.get(k)).collect(),
    };
    if let Some(cell) = all.iter().find(|c| c.images == 0) {
        return Err(Error::config(
            "from",
            format!(
                "{}: {} at severity {} holds no images",
                source.describe(),
                cell.corruption,
                cell.severity
            ),
        ));
    }
    let total: usize = cells.iter().map(|c| c.images).sum::<usize>() + clean.map_or(0, ImageSet::len);
    let bar = crate::progress::images(total as u64, options.progress);
    let mut tables = vec![ErrorTable::default(); models.len()];
    let chunk = options.chunk.max(1);
    if let Some(clean) = clean {
        bar.set_message("clean");
        for (t, m) in tables.iter_mut().zip(models) {
            t.clean = Some(count_errors(*m, clean)?.1 as f64 / clean.len().max(1) as f64);
        }
        bar.inc(clean.len() as u64);
    }
    for &cell in &cells {
        bar.set_message(format!("{} s{}", cell.corruption, cell.severity));
        let mut wrong = vec![0usize; models.len()];
        let mut start = 0;
        if let Some(a) = audit.as_deref_mut() {
            a.begin_cell(&cell.corruption, cell.severity);
        }
        while start < cell.images {
            let end = (start + chunk).min(cell.images);
            let set = source.chunk(cell, start..end)?;
            for (k, (w, m)) in wrong.iter_mut().zip(models).enumerate() {
                let (predicted, errors) = count_errors(*m, &set)?;
                *w += errors;
                if let (0, Some(a)) = (k, audit.as_deref_mut()) {
                    a.observe(start, &set, &predicted)?;
                }
            }
            bar.inc((end - start) as u64);
            start = end;
        }
        if let Some(a) = audit.as_deref_mut() {
            a.end_cell();
        }
        for (t, w) in tables.iter_mut().zip(&wrong) {
            let e = *w as f64 / cell.images.max(1) as f64;
            t.errors.entry(cell.corruption.clone()).or_default().insert(cell.severity, e);
        }
    }
    bar.finish_and_clear();
    Ok(tables)
}

/// The corruption audit in `corruption.json`: the report, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditOutcome {
    /// The audit ran.
    Ran(CorruptionAuditReport),
    /// It did not, for this reason.
    NotRun(String),
}

impl AuditOutcome {
    /// The violation records written by the audit (none when it did not run or passed).
    pub fn records(&self) -> &[String] {
        match self {
            AuditOutcome::Ran(r) => &r.violation_records,
            AuditOutcome::NotRun(_) => &[],
        }
    }
}

/// The normalisation used, as recorded in the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// `alexnet`, `reference` or `none`.
    pub kind: String,
    /// The reference model's description (for `reference`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// In words.
    pub note: String,
}

/// The robustness result of one model on one suite (one entry of `corruption.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// The suite.
    pub suite: Suite,
    /// Where the corrupted images came from.
    pub source: String,
    /// The model evaluated.
    pub model: String,
    /// Clean top-1 error, if evaluated.
    pub clean_error: Option<f64>,
    /// Per-corruption scores.
    pub corruptions: Vec<metrics::CorruptionScore>,
    /// Totals over the benchmark corruptions.
    pub totals: metrics::Totals,
    /// What CE is normalised by.
    pub normalisation: Normalisation,
    /// The reference model's raw errors, when one was named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_errors: Option<ErrorTable>,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
    /// The corruption audit of the run's certificates (when the run directory holds `certificates.json` and the
    /// corrupted images are known to be the test images in order), or why it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditOutcome>,
    /// Filled by the caller: run directory, dataset name and checksum, seed of generated corruptions.
    #[serde(default)]
    pub provenance: serde_json::Value,
}

/// The layout of [`CorruptionFile`] this build writes (`format`); files that predate the field read as 1.
pub const CORRUPTION_FORMAT: u32 = 1;

/// `corruption.json`: one report per suite evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionFile {
    /// [`CORRUPTION_FORMAT`] (1 when absent); a later one is refused.
    #[serde(default = "crate::format::first_format")]
    pub format: u32,
    /// `lcr-verify <version>` (a later version is refused).
    pub generator: String,
    /// Suite name → report.
    pub suites: BTreeMap<String, SuiteReport>,
}

impl Default for CorruptionFile {
    fn default() -> Self {
        CorruptionFile { format: CORRUPTION_FORMAT, generator: String::new(), suites: BTreeMap::new() }
    }
}

impl CorruptionFile {
    /// Reads `path` if it exists (a malformed file, or one of a later format or lcr-verify version, is an error,
    /// never silently replaced).
    pub fn read(path: &Path) -> Result<CorruptionFile> {
        if !fsio::exists(path)? {
            return Ok(CorruptionFile::default());
        }
        let bytes = fsio::read(path)?;
        // The format first, so that a later layout is named as such rather than as malformed.
        #[derive(Deserialize)]
        struct Versions {
            #[serde(default = "crate::format::first_format")]
            format: u32,
            #[serde(default)]
            generator: String,
        }
        let v: Versions = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("not a corruption report: {e}")))?;
        crate::format::check_format(path, "corruption report", v.format, CORRUPTION_FORMAT)?;
        crate::format::check_writer(path, "the corruption report", &v.generator)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("not a corruption report: {e}")))
    }

    /// Adds or replaces `report` under its suite and writes the file atomically.
    pub fn merge_and_write(path: &Path, report: SuiteReport) -> Result<CorruptionFile> {
        let mut file = CorruptionFile::read(path)?;
        file.generator = crate::format::GENERATOR.to_string();
        file.format = CORRUPTION_FORMAT;
        file.suites.insert(report.suite.as_str().to_string(), report);
        fsio::write_json_atomic(path, &file)?;
        Ok(file)
    }
}

/// What [`run_suite`] needs.
pub struct SuiteRun<'a> {
    /// The model under test.
    pub model: &'a dyn Classifier,
    /// An optional reference model for CE normalisation.
    pub reference: Option<&'a dyn Classifier>,
    /// The corrupted images.
    pub source: &'a dyn Source,
    /// The suite (decides the benchmark corruptions).
    pub suite: Suite,
    /// The clean set, for clean error, relative mCE and rPC.
    pub clean: Option<&'a ImageSet>,
    /// Normalise by AlexNet's ImageNet-C errors (only meaningful for real ImageNet-C evaluations).
    pub alexnet: bool,
    /// Evaluation options.
    pub options: EvalOptions,
}

/// Evaluates the model (and the reference) and scores the result; an `audit` sees every corrupted chunk (see
/// [`evaluate`]).
pub fn run_suite(run: &SuiteRun<'_>, audit: Option<&mut CorruptionAudit<'_>>) -> Result<SuiteReport> {
    let started = Instant::now();
    let mut models: Vec<&dyn Classifier> = vec![run.model];
    if let Some(r) = run.reference {
        models.push(r);
    }
    let own_clean = match run.clean {
        Some(_) => None,
        None => run.source.clean()?,
    };
    let clean = run.clean.or(own_clean.as_ref());
    let tables = evaluate(&models, run.source, clean, &run.options, audit)?;
    Ok(score_suite(run, &tables, started.elapsed().as_secs_f64()))
}

/// The clean set [`run_suite`] evaluates: the given one, else the source's own (if any).
pub fn suite_clean(run: &SuiteRun<'_>) -> Result<Option<ImageSet>> {
    match run.clean {
        Some(c) => Ok(Some(c.clone())),
        None => run.source.clean(),
    }
}

/// The report of `tables` (the model's, then the reference's), with `seconds` as the evaluation's time.
pub fn score_suite(run: &SuiteRun<'_>, tables: &[ErrorTable], seconds: f64) -> SuiteReport {
    let benchmark: Vec<&str> = run.suite.benchmark().iter().map(|c| c.as_str()).collect();
    let (baseline, normalisation) = match (run.reference, run.alexnet) {
        (Some(r), _) => (
            Some(Baseline::Reference { name: r.describe(), errors: tables[1].clone() }),
            Normalisation {
                kind: "reference".into(),
                reference: Some(r.describe()),
                note: "CE = sum over severities of this model's error / the reference model's, on the same corrupted images".into(),
            },
        ),
        (None, true) => (
            Some(Baseline::AlexNet),
            Normalisation {
                kind: "alexnet".into(),
                reference: None,
                note: format!(
                    "ImageNet-C protocol: CE normalised by AlexNet's published errors; relative CE uses AlexNet clean error {}",
                    metrics::ALEXNET_CLEAN_ERROR
                ),
            },
        ),
        (None, false) => (
            None,
            Normalisation {
                kind: "none".into(),
                reference: None,
                note: "no baseline: AlexNet's table applies only to ImageNet-C; name a reference model (--reference RUN_DIR) for CE/mCE. mean_error is the unnormalised mean over corruptions and severities".into(),
            },
        ),
    };
    let scores = metrics::score(&tables[0], &benchmark, baseline.as_ref());
    SuiteReport {
        suite: run.suite,
        source: run.source.describe(),
        model: run.model.describe(),
        clean_error: tables[0].clean,
        corruptions: scores.corruptions,
        totals: scores.totals,
        normalisation,
        reference_errors: run.reference.map(|_| tables[1].clone()),
        seconds,
        audit: None,
        provenance: serde_json::Value::Null,
    }
}

/// Whether `name` is one of the suite's benchmark corruptions.
pub fn is_benchmark(suite: Suite, name: &str) -> bool {
    name.parse::<Corruption>().is_ok_and(|c| suite.benchmark().contains(&c))
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
    match &r.audit {
        Some(AuditOutcome::Ran(a)) => {
            out.push_str(&format!("corruption audit over {} certified samples:\n", a.samples));
            for (c, k) in a.checks.iter().zip(&a.correlation) {
                let inside: Vec<f64> = a
                    .cells
                    .iter()
                    .filter(|x| x.function == c.function && x.norm == c.norm)
                    .map(|x| x.inside_fraction)
                    .collect();
                let mean_inside = inside.iter().sum::<f64>() / inside.len().max(1) as f64;
                out.push_str(&format!(
                    "  {} {}: {} images inside a certified ball ({:.2}% on average), {} violations; Spearman(radius, kept) {}\n",
                    c.function.name(),
                    c.norm.name(),
                    c.checked,
                    100.0 * mean_inside,
                    c.violations,
                    k.spearman.map_or("-".to_string(), |v| format!("{v:.3}"))
                ));
            }
        }
        Some(AuditOutcome::NotRun(why)) => out.push_str(&format!("corruption audit not run: {why}\n")),
        None => {}
    }
    out
}
