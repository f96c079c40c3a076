//! The report's tables as a model every renderer reads: rows of cells, each number with its function, its
//! soundness, its per-seed values and the direction it is rounded in.
//!
//! [`Table::layout`] decides once, for every renderer but CSV and JSON (which carry the labels on every number),
//! where the labels go: in the column header when a column's numbers share them, in two `function` and
//! `soundness` columns when each row's numbers share them, otherwise beside each number. No number is printed
//! without its labels.

use serde::Serialize;

use super::number::{self, Precision, Rounding};
use super::stats::{Difference, Summary};
use crate::ir::Function;

/// How far a figure of the report can be trusted: the three labels of the bounds, and two for what is neither
/// proven nor a heuristic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Soundness {
    /// Proven (an upper bound on a Lipschitz constant, a radius every input within keeps its label, an accuracy
    /// every counted image is proven to keep), computed with outward rounding and printed rounded the safe way.
    Certified,
    /// A proven lower bound (sampled gradients, the normalised retention proxy).
    Lower,
    /// Neither: a heuristic or a ratio of figures (the retention proxies, tightness ratios).
    Estimate,
    /// Counted exactly on the images or epochs evaluated (accuracy, error, time, audit counts).
    Measured,
    /// From confirmed adversarial examples: the true value is at most this (an empirical radius bounds the
    /// minimal perturbation from above; robust accuracy under attack bounds the true robust accuracy from
    /// above).
    Empirical,
}

impl Soundness {
    /// The name used in every format.
    pub fn name(self) -> &'static str {
        match self {
            Soundness::Certified => "certified",
            Soundness::Lower => "lower",
            Soundness::Estimate => "estimate",
            Soundness::Measured => "measured",
            Soundness::Empirical => "empirical",
        }
    }
}

impl From<crate::bounds::Soundness> for Soundness {
    fn from(s: crate::bounds::Soundness) -> Self {
        match s {
            crate::bounds::Soundness::Certified => Soundness::Certified,
            crate::bounds::Soundness::Lower => Soundness::Lower,
            crate::bounds::Soundness::Estimate => Soundness::Estimate,
        }
    }
}

/// How a figure is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Style {
    /// A fraction printed in percent (the header names the unit).
    pub percent: bool,
    /// Digits printed.
    pub precision: Precision,
    /// The rounding direction that keeps the printed digits as true as the value.
    pub rounding: Rounding,
    /// A fraction of counts (see [`number::format`]).
    pub count: bool,
}

impl Style {
    /// A fraction of counts in percent with `decimals` decimals.
    pub const fn percent(decimals: usize, rounding: Rounding) -> Style {
        Style { percent: true, precision: Precision::Decimals(decimals), rounding, count: true }
    }

    /// A value with `digits` significant digits.
    pub const fn sig(digits: usize, rounding: Rounding) -> Style {
        Style { percent: false, precision: Precision::Significant(digits), rounding, count: false }
    }

    /// A value with `decimals` decimals.
    pub const fn fixed(decimals: usize, rounding: Rounding) -> Style {
        Style { percent: false, precision: Precision::Decimals(decimals), rounding, count: false }
    }

    /// `v` as text.
    pub fn text(&self, v: f64) -> String {
        self.text_rounded(v, self.rounding)
    }

    /// `v` as text, rounded to the nearest (spreads and differences, which bound nothing).
    pub fn text_nearest(&self, v: f64) -> String {
        self.text_rounded(v, Rounding::Nearest)
    }

    fn text_rounded(&self, v: f64, rounding: Rounding) -> String {
        number::format(v, if self.percent { 2 } else { 0 }, self.precision, rounding, self.count)
    }
}

/// A number with its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// The per-seed values.
    pub summary: Summary,
    /// How it is printed.
    pub style: Style,
    /// The function it is about, when it is about one.
    pub function: Option<Function>,
    /// How far it can be trusted.
    pub soundness: Soundness,
}

impl Number {
    /// `mean ± sd (v1, v2, …)`; `v (n=1)` for one seed; `-` for none.
    pub fn text(&self) -> String {
        let s = &self.style;
        match (self.summary.n(), self.summary.mean(), self.summary.sd()) {
            (0, ..) | (_, None, _) => "-".into(),
            (1, Some(m), _) => format!("{} (n=1)", s.text(m)),
            (_, Some(m), sd) => {
                let each: Vec<String> = self.summary.values.iter().map(|v| s.text(v.value)).collect();
                let sd = sd.map_or_else(|| "?".to_string(), |v| s.text_nearest(v));
                format!("{} ± {sd} ({})", s.text(m), each.join(", "))
            }
        }
    }

    /// The labels as one phrase: `surrogate · certified`, or `certified` alone.
    pub fn labels(&self) -> String {
        label_text(self.function, self.soundness)
    }
}

/// `function · soundness`, or the soundness alone.
pub fn label_text(function: Option<Function>, soundness: Soundness) -> String {
    match function {
        Some(f) => format!("{} · {}", f.name(), soundness.name()),
        None => soundness.name().to_string(),
    }
}

/// A treatment-minus-baseline difference of figures with the same labels.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffCell {
    /// The difference.
    pub diff: Difference,
    /// How the compared figures are printed (the difference is rounded to the nearest).
    pub style: Style,
    /// The function of the compared figures.
    pub function: Option<Function>,
    /// Their soundness (the difference itself bounds nothing).
    pub soundness: Soundness,
}

impl DiffCell {
    /// `+0.50 (spread 0.20, 3 paired seeds)`.
    pub fn text(&self) -> String {
        let d = &self.diff;
        let s = &self.style;
        let sign = if d.mean > 0.0 { "+" } else { "" };
        let mean = format!("{sign}{}", s.text_nearest(d.mean));
        let pairing = if d.paired {
            format!("{} paired seed{}", d.n, if d.n == 1 { "" } else { "s" })
        } else {
            "unpaired".into()
        };
        match d.spread {
            Some(sp) => format!("{mean} (spread {}, {pairing})", s.text_nearest(sp)),
            None => format!("{mean} ({pairing})"),
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Words: a name, a method, a statement.
    Text(String),
    /// A figure over seeds.
    Number(Number),
    /// A difference between configurations.
    Diff(DiffCell),
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// The labels of a number or difference.
    pub fn labels(&self) -> Option<(Option<Function>, Soundness)> {
        match self {
            Cell::Text(_) => None,
            Cell::Number(n) => Some((n.function, n.soundness)),
            Cell::Diff(d) => Some((d.function, d.soundness)),
        }
    }

    /// The cell's text without labels.
    pub fn bare_text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.text(),
            Cell::Diff(d) => d.text(),
        }
    }
}

/// A table of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// A stable identifier (file names, anchors, CSV).
    pub id: String,
    /// The caption.
    pub title: String,
    /// How to read it, in a few sentences.
    pub note: String,
    /// Column headers (units included).
    pub columns: Vec<String>,
    /// Rows of cells, as many as there are columns.
    pub rows: Vec<Vec<Cell>>,
}

/// Where one kind of label (the function, or the soundness) of a column goes.
#[derive(Clone, Debug, PartialEq)]
enum Placement {
    /// Not a number column, or a column of numbers without that label.
    None,
    /// In the header: every number of the column shares it.
    Header(String),
    /// In the row's label column: every number of each row shares it.
    Row,
    /// Beside each number.
    Inline,
}

/// A table laid out as text: headers and rows of strings, numbers flagged for right alignment.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Headers, label columns included.
    pub headers: Vec<String>,
    /// Whether each column holds numbers.
    pub numeric: Vec<bool>,
    /// Rows of text.
    pub rows: Vec<Vec<String>>,
}

/// One kind of label of a cell: its function's name (`None` without one) or its soundness.
type Pick = fn(&Cell) -> Option<Option<&'static str>>;

fn pick_function(c: &Cell) -> Option<Option<&'static str>> {
    c.labels().map(|l| l.0.map(Function::name))
}

fn pick_soundness(c: &Cell) -> Option<Option<&'static str>> {
    c.labels().map(|l| Some(l.1.name()))
}

impl Table {
    /// Where `pick`'s label goes in each column.
    fn placements(&self, pick: Pick) -> Vec<Placement> {
        let row_uniform = self.rows.iter().all(|r| {
            let mut l = r.iter().filter_map(pick);
            l.next().is_none_or(|first| l.all(|x| x == first))
        });
        (0..self.columns.len())
            .map(|c| {
                let labels: Vec<_> = self.rows.iter().filter_map(|r| r.get(c).and_then(pick)).collect();
                match labels.first() {
                    None | Some(None) if labels.iter().all(Option::is_none) => Placement::None,
                    Some(Some(first)) if labels.iter().all(|l| *l == Some(*first)) => {
                        Placement::Header(first.to_string())
                    }
                    _ if row_uniform => Placement::Row,
                    _ => Placement::Inline,
                }
            })
            .collect()
    }

    /// The table as text, every number with its labels (see the module documentation).
    pub fn layout(&self) -> Layout {
        let picks: [(&str, Pick); 2] = [("function", pick_function), ("soundness", pick_soundness)];
        let places: Vec<Vec<Placement>> = picks.iter().map(|(_, p)| self.placements(*p)).collect();
        let label_cols: Vec<bool> = places.iter().map(|p| p.contains(&Placement::Row)).collect();
        // Label columns go right after the leading text columns (the row's names).
        let lead =
            self.rows.first().map_or(0, |r| r.iter().take_while(|c| matches!(c, Cell::Text(_))).count());
        let lead = lead.min(self.columns.len().saturating_sub(1));
        let mut headers = Vec::new();
        let mut numeric = Vec::new();
        for (c, h) in self.columns.iter().enumerate() {
            if c == lead {
                for (k, (name, _)) in picks.iter().enumerate() {
                    if label_cols[k] {
                        headers.push(name.to_string());
                        numeric.push(false);
                    }
                }
            }
            let tags: Vec<&str> = places
                .iter()
                .filter_map(|p| match &p[c] {
                    Placement::Header(l) => Some(l.as_str()),
                    _ => None,
                })
                .collect();
            headers.push(if tags.is_empty() { h.clone() } else { format!("{h} [{}]", tags.join(" · ")) });
            numeric.push(self.rows.iter().any(|r| r.get(c).and_then(Cell::labels).is_some()));
        }
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                for (c, cell) in r.iter().enumerate() {
                    if c == lead {
                        for (k, (_, pick)) in picks.iter().enumerate() {
                            if label_cols[k] {
                                let l = r.iter().find_map(pick).flatten();
                                out.push(l.unwrap_or("-").to_string());
                            }
                        }
                    }
                    let tags: Vec<&str> = picks
                        .iter()
                        .zip(&places)
                        .filter(|(_, p)| p[c] == Placement::Inline)
                        .filter_map(|((_, pick), _)| pick(cell).flatten())
                        .collect();
                    let text = cell.bare_text();
                    out.push(if tags.is_empty() { text } else { format!("{text} [{}]", tags.join(" · ")) });
                }
                out
            })
            .collect();
        Layout { headers, numeric, rows }
    }
}
