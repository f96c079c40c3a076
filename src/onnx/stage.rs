//! `lcr-verify export` as a library call: a run's network as an ONNX graph of one function, and optionally one
//! VNN-LIB local-robustness property per test image, with a VNN-COMP `instances.csv` beside them.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::vnnlib::{linf_box, property};
use crate::error::{Error, Result};
use crate::export::export;
use crate::fsio;
use crate::ir::Function;
use crate::run_dir::RunDir;

/// The VNN-LIB part of an export.
#[derive(Clone, Debug, PartialEq)]
pub struct VnnlibRequest {
    /// Directory of the property files (created if missing).
    pub dir: PathBuf,
    /// ℓ∞ radius in pixel scale (p/255, so 2/255 is two grey levels); finite, ≥ 0.
    pub eps: f64,
    /// The first N test images (≥ 1).
    pub samples: usize,
    /// Per-instance time limit written to `instances.csv`, in seconds.
    pub timeout: u32,
}

/// What `lcr-verify export` writes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    /// The ONNX file.
    pub onnx: PathBuf,
    /// The function the graph computes.
    pub function: Function,
    /// Properties to write beside it.
    pub vnnlib: Option<VnnlibRequest>,
    /// Dataset directory, when not the one the run was trained on (VNN-LIB only).
    pub data_dir: Option<PathBuf>,
}

impl ExportRequest {
    /// Refuses what cannot be written, before any work.
    pub fn check(&self) -> Result<()> {
        if let Some(v) = &self.vnnlib {
            if !(v.eps.is_finite() && v.eps >= 0.0) {
                return Err(Error::config("eps", format!("{} is not a finite radius ≥ 0", v.eps)));
            }
            if v.samples == 0 {
                return Err(Error::config(
                    "samples",
                    "0 samples leaves no property to write; give at least 1",
                ));
            }
        }
        Ok(())
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOutcome {
    /// The ONNX file and its size in bytes.
    pub onnx: (PathBuf, usize),
    /// The property files, in sample order, and the instances file.
    pub properties: Vec<PathBuf>,
    /// `instances.csv`, when properties were written.
    pub instances: Option<PathBuf>,
}

/// Writes the export of `run` (every file atomically: a failure leaves no half-written file).
pub fn run(run: &RunDir, req: &ExportRequest) -> Result<ExportOutcome> {
    req.check()?;
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = export(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let sha = fsio::file_sha256(&run.model())?;
    let metadata = vec![
        ("lcr_verify.function".to_string(), req.function.name().to_string()),
        ("lcr_verify.model_sha256".to_string(), sha),
        ("lcr_verify.dataset".to_string(), meta.dataset.name().to_string()),
        ("lcr_verify.input".to_string(), "normalised: (p/255 - mean[c]) / std[c], NCHW".to_string()),
        ("lcr_verify.mean".to_string(), format!("{:?}", meta.normalization.mean)),
        ("lcr_verify.std".to_string(), format!("{:?}", meta.normalization.std)),
    ];
    let bytes = super::to_onnx(&net, req.function, &metadata)?;
    let Some(v) = &req.vnnlib else {
        fsio::write_atomic(&req.onnx, &bytes)?;
        return Ok(ExportOutcome {
            onnx: (req.onnx.clone(), bytes.len()),
            properties: vec![],
            instances: None,
        });
    };
    let dataset = run.load_dataset(&meta, req.data_dir.as_deref())?;
    let set = &dataset.test;
    let n = v.samples.min(set.len());
    let (h, w, c) = (set.height, set.width, set.channels);
    let mean: Vec<f64> = meta.normalization.mean.iter().map(|&m| f64::from(m)).collect();
    let std: Vec<f64> = meta.normalization.std.iter().map(|&s| f64::from(s)).collect();
    std::fs::create_dir_all(&v.dir).map_err(|e| Error::io("creating", &v.dir, e))?;
    fsio::write_atomic(&req.onnx, &bytes)?;
    let mut properties = Vec::with_capacity(n);
    let mut csv = String::new();
    for i in 0..n {
        let img = set.image(i);
        let mut pixels = vec![0.0; c * h * w];
        for (k, &p) in img.iter().enumerate() {
            let (pix, ch) = (k / c, k % c);
            pixels[ch * h * w + pix] = f64::from(p) / 255.0;
        }
        let (lo, hi) = linf_box(&pixels, v.eps, &mean, &std, h * w);
        let label = set.labels[i] as usize;
        let comment = vec![
            format!(
                "lcr-verify {}: test image {i} of {}, label {label}",
                env!("CARGO_PKG_VERSION"),
                meta.dataset.name()
            ),
            format!(
                "every input in the linf ball of radius {} (pixel scale p/255) inside [0, 1], in the network's normalised \
                 coordinates, keeps label {label}; the assertions state the opposite (unsat = robust)",
                v.eps
            ),
        ];
        let path = v.dir.join(format!("prop_{i}.vnnlib"));
        fsio::write_atomic(&path, property(&lo, &hi, label, net.classes, &comment).as_bytes())?;
        csv.push_str(&format!("{},{},{}\n", display(&req.onnx), display(&path), v.timeout));
        properties.push(path);
    }
    let instances = v.dir.join("instances.csv");
    fsio::write_atomic(&instances, csv.as_bytes())?;
    Ok(ExportOutcome { onnx: (req.onnx.clone(), bytes.len()), properties, instances: Some(instances) })
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
