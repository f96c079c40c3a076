//! The training section: clean deployed accuracy, epochs, time and the LCR term, per configuration, and the
//! epoch-by-epoch trajectory with its curves.

use super::chart::{Chart, Series, XyChart};
use super::collect::RunData;
use super::group::Group;
use super::metric::Metric;
use super::number::Rounding::Nearest;
use super::stats::{SeedValue, Summary};
use super::table::{Cell, Number, Soundness, Style, Table};
use super::{Plot, Section};
use crate::ir::Function;
use crate::train::EpochMetrics;

/// The headline figures of training.
pub fn headlines() -> Vec<Metric> {
    vec![
        Metric::new(
            "clean accuracy (%)",
            Some(Function::Deployed),
            Soundness::Measured,
            Style::percent(2, Nearest),
            |r: &RunData| r.metrics.final_.as_ref().map(|f| f.test_accuracy),
        ),
        Metric::new(
            "latent test accuracy, BatchNorm refitted (%)",
            Some(Function::Latent),
            Soundness::Measured,
            Style::percent(2, Nearest),
            |r: &RunData| {
                let note = &r.bounds.get()?.meta["latent_function"];
                note["test_accuracy"].as_f64()
            },
        ),
        Metric::new("epochs", None, Soundness::Measured, Style::fixed(0, Nearest), |r: &RunData| {
            Some(r.metrics.epochs.len() as f64)
        }),
        Metric::new(
            "training time (s)",
            None,
            Soundness::Measured,
            Style::fixed(1, Nearest),
            |r: &RunData| r.metrics.final_.as_ref().map(|f| f.seconds),
        ),
        Metric::new(
            "LCR term, first epoch",
            Some(Function::Deployed),
            Soundness::Estimate,
            Style::sig(4, Nearest),
            |r: &RunData| r.metrics.epochs.first().map(|e| e.lcr_eval),
        ),
        Metric::new(
            "LCR term, last epoch",
            Some(Function::Deployed),
            Soundness::Estimate,
            Style::sig(4, Nearest),
            |r: &RunData| r.metrics.epochs.last().map(|e| e.lcr_eval),
        ),
    ]
}

type EpochRead = fn(&EpochMetrics) -> Option<f64>;

/// The per-epoch figures: name, function, soundness, style, reader.
fn epoch_figures() -> Vec<(&'static str, Option<Function>, Soundness, Style, EpochRead)> {
    vec![
        ("training CE", None, Soundness::Measured, Style::sig(4, Nearest), |e| Some(e.ce)),
        ("LCR term in training", None, Soundness::Estimate, Style::sig(4, Nearest), |e| e.lcr),
        (
            "LCR term (test batch)",
            Some(Function::Deployed),
            Soundness::Estimate,
            Style::sig(4, Nearest),
            |e| Some(e.lcr_eval),
        ),
        (
            "test accuracy (%)",
            Some(Function::Deployed),
            Soundness::Measured,
            Style::percent(2, Nearest),
            |e| Some(e.test_accuracy),
        ),
        ("epoch time (s)", None, Soundness::Measured, Style::fixed(1, Nearest), |e| Some(e.seconds)),
    ]
}

fn epoch_summary(g: &Group, epoch: usize, read: EpochRead) -> Summary {
    Summary::new(
        g.runs
            .iter()
            .filter_map(|r| {
                let e = r.metrics.epochs.iter().find(|e| e.epoch == epoch)?;
                read(e).map(|value| SeedValue { seed: r.seed(), value })
            })
            .collect(),
    )
}

fn max_epoch(g: &Group) -> usize {
    g.runs.iter().flat_map(|r| r.metrics.epochs.iter().map(|e| e.epoch)).max().unwrap_or(0)
}

/// The training section.
pub fn section(groups: &[Group]) -> Section {
    let heads = headlines();
    let mut columns = vec!["configuration".to_string(), "seeds".to_string()];
    columns.extend(heads.iter().map(|m| m.name.clone()));
    let rows = groups
        .iter()
        .map(|g| {
            let mut row = vec![Cell::text(&g.label), Cell::text(seeds(g))];
            row.extend(heads.iter().map(|m| m.cell(g)));
            row
        })
        .collect();
    let summary = Table {
        id: "training".into(),
        title: "Training summary".into(),
        note: "Clean accuracy is the deployed network's (binary weights, sign activations, BatchNorm in eval \
               mode) on the whole test split after the last epoch, counted exactly. The LCR term is the \
               regulariser's retention-matrix proxy on the first test batch in eval mode, computed for every \
               run (λ = 0 too) so the configurations can be compared; it is an estimate, not a bound. Time is \
               wall-clock training time over all sessions of the run."
            .into(),
        columns,
        rows,
    };
    let figures = epoch_figures();
    let mut columns = vec!["configuration".to_string(), "epoch".to_string()];
    columns.extend(figures.iter().map(|f| f.0.to_string()));
    let mut rows = Vec::new();
    for g in groups {
        for epoch in 1..=max_epoch(g) {
            let mut row = vec![Cell::text(&g.label), Cell::text(epoch.to_string())];
            row.extend(figures.iter().map(|(_, function, soundness, style, read)| {
                Cell::Number(Number {
                    summary: epoch_summary(g, epoch, *read),
                    style: *style,
                    function: *function,
                    soundness: *soundness,
                })
            }));
            rows.push(row);
        }
    }
    let trajectory = Table {
        id: "training-epochs".into(),
        title: "Training, epoch by epoch".into(),
        note: "Training CE and the LCR term in training are means over the epoch's training batches in train \
               mode (BatchNorm with batch statistics: no deployed function); the LCR term in training is absent \
               (-) when λ = 0, since it is not computed then. The test columns are the deployed network's after \
               the epoch."
            .into(),
        columns,
        rows,
    };
    let plots = figures
        .iter()
        .filter(|f| matches!(f.0, "test accuracy (%)" | "LCR term (test batch)" | "training CE"))
        .map(|(name, function, soundness, style, read)| {
            curve(groups, name, *function, *soundness, style, *read)
        })
        .collect();
    Section {
        id: "training".into(),
        title: "Training summary".into(),
        intro: String::new(),
        not_run: None,
        tables: vec![summary, trajectory],
        plots,
    }
}

/// "1, 2, 3".
pub fn seeds(g: &Group) -> String {
    g.runs.iter().map(|r| r.seed().to_string()).collect::<Vec<_>>().join(", ")
}

fn curve(
    groups: &[Group],
    name: &str,
    function: Option<Function>,
    soundness: Soundness,
    style: &Style,
    read: EpochRead,
) -> Plot {
    let scale = if style.percent { 100.0 } else { 1.0 };
    let series = groups
        .iter()
        .enumerate()
        .map(|(k, g)| Series {
            name: g.label.clone(),
            points: (1..=max_epoch(g))
                .filter_map(|e| epoch_summary(g, e, read).mean().map(|m| (e as f64, m * scale)))
                .collect(),
            colour: k,
            dashed: false,
        })
        .collect();
    let labels = super::table::label_text(function, soundness);
    let slug = super::group::slugify(name.split(" (").next().unwrap_or(name));
    Plot {
        id: if slug.starts_with("training") { slug } else { format!("training-{slug}") },
        title: format!("{name} by epoch"),
        caption: format!(
            "{name} [{labels}] after each epoch, the mean over each configuration's seeds (the per-seed values \
             are in the table above)."
        ),
        chart: Chart::Xy(XyChart {
            x_label: "epoch".into(),
            y_label: format!("{name} [{labels}]"),
            x_log: false,
            y_log: false,
            points: false,
            diagonal: false,
            series,
        }),
    }
}
