//! The CIFAR-10 binary format: `data_batch_{1..5}.bin` (train) and `test_batch.bin` (test).
//!
//! Each record is one label byte followed by 3072 pixel bytes: the 1024 red values, then green, then blue, each
//! plane row-major over 32×32. Records are turned into NHWC [`ImageSet`]s here.

use std::path::Path;

use super::checksum::{self, DigestList};
use super::{Dataset, DatasetKind, ImageSet, Normalization};
use crate::error::{Error, Result};
use crate::fsio;

/// Bytes per record: one label and a 3×32×32 image.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
const TEST_FILE: &str = "test_batch.bin";

/// Parses one batch file into (labels, NHWC pixels).
pub fn parse_cifar_batch(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    if bytes.is_empty() {
        return Err(Error::format(path, "empty file"));
    }
    if !bytes.len().is_multiple_of(CIFAR10_RECORD) {
        return Err(Error::format(
            path,
            format!(
                "size {} is not a multiple of the {CIFAR10_RECORD}-byte record (truncated or not CIFAR-10 binary)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / CIFAR10_RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = vec![0u8; n * 3072];
    for (i, rec) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::format(path, format!("record {i}: label {} is not below 10", rec[0])));
        }
        labels.push(rec[0]);
        let planes = &rec[1..];
        let dst = &mut pixels[i * 3072..(i + 1) * 3072];
        for p in 0..1024 {
            for c in 0..3 {
                dst[p * 3 + c] = planes[c * 1024 + p];
            }
        }
    }
    Ok((labels, pixels))
}

fn read_split(
    dir: &Path,
    names: &[&str],
    expected: Option<&DigestList>,
    seen: &mut DigestList,
) -> Result<ImageSet> {
    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    for name in names {
        let path = dir.join(name);
        if !path.exists() {
            return Err(Error::Missing { path, what: "CIFAR-10 batch file" });
        }
        let bytes = fsio::read(&path)?;
        let digest = match expected {
            Some(list) => checksum::verify(&path, name, &bytes, list)?,
            None => fsio::sha256_hex(&bytes),
        };
        seen.insert(name.to_string(), digest);
        let (l, p) = parse_cifar_batch(&path, &bytes)?;
        labels.extend(l);
        pixels.extend(p);
    }
    ImageSet::new(32, 32, 3, pixels, labels)
}

/// Loads CIFAR-10 from `dir` (the `cifar-10-batches-bin` folder).
pub(super) fn load_cifar10(dir: &Path) -> Result<Dataset> {
    let expected = checksum::read_sha256sums(dir)?;
    let mut seen = DigestList::new();
    let train = read_split(dir, &TRAIN_FILES, expected.as_ref(), &mut seen)?;
    let test = read_split(dir, &[TEST_FILE], expected.as_ref(), &mut seen)?;
    Ok(Dataset {
        kind: DatasetKind::Cifar10,
        train,
        test,
        source: dir.to_path_buf(),
        train_file: dir.join(TRAIN_FILES[0]),
        test_file: dir.join(TEST_FILE),
        checksum: checksum::combined(&seen),
        normalization: Normalization::for_kind(DatasetKind::Cifar10),
    })
}
