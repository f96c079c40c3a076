//! `RUN_DIR/empirical.json`: per test sample the empirical radius (the distance of its smallest confirmed
//! adversarial example) per function and norm, robust accuracy against ε, attack success rates, and the audit
//! of the certificates.
//!
//! Radii are in the network's (normalised) input space, rounded up; `radius_pixel` is the same example's
//! distance measured in pixel units (p/255), rounded up. `null` means no attack found an adversarial example.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::AuditCount;
use crate::certify::file::FileRadius;
use crate::error::{Error, Result};
use crate::ir::{Function, InputNorm};

/// Version of the `empirical.json` layout.
pub const EMPIRICAL_FORMAT: u32 = 1;

/// What the attacks found for one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleEmpirical {
    /// Index in the test set.
    pub index: usize,
    /// The label.
    pub label: usize,
    /// Per function: the class the enclosure proves at the clean input (`null` when none is proven).
    pub prediction: BTreeMap<Function, Option<usize>>,
    /// Per function and norm: the empirical radius (normalised input space; 0 when the clean input is already
    /// misclassified; `null` when nothing was found).
    pub radius: BTreeMap<Function, BTreeMap<InputNorm, FileRadius>>,
    /// The same examples' distances in pixel units.
    pub radius_pixel: BTreeMap<Function, BTreeMap<InputNorm, FileRadius>>,
    /// Per function and norm: the attack that found the closest example.
    pub found_by: BTreeMap<Function, BTreeMap<InputNorm, String>>,
}

/// Robust accuracy RA(ε) = fraction of samples correctly classified with no adversarial example within ε, beside
/// the certified accuracy CA(ε) when certificates exist (CA ≤ RA ≤ clean accuracy at every ε).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustCurve {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// ε in pixel units (p/255).
    pub eps_pixel: Vec<f64>,
    /// RA(ε).
    pub robust_accuracy: Vec<f64>,
    /// CA(ε) of the best certificate on the same samples, when `certificates.json` was there.
    pub certified_accuracy: Option<Vec<f64>>,
}

/// The success rate of one attack against ε: the fraction of the correctly classified samples it broke.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuccessCurve {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// The attack (`fgsm`, `pgd`, `decision`, or `min` for the minimal-perturbation search).
    pub attack: String,
    /// ε in pixel units.
    pub eps_pixel: Vec<f64>,
    /// Success rate at each ε.
    pub success_rate: Vec<f64>,
}

/// Per function, norm and certificate method: how close the certificates come to the attacks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioEntry {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// The certificate method, or `best`.
    pub method: String,
    /// Samples with a positive certified radius and a finite empirical one.
    pub samples: usize,
    /// Median of certified / empirical radius (≤ 1 when the audit passes).
    pub median_ratio: Option<f64>,
}

/// The contents of `empirical.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalFile {
    /// [`EMPIRICAL_FORMAT`].
    pub format: u32,
    /// lcr-verify version that wrote it.
    pub version: String,
    /// Model and certificates digests, dataset, request, attack settings, seconds.
    pub provenance: serde_json::Value,
    /// Per function: the fraction of samples whose clean prediction is proven to be the label.
    pub accuracy: BTreeMap<Function, f64>,
    /// Per function and norm: samples with an adversarial example, median empirical radius.
    pub summary: Vec<EmpiricalSummary>,
    /// Robust (and certified) accuracy against ε.
    pub curves: Vec<RobustCurve>,
    /// Attack success rates against ε.
    pub success: Vec<SuccessCurve>,
    /// The adversarial audit, per function and norm (`null` without certificates).
    pub audit: Option<Vec<AuditCount>>,
    /// Why the audit did not run, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_note: Option<String>,
    /// Median certified / empirical ratios.
    pub ratios: Vec<RatioEntry>,
    /// The violation records written to `RUN_DIR/violations/` (empty when the audit passed).
    #[serde(default)]
    pub violation_records: Vec<String>,
    /// One entry per sample, in test-set order.
    pub samples: Vec<SampleEmpirical>,
}

/// Per function and norm, over the samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalSummary {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// Correctly classified samples for which an adversarial example was found.
    pub broken: usize,
    /// Correctly classified samples.
    pub correct: usize,
    /// Median empirical radius over correctly classified samples (normalised; `null` when most have none).
    pub median_radius: FileRadius,
    /// The same in pixel units.
    pub median_radius_pixel: FileRadius,
}

impl EmpiricalFile {
    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::fsio::write_json_atomic(path, self)
    }

    /// Reads a file written by [`EmpiricalFile::write`], checking its format.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::fsio::read(path)?;
        // The format first, so that a file of another layout is named as such rather than as malformed.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format =
            serde_json::from_slice::<Format>(&bytes).map_err(|e| Error::format(path, e.to_string()))?.format;
        if format != EMPIRICAL_FORMAT {
            let which = if format > EMPIRICAL_FORMAT { "a later" } else { "an earlier" };
            return Err(Error::format(
                path,
                format!(
                    "empirical format {format}, written by {which} lcr-verify (this one reads format \
                     {EMPIRICAL_FORMAT}): re-run `lcr-verify attack`"
                ),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::format(path, e.to_string()))
    }

    /// Violations found by the audit (0 without one).
    pub fn violations(&self) -> usize {
        self.audit.iter().flatten().map(|a| a.violations).sum()
    }
}

fn fmt_r(r: FileRadius) -> String {
    r.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}

/// A Markdown summary: empirical radii, the audit, certified/empirical ratios, and CA ≤ RA at a few ε.
pub fn render_table(file: &EmpiricalFile) -> String {
    let n = file.samples.len();
    let mut s = format!("Empirical radii of {n} test samples (smallest confirmed adversarial example):\n\n");
    s.push_str("| function | norm | clean (proven) | broken | median radius | median (pixel) |\n");
    s.push_str("|---|---|---:|---:|---:|---:|\n");
    for e in &file.summary {
        let clean = file.accuracy.get(&e.function).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1}% | {}/{} | {} | {} |",
            e.function.name(),
            e.norm.name(),
            100.0 * clean,
            e.broken,
            e.correct,
            fmt_r(e.median_radius),
            fmt_r(e.median_radius_pixel)
        );
    }
    match &file.audit {
        Some(audit) => {
            s.push_str("\nAudit (certified radius ≤ empirical radius, every sample):\n\n");
            s.push_str("| function | norm | checked | violations |\n|---|---|---:|---:|\n");
            for a in audit {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    a.function.name(),
                    a.norm.name(),
                    a.checked,
                    a.violations
                );
            }
        }
        None => {
            let _ =
                writeln!(s, "\nAudit not run: {}", file.audit_note.as_deref().unwrap_or("no certificates"));
        }
    }
    if !file.ratios.is_empty() {
        s.push_str("\nMedian certified / empirical radius:\n\n| function | norm | method | samples | median ratio |\n");
        s.push_str("|---|---|---|---:|---:|\n");
        for r in &file.ratios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.function.name(),
                r.norm.name(),
                r.method,
                r.samples,
                r.median_ratio.map_or("-".into(), |v| format!("{v:.3}"))
            );
        }
    }
    s
}
