//! `lcr-verify import`: a network trained elsewhere as a run directory.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::error::Result;
use crate::import::{self, ImportRequest};

/// Flags of `lcr-verify import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The weights: a safetensors file with PyTorch's key names (`safetensors.torch.save_file(model.state_dict())`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The TOML spec of the network: dataset, input shape and normalisation, sign(0) convention, layers in order.
    #[arg(long)]
    pub spec: PathBuf,
    /// The run directory to write; it must not exist or be empty.
    #[arg(long)]
    pub out: PathBuf,
    /// Dataset directory (default: the spec's `data_dir`, else the shipped copy).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs `lcr-verify import`: everything is checked, and the network evaluated, before `--out` is touched.
pub fn run(args: &ImportArgs) -> Result<Outcome> {
    let req = ImportRequest {
        spec: args.spec.clone(),
        weights: args.weights.clone(),
        data_dir: args.data_dir.clone(),
    };
    import::check_out(&args.out)?;
    let prepared = import::prepare(&req)?;
    let _lock = super::lock(&args.out, true)?;
    import::check_out_locked(&args.out)?;
    let metrics = import::write(&prepared, &args.out)?;
    let m = &prepared.meta.spec;
    let acc = metrics.final_.as_ref().map_or(0.0, |f| f.test_accuracy);
    super::emit(format!(
        "imported {} as the {} architecture (widths {:?}) into {}: deployed accuracy {:.2}% on the {} test split",
        args.weights.display(),
        m.arch.name(),
        m.widths,
        args.out.display(),
        100.0 * acc,
        prepared.meta.dataset
    ))?;
    Ok(Outcome::Success)
}
