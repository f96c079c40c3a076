//! The study's summary on standard output: one row per model (the report in `OUT/report/` has the means ± sd
//! over seeds and every per-seed value).

use super::{ModelResult, StudyOutcome};
use crate::bounds::{Bound, BoundsFile, Method, Norm, Soundness};
use crate::ir::{Function, InputNorm};
use crate::report::number::{Rounding, fixed};

/// A surrogate bound with four decimals, rounded the safe way for its soundness (an upper bound up, a lower
/// bound down).
fn find(b: &BoundsFile, method: Method, norm: Norm) -> String {
    b.bounds
        .iter()
        .find(|x| x.method == method && x.function == Function::Surrogate && x.norm == norm)
        .map_or_else(
            || "-".to_string(),
            |x: &Bound| {
                let dir = match x.soundness {
                    Soundness::Certified => Rounding::Up,
                    Soundness::Lower => Rounding::Down,
                    Soundness::Estimate => Rounding::Nearest,
                };
                fixed(x.value, 0, 4, dir)
            },
        )
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

/// The median over correctly classified test images of the best certified radius (pixel units) of `f` in
/// `norm`.
fn median_certified(r: &ModelResult, f: Function, norm: InputNorm) -> Option<f64> {
    crate::audit::stats::median(r.certificates.samples.iter().filter_map(|c| {
        (c.prediction.get(&f).copied().flatten() == Some(c.label))
            .then(|| c.best_pixel.get(&f)?.get(&norm).copied().map(crate::certify::file::from_file))
            .flatten()
    }))
}

/// A radius with four decimals, rounded in `dir`: down for a certified radius (every input closer keeps the
/// label), up for an empirical one (an adversarial example lies this close).
fn num(v: Option<f64>, dir: Rounding) -> String {
    v.map_or("-".into(), |v| fixed(v, 0, 4, dir))
}

/// The summary tables, as Markdown lines.
pub fn summary(out: &StudyOutcome) -> Vec<String> {
    let mut lines = vec![
        "Accuracy and robustness (deployed network; CE normalised by the same seed's baseline):".to_string(),
        String::new(),
        "| dataset | model | λ | clean accuracy | MNIST-C mean error | 15×5 table mean error | mCE | mPC | rPC |"
            .into(),
        "|---|---|---|---|---|---|---|---|---|".into(),
    ];
    for r in &out.models {
        let (mnist_c, table) = (&r.suites[0], &r.suites[1]);
        lines.push(format!(
            "| {} | {} | {} | {:.2}% | {} | {} | {} | {} | {} |",
            r.plan.dataset.name(),
            r.plan.name,
            r.plan.lambda,
            100.0 * r.accuracy,
            pct(Some(mnist_c.totals.mean_error)),
            pct(Some(table.totals.mean_error)),
            pct(table.totals.mce),
            pct(Some(table.totals.mpc)),
            pct(table.totals.rpc),
        ));
    }
    lines.extend([
        String::new(),
        "Lipschitz constant of the surrogate (hardtanh for sign), worst class-pair margin; certified radii from the \
         smallest certified constant of each class pair (spectral product, sequential LipSDP in ℓ2, global LP in \
         ℓ∞) on every seed (median over correctly classified certified images, pixel units p/255):"
            .into(),
        String::new(),
        "| dataset | model | sampled ℓ∞ (lower) | LP ℓ∞ (certified) | product ℓ∞ (certified) | median radius ℓ2 surrogate | median radius ℓ∞ surrogate | median radius ℓ2 deployed |".into(),
        "|---|---|---|---|---|---|---|---|".into(),
    ]);
    for r in &out.models {
        lines.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.plan.dataset.name(),
            r.plan.name,
            find(&r.bounds, Method::SampledGradient, Norm::LinfMargin),
            find(&r.bounds, Method::LpGlobal, Norm::LinfMargin),
            find(&r.bounds, Method::SpectralProduct, Norm::LinfMargin),
            num(median_certified(r, Function::Surrogate, InputNorm::L2), Rounding::Down),
            num(median_certified(r, Function::Surrogate, InputNorm::Linf), Rounding::Down),
            num(median_certified(r, Function::Deployed, InputNorm::L2), Rounding::Down),
        ));
    }
    lines.extend(radii(out));
    lines
}

/// Certified against empirical radii on the attacked (first-seed) models, with the audits.
fn radii(out: &StudyOutcome) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        "Certified vs empirical radii (first seed, attacked test images; pixel units p/255; medians over correctly \
         classified images; CA/RA = certified/robust accuracy at ε = 0.1 (ℓ2) or 0.01 (ℓ∞)):"
            .into(),
        String::new(),
        "| dataset | model | function | norm | clean | median certified | median empirical | median ratio | CA | RA | audit |".into(),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|".into(),
    ];
    for r in &out.models {
        let Some(e) = &r.empirical else { continue };
        for s in &e.summary {
            let (f, norm) = (s.function, s.norm);
            let ratio = e.ratios.iter().find(|x| x.function == f && x.norm == norm && x.method == "best");
            let curve = e.curves.iter().find(|c| c.function == f && c.norm == norm);
            let eps = if norm == InputNorm::L2 { 0.1 } else { 0.01 };
            let at = |v: Option<&Vec<f64>>| -> String {
                let (Some(c), Some(v)) = (curve, v) else { return "-".into() };
                c.eps_pixel
                    .iter()
                    .position(|x| (x - eps).abs() < 1e-12)
                    .map_or("-".into(), |i| pct(Some(v[i])))
            };
            let best_cert = crate::audit::stats::median(e.samples.iter().filter_map(|s| {
                let c = r.certificates.samples.get(s.index)?;
                (s.prediction.get(&f).copied().flatten() == Some(s.label))
                    .then(|| c.best_pixel.get(&f)?.get(&norm).copied().map(crate::certify::file::from_file))
                    .flatten()
            }));
            let audit = e.audit.iter().flatten().find(|a| a.function == f && a.norm == norm);
            lines.push(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.plan.dataset.name(),
                r.plan.name,
                f.name(),
                norm.name(),
                pct(e.accuracy.get(&f).copied()),
                num(best_cert, Rounding::Down),
                num(s.median_radius_pixel, Rounding::Up),
                ratio.and_then(|x| x.median_ratio).map_or("-".into(), |v| format!("{v:.3}")),
                at(curve.and_then(|c| c.certified_accuracy.as_ref())),
                at(curve.map(|c| &c.robust_accuracy)),
                audit.map_or("not run".into(), |a| format!(
                    "{} checked, {} violations",
                    a.checked, a.violations
                )),
            ));
        }
    }
    lines
}
