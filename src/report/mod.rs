//! `report`: tables and plots over any set of run directories, in Markdown, CSV, JSON, LaTeX, one
//! self-contained HTML page, and SVG.
//!
//! ```text
//! RUN_DIR... --collect--> RunData (config, metrics, and each stage's file when it ran)
//!            --group (config minus seed)--> Group --sections--> Table (cells with labels) + Plot (Chart)
//!            --renderers--> report.{md,csv,json,tex,html} + plots/*.svg
//! ```
//!
//! Runs whose configurations agree on every key but the seed form a group; each figure is given as the mean ±
//! sample standard deviation over the group's seeds with every per-seed value, and each regularised group is
//! compared with its baseline (λ = 0). Every number carries the function it is about and how far it can be
//! trusted ([`table::Soundness`]), and is printed rounded the way that keeps it true ([`number`]). The output
//! depends on the run files alone: no clock, no absolute path of the report's own directory, stable order,
//! fixed precision, so a re-run writes the same bytes.
//!
//! The library call is [`run`] with a [`ReportRequest`]; [`build`] and [`render`] are its two halves.

mod accuracy;
mod bounds;
pub mod chart;
pub mod collect;
mod compare;
mod corruption;
mod csv;
pub mod group;
mod html;
mod json;
mod latex;
mod markdown;
pub mod metric;
pub mod number;
mod radii;
pub mod stats;
pub mod svg;
pub mod table;
mod training;

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::chart::Chart;
use self::collect::RunData;
use self::group::Group;
use self::table::{Cell, Table};
use crate::error::{Error, Result};
use crate::fsio;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `report.md`, for reading (plots linked from `plots/`).
    Md,
    /// `report.csv`: one row per number, for tools.
    Csv,
    /// `report.json`: the whole report with exact values, for tools.
    Json,
    /// `report.tex`: booktabs tables, for papers.
    Tex,
    /// `report.html`: one self-contained page, plots inline.
    Html,
    /// `plots/*.svg`.
    Svg,
}

impl Format {
    /// Every format, in the order they are written.
    pub const ALL: [Format; 6] =
        [Format::Md, Format::Csv, Format::Json, Format::Tex, Format::Html, Format::Svg];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Tex => "tex",
            Format::Html => "html",
            Format::Svg => "svg",
        }
    }
}

/// What [`run`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRequest {
    /// The run directories, in any order.
    pub runs: Vec<PathBuf>,
    /// The formats to write (empty: all; Markdown brings its SVG plots along).
    pub formats: Vec<Format>,
    /// The output directory (default: [`default_out`]).
    pub out: Option<PathBuf>,
}

/// A plot: a chart with its title and how to read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// File stem under `plots/`, unique in the report.
    pub id: String,
    /// The title drawn on it.
    pub title: String,
    /// How to read it, with the labels of what it shows.
    pub caption: String,
    /// The chart.
    pub chart: Chart,
}

impl Plot {
    /// The SVG text.
    pub fn svg(&self) -> String {
        chart::render(&self.chart, &self.id, &self.title)
    }
}

/// One section of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// A stable identifier (anchors, CSV).
    pub id: String,
    /// The heading.
    pub title: String,
    /// A paragraph before the tables (may be empty).
    pub intro: String,
    /// Why the section has no figures ("not run: …"), when it has none.
    pub not_run: Option<String>,
    /// The tables.
    pub tables: Vec<Table>,
    /// The plots.
    pub plots: Vec<Plot>,
}

impl Section {
    /// A section with no figures, saying why.
    pub fn not_run(id: &str, title: &str, why: String) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            intro: String::new(),
            not_run: Some(why),
            tables: vec![],
            plots: vec![],
        }
    }
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The title.
    pub title: String,
    /// `lcr-verify <version>`.
    pub generator: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// Columns that hold wall-clock times: they differ between two runs of the same computation.
pub const WALL_CLOCK_COLUMNS: [&str; 2] = ["training time (s)", "epoch time (s)"];

impl Report {
    /// The same report without its wall-clock columns ([`WALL_CLOCK_COLUMNS`]): what is left depends on the
    /// computed results alone, so an interrupted and resumed study writes the same bytes as one run straight
    /// through.
    pub fn without_wall_clock(mut self) -> Report {
        let wall_clock = |c: &Cell| matches!(c, Cell::Text(t) if WALL_CLOCK_COLUMNS.contains(&t.as_str()));
        for t in self.sections.iter_mut().flat_map(|s| s.tables.iter_mut()) {
            // Rows named by a wall-clock figure (the comparisons list one figure per row).
            t.rows.retain(|row| !row.iter().any(wall_clock));
            let keep: Vec<bool> =
                t.columns.iter().map(|c| !WALL_CLOCK_COLUMNS.contains(&c.as_str())).collect();
            if keep.iter().all(|&k| k) {
                continue;
            }
            let mut k = keep.iter();
            t.columns.retain(|_| *k.next().unwrap_or(&true));
            for row in &mut t.rows {
                let mut k = keep.iter();
                row.retain(|_| *k.next().unwrap_or(&true));
            }
            t.note.push_str(" Wall-clock times are left out of this report (they differ from run to run).");
        }
        self
    }

    /// Every plot, in section order.
    pub fn plots(&self) -> impl Iterator<Item = &Plot> {
        self.sections.iter().flat_map(|s| s.plots.iter())
    }
}

/// What the labels mean, for every format's legend.
pub const LEGEND: &str = "Every number is labelled with the function it is about (deployed: the binary network \
as it runs; surrogate: the same weights with hardtanh for sign; latent: the real latent weights with hardtanh) and \
how far it can be trusted: certified (proven, and printed rounded the safe way: upper bounds up, radii and \
accuracies down), lower (a proven lower bound, printed rounded down), estimate (neither: a heuristic or a ratio), \
measured (counted exactly on the images or epochs evaluated), empirical (from confirmed adversarial examples: the \
true value is at most this, printed rounded up). A figure over several seeds reads `mean ± sd (value of each \
seed, in seed order)` with the sample standard deviation (n − 1); one seed reads `value (n=1)`. Radii and ε are \
in pixel units (p/255).";

/// The report of `runs` (read with [`collect::collect`]).
pub fn build(runs: Vec<RunData>) -> Result<Report> {
    if runs.is_empty() {
        return Err(Error::config("RUN_DIR", "no run directory given"));
    }
    let groups = group::group(runs)?;
    let comparisons = group::comparisons(&groups);
    let mut sections = vec![runs_section(&groups)];
    sections.push(training::section(&groups));
    sections.push(bounds::section(&groups));
    sections.push(accuracy::section(&groups));
    sections.push(radii::section(&groups));
    sections.extend(corruption::sections(&groups));
    sections.push(compare::section(&groups, &comparisons));
    Ok(Report {
        title: "lcr-verify report".into(),
        generator: concat!("lcr-verify ", env!("CARGO_PKG_VERSION")).into(),
        sections,
    })
}

fn runs_section(groups: &[Group]) -> Section {
    let mut rows = Vec::new();
    for g in groups {
        for r in &g.runs {
            let c = &r.config;
            rows.push(vec![
                Cell::text(&g.label),
                Cell::text(r.seed().to_string()),
                Cell::text(&r.name),
                Cell::text(format!("{} {} {:?}", c.dataset.name(), c.arch.name(), c.widths)),
                Cell::text(c.lcr_weight.to_string()),
                Cell::text(match &r.metrics.final_ {
                    Some(_) => format!("{} epochs", r.metrics.epochs.len()),
                    None => format!("unfinished ({} epochs)", r.metrics.epochs.len()),
                }),
                Cell::text(r.bounds.status()),
                Cell::text(r.certificates.status()),
                Cell::text(r.empirical.status()),
                Cell::text(r.corruption.status()),
            ]);
        }
    }
    let table = Table {
        id: "runs".into(),
        title: "Run directories".into(),
        note: "Runs whose config.toml agree on every key but the seed form one configuration, named by the keys \
               in which the configurations differ. A stage's file is `stale` when it is about another model file \
               than the run's model.safetensors (its recorded SHA-256 differs): its figures are left out."
            .into(),
        columns: ["configuration", "seed", "run directory", "network", "λ", "training", "bounds", "certificates",
            "attacks", "corruptions"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    Section {
        id: "runs".into(),
        title: "Runs".into(),
        intro: LEGEND.into(),
        not_run: None,
        tables: vec![table],
        plots: vec![],
    }
}

/// The files of `report` in `format`: (path relative to the output directory, contents).
pub fn render(report: &Report, format: Format) -> Vec<(PathBuf, String)> {
    match format {
        Format::Md => vec![("report.md".into(), markdown::render(report))],
        Format::Csv => vec![("report.csv".into(), csv::render(report))],
        Format::Json => vec![("report.json".into(), json::render(report))],
        Format::Tex => vec![("report.tex".into(), latex::render(report))],
        Format::Html => vec![("report.html".into(), html::render(report))],
        Format::Svg => {
            report.plots().map(|p| (PathBuf::from(format!("plots/{}.svg", p.id)), p.svg())).collect()
        }
    }
}

/// The default output directory: `report/` beside the first run directory (in its parent).
pub fn default_out(runs: &[PathBuf]) -> PathBuf {
    let parent = runs.first().and_then(|r| absolute(r).parent().map(Path::to_path_buf));
    parent.unwrap_or_else(|| PathBuf::from(".")).join("report")
}

/// What [`run`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOutcome {
    /// The output directory.
    pub out: PathBuf,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// Reads the run directories, builds the report and writes each requested format into the output directory
/// (each file atomically). Run directories are named in the report by their path relative to the output
/// directory, so the report does not depend on where the study lies.
pub fn run(req: &ReportRequest) -> Result<ReportOutcome> {
    let out = req.out.clone().unwrap_or_else(|| default_out(&req.runs));
    let report = build(collect_named(&req.runs, &out)?)?;
    write(&report, &req.formats, &out)
}

/// Reads the run directories and names each by its path relative to `out`, the report's directory.
pub fn collect_named(dirs: &[PathBuf], out: &Path) -> Result<Vec<RunData>> {
    let mut runs = collect::collect(dirs)?;
    for r in &mut runs {
        r.name = relative(&absolute(&r.dir), &absolute(out)).display().to_string();
    }
    Ok(runs)
}

/// Writes `report` in each of `formats` (empty: all; Markdown brings its SVG plots along) into `out`, each
/// file atomically.
pub fn write(report: &Report, formats: &[Format], out: &Path) -> Result<ReportOutcome> {
    let mut formats: Vec<Format> = if formats.is_empty() { Format::ALL.to_vec() } else { formats.to_vec() };
    // The Markdown links its plots, so they come with it.
    if formats.contains(&Format::Md) && !formats.contains(&Format::Svg) {
        formats.push(Format::Svg);
    }
    formats.sort();
    formats.dedup();
    let mut files = Vec::new();
    for f in formats {
        for (rel, text) in render(report, f) {
            let path = out.join(&rel);
            if let Some(dir) = path.parent() {
                fsio::ensure_dir(dir)?;
            }
            fsio::write_atomic(&path, text.as_bytes())?;
            files.push(path);
        }
    }
    Ok(ReportOutcome { out: out.to_path_buf(), files })
}

/// `p` made absolute against the current directory and with `.` and `..` resolved lexically.
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path of `to` relative to the directory `from` (both absolute).
fn relative(to: &Path, from: &Path) -> PathBuf {
    let (a, b): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        let r = relative(Path::new("/a/b/runs/s1"), Path::new("/a/b/report"));
        assert_eq!(r, PathBuf::from("../runs/s1"));
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), PathBuf::from("."));
        assert_eq!(absolute(Path::new("/x/./y/../z")), PathBuf::from("/x/z"));
    }
}
