//! Datasets: MNIST and Fashion-MNIST (shipped), CIFAR-10 (from a directory the user names).
//!
//! Images stay as `u8` in NHWC order ([`ImageSet`]) until they are turned into normalised `f32` tensors in NCHW
//! order by [`Normalization::tensor`], the one place where pixel values are scaled. The normalisation used is
//! recorded with every trained model.
//!
//! Every file is checked before use: MNIST-format files against `SHA256SUMS` in their directory (or, when the
//! directory has none, against the canonical digests of MNIST and Fashion-MNIST built in here), CIFAR-10 batches
//! against `SHA256SUMS` when present. A dataset's recorded checksum is the SHA-256 of its sorted digest list.

mod checksum;
mod cifar;
mod idx;
mod images;
mod normalize;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use checksum::{DigestList, parse_sha256sums};
pub use cifar::{CIFAR10_RECORD, parse_cifar_batch};
pub use idx::{parse_idx_images, parse_idx_labels};
pub use images::{ImageSet, check_geometry};
pub use normalize::Normalization;

use crate::error::{Error, Result};

/// The datasets lcr-verify can train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST handwritten digits, 28×28 gray (shipped in `datasets/mnist`).
    Mnist,
    /// Fashion-MNIST, 28×28 gray, same IDX format as MNIST (shipped in `datasets/fashion-mnist`).
    FashionMnist,
    /// CIFAR-10, 32×32 colour, the binary `data_batch_*.bin` format (from `--data-dir`).
    Cifar10,
}

impl DatasetKind {
    /// Every dataset.
    pub const ALL: [DatasetKind; 3] = [DatasetKind::Mnist, DatasetKind::FashionMnist, DatasetKind::Cifar10];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        10
    }

    /// (channels, height, width) of one image.
    pub fn image_shape(self) -> (usize, usize, usize) {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => (1, 28, 28),
            DatasetKind::Cifar10 => (3, 32, 32),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset in memory: both splits, where it came from and how it is normalised.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Which dataset this is.
    pub kind: DatasetKind,
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
    /// The directory the files were read from.
    pub source: PathBuf,
    /// The file holding the training images (the first one, for CIFAR-10's five batches): named in errors.
    pub train_file: PathBuf,
    /// The file holding the test images: named in errors.
    pub test_file: PathBuf,
    /// SHA-256 over the sorted per-file digests (see the module docs).
    pub checksum: String,
    /// The per-channel normalisation applied before the network.
    pub normalization: Normalization,
}

impl Dataset {
    /// Refuses a dataset either of whose splits has images of another shape than `expected`
    /// (`[channels, height, width]`, the shape of `what`, e.g. a model's input), naming the split's file.
    pub fn check_geometry(&self, expected: [usize; 3], what: &str) -> Result<()> {
        self.train.check_geometry(&self.train_file, expected, what)?;
        self.test.check_geometry(&self.test_file, expected, what)
    }

    /// The checks every loader applies: the training images have the shape of `kind`'s images, and the test
    /// images have the shape of the training images, dimension by dimension.
    fn check_splits(self) -> Result<Dataset> {
        let (c, h, w) = self.kind.image_shape();
        self.train.check_geometry(&self.train_file, [c, h, w], &format!("a {} image", self.kind))?;
        let train = format!("the training images in {}", self.train_file.display());
        self.test.check_geometry(&self.test_file, self.train.geometry(), &train)?;
        Ok(self)
    }
}

/// The directory holding the shipped datasets: `$LCR_VERIFY_DATASETS`, else `./datasets`, else the one beside
/// the crate's manifest.
pub fn datasets_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("LCR_VERIFY_DATASETS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("datasets");
    if local.join("mnist").is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets")
}

/// Loads a dataset from `dir`, or from the shipped copy when `dir` is `None` (MNIST and Fashion-MNIST).
///
/// Besides every file's checksum and format, the geometry is checked dimension by dimension: the training
/// images must have the shape of `kind`'s images (MNIST and Fashion-MNIST 1×28×28, CIFAR-10 3×32×32) and the
/// test images the shape of the training images.
pub fn load(kind: DatasetKind, dir: Option<&Path>) -> Result<Dataset> {
    let dir = match (dir, kind) {
        (Some(d), _) => d.to_path_buf(),
        (None, DatasetKind::Mnist) => datasets_root().join("mnist"),
        (None, DatasetKind::FashionMnist) => datasets_root().join("fashion-mnist"),
        (None, other) => {
            return Err(Error::config(
                "data-dir",
                format!("{other} is not shipped with lcr-verify; pass --data-dir DIR with its files"),
            ));
        }
    };
    if !dir.is_dir() {
        return Err(Error::Missing { path: dir, what: "dataset directory" });
    }
    let dataset = match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => idx::load_idx_dataset(kind, &dir),
        DatasetKind::Cifar10 => cifar::load_cifar10(&dir),
    }?;
    dataset.check_splits()
}
