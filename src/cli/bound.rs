//! `lcr-verify bound RUN_DIR`: Lipschitz bounds of a trained network, three ways, with their provenance.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::Outcome;
use crate::bounds::{self, BoundOptions, BoundsFile, Methods, Norm};
use crate::error::{Error, Result};
use crate::export::export;
use crate::ir::Function;
use crate::run_dir::RunDir;

/// A bounding method, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Certified products of exact layer norms (SVD / Gram iteration, conv brackets).
    Spectral,
    /// The paper's retention-matrix proxies (estimates) and their proven normalised lower bounds.
    Retention,
    /// Certified LipLP upper bounds (small feed-forward nets).
    Lp,
    /// Exact values by activation-pattern and region enumeration (tiny nets).
    Exact,
    /// Lower bounds from gradient norms at the sample points.
    Sampled,
}

/// The input norm of the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NormArg {
    /// ℓ2: the whole logit map and the pairwise margins.
    L2,
    /// ℓ∞: the pairwise margins.
    Linf,
}

/// A function a bound can be about (the deployed sign network has no finite Lipschitz constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FunctionArg {
    /// Binary weights, hardtanh for sign.
    Surrogate,
    /// Real latent weights, hardtanh for sign.
    Latent,
}

/// Flags of `lcr-verify bound`.
#[derive(Debug, Args)]
pub struct BoundArgs {
    /// Run directory holding model.safetensors; bounds.json is written there.
    pub run_dir: PathBuf,
    /// Methods to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub methods: Option<Vec<MethodArg>>,
    /// Input norm (default: both).
    #[arg(long, value_enum)]
    pub norm: Option<NormArg>,
    /// Functions to bound, comma-separated (default: surrogate,latent).
    #[arg(long, value_enum, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub functions: Option<Vec<FunctionArg>>,
    /// Test images used by the data-dependent methods (retention matrices, sampled gradients, local LP); at least 1.
    #[arg(long, default_value_t = 256)]
    pub samples: usize,
    /// Also a local LP bound on the ℓ∞ ball of this radius (in normalised input units) around the first sample.
    #[arg(long)]
    pub lp_local_radius: Option<f64>,
    /// Raise the LP's size limit (nonzero coefficients); larger LPs take much longer.
    #[arg(long)]
    pub lp_max_nnz: Option<usize>,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print bounds.json to standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl BoundArgs {
    fn options(&self, stage_ends: Vec<usize>) -> Result<BoundOptions> {
        let mut o = BoundOptions::default();
        if let Some(list) = &self.methods {
            let on = |m| list.contains(&m);
            o.methods = Methods {
                spectral: on(MethodArg::Spectral),
                retention: on(MethodArg::Retention),
                lp: on(MethodArg::Lp),
                exact: on(MethodArg::Exact),
                sampled: on(MethodArg::Sampled),
            };
        }
        match self.norm {
            Some(NormArg::L2) => {
                o.norms = vec![Norm::L2, Norm::L2Margin];
                o.lp_norms = Vec::new();
            }
            Some(NormArg::Linf) => {
                o.norms = vec![Norm::LinfMargin];
                o.lp_norms = vec![Norm::LinfMargin];
            }
            None => {}
        }
        if let Some(fs) = &self.functions {
            o.functions = fs
                .iter()
                .map(|f| match f {
                    FunctionArg::Surrogate => Function::Surrogate,
                    FunctionArg::Latent => Function::Latent,
                })
                .collect();
        }
        if let Some(r) = self.lp_local_radius {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::config("lp-local-radius", format!("{r} must be a positive number")));
            }
            o.lp_local_radius = Some(r);
        }
        if let Some(n) = self.lp_max_nnz {
            o.lp.max_nnz = n;
        }
        o.retention.stage_ends = Some(stage_ends);
        Ok(o)
    }
}

/// Everything in `args` that decides the bounds (recorded as `meta.request`; earlier bounds are reused only for an
/// equal request).
pub fn request(args: &BoundArgs) -> serde_json::Value {
    json!({
        "methods": args.methods.as_ref().map(|m| format!("{m:?}")),
        "norm": args.norm.map(|n| format!("{n:?}")),
        "functions": args.functions.as_ref().map(|f| format!("{f:?}")),
        "samples": args.samples,
        "lp_local_radius": args.lp_local_radius,
        "lp_max_nnz": args.lp_max_nnz,
        "data_dir": args.data_dir.as_ref().map(|d| d.display().to_string()),
    })
}

/// Computes the bounds of `args.run_dir` and writes `bounds.json` there, replacing any earlier one: the file
/// always holds exactly the bounds of one run, all about the same model and options.
pub fn compute(args: &BoundArgs) -> Result<BoundsFile> {
    if args.samples == 0 {
        return Err(Error::config(
            "samples",
            "must be at least 1 (to skip the data-dependent methods, leave them out of --methods)",
        ));
    }
    let run = RunDir::new(&args.run_dir);
    let (model, meta) = run.load_model(&Device::Cpu)?;
    let net = export(&model).map_err(|e| Error::Model { path: run.model(), problem: e.to_string() })?;
    let dataset = run.load_dataset(&meta, args.data_dir.as_deref())?;
    let n = args.samples.min(dataset.test.len());
    let indices: Vec<usize> = (0..n).collect();
    let flat = meta.normalization.values(&dataset.test, &indices)?;
    let per = net.input_len();
    let sample: Vec<Vec<f64>> = flat.chunks(per).map(|c| c.iter().map(|&v| v as f64).collect()).collect();
    // The model's own stage list, for the per-stage retention matrices.
    let x = meta.normalization.tensor(&dataset.test, &indices[..n.min(2)], &Device::Cpu)?;
    let stages = model
        .forward(&x.to_dtype(candle_core::DType::F64)?, &crate::model::Ctx::deployed(meta.spec.sign_zero))?
        .stages;
    let opts = args.options(stages)?;
    let started = Instant::now();
    let quiet = args.quiet;
    let progress = move |msg: &str| {
        if !quiet {
            eprintln!("[{:>7.1} s] {msg}", started.elapsed().as_secs_f64());
        }
    };
    let result = bounds::compute_bounds(&net, &opts, (n > 0).then_some(&sample[..]), &progress)?;
    let provenance = json!({
        "run_dir": args.run_dir.display().to_string(),
        "model_seed": meta.seed,
        "model_sha256": crate::fsio::file_sha256(&run.model())?,
        "dataset": meta.dataset.name(),
        "dataset_checksum": meta.dataset_checksum,
        // Every constant is about the network's input, the normalised image x = (p/255 − mean)/std per channel:
        // in pixel units (p/255) an ℓp constant L becomes at most L / min(std).
        "input_space": {
            "kind": "normalised",
            "mean": meta.normalization.mean,
            "std": meta.normalization.std,
            "pixel_scale": 1.0 / 255.0,
        },
        "sample": format!("first {n} test images"),
        "methods": args.methods.as_ref().map(|m| format!("{m:?}")).unwrap_or_else(|| "all".into()),
        "norm": args.norm.map(|n| format!("{n:?}")).unwrap_or_else(|| "l2 and linf".into()),
        "lp_local_radius": args.lp_local_radius,
        "request": request(args),
        "seconds": started.elapsed().as_secs_f64(),
    });
    let file = BoundsFile::new(&net, result, n, provenance);
    file.write(&run.bounds())?;
    Ok(file)
}

/// Runs `lcr-verify bound`.
pub fn run(args: &BoundArgs) -> Result<Outcome> {
    let file = compute(args)?;
    let path = RunDir::new(&args.run_dir).bounds();
    if args.json {
        super::emit(serde_json::to_string_pretty(&file).expect("serialisable"))?;
    } else {
        super::emit(bounds::render_table(&file.bounds, &file.skipped))?;
        super::emit(format!("written to {}", path.display()))?;
    }
    Ok(Outcome::Success)
}
