//! The real benchmark file layouts, read and written.
//!
//! | Layout | Files |
//! |---|---|
//! | CIFAR-10-C | `<corruption>.npy`, `uint8` of shape `(S·N, H, W, C)`: severities stacked in order, `N` images each; `labels.npy`, `(S·N,)` |
//! | MNIST-C | `<corruption>/test_images.npy`, `uint8` `(N, 28, 28, 1)`; `<corruption>/test_labels.npy` (any integer type); `identity/` is the clean set |
//! | ImageNet-C | `<corruption>/<severity>/<wnid>/<image>` (JPEG or PNG; the release stores JPEGs of quality 85); the label is the index of `<wnid>` among the sorted class folders |
//!
//! Sets written by lcr-verify add `manifest.json` ([`Manifest`]): what made them (suite, table, seed, dataset
//! checksum), the severities stacked in each file, and every file's digest (BLAKE3 from manifest format 2,
//! SHA-256 in format 1: [`crate::digest`]). When a set has a manifest, every file read is checked against the
//! digest it lists (hashed as it is read) and a file it does not list is refused, so a set changed after `corrupt` wrote it is never scored. Without a manifest a CIFAR-10-C file is
//! read as severities 1–5 stacked, as the released files are, and an ImageNet-C tree as it stands (see
//! [`ImagenetC`]: nothing to check its files against).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::imagenet_c::{ImagenetC, ImagenetCWriter};
use super::kinds::{Suite, Table};
use super::npy::{self, NpyWriter};
use crate::data::ImageSet;
use crate::digest::DigestKind;
use crate::error::{Error, Result};
use crate::fsio;

/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// The CIFAR-10-C labels file.
pub const LABELS: &str = "labels.npy";
/// The layout of [`Manifest`] this build writes (`format`); manifests that predate the field read as 1.
/// Format 2 added `digest`, the function of the files' digests (format 1: SHA-256 always).
pub const MANIFEST_FORMAT: u32 = 2;

/// Which layout a directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// One `.npy` per corruption, severities stacked.
    #[serde(rename = "cifar-10-c")]
    CifarC,
    /// One folder per corruption with `test_images.npy` / `test_labels.npy`.
    MnistC,
    /// Folders of image files per corruption, severity and class.
    ImagenetC,
}

impl LayoutKind {
    /// Every layout.
    pub const ALL: [LayoutKind; 3] = [LayoutKind::CifarC, LayoutKind::MnistC, LayoutKind::ImagenetC];

    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::CifarC => "cifar-10-c",
            LayoutKind::MnistC => "mnist-c",
            LayoutKind::ImagenetC => "imagenet-c",
        }
    }
}

/// What a generated set records about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] (1 when absent); a later one is refused.
    #[serde(default = "crate::format::first_format")]
    pub format: u32,
    /// The layout of the directory.
    pub layout: LayoutKind,
    /// `lcr-verify <version>` (a later version is refused).
    pub generator: String,
    /// The suite the corruptions come from.
    pub suite: Suite,
    /// The parameter table used.
    pub table: Table,
    /// The seed.
    pub seed: u64,
    /// The clean dataset's name.
    pub dataset: String,
    /// The clean dataset's checksum.
    pub dataset_checksum: String,
    /// The split the images came from: `test` or `train` (`test` in manifests that predate the field; an image
    /// directory counts as `test`).
    #[serde(default = "test_split")]
    pub split: String,
    /// Images per severity (`N`).
    pub images: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Corruption name → the severities stored, in file order.
    pub corruptions: BTreeMap<String, Vec<u8>>,
    /// The function of the digests in `files` (absent in format 1, whose digests are SHA-256).
    #[serde(default)]
    pub digest: DigestKind,
    /// Relative file path → its digest by `digest` (lowercase hex).
    pub files: BTreeMap<String, String>,
}

fn test_split() -> String {
    "test".into()
}

impl Manifest {
    /// Reads `dir/manifest.json` if present.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = fsio::read(&path)?;
        let not_a_manifest = |e: serde_json::Error| Error::format(&path, format!("not a manifest: {e}"));
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(not_a_manifest)?;
        let names_digest = value.get("digest").is_some();
        let m: Manifest = serde_json::from_value(value).map_err(not_a_manifest)?;
        crate::format::check_format(&path, "manifest", m.format, MANIFEST_FORMAT)?;
        if m.format >= 2 && !names_digest {
            return Err(Error::format(
                &path,
                format!(
                    "manifest format {} must name its digest function (`digest`), and names none",
                    m.format
                ),
            ));
        }
        m.check_digest(&path)?;
        if m.generator.starts_with("lcr-verify ") {
            crate::format::check_writer(&path, "the manifest", &m.generator)?;
        }
        Ok(Some(m))
    }

    /// Refuses a format-1 manifest (`path`) whose digest function is not SHA-256, the only one format 1 has.
    pub fn check_digest(&self, path: &Path) -> Result<()> {
        if self.format == 1 && self.digest != DigestKind::Sha256 {
            return Err(Error::format(
                path,
                format!("manifest format 1 lists SHA-256 digests, but it names {}", self.digest.name()),
            ));
        }
        Ok(())
    }

    /// Reads the whole file `path`, listed as `rel` (its path relative to the set's directory), and checks its
    /// digest against the manifest's; a file the manifest does not list is refused. Errors name `path`.
    pub fn read_listed(&self, rel: &str, path: &Path) -> Result<Vec<u8>> {
        let want = self.files.get(rel).ok_or_else(|| {
            Error::format(
                path,
                format!("not listed in {MANIFEST}: added or renamed after the set was written, so it cannot be checked"),
            )
        })?;
        let (bytes, found) = fsio::read_with_digest(path, self.digest)?;
        if found != *want {
            return Err(Error::Checksum {
                path: path.to_path_buf(),
                function: self.digest.name(),
                expected: want.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// Reads the `.npy` file `rel` (a path relative to `dir`, as the manifest lists it), checked by
    /// [`Manifest::read_listed`].
    pub fn read_npy(&self, dir: &Path, rel: &str) -> Result<npy::Array> {
        let path = dir.join(rel);
        let bytes = self.read_listed(rel, &path)?;
        npy::parse(&path, &bytes)
    }
}

/// Reads the `.npy` file `rel` of `dir`, checked against `manifest` when the set has one.
fn read_npy(dir: &Path, manifest: Option<&Manifest>, rel: &str) -> Result<npy::Array> {
    match manifest {
        Some(m) => m.read_npy(dir, rel),
        None => npy::read(&dir.join(rel)),
    }
}

fn image_shape(path: &Path, shape: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match *shape {
        [n, h, w] if h > 0 && w > 0 => Ok((n, h, w, 1)),
        [n, h, w, c] if h > 0 && w > 0 && (c == 1 || c == 3) => Ok((n, h, w, c)),
        _ => Err(Error::format(path, format!("shape {shape:?} is not (N, H, W) or (N, H, W, 1|3)"))),
    }
}

fn npy_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
        let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        // Every `.npy` entry but folders: one that is not a regular file is refused by name when read.
        if !path.is_dir() && path.extension().is_some_and(|e| e == "npy") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
        let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        if path.is_dir() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A CIFAR-10-C directory.
#[derive(Clone, Debug)]
pub struct CifarC {
    /// The directory.
    pub dir: PathBuf,
    /// All `S·N` labels.
    pub labels: Vec<u8>,
    /// The severities stacked in each file, in order.
    pub severities: Vec<u8>,
    /// Images per severity.
    pub images: usize,
    /// `(height, width, channels)`.
    pub shape: (usize, usize, usize),
    /// Corruption name → file, sorted by name.
    pub files: BTreeMap<String, PathBuf>,
    /// The manifest, when the set was written by lcr-verify.
    pub manifest: Option<Manifest>,
}

impl CifarC {
    /// Opens a CIFAR-10-C directory, checking every file's header against the labels.
    pub fn open(dir: &Path) -> Result<CifarC> {
        let labels_path = dir.join(LABELS);
        if !labels_path.exists() {
            return Err(Error::Missing { path: labels_path, what: "CIFAR-10-C labels file" });
        }
        let manifest = Manifest::read(dir)?;
        let labels_arr = read_npy(dir, manifest.as_ref(), LABELS)?;
        if labels_arr.shape.len() != 1 {
            return Err(Error::format(
                &labels_path,
                format!("labels must be 1-D, found shape {:?}", labels_arr.shape),
            ));
        }
        let labels = labels_arr.labels(&labels_path)?;
        if labels.is_empty() {
            return Err(Error::format(&labels_path, "holds no labels"));
        }
        let mut files = BTreeMap::new();
        let mut shape = None;
        for path in npy_files(dir)? {
            if file_name(&path) == LABELS {
                continue;
            }
            let header = npy::read_header(&path)?;
            if header.dtype != npy::Dtype::U8 {
                return Err(Error::format(&path, "images must be uint8"));
            }
            let (n, h, w, c) = image_shape(&path, &header.shape)?;
            if n != labels.len() {
                return Err(Error::format(
                    &path,
                    format!("{n} images but {} has {} labels", LABELS, labels.len()),
                ));
            }
            match shape {
                None => shape = Some((h, w, c)),
                Some(s) if s != (h, w, c) => {
                    return Err(Error::format(
                        &path,
                        format!("images are {h}x{w}x{c}, other files hold {s:?}"),
                    ));
                }
                _ => {}
            }
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            files.insert(name, path);
        }
        let shape = shape.ok_or_else(|| Error::Missing {
            path: dir.to_path_buf(),
            what: "CIFAR-10-C corruption file (*.npy)",
        })?;
        let severities: Vec<u8> = match &manifest {
            Some(m) => m.corruptions.values().next().cloned().unwrap_or_default(),
            None => vec![1, 2, 3, 4, 5],
        };
        if severities.is_empty() || labels.len() % severities.len() != 0 {
            return Err(Error::format(
                &labels_path,
                format!("{} rows cannot hold {} stacked severities", labels.len(), severities.len()),
            ));
        }
        let images = labels.len() / severities.len();
        if let Some(m) = &manifest {
            let found = Found { images, shape, layout: LayoutKind::CifarC, names: files.keys().collect() };
            check_manifest(dir, m, &found, |name| format!("{name}.npy"))?;
        }
        Ok(CifarC { dir: dir.to_path_buf(), labels, severities, images, shape, files, manifest })
    }

    /// Reads one corruption's file and splits it into its severities.
    pub fn read(&self, corruption: &str) -> Result<Vec<(u8, ImageSet)>> {
        let path = self.files.get(corruption).ok_or_else(|| Error::Missing {
            path: self.dir.join(format!("{corruption}.npy")),
            what: "corruption file",
        })?;
        let pixels =
            read_npy(&self.dir, self.manifest.as_ref(), &format!("{corruption}.npy"))?.into_u8(path)?;
        let (h, w, c) = self.shape;
        let per = self.images * h * w * c;
        if pixels.len() != per * self.severities.len() {
            return Err(Error::format(path, "changed since the directory was opened (size differs)"));
        }
        self.severities
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let px = pixels[k * per..(k + 1) * per].to_vec();
                let lb = self.labels[k * self.images..(k + 1) * self.images].to_vec();
                Ok((s, ImageSet::new(h, w, c, px, lb)?))
            })
            .collect()
    }
}

/// An MNIST-C directory.
#[derive(Clone, Debug)]
pub struct MnistC {
    /// The directory.
    pub dir: PathBuf,
    /// Corruption name → its folder (`identity` included when present).
    pub corruptions: BTreeMap<String, PathBuf>,
    /// Corruption name → the number of images its folder holds.
    pub images: BTreeMap<String, usize>,
    /// `(height, width, channels)`, the same in every folder.
    pub shape: (usize, usize, usize),
    /// The manifest, when written by lcr-verify.
    pub manifest: Option<Manifest>,
}

/// The images file of an MNIST-C folder.
pub const MNIST_C_IMAGES: &str = "test_images.npy";
/// The labels file of an MNIST-C folder.
pub const MNIST_C_LABELS: &str = "test_labels.npy";

impl MnistC {
    /// Opens an MNIST-C directory: every folder (but hidden ones) is a corruption and must hold
    /// `test_images.npy` and `test_labels.npy`, whose headers, sizes and counts are checked here.
    pub fn open(dir: &Path) -> Result<MnistC> {
        let manifest = Manifest::read(dir)?;
        let mut corruptions = BTreeMap::new();
        let mut images = BTreeMap::new();
        let mut shape = None;
        for sub in subdirs(dir)? {
            let name = file_name(&sub);
            if name.starts_with('.') {
                continue;
            }
            let (ip, lp) = (sub.join(MNIST_C_IMAGES), sub.join(MNIST_C_LABELS));
            if !ip.exists() {
                return Err(Error::Missing { path: ip, what: "MNIST-C images file" });
            }
            if !lp.exists() {
                return Err(Error::Missing { path: lp, what: "MNIST-C labels file" });
            }
            let header = npy::read_header(&ip)?;
            if header.dtype != npy::Dtype::U8 {
                return Err(Error::format(&ip, "images must be uint8"));
            }
            let (n, h, w, c) = image_shape(&ip, &header.shape)?;
            if n == 0 {
                return Err(Error::format(&ip, "holds no images"));
            }
            match shape {
                None => shape = Some((h, w, c)),
                Some(s) if s != (h, w, c) => {
                    return Err(Error::format(
                        &ip,
                        format!("images are {h}x{w}x{c}, other folders hold {}x{}x{}", s.0, s.1, s.2),
                    ));
                }
                _ => {}
            }
            let labels = npy::read_header(&lp)?;
            if labels.shape.len() != 1 {
                return Err(Error::format(
                    &lp,
                    format!("labels must be 1-D, found shape {:?}", labels.shape),
                ));
            }
            if labels.shape[0] != n {
                return Err(Error::format(&lp, format!("{} labels for {n} images", labels.shape[0])));
            }
            corruptions.insert(name.clone(), sub);
            images.insert(name, n);
        }
        let Some(shape) = shape else {
            return Err(Error::Missing {
                path: dir.to_path_buf(),
                what: "MNIST-C folder with test_images.npy",
            });
        };
        if let Some(m) = &manifest {
            for (name, &n) in &images {
                if n != m.images {
                    return Err(Error::format(
                        dir.join(name).join(MNIST_C_IMAGES),
                        format!("{n} images, but {MANIFEST} records {}", m.images),
                    ));
                }
            }
            let found = Found {
                images: m.images,
                shape,
                layout: LayoutKind::MnistC,
                names: corruptions.keys().collect(),
            };
            check_manifest(dir, m, &found, |name| name.to_string())?;
        }
        Ok(MnistC { dir: dir.to_path_buf(), corruptions, images, shape, manifest })
    }

    /// Reads the labels of one corruption (checked against the manifest when there is one), with their file.
    pub fn labels(&self, corruption: &str) -> Result<(PathBuf, Vec<u8>)> {
        let lp = self.dir.join(corruption).join(MNIST_C_LABELS);
        let labels_arr =
            read_npy(&self.dir, self.manifest.as_ref(), &format!("{corruption}/{MNIST_C_LABELS}"))?;
        if labels_arr.shape.len() != 1 {
            return Err(Error::format(
                &lp,
                format!("labels must be 1-D, found shape {:?}", labels_arr.shape),
            ));
        }
        let labels = labels_arr.labels(&lp)?;
        Ok((lp, labels))
    }

    /// Reads the test split of one corruption.
    pub fn read(&self, corruption: &str) -> Result<ImageSet> {
        let sub = self.corruptions.get(corruption).ok_or_else(|| Error::Missing {
            path: self.dir.join(corruption),
            what: "MNIST-C corruption folder",
        })?;
        let ip = sub.join(MNIST_C_IMAGES);
        let images = read_npy(&self.dir, self.manifest.as_ref(), &format!("{corruption}/{MNIST_C_IMAGES}"))?;
        let (n, h, w, c) = image_shape(&ip, &images.shape)?;
        if (h, w, c) != self.shape || Some(&n) != self.images.get(corruption) {
            return Err(Error::format(&ip, "changed since the directory was opened (shape differs)"));
        }
        let pixels = images.into_u8(&ip)?;
        let (lp, labels) = self.labels(corruption)?;
        if labels.len() != n {
            return Err(Error::format(&lp, format!("{} labels for {n} images", labels.len())));
        }
        ImageSet::new(h, w, c, pixels, labels)
    }
}

/// What a directory holds, to compare with its manifest.
struct Found<'a> {
    /// Images per severity.
    images: usize,
    /// `(height, width, channels)`.
    shape: (usize, usize, usize),
    /// The layout recognised.
    layout: LayoutKind,
    /// The corruptions present.
    names: Vec<&'a String>,
}

/// Checks a manifest against what the directory holds: the layout, the images per severity and their shape,
/// every corruption it lists present, every corruption present listed, and one severity list for every file of a
/// CIFAR-10-C set (`file_of(name)` is the corruption's file or folder, for the error).
fn check_manifest(dir: &Path, m: &Manifest, found: &Found, file_of: impl Fn(&str) -> String) -> Result<()> {
    let path = dir.join(MANIFEST);
    if m.layout != found.layout {
        return Err(Error::format(
            &path,
            format!("records the {:?} layout, the directory holds {:?}", m.layout, found.layout),
        ));
    }
    if found.images != m.images {
        return Err(Error::format(
            &path,
            format!("records {} images per severity, the files hold {}", m.images, found.images),
        ));
    }
    let (h, w, c) = found.shape;
    if (m.height, m.width, m.channels) != (h, w, c) {
        return Err(Error::format(
            &path,
            format!(
                "records {}×{}×{} images (height×width×channels), the files hold {h}×{w}×{c}",
                m.height, m.width, m.channels
            ),
        ));
    }
    if let Some(name) = m.corruptions.keys().find(|name| !found.names.contains(name)) {
        return Err(Error::Missing {
            path: dir.join(file_of(name)),
            what: "corruption listed in manifest.json",
        });
    }
    if let Some(name) = found.names.iter().find(|name| !m.corruptions.contains_key(name.as_str())) {
        return Err(Error::format(
            dir.join(file_of(name)),
            format!("not listed in {MANIFEST}: added after the set was written, so it cannot be checked"),
        ));
    }
    let mut lists = m.corruptions.values();
    let first = lists.next();
    if found.layout == LayoutKind::CifarC && lists.any(|s| Some(s) != first) {
        return Err(Error::format(&path, "lists different severities for files of one CIFAR-10-C set"));
    }
    Ok(())
}

/// Whatever layout a directory holds.
#[derive(Clone, Debug)]
pub enum Layout {
    /// CIFAR-10-C.
    CifarC(CifarC),
    /// MNIST-C.
    MnistC(MnistC),
    /// ImageNet-C.
    ImagenetC(ImagenetC),
}

/// Recognises the layout of `dir`: `labels.npy` means CIFAR-10-C, folders with `test_images.npy` MNIST-C, and
/// `<corruption>/<1-5>/` folders ImageNet-C.
pub fn open(dir: &Path) -> Result<Layout> {
    if !dir.is_dir() {
        return Err(Error::Missing { path: dir.to_path_buf(), what: "corrupted-set directory" });
    }
    if dir.join(LABELS).exists() {
        return CifarC::open(dir).map(Layout::CifarC);
    }
    let subs = subdirs(dir)?;
    if subs.iter().any(|s| s.join(MNIST_C_IMAGES).exists()) {
        return MnistC::open(dir).map(Layout::MnistC);
    }
    if subs.iter().any(|s| (1..=5).any(|k| s.join(k.to_string()).is_dir())) {
        return ImagenetC::open(dir).map(Layout::ImagenetC);
    }
    Err(Error::format(
        dir,
        "not a CIFAR-10-C (labels.npy), MNIST-C (<corruption>/test_images.npy) or ImageNet-C (<corruption>/<1-5>/<wnid>/) directory",
    ))
}

/// Writes a corrupted set in the CIFAR-10-C or MNIST-C layout, one corruption at a time, then the labels and
/// the manifest. Each file is streamed to a temporary and renamed only when complete.
#[derive(Debug)]
pub struct SetWriter {
    dir: PathBuf,
    /// The manifest written by `finish` (its files and corruptions filled in as they are written).
    pub(super) manifest: Manifest,
    labels: Vec<u8>,
}

impl SetWriter {
    /// Prepares `dir` (created if needed) for a set described by `manifest` (its `files` and `corruptions` are
    /// filled in as corruptions are written) with these clean labels.
    pub fn create(dir: &Path, mut manifest: Manifest, labels: Vec<u8>) -> Result<SetWriter> {
        if manifest.layout == LayoutKind::ImagenetC {
            return Err(Error::config("layout", "the ImageNet-C layout is written by ImagenetCWriter"));
        }
        if labels.len() != manifest.images {
            return Err(Error::config(
                "labels",
                format!("{} labels for {} images", labels.len(), manifest.images),
            ));
        }
        manifest.check_digest(&dir.join(MANIFEST))?;
        fsio::ensure_dir(dir)?;
        manifest.files.clear();
        manifest.corruptions.clear();
        Ok(SetWriter { dir: dir.to_path_buf(), manifest, labels })
    }

    fn image_shape(&self, rows: usize) -> Vec<usize> {
        vec![rows, self.manifest.height, self.manifest.width, self.manifest.channels]
    }

    /// Writes one corruption. `fill(severity, sink)` must pass the `N` images of that severity to `sink`, in
    /// order, in as many pieces as it likes.
    pub fn write_corruption(
        &mut self,
        name: &str,
        severities: &[u8],
        mut fill: impl FnMut(u8, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        let n = self.manifest.images;
        let (rel, shape) = match self.manifest.layout {
            LayoutKind::CifarC => (format!("{name}.npy"), self.image_shape(n * severities.len())),
            _ => {
                if severities.len() != 1 {
                    return Err(Error::config(
                        "severities",
                        "the MNIST-C layout holds one severity per corruption",
                    ));
                }
                fsio::ensure_dir(&self.dir.join(name))?;
                (format!("{name}/test_images.npy"), self.image_shape(n))
            }
        };
        let first = self.manifest.corruptions.values().next();
        if self.manifest.layout == LayoutKind::CifarC && first.is_some_and(|f| f != severities) {
            return Err(Error::config(
                "severities",
                "every file of a CIFAR-10-C set stacks the same severities",
            ));
        }
        let mut writer = NpyWriter::create(&self.dir.join(&rel), &shape, self.manifest.digest)?;
        for &s in severities {
            fill(s, &mut |bytes| writer.write(bytes))?;
        }
        let digest = writer.finish()?;
        self.manifest.files.insert(rel, digest);
        if self.manifest.layout == LayoutKind::MnistC {
            let rel = format!("{name}/test_labels.npy");
            let bytes = npy::to_bytes_u8(&[n], &self.labels);
            fsio::write_atomic(&self.dir.join(&rel), &bytes)?;
            self.manifest.files.insert(rel, self.manifest.digest.hex(&bytes));
        }
        self.manifest.corruptions.insert(name.to_string(), severities.to_vec());
        Ok(())
    }

    /// Writes the labels (CIFAR-10-C: repeated once per stacked severity) and the manifest.
    pub fn finish(mut self) -> Result<Manifest> {
        if self.manifest.layout == LayoutKind::CifarC {
            let s = self.manifest.corruptions.values().next().map_or(0, Vec::len);
            let all: Vec<u8> = (0..s).flat_map(|_| self.labels.iter().copied()).collect();
            let bytes = npy::to_bytes_u8(&[all.len()], &all);
            fsio::write_atomic(&self.dir.join(LABELS), &bytes)?;
            self.manifest.files.insert(LABELS.to_string(), self.manifest.digest.hex(&bytes));
        }
        fsio::write_json_atomic(&self.dir.join(MANIFEST), &self.manifest)?;
        Ok(self.manifest)
    }
}
