//! The radii section: median certified against median empirical radius per function and norm, their median
//! ratio, the adversarial audit's counts, and per sample the certified against the empirical radius.

use super::bounds::function_rank;
use super::chart::{Chart, Series, XyChart};
use super::collect::RunData;
use super::group::Group;
use super::metric::{Coverage, Metric};
use super::number::Rounding::{Down, Nearest, Up};
use super::table::{Cell, Soundness, Style, Table};
use super::{Plot, Section};
use crate::audit::stats::median;
use crate::certify::file::from_file;
use crate::ir::{Function, InputNorm};

/// The (certified, empirical) radii in pixel units of the attacked images `function` classifies correctly
/// (its prediction proven to be the label); the certified one is the image's best (0 when none).
pub fn radius_pairs(r: &RunData, f: Function, n: InputNorm) -> Vec<(f64, f64)> {
    let (Some(c), Some(e)) = (r.certificates.get(), r.empirical.get()) else { return Vec::new() };
    e.samples
        .iter()
        .filter(|s| s.prediction.get(&f).copied().flatten() == Some(s.label))
        .filter_map(|s| {
            let cert = c.samples.get(s.index)?.best_pixel.get(&f)?.get(&n).copied().map(from_file)?;
            let emp = s.radius_pixel.get(&f)?.get(&n).copied().map(from_file)?;
            Some((cert, emp))
        })
        .collect()
}

/// The median best certified radius (pixel units) over the correctly classified attacked images. A median of
/// radii that each lie below the image's true minimal perturbation lies below the true radii's median.
pub fn median_certified(r: &RunData, f: Function, n: InputNorm) -> Option<f64> {
    let pairs = radius_pairs(r, f, n);
    if pairs.is_empty() {
        return None;
    }
    median(pairs.iter().map(|p| p.0))
}

fn pairs_of(groups: &[Group]) -> Vec<(Function, InputNorm)> {
    let mut v: Vec<(Function, InputNorm)> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.empirical.get())
        .flat_map(|e| e.summary.iter().map(|s| (s.function, s.norm)))
        .collect();
    v.sort_by_key(|(f, n)| (function_rank(*f), *n));
    v.dedup();
    v
}

fn metrics(f: Function, n: InputNorm) -> [Metric; 6] {
    let summary = move |r: &RunData| {
        r.empirical.get()?.summary.iter().find(|s| s.function == f && s.norm == n).cloned()
    };
    let audit = move |r: &RunData| {
        r.empirical.get()?.audit.iter().flatten().find(|a| a.function == f && a.norm == n).copied()
    };
    let count = Style::fixed(0, Nearest);
    [
        Metric::new("correct attacked images", Some(f), Soundness::Measured, count, move |r: &RunData| {
            summary(r).map(|s| s.correct as f64)
        }),
        Metric::new(
            format!("median certified radius {}", n.name()),
            Some(f),
            Soundness::Certified,
            Style::sig(3, Down),
            move |r: &RunData| median_certified(r, f, n),
        ),
        Metric::new(
            format!("median empirical radius {}", n.name()),
            Some(f),
            Soundness::Empirical,
            Style::sig(3, Up),
            move |r: &RunData| summary(r)?.median_radius_pixel,
        ),
        Metric::new(
            format!("median certified / empirical {}", n.name()),
            Some(f),
            Soundness::Estimate,
            Style::sig(3, Nearest),
            move |r: &RunData| {
                let e = r.empirical.get()?;
                e.ratios.iter().find(|x| x.function == f && x.norm == n && x.method == "best")?.median_ratio
            },
        ),
        Metric::new("audit: checked", Some(f), Soundness::Measured, count, move |r: &RunData| {
            audit(r).map(|a| a.checked as f64)
        }),
        Metric::new(
            "audit: violations (must be 0)",
            Some(f),
            Soundness::Measured,
            count,
            move |r: &RunData| audit(r).map(|a| a.violations as f64),
        ),
    ]
}

/// The headline radii: median certified and median empirical radius per function and norm.
pub fn headlines(groups: &[Group]) -> Vec<Metric> {
    pairs_of(groups)
        .into_iter()
        .flat_map(|(f, n)| {
            let [_, cert, emp, ..] = metrics(f, n);
            [cert, emp]
        })
        .collect()
}

/// The radii section.
pub fn section(groups: &[Group]) -> Section {
    let cover = Coverage::of(groups, |r| r.empirical.status());
    if cover.present == 0 {
        return Section::not_run(
            "radii",
            "Certified vs empirical radii",
            "not run: no run directory holds a current empirical.json (attacks and the audit)".into(),
        );
    }
    let mut rows = Vec::new();
    for g in groups {
        for (f, n) in pairs_of(std::slice::from_ref(g)) {
            let mut row = vec![Cell::text(&g.label), Cell::text(n.name())];
            row.extend(metrics(f, n).iter().map(|m| m.cell(g)));
            rows.push(row);
        }
    }
    let violations: Vec<String> = groups
        .iter()
        .flat_map(|g| g.runs.iter())
        .filter_map(|r| r.empirical.get().filter(|e| e.violations() > 0).map(|e| (r, e.violations())))
        .map(|(r, v)| format!("{} ({v})", r.name))
        .collect();
    let intro = if violations.is_empty() {
        String::new()
    } else {
        format!(
            "THE AUDIT FAILED: certificates contradicted by confirmed adversarial examples in {}. A violation is a \
             bug in a certificate, never a property of the network; see each run's violations/ directory.",
            violations.join(", ")
        )
    };
    let table = Table {
        id: "radii".into(),
        title: "Certified vs empirical radii and the audit".into(),
        note: format!(
            "Over the attacked images each function classifies correctly: the median of each image's best \
             certified radius (certified: every input closer keeps the label, so this median lies below the true \
             radii's; printed rounded down), the median distance of the closest confirmed adversarial example \
             (empirical: above the true radii's; rounded up), and the median ratio certified / empirical (1 would \
             be a tight certificate). Pixel units (p/255). The audit checks certified ≤ empirical for every image \
             with both; its violations must be 0.{}",
            cover.note("empirical.json")
        ),
        columns: [
            "configuration",
            "norm",
            "correct attacked images",
            "median certified radius",
            "median empirical radius",
            "median certified / empirical",
            "audit: checked",
            "audit: violations (must be 0)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    };
    let mut plots = Vec::new();
    for g in groups {
        for norm in [InputNorm::L2, InputNorm::Linf] {
            if let Some(p) = scatter(g, norm) {
                plots.push(p);
            }
        }
    }
    Section {
        id: "radii".into(),
        title: "Certified vs empirical radii".into(),
        intro,
        not_run: None,
        tables: vec![table],
        plots,
    }
}

fn scatter(g: &Group, n: InputNorm) -> Option<Plot> {
    let mut series = Vec::new();
    let (mut drawn, mut left_out) = (0usize, 0usize);
    for (k, f) in [Function::Deployed, Function::Surrogate, Function::Latent].into_iter().enumerate() {
        let pts: Vec<(f64, f64)> = g.runs.iter().flat_map(|r| radius_pairs(r, f, n)).collect();
        let ok: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && p.0 > 0.0 && p.1 > 0.0)
            .collect();
        left_out += pts.len() - ok.len();
        drawn += ok.len();
        if !ok.is_empty() {
            series.push(Series { name: f.name().into(), points: ok, colour: k, dashed: false });
        }
    }
    if drawn == 0 {
        return None;
    }
    Some(Plot {
        id: format!("radii-{}-{}", g.slug, n.name()),
        title: format!("Certified vs empirical radius, {}: {}", n.name(), g.label),
        caption: format!(
            "One point per correctly classified attacked image and function (all seeds): x the empirical radius \
             (empirical), y the best certified radius (certified), pixel units, log scales. Every point must lie \
             on or below the dashed line y = x (the audit); the distance below it is the certificate's slack. \
             {left_out} image(s) with a zero or unbounded radius are not drawn."
        ),
        chart: Chart::Xy(XyChart {
            x_label: format!("empirical radius ({}, pixel units) [empirical]", n.name()),
            y_label: format!("certified radius ({}) [certified]", n.name()),
            x_log: true,
            y_log: true,
            points: true,
            diagonal: true,
            series,
        }),
    })
}
