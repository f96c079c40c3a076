//! A figure of a run (read from its files) with its labels, summarised over a group's seeds; the headline
//! figures are also compared between configurations.

use super::collect::RunData;
use super::group::Group;
use super::stats::{SeedValue, Summary};
use super::table::{Cell, Number, Soundness, Style};
use crate::ir::Function;

/// How a run's value of a figure is read from its files (`None` when the run lacks it).
pub type Read = Box<dyn Fn(&RunData) -> Option<f64>>;

/// One figure: its name, labels, print style and how each run gives it.
pub struct Metric {
    /// What it is, with its unit.
    pub name: String,
    /// The function it is about.
    pub function: Option<Function>,
    /// How far it can be trusted.
    pub soundness: Soundness,
    /// How it is printed.
    pub style: Style,
    read: Read,
}

impl Metric {
    /// A figure read from each run by `read`.
    pub fn new(
        name: impl Into<String>,
        function: Option<Function>,
        soundness: Soundness,
        style: Style,
        read: impl Fn(&RunData) -> Option<f64> + 'static,
    ) -> Metric {
        Metric { name: name.into(), function, soundness, style, read: Box::new(read) }
    }

    /// The value of one run.
    pub fn value(&self, run: &RunData) -> Option<f64> {
        (self.read)(run)
    }

    /// The values of a group's runs that have it.
    pub fn summary(&self, group: &Group) -> Summary {
        Summary::new(
            group
                .runs
                .iter()
                .filter_map(|r| self.value(r).map(|value| SeedValue { seed: r.seed(), value }))
                .collect(),
        )
    }

    /// The group's figure as a cell.
    pub fn cell(&self, group: &Group) -> Cell {
        Cell::Number(Number {
            summary: self.summary(group),
            style: self.style,
            function: self.function,
            soundness: self.soundness,
        })
    }
}

/// Which runs hold a stage's file.
pub struct Coverage {
    /// Runs with the file.
    pub present: usize,
    /// The other runs: directory and status (`not run`, `stale`).
    pub missing: Vec<String>,
}

impl Coverage {
    /// Counts the runs of `groups` by the status `status` gives them (`yes` when the file is there).
    pub fn of(groups: &[Group], status: impl Fn(&RunData) -> &'static str) -> Coverage {
        let mut c = Coverage { present: 0, missing: Vec::new() };
        for r in groups.iter().flat_map(|g| g.runs.iter()) {
            match status(r) {
                "yes" => c.present += 1,
                other => c.missing.push(format!("{} ({other})", r.name)),
            }
        }
        c
    }

    /// A sentence naming the runs without the file, or nothing.
    pub fn note(&self, file: &str) -> String {
        if self.missing.is_empty() {
            String::new()
        } else {
            format!(
                " Runs without a current {file} are left out of these figures: {}.",
                self.missing.join(", ")
            )
        }
    }
}
