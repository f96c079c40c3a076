//! The ImageNet-C JPEG tree: what `corrupt --layout imagenet-c` writes reads back as the in-memory JPEG-85
//! round trip of the corrupted images; PIL's own quality-85 file decodes to PIL's pixels and carries the
//! coefficients our encoder computes; damaged, missing and unlisted files are refused by name; a released tree
//! without a manifest is read, with a statement that its files could not be checked.

mod common;

use std::path::Path;

use lcr_verify::corrupt::jpeg_codec::{self, Coefficients, Component};
use lcr_verify::corrupt::jpeg_file::{self, Read};
use lcr_verify::corrupt::layout::{self, ImagenetC, ImagenetCWriter, Layout, LayoutKind, Manifest};
use lcr_verify::corrupt::{self, CorruptRequest, Corruption, Corruptor, Split, Suite, Table, npy};
use lcr_verify::robustness::source::{OnDisk, Source};

/// The quality of the released files.
const Q85: u8 = 85;
/// Tolerance on an error rate recomputed from counts (a fraction of 12 images, one rounding apart at most).
const ERROR_EPS: f64 = 1e-12;

fn read_coefficients(bytes: &[u8]) -> Coefficients {
    match jpeg_file::read(bytes, &|_, _, _| Ok(())).expect("readable JPEG") {
        Read::Coefficients(c) => c,
        Read::Unsupported(why) => panic!("unsupported: {why}"),
    }
}

#[test]
fn pils_quality_85_file_decodes_to_pils_pixels_and_holds_our_coefficients() {
    let bytes = std::fs::read(common::fixture("jpeg_pil_q85.jpg")).unwrap();
    let pil_pixels = npy::read(&common::fixture("jpeg_pil_q85.npy")).unwrap().data;
    let path = common::fixture("jpeg_pil_q85.jpg");
    let ours = corrupt::decode::decode(&path, &bytes).unwrap();
    assert_eq!((ours.height, ours.width, ours.channels), (224, 224, 3));
    assert!(ours.pixels == pil_pixels, "our decoder differs from PIL on PIL's file");
    // The coefficients PIL stored are exactly those our encoder computes from the same photo: so PIL decodes
    // the files we write to the pixels our reader gets.
    let photo = &npy::read(&common::fixture("photos224_images.npy")).unwrap().data[..224 * 224 * 3];
    let ours = jpeg_codec::jpeg_compress(photo, 224, 224, 3, Q85);
    assert!(read_coefficients(&bytes).components == ours.components, "coefficients differ from PIL's");
    // And our file carries them losslessly.
    assert!(read_coefficients(&jpeg_file::write(&ours)) == ours);
}

#[test]
fn written_files_round_trip_their_coefficients_at_any_size() {
    let photo = &npy::read(&common::fixture("photos224_images.npy")).unwrap().data;
    for (h, w, c) in [(1, 1, 3), (2, 3, 3), (17, 9, 3), (29, 37, 3), (8, 8, 1), (13, 30, 1)] {
        let px: Vec<u8> = photo.iter().copied().take(h * w * c).collect();
        let coef = jpeg_codec::jpeg_compress(&px, h, w, c, Q85);
        let file = jpeg_file::write(&coef);
        let back = read_coefficients(&file);
        assert_eq!(back.decode().unwrap(), coef.decode().unwrap(), "{h}x{w}x{c}");
    }
}

/// Random blocks, written and read back, are the same blocks: sparse blocks of small values (whose codes and
/// extra bits the reader takes in one lookup) and dense blocks of values up to ±1023 (long codes, many extra
/// bits, stuffed 0xFF bytes), in colour 4:2:0 and gray, at sizes that leave partial MCUs.
#[test]
fn random_blocks_round_trip_through_a_written_file() {
    use rand::{RngCore, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let mut next = move || r.next_u64() >> 33;
    for case in 0..40 {
        // Sparse blocks of small values (short codes, one lookup) and dense ones of values up to ±1023
        // (long codes, many extra bits), in colour 4:2:0 and gray.
        let (w, h) = (8 + (next() % 60) as usize, 8 + (next() % 60) as usize);
        let big = case % 2 == 1;
        let mut block = || -> [i16; 64] {
            std::array::from_fn(|i| {
                let range = if i == 0 {
                    1000
                } else if big {
                    1023
                } else {
                    6
                };
                if i > 0 && next() % if big { 2 } else { 5 } != 0 {
                    0
                } else {
                    (next() % (2 * range + 1)) as i16 - range as i16
                }
            })
        };
        let gray = case % 4 == 0;
        let mut components = Vec::new();
        for (ci, f) in if gray { vec![1] } else { vec![2, 1, 1] }.into_iter().enumerate() {
            let (bw, bh) =
                if gray { (w.div_ceil(8), h.div_ceil(8)) } else { (w.div_ceil(16) * f, h.div_ceil(16) * f) };
            let blocks = (0..bw * bh).map(|_| block()).collect();
            let table = [1 + u16::from(ci > 0); 64];
            components.push(Component { h: f, v: f, table, blocks_w: bw, blocks_h: bh, blocks });
        }
        let coef = Coefficients { width: w, height: h, components };
        let file = jpeg_file::write(&coef);
        match jpeg_file::read(&file, &|_, _, _| Ok(())) {
            Ok(Read::Coefficients(back)) => assert!(back == coef, "case {case}"),
            other => panic!("case {case}: {other:?}"),
        }
    }
}

fn request(out: &Path, layout: Option<LayoutKind>) -> CorruptRequest {
    CorruptRequest {
        dataset: "mnist".into(),
        data_dir: None,
        split: Split::Test,
        suite: Suite::CifarC,
        corruptions: Some("contrast,jpeg_compression,gaussian_noise".into()),
        severities: Some("1,5".into()),
        seed: 11,
        limit: Some(12),
        crop: None,
        out: Some(out.to_path_buf()),
        layout,
        preview: None,
        preview_index: 0,
        frost_dir: None,
    }
}

#[test]
fn the_written_tree_reads_back_as_the_jpeg_85_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    corrupt::run(&request(&out, Some(LayoutKind::ImagenetC)), false).unwrap();
    let clean = corrupt::load_clean(&request(&out, None)).unwrap().images;
    let set = OnDisk::open(&out).unwrap();
    assert!(set.describe().contains("every file checked"), "{}", set.describe());
    let Layout::ImagenetC(tree) = set.layout() else { panic!("not read as ImageNet-C") };
    assert_eq!(tree.classes, (0..10).map(|l| l.to_string()).collect::<Vec<_>>(), "every class folder");
    assert_eq!(set.image_shape().unwrap(), (28, 28, 1));
    let corruptor = Corruptor::new(Table::Cifar);
    let cells = set.cells();
    assert_eq!(cells.len(), 6);
    for cell in cells {
        let got = set.chunk(&cell, 0..cell.images).unwrap();
        assert_eq!(got.len(), 12);
        let c: Corruption = cell.corruption.parse().unwrap();
        let want = corruptor.corrupt_set(&clean, c, cell.severity, 11, 0, &|| {}).unwrap();
        // The tree is sorted by class, then by index within the class.
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by_key(|&i| (want.labels[i], i));
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(got.labels[k], want.labels[i]);
            let jpeg = jpeg_codec::jpeg_round_trip(want.image(i), 28, 28, 1, Q85);
            assert!(got.image(k) == jpeg.as_slice(), "{} s{} image {i}", cell.corruption, cell.severity);
        }
    }
}

#[test]
fn mnist_c_and_its_layout_go_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(&dir.path().join("a"), Some(LayoutKind::MnistC));
    assert!(req.check().unwrap_err().to_string().contains("go together"));
    req.suite = Suite::MnistC;
    req.severities = None;
    req.corruptions = None;
    req.layout = Some(LayoutKind::ImagenetC);
    assert!(req.check().unwrap_err().to_string().contains("go together"));
}

fn small_tree(dir: &Path) -> Manifest {
    let manifest = Manifest {
        format: layout::MANIFEST_FORMAT,
        layout: LayoutKind::ImagenetC,
        generator: "test".into(),
        suite: Suite::ImagenetC,
        table: Table::ImageNet,
        seed: 0,
        dataset: "synthetic".into(),
        dataset_checksum: "0".repeat(64),
        split: "test".into(),
        images: 3,
        height: 10,
        width: 12,
        channels: 3,
        corruptions: Default::default(),
        digest: lcr_verify::digest::DigestKind::WRITTEN,
        files: Default::default(),
    };
    let classes = vec!["n01".to_string(), "n02".to_string()];
    let mut w = ImagenetCWriter::create(dir, manifest, vec![1, 0, 1], classes).unwrap();
    w.write_corruption("fog", &[2, 4], |s, sink| {
        let px: Vec<u8> = (0..3 * 360).map(|i| (i * 7 + usize::from(s) * 40) as u8).collect();
        sink(&px[..360])?;
        sink(&px[360..])
    })
    .unwrap();
    w.finish().unwrap()
}

#[test]
fn missing_changed_and_unlisted_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let m = small_tree(dir.path());
    assert_eq!(m.files.len(), 6);
    let tree = ImagenetC::open(dir.path()).unwrap();
    let files = tree.files("fog", 2).unwrap();
    assert_eq!(files.iter().map(|f| f.1).collect::<Vec<_>>(), vec![0, 1, 1]);
    assert!(tree.read_sized(&files, None).is_ok());

    // A file changed after writing: its checksum no longer matches.
    let victim = dir.path().join("fog/2/n02/00000002.JPEG");
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    let err = tree.read_sized(&files, None).unwrap_err().to_string();
    assert!(err.contains("00000002.JPEG"), "{err}");

    // A file removed.
    std::fs::remove_file(&victim).unwrap();
    let err = ImagenetC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("fog/2"), "{err}");

    // A file added.
    let dir = tempfile::tempdir().unwrap();
    small_tree(dir.path());
    std::fs::copy(dir.path().join("fog/4/n01/00000001.JPEG"), dir.path().join("fog/4/n01/extra.JPEG"))
        .unwrap();
    let err = ImagenetC::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("fog/4") && err.contains("manifest.json"), "{err}");
}

/// A tree whose manifest predates the `digest` field (format 1) is checked file by file with SHA-256.
#[test]
fn a_format_one_tree_is_checked_by_sha256() {
    let dir = tempfile::tempdir().unwrap();
    small_tree(dir.path());
    let path = dir.path().join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["format"] = 1.into();
    v.as_object_mut().unwrap().remove("digest");
    let rels: Vec<String> = v["files"].as_object().unwrap().keys().cloned().collect();
    for rel in &rels {
        v["files"][rel] = lcr_verify::fsio::file_sha256(&dir.path().join(rel)).unwrap().into();
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let tree = ImagenetC::open(dir.path()).unwrap();
    let files = tree.files("fog", 4).unwrap();
    assert!(tree.read_sized(&files, None).is_ok());
    let victim = dir.path().join("fog/4/n01/00000001.JPEG");
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    let err = tree.read_sized(&files, None).unwrap_err().to_string();
    assert!(err.contains("00000001.JPEG") && err.contains("expected sha256"), "{err}");
}

#[test]
fn a_released_tree_without_manifest_is_read_unchecked_and_damage_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    small_tree(dir.path());
    std::fs::remove_file(dir.path().join(layout::MANIFEST)).unwrap();
    let set = OnDisk::open(dir.path()).unwrap();
    assert!(set.describe().contains("not checked"), "{}", set.describe());
    let cell = set.cells().into_iter().next().unwrap();
    assert_eq!(set.chunk(&cell, 0..3).unwrap().len(), 3);
    // Cut a file short: the decoder refuses it by name.
    let victim = dir.path().join("fog/2/n01/00000001.JPEG");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let err = set.chunk(&cell, 0..3).unwrap_err().to_string();
    assert!(err.contains("00000001.JPEG"), "{err}");
    // Damage inside the scan data (the end-of-image marker kept): refused too, never a half-grey image.
    let mut bytes = bytes.clone();
    let n = bytes.len();
    bytes[n - 12..n - 2].fill(0xFF);
    std::fs::write(&victim, &bytes).unwrap();
    let err = set.chunk(&cell, 0..3).unwrap_err().to_string();
    assert!(err.contains("00000001.JPEG") && err.contains("cannot decode JPEG"), "{err}");
}

#[test]
fn robustness_from_our_tree_scores_the_jpeg_85_round_trips() {
    use lcr_verify::data::{self, DatasetKind, ImageSet};
    use lcr_verify::robustness::{
        self, Classifier, EvalOptions, LoadedModel, NearestClassMean, RobustnessRequest,
    };
    use lcr_verify::run_dir::RunDir;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let mut req = request(&out, Some(LayoutKind::ImagenetC));
    req.corruptions = Some("contrast,jpeg_compression".into());
    corrupt::run(&req, false).unwrap();

    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    let model = NearestClassMean::fit(&ds.train.take(2000)).unwrap();
    let (m, checksum, test) = (model.clone(), ds.checksum.clone(), ds.test.clone());
    let load = move |_: &Path| {
        let dataset = serde_json::json!({ "name": "mnist", "checksum": checksum });
        Ok(LoadedModel { classifier: Box::new(m.clone()), test: test.clone(), dataset })
    };
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let args = RobustnessRequest { from: Some(out.clone()), seed: 11, ..Default::default() };
    let report =
        robustness::run(&RunDir::new(&run_dir), &args, &load, &EvalOptions { chunk: 5, progress: false })
            .unwrap();
    assert!(report.source.contains("every file checked"), "{}", report.source);
    // Its manifest says which suite and which test images: no AlexNet normalisation for a cifar-c set, and the
    // clean error on the first 12 test images.
    assert_eq!((report.suite, report.normalisation.kind.as_str()), (Suite::CifarC, "none"));
    assert!(report.clean_error.is_some());

    // The same errors from the corruptions applied in memory, each image through the JPEG-85 round trip.
    let clean = ds.test.take(12);
    let corruptor = Corruptor::new(Table::Cifar);
    for score in &report.corruptions {
        let c: Corruption = score.name.parse().unwrap();
        for s in [1u8, 5] {
            let set = corruptor.corrupt_set(&clean, c, s, 11, 0, &|| {}).unwrap();
            let pixels: Vec<u8> =
                (0..12).flat_map(|i| jpeg_codec::jpeg_round_trip(set.image(i), 28, 28, 1, Q85)).collect();
            let jpeg = ImageSet::new(28, 28, 1, pixels, set.labels.clone()).unwrap();
            let wrong =
                model.predict(&jpeg).unwrap().iter().zip(&jpeg.labels).filter(|(p, l)| p != l).count();
            let want = wrong as f64 / 12.0;
            assert!(
                (score.errors[&s] - want).abs() < ERROR_EPS,
                "{} s{s}: {} vs {want}",
                score.name,
                score.errors[&s]
            );
        }
    }
}
