//! `lcr-verify corrupt`: write ImageNet-C / CIFAR-10-C / MNIST-C style corrupted sets, or a preview grid.
//!
//! ```text
//! lcr-verify corrupt --dataset mnist --suite mnist-c --out runs/mnist-c
//! lcr-verify corrupt --dataset mnist --suite cifar-c --corruptions fog,frost --severities 1-3 --seed 1 --out DIR
//! lcr-verify corrupt --dataset mnist --suite cifar-c --preview corruptions.png
//! ```
//!
//! The CIFAR-10-C layout (`<corruption>.npy` with severities stacked, `labels.npy`) is written for the
//! `imagenet-c` and `cifar-c` suites, the MNIST-C layout (`<corruption>/test_images.npy`, `test_labels.npy`,
//! plus the clean `identity/`) for `mnist-c`; `manifest.json` records the suite, table, seed, dataset checksum
//! and every file's SHA-256.

use std::path::{Path, PathBuf};

use crate::corrupt::layout::{LayoutKind, Manifest, SetWriter};
use crate::corrupt::{self, Corruption, Corruptor, Image, Suite};
use crate::data::{self, DatasetKind, ImageSet};
use crate::error::{Error, Result};

/// Which split of a dataset to corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// The test split (the benchmarks' choice).
    Test,
    /// The training split.
    Train,
}

/// Arguments of `lcr-verify corrupt`.
#[derive(clap::Args, Debug, Clone)]
pub struct CorruptArgs {
    /// Dataset to corrupt: mnist, fashion-mnist, cifar10, or a directory of images in class folders
    /// (`DIR/<class>/*.png|jpg`).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Directory holding the fashion-mnist or cifar10 files (MNIST is shipped).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Which split to corrupt.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Benchmark suite; it fixes the parameter table (imagenet-c: 224 px table, cifar-c: 32 px table,
    /// mnist-c: MNIST-C).
    #[arg(long, value_parser = super::choice::parser::<Suite>())]
    pub suite: Suite,
    /// Comma-separated corruption names (or `all`, `benchmark`, `extra`); default: all of the suite's.
    #[arg(long)]
    pub corruptions: Option<String>,
    /// Severities, e.g. `1,3,5` or `1-5` (not for mnist-c, which fixes one per corruption).
    #[arg(long)]
    pub severities: Option<String>,
    /// Seed: the same seed gives the same corrupted images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// For an image directory: resize the shorter side to round(SIZE·256/224), centre-crop SIZE×SIZE
    /// (the ImageNet-C preprocessing with SIZE = 224); 1 to 4096.
    #[arg(long)]
    pub crop: Option<usize>,
    /// Output directory for the corrupted sets (new or empty).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write a PNG grid of one image under every corruption and severity to this `.png` file.
    #[arg(long)]
    pub preview: Option<PathBuf>,
    /// Which image the preview shows.
    #[arg(long, default_value_t = 0)]
    pub preview_index: usize,
    /// Directory of the frost photographs (default: datasets/frost).
    #[arg(long)]
    pub frost_dir: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// A clean set with its provenance.
#[derive(Clone, Debug)]
pub struct CleanSet {
    /// The images.
    pub images: ImageSet,
    /// Dataset name (or directory).
    pub name: String,
    /// Dataset checksum.
    pub checksum: String,
}

/// Loads the clean images `args` name.
pub fn load_clean(args: &CorruptArgs) -> Result<CleanSet> {
    let kind = match args.dataset.as_str() {
        "mnist" => Some(DatasetKind::Mnist),
        "fashion-mnist" => Some(DatasetKind::FashionMnist),
        "cifar10" => Some(DatasetKind::Cifar10),
        _ => None,
    };
    let mut clean = match kind {
        Some(_) if args.crop.is_some() => {
            return Err(Error::config("crop", "applies to an image directory given as --dataset DIR only"));
        }
        Some(kind) => {
            let ds = data::load(kind, args.data_dir.as_deref())?;
            let images = if args.split == Split::Test { ds.test } else { ds.train };
            CleanSet { images, name: kind.name().to_string(), checksum: ds.checksum }
        }
        None => {
            let dir = PathBuf::from(&args.dataset);
            if !dir.is_dir() {
                return Err(Error::config(
                    "dataset",
                    format!("`{}` is neither mnist, fashion-mnist, cifar10 nor a directory", args.dataset),
                ));
            }
            let (images, _, checksum) = corrupt::folder::load_image_folder(&dir, args.crop)?;
            CleanSet { images, name: dir.display().to_string(), checksum }
        }
    };
    if let Some(n) = args.limit {
        clean.images = clean.images.take(n);
    }
    if clean.images.is_empty() {
        return Err(Error::config("limit", "no images left to corrupt"));
    }
    Ok(clean)
}

/// The corruptions and severities `args` ask for.
pub fn plan(
    suite: Suite,
    corruptions: Option<&str>,
    severities: Option<&str>,
) -> Result<Vec<(Corruption, Vec<u8>)>> {
    let list = match corruptions {
        Some(s) => corrupt::parse_corruption_list(s, suite)?,
        None => suite.corruptions(),
    };
    let sev = severities.map(corrupt::parse_severity_list).transpose()?;
    if sev.is_some() && suite == Suite::MnistC {
        return Err(Error::config("severities", "MNIST-C uses one fixed severity per corruption"));
    }
    list.into_iter()
        .map(|c| {
            if !suite.contains(c) {
                return Err(Error::config("corruptions", format!("{c} is not part of the {suite} suite")));
            }
            Ok((c, sev.clone().unwrap_or_else(|| suite.severities(c))))
        })
        .collect()
}

fn progress(total: u64, quiet: bool) -> indicatif::ProgressBar {
    crate::progress::images(total, !quiet)
}

/// Images corrupted per parallel batch while writing.
const CHUNK: usize = 2000;

/// Runs `lcr-verify corrupt`.
pub fn run(args: &CorruptArgs) -> Result<()> {
    if args.out.is_none() && args.preview.is_none() {
        return Err(Error::config("out", "give --out DIR (corrupted sets) and/or --preview FILE.png"));
    }
    corrupt::folder::check_crop(args.crop)?;
    let plan = plan(args.suite, args.corruptions.as_deref(), args.severities.as_deref())?;
    if let Some(path) = &args.preview {
        check_preview_path(path)?;
    }
    if let Some(out) = &args.out {
        check_out_dir(out)?;
    }
    let clean = load_clean(args)?;
    let corruptor = match &args.frost_dir {
        Some(d) => Corruptor::with_frost_dir(args.suite.table(), d),
        None => Corruptor::new(args.suite.table()),
    };
    if let Some(path) = &args.preview {
        let i = args.preview_index;
        if i >= clean.images.len() {
            return Err(Error::config(
                "preview-index",
                format!("{i} is past the {} images", clean.images.len()),
            ));
        }
        let set = &clean.images;
        let img = Image::from_u8(set.height, set.width, set.channels, set.image(i))?;
        corrupt::preview::write_png(path, &img, &corruptor, &plan, args.seed, i as u64)?;
        if !args.quiet {
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(out) = &args.out {
        write_sets(out, args, &clean, &corruptor, &plan)?;
    }
    Ok(())
}

/// The preview is a PNG file: its name must say so.
fn check_preview_path(path: &Path) -> Result<()> {
    if !path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        return Err(Error::config(
            "preview",
            format!("{}: the preview is written as PNG; name a .png file", path.display()),
        ));
    }
    Ok(())
}

/// `--out` must be new or empty: files of an earlier set left next to the new one would make it inconsistent.
fn check_out_dir(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::config("out", format!("{} exists and is not a directory", out.display())));
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| Error::io("listing", out, e))?;
    if entries.next().is_some() {
        return Err(Error::config(
            "out",
            format!(
                "{} is not empty; name a new or empty directory (files of an earlier set would mix with the new one)",
                out.display()
            ),
        ));
    }
    Ok(())
}

fn write_sets(
    out: &Path,
    args: &CorruptArgs,
    clean: &CleanSet,
    corruptor: &Corruptor,
    plan: &[(Corruption, Vec<u8>)],
) -> Result<()> {
    let set = &clean.images;
    let layout = if args.suite == Suite::MnistC { LayoutKind::MnistC } else { LayoutKind::CifarC };
    let manifest = Manifest {
        layout,
        generator: concat!("lcr-verify ", env!("CARGO_PKG_VERSION")).to_string(),
        suite: args.suite,
        table: args.suite.table(),
        seed: args.seed,
        dataset: clean.name.clone(),
        dataset_checksum: clean.checksum.clone(),
        split: if args.split == Split::Train { "train" } else { "test" }.into(),
        images: set.len(),
        height: set.height,
        width: set.width,
        channels: set.channels,
        corruptions: Default::default(),
        files: Default::default(),
    };
    let mut writer = SetWriter::create(out, manifest, set.labels.clone())?;
    let total: usize = plan.iter().map(|(_, s)| s.len() * set.len()).sum();
    let bar = progress(total as u64, args.quiet);
    if layout == LayoutKind::MnistC {
        writer.write_corruption("identity", &[1], |_, sink| sink(&set.pixels))?;
    }
    for (c, sevs) in plan {
        writer.write_corruption(c.as_str(), sevs, |s, sink| {
            bar.set_message(format!("{c} s{s}"));
            let prepared = corruptor.prepare(*c, s, set.height, set.width)?;
            let mut start = 0;
            while start < set.len() {
                let end = (start + CHUNK).min(set.len());
                let part = set.pixels[start * set.image_len()..end * set.image_len()].to_vec();
                let part = ImageSet::new(
                    set.height,
                    set.width,
                    set.channels,
                    part,
                    set.labels[start..end].to_vec(),
                )?;
                let bytes = prepared.apply_bytes(&part, args.seed, start, &|| bar.inc(1))?;
                sink(&bytes)?;
                start = end;
            }
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    writer.finish()?;
    if !args.quiet {
        eprintln!("wrote {} corruptions of {} images to {}", plan.len(), set.len(), out.display());
    }
    Ok(())
}
