//! `lcr-verify latent-bn RUN_DIR`: refit BatchNorm for the latent function.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::error::{Error, Result};
use crate::latent_bn::{self, DEFAULT_IMAGES};
use crate::run_dir::RunDir;

/// Flags of `lcr-verify latent-bn`.
#[derive(Debug, Args)]
pub struct LatentBnArgs {
    /// Run directory holding model.safetensors; latent_bn.json is written there.
    pub run_dir: PathBuf,
    /// Training images the statistics are taken over (the first N); at least 1.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = DEFAULT_IMAGES)]
    pub images: usize,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print latent_bn.json instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `lcr-verify latent-bn`.
pub fn run(args: &LatentBnArgs) -> Result<Outcome> {
    if args.images == 0 {
        return Err(Error::config("images", "must be at least 1"));
    }
    let run = RunDir::new(&args.run_dir);
    let _lock = super::lock(&args.run_dir, false)?;
    let file =
        latent_bn::fit(&run, args.images, args.data_dir.as_deref(), &super::progress_lines(args.quiet))?;
    if args.json {
        super::emit(serde_json::to_string_pretty(&file).expect("serialisable"))?;
    } else {
        super::emit(format!(
            "latent function: BatchNorm refitted on {} training images ({} layers, {:.1} s); test accuracy {:.2}% \
             (with the deployed statistics {:.2}%) on {} test images\nwritten to {}",
            file.train_images,
            file.layers.len(),
            file.seconds,
            100.0 * file.accuracy.refitted,
            100.0 * file.accuracy.deployed_statistics,
            file.accuracy.test_images,
            latent_bn::path(&run).display()
        ))?;
    }
    Ok(Outcome::Success)
}
