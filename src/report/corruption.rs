//! The corruption sections, one per suite: error per corruption and severity, the totals (mean error, mCE with its
//! normalisation, relative mCE, mPC, rPC), the corruption audit, and a heat map of the errors.
//!
//! Every figure is read from `corruption.json` as `robustness` computed it ([`crate::robustness::metrics`]);
//! nothing is re-derived here.

use std::collections::BTreeSet;

use super::chart::{Chart, Heatmap};
use super::collect::RunData;
use super::group::Group;
use super::metric::{Coverage, Metric};
use super::number::Rounding::Nearest;
use super::table::{Cell, Soundness, Style, Table};
use super::{Plot, Section};
use crate::audit::corruption::CorruptionAuditReport;
use crate::ir::{Function, InputNorm};
use crate::robustness::{AuditOutcome, SuiteReport};

fn suite_of<'a>(r: &'a RunData, suite: &str) -> Option<&'a SuiteReport> {
    r.corruption.get()?.suites.get(suite)
}

fn suites(groups: &[Group]) -> Vec<String> {
    let s: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.corruption.get())
        .flat_map(|c| c.suites.keys().cloned())
        .collect();
    s.into_iter().collect()
}

/// How a group's runs normalise CE on `suite`: the kind and every reference model named; `None` when the runs
/// use different kinds (their mCEs are then not comparable).
fn normalisation(g: &Group, suite: &str) -> Option<String> {
    let reports: Vec<&SuiteReport> = g.runs.iter().filter_map(|r| suite_of(r, suite)).collect();
    let kinds: BTreeSet<&str> = reports.iter().map(|s| s.normalisation.kind.as_str()).collect();
    let [kind] = kinds.into_iter().collect::<Vec<_>>()[..] else { return None };
    let mut refs: Vec<&str> = Vec::new();
    for s in &reports {
        if let Some(r) = s.normalisation.reference.as_deref().filter(|r| !refs.contains(r)) {
            refs.push(r);
        }
    }
    Some(if refs.is_empty() { kind.to_string() } else { format!("{kind}: {}", refs.join("; ")) })
}

fn pct(name: String, read: impl Fn(&SuiteReport) -> Option<f64> + 'static, suite: &str) -> Metric {
    let suite = suite.to_string();
    Metric::new(
        name,
        Some(Function::Deployed),
        Soundness::Measured,
        Style::percent(1, Nearest),
        move |r: &RunData| suite_of(r, &suite).and_then(&read),
    )
}

/// The totals of one suite, in table order.
fn totals(suite: &str) -> Vec<Metric> {
    vec![
        pct(format!("{suite} clean error (%)"), |s| s.clean_error, suite),
        pct(format!("{suite} mean error (%)"), |s| Some(s.totals.mean_error), suite),
        pct(format!("{suite} mCE (%)"), |s| s.totals.mce, suite),
        pct(format!("{suite} relative mCE (%)"), |s| s.totals.relative_mce, suite),
        pct(format!("{suite} mPC (%)"), |s| Some(s.totals.mpc), suite),
        pct(format!("{suite} rPC (%)"), |s| s.totals.rpc, suite),
    ]
}

/// The headline corruption figures: mean error, mCE, mPC and rPC of every suite.
pub fn headlines(groups: &[Group]) -> Vec<Metric> {
    suites(groups)
        .iter()
        .flat_map(|s| {
            totals(s).into_iter().enumerate().filter(|(i, _)| [1, 2, 4, 5].contains(i)).map(|x| x.1)
        })
        .collect()
}

/// One section per suite evaluated in any run; one "not run" section when none was.
pub fn sections(groups: &[Group]) -> Vec<Section> {
    let cover = Coverage::of(groups, |r| r.corruption.status());
    let names = suites(groups);
    if names.is_empty() {
        return vec![Section::not_run(
            "corruption",
            "Robustness under corruptions",
            "not run: no run directory holds a current corruption.json".into(),
        )];
    }
    names.iter().map(|s| section(groups, s, &cover)).collect()
}

fn section(groups: &[Group], suite: &str, cover: &Coverage) -> Section {
    let mut error_rows = Vec::new();
    let mut plots = Vec::new();
    let sevs: BTreeSet<u8> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| suite_of(r, suite))
        .flat_map(|s| s.corruptions.iter().flat_map(|c| c.errors.keys().copied()))
        .collect();
    for g in groups {
        let mut names: Vec<(String, bool)> = Vec::new();
        for s in g.runs.iter().filter_map(|r| suite_of(r, suite)) {
            for c in &s.corruptions {
                if !names.iter().any(|n| n.0 == c.name) {
                    names.push((c.name.clone(), c.benchmark));
                }
            }
        }
        let mut heat_rows = Vec::new();
        for (name, benchmark) in &names {
            let score = {
                let (suite, name) = (suite.to_string(), name.clone());
                move |r: &RunData| suite_of(r, &suite)?.corruptions.iter().find(|c| c.name == name).cloned()
            };
            let label = if *benchmark { name.clone() } else { format!("{name}*") };
            let mut row = vec![Cell::text(&g.label), Cell::text(&label)];
            let mut heat = Vec::new();
            for &sev in &sevs {
                let sc = score.clone();
                let m = Metric::new(
                    "",
                    Some(Function::Deployed),
                    Soundness::Measured,
                    Style::percent(1, Nearest),
                    move |r: &RunData| sc(r)?.errors.get(&sev).copied(),
                );
                heat.push(m.summary(g).mean());
                row.push(m.cell(g));
            }
            let (s1, s2) = (score.clone(), score);
            row.push(
                Metric::new(
                    "",
                    Some(Function::Deployed),
                    Soundness::Measured,
                    Style::percent(1, Nearest),
                    move |r: &RunData| Some(s1(r)?.mean_error),
                )
                .cell(g),
            );
            row.push(
                Metric::new(
                    "",
                    Some(Function::Deployed),
                    Soundness::Measured,
                    Style::percent(1, Nearest),
                    move |r: &RunData| s2(r)?.ce,
                )
                .cell(g),
            );
            error_rows.push(row);
            heat_rows.push((label, heat));
        }
        if !heat_rows.is_empty() {
            plots.push(Plot {
                id: format!("corruption-{suite}-{}", g.slug),
                title: format!("Error per corruption and severity, {suite}: {}", g.label),
                caption: format!(
                    "Top-1 error of the deployed network (measured) per corruption (rows; * = extra, outside the \
                     means) and severity (columns) on {suite}, mean over seeds, in percent; the colour scale runs \
                     from 0 to the largest error shown."
                ),
                chart: Chart::Heat(Heatmap {
                    rows: heat_rows.iter().map(|r| r.0.clone()).collect(),
                    columns: sevs.iter().map(|s| format!("s{s}")).collect(),
                    values: heat_rows.into_iter().map(|r| r.1).collect(),
                    value_label: "top-1 error (%) [deployed · measured]".into(),
                }),
            });
        }
    }
    let mut columns: Vec<String> = vec!["configuration".into(), "corruption".into()];
    columns.extend(sevs.iter().map(|s| format!("severity {s} (%)")));
    columns.extend(["mean (%)".to_string(), "CE (%)".to_string()]);
    let errors = Table {
        id: format!("corruption-{suite}-errors"),
        title: format!("Error per corruption and severity, {suite}"),
        note: format!(
            "Top-1 error of the deployed network on each corrupted set, counted exactly; * marks the extra \
             corruptions, which stay out of every mean. CE = Σ_s error / Σ_s the normalising model's error \
             (see the normalisation below).{}",
            cover.note("corruption.json")
        ),
        columns,
        rows: error_rows,
    };
    let heads = totals(suite);
    let mut rows = Vec::new();
    for g in groups {
        let norm = normalisation(g, suite);
        let mut row = vec![Cell::text(&g.label)];
        for (i, m) in heads.iter().enumerate() {
            // Means of CEs normalised in different ways mean nothing.
            let mixed_ce = norm.is_none() && (i == 2 || i == 3);
            row.push(if mixed_ce { Cell::text("mixed normalisation") } else { m.cell(g) });
        }
        row.push(Cell::text(norm.unwrap_or_else(|| "mixed across seeds (mCE not comparable)".into())));
        rows.push(row);
    }
    let mut columns: Vec<String> = vec!["configuration".into()];
    columns.extend(
        ["clean error (%)", "mean error (%)", "mCE (%)", "relative mCE (%)", "mPC (%)", "rPC (%)"]
            .map(String::from),
    );
    columns.push("CE normalised by".into());
    let summary = Table {
        id: format!("corruption-{suite}-summary"),
        title: format!("Corruption totals, {suite}"),
        note: "Mean error: over the benchmark corruptions and severities (what CIFAR-10-C papers report). mCE: the \
               mean CE, normalised as the last column says (`reference: M`: model M's errors on the very same \
               corrupted images, so M itself has 100%; `alexnet`: AlexNet's published ImageNet-C errors; `none`: no \
               CE). Relative mCE subtracts each model's clean error first. mPC = 1 − mean error; rPC = mPC / clean \
               accuracy."
            .into(),
        columns,
        rows,
    };
    let mut tables = vec![errors, summary];
    if let Some(t) = audit_table(groups, suite) {
        tables.push(t);
    }
    Section {
        id: format!("corruption-{suite}"),
        title: format!("Robustness under corruptions: {suite}"),
        intro: String::new(),
        not_run: None,
        tables,
        plots,
    }
}

fn audit_of<'a>(r: &'a RunData, suite: &str) -> Option<&'a CorruptionAuditReport> {
    match suite_of(r, suite)?.audit.as_ref()? {
        AuditOutcome::Ran(a) => Some(a),
        AuditOutcome::NotRun(_) => None,
    }
}

fn audit_table(groups: &[Group], suite: &str) -> Option<Table> {
    let mut rows = Vec::new();
    for g in groups {
        let mut pairs: Vec<(Function, InputNorm)> = g
            .runs
            .iter()
            .filter_map(|r| audit_of(r, suite))
            .flat_map(|a| a.checks.iter().map(|c| (c.function, c.norm)))
            .collect();
        pairs.sort_by_key(|(f, n)| (super::bounds::function_rank(*f), *n));
        pairs.dedup();
        for (f, n) in pairs {
            let s = suite.to_string();
            let check = move |r: &RunData| {
                audit_of(r, &s)?.checks.iter().find(|c| c.function == f && c.norm == n).copied()
            };
            let s = suite.to_string();
            let inside = move |r: &RunData| {
                let a = audit_of(r, &s)?;
                let v: Vec<f64> = a
                    .cells
                    .iter()
                    .filter(|c| c.function == f && c.norm == n)
                    .map(|c| c.inside_fraction)
                    .collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let s = suite.to_string();
            let rho = move |r: &RunData| {
                audit_of(r, &s)?.correlation.iter().find(|c| c.function == f && c.norm == n)?.spearman
            };
            let c2 = check.clone();
            let count = Style::fixed(0, Nearest);
            rows.push(vec![
                Cell::text(&g.label),
                Cell::text(n.name()),
                Metric::new("", Some(f), Soundness::Measured, count, move |r: &RunData| {
                    check(r).map(|c| c.checked as f64)
                })
                .cell(g),
                Metric::new("", Some(f), Soundness::Measured, count, move |r: &RunData| {
                    c2(r).map(|c| c.violations as f64)
                })
                .cell(g),
                Metric::new("", Some(f), Soundness::Measured, Style::percent(2, Nearest), inside).cell(g),
                Metric::new("", Some(f), Soundness::Measured, Style::fixed(3, Nearest), rho).cell(g),
            ]);
        }
    }
    (!rows.is_empty()).then(|| Table {
        id: format!("corruption-{suite}-audit"),
        title: format!("Corruption audit, {suite}"),
        note: "A corrupted image closer to its clean image than the clean image's best certified radius must keep \
               its label; `inside` counts those images (each one checked) and `violations` those that did not \
               (must be 0). The mean fraction inside is over corruptions and severities. Spearman's ρ correlates \
               an image's certified radius with how many of its corrupted versions the deployed network keeps: \
               positive means a larger certificate predicts corruption robustness."
            .into(),
        columns: ["configuration", "norm", "inside (checked)", "violations (must be 0)", "mean fraction inside (%)",
            "Spearman ρ (radius, kept)"]
            .map(String::from)
            .to_vec(),
        rows,
    })
}
