//! `lcr-verify export`: a run's network as ONNX, and local-robustness properties as VNN-LIB.

use std::path::PathBuf;

use clap::Args;

use super::{Outcome, choice, number};
use crate::error::{Error, Result};
use crate::ir::Function;
use crate::onnx::stage::{ExportRequest, VnnlibRequest, run as export_run};
use crate::run_dir::RunDir;

/// Flags of `lcr-verify export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run directory holding model.safetensors.
    pub run_dir: PathBuf,
    /// The ONNX file to write (double precision, operator set 17).
    #[arg(long)]
    pub onnx: PathBuf,
    /// The function the graph computes.
    #[arg(long, default_value = "deployed", value_parser = choice::parser::<Function>())]
    pub function: Function,
    /// Also write one VNN-LIB property per test image into this directory, with a VNN-COMP instances.csv.
    #[arg(long)]
    pub vnnlib: Option<PathBuf>,
    /// ℓ∞ radius of the properties in pixel scale p/255 (e.g. 0.01; 2/255 ≈ 0.00784 is two grey levels).
    #[arg(long, value_parser = number::real)]
    pub eps: Option<f64>,
    /// Properties for the first N test images.
    #[arg(long, default_value = "10", value_parser = number::positive)]
    pub samples: usize,
    /// Per-instance time limit written to instances.csv, in seconds.
    #[arg(long, default_value = "60", value_parser = number::positive)]
    pub timeout: usize,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs `lcr-verify export`.
pub fn run(args: &ExportArgs) -> Result<Outcome> {
    let vnnlib = match (&args.vnnlib, args.eps) {
        (Some(dir), Some(eps)) => Some(VnnlibRequest {
            dir: dir.clone(),
            eps,
            samples: args.samples,
            timeout: u32::try_from(args.timeout).unwrap_or(u32::MAX),
        }),
        (Some(_), None) => {
            return Err(Error::config("eps", "--vnnlib needs the radius --eps of its properties"));
        }
        (None, Some(_)) => return Err(Error::config("eps", "--eps applies to --vnnlib properties only")),
        (None, None) => None,
    };
    let req = ExportRequest {
        onnx: args.onnx.clone(),
        function: args.function,
        vnnlib,
        data_dir: args.data_dir.clone(),
    };
    req.check()?;
    let out = export_run(&RunDir::new(&args.run_dir), &req)?;
    super::emit(format!(
        "wrote {} ({} function, {} bytes){}",
        out.onnx.0.display(),
        args.function.name(),
        out.onnx.1,
        match &out.instances {
            Some(i) => format!("; {} VNN-LIB properties and {}", out.properties.len(), i.display()),
            None => String::new(),
        }
    ))?;
    Ok(Outcome::Success)
}
