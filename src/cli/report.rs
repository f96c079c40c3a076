//! `lcr-verify report`: tables and plots over any set of run directories ([`crate::report::run`]).

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use super::choice::{Choice, parser};
use crate::error::Result;
use crate::report::{Format, ReportRequest};

/// Flags of `lcr-verify report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories, in any order; runs whose configurations differ only in the seed are summarised together.
    #[arg(required = true)]
    pub run_dirs: Vec<PathBuf>,
    /// Formats to write, comma-separated (default: all; md brings the SVG plots it links).
    #[arg(long, value_delimiter = ',', value_parser = parser::<Format>())]
    pub format: Vec<Format>,
    /// Output directory (default: `report/` beside the first run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Choice for Format {
    fn all() -> &'static [Self] {
        &Format::ALL
    }
    fn name(self) -> &'static str {
        Format::name(self)
    }
    fn help(self) -> &'static str {
        match self {
            Format::Md => "report.md, for reading (plots linked from plots/)",
            Format::Csv => "report.csv, one line per number with its labels and exact values",
            Format::Json => "report.json, the whole report with exact values",
            Format::Tex => "report.tex, booktabs tables for papers",
            Format::Html => "report.html, one self-contained page with the plots inline",
            Format::Svg => "plots/*.svg",
        }
    }
}

/// Runs `lcr-verify report`: writes the files and names them on standard output.
pub fn run(args: &ReportArgs) -> Result<Outcome> {
    let req =
        ReportRequest { runs: args.run_dirs.clone(), formats: args.format.clone(), out: args.out.clone() };
    let outcome = crate::report::run(&req)?;
    for f in &outcome.files {
        super::emit(f.display())?;
    }
    Ok(Outcome::Success)
}
