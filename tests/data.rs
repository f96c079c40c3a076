//! Dataset loaders on small files in the real formats, good and malformed.

mod common;

use std::fs;

use common::*;
use lcr_verify::data::{self, DatasetKind, ImageSet, Normalization};
use lcr_verify::error::Error;

#[test]
fn mnist_format_round_trips_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 30, 20, 1);
    let ds = data::load(DatasetKind::Mnist, Some(dir.path())).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (30, 20));
    assert_eq!((ds.train.height, ds.train.width, ds.train.channels), (28, 28, 1));
    assert_eq!(ds.train.labels[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    assert_eq!(ds.checksum.len(), 64);
    // The same files give the same checksum; different files a different one.
    assert_eq!(data::load(DatasetKind::Mnist, Some(dir.path())).unwrap().checksum, ds.checksum);
    let other = tempfile::tempdir().unwrap();
    write_mnist_like(other.path(), 30, 20, 2);
    assert_ne!(data::load(DatasetKind::Mnist, Some(other.path())).unwrap().checksum, ds.checksum);
}

#[test]
fn uncompressed_files_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 3);
    for name in ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        let raw = lcr_verify::fsio::read_maybe_gz(&dir.path().join(format!("{name}.gz"))).unwrap();
        fs::remove_file(dir.path().join(format!("{name}.gz"))).unwrap();
        fs::write(dir.path().join(name), raw).unwrap();
    }
    assert_eq!(data::load(DatasetKind::Mnist, Some(dir.path())).unwrap().train.len(), 10);
}

fn load_err(dir: &std::path::Path) -> String {
    data::load(DatasetKind::Mnist, Some(dir)).unwrap_err().to_string()
}

fn replace(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
    refresh_sums(dir);
}

#[test]
fn bad_magic_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 4);
    let mut bytes = idx_images(28, 28, &vec![vec![0u8; 784]; 10]);
    bytes[3] = 9;
    replace(dir.path(), "train-images-idx3-ubyte", &bytes);
    let err = load_err(dir.path());
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("bad magic"), "{err}");
}

#[test]
fn truncated_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 5);
    let bytes = idx_images(28, 28, &vec![vec![0u8; 784]; 10]);
    replace(dir.path(), "t10k-images-idx3-ubyte", &bytes[..bytes.len() - 100]);
    let err = load_err(dir.path());
    assert!(err.contains("t10k-images-idx3-ubyte") && err.contains("truncated"), "{err}");
    // A header shorter than its fixed size too.
    replace(dir.path(), "t10k-images-idx3-ubyte", &bytes[..7]);
    assert!(load_err(dir.path()).contains("truncated"));
}

#[test]
fn label_and_image_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 6);
    replace(dir.path(), "train-labels-idx1-ubyte", &idx_labels(&[1; 9]));
    let err = load_err(dir.path());
    assert!(err.contains("train-labels-idx1-ubyte") && err.contains("9 labels for 10 images"), "{err}");
}

#[test]
fn labels_must_name_a_class() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 7);
    let mut labels = vec![1u8; 10];
    labels[4] = 10;
    replace(dir.path(), "t10k-labels-idx1-ubyte", &idx_labels(&labels));
    let err = load_err(dir.path());
    assert!(err.contains("label 10 at index 4"), "{err}");
}

#[test]
fn checksum_mismatch_is_reported_with_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 8);
    // Change the content but not SHA256SUMS.
    fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gzip(&idx_labels(&[3; 10]))).unwrap();
    let err = data::load(DatasetKind::Mnist, Some(dir.path())).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte"));
}

#[test]
fn without_sha256sums_the_canonical_digests_apply() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 9);
    fs::remove_file(dir.path().join("SHA256SUMS")).unwrap();
    // Generated files are not canonical MNIST, so they are refused.
    assert!(matches!(data::load(DatasetKind::Mnist, Some(dir.path())).unwrap_err(), Error::Checksum { .. }));
}

#[test]
fn missing_files_and_directories_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("not found"), "{err}");
    let gone = dir.path().join("nowhere");
    assert!(load_err(&gone).contains("dataset directory not found"));
    let corrupt = tempfile::tempdir().unwrap();
    write_mnist_like(corrupt.path(), 10, 10, 10);
    fs::write(corrupt.path().join("train-labels-idx1-ubyte.gz"), [0x1f, 0x8b, 8, 0, 1, 2]).unwrap();
    assert!(load_err(corrupt.path()).contains("corrupt gzip"));
}

#[test]
fn cifar10_needs_a_directory() {
    let err = data::load(DatasetKind::Cifar10, None).unwrap_err().to_string();
    assert!(err.contains("--data-dir"), "{err}");
}

#[test]
fn cifar10_binary_batches_load_as_hwc() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        fs::write(dir.path().join(format!("data_batch_{i}.bin")), cifar_batch(&[i as u8, 0, 9])).unwrap();
    }
    fs::write(dir.path().join("test_batch.bin"), cifar_batch(&[7, 3])).unwrap();
    let ds = data::load(DatasetKind::Cifar10, Some(dir.path())).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (15, 2));
    assert_eq!(ds.test.labels, [7, 3]);
    // Record 0 of the test batch: plane byte p of channel c is (31*0 + (c*1024 + p)*7) % 256.
    let img = ds.test.image(0);
    for (p, c) in [(0usize, 0usize), (5, 1), (1023, 2)] {
        assert_eq!(img[p * 3 + c] as usize, ((c * 1024 + p) * 7) % 256);
    }
}

#[test]
fn cifar10_malformed_batches_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        fs::write(dir.path().join(format!("data_batch_{i}.bin")), cifar_batch(&[1])).unwrap();
    }
    let err = data::load(DatasetKind::Cifar10, Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("not found"), "{err}");
    let mut bad = cifar_batch(&[1, 2]);
    bad.pop();
    fs::write(dir.path().join("test_batch.bin"), bad).unwrap();
    let err = data::load(DatasetKind::Cifar10, Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("not a multiple"), "{err}");
    fs::write(dir.path().join("test_batch.bin"), cifar_batch(&[1, 12])).unwrap();
    let err = data::load(DatasetKind::Cifar10, Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("record 1: label 12"), "{err}");
}

#[test]
fn normalisation_is_the_recorded_affine_map() {
    let set = ImageSet::new(1, 2, 1, vec![0, 255], vec![0]).unwrap();
    let norm = Normalization::for_kind(DatasetKind::Mnist);
    let v = norm.values(&set, &[0]).unwrap();
    assert!((v[0] - (-0.1307 / 0.3081)).abs() < 1e-6);
    assert!((v[1] - (1.0 - 0.1307) / 0.3081).abs() < 1e-6);
}

#[test]
fn shipped_mnist_has_the_canonical_size_and_class_counts() {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    let mut counts = [0usize; 10];
    for &l in &ds.test.labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
}

#[test]
fn shipped_fashion_mnist_has_the_canonical_size_and_balanced_classes() {
    let ds = data::load(DatasetKind::FashionMnist, None).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    let mut counts = [0usize; 10];
    for &l in &ds.test.labels {
        counts[l as usize] += 1;
    }
    // Fashion-MNIST's test set holds exactly 1000 images of each of its ten classes.
    assert_eq!(counts, [1000; 10]);
    // A different dataset: its checksum differs from MNIST's.
    let mnist = data::load(DatasetKind::Mnist, None).unwrap();
    assert_ne!(ds.checksum, mnist.checksum);
}

/// Theorem V7's rounding allowance: every fed value of every pixel and channel lies within half of
/// `fed_rounding` (ℓ∞, one coordinate) of the exact (p/255 − mean)/std, for the constants of every dataset; so
/// a certified radius converted by `pixel_radius` covers the pixel perturbations it claims.
#[test]
fn fed_rounding_bounds_the_f32_normalisation() {
    use lcr_verify::ir::InputNorm;
    // The exact value computed in f64 is within 1e-15 of the real one: far below the f32 allowance (~1e-6).
    const F64_SLACK: f64 = 1e-15;
    for kind in [DatasetKind::Mnist, DatasetKind::FashionMnist, DatasetKind::Cifar10] {
        let n = Normalization::for_kind(kind);
        let per = n.fed_rounding(InputNorm::Linf, 1) / 2.0;
        for c in 0..n.mean.len() {
            let (m, s) = (n.mean[c] as f64, n.std[c] as f64);
            let mut worst = 0.0f64;
            for p in 0..=255u8 {
                let exact = (p as f64 / 255.0 - m) / s;
                let err = (n.apply(p, c) as f64 - exact).abs() + F64_SLACK;
                assert!(err <= per, "{kind} channel {c} pixel {p}: {err} > {per}");
                worst = worst.max(err);
            }
            // The allowance is not vacuous: within a factor 20 of the worst error seen.
            assert!(per < 20.0 * worst, "{kind} channel {c}: allowance {per}, worst {worst}");
        }
        // A certified radius in pixel units: a pixel perturbation just inside it lands inside the normalised ball.
        let r = 0.01;
        for norm in [InputNorm::Linf, InputNorm::L2] {
            let px = n.pixel_radius(r, norm, 784);
            assert!(px > 0.0 && px < r * n.min_std());
        }
    }
}

/// Issue 9, item 1: the test split must have the training split's geometry in every dimension, and the
/// training split the dataset kind's; a 56×14 split has the 784 values of a 28×28 one and was accepted.
#[test]
fn splits_of_another_geometry_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 11);
    replace(dir.path(), "t10k-images-idx3-ubyte", &idx_images(56, 14, &vec![vec![0u8; 784]; 10]));
    let err = load_err(dir.path());
    assert!(err.contains("t10k-images-idx3-ubyte") && err.contains("training images"), "{err}");
    assert!(err.contains("height 56 instead of 28") && err.contains("width 14 instead of 28"), "{err}");
    // Both splits 14×56: not MNIST's shape.
    replace(dir.path(), "train-images-idx3-ubyte", &idx_images(14, 56, &vec![vec![0u8; 784]; 10]));
    replace(dir.path(), "t10k-images-idx3-ubyte", &idx_images(14, 56, &vec![vec![0u8; 784]; 10]));
    let err = load_err(dir.path());
    assert!(
        err.contains("train-images-idx3-ubyte")
            && err.contains("instead of 1×28×28, the shape of a mnist image"),
        "{err}"
    );
    // A loaded dataset checked against a model's input names the differing dimension.
    let good = tempfile::tempdir().unwrap();
    write_mnist_like(good.path(), 10, 10, 12);
    let ds = data::load(DatasetKind::Mnist, Some(good.path())).unwrap();
    assert!(ds.check_geometry([1, 28, 28], "the model's input").is_ok());
    let err = ds.check_geometry([3, 28, 28], "the model's input").unwrap_err().to_string();
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("channels 1 instead of 3"), "{err}");
}

/// Issue 9, item 5: IDX dimensions whose product passes `usize` and wraps around to the file's real size
/// panicked with "capacity overflow"; they are now refused by name, as are sizes that do not wrap.
#[test]
fn idx_dimensions_that_overflow_are_refused_without_a_panic() {
    let header = |dims: [u32; 3]| {
        let mut out = vec![0, 0, 8, 3];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out
    };
    let p = std::path::Path::new("images-idx3");
    // 4 · 2^31 · 2^31 = 2^64: wraps to 0, so the 16-byte header alone looks complete.
    let err = data::parse_idx_images(p, &header([4, 1 << 31, 1 << 31])).unwrap_err().to_string();
    assert!(err.contains("images-idx3") && err.contains("more bytes than a file can hold"), "{err}");
    // The largest dimensions that do not overflow still cannot match a small file.
    let err = data::parse_idx_images(p, &header([u32::MAX, 2, 2])).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    // Through the loader, with labels that agree with the wrapped count.
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 4, 13);
    replace(dir.path(), "t10k-images-idx3-ubyte", &header([4, 1 << 31, 1 << 31]));
    let err = load_err(dir.path());
    assert!(err.contains("t10k-images-idx3-ubyte") && err.contains("more bytes"), "{err}");
}

/// Issue 9, item 6: a dataset file that is a named pipe is refused by name instead of blocking the read.
#[cfg(unix)]
#[test]
fn a_named_pipe_among_the_dataset_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_like(dir.path(), 10, 10, 14);
    let path = dir.path().join("t10k-labels-idx1-ubyte.gz");
    fs::remove_file(&path).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
    let err = load_err(dir.path());
    assert!(err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("named pipe"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("test_batch.bin"), cifar_batch(&[1])).unwrap();
    for i in 1..=5 {
        let path = dir.path().join(format!("data_batch_{i}.bin"));
        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
    }
    let err = data::load(DatasetKind::Cifar10, Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("data_batch_1.bin") && err.contains("named pipe"), "{err}");
}
