//! `corrupt` and `robustness` front ends end to end on small data: files in the benchmark layouts, the
//! manifest, the preview, corruption.json, and the same errors whether corruptions are generated on the fly
//! or read back from the written files.

mod common;

use std::path::Path;

use lcr_verify::cli::corrupt::{self, CorruptArgs};
use lcr_verify::cli::robustness::{self, LoadedModel, RobustnessArgs};
use lcr_verify::corrupt::layout::{CifarC, Manifest, MnistC};
use lcr_verify::corrupt::{Corruption, Corruptor, Image, Suite};
use lcr_verify::data::{self, DatasetKind};
use lcr_verify::robustness::{CorruptionFile, NearestClassMean};

fn corrupt_args(suite: Suite, out: Option<&Path>) -> CorruptArgs {
    CorruptArgs {
        dataset: "mnist".into(),
        data_dir: None,
        split: corrupt::Split::Test,
        suite,
        corruptions: None,
        severities: None,
        seed: 7,
        limit: Some(12),
        crop: None,
        out: out.map(Path::to_path_buf),
        preview: None,
        preview_index: 0,
        frost_dir: None,
        quiet: true,
    }
}

fn robustness_args(run_dir: &Path, suite: Option<Suite>) -> RobustnessArgs {
    RobustnessArgs {
        run_dir: run_dir.to_path_buf(),
        suite,
        from: None,
        reference: None,
        json: false,
        corruptions: None,
        severities: None,
        seed: 7,
        limit: Some(12),
        alexnet: false,
        chunk: 5,
        quiet: true,
    }
}

/// A stand-in "run": nearest class means fitted on 2000 MNIST training digits.
fn loader() -> impl Fn(&Path) -> lcr_verify::Result<LoadedModel> {
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    let model = NearestClassMean::fit(&ds.train.take(2000)).unwrap();
    move |_: &Path| {
        let dataset = serde_json::json!({ "name": "mnist", "checksum": ds.checksum });
        Ok(LoadedModel { classifier: Box::new(model.clone()), test: ds.test.clone(), dataset })
    }
}

#[test]
fn writes_cifar_10_c_layout_that_matches_direct_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = corrupt_args(Suite::CifarC, Some(dir.path()));
    args.corruptions = Some("fog,shot_noise,pixelate".into());
    args.severities = Some("2,4-5".into());
    corrupt::run(&args).unwrap();
    let set = CifarC::open(dir.path()).unwrap();
    assert_eq!(set.severities, vec![2, 4, 5]);
    assert_eq!((set.images, set.shape), (12, (28, 28, 1)));
    let m = Manifest::read(dir.path()).unwrap().unwrap();
    assert_eq!((m.suite, m.seed, m.dataset.as_str()), (Suite::CifarC, 7, "mnist"));
    let mnist = data::load(DatasetKind::Mnist, None).unwrap();
    assert_eq!(m.dataset_checksum, mnist.checksum);
    let cor = Corruptor::new(Suite::CifarC.table());
    for (s, block) in set.read("fog").unwrap() {
        assert_eq!(block.labels, mnist.test.labels[..12].to_vec());
        for i in [0usize, 11] {
            let clean = Image::from_u8(28, 28, 1, mnist.test.image(i)).unwrap();
            let direct = cor.apply_seeded(Corruption::Fog, s, &clean, 7, i as u64).unwrap().to_u8();
            assert_eq!(block.image(i), &direct[..], "fog s{s} image {i}: file and direct corruption differ");
        }
    }
}

#[test]
fn writes_mnist_c_layout_and_a_preview() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("preview.png");
    let mut args = corrupt_args(Suite::MnistC, Some(&dir.path().join("mnist_c")));
    args.preview = Some(png.clone());
    corrupt::run(&args).unwrap();
    let m = MnistC::open(&dir.path().join("mnist_c")).unwrap();
    assert_eq!(m.corruptions.len(), 16, "15 corruptions and identity");
    assert_eq!(
        m.read("identity").unwrap().pixels,
        data::load(DatasetKind::Mnist, None).unwrap().test.take(12).pixels
    );
    let img = image::open(&png).unwrap();
    // 15 rows of 28×3 = 84 px plus gaps, after a header; 2 columns (clean + the fixed severity).
    assert!(img.height() > 15 * 84 && img.width() > 2 * 84, "{}x{}", img.width(), img.height());

    let mut bad = corrupt_args(Suite::MnistC, Some(dir.path()));
    bad.severities = Some("1-5".into());
    assert!(corrupt::run(&bad).unwrap_err().to_string().contains("one fixed severity"));
    let mut bad = corrupt_args(Suite::CifarC, Some(dir.path()));
    bad.corruptions = Some("shear".into());
    assert!(corrupt::run(&bad).unwrap_err().to_string().contains("not part of the cifar-c suite"));
    let mut bad = corrupt_args(Suite::CifarC, None);
    bad.dataset = "/no/such/dir".into();
    assert!(corrupt::run(&bad).is_err());
}

#[test]
fn reads_an_image_folder_with_resize_and_crop() {
    let dir = tempfile::tempdir().unwrap();
    for (k, class) in ["cat", "dog"].iter().enumerate() {
        let d = dir.path().join("imgs").join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..2 {
            let img = image::RgbImage::from_fn(60 + 10 * i, 50, |x, y| {
                image::Rgb([(x * 4) as u8, (y * 5) as u8, (k * 200) as u8])
            });
            img.save(d.join(format!("{i}.png"))).unwrap();
        }
    }
    let mut args = corrupt_args(Suite::CifarC, Some(&dir.path().join("out")));
    args.dataset = dir.path().join("imgs").display().to_string();
    args.corruptions = Some("contrast".into());
    args.limit = None;
    assert!(corrupt::run(&args).unwrap_err().to_string().contains("--crop"), "different sizes need --crop");
    args.crop = Some(32);
    corrupt::run(&args).unwrap();
    let set = CifarC::open(&dir.path().join("out")).unwrap();
    assert_eq!((set.images, set.shape), (4, (32, 32, 3)));
    assert_eq!(set.labels[..4].to_vec(), vec![0, 0, 1, 1]);
}

#[test]
fn robustness_writes_corruption_json_and_agrees_with_the_written_files() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let load = loader();
    let mut args = robustness_args(&run_dir, Some(Suite::CifarC));
    args.corruptions = Some("benchmark".into());
    let generated = robustness::run(&args, &load).unwrap();
    assert_eq!(generated.corruptions.len(), 15);
    assert!(generated.corruptions.iter().all(|c| c.errors.len() == 5));
    assert_eq!(generated.normalisation.kind, "none");
    assert!(generated.totals.mce.is_none() && generated.clean_error.is_some());

    // The same corruptions written to disk and read back give the same errors.
    let sets = dir.path().join("sets");
    let mut cargs = corrupt_args(Suite::CifarC, Some(&sets));
    cargs.corruptions = Some("benchmark".into());
    corrupt::run(&cargs).unwrap();
    let mut from = robustness_args(&run_dir, None);
    from.limit = None;
    from.from = Some(sets);
    let read = robustness::run(&from, &load).unwrap();
    assert_eq!(read.suite, Suite::CifarC);
    for (a, b) in generated.corruptions.iter().zip(&read.corruptions) {
        assert_eq!((a.name.as_str(), &a.errors), (b.name.as_str(), &b.errors));
    }

    // MNIST-C is merged into the same file, next to cifar-c; a reference model gives CE and mCE.
    let mut margs = robustness_args(&run_dir, None);
    margs.reference = Some(run_dir.clone());
    let mnist_c = robustness::run(&margs, &load).unwrap();
    assert_eq!(mnist_c.suite, Suite::MnistC, "the default suite for 28x28 gray data");
    assert!((mnist_c.totals.mce.unwrap() - 1.0).abs() < 1e-12, "a model against itself has mCE 100");
    assert_eq!(mnist_c.normalisation.kind, "reference");
    let file = CorruptionFile::read(&run_dir.join("corruption.json")).unwrap();
    assert_eq!(file.suites.keys().cloned().collect::<Vec<_>>(), vec!["cifar-c", "mnist-c"]);
    let provenance = &file.suites["mnist-c"].provenance;
    assert_eq!((provenance["seed"].as_u64(), provenance["limit"].as_u64()), (Some(7), Some(12)));
    assert_eq!(provenance["dataset"]["checksum"].as_str().map(str::len), Some(64), "{provenance}");

    let mut bad = robustness_args(&run_dir, Some(Suite::CifarC));
    bad.alexnet = true;
    assert!(robustness::run(&bad, &load).unwrap_err().to_string().contains("AlexNet"));
    std::fs::write(run_dir.join("corruption.json"), b"{broken").unwrap();
    assert!(
        robustness::run(&robustness_args(&run_dir, None), &load)
            .unwrap_err()
            .to_string()
            .contains("not a corruption report")
    );
}

use lcr_verify::cli::{Cli, Command};

#[test]
fn the_arguments_parse_as_documented() {
    use clap::{CommandFactory, Parser};
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from([
        "lcr-verify",
        "corrupt",
        "--dataset",
        "mnist",
        "--suite",
        "imagenet-c",
        "--corruptions",
        "fog,frost",
        "--severities",
        "1-3",
        "--seed",
        "4",
        "--out",
        "sets",
        "--preview",
        "p.png",
    ])
    .unwrap();
    let Command::Corrupt(a) = cli.command else { panic!("corrupt expected") };
    assert_eq!((a.suite, a.seed, a.severities.as_deref()), (Suite::ImagenetC, 4, Some("1-3")));
    let cli = Cli::try_parse_from([
        "lcr-verify",
        "robustness",
        "runs/a",
        "--suite",
        "mnist-c",
        "--from",
        "d",
        "--reference",
        "runs/b",
        "--json",
    ])
    .unwrap();
    let Command::Robustness(r) = cli.command else { panic!("robustness expected") };
    assert_eq!(
        (r.suite, r.json, r.reference.unwrap()),
        (Some(Suite::MnistC), true, std::path::PathBuf::from("runs/b"))
    );
    assert!(Cli::try_parse_from(["lcr-verify", "corrupt", "--suite", "cifar10-c"]).is_err());
}

/// A flat RGB image per class, so nearest class means classify the clean images perfectly.
fn class_colour(class: usize) -> [u8; 3] {
    [[200, 40, 40], [40, 40, 200]][class]
}

#[test]
fn an_imagenet_c_tree_is_scored_against_alexnet_unless_a_reference_is_named() {
    let root = tempfile::tempdir().unwrap();
    let tree = root.path().join("ImageNet-C");
    let (side, wnids) = (8u32, ["n01440764", "n01443537"]);
    for c in ["fog", "snow"] {
        for s in 1..=5 {
            for (k, wnid) in wnids.iter().enumerate() {
                let d = tree.join(c).join(s.to_string()).join(wnid);
                std::fs::create_dir_all(&d).unwrap();
                for i in 0..2 {
                    let img = image::RgbImage::from_pixel(side, side, image::Rgb(class_colour(k)));
                    img.save(d.join(format!("ILSVRC2012_val_{k}{i}.png"))).unwrap();
                }
            }
        }
    }
    let pixels: Vec<u8> = (0..4).flat_map(|i| class_colour(i / 2).repeat((side * side) as usize)).collect();
    let clean = lcr_verify::data::ImageSet::new(8, 8, 3, pixels, vec![0, 0, 1, 1]).unwrap();
    let model = NearestClassMean::fit(&clean).unwrap();
    let load = move |_: &Path| {
        Ok(LoadedModel {
            classifier: Box::new(model.clone()),
            test: clean.clone(),
            dataset: serde_json::Value::Null,
        })
    };
    let run_dir = root.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let mut args = robustness_args(&run_dir, None);
    (args.from, args.limit) = (Some(tree.clone()), None);

    let report = robustness::run(&args, &load).unwrap();
    assert_eq!((report.suite, report.normalisation.kind.as_str()), (Suite::ImagenetC, "alexnet"));
    assert_eq!(report.clean_error, Some(0.0));
    for score in &report.corruptions {
        // The images are not corrupted at all: error 0, so CE 0 against AlexNet's non-zero errors.
        assert_eq!(score.ce, Some(0.0), "{}", score.name);
    }

    args.reference = Some(run_dir.clone());
    assert_eq!(robustness::run(&args, &load).unwrap().normalisation.kind, "reference");
    args.alexnet = true;
    let err = robustness::run(&args, &load).unwrap_err().to_string();
    assert!(err.contains("--alexnet") && err.contains("--reference"), "{err}");
}
