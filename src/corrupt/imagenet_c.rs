//! The ImageNet-C layout: a tree of JPEG files `<corruption>/<severity>/<class>/<image>.JPEG`, read and written.
//!
//! The released ImageNet-C (Hendrycks & Dietterich, ICLR 2019; `make_imagenet_c.py`) saves every corrupted
//! 224×224 image through PIL as a JPEG of quality 85, so a model evaluated on it sees the corruption *and* a
//! JPEG-85 round trip. [`ImagenetCWriter`] writes the same: each image through the libjpeg-exact encoder
//! ([`super::jpeg_codec`]) at quality [`RELEASE_QUALITY`], 4:2:0, as a baseline JFIF file, with
//! `manifest.json` beside the tree listing every file's digest. Reading ([`ImagenetC`]) decodes the files as
//! libjpeg-turbo (PIL) does ([`super::decode`]), so our set and the released one are measured alike.
//!
//! With a manifest every file read is checked against its digest, every listed file must exist and every
//! image file must be listed. Without one (the released tree) the files cannot be checked: the source says
//! so in its description (see `robustness::source::OnDisk`), and only the decoding itself (a truncated or
//! damaged JPEG is refused by name) guards the contents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::layout::{LayoutKind, MANIFEST, Manifest, file_name, subdirs};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::fsio;

/// The JPEG quality the released ImageNet-C files were saved at.
pub const RELEASE_QUALITY: u8 = 85;
/// The extension of written images (the ImageNet release spells it in capitals).
pub const EXTENSION: &str = "JPEG";

/// An ImageNet-C directory.
#[derive(Clone, Debug)]
pub struct ImagenetC {
    /// The directory.
    pub dir: PathBuf,
    /// Class folder names (WordNet ids), sorted; a label is an index into this list.
    pub classes: Vec<String>,
    /// Corruption name → the severities present.
    pub corruptions: BTreeMap<String, Vec<u8>>,
    /// The manifest, when the set was written by lcr-verify.
    pub manifest: Option<Manifest>,
}

/// `rel` of `path` below `dir`, with `/` separators (as manifests list files).
fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

impl ImagenetC {
    /// Opens an ImageNet-C directory: `<corruption>/<severity 1-5>/<wnid>/<image>`, with its manifest checked
    /// against the tree when there is one.
    pub fn open(dir: &Path) -> Result<ImagenetC> {
        let mut corruptions = BTreeMap::new();
        let mut classes: Option<Vec<String>> = None;
        for cdir in subdirs(dir)? {
            let mut sevs = Vec::new();
            for sdir in subdirs(&cdir)? {
                let Ok(s) = file_name(&sdir).parse::<u8>() else { continue };
                if !(1..=5).contains(&s) {
                    return Err(Error::format(&sdir, "severity folders must be named 1 to 5"));
                }
                let wnids: Vec<String> = subdirs(&sdir)?.iter().map(|p| file_name(p)).collect();
                match &classes {
                    None => classes = Some(wnids),
                    Some(known) => {
                        if let Some(extra) = wnids.iter().find(|w| !known.contains(w)) {
                            return Err(Error::format(
                                sdir.join(extra),
                                "class folder missing from the first severity folder read (class lists must agree)",
                            ));
                        }
                    }
                }
                sevs.push(s);
            }
            if !sevs.is_empty() {
                sevs.sort_unstable();
                corruptions.insert(file_name(&cdir), sevs);
            }
        }
        let classes = classes.filter(|c| !c.is_empty()).ok_or_else(|| Error::Missing {
            path: dir.to_path_buf(),
            what: "ImageNet-C folders <corruption>/<severity>/<wnid>/",
        })?;
        if classes.len() > 256 {
            return Err(Error::TooLarge {
                method: "ImageNet-C reader",
                problem: format!(
                    "{} classes; ImageSet stores labels in one byte (at most 256 classes), so the full 1000-class \
                     ImageNet-C needs wider labels",
                    classes.len()
                ),
            });
        }
        let manifest = Manifest::read(dir)?;
        let set = ImagenetC { dir: dir.to_path_buf(), classes, corruptions, manifest };
        if let Some(m) = &set.manifest {
            set.check_manifest(m)?;
        }
        Ok(set)
    }

    /// The tree against its manifest: the layout, the corruptions and severities, every listed file present
    /// and every image file listed.
    fn check_manifest(&self, m: &Manifest) -> Result<()> {
        let path = self.dir.join(MANIFEST);
        if m.layout != LayoutKind::ImagenetC {
            return Err(Error::format(
                &path,
                format!("records the {:?} layout, the directory holds ImageNet-C", m.layout),
            ));
        }
        if m.corruptions != self.corruptions {
            return Err(Error::format(
                &path,
                format!(
                    "records corruptions and severities {:?}, the directory holds {:?}",
                    m.corruptions, self.corruptions
                ),
            ));
        }
        let mut found = 0;
        for (name, sevs) in &self.corruptions {
            for &s in sevs {
                let files = self.files(name, s)?;
                if files.len() != m.images {
                    return Err(Error::format(
                        self.dir.join(name).join(s.to_string()),
                        format!("{} images, but {MANIFEST} records {}", files.len(), m.images),
                    ));
                }
                for (file, _) in files {
                    if !m.files.contains_key(&relative(&self.dir, &file)) {
                        return Err(Error::format(
                            file,
                            format!(
                                "not listed in {MANIFEST}: added or renamed after the set was written, so it cannot be checked"
                            ),
                        ));
                    }
                    found += 1;
                }
            }
        }
        if found != m.files.len() {
            let missing = m.files.keys().find(|rel| !self.dir.join(rel).is_file());
            return Err(Error::Missing {
                path: self.dir.join(missing.map_or("", |s| s.as_str())),
                what: "image listed in manifest.json",
            });
        }
        Ok(())
    }

    /// The image files of one corruption and severity with their labels, sorted by class then name.
    pub fn files(&self, corruption: &str, severity: u8) -> Result<Vec<(PathBuf, u8)>> {
        let sdir = self.dir.join(corruption).join(severity.to_string());
        let mut out = Vec::new();
        for wdir in subdirs(&sdir)? {
            let wnid = file_name(&wdir);
            let label = self
                .classes
                .iter()
                .position(|c| *c == wnid)
                .ok_or_else(|| Error::format(&wdir, "class folder not in the class list"))?
                as u8;
            let mut names: Vec<PathBuf> = std::fs::read_dir(&wdir)
                .map_err(|e| Error::io("listing", &wdir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| super::folder::is_image_file(p))
                .collect();
            names.sort();
            out.extend(names.into_iter().map(|p| (p, label)));
        }
        Ok(out)
    }

    /// Whether the files are checked against digests as they are read (the set has a manifest).
    pub fn checked(&self) -> bool {
        self.manifest.is_some()
    }

    /// Decodes images (in parallel, strictly: see [`super::decode`]) into one set; all must have the same size.
    /// Gray files become RGB. No checksum is checked: see [`ImagenetC::read_sized`].
    pub fn decode(files: &[(PathBuf, u8)]) -> Result<ImageSet> {
        Self::decode_sized(files, None)
    }

    /// [`ImagenetC::decode`], with every image required to be `height × width` when `size` is given (the size
    /// of the set's first image, so that images in different chunks of one set cannot differ either).
    pub fn decode_sized(files: &[(PathBuf, u8)], size: Option<(usize, usize)>) -> Result<ImageSet> {
        decode_files(files, size, None, 3)
    }

    /// Reads images of this set: [`ImagenetC::decode_sized`], with each file checked against the digest the
    /// manifest lists (when there is one), and gray images kept gray when the manifest records one channel.
    pub fn read_sized(&self, files: &[(PathBuf, u8)], size: Option<(usize, usize)>) -> Result<ImageSet> {
        let channels = self.manifest.as_ref().map_or(3, |m| m.channels);
        decode_files(files, size, self.manifest.as_ref().map(|m| (m, self.dir.as_path())), channels)
    }
}

/// Decodes `files` in parallel, checking each against `check`'s manifest, into `channels` (1 or 3) channels.
fn decode_files(
    files: &[(PathBuf, u8)],
    size: Option<(usize, usize)>,
    check: Option<(&Manifest, &Path)>,
    channels: usize,
) -> Result<ImageSet> {
    let decoded: Vec<(usize, usize, Vec<u8>)> = files
        .par_iter()
        .map(|(path, _)| {
            let bytes = match check {
                None => fsio::read(path)?,
                Some((m, dir)) => m.read_listed(&relative(dir, path), path)?,
            };
            let d = super::decode::decode(path, &bytes)?;
            let d = match (channels, d.channels) {
                (1, 1) => d,
                (1, _) => return Err(Error::format(path, "a colour image in a set of gray images")),
                _ => d.into_rgb(),
            };
            Ok((d.height, d.width, d.pixels))
        })
        .collect::<Result<_>>()?;
    let Some((h, w)) = size.or(decoded.first().map(|d| (d.0, d.1))) else {
        return ImageSet::new(1, 1, channels, Vec::new(), Vec::new());
    };
    let mut pixels = Vec::with_capacity(decoded.len() * h * w * channels);
    for ((dh, dw, px), (path, _)) in decoded.iter().zip(files) {
        if (*dh, *dw) != (h, w) {
            return Err(Error::format(
                path,
                format!("image is {dw}x{dh}, others are {w}x{h} (ImageNet-C images are 224x224)"),
            ));
        }
        pixels.extend_from_slice(px);
    }
    ImageSet::new(h, w, channels, pixels, files.iter().map(|f| f.1).collect())
}

/// Writes a corrupted set in the ImageNet-C layout: one JPEG of quality [`RELEASE_QUALITY`] per image, in
/// `<corruption>/<severity>/<class>/<index>.JPEG` (the index zero-padded to 8 digits, so names sort in set
/// order), every class folder created in every severity folder (so the labels read back from the sorted folder
/// names are the labels written), then `manifest.json`. Each file is written to a temporary and renamed; the
/// files are made durable together, before the manifest is written.
#[derive(Debug)]
pub struct ImagenetCWriter {
    dir: PathBuf,
    /// The manifest written by `finish` (its files and corruptions filled in as they are written).
    pub(super) manifest: Manifest,
    labels: Vec<u8>,
    classes: Vec<String>,
}

impl ImagenetCWriter {
    /// Prepares `dir` for a set described by `manifest` (layout ImageNet-C; `files` and `corruptions` are
    /// filled in as corruptions are written) with these clean labels and class folder names (sorted, unique,
    /// one per label value).
    pub fn create(dir: &Path, mut manifest: Manifest, labels: Vec<u8>, classes: Vec<String>) -> Result<Self> {
        if manifest.layout != LayoutKind::ImagenetC {
            return Err(Error::config("layout", "ImagenetCWriter writes the ImageNet-C layout only"));
        }
        if labels.len() != manifest.images {
            return Err(Error::config(
                "labels",
                format!("{} labels for {} images", labels.len(), manifest.images),
            ));
        }
        if !classes.windows(2).all(|w| w[0] < w[1]) || labels.iter().any(|&l| usize::from(l) >= classes.len())
        {
            return Err(Error::config(
                "classes",
                "class names must be sorted, unique, and cover every label",
            ));
        }
        if manifest.height > 65_535 || manifest.width > 65_535 || !matches!(manifest.channels, 1 | 3) {
            return Err(Error::config("layout", "JPEG holds 1 or 3 channels and sides up to 65535 px"));
        }
        manifest.check_digest(&dir.join(MANIFEST))?;
        fsio::ensure_dir(dir)?;
        manifest.files.clear();
        manifest.corruptions.clear();
        Ok(ImagenetCWriter { dir: dir.to_path_buf(), manifest, labels, classes })
    }

    /// Writes one corruption. `fill(severity, sink)` must pass the `N` images of that severity to `sink`, in
    /// order, in pieces of whole images.
    pub fn write_corruption(
        &mut self,
        name: &str,
        severities: &[u8],
        mut fill: impl FnMut(u8, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        let m = &self.manifest;
        let (h, w, c, digest) = (m.height, m.width, m.channels, m.digest);
        let len = h * w * c;
        for &s in severities {
            let sdir = self.dir.join(name).join(s.to_string());
            for class in &self.classes {
                fsio::ensure_dir(&sdir.join(class))?;
            }
            let mut next = 0usize;
            let mut written = Vec::new();
            fill(s, &mut |bytes| {
                if bytes.len() % len != 0 || next + bytes.len() / len > self.labels.len() {
                    return Err(Error::config("images", "pieces of whole images, N in all"));
                }
                let first = next;
                next += bytes.len() / len;
                let files: Vec<(String, String)> = bytes
                    .par_chunks(len)
                    .enumerate()
                    .map(|(k, px)| {
                        let i = first + k;
                        let class = &self.classes[usize::from(self.labels[i])];
                        let rel = format!("{name}/{s}/{class}/{i:08}.{EXTENSION}");
                        let coef = super::jpeg_codec::jpeg_compress(px, h, w, c, RELEASE_QUALITY);
                        let file = super::jpeg_file::write(&coef);
                        fsio::write_renamed_unsynced(&self.dir.join(&rel), &file)?;
                        Ok((rel, digest.hex(&file)))
                    })
                    .collect::<Result<_>>()?;
                written.extend(files);
                Ok(())
            })?;
            if next != self.labels.len() {
                return Err(Error::config(
                    "images",
                    format!("{next} images written for {name} s{s}, not {}", self.labels.len()),
                ));
            }
            self.manifest.files.extend(written);
        }
        self.manifest.corruptions.insert(name.to_string(), severities.to_vec());
        Ok(())
    }

    /// Makes the image files durable (they are written without a sync each: see
    /// [`fsio::write_renamed_unsynced`]), then writes the manifest.
    pub fn finish(self) -> Result<Manifest> {
        let files: Vec<PathBuf> = self.manifest.files.keys().map(|rel| self.dir.join(rel)).collect();
        fsio::sync_files(&self.dir, &files)?;
        fsio::write_json_atomic(&self.dir.join(MANIFEST), &self.manifest)?;
        Ok(self.manifest)
    }
}
