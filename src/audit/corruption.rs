//! The corruption audit: corrupted images inside a certified ball must keep their label.
//!
//! For every corrupted image whose clean image has certificates, its distance d to the clean image (normalised
//! input space, ℓ2 and ℓ∞) is compared with each certified radius r. When d < r (d rounded up, so "inside" is
//! never claimed wrongly) the exact function must still predict the label; the enclosure of its output at the
//! corrupted image decides (theorem V1): a proof that some other class is at least as large is a violation, an
//! undecided enclosure (a near-tie) is counted apart. Beside the check it reports, per corruption and severity,
//! how many images fall inside the balls, the median ratio d/r, and Spearman's correlation between a sample's
//! radius and whether the deployed network kept its label; per suite, the correlation between the radius and
//! how many of the sample's corrupted versions kept it.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::stats::{median, spearman};
use super::{AuditCount, Violation, ViolationKind};
use crate::data::{ImageSet, Normalization};
use crate::error::Result;
use crate::ir::{Function, InputNorm, Net, Verdict, columns, verdict};

/// Images enclosed together: the enclosure of a batch is one matrix product per layer.
const ENCLOSURE_BATCH: usize = 256;

/// The best certified radius of every sample (index = test-set index) for one function and norm.
#[derive(Clone, Debug, PartialEq)]
pub struct CertifiedRadii {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// Per sample: the largest certified radius (0 when none), normalised input space.
    pub radius: Vec<f64>,
    /// Per sample: the method that gave it.
    pub method: Vec<String>,
}

/// The audit of one corruption at one severity, for one function and norm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellAudit {
    /// Corruption name.
    pub corruption: String,
    /// Severity.
    pub severity: u8,
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// Corrupted images whose clean image has certificates.
    pub images: usize,
    /// Of them, those inside their clean image's certified ball (each one checked).
    pub inside: usize,
    /// inside / images.
    pub inside_fraction: f64,
    /// Median of distance / radius over images with a positive radius (`null` when none).
    pub median_ratio: Option<f64>,
    /// Spearman's ρ between the radius and whether the deployed network kept the label (`null` when either is
    /// constant).
    pub correlation: Option<f64>,
    /// Images inside a ball whose enclosure proves another label: violations.
    pub violations: usize,
    /// Images inside a ball whose enclosure decides nothing (a near-tie): neither kept nor violated.
    pub undecided: usize,
}

/// Per suite: does a larger certificate predict corruption robustness?
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteCorrelation {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// Samples seen in every cell.
    pub samples: usize,
    /// Spearman's ρ between a sample's radius and how many of its corrupted versions the deployed network kept.
    pub spearman: Option<f64>,
}

/// The corruption audit recorded in `corruption.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionAuditReport {
    /// Clean samples with certificates.
    pub samples: usize,
    /// Per function and norm: corrupted images inside a certified ball (checked) and violations.
    pub checks: Vec<AuditCount>,
    /// Per corruption, severity, function and norm.
    pub cells: Vec<CellAudit>,
    /// Per function and norm, over the whole suite.
    pub correlation: Vec<SuiteCorrelation>,
    /// What the figures mean, in words.
    pub note: String,
    /// The violation records written to `RUN_DIR/violations/` (empty when the audit passed).
    #[serde(default)]
    pub violation_records: Vec<String>,
}

/// What an audit of some of a suite's cells found (a shard's share, see [`CorruptionAudit::part`]): their cell
/// entries and violations, and per sample how many of their images were seen and kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPart {
    /// The cells' entries, per cell one per certificate entry, in the order the cells were audited.
    pub cells: Vec<CellAudit>,
    /// Per sample: how many of its corrupted images the deployed network kept.
    pub kept: Vec<u32>,
    /// Per sample: how many of its corrupted images were seen.
    pub seen: Vec<u32>,
    /// Cells audited.
    pub n_cells: u32,
    /// The violations, in the order found.
    pub violations: Vec<Violation>,
}

/// What an open cell collects for one certificate entry: (radius, kept) pairs and distance/radius ratios.
type OpenCell = (Vec<(f64, f64)>, Vec<f64>);

/// Accumulates the audit while the corruption evaluation runs, chunk by chunk.
pub struct CorruptionAudit<'a> {
    net: &'a Net,
    /// The net the `latent` function is evaluated on when it is not `net` (BatchNorm refitted for it).
    latent: Option<&'a Net>,
    normalization: &'a Normalization,
    clean: Vec<Vec<f64>>,
    labels: Vec<usize>,
    certs: Vec<CertifiedRadii>,
    cells: Vec<CellAudit>,
    /// Per certificate entry of the open cell.
    open: Vec<OpenCell>,
    kept: Vec<u32>,
    seen: Vec<u32>,
    n_cells: u32,
    violations: Vec<Violation>,
}

impl<'a> CorruptionAudit<'a> {
    /// An audit of the certificates `certs` (every entry covering the same samples 0..n) for images of the
    /// clean set `clean_set` (its first n images are the certified samples).
    pub fn new(
        net: &'a Net,
        normalization: &'a Normalization,
        clean_set: &ImageSet,
        certs: Vec<CertifiedRadii>,
    ) -> Result<Self> {
        let n = certs.iter().map(|c| c.radius.len()).min().unwrap_or(0).min(clean_set.len());
        let per = net.input_len();
        let values = normalization.values(clean_set, &(0..n).collect::<Vec<_>>())?;
        let clean = values.chunks(per).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
        let labels = clean_set.labels[..n].iter().map(|&l| l as usize).collect();
        Ok(CorruptionAudit {
            net,
            latent: None,
            normalization,
            clean,
            labels,
            certs,
            cells: Vec::new(),
            open: Vec::new(),
            kept: vec![0; n],
            seen: vec![0; n],
            n_cells: 0,
            violations: Vec::new(),
        })
    }

    /// The same audit with the `latent` function evaluated on `latent` (the net with BatchNorm refitted for it,
    /// [`crate::latent_bn`]), as the certificates were; `None` keeps `net` for every function.
    pub fn with_latent(mut self, latent: Option<&'a Net>) -> Self {
        self.latent = latent;
        self
    }

    /// The net `f` is evaluated on, of `net` and the `latent` one.
    fn net_of(net: &'a Net, latent: Option<&'a Net>, f: Function) -> &'a Net {
        match (latent, f) {
            (Some(l), Function::Latent) => l,
            _ => net,
        }
    }

    /// Clean samples covered.
    pub fn samples(&self) -> usize {
        self.clean.len()
    }

    /// Starts a new cell (corruption at a severity).
    pub fn begin_cell(&mut self, corruption: &str, severity: u8) {
        self.n_cells += 1;
        self.open = vec![(Vec::new(), Vec::new()); self.certs.len()];
        for c in &self.certs {
            self.cells.push(CellAudit {
                corruption: corruption.to_string(),
                severity,
                function: c.function,
                norm: c.norm,
                images: 0,
                inside: 0,
                inside_fraction: 0.0,
                median_ratio: None,
                correlation: None,
                violations: 0,
                undecided: 0,
            });
        }
    }

    /// Observes images `start..start + images.len()` of the current cell (image k corrupts test image
    /// start + k) with the deployed network's predictions of them.
    ///
    /// Distances rounded up (F1), so "inside" is never claimed wrongly; the label of an inside image is judged
    /// by the enclosure of the certified function (theorem V1, proofs/certify.md). Checked by
    /// tests/audit.rs::corruption_audit_catches_a_false_certificate_and_passes_true_ones and
    /// tests/audit_random.rs::corruption_audit_passes_on_a_seeded_random_network.
    pub fn observe(&mut self, start: usize, images: &ImageSet, predictions: &[u8]) -> Result<()> {
        let n = self.samples();
        let upto = images.len().min(n.saturating_sub(start));
        if upto == 0 {
            return Ok(());
        }
        let values = self.normalization.values(images, &(0..upto).collect::<Vec<_>>())?;
        let per = self.net.input_len();
        // Distances in both norms, rounded up, once per image.
        let dists: Vec<(Vec<f64>, [f64; 2])> = values
            .par_chunks(per)
            .enumerate()
            .map(|(k, c)| {
                let x: Vec<f64> = c.iter().map(|&v| v as f64).collect();
                let clean = &self.clean[start + k];
                let d = [InputNorm::L2.dist_up(&x, clean), InputNorm::Linf.dist_up(&x, clean)];
                (x, d)
            })
            .collect();
        // The verdicts of every image inside some ball, per function: one batched enclosure per chunk of
        // images (the same enclosure serves the ℓ2 and the ℓ∞ entry of a function).
        let inside = |e: usize, k: usize| {
            let cert = &self.certs[e];
            let r = cert.radius[start + k];
            r > 0.0 && dists[k].1[usize::from(cert.norm == InputNorm::Linf)] < r
        };
        let mut verdicts: Vec<(Function, Vec<Option<Verdict>>)> = Vec::new();
        for e in 0..self.certs.len() {
            let f = self.certs[e].function;
            if verdicts.iter().any(|(g, _)| *g == f) {
                continue;
            }
            let wanted: Vec<usize> = (0..dists.len())
                .filter(|&k| (0..self.certs.len()).any(|e2| self.certs[e2].function == f && inside(e2, k)))
                .collect();
            let decided: Vec<Vec<(usize, Verdict)>> = wanted
                .par_chunks(ENCLOSURE_BATCH)
                .map(|ks| -> Result<Vec<(usize, Verdict)>> {
                    let xs: Vec<Vec<f64>> = ks.iter().map(|&k| dists[k].0.clone()).collect();
                    let out = Self::net_of(self.net, self.latent, f).enclose_points(&columns(&xs), f)?;
                    Ok(ks
                        .iter()
                        .enumerate()
                        .map(|(c, &k)| (k, verdict(&out, c, self.labels[start + k])))
                        .collect())
                })
                .collect::<Result<_>>()?;
            let mut per = vec![None; dists.len()];
            for (k, v) in decided.into_iter().flatten() {
                per[k] = Some(v);
            }
            verdicts.push((f, per));
        }
        let first_cell = self.cells.len() - self.certs.len();
        let (net, latent) = (self.net, self.latent);
        for (k, (x, d)) in dists.iter().enumerate() {
            let i = start + k;
            let kept = predictions[k] as usize == self.labels[i];
            self.seen[i] += 1;
            self.kept[i] += u32::from(kept);
            for (e, cert) in self.certs.iter().enumerate() {
                let dist = d[usize::from(cert.norm == InputNorm::Linf)];
                let r = cert.radius[i];
                let cell = &mut self.cells[first_cell + e];
                cell.images += 1;
                self.open[e].0.push((r, if kept { 1.0 } else { 0.0 }));
                if r > 0.0 {
                    self.open[e].1.push(dist / r);
                }
                if r > 0.0 && dist < r {
                    cell.inside += 1;
                    // Every inside image was enclosed above; should one not have been, it is enclosed alone.
                    let decided =
                        match verdicts.iter().find(|(g, _)| *g == cert.function).and_then(|(_, v)| v[k]) {
                            Some(v) => v,
                            None => verdict(
                                &Self::net_of(net, latent, cert.function)
                                    .enclose_points(&columns(std::slice::from_ref(x)), cert.function)?,
                                0,
                                self.labels[i],
                            ),
                        };
                    match decided {
                        Verdict::Keeps => {}
                        Verdict::Unknown => cell.undecided += 1,
                        Verdict::Loses => {
                            cell.violations += 1;
                            let logits =
                                Self::net_of(net, latent, cert.function).forward(x, cert.function)?;
                            let predicted = (0..logits.len())
                                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                                .unwrap_or(0);
                            self.violations.push(Violation {
                                kind: ViolationKind::Corruption,
                                sample: i,
                                label: self.labels[i],
                                function: cert.function,
                                norm: cert.norm,
                                certified_radius: r,
                                method: cert.method[i].clone(),
                                distance: dist,
                                clean_prediction: self.labels[i],
                                perturbed_prediction: predicted,
                                source: format!("{}-s{}", cell.corruption, cell.severity),
                                input: self.clean[i].clone(),
                                perturbed: x.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes the current cell: fractions, medians, correlations.
    pub fn end_cell(&mut self) {
        let first_cell = self.cells.len() - self.certs.len();
        for (e, (pairs, ratios)) in std::mem::take(&mut self.open).into_iter().enumerate() {
            let cell = &mut self.cells[first_cell + e];
            if cell.images > 0 {
                cell.inside_fraction = cell.inside as f64 / cell.images as f64;
            }
            cell.median_ratio = median(ratios);
            let (r, kept): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            cell.correlation = spearman(&r, &kept);
        }
    }

    /// What was audited so far (closed cells only), for a merge with the other cells' parts ([`Self::resume`]).
    pub fn part(self) -> AuditPart {
        AuditPart {
            cells: self.cells,
            kept: self.kept,
            seen: self.seen,
            n_cells: self.n_cells,
            violations: self.violations,
        }
    }

    /// Takes in the parts of a fresh audit's cells, as if it had audited them itself: `rank` gives a cell's
    /// position in the suite (corruption, severity), which orders the cell entries and the violations (a
    /// violation's `source` names its cell as `corruption-sSEVERITY`). `Err` with the index of a part whose
    /// sample count differs from this audit's.
    pub fn resume(
        &mut self,
        parts: Vec<AuditPart>,
        rank: &dyn Fn(&str, u8) -> usize,
    ) -> std::result::Result<(), usize> {
        let n = self.samples();
        if let Some(k) = parts.iter().position(|p| p.kept.len() != n || p.seen.len() != n) {
            return Err(k);
        }
        let mut cells = Vec::new();
        let mut violations = Vec::new();
        for p in parts {
            for i in 0..n {
                self.kept[i] += p.kept[i];
                self.seen[i] += p.seen[i];
            }
            self.n_cells += p.n_cells;
            cells.extend(p.cells);
            violations.extend(p.violations);
        }
        // Stable sorts: within a cell, the order of the audit.
        cells.sort_by_key(|c: &CellAudit| rank(&c.corruption, c.severity));
        let of_source = |v: &Violation| {
            let (c, s) = v.source.rsplit_once("-s").unwrap_or((v.source.as_str(), "0"));
            rank(c, s.parse().unwrap_or(0))
        };
        violations.sort_by_key(of_source);
        self.cells.extend(cells);
        self.violations.extend(violations);
        Ok(())
    }

    /// The report and the violations found.
    pub fn finish(self) -> (CorruptionAuditReport, Vec<Violation>) {
        let mut checks = Vec::new();
        let mut correlation = Vec::new();
        let full: Vec<usize> = (0..self.samples()).filter(|&i| self.seen[i] == self.n_cells).collect();
        for c in &self.certs {
            let mine = self.cells.iter().filter(|x| x.function == c.function && x.norm == c.norm);
            let (checked, violations) = mine.fold((0, 0), |(a, b), x| (a + x.inside, b + x.violations));
            checks.push(AuditCount { function: c.function, norm: c.norm, checked, violations });
            let r: Vec<f64> = full.iter().map(|&i| c.radius[i]).collect();
            let k: Vec<f64> = full.iter().map(|&i| self.kept[i] as f64).collect();
            correlation.push(SuiteCorrelation {
                function: c.function,
                norm: c.norm,
                samples: full.len(),
                spearman: spearman(&r, &k),
            });
        }
        let report = CorruptionAuditReport {
            samples: self.samples(),
            checks,
            cells: self.cells,
            correlation,
            note: "distances in the normalised input space, rounded up; an image is inside when its distance is \
                   below its clean image's best certified radius; inside images are judged by the enclosure of the \
                   certified function's exact output; 'kept' (for the correlations) is the deployed network's \
                   prediction"
                .into(),
            violation_records: Vec::new(),
        };
        (report, self.violations)
    }
}
