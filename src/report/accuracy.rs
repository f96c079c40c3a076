//! The accuracy section: certified accuracy at standard ε per function and method (all certified test images),
//! robust accuracy under attack at the same ε (the attacked images), and both against ε in one plot per
//! function and norm.

use super::bounds::function_rank;
use super::chart::{Chart, Series, XyChart};
use super::collect::RunData;
use super::group::Group;
use super::metric::{Coverage, Metric};
use super::number::Rounding::{Down, Nearest, Up};
use super::stats::{SeedValue, Summary};
use super::table::{Cell, Soundness, Style, Table};
use super::{Plot, Section};
use crate::certify::Coverage as CertCoverage;
use crate::ir::{Function, InputNorm};

/// The standard budgets in pixel units (p/255): ℓ2 0.1, 0.3, 0.5, 1; ℓ∞ 0.01, 0.03, 0.1, 0.3 (all on the
/// certificates' and attacks' default grids).
pub fn standard_eps(norm: InputNorm) -> &'static [f64] {
    match norm {
        InputNorm::L2 => &[0.1, 0.3, 0.5, 1.0],
        InputNorm::Linf => &[0.01, 0.03, 0.1, 0.3],
    }
}

/// The value of a curve at `eps` (grid points match to 1e-9).
pub fn at(eps_grid: &[f64], values: &[f64], eps: f64) -> Option<f64> {
    eps_grid.iter().position(|e| (e - eps).abs() < 1e-9).and_then(|i| values.get(i).copied())
}

/// CA(ε) of `method` (or `best`) for a function and norm, over every certified test image.
pub fn certified_accuracy(r: &RunData, f: Function, n: InputNorm, method: &str, eps: f64) -> Option<f64> {
    let c = r.certificates.get()?;
    let curve = c.curves.iter().find(|c| c.function == f && c.norm == n && c.method == method)?;
    at(&curve.eps_pixel, &curve.certified_accuracy, eps)
}

/// RA(ε) under attack for a function and norm, over the attacked images.
pub fn robust_accuracy(r: &RunData, f: Function, n: InputNorm, eps: f64) -> Option<f64> {
    let e = r.empirical.get()?;
    let curve = e.curves.iter().find(|c| c.function == f && c.norm == n)?;
    at(&curve.eps_pixel, &curve.robust_accuracy, eps)
}

fn ca_metric(f: Function, n: InputNorm, method: String, eps: f64) -> Metric {
    let name = format!("certified accuracy {} ε={eps} ({method}, %)", n.name());
    Metric::new(name, Some(f), Soundness::Certified, Style::percent(2, Down), move |r: &RunData| {
        certified_accuracy(r, f, n, &method, eps)
    })
}

fn ra_metric(f: Function, n: InputNorm, eps: f64) -> Metric {
    let name = format!("robust accuracy {} ε={eps} (attack, %)", n.name());
    Metric::new(name, Some(f), Soundness::Empirical, Style::percent(2, Up), move |r: &RunData| {
        robust_accuracy(r, f, n, eps)
    })
}

/// (function, norm) pairs with certificate curves in any run, in display order.
fn cert_pairs(groups: &[Group]) -> Vec<(Function, InputNorm)> {
    let mut v: Vec<(Function, InputNorm)> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.certificates.get())
        .flat_map(|c| c.curves.iter().map(|c| (c.function, c.norm)))
        .collect();
    v.sort_by_key(|(f, n)| (function_rank(*f), *n));
    v.dedup();
    v
}

fn attack_pairs(groups: &[Group]) -> Vec<(Function, InputNorm)> {
    let mut v: Vec<(Function, InputNorm)> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.empirical.get())
        .flat_map(|e| e.curves.iter().map(|c| (c.function, c.norm)))
        .collect();
    v.sort_by_key(|(f, n)| (function_rank(*f), *n));
    v.dedup();
    v
}

/// The headline accuracies: CA of the best certificate and RA under attack at every standard ε.
pub fn headlines(groups: &[Group]) -> Vec<Metric> {
    let mut out = Vec::new();
    for (f, n) in cert_pairs(groups) {
        out.extend(standard_eps(n).iter().map(|&e| ca_metric(f, n, "best".into(), e)));
    }
    for (f, n) in attack_pairs(groups) {
        out.extend(standard_eps(n).iter().map(|&e| ra_metric(f, n, e)));
    }
    out
}

/// A group's certificate methods for (function, norm) with their coverage; `best` first.
fn methods(g: &Group, f: Function, n: InputNorm) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![("best".into(), "each image's largest".into())];
    for c in g.runs.iter().filter_map(|r| r.certificates.get()) {
        for m in c.methods.iter().filter(|m| m.function == f && m.norm == n) {
            let cov = match m.coverage {
                CertCoverage::Network => "network",
                CertCoverage::Domain => "domain",
            };
            if !v.iter().any(|x| x.0 == m.method) {
                v.push((m.method.clone(), cov.into()));
            }
        }
    }
    v
}

fn pct_header(eps: f64) -> String {
    format!("ε = {eps} (%)")
}

/// The accuracy section.
pub fn section(groups: &[Group]) -> Section {
    let certs = Coverage::of(groups, |r| r.certificates.status());
    let attacks = Coverage::of(groups, |r| r.empirical.status());
    if certs.present == 0 && attacks.present == 0 {
        return Section::not_run(
            "accuracy",
            "Certified and robust accuracy",
            "not run: no run directory holds a current certificates.json or empirical.json".into(),
        );
    }
    let mut tables = Vec::new();
    for norm in [InputNorm::L2, InputNorm::Linf] {
        let eps = standard_eps(norm);
        let mut rows = Vec::new();
        for g in groups {
            for (f, _) in cert_pairs(std::slice::from_ref(g)).into_iter().filter(|p| p.1 == norm) {
                for (method, cov) in methods(g, f, norm) {
                    let mut row = vec![Cell::text(&g.label), Cell::text(&method), Cell::text(cov)];
                    row.push(ca_metric(f, norm, method.clone(), 0.0).cell(g));
                    row.extend(eps.iter().map(|&e| ca_metric(f, norm, method.clone(), e).cell(g)));
                    rows.push(row);
                }
            }
        }
        if !rows.is_empty() {
            let mut columns: Vec<String> =
                ["configuration", "method", "coverage", "proven clean (%)"].map(String::from).to_vec();
            columns.extend(eps.iter().map(|&e| pct_header(e)));
            tables.push(Table {
                id: format!("certified-accuracy-{}", norm.name()),
                title: format!("Certified accuracy, {} (every certified test image)", norm.name()),
                note: format!(
                    "CA(ε): the fraction of test images whose label is proven for every input within distance ε \
                     (pixel units, {}) by the method; `best` takes each image's largest certified radius. \
                     `proven clean` is CA(0), the images whose prediction is proven to be their label. Coverage \
                     `domain` certifies only valid images (pixels in range) in the ball. Printed rounded down.{}",
                    norm.name(),
                    certs.note("certificates.json")
                ),
                columns,
                rows,
            });
        }
        let mut rows = Vec::new();
        for g in groups {
            for (f, _) in attack_pairs(std::slice::from_ref(g)).into_iter().filter(|p| p.1 == norm) {
                let images =
                    Metric::new("", None, Soundness::Measured, Style::fixed(0, Nearest), |r: &RunData| {
                        r.empirical.get().map(|e| e.samples.len() as f64)
                    });
                let mut row = vec![Cell::text(&g.label), images.cell(g), ra_metric(f, norm, 0.0).cell(g)];
                row.extend(eps.iter().map(|&e| ra_metric(f, norm, e).cell(g)));
                rows.push(row);
            }
        }
        if !rows.is_empty() {
            let mut columns: Vec<String> =
                ["configuration", "attacked images", "clean (%)"].map(String::from).to_vec();
            columns.extend(eps.iter().map(|&e| pct_header(e)));
            tables.push(Table {
                id: format!("robust-accuracy-{}", norm.name()),
                title: format!("Robust accuracy under attack, {} (the attacked images)", norm.name()),
                note: format!(
                    "RA(ε): the fraction of the attacked test images (the first N) correctly classified with no \
                     confirmed adversarial example within ε (pixel units, {}). Attacks only find examples, so the \
                     true robust accuracy is at most this (empirical, printed rounded up); CA ≤ true ≤ RA.{}",
                    norm.name(),
                    attacks.note("empirical.json")
                ),
                columns,
                rows,
            });
        }
    }
    let plots = attack_pairs(groups).into_iter().map(|(f, n)| curve_plot(groups, f, n)).collect();
    Section {
        id: "accuracy".into(),
        title: "Certified and robust accuracy".into(),
        intro: String::new(),
        not_run: None,
        tables,
        plots,
    }
}

/// A curve as (ε grid, values).
type Curve = (Vec<f64>, Vec<f64>);

/// The mean over seeds of a curve at each ε of the first run's grid.
fn mean_curve(g: &Group, read: impl Fn(&RunData) -> Option<Curve>) -> Vec<(f64, f64)> {
    let curves: Vec<(u64, Curve)> = g.runs.iter().filter_map(|r| read(r).map(|c| (r.seed(), c))).collect();
    let Some((_, (grid, _))) = curves.first() else { return Vec::new() };
    grid.iter()
        .filter_map(|&e| {
            let s = Summary::new(
                curves
                    .iter()
                    .filter_map(|(seed, (g, v))| at(g, v, e).map(|value| SeedValue { seed: *seed, value }))
                    .collect(),
            );
            s.mean().map(|m| (e, 100.0 * m))
        })
        .collect()
}

fn curve_plot(groups: &[Group], f: Function, n: InputNorm) -> Plot {
    let mut series = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        let find = move |r: &RunData| {
            r.empirical.get()?.curves.iter().find(|c| c.function == f && c.norm == n).cloned()
        };
        let ca = mean_curve(g, |r| find(r).and_then(|c| Some((c.eps_pixel.clone(), c.certified_accuracy?))));
        let ra = mean_curve(g, |r| find(r).map(|c| (c.eps_pixel, c.robust_accuracy)));
        if !ca.is_empty() {
            series.push(Series {
                name: format!("{}: CA (certified)", g.label),
                points: ca,
                colour: k,
                dashed: false,
            });
        }
        series.push(Series {
            name: format!("{}: RA (empirical)", g.label),
            points: ra,
            colour: k,
            dashed: true,
        });
    }
    Plot {
        id: format!("accuracy-{}-{}", f.name(), n.name()),
        title: format!("Certified and robust accuracy vs ε: {} {}", f.name(), n.name()),
        caption: format!(
            "On the attacked images, {} function, {}: certified accuracy of the best certificate (solid; \
             certified) and robust accuracy under attack (dashed; empirical) against ε in pixel units, means over \
             seeds. The true robust accuracy lies between the two curves of a configuration.",
            f.name(),
            n.name()
        ),
        chart: Chart::Xy(XyChart {
            x_label: format!("ε ({}, pixel units p/255)", n.name()),
            y_label: format!("accuracy (%) [{}]", f.name()),
            x_log: false,
            y_log: false,
            points: false,
            diagonal: false,
            series,
        }),
    }
}
