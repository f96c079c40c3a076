//! `lcr-verify corrupt`: write ImageNet-C / CIFAR-10-C / MNIST-C style corrupted sets, or a preview grid (the
//! stage itself is [`crate::corrupt::run`]).

use std::path::PathBuf;

use super::choice;
use crate::corrupt::layout::LayoutKind;
use crate::corrupt::{self, CorruptRequest, Split, Suite};
use crate::error::Result;

/// Arguments of `lcr-verify corrupt`.
#[derive(clap::Args, Debug, Clone)]
pub struct CorruptArgs {
    /// Dataset to corrupt: mnist, fashion-mnist, cifar10, or a directory of images in class folders
    /// (`DIR/<class>/*.png|jpg`).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Directory holding the fashion-mnist or cifar10 files (MNIST and Fashion-MNIST are shipped).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Which split to corrupt.
    #[arg(long, value_parser = choice::parser::<Split>(), default_value = "test")]
    pub split: Split,
    /// Benchmark suite; it fixes the parameter table (imagenet-c: 224 px table, cifar-c: 32 px table,
    /// mnist-c: MNIST-C).
    #[arg(long, value_parser = choice::parser::<Suite>())]
    pub suite: Suite,
    /// Comma-separated corruption names (or `all`, `benchmark`, `extra`); default: all of the suite's.
    #[arg(long)]
    pub corruptions: Option<String>,
    /// Severities, e.g. `1,3,5` or `1-5` (not for mnist-c, which fixes one per corruption).
    #[arg(long)]
    pub severities: Option<String>,
    /// Seed: the same seed gives the same corrupted images.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N images.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub limit: Option<usize>,
    /// For an image directory: resize the shorter side to round(SIZE·256/224), centre-crop SIZE×SIZE
    /// (the ImageNet-C preprocessing with SIZE = 224); 1 to 4096.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub crop: Option<usize>,
    /// Output directory for the corrupted sets (new or empty).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// File layout of --out: cifar-10-c (one .npy per corruption, as CIFAR-10-C is released; the default
    /// except for mnist-c), mnist-c (the mnist-c suite's), or imagenet-c (a tree of quality-85 JPEGs,
    /// <corruption>/<severity>/<class>/<index>.JPEG, as ImageNet-C is released).
    #[arg(long, value_parser = choice::parser::<LayoutKind>())]
    pub layout: Option<LayoutKind>,
    /// Write a PNG grid of one image under every corruption and severity to this `.png` file.
    #[arg(long)]
    pub preview: Option<PathBuf>,
    /// Which image the preview shows.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::count, default_value_t = 0)]
    pub preview_index: usize,
    /// Directory of the frost photographs (default: datasets/frost).
    #[arg(long)]
    pub frost_dir: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl CorruptArgs {
    /// The request the flags make.
    pub fn request(&self) -> CorruptRequest {
        CorruptRequest {
            dataset: self.dataset.clone(),
            data_dir: self.data_dir.clone(),
            split: self.split,
            suite: self.suite,
            corruptions: self.corruptions.clone(),
            severities: self.severities.clone(),
            seed: self.seed,
            limit: self.limit,
            crop: self.crop,
            out: self.out.clone(),
            layout: self.layout,
            preview: self.preview.clone(),
            preview_index: self.preview_index,
            frost_dir: self.frost_dir.clone(),
        }
    }
}

/// Runs `lcr-verify corrupt`.
pub fn run(args: &CorruptArgs) -> Result<()> {
    // The output directory is this command's alone while it writes (the preview is one file, written atomically).
    let _lock = args.out.as_deref().map(|out| super::lock(out, true)).transpose()?;
    let done = corrupt::run(&args.request(), !args.quiet)?;
    if !args.quiet {
        if let Some(path) = &done.preview {
            eprintln!("wrote {}", path.display());
        }
        if let Some(out) = &done.out {
            eprintln!(
                "wrote {} corruptions of {} images to {}",
                done.corruptions,
                done.images,
                out.display()
            );
        }
    }
    Ok(())
}
