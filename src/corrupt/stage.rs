//! The `corrupt` stage as a library call: a typed [`CorruptRequest`] and [`run`], which writes corrupted sets in
//! the benchmark layouts and/or a preview grid.
//!
//! ```text
//! lcr-verify corrupt --dataset mnist --suite mnist-c --out runs/mnist-c
//! lcr-verify corrupt --dataset mnist --suite cifar-c --corruptions fog,frost --severities 1-3 --seed 1 --out DIR
//! lcr-verify corrupt --dataset mnist --suite cifar-c --preview corruptions.png
//! ```
//!
//! The CIFAR-10-C layout (`<corruption>.npy` with severities stacked, `labels.npy`) is written for the
//! `imagenet-c` and `cifar-c` suites, the MNIST-C layout (`<corruption>/test_images.npy`, `test_labels.npy`,
//! plus the clean `identity/`) for `mnist-c`; with `layout: imagenet-c` the released ImageNet-C tree
//! (`<corruption>/<severity>/<class>/<index>.JPEG`, JPEG quality 85) instead. `manifest.json` records the
//! suite, table, seed, dataset checksum and every file's digest (BLAKE3: `crate::digest`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::folder::ImageFolder;
use super::layout::{ImagenetCWriter, LayoutKind, Manifest, SetWriter};
use super::source::CleanSource;
use super::{Corruption, Corruptor, Image, Suite, parse_corruption_list, parse_severity_list};
use crate::data::{self, DatasetKind, ImageSet};
use crate::error::{Error, Result};

/// Which split of a dataset to corrupt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The test split (the benchmarks' choice).
    #[default]
    Test,
    /// The training split.
    Train,
}

impl Split {
    /// Both splits.
    pub const ALL: [Split; 2] = [Split::Test, Split::Train];

    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "train",
        }
    }
}

/// What to corrupt and where to write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptRequest {
    /// Dataset to corrupt: mnist, fashion-mnist, cifar10, or a directory of images in class folders
    /// (`DIR/<class>/*.png|jpg`).
    pub dataset: String,
    /// Directory holding the fashion-mnist or cifar10 files (MNIST and Fashion-MNIST are shipped).
    pub data_dir: Option<PathBuf>,
    /// Which split to corrupt.
    pub split: Split,
    /// Benchmark suite; it fixes the parameter table.
    pub suite: Suite,
    /// Comma-separated corruption names (or `all`, `benchmark`, `extra`); default: all of the suite's.
    pub corruptions: Option<String>,
    /// Severities, e.g. `1,3,5` or `1-5` (not for mnist-c, which fixes one per corruption).
    pub severities: Option<String>,
    /// Seed: the same seed gives the same corrupted images.
    pub seed: u64,
    /// Use only the first N images.
    pub limit: Option<usize>,
    /// For an image directory: resize the shorter side to round(SIZE·256/224), centre-crop SIZE×SIZE; 1 to 4096.
    pub crop: Option<usize>,
    /// Output directory for the corrupted sets (new or empty).
    pub out: Option<PathBuf>,
    /// The file layout written to `out` (default: MNIST-C for the mnist-c suite, CIFAR-10-C otherwise);
    /// `imagenet-c` writes the released ImageNet-C tree of quality-85 JPEGs. Left out of serialised requests
    /// when unset, so that records of requests without it stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutKind>,
    /// A PNG grid of one image under every corruption and severity is written to this `.png` file.
    pub preview: Option<PathBuf>,
    /// Which image the preview shows.
    pub preview_index: usize,
    /// Directory of the frost photographs (default: datasets/frost).
    pub frost_dir: Option<PathBuf>,
}

impl CorruptRequest {
    /// Refuses what cannot be written, before any image is read: no output named, a crop out of range, an
    /// unknown or misplaced corruption or severity, a preview name that is not `.png`, an `out` directory that
    /// is not new or empty. Returns the plan: each corruption with its severities.
    pub fn check(&self) -> Result<Vec<(Corruption, Vec<u8>)>> {
        if self.out.is_none() && self.preview.is_none() {
            return Err(Error::config("out", "give --out DIR (corrupted sets) and/or --preview FILE.png"));
        }
        super::folder::check_crop(self.crop)?;
        let plan = plan(self.suite, self.corruptions.as_deref(), self.severities.as_deref())?;
        self.layout()?;
        if let Some(path) = &self.preview {
            check_preview_path(path)?;
        }
        if let Some(out) = &self.out {
            check_out_dir(out)?;
        }
        Ok(plan)
    }
}

impl CorruptRequest {
    /// The layout to write: the one asked for, or the suite's own. MNIST-C sets (with their clean `identity`
    /// folder) and the MNIST-C layout go together only.
    pub fn layout(&self) -> Result<LayoutKind> {
        let own = if self.suite == Suite::MnistC { LayoutKind::MnistC } else { LayoutKind::CifarC };
        match self.layout {
            None => Ok(own),
            Some(l) if (l == LayoutKind::MnistC) != (self.suite == Suite::MnistC) => Err(Error::config(
                "layout",
                format!(
                    "the mnist-c suite and the mnist-c layout go together only (asked: suite {}, layout {})",
                    self.suite,
                    l.name()
                ),
            )),
            Some(l) => Ok(l),
        }
    }
}

/// What [`run`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct CorruptOutcome {
    /// The preview grid, when one was asked for.
    pub preview: Option<PathBuf>,
    /// The directory of the corrupted sets, when one was asked for.
    pub out: Option<PathBuf>,
    /// Corruptions written.
    pub corruptions: usize,
    /// Clean images each corruption was applied to.
    pub images: usize,
}

/// Bytes of corrupted images held at once while writing: each severity is corrupted and written in pieces of
/// about this size (at least a few images per thread, at most the set), all into one buffer reused from piece
/// to piece (and a streamed folder's clean images decoded into another), so that memory stays flat whatever the
/// size of the set; small enough that a piece is still in the cache when it is hashed and written (one thread,
/// jpeg_compression on 64 photographs at 224 px: 1 MiB pieces 44.9 ms, 256 KiB 42.8 ms, medians of 40 alternated
/// runs).
const PIECE_BYTES: usize = 256 << 10;

/// Images per piece for a set of `n` images of `len` bytes: [`PIECE_BYTES`] worth, but with several threads at
/// least four per thread.
fn piece_images(len: usize, n: usize) -> usize {
    // Several threads share a piece: four images each keep them busy to its end. One thread has no one to wait
    // for, and the smallest piece keeps the images in its cache from corruption to hashing and writing.
    let threads = rayon::current_num_threads();
    let least = if threads > 1 { 4 * threads } else { 1 };
    (PIECE_BYTES / len.max(1)).max(least).min(n).max(1)
}

/// Writes the preview and/or the corrupted sets `req` asks for; `progress` shows a progress bar on standard
/// error. Refuses a request that fails [`CorruptRequest::check`] before reading any image.
pub fn run(req: &CorruptRequest, progress: bool) -> Result<CorruptOutcome> {
    let plan = req.check()?;
    // How often the clean set is read while writing: once per corruption and severity, once more for the clean
    // `identity` of the MNIST-C layout; the preview needs one image only.
    let uses = match req.out {
        Some(_) => {
            plan.iter().map(|(_, s)| s.len()).sum::<usize>()
                + usize::from(req.layout()? == LayoutKind::MnistC)
        }
        None => 0,
    };
    let clean = CleanSource::open(req, uses)?;
    let corruptor = match &req.frost_dir {
        Some(d) => Corruptor::with_frost_dir(req.suite.table(), d),
        None => Corruptor::new(req.suite.table()),
    };
    if let Some(path) = &req.preview {
        let i = req.preview_index;
        if i >= clean.len() {
            return Err(Error::config("preview-index", format!("{i} is past the {} images", clean.len())));
        }
        let [h, w, c] = clean.shape();
        let mut buf = Vec::new();
        let img = Image::from_u8(h, w, c, clean.piece(i..i + 1, &mut buf)?)?;
        super::preview::write_png(path, &img, &corruptor, &plan, req.seed, i as u64)?;
    }
    if let Some(out) = &req.out {
        let per = piece_images(clean.image_len(), clean.len());
        // Inside the pool: the pieces' parallel loops then start on a worker thread instead of handing every
        // piece from this thread to the pool and back.
        rayon::scope(|_| write_sets(out, req, &clean, &corruptor, &plan, per, progress))?;
    }
    Ok(CorruptOutcome {
        preview: req.preview.clone(),
        out: req.out.clone(),
        corruptions: plan.len(),
        images: clean.len(),
    })
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
    /// Class names in label order (an image directory's class folders; label numbers, zero-padded so that
    /// they sort in order, for the built-in datasets).
    pub classes: Vec<String>,
}

/// The dataset a request names: a built-in one, or an image directory.
pub(super) enum Dataset {
    /// MNIST, Fashion-MNIST or CIFAR-10.
    Builtin(DatasetKind),
    /// A folder of class sub-folders.
    Folder(PathBuf),
}

/// The dataset `req` names; refuses a name that is neither built in nor a directory, and `--crop` with a
/// built-in dataset.
pub(super) fn dataset(req: &CorruptRequest) -> Result<Dataset> {
    let kind = match req.dataset.as_str() {
        "mnist" => Some(DatasetKind::Mnist),
        "fashion-mnist" => Some(DatasetKind::FashionMnist),
        "cifar10" => Some(DatasetKind::Cifar10),
        _ => None,
    };
    match kind {
        Some(_) if req.crop.is_some() => {
            Err(Error::config("crop", "applies to an image directory given as --dataset DIR only"))
        }
        Some(kind) => Ok(Dataset::Builtin(kind)),
        None => {
            let dir = PathBuf::from(&req.dataset);
            if !dir.is_dir() {
                return Err(Error::config(
                    "dataset",
                    format!("`{}` is neither mnist, fashion-mnist, cifar10 nor a directory", req.dataset),
                ));
            }
            Ok(Dataset::Folder(dir))
        }
    }
}

/// Loads the clean images `req` names (a built-in dataset or an image directory), the first `limit` of them.
pub fn load_clean(req: &CorruptRequest) -> Result<CleanSet> {
    match dataset(req)? {
        Dataset::Builtin(kind) => builtin_set(req, kind),
        Dataset::Folder(dir) => folder_set(open_folder(req, &dir)?, &dir),
    }
}

/// The first `limit` images of the built-in dataset `kind` (of the split `req` asks for).
pub(super) fn builtin_set(req: &CorruptRequest, kind: DatasetKind) -> Result<CleanSet> {
    let ds = data::load(kind, req.data_dir.as_deref())?;
    let mut images = match req.split {
        Split::Test => ds.test,
        Split::Train => ds.train,
    };
    if let Some(n) = req.limit {
        images = images.take(n);
    }
    if images.is_empty() {
        return Err(no_images_left());
    }
    let classes = numbered_classes(&images.labels);
    Ok(CleanSet { images, name: kind.name().to_string(), checksum: ds.checksum, classes })
}

/// The image folder `dir` that `req` names, opened with its crop and limit (nothing decoded yet).
pub(super) fn open_folder(req: &CorruptRequest, dir: &Path) -> Result<ImageFolder> {
    let folder = ImageFolder::open(dir, req.crop, req.limit)?;
    if folder.is_empty() {
        return Err(no_images_left());
    }
    Ok(folder)
}

/// An opened image folder decoded whole.
pub(super) fn folder_set(folder: ImageFolder, dir: &Path) -> Result<CleanSet> {
    let (images, classes, checksum) = folder.load()?;
    Ok(CleanSet { images, name: dir.display().to_string(), checksum, classes })
}

fn no_images_left() -> Error {
    Error::config("limit", "no images left to corrupt")
}

/// Class names `0 … max label`, zero-padded to one width so that sorting them keeps label order.
fn numbered_classes(labels: &[u8]) -> Vec<String> {
    let n = labels.iter().max().map_or(1, |&m| usize::from(m) + 1);
    let width = (n - 1).to_string().len();
    (0..n).map(|l| format!("{l:0width$}")).collect()
}

/// The corruptions and severities a request asks for, each checked against the suite.
pub fn plan(
    suite: Suite,
    corruptions: Option<&str>,
    severities: Option<&str>,
) -> Result<Vec<(Corruption, Vec<u8>)>> {
    let list = match corruptions {
        Some(s) => parse_corruption_list(s, suite)?,
        None => suite.corruptions(),
    };
    let sev = severities.map(parse_severity_list).transpose()?;
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
/// The lock file of the process that writes it ([`crate::lock`]) does not count.
fn check_out_dir(out: &Path) -> Result<()> {
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("opening", out, e)),
    };
    if !meta.is_dir() {
        return Err(Error::config("out", format!("{} exists and is not a directory", out.display())));
    }
    let entries = std::fs::read_dir(out).map_err(|e| Error::io("listing", out, e))?;
    let mut others = entries.filter(|e| !e.as_ref().is_ok_and(|e| e.file_name() == crate::lock::LOCK_FILE));
    if others.next().is_some() {
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
    req: &CorruptRequest,
    clean: &CleanSource,
    corruptor: &Corruptor,
    plan: &[(Corruption, Vec<u8>)],
    per: usize,
    progress: bool,
) -> Result<()> {
    let layout = req.layout()?;
    let shape = clean.shape();
    let n = clean.len();
    let manifest = Manifest {
        format: super::layout::MANIFEST_FORMAT,
        layout,
        generator: concat!("lcr-verify ", env!("CARGO_PKG_VERSION")).to_string(),
        suite: req.suite,
        table: req.suite.table(),
        seed: req.seed,
        dataset: clean.name().to_string(),
        // Known once every image was read (a streamed folder is hashed as it is decoded): set before finishing.
        dataset_checksum: String::new(),
        split: req.split.name().into(),
        images: n,
        height: shape[0],
        width: shape[1],
        channels: shape[2],
        corruptions: Default::default(),
        digest: crate::digest::DigestKind::WRITTEN,
        files: Default::default(),
    };
    let mut writer = if layout == LayoutKind::ImagenetC {
        Writer::Tree(ImagenetCWriter::create(out, manifest, clean.labels(), clean.classes())?)
    } else {
        Writer::Npy(SetWriter::create(out, manifest, clean.labels())?)
    };
    let total: usize = plan.iter().map(|(_, s)| s.len() * n).sum();
    let bar = crate::progress::images(total as u64, progress);
    let len = clean.image_len();
    let per = per.clamp(1, n);
    // The piece being written and, for a streamed folder, its clean images: both reused from piece to piece.
    let mut decoded = Vec::new();
    let mut buf = vec![0u8; per * len];
    if layout == LayoutKind::MnistC {
        writer.write_corruption("identity", &[1], &mut |_, sink| {
            for start in (0..n).step_by(per) {
                sink(clean.piece(start..(start + per).min(n), &mut decoded)?)?;
            }
            Ok(())
        })?;
    }
    for (c, sevs) in plan {
        writer.write_corruption(c.as_str(), sevs, &mut |s, sink| {
            bar.set_message(format!("{c} s{s}"));
            let prepared = corruptor.prepare(*c, s, shape[0], shape[1])?;
            for start in (0..n).step_by(per) {
                let end = (start + per).min(n);
                let out = &mut buf[..(end - start) * len];
                let src = clean.piece(start..end, &mut decoded)?;
                prepared.apply_into(shape, src, req.seed, start, out, &|| bar.inc(1))?;
                sink(out)?;
            }
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    writer.finish(clean.checksum()?)
}

/// A function that passes the images of one severity to a sink (see [`SetWriter::write_corruption`]).
type Fill<'a> = dyn FnMut(u8, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> + 'a;

/// The writer of the layout asked for.
enum Writer {
    /// CIFAR-10-C or MNIST-C `.npy` files.
    Npy(SetWriter),
    /// The ImageNet-C JPEG tree.
    Tree(ImagenetCWriter),
}

impl Writer {
    fn write_corruption(&mut self, name: &str, severities: &[u8], fill: &mut Fill) -> Result<()> {
        match self {
            Writer::Npy(w) => w.write_corruption(name, severities, fill),
            Writer::Tree(w) => w.write_corruption(name, severities, fill),
        }
    }

    /// Writes the labels and the manifest, recording the dataset checksum.
    fn finish(self, dataset_checksum: String) -> Result<()> {
        match self {
            Writer::Npy(mut w) => {
                w.manifest.dataset_checksum = dataset_checksum;
                w.finish().map(drop)
            }
            Writer::Tree(mut w) => {
                w.manifest.dataset_checksum = dataset_checksum;
                w.finish().map(drop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writing in pieces of any size, from a folder decoded whole or piece by piece, gives the same files.
    #[test]
    fn pieces_of_any_size_write_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        for (k, class) in ["a", "b"].iter().enumerate() {
            std::fs::create_dir_all(dir.path().join("imgs").join(class)).unwrap();
            for i in 0..4u32 {
                let img = ::image::RgbImage::from_fn(20 + 3 * i, 17, |x, y| {
                    ::image::Rgb([(x * 9 + i) as u8, (y * 13) as u8, (k * 100) as u8])
                });
                img.save(dir.path().join("imgs").join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        let req = |out: &str| CorruptRequest {
            dataset: dir.path().join("imgs").display().to_string(),
            data_dir: None,
            split: Split::Test,
            suite: Suite::ImagenetC,
            corruptions: Some("impulse_noise,pixelate".into()),
            severities: Some("1,4".into()),
            seed: 3,
            limit: Some(7),
            crop: Some(16),
            out: Some(dir.path().join(out)),
            layout: None,
            preview: None,
            preview_index: 0,
            frost_dir: None,
        };
        let plan = req("x").check().unwrap();
        let corruptor = Corruptor::new(Suite::ImagenetC.table());
        let mut written = Vec::new();
        for (cells, per) in [(4, 7), (4, 3), (1, 1), (1, 2), (1, 7)] {
            let name = format!("out{cells}-{per}");
            let r = req(&name);
            let clean = CleanSource::open(&r, cells).unwrap();
            assert_eq!(matches!(clean, CleanSource::Folder { .. }), cells == 1);
            write_sets(r.out.as_ref().unwrap(), &r, &clean, &corruptor, &plan, per, false).unwrap();
            let files: Vec<Vec<u8>> = ["impulse_noise.npy", "pixelate.npy", "labels.npy", "manifest.json"]
                .iter()
                .map(|f| std::fs::read(dir.path().join(&name).join(f)).unwrap())
                .collect();
            written.push(files);
        }
        for w in &written[1..] {
            assert!(w == &written[0], "pieces changed the files");
        }
    }
}
