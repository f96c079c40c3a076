//! `RUN_DIR/certificates.json`: per test sample, per function, norm and method, the certified radius.
//!
//! Radii are in the network's (normalised) input space; `best_pixel` and the curves are in pixel units (p/255),
//! where a normalised radius r covers every perturbation of norm below r·min std
//! ([`crate::data::Normalization::min_std`]), rounded down. A radius of `null` is unbounded: every input keeps
//! the label (possible for the sign network when every pattern of its first sign layer gives the same class).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Coverage;
use crate::audit::corruption::CertifiedRadii;
use crate::error::{Error, Result};
use crate::ir::{Function, InputNorm};

/// Version of the `certificates.json` layout.
pub const CERTIFICATES_FORMAT: u32 = 1;

/// A radius as written: a number, or `null` for +∞.
pub type FileRadius = Option<f64>;

/// A radius for the file (`None` for +∞).
pub fn to_file(r: f64) -> FileRadius {
    r.is_finite().then_some(r)
}

/// A radius read from the file (+∞ for `None`).
pub fn from_file(r: FileRadius) -> f64 {
    r.unwrap_or(f64::INFINITY)
}

/// The certificate methods, as named in the file.
pub mod method {
    /// Surrogate/latent: min over j of m_tj/L_tj with certified network-scope constants (theorem V2).
    pub const MARGIN: &str = "margin";
    /// Surrogate/latent: the same with domain-scope constants as well; covers the ball's domain inputs (theorem V8).
    pub const MARGIN_DOMAIN: &str = "margin-domain";
    /// Surrogate/latent, ℓ∞, small nets: bisection with local LP constants (theorem V6).
    pub const LOCAL_LP: &str = "local-lp";
    /// Deployed: no unit of the first sign layer changes sign (theorem V3).
    pub const SIGN_STABILITY: &str = "sign-stability";
    /// Deployed: interval propagation through the sign layers (theorem V4).
    pub const BOUND_PROPAGATION: &str = "bound-propagation";
    /// Deployed, tiny nets: the certified side of the exact minimal perturbation (theorem V5).
    pub const EXACT: &str = "exact";
}

/// One method that ran, with what its radii mean and a summary over the samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodEntry {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// The method's name ([`method`]).
    pub method: String,
    /// Always `certified`: only proven radii are written here.
    pub soundness: crate::bounds::Soundness,
    /// Which inputs the radii speak about: `network` (the whole ball) or `domain` (its valid-pixel part).
    pub coverage: Coverage,
    /// The theorem in `proofs/certify.md`.
    pub theorem: String,
    /// Samples with a positive radius.
    pub certified: usize,
    /// Median radius over all samples (normalised; `null` when unbounded).
    pub median_radius: FileRadius,
    /// The same in pixel units.
    pub median_radius_pixel: FileRadius,
    /// Seconds spent.
    pub seconds: f64,
}

/// A method that does not apply, with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedMethod {
    /// The function.
    pub function: Function,
    /// The norm, when the reason is specific to one.
    pub norm: Option<InputNorm>,
    /// The method.
    pub method: String,
    /// Why, in words.
    pub reason: String,
}

/// A certified accuracy curve: CA(ε) = fraction of samples certified beyond ε (pixel units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveEntry {
    /// The function.
    pub function: Function,
    /// The norm.
    pub norm: InputNorm,
    /// A method, or `best` (the largest radius of any method, per sample).
    pub method: String,
    /// ε in pixel units (p/255).
    pub eps_pixel: Vec<f64>,
    /// CA(ε).
    pub certified_accuracy: Vec<f64>,
}

/// The exact minimal perturbation of a sample (deployed, tiny nets): the certified lower side and the distance
/// of an input proven misclassified.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactEntry {
    /// Certified: every input closer than this keeps the label.
    pub lower: FileRadius,
    /// The distance of an input proven misclassified (`null` when none was found).
    pub upper: FileRadius,
}

/// Everything certified about one test sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleCertificates {
    /// Index in the test set.
    pub index: usize,
    /// The label.
    pub label: usize,
    /// Per function: the class its enclosure proves at the sample (`null` when no class is proven).
    pub prediction: BTreeMap<Function, Option<usize>>,
    /// Per function, norm and method: the certified radius (normalised input space).
    pub radius: BTreeMap<Function, BTreeMap<InputNorm, BTreeMap<String, FileRadius>>>,
    /// Per function and norm: the largest radius of any method, in pixel units (theorem V7).
    pub best_pixel: BTreeMap<Function, BTreeMap<InputNorm, FileRadius>>,
    /// Per function and norm: the method of that largest radius (its coverage is the method's: `exact` and
    /// `local-lp` speak of valid images only).
    pub best_method: BTreeMap<Function, BTreeMap<InputNorm, String>>,
    /// Deployed, tiny nets: the exact minimal perturbation per norm.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<InputNorm, ExactEntry>,
}

impl SampleCertificates {
    /// The largest radius of any method for `function` and `norm`, with the method (0 and `none` when absent).
    pub fn best(&self, function: Function, norm: InputNorm) -> (f64, String) {
        let Some(m) = self.radius.get(&function).and_then(|n| n.get(&norm)) else {
            return (0.0, "none".into());
        };
        m.iter()
            .map(|(k, &r)| (from_file(r), k.clone()))
            .fold((0.0, "none".into()), |a, b| if b.0 > a.0 { b } else { a })
    }
}

/// The contents of `certificates.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificatesFile {
    /// [`CERTIFICATES_FORMAT`].
    pub format: u32,
    /// lcr-verify version that wrote it.
    pub version: String,
    /// Model and bounds digests, dataset and checksum, input space, request, seconds.
    pub provenance: serde_json::Value,
    /// The methods that ran.
    pub methods: Vec<MethodEntry>,
    /// The methods that do not apply, with the reason.
    pub skipped: Vec<SkippedMethod>,
    /// Per function: the fraction of samples whose prediction is proven to be the label.
    pub accuracy: BTreeMap<Function, f64>,
    /// Certified accuracy curves, per function, norm and method, and of the best method.
    pub curves: Vec<CurveEntry>,
    /// One entry per sample, in test-set order.
    pub samples: Vec<SampleCertificates>,
}

impl CertificatesFile {
    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::fsio::write_json_atomic(path, self)
    }

    /// Reads and checks a file written by [`CertificatesFile::write`]: its format, and sample indices
    /// 0, 1, 2, … in order.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::fsio::read(path)?;
        let format = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| Error::format(path, format!("not JSON: {e}")))?["format"]
            .as_u64();
        if format != Some(u64::from(CERTIFICATES_FORMAT)) {
            let found = format.map_or_else(|| "missing".to_string(), |f| f.to_string());
            let which = match format {
                Some(f) if f > u64::from(CERTIFICATES_FORMAT) => "written by a later lcr-verify",
                Some(_) => "written by an earlier lcr-verify",
                None => "not a certificates file",
            };
            return Err(Error::format(
                path,
                format!(
                    "certificates format {found} ({which}; this one reads format {CERTIFICATES_FORMAT}): re-run \
                     `lcr-verify certify`"
                ),
            ));
        }
        let file: CertificatesFile =
            serde_json::from_slice(&bytes).map_err(|e| Error::format(path, e.to_string()))?;
        if let Some((k, s)) = file.samples.iter().enumerate().find(|(k, s)| s.index != *k) {
            return Err(Error::format(path, format!("entry {k} is about sample {}, expected {k}", s.index)));
        }
        Ok(file)
    }

    /// The SHA-256 of the model file the certificates are about.
    pub fn model_sha256(&self) -> Option<&str> {
        self.provenance["model_sha256"].as_str()
    }

    /// Refuses certificates about another model file or other test images than the ones a stage is about to
    /// compare them with (`path` is the file, named in the error).
    pub fn check_matches(&self, path: &Path, model_sha256: &str, dataset_checksum: &str) -> Result<()> {
        if self.model_sha256() != Some(model_sha256) {
            return Err(Error::format(
                path,
                "its certificates are about another model file than the run's: re-run `lcr-verify certify`",
            ));
        }
        if self.provenance["dataset_checksum"].as_str() != Some(dataset_checksum) {
            return Err(Error::format(
                path,
                "its certificates are about the images of another dataset (another checksum) than the ones \
                 compared with them: re-run `lcr-verify certify` with the same --data-dir",
            ));
        }
        Ok(())
    }

    /// The function and norm pairs the file certifies.
    pub fn pairs(&self) -> Vec<(Function, InputNorm)> {
        let mut v: Vec<(Function, InputNorm)> = self.methods.iter().map(|m| (m.function, m.norm)).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The best radius of every sample for each function and norm the file certifies (what the audits check).
    pub fn best_radii(&self) -> Vec<CertifiedRadii> {
        self.pairs()
            .into_iter()
            .map(|(function, norm)| {
                let (radius, method) = self.samples.iter().map(|s| s.best(function, norm)).unzip();
                CertifiedRadii { function, norm, radius, method }
            })
            .collect()
    }
}

fn fmt_radius(r: FileRadius) -> String {
    r.map_or_else(|| "∞".to_string(), |v| format!("{v:.4}"))
}

/// A Markdown table of the methods (every radius with its soundness and coverage), the certified accuracy of
/// the best method at a few ε, and the skipped methods.
pub fn render_table(file: &CertificatesFile) -> String {
    use std::fmt::Write as _;
    let n = file.samples.len();
    let mut s =
        format!("Certified radii of {n} test samples (normalised input space; pixel = p/255 units):\n\n");
    s.push_str("| function | norm | method | soundness | coverage | certified | median radius | median (pixel) | seconds |\n");
    s.push_str("|---|---|---|---|---|---:|---:|---:|---:|\n");
    for m in &file.methods {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {}/{n} | {} | {} | {:.2} |",
            m.function.name(),
            m.norm.name(),
            m.method,
            m.soundness.name(),
            match m.coverage {
                Coverage::Network => "network",
                Coverage::Domain => "domain",
            },
            m.certified,
            fmt_radius(m.median_radius),
            fmt_radius(m.median_radius_pixel),
            m.seconds
        );
    }
    s.push_str(
        "\nCertified accuracy of the best method (ε in pixel units):\n\n| function | norm | clean (proven) |",
    );
    let picks = |norm: InputNorm| -> Vec<f64> {
        match norm {
            InputNorm::L2 => vec![0.1, 0.3, 0.5, 1.0],
            InputNorm::Linf => vec![0.01, 0.03, 0.1, 0.3],
        }
    };
    s.push_str(" ε → CA(ε) |\n|---|---|---:|---|\n");
    for c in file.curves.iter().filter(|c| c.method == "best") {
        let cells: Vec<String> = picks(c.norm)
            .iter()
            .filter_map(|e| {
                let i = c.eps_pixel.iter().position(|g| (g - e).abs() < 1e-12)?;
                Some(format!("{e}: {:.1}%", 100.0 * c.certified_accuracy[i]))
            })
            .collect();
        let clean = file.accuracy.get(&c.function).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1}% | {} |",
            c.function.name(),
            c.norm.name(),
            100.0 * clean,
            cells.join(", ")
        );
    }
    if !file.skipped.is_empty() {
        s.push_str("\nSkipped:\n");
        for k in &file.skipped {
            let norm = k.norm.map_or(String::new(), |n| format!(" {}", n.name()));
            let _ = writeln!(s, "- {} ({}{norm}): {}", k.method, k.function.name(), k.reason);
        }
    }
    s
}
