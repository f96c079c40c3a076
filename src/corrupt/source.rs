//! Where `corrupt` takes its clean images from while it writes: a set decoded whole, or an image folder decoded
//! piece by piece.
//!
//! A built-in dataset is one `.npy`/IDX file and is read whole. An image folder is decoded whole only when the
//! decoded set is used more than once (several corruptions or severities) and fits in [`KEEP_DECODED_BYTES`];
//! otherwise each piece of images is decoded as it is corrupted, into one buffer reused from piece to piece.
//! Streaming costs nothing for a single corruption and severity (each image is decoded once either way) and
//! keeps memory flat for folders of any size (ImageNet's 50,000 validation images are 7.5 GB decoded at
//! 224 px); holding the set saves decoding each image again for every further corruption and severity.
//! Either way the images, and so the written sets, are the same bytes.

use std::ops::Range;

use super::folder::ImageFolder;
use super::stage::{self, CleanSet, CorruptRequest};
use crate::error::{Error, Result};

/// The largest decoded folder kept in memory to be corrupted several times (2 GiB: ImageNet-sized folders
/// stream).
pub const KEEP_DECODED_BYTES: usize = 2 << 30;

/// The clean images of a request, with their provenance.
pub enum CleanSource {
    /// Decoded whole.
    Decoded(CleanSet),
    /// An image folder, decoded piece by piece; `name` is how the dataset is named in manifests.
    Folder { folder: ImageFolder, name: String },
}

impl CleanSource {
    /// The clean images of `req` (the first `--limit` of them), read `uses` times while the sets are written: a
    /// folder streams unless it is read more than once and fits in [`KEEP_DECODED_BYTES`].
    pub fn open(req: &CorruptRequest, uses: usize) -> Result<CleanSource> {
        let dir = match stage::dataset(req)? {
            stage::Dataset::Builtin(kind) => return Ok(CleanSource::Decoded(stage::builtin_set(req, kind)?)),
            stage::Dataset::Folder(dir) => dir,
        };
        let folder = stage::open_folder(req, &dir)?;
        if uses > 1 && folder.len().saturating_mul(folder.image_len()) <= KEEP_DECODED_BYTES {
            return Ok(CleanSource::Decoded(stage::folder_set(folder, &dir)?));
        }
        Ok(CleanSource::Folder { folder, name: dir.display().to_string() })
    }

    /// Images.
    pub fn len(&self) -> usize {
        match self {
            CleanSource::Decoded(c) => c.images.len(),
            CleanSource::Folder { folder, .. } => folder.len(),
        }
    }

    /// `[height, width, channels]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        match self {
            CleanSource::Decoded(c) => [c.images.height, c.images.width, c.images.channels],
            CleanSource::Folder { folder, .. } => [folder.height, folder.width, folder.channels],
        }
    }

    /// Bytes of one image.
    pub fn image_len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Labels, in order.
    pub fn labels(&self) -> Vec<u8> {
        match self {
            CleanSource::Decoded(c) => c.images.labels.clone(),
            CleanSource::Folder { folder, .. } => folder.labels(),
        }
    }

    /// Class names in label order.
    pub fn classes(&self) -> Vec<String> {
        match self {
            CleanSource::Decoded(c) => c.classes.clone(),
            CleanSource::Folder { folder, .. } => folder.classes().to_vec(),
        }
    }

    /// The dataset's name, as manifests record it.
    pub fn name(&self) -> &str {
        match self {
            CleanSource::Decoded(c) => &c.name,
            CleanSource::Folder { name, .. } => name,
        }
    }

    /// The dataset's checksum, as manifests record it: for a streamed folder, over the bytes its images were
    /// decoded from (files not decoded, past `--limit`, are read and hashed now).
    pub fn checksum(&self) -> Result<String> {
        match self {
            CleanSource::Decoded(c) => Ok(c.checksum.clone()),
            CleanSource::Folder { folder, .. } => folder.checksum(),
        }
    }

    /// The images `range`: a slice of the decoded set, or decoded into `buf` (resized as needed).
    pub fn piece<'a>(&'a self, range: Range<usize>, buf: &'a mut Vec<u8>) -> Result<&'a [u8]> {
        let len = self.image_len();
        match self {
            CleanSource::Decoded(c) => {
                c.images.pixels.get(range.start * len..range.end * len).ok_or_else(|| Error::Shape {
                    context: "clean images".into(),
                    expected: vec![c.images.len()],
                    found: vec![range.end],
                })
            }
            CleanSource::Folder { folder, .. } => {
                buf.resize(range.len() * len, 0);
                folder.decode_into(range, buf)?;
                Ok(buf)
            }
        }
    }
}
