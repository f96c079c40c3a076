//! The benchmark layouts on small generated files in the exact formats, well-formed and malformed.

use std::path::Path;

use lcr_verify::corrupt::layout::{self, CifarC, ImagenetC, Layout, LayoutKind, Manifest, MnistC, SetWriter};
use lcr_verify::corrupt::{Suite, Table, npy};
use lcr_verify::digest::DigestKind;

/// Writes a released-style CIFAR-10-C directory: `n` images of `h×w×3` per severity, 5 severities, pixel value
/// `severity * 10 + image index`, labels `index % 10`.
fn released_cifar_c(dir: &Path, names: &[&str], n: usize, h: usize, w: usize) {
    for name in names {
        let mut data = Vec::new();
        for s in 1..=5u8 {
            for i in 0..n {
                data.extend(std::iter::repeat_n(s * 10 + i as u8, h * w * 3));
            }
        }
        npy::write_u8(&dir.join(format!("{name}.npy")), &[5 * n, h, w, 3], &data).unwrap();
    }
    let labels: Vec<u8> = (0..5).flat_map(|_| (0..n).map(|i| (i % 10) as u8)).collect();
    npy::write_u8(&dir.join("labels.npy"), &[5 * n], &labels).unwrap();
}

#[test]
fn reads_a_released_cifar_10_c_directory() {
    let dir = tempfile::tempdir().unwrap();
    released_cifar_c(dir.path(), &["fog", "gaussian_noise"], 4, 32, 32);
    let c = CifarC::open(dir.path()).unwrap();
    assert_eq!((c.images, c.severities.clone(), c.shape), (4, vec![1, 2, 3, 4, 5], (32, 32, 3)));
    assert_eq!(c.files.keys().cloned().collect::<Vec<_>>(), vec!["fog", "gaussian_noise"]);
    let blocks = c.read("fog").unwrap();
    assert_eq!(blocks.len(), 5);
    for (s, set) in &blocks {
        assert_eq!(set.len(), 4);
        assert_eq!(set.labels, vec![0, 1, 2, 3]);
        for i in 0..4 {
            assert!(set.image(i).iter().all(|&v| v == s * 10 + i as u8), "severity {s} image {i}");
        }
    }
    assert!(matches!(layout::open(dir.path()).unwrap(), Layout::CifarC(_)));
}

#[test]
fn malformed_cifar_10_c_directories_name_the_file() {
    let check = |setup: &dyn Fn(&Path), needle: &str| {
        let dir = tempfile::tempdir().unwrap();
        released_cifar_c(dir.path(), &["fog"], 5, 8, 8);
        setup(dir.path());
        let err = CifarC::open(dir.path()).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    };
    check(&|d| std::fs::remove_file(d.join("labels.npy")).unwrap(), "labels file not found");
    check(
        &|d| npy::write_u8(&d.join("labels.npy"), &[24], &[0; 24]).unwrap(),
        "25 images but labels.npy has 24",
    );
    check(
        &|d| npy::write_u8(&d.join("snow.npy"), &[25, 4, 4, 3], &vec![0; 25 * 48]).unwrap(),
        "snow.npy: images are 4x4x3",
    );
    check(
        &|d| npy::write_u8(&d.join("snow.npy"), &[25, 8, 8, 2], &vec![0; 25 * 128]).unwrap(),
        "not (N, H, W)",
    );
    check(
        &|d| {
            let bytes = std::fs::read(d.join("fog.npy")).unwrap();
            std::fs::write(d.join("fog.npy"), &bytes[..bytes.len() - 7]).unwrap();
        },
        "fog.npy: shape",
    );
    check(
        &|d| std::fs::write(d.join("frost.npy"), b"not a numpy file").unwrap(),
        "frost.npy: not a .npy file",
    );
    check(&|d| npy::write_u8(&d.join("labels.npy"), &[5, 5], &[0; 25]).unwrap(), "labels must be 1-D");
    // 24 rows cannot hold 5 stacked severities.
    let dir = tempfile::tempdir().unwrap();
    npy::write_u8(&dir.path().join("fog.npy"), &[24, 2, 2, 3], &[0; 24 * 12]).unwrap();
    npy::write_u8(&dir.path().join("labels.npy"), &[24], &[0; 24]).unwrap();
    assert!(CifarC::open(dir.path()).unwrap_err().to_string().contains("cannot hold 5"));
}

fn manifest(layout: LayoutKind, n: usize) -> Manifest {
    Manifest {
        format: layout::MANIFEST_FORMAT,
        layout,
        generator: "test".into(),
        suite: if layout == LayoutKind::MnistC { Suite::MnistC } else { Suite::CifarC },
        table: Table::Cifar,
        seed: 3,
        dataset: "synthetic".into(),
        dataset_checksum: "0".repeat(64),
        split: "test".into(),
        images: n,
        height: 6,
        width: 5,
        channels: 1,
        corruptions: Default::default(),
        digest: DigestKind::WRITTEN,
        files: Default::default(),
    }
}

#[test]
fn written_sets_read_back_with_their_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3;
    let mut w = SetWriter::create(dir.path(), manifest(LayoutKind::CifarC, n), vec![4, 5, 6]).unwrap();
    for name in ["contrast", "fog"] {
        w.write_corruption(name, &[2, 5], |s, sink| {
            // Two pieces per severity, to exercise streaming.
            sink(&[s; 2 * 30])?;
            sink(&[s + 100; 30])
        })
        .unwrap();
    }
    assert!(
        w.write_corruption("snow", &[1], |_, sink| sink(&[0; 90])).is_err(),
        "same severities in every file"
    );
    let m = w.finish().unwrap();
    assert_eq!(m.files.len(), 3);
    let c = CifarC::open(dir.path()).unwrap();
    assert_eq!((c.severities.clone(), c.images, c.shape), (vec![2, 5], 3, (6, 5, 1)));
    let blocks = c.read("fog").unwrap();
    assert_eq!(blocks.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 5]);
    assert_eq!(blocks[1].1.labels, vec![4, 5, 6]);
    assert_eq!(blocks[1].1.image(2), &[105; 30][..]);
    for (file, digest) in &m.files {
        assert_eq!(&m.digest.hex(&std::fs::read(dir.path().join(file)).unwrap()), digest, "{file}");
    }

    let dir = tempfile::tempdir().unwrap();
    let mut w = SetWriter::create(dir.path(), manifest(LayoutKind::MnistC, 2), vec![1, 9]).unwrap();
    w.write_corruption("identity", &[1], |_, sink| sink(&[7; 60])).unwrap();
    w.write_corruption("stripe", &[1], |_, sink| sink(&[200; 60])).unwrap();
    assert!(w.write_corruption("fog", &[1, 2], |_, _| Ok(())).is_err(), "one severity per MNIST-C folder");
    w.finish().unwrap();
    let m = MnistC::open(dir.path()).unwrap();
    assert_eq!(m.corruptions.keys().cloned().collect::<Vec<_>>(), vec!["identity", "stripe"]);
    let s = m.read("stripe").unwrap();
    assert_eq!((s.len(), s.height, s.width, s.channels, s.labels.clone()), (2, 6, 5, 1, vec![1, 9]));
    assert!(matches!(layout::open(dir.path()).unwrap(), Layout::MnistC(_)));
}

#[test]
fn reads_mnist_c_with_int64_labels_and_rejects_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("shear");
    std::fs::create_dir(&sub).unwrap();
    npy::write_u8(&sub.join("test_images.npy"), &[2, 28, 28, 1], &[9; 2 * 784]).unwrap();
    // int64 labels as NumPy writes them.
    let mut labels = npy::header(&[2], npy::Dtype { size: 8, signed: true, big_endian: false });
    for v in [3i64, 8] {
        labels.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(sub.join("test_labels.npy"), &labels).unwrap();
    let m = MnistC::open(dir.path()).unwrap();
    assert_eq!(m.read("shear").unwrap().labels, vec![3, 8]);
    npy::write_u8(&sub.join("test_labels.npy"), &[3], &[0, 1, 2]).unwrap();
    assert!(m.read("shear").unwrap_err().to_string().contains("3 labels for 2 images"));
    std::fs::remove_file(sub.join("test_labels.npy")).unwrap();
    assert!(matches!(m.read("shear"), Err(lcr_verify::Error::Missing { .. })));
}

/// Largest per-channel difference accepted after a JPEG round trip of a flat colour.
const JPEG_LEVELS: u8 = 4;

fn write_jpeg(path: &Path, w: u32, h: u32, value: u8) {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 255 - value]));
    img.save_with_format(path, image::ImageFormat::Jpeg).unwrap();
}

fn write_png(path: &Path, w: u32, h: u32, value: u8) {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 255 - value]));
    img.save(path).unwrap();
}

#[test]
fn reads_an_imagenet_c_tree() {
    let dir = tempfile::tempdir().unwrap();
    for c in ["fog", "snow"] {
        for s in [1, 3] {
            for (k, wnid) in ["n01440764", "n01443537"].iter().enumerate() {
                let d = dir.path().join(c).join(s.to_string()).join(wnid);
                std::fs::create_dir_all(&d).unwrap();
                for i in 0..2 {
                    let value = (k * 100 + i * 10 + s) as u8;
                    // The first class as ImageNet ships it (JPEG, upper-case extension), the second as PNG.
                    if k == 0 {
                        write_jpeg(&d.join(format!("ILSVRC2012_val_{k}{i}.JPEG")), 12, 10, value);
                    } else {
                        write_png(&d.join(format!("ILSVRC2012_val_{k}{i}.png")), 12, 10, value);
                    }
                }
            }
        }
    }
    let inet = ImagenetC::open(dir.path()).unwrap();
    assert_eq!(inet.classes, vec!["n01440764", "n01443537"]);
    assert_eq!(inet.corruptions["snow"], vec![1, 3]);
    let files = inet.files("snow", 3).unwrap();
    assert_eq!(files.iter().map(|f| f.1).collect::<Vec<_>>(), vec![0, 0, 1, 1]);
    let set = ImagenetC::decode(&files).unwrap();
    assert_eq!((set.len(), set.height, set.width, set.channels), (4, 10, 12, 3));
    assert_eq!(&set.image(3)[..3], &[113, 56, 142]);
    // JPEG is lossy: a flat colour comes back within a few levels.
    let expected = [3u8, 1, 252];
    for (got, want) in set.image(0).chunks(3).flat_map(|p| p.iter().zip(&expected)) {
        assert!(got.abs_diff(*want) <= JPEG_LEVELS, "JPEG pixel {got} vs {want}");
    }
    assert!(matches!(layout::open(dir.path()).unwrap(), Layout::ImagenetC(_)));

    // An image of another size, an undecodable file, an unknown class folder.
    let d = dir.path().join("fog/1/n01440764");
    write_png(&d.join("odd.png"), 13, 10, 0);
    let err = ImagenetC::decode(&inet.files("fog", 1).unwrap()).unwrap_err().to_string();
    assert!(err.contains("odd.png") && err.contains("13x10"), "{err}");
    std::fs::write(d.join("odd.png"), b"garbage").unwrap();
    let err = ImagenetC::decode(&inet.files("fog", 1).unwrap()).unwrap_err().to_string();
    assert!(err.contains("odd.png") && err.contains("cannot decode"), "{err}");
    std::fs::create_dir_all(dir.path().join("snow/3/n99999999")).unwrap();
    let err = ImagenetC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("n99999999"), "{err}");
    std::fs::create_dir_all(dir.path().join("fog/7")).unwrap();
    assert!(ImagenetC::open(dir.path()).unwrap_err().to_string().contains("1 to 5"));
}

#[test]
fn unknown_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("something")).unwrap();
    assert!(layout::open(dir.path()).unwrap_err().to_string().contains("not a CIFAR-10-C"));
    assert!(matches!(layout::open(&dir.path().join("nope")), Err(lcr_verify::Error::Missing { .. })));
}

#[test]
fn mnist_c_folders_are_checked_when_opened() {
    let setup = |dir: &Path| {
        for name in ["fog", "shear"] {
            let sub = dir.join(name);
            std::fs::create_dir_all(&sub).unwrap();
            npy::write_u8(&sub.join("test_images.npy"), &[3, 28, 28, 1], &[9; 3 * 784]).unwrap();
            npy::write_u8(&sub.join("test_labels.npy"), &[3], &[1, 2, 3]).unwrap();
        }
    };
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    std::fs::create_dir(dir.path().join(".cache")).unwrap();
    let m = MnistC::open(dir.path()).unwrap();
    assert_eq!((m.images["fog"], m.shape), (3, (28, 28, 1)));
    assert_eq!(
        m.corruptions.keys().cloned().collect::<Vec<_>>(),
        vec!["fog", "shear"],
        "hidden folders skipped"
    );

    let check = |damage: &dyn Fn(&Path), needle: &str| {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        damage(dir.path());
        let err = layout::open(dir.path()).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    };
    let images = |d: &Path| d.join("fog/test_images.npy");
    check(&|d| std::fs::write(images(d), b"").unwrap(), "fog/test_images.npy: not a .npy file");
    check(
        &|d| {
            let bytes = std::fs::read(images(d)).unwrap();
            std::fs::write(images(d), &bytes[..1000]).unwrap();
        },
        "fog/test_images.npy: shape [3, 28, 28, 1] of |u1 needs 2352 data bytes, found 872",
    );
    check(
        &|d| {
            let mut bytes = std::fs::read(images(d)).unwrap();
            bytes.extend_from_slice(&[0; 3]);
            std::fs::write(images(d), &bytes).unwrap();
        },
        "found 2355 (truncated or padded)",
    );
    check(
        &|d| std::fs::remove_file(images(d)).unwrap(),
        "fog/test_images.npy: MNIST-C images file not found",
    );
    check(
        &|d| std::fs::remove_file(d.join("shear/test_labels.npy")).unwrap(),
        "shear/test_labels.npy: MNIST-C labels file not found",
    );
    check(
        &|d| std::fs::create_dir(d.join("snow")).unwrap(),
        "snow/test_images.npy: MNIST-C images file not found",
    );
    check(
        &|d| npy::write_u8(&images(d), &[0, 28, 28, 1], &[]).unwrap(),
        "fog/test_images.npy: holds no images",
    );
    check(
        &|d| npy::write_u8(&images(d), &[3, 32, 32, 1], &[0; 3 * 1024]).unwrap(),
        "shear/test_images.npy: images are 28x28x1, other folders hold 32x32x1",
    );
    check(
        &|d| npy::write_u8(&d.join("fog/test_labels.npy"), &[4], &[0; 4]).unwrap(),
        "fog/test_labels.npy: 4 labels for 3 images",
    );
    check(
        &|d| npy::write_u8(&d.join("fog/test_labels.npy"), &[3, 1], &[0; 3]).unwrap(),
        "labels must be 1-D",
    );
}

#[test]
fn manifests_must_match_the_files() {
    // A CIFAR-10-C set whose manifest lists a corruption whose file is gone.
    let dir = tempfile::tempdir().unwrap();
    let mut w = SetWriter::create(dir.path(), manifest(LayoutKind::CifarC, 2), vec![0, 1]).unwrap();
    for name in ["contrast", "fog"] {
        w.write_corruption(name, &[1], |_, sink| sink(&[0; 60])).unwrap();
    }
    w.finish().unwrap();
    std::fs::remove_file(dir.path().join("fog.npy")).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("fog.npy: corruption listed in manifest.json not found"), "{err}");

    // An MNIST-C set whose folders hold fewer images than its manifest records.
    let dir = tempfile::tempdir().unwrap();
    let mut w = SetWriter::create(dir.path(), manifest(LayoutKind::MnistC, 2), vec![0, 1]).unwrap();
    w.write_corruption("stripe", &[1], |_, sink| sink(&[0; 60])).unwrap();
    w.finish().unwrap();
    npy::write_u8(&dir.path().join("stripe/test_images.npy"), &[1, 6, 5, 1], &[0; 30]).unwrap();
    npy::write_u8(&dir.path().join("stripe/test_labels.npy"), &[1], &[0]).unwrap();
    let err = MnistC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("stripe/test_images.npy: 1 images, but manifest.json records 2"), "{err}");

    // Empty labels hold no set.
    let dir = tempfile::tempdir().unwrap();
    npy::write_u8(&dir.path().join("fog.npy"), &[0, 2, 2, 3], &[]).unwrap();
    npy::write_u8(&dir.path().join("labels.npy"), &[0], &[]).unwrap();
    assert!(CifarC::open(dir.path()).unwrap_err().to_string().contains("labels.npy: holds no labels"));
}

/// A CIFAR-10-C set written with a manifest, `n` images of 6×5×1 per severity, severities 1 and 2.
fn written_cifar_c(dir: &Path, names: &[&str], n: usize) {
    let mut w = SetWriter::create(dir, manifest(LayoutKind::CifarC, n), (0..n as u8).collect()).unwrap();
    for name in names {
        w.write_corruption(name, &[1, 2], |s, sink| sink(&vec![s * 7; n * 30])).unwrap();
    }
    w.finish().unwrap();
}

/// Regression (issue 9): a `.npy` changed after `corrupt` wrote `manifest.json` was scored. Every file read is
/// now checked against the digest the manifest lists, and the error names the file.
#[test]
fn files_changed_after_the_manifest_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    written_cifar_c(dir.path(), &["contrast", "fog"], 3);
    let set = CifarC::open(dir.path()).unwrap();
    assert_eq!(set.read("fog").unwrap()[1].1.pixels, vec![14; 90], "unchanged files read");
    // Same size and shape, one pixel changed: only the digest can tell.
    let path = dir.path().join("fog.npy");
    let mut bytes = std::fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = CifarC::open(dir.path()).unwrap().read("fog").unwrap_err();
    assert!(matches!(err, lcr_verify::Error::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("fog.npy") && err.to_string().contains("checksum"), "{err}");
    assert!(err.to_string().contains("expected blake3"), "the function is named: {err}");
    assert!(CifarC::open(dir.path()).unwrap().read("contrast").is_ok(), "the other file is intact");
    // The labels are checked when the set is opened.
    let labels = dir.path().join("labels.npy");
    let mut bytes = std::fs::read(&labels).unwrap();
    *bytes.last_mut().unwrap() = 1;
    std::fs::write(&labels, &bytes).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("labels.npy") && err.contains("checksum"), "{err}");

    // A file the manifest does not list is refused rather than scored unchecked.
    let dir = tempfile::tempdir().unwrap();
    written_cifar_c(dir.path(), &["fog"], 3);
    npy::write_u8(&dir.path().join("snow.npy"), &[6, 6, 5, 1], &[0; 180]).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("snow.npy") && err.contains("not listed in manifest.json"), "{err}");

    // MNIST-C: images and labels alike.
    let dir = tempfile::tempdir().unwrap();
    let mut w = SetWriter::create(dir.path(), manifest(LayoutKind::MnistC, 2), vec![0, 1]).unwrap();
    w.write_corruption("stripe", &[1], |_, sink| sink(&[5; 60])).unwrap();
    w.finish().unwrap();
    assert!(MnistC::open(dir.path()).unwrap().read("stripe").is_ok());
    npy::write_u8(&dir.path().join("stripe/test_labels.npy"), &[2], &[1, 1]).unwrap();
    let err = MnistC::open(dir.path()).unwrap().read("stripe").unwrap_err().to_string();
    assert!(err.contains("stripe/test_labels.npy") && err.contains("checksum"), "{err}");
    npy::write_u8(&dir.path().join("stripe/test_labels.npy"), &[2], &[0, 1]).unwrap();
    npy::write_u8(&dir.path().join("stripe/test_images.npy"), &[2, 6, 5, 1], &[6; 60]).unwrap();
    let err = MnistC::open(dir.path()).unwrap().read("stripe").unwrap_err().to_string();
    assert!(err.contains("stripe/test_images.npy") && err.contains("checksum"), "{err}");
}

/// A set written before manifests named their digest function (format 1: SHA-256, no `digest` field) reads as
/// it did, its files checked against their SHA-256; a format-1 manifest that names another function, or a
/// function this build does not know, is refused by name.
#[test]
fn format_one_manifests_are_checked_by_sha256() {
    let dir = tempfile::tempdir().unwrap();
    written_cifar_c(dir.path(), &["fog"], 3);
    let path = dir.path().join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        (v["format"].as_u64(), v["digest"].as_str()),
        (Some(2), Some("blake3")),
        "what this build writes"
    );
    v["format"] = 1.into();
    v.as_object_mut().unwrap().remove("digest");
    for rel in ["fog.npy", "labels.npy"] {
        v["files"][rel] = lcr_verify::fsio::file_sha256(&dir.path().join(rel)).unwrap().into();
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let set = CifarC::open(dir.path()).unwrap();
    assert_eq!(set.read("fog").unwrap()[1].1.pixels, vec![14; 90]);

    // The BLAKE3 digests of the same files under a format-1 manifest are SHA-256 mismatches.
    let mut blake = v.clone();
    for rel in ["fog.npy", "labels.npy"] {
        blake["files"][rel] = DigestKind::Blake3.hex(&std::fs::read(dir.path().join(rel)).unwrap()).into();
    }
    std::fs::write(&path, serde_json::to_vec(&blake).unwrap()).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("labels.npy") && err.contains("checksum"), "{err}");

    let mut named = v.clone();
    named["digest"] = "blake3".into();
    std::fs::write(&path, serde_json::to_vec(&named).unwrap()).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("format 1 lists SHA-256"), "{err}");

    let mut unknown = v.clone();
    (unknown["format"], unknown["digest"]) = (2.into(), "md5".into());
    std::fs::write(&path, serde_json::to_vec(&unknown).unwrap()).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("md5"), "{err}");

    // Format 2 must name its function; naming SHA-256 is allowed and checked as such.
    let mut unnamed = v.clone();
    unnamed["format"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&unnamed).unwrap()).unwrap();
    let err = CifarC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("names none"), "{err}");
    let mut sha = unnamed.clone();
    sha["digest"] = "sha256".into();
    std::fs::write(&path, serde_json::to_vec(&sha).unwrap()).unwrap();
    assert_eq!(CifarC::open(dir.path()).unwrap().read("fog").unwrap()[1].1.pixels, vec![14; 90]);

    // A writer is not given a manifest its own reader would refuse.
    let mut bad = manifest(LayoutKind::CifarC, 3);
    (bad.format, bad.digest) = (1, DigestKind::Blake3);
    let other = tempfile::tempdir().unwrap();
    let err = SetWriter::create(other.path(), bad, vec![0, 1, 2]).unwrap_err().to_string();
    assert!(err.contains("format 1 lists SHA-256"), "{err}");

    // A changed pixel is still caught under SHA-256.
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let fog = dir.path().join("fog.npy");
    let mut bytes = std::fs::read(&fog).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&fog, &bytes).unwrap();
    let err = CifarC::open(dir.path()).unwrap().read("fog").unwrap_err().to_string();
    assert!(err.contains("fog.npy") && err.contains("checksum mismatch: expected sha256"), "{err}");
}

/// Regression (issue 9): a manifest of a later format, or from a later lcr-verify, is refused by name; so is
/// one whose recorded image shape or layout differs from the files'.
#[test]
fn manifests_of_a_later_format_or_another_shape_are_refused() {
    let edit = |dir: &Path, f: &dyn Fn(&mut serde_json::Value)| {
        let path = dir.join("manifest.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    };
    type Edit<'a> = &'a dyn Fn(&mut serde_json::Value);
    let cases: [(Edit, &str); 5] = [
        (&|v| v["format"] = 3.into(), "format 3"),
        (&|v| v["generator"] = "lcr-verify 999.0.0".into(), "999.0.0"),
        (&|v| v["height"] = 5.into(), "records 5×5×1 images"),
        (&|v| v["channels"] = 3.into(), "records 6×5×3 images"),
        (&|v| v["layout"] = "mnist-c".into(), "layout"),
    ];
    for (f, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        written_cifar_c(dir.path(), &["fog"], 2);
        assert!(CifarC::open(dir.path()).is_ok());
        edit(dir.path(), f);
        let err = CifarC::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest.json") && err.contains(needle), "{needle}: {err}");
    }
    // A manifest without `format` predates the field and reads as format 1, whose digests are SHA-256.
    let dir = tempfile::tempdir().unwrap();
    written_cifar_c(dir.path(), &["fog"], 2);
    let sha = |rel: &str| lcr_verify::fsio::file_sha256(&dir.path().join(rel)).unwrap();
    let (fog, labels) = (sha("fog.npy"), sha("labels.npy"));
    edit(dir.path(), &|v| {
        v.as_object_mut().unwrap().remove("format");
        v.as_object_mut().unwrap().remove("digest");
        (v["files"]["fog.npy"], v["files"]["labels.npy"]) = (fog.clone().into(), labels.clone().into());
    });
    let set = CifarC::open(dir.path()).unwrap();
    assert_eq!(set.manifest.as_ref().map(|m| (m.format, m.digest)), Some((1, DigestKind::Sha256)));
    assert!(set.read("fog").is_ok());
}

/// Issue 9, item 1: ImageNet-C images are decoded chunk by chunk; an image of another size in a later chunk
/// than the first was only compared with its own chunk. Every chunk is now held to the set's first image.
#[test]
fn imagenet_c_chunks_are_held_to_the_sets_image_size() {
    use lcr_verify::robustness::source::{OnDisk, Source};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("fog/1/n01440764");
    std::fs::create_dir_all(&d).unwrap();
    write_png(&d.join("a.png"), 12, 10, 1);
    write_png(&d.join("b.png"), 12, 10, 2);
    write_png(&d.join("c.png"), 10, 12, 3);
    let set = OnDisk::open(dir.path()).unwrap();
    assert_eq!(set.image_shape().unwrap(), (10, 12, 3));
    let cell = set.cells().into_iter().next().unwrap();
    assert!(set.chunk(&cell, 0..2).is_ok());
    let err = set.chunk(&cell, 2..3).unwrap_err().to_string();
    assert!(err.contains("c.png") && err.contains("10x12"), "{err}");
}
