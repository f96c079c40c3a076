//! Small datasets written in the real file formats, and the command under test.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use lcr_verify::fsio::sha256_hex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes of an IDX image file holding `images` (each `h*w` bytes).
pub fn idx_images(h: usize, w: usize, images: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [images.len(), h, w] {
        out.extend((d as u32).to_be_bytes());
    }
    for img in images {
        out.extend(img);
    }
    out
}

/// Bytes of an IDX label file.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend((labels.len() as u32).to_be_bytes());
    out.extend(labels);
    out
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A learnable synthetic 28×28 digit-like image of class `c`: a class-specific bar pattern plus noise.
pub fn synthetic_image(c: u8, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut img = vec![0u8; 28 * 28];
    for y in 0..28 {
        for x in 0..28 {
            let on = match c % 5 {
                0 => (y / 3) % 2 == (c / 5) as usize,
                1 => (x / 3) % 2 == (c / 5) as usize,
                2 => ((x + y) / 4) % 2 == (c / 5) as usize,
                3 => (y < 14) == (c < 5) && x % 2 == 0,
                _ => (x < 14) == (c < 5) && y % 2 == 0,
            };
            let base: i32 = if on { 200 } else { 30 };
            img[y * 28 + x] = (base + rng.random_range(-30..=30)).clamp(0, 255) as u8;
        }
    }
    img
}

/// Writes an MNIST-format dataset (gzip IDX files plus SHA256SUMS of the uncompressed files) into `dir`.
pub fn write_mnist_like(dir: &Path, train: usize, test: usize, seed: u64) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sums = String::new();
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images: Vec<Vec<u8>> = labels.iter().map(|&c| synthetic_image(c, &mut rng)).collect();
        let img = idx_images(28, 28, &images);
        let lab = idx_labels(&labels);
        for (name, bytes) in
            [(format!("{prefix}-images-idx3-ubyte"), img), (format!("{prefix}-labels-idx1-ubyte"), lab)]
        {
            sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
            fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        }
    }
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    dir.to_path_buf()
}

/// Rewrites `SHA256SUMS` in `dir` to match the (uncompressed) content of every listed file.
pub fn refresh_sums(dir: &Path) {
    let mut sums = String::new();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let path = dir.join(format!("{name}.gz"));
        if let Ok(bytes) = lcr_verify::fsio::read_maybe_gz(&path) {
            sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        }
    }
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
}

/// Bytes of a CIFAR-10 binary batch with `n` records of the given labels (pixels derived from the index).
pub fn cifar_batch(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        for p in 0..3072 {
            out.push(((i * 31 + p * 7) % 256) as u8);
        }
    }
    out
}

/// The lcr-verify binary.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_lcr-verify"))
}
