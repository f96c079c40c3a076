//! The attack stage's file: what was found for every sample assembled into `empirical.json`, with the audit of
//! the run's certificates against it (theorem M2) and the median certified / empirical ratios.

use std::collections::BTreeMap;

use serde_json::json;

use super::file::{
    EMPIRICAL_FORMAT, EmpiricalFile, EmpiricalSummary, RatioEntry, RobustCurve, SampleEmpirical, SuccessCurve,
};
use super::stage::{AttackRequest, stage_decision};
use super::stage::{PerSample, Setup};
use crate::audit::adversarial::{RadiusPair, audit};
use crate::audit::stats::median;
use crate::audit::{Violation, ViolationKind};
use crate::certify::{certified_accuracy, default_grid};
use crate::error::Result;
use crate::ir::{Function, InputNorm};
use crate::run_dir::RunDir;

/// The file of what was found for every sample, with `seconds` as the stage's time; writes the audit's
/// violation records (and clears earlier ones).
pub(super) fn assemble(
    run: &RunDir,
    req: &AttackRequest,
    s: &Setup,
    per: &[PerSample],
    seconds: f64,
) -> Result<EmpiricalFile> {
    let (functions, combos) = Setup::combos(req);
    let (functions, combos) = (&functions[..], &combos[..]);
    let n = s.xs.len();
    let radius_of = |i: usize, c: usize| per[i].1[c].best.as_ref().map_or(f64::INFINITY, |a| a.distance);
    let correct = |i: usize, f: Function| {
        let fi = functions.iter().position(|&g| g == f).expect("attacked function");
        per[i].0[fi] == Some(s.labels[i])
    };
    let mut samples = Vec::with_capacity(n);
    for (i, (preds, found)) in per.iter().enumerate() {
        let mut e = SampleEmpirical {
            index: i,
            label: s.labels[i],
            prediction: functions.iter().zip(preds).map(|(f, p)| (*f, *p)).collect(),
            radius: BTreeMap::new(),
            radius_pixel: BTreeMap::new(),
            found_by: BTreeMap::new(),
        };
        for (c, &(f, norm)) in combos.iter().enumerate() {
            let best = found[c].best.as_ref();
            e.radius.entry(f).or_default().insert(norm, best.map(|a| a.distance));
            e.radius_pixel.entry(f).or_default().insert(norm, found[c].pixel);
            e.found_by
                .entry(f)
                .or_default()
                .insert(norm, best.map_or("none", |a| a.attack.name()).to_string());
        }
        samples.push(e);
    }
    let (mut summary, mut curves, mut success, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut audits = Vec::new();
    let mut violations = Vec::new();
    for (c, &(f, norm)) in combos.iter().enumerate() {
        let ok: Vec<usize> = (0..n).filter(|&i| correct(i, f)).collect();
        let radii: Vec<f64> = (0..n).map(|i| if correct(i, f) { radius_of(i, c) } else { 0.0 }).collect();
        let med =
            median(ok.iter().map(|&i| radius_of(i, c)).map(|r| if r.is_finite() { r } else { f64::MAX }));
        let med = med.filter(|m| *m < f64::MAX);
        summary.push(EmpiricalSummary {
            function: f,
            norm,
            broken: ok.iter().filter(|&&i| radius_of(i, c).is_finite()).count(),
            correct: ok.len(),
            median_radius: med,
            median_radius_pixel: med.and_then(|_| {
                let pix = ok.iter().map(|&i| per[i].1[c].pixel.unwrap_or(f64::MAX));
                median(pix).filter(|m| *m < f64::MAX)
            }),
        });
        // RA(ε) and CA(ε) on one pixel-unit grid: an empirical radius r counts as dn(r·min std) (every pixel
        // perturbation that small stays inside the normalised ball of radius r, up to the f32 rounding that
        // theorem V7 takes off the certified side), a certified one by theorem V7. So CA ≤ RA whenever the audit
        // passes.
        let grid = default_grid(norm);
        let capped =
            |v: &[f64]| -> Vec<f64> { v.iter().map(|r| if r.is_finite() { *r } else { f64::MAX }).collect() };
        let ra: Vec<f64> =
            certified_accuracy(&capped(&radii), &grid, s.min_std)?.iter().map(|p| p.accuracy).collect();
        let covered = s.certificates.as_ref().map_or(0, |c| c.samples.len()).min(n);
        let certs: Option<Vec<f64>> = s
            .certificates
            .as_ref()
            .filter(|cf| cf.pairs().contains(&(f, norm)))
            .map(|_| (0..covered).map(|i| s.certified(i, f, norm).map_or(0.0, |x| x.0)).collect());
        let ca = certs
            .as_ref()
            .map(|cr| -> Result<Vec<f64>> {
                // Samples beyond the certificates count as not certified.
                let mut pix: Vec<f64> =
                    cr.iter().map(|&r| s.normalization.pixel_radius(r, norm, s.xs[0].len())).collect();
                pix.resize(n, 0.0);
                Ok(certified_accuracy(&capped(&pix), &grid, 1.0)?.iter().map(|p| p.accuracy).collect())
            })
            .transpose()?;
        curves.push(RobustCurve {
            function: f,
            norm,
            eps_pixel: grid,
            robust_accuracy: ra,
            certified_accuracy: ca,
        });
        let budgets = req.budgets(norm);
        let rate =
            |k: usize| ok.iter().filter(|&&i| per[i].1[c].success[k]).count() as f64 / ok.len().max(1) as f64;
        success.push(SuccessCurve {
            function: f,
            norm,
            attack: req.attack.name().into(),
            success_rate: (0..budgets.len()).map(rate).collect(),
            eps_pixel: budgets,
        });
        if let Some(cr) = &certs {
            let pairs: Vec<RadiusPair> = (0..cr.len())
                .map(|i| RadiusPair {
                    sample: i,
                    certified: cr[i],
                    empirical: per[i].1[c].best.as_ref().map(|a| a.distance),
                })
                .collect();
            let (count, bad) = audit(f, norm, &pairs);
            audits.push(count);
            for b in bad {
                let a = per[b].1[c].best.as_ref().expect("a violation has an example");
                let logits = s.nets.get(f).forward(&a.point, f)?;
                let predicted =
                    (0..logits.len()).max_by(|&p, &q| logits[p].total_cmp(&logits[q])).unwrap_or(0);
                let (radius, method) = s.certified(b, f, norm).expect("certified");
                violations.push(Violation {
                    kind: ViolationKind::Adversarial,
                    sample: b,
                    label: s.labels[b],
                    function: f,
                    norm,
                    certified_radius: radius,
                    method,
                    distance: a.distance,
                    clean_prediction: s.labels[b],
                    perturbed_prediction: predicted,
                    source: a.attack.name().to_string(),
                    input: s.xs[b].clone(),
                    perturbed: a.point.clone(),
                });
            }
            ratios.extend(ratio_entries(s, f, norm, &|i| radius_of(i, c), n));
        }
    }
    crate::audit::clear_records(run.root(), ViolationKind::Adversarial)?;
    let records = violations
        .iter()
        .map(|v| Ok(v.write(run.root())?.display().to_string()))
        .collect::<Result<Vec<String>>>()?;
    let mut provenance = s.provenance.clone();
    provenance["seconds"] = json!(seconds);
    provenance["attack_settings"] =
        json!({ "pgd": req.pgd(), "decision": stage_decision(), "minimal_rounds": 8 });
    Ok(EmpiricalFile {
        format: EMPIRICAL_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        provenance,
        accuracy: functions
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                (*f, (0..n).filter(|&i| per[i].0[fi] == Some(s.labels[i])).count() as f64 / n.max(1) as f64)
            })
            .collect(),
        summary,
        curves,
        success,
        audit: s.certificates.as_ref().map(|_| audits),
        audit_note: s.audit_note.clone(),
        ratios,
        violation_records: records,
        samples,
    })
}

/// Median certified / empirical radius per certificate method (and the best), over samples with both.
fn ratio_entries(
    s: &Setup,
    f: Function,
    norm: InputNorm,
    empirical: &dyn Fn(usize) -> f64,
    n: usize,
) -> Vec<RatioEntry> {
    let Some(c) = &s.certificates else { return Vec::new() };
    let mut methods: Vec<String> =
        c.methods.iter().filter(|m| m.function == f && m.norm == norm).map(|m| m.method.clone()).collect();
    methods.push("best".into());
    methods
        .into_iter()
        .map(|m| {
            let ratios: Vec<f64> = (0..n.min(c.samples.len()))
                .filter_map(|i| {
                    let r = if m == "best" {
                        c.samples[i].best(f, norm).0
                    } else {
                        c.samples[i]
                            .radius
                            .get(&f)?
                            .get(&norm)?
                            .get(&m)
                            .copied()
                            .map(crate::certify::file::from_file)?
                    };
                    let e = empirical(i);
                    (r > 0.0 && r.is_finite() && e.is_finite() && e > 0.0).then(|| r / e)
                })
                .collect();
            RatioEntry { function: f, norm, method: m, samples: ratios.len(), median_ratio: median(ratios) }
        })
        .collect()
}
