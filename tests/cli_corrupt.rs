//! `corrupt` and `robustness` front ends end to end on small data: files in the benchmark layouts, the
//! manifest, the preview, corruption.json, and the same errors whether corruptions are generated on the fly
//! or read back from the written files.

mod common;

use std::path::{Path, PathBuf};

use lcr_verify::corrupt::layout::{CifarC, Manifest, MnistC};
use lcr_verify::corrupt::{self, CorruptRequest, Corruption, Corruptor, Image, Suite};
use lcr_verify::data::{self, DatasetKind};
use lcr_verify::robustness::{
    self, CorruptionFile, EvalOptions, LoadedModel, ModelLoader, NearestClassMean, RobustnessRequest,
    SuiteReport,
};
use lcr_verify::run_dir::RunDir;

fn corrupt_args(suite: Suite, out: Option<&Path>) -> CorruptRequest {
    CorruptRequest {
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
        layout: None,
        preview: None,
        preview_index: 0,
        frost_dir: None,
    }
}

fn robustness_args(suite: Option<Suite>) -> RobustnessRequest {
    RobustnessRequest { suite, seed: 7, limit: Some(12), ..Default::default() }
}

/// The robustness stage on `run_dir` with `req`, five images per chunk, no progress bar.
fn evaluate(
    run_dir: &Path,
    req: &RobustnessRequest,
    load: &dyn ModelLoader,
) -> lcr_verify::Result<SuiteReport> {
    robustness::run(&RunDir::new(run_dir), req, load, &EvalOptions { chunk: 5, progress: false })
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
    corrupt::run(&args, false).unwrap();
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
    corrupt::run(&args, false).unwrap();
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
    assert!(corrupt::run(&bad, false).unwrap_err().to_string().contains("one fixed severity"));
    let mut bad = corrupt_args(Suite::CifarC, Some(dir.path()));
    bad.corruptions = Some("shear".into());
    assert!(corrupt::run(&bad, false).unwrap_err().to_string().contains("not part of the cifar-c suite"));
    let mut bad = corrupt_args(Suite::CifarC, None);
    bad.dataset = "/no/such/dir".into();
    assert!(corrupt::run(&bad, false).is_err());
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
    assert!(
        corrupt::run(&args, false).unwrap_err().to_string().contains("--crop"),
        "different sizes need --crop"
    );
    args.crop = Some(32);
    corrupt::run(&args, false).unwrap();
    let set = CifarC::open(&dir.path().join("out")).unwrap();
    assert_eq!((set.images, set.shape), (4, (32, 32, 3)));
    assert_eq!(set.labels[..4].to_vec(), vec![0, 0, 1, 1]);
}

/// An image folder corrupted once (one corruption, one severity: decoded piece by piece as it is written) and
/// as part of a larger plan (decoded whole first) gives the same files, byte for byte, with the same digests and
/// dataset checksum: with `--crop` on files of mixed sizes and colour, without it on equal sizes, for a gray
/// folder (a gray set), with `--limit`, in both the `.npy` and the JPEG-tree layouts. Where the folder is decoded
/// whole the images are those `load_clean` gives, and the written file holds them corrupted.
#[test]
fn a_streamed_folder_writes_what_a_folder_decoded_whole_writes() {
    let dir = tempfile::tempdir().unwrap();
    // (name, crop, limit, layout): mixed colour and sizes with a crop; equal sizes without; all gray.
    type Case = (&'static str, Option<usize>, Option<usize>, Option<&'static str>);
    let cases: [Case; 4] = [
        ("mixed", Some(24), None, None),
        ("mixed", Some(24), Some(3), Some("imagenet-c")),
        ("equal", None, None, None),
        ("gray", Some(20), Some(4), None),
    ];
    for (k, class) in ["cat", "dog"].iter().enumerate() {
        for i in 0..3u32 {
            let f = |x: u32, y: u32| ((x * 7 + y * 3 + i * 40) % 251) as u8;
            let mixed = dir.path().join("mixed").join(class);
            let equal = dir.path().join("equal").join(class);
            let gray = dir.path().join("gray").join(class);
            for d in [&mixed, &equal, &gray] {
                std::fs::create_dir_all(d).unwrap();
            }
            let colour = image::RgbImage::from_fn(30 + 9 * i, 26, |x, y| {
                image::Rgb([f(x, y), (k * 90) as u8, f(y, x)])
            });
            let luma = image::GrayImage::from_fn(27, 33 + 4 * i, |x, y| image::Luma([f(x, y)]));
            if i == 1 {
                luma.save(mixed.join(format!("{i}.png"))).unwrap();
                image::GrayImage::from_fn(16, 12, |x, y| image::Luma([f(x, y)]))
                    .save(equal.join(format!("{i}.jpg")))
                    .unwrap();
            } else {
                colour.save(mixed.join(format!("{i}.jpg"))).unwrap();
                image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([f(x, y), 9, f(y, x)]))
                    .save(equal.join(format!("{i}.png")))
                    .unwrap();
            }
            luma.save(gray.join(format!("{i}.png"))).unwrap();
        }
    }
    for (n, (name, crop, limit, layout)) in cases.into_iter().enumerate() {
        let mut args = corrupt_args(Suite::ImagenetC, None);
        args.dataset = dir.path().join(name).display().to_string();
        args.crop = crop;
        args.limit = limit;
        args.layout = layout.map(|l| serde_json::from_value(serde_json::json!(l)).unwrap());
        args.severities = Some("2".into());
        let streamed = dir.path().join(format!("streamed{n}"));
        args.out = Some(streamed.clone());
        args.corruptions = Some("gaussian_noise".into());
        corrupt::run(&args, false).unwrap();
        let whole = dir.path().join(format!("whole{n}"));
        args.out = Some(whole.clone());
        args.corruptions = Some("gaussian_noise,contrast".into());
        corrupt::run(&args, false).unwrap();
        let one: Manifest =
            serde_json::from_slice(&std::fs::read(streamed.join("manifest.json")).unwrap()).unwrap();
        let two: Manifest =
            serde_json::from_slice(&std::fs::read(whole.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(one.dataset_checksum, two.dataset_checksum, "case {n}");
        assert_eq!(
            (one.images, one.height, one.width, one.channels),
            (two.images, two.height, two.width, two.channels)
        );
        let want_channels = if name == "gray" { 1 } else { 3 };
        assert_eq!(one.channels, want_channels, "case {n}");
        let noise: Vec<_> = one.files.iter().filter(|(f, _)| f.starts_with("gaussian_noise")).collect();
        assert!(!noise.is_empty(), "case {n}");
        for (file, digest) in noise {
            assert_eq!(two.files.get(file), Some(digest), "case {n}: {file}");
            assert_eq!(std::fs::read(streamed.join(file)).unwrap(), std::fs::read(whole.join(file)).unwrap());
        }
        if layout.is_none() {
            // The streamed file holds the clean set (as load_clean decodes it) corrupted.
            let clean = corrupt::load_clean(&args).unwrap().images;
            let corruptor = Corruptor::new(Suite::ImagenetC.table());
            let prepared =
                corruptor.prepare(Corruption::GaussianNoise, 2, clean.height, clean.width).unwrap();
            let mut want = vec![0u8; clean.pixels.len()];
            let shape = [clean.height, clean.width, clean.channels];
            prepared.apply_into(shape, &clean.pixels, args.seed, 0, &mut want, &|| {}).unwrap();
            let set = CifarC::open(&streamed).unwrap();
            let (_, got) = set.read("gaussian_noise").unwrap().remove(0);
            assert_eq!(got.pixels, want, "case {n}");
        }
    }
}

#[test]
fn robustness_writes_corruption_json_and_agrees_with_the_written_files() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let load = loader();
    let mut args = robustness_args(Some(Suite::CifarC));
    args.corruptions = Some("benchmark".into());
    let generated = evaluate(&run_dir, &args, &load).unwrap();
    assert_eq!(generated.corruptions.len(), 15);
    assert!(generated.corruptions.iter().all(|c| c.errors.len() == 5));
    assert_eq!(generated.normalisation.kind, "none");
    assert!(generated.totals.mce.is_none() && generated.clean_error.is_some());

    // The same corruptions written to disk and read back give the same errors.
    let sets = dir.path().join("sets");
    let mut cargs = corrupt_args(Suite::CifarC, Some(&sets));
    cargs.corruptions = Some("benchmark".into());
    corrupt::run(&cargs, false).unwrap();
    let mut from = robustness_args(None);
    from.limit = None;
    from.from = Some(sets);
    let read = evaluate(&run_dir, &from, &load).unwrap();
    assert_eq!(read.suite, Suite::CifarC);
    for (a, b) in generated.corruptions.iter().zip(&read.corruptions) {
        assert_eq!((a.name.as_str(), &a.errors), (b.name.as_str(), &b.errors));
    }

    // MNIST-C is merged into the same file, next to cifar-c; a reference model gives CE and mCE.
    let mut margs = robustness_args(None);
    margs.reference = Some(run_dir.clone());
    let mnist_c = evaluate(&run_dir, &margs, &load).unwrap();
    assert_eq!(mnist_c.suite, Suite::MnistC, "the default suite for 28x28 gray data");
    assert!((mnist_c.totals.mce.unwrap() - 1.0).abs() < 1e-12, "a model against itself has mCE 100");
    assert_eq!(mnist_c.normalisation.kind, "reference");
    let file = CorruptionFile::read(&run_dir.join("corruption.json")).unwrap();
    assert_eq!(file.suites.keys().cloned().collect::<Vec<_>>(), vec!["cifar-c", "mnist-c"]);
    let provenance = &file.suites["mnist-c"].provenance;
    let request = &provenance["request"];
    assert_eq!((request["seed"].as_u64(), request["limit"].as_u64()), (Some(7), Some(12)));
    assert_eq!(provenance["dataset"]["checksum"].as_str().map(str::len), Some(64), "{provenance}");

    let mut bad = robustness_args(Some(Suite::CifarC));
    bad.alexnet = true;
    assert!(evaluate(&run_dir, &bad, &load).unwrap_err().to_string().contains("AlexNet"));
    std::fs::write(run_dir.join("corruption.json"), b"{broken").unwrap();
    assert!(
        evaluate(&run_dir, &robustness_args(None), &load)
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
    let mut args = robustness_args(None);
    (args.from, args.limit) = (Some(tree.clone()), None);

    let report = evaluate(&run_dir, &args, &load).unwrap();
    assert_eq!((report.suite, report.normalisation.kind.as_str()), (Suite::ImagenetC, "alexnet"));
    assert_eq!(report.clean_error, Some(0.0));
    for score in &report.corruptions {
        // The images are not corrupted at all: error 0, so CE 0 against AlexNet's non-zero errors.
        assert_eq!(score.ce, Some(0.0), "{}", score.name);
    }

    args.reference = Some(run_dir.clone());
    assert_eq!(evaluate(&run_dir, &args, &load).unwrap().normalisation.kind, "reference");
    args.alexnet = true;
    let err = evaluate(&run_dir, &args, &load).unwrap_err().to_string();
    assert!(err.contains("--alexnet") && err.contains("--reference"), "{err}");
}

/// A two-class image folder of 12×10 RGB PNGs, for the `--crop` checks.
fn image_folder(root: &Path) -> std::path::PathBuf {
    let dir = root.join("imgs");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        image::RgbImage::from_pixel(12, 10, image::Rgb([9, 99, 199]))
            .save(dir.join(class).join("0.png"))
            .unwrap();
    }
    dir
}

#[test]
fn corrupt_refuses_bad_crops_previews_outputs_and_lists_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = |args: &CorruptRequest| corrupt::run(args, false).unwrap_err().to_string();
    let mut args = corrupt_args(Suite::CifarC, Some(&out));
    args.dataset = image_folder(dir.path()).display().to_string();
    (args.corruptions, args.severities, args.limit) = (Some("fog".into()), Some("1".into()), None);
    for crop in [0, 4097, 100_000] {
        args.crop = Some(crop);
        assert!(err(&args).contains("`crop`: ") && err(&args).contains("1 to 4096"), "{}", err(&args));
        args.out = None;
        args.preview = Some(dir.path().join("p.png"));
        assert!(err(&args).contains("`crop`"), "--preview alone: {}", err(&args));
        (args.out, args.preview) = (Some(out.clone()), None);
    }
    assert!(!out.exists() && !dir.path().join("p.png").exists(), "nothing written");
    let mut args = corrupt_args(Suite::CifarC, Some(&out));
    args.crop = Some(28);
    assert!(err(&args).contains("image directory"), "--crop on MNIST: {}", err(&args));

    let mut args = corrupt_args(Suite::CifarC, None);
    args.corruptions = Some("fog".into());
    args.preview = Some(dir.path().join("grid.jpg"));
    assert!(err(&args).contains("grid.jpg: the preview is written as PNG"), "{}", err(&args));
    args.preview = Some(dir.path().join("new/folder/grid.PNG"));
    corrupt::run(&args, false).unwrap();
    assert!(dir.path().join("new/folder/grid.PNG").is_file());

    for list in ["fog,,snow", "fog,", ",fog", " , "] {
        let mut args = corrupt_args(Suite::CifarC, Some(&out));
        args.corruptions = Some(list.into());
        assert!(err(&args).contains("empty name"), "{list}: {}", err(&args));
    }
    let mut args = corrupt_args(Suite::CifarC, Some(&out));
    (args.corruptions, args.severities) = (Some("fog".into()), Some("1,,3".into()));
    assert!(err(&args).contains("empty entry"), "{}", err(&args));

    // A second set into the same directory would leave the first one's files behind.
    let mut args = corrupt_args(Suite::CifarC, Some(&out));
    args.corruptions = Some("fog,brightness".into());
    corrupt::run(&args, false).unwrap();
    args.corruptions = Some("fog".into());
    args.limit = Some(5);
    let e = err(&args);
    assert!(e.contains("out") && e.contains("is not empty"), "{e}");
    assert_eq!(CifarC::open(&out).unwrap().images, 12, "the first set is untouched");
    args.out = Some(dir.path().join("new/folder/grid.PNG"));
    assert!(err(&args).contains("not a directory"), "{}", err(&args));
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    args.out = Some(dir.path().join("empty"));
    corrupt::run(&args, false).unwrap();
}

/// Robustness arguments that read `from` as written.
fn from_args(from: &Path) -> RobustnessRequest {
    let mut args = robustness_args(None);
    (args.from, args.limit) = (Some(from.to_path_buf()), None);
    args
}

#[test]
fn broken_mnist_c_folders_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let load = loader();
    let fresh = |name: &str| {
        let set = dir.path().join(name);
        let mut args = corrupt_args(Suite::MnistC, Some(&set));
        args.corruptions = Some("fog,shear,stripe".into());
        corrupt::run(&args, false).unwrap();
        set
    };
    let ok = fresh("ok");
    let report = evaluate(&run_dir, &from_args(&ok), &load).unwrap();
    assert_eq!(report.corruptions.len(), 3);
    let images = ok.join("fog/test_images.npy");
    let bytes = std::fs::read(&images).unwrap();
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "empty",
            Box::new(|p| std::fs::write(p.join("fog/test_images.npy"), b"").unwrap()),
            "not a .npy file",
        ),
        (
            "truncated",
            Box::new({
                let b = bytes.clone();
                move |p| std::fs::write(p.join("fog/test_images.npy"), &b[..5000]).unwrap()
            }),
            "truncated or padded",
        ),
        (
            "padded",
            Box::new({
                let mut b = bytes.clone();
                b.extend_from_slice(&[0; 3]);
                move |p| std::fs::write(p.join("fog/test_images.npy"), &b).unwrap()
            }),
            "truncated or padded",
        ),
        (
            "no-files",
            Box::new(|p| {
                std::fs::remove_file(p.join("fog/test_images.npy")).unwrap();
                std::fs::remove_file(p.join("fog/test_labels.npy")).unwrap();
            }),
            "MNIST-C images file not found",
        ),
        (
            "no-labels",
            Box::new(|p| std::fs::remove_file(p.join("fog/test_labels.npy")).unwrap()),
            "MNIST-C labels file not found",
        ),
        (
            "short-labels",
            Box::new(|p| {
                lcr_verify::corrupt::npy::write_u8(&p.join("fog/test_labels.npy"), &[11], &[1; 11]).unwrap()
            }),
            "11 labels for 12 images",
        ),
        (
            "no-folder",
            Box::new(|p| std::fs::remove_dir_all(p.join("fog")).unwrap()),
            "corruption listed in manifest.json not found",
        ),
    ];
    for (name, damage, needle) in cases {
        let set = fresh(name);
        damage(&set);
        let err = evaluate(&run_dir, &from_args(&set), &load).unwrap_err().to_string();
        assert!(err.contains("fog") && err.contains(needle), "{name}: expected `{needle}` in: {err}");
    }
}

#[test]
fn robustness_refuses_limit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = robustness_args(Some(Suite::CifarC));
    args.limit = Some(0);
    let err = evaluate(dir.path(), &args, &loader()).unwrap_err().to_string();
    assert!(err.contains("`limit`"), "{err}");
    assert!(!dir.path().join("corruption.json").exists());
}

/// Records the present digest of `dir/rel` in the set's manifest, as if the set had been written that way.
fn reseal(dir: &Path, rel: &str) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let kind: lcr_verify::digest::DigestKind = serde_json::from_value(m["digest"].clone()).unwrap();
    m["files"][rel] = kind.hex(&std::fs::read(dir.join(rel)).unwrap()).into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn labels_outside_the_models_classes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let load = loader();
    let cifar = dir.path().join("cifar");
    let mut args = corrupt_args(Suite::CifarC, Some(&cifar));
    (args.corruptions, args.severities) = (Some("fog".into()), Some("1,2".into()));
    corrupt::run(&args, false).unwrap();
    let mut labels = vec![1u8; 24];
    labels[13] = 42;
    lcr_verify::corrupt::npy::write_u8(&cifar.join("labels.npy"), &[24], &labels).unwrap();
    reseal(&cifar, "labels.npy");
    let err = evaluate(&run_dir, &from_args(&cifar), &load).unwrap_err().to_string();
    assert!(err.contains("labels.npy: label 13 is 42, but the model has 10 classes"), "{err}");

    let mnist_c = dir.path().join("mnist_c");
    let mut args = corrupt_args(Suite::MnistC, Some(&mnist_c));
    args.corruptions = Some("shear".into());
    corrupt::run(&args, false).unwrap();
    lcr_verify::corrupt::npy::write_u8(&mnist_c.join("shear/test_labels.npy"), &[12], &[10; 12]).unwrap();
    reseal(&mnist_c, "shear/test_labels.npy");
    let err = evaluate(&run_dir, &from_args(&mnist_c), &load).unwrap_err().to_string();
    assert!(err.contains("shear/test_labels.npy: label 0 is 10"), "{err}");
}

/// A CIFAR-10-C directory without a manifest: `n` images of `h×w×c` per severity, the first `n` MNIST test labels.
fn bare_cifar_c(dir: &Path, n: usize, (h, w, c): (usize, usize, usize)) {
    use lcr_verify::corrupt::npy;
    std::fs::create_dir_all(dir).unwrap();
    let labels = data::load(DatasetKind::Mnist, None).unwrap().test.labels[..n].to_vec();
    npy::write_u8(&dir.join("fog.npy"), &[5 * n, h, w, c], &vec![0; 5 * n * h * w * c]).unwrap();
    npy::write_u8(&dir.join("labels.npy"), &[5 * n], &labels.repeat(5)).unwrap();
}

#[test]
fn sets_of_another_image_shape_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let load = loader();
    for (shape, text) in [((32, 32, 3), "32x32x3"), ((32, 32, 1), "32x32x1"), ((28, 28, 3), "28x28x3")] {
        let set = dir.path().join(text);
        bare_cifar_c(&set, 4, shape);
        let err = evaluate(dir.path(), &from_args(&set), &load).unwrap_err().to_string();
        let want = format!(
            "{}: images are {text}, the model of {} takes 28x28x1",
            set.display(),
            dir.path().display()
        );
        assert!(err.contains(&want), "expected `{want}` in: {err}");
    }
}

#[test]
fn without_a_manifest_the_clean_set_is_used_only_when_the_counts_match() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    bare_cifar_c(&set, 5, (28, 28, 1));
    let args = from_args(&set);
    let report = evaluate(dir.path(), &args, &loader()).unwrap();
    assert_eq!(report.clean_error, None, "5 images per cell against a 10000-image test set");
    let note = report.provenance["clean_note"].as_str().unwrap();
    assert!(note.contains("no manifest.json") && note.contains("5 images per cell"), "{note}");
    assert!(robustness::summary(&report).contains("clean error: - (clean error not evaluated"));

    // A model whose test set has exactly those 5 images: the clean error is measured.
    let ds = data::load(DatasetKind::Mnist, None).unwrap();
    let model = NearestClassMean::fit(&ds.train.take(2000)).unwrap();
    let test = ds.test.take(5);
    let five = move |_: &Path| {
        Ok(LoadedModel {
            classifier: Box::new(model.clone()),
            test: test.clone(),
            dataset: serde_json::Value::Null,
        })
    };
    let report = evaluate(dir.path(), &args, &five).unwrap();
    assert!(report.clean_error.is_some() && report.provenance.get("clean_note").is_none());

    // A set made from the training split is never compared with the test images.
    let train_set = dir.path().join("train-set");
    let mut cargs = corrupt_args(Suite::CifarC, Some(&train_set));
    (cargs.corruptions, cargs.severities, cargs.split) =
        (Some("fog".into()), Some("1".into()), corrupt::Split::Train);
    corrupt::run(&cargs, false).unwrap();
    let report = evaluate(dir.path(), &from_args(&train_set), &loader()).unwrap();
    assert_eq!(report.clean_error, None);
    let note = report.provenance["clean_note"].as_str().unwrap();
    assert!(note.contains("train split"), "{note}");
}

#[test]
fn a_suite_the_set_was_not_made_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let load = loader();
    let set = dir.path().join("cifar");
    let mut args = corrupt_args(Suite::CifarC, Some(&set));
    (args.corruptions, args.limit) = (Some("benchmark".into()), Some(2));
    corrupt::run(&args, false).unwrap();
    let mut args = from_args(&set);
    args.suite = Some(Suite::MnistC);
    let err = evaluate(dir.path(), &args, &load).unwrap_err().to_string();
    assert!(err.contains("holds a cifar-c set (so says its manifest.json), not mnist-c"), "{err}");
    args.suite = Some(Suite::CifarC);
    evaluate(dir.path(), &args, &load).unwrap();

    // Without the manifest a CIFAR-10-C directory is cifar-c unless --suite says otherwise, and then it must
    // hold the suite's benchmark corruptions.
    std::fs::remove_file(set.join("manifest.json")).unwrap();
    args.suite = Some(Suite::MnistC);
    let err = evaluate(dir.path(), &args, &load).unwrap_err().to_string();
    assert!(err.contains("lacks the mnist-c benchmark corruptions shear"), "{err}");
    args.suite = Some(Suite::ImagenetC);
    assert_eq!(
        evaluate(dir.path(), &args, &load).unwrap().suite,
        Suite::ImagenetC,
        "the same 15 corruptions"
    );
    args.suite = None;
    assert_eq!(evaluate(dir.path(), &args, &load).unwrap().suite, Suite::CifarC);
}

#[test]
fn a_robustness_request_is_checked_before_any_work() {
    let nowhere = Path::new("/no/such/run");
    let refuse = |req: RobustnessRequest, needle: &str| {
        let loads = std::cell::Cell::new(0);
        let load = |_: &Path| -> lcr_verify::Result<LoadedModel> {
            loads.set(loads.get() + 1);
            Err(lcr_verify::Error::Missing { path: nowhere.into(), what: "model" })
        };
        let err = evaluate(nowhere, &req, &load).unwrap_err().to_string();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        assert_eq!(loads.get(), 0, "{needle}: a model was loaded before the refusal");
    };
    refuse(RobustnessRequest { limit: Some(0), ..Default::default() }, "`limit`");
    let from = Some(PathBuf::from("sets"));
    refuse(
        RobustnessRequest { from: from.clone(), limit: Some(3), ..Default::default() },
        "generated sets only",
    );
    refuse(
        RobustnessRequest { from, corruptions: Some("fog".into()), ..Default::default() },
        "generated sets only",
    );
    let both = RobustnessRequest { alexnet: true, reference: Some(PathBuf::from("r")), ..Default::default() };
    refuse(both, "two different normalisations");
    // The request is recorded as readable JSON and read back equal.
    let req = RobustnessRequest {
        suite: Some(Suite::CifarC),
        severities: Some("1-3".into()),
        ..Default::default()
    };
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!((json["suite"].as_str(), json["severities"].as_str()), (Some("cifar-c"), Some("1-3")));
    assert_eq!(serde_json::from_value::<RobustnessRequest>(json).unwrap(), req);
}

/// Regression (issue 9): a set whose `.npy` changed after `corrupt` wrote its manifest was scored. The
/// evaluation now stops at the changed file, names it, and writes no report.
#[test]
fn robustness_refuses_a_set_changed_after_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let cifar = dir.path().join("cifar");
    let mut args = corrupt_args(Suite::CifarC, Some(&cifar));
    (args.corruptions, args.severities) = (Some("fog,contrast".into()), Some("1,2".into()));
    corrupt::run(&args, false).unwrap();
    assert!(evaluate(&run_dir, &from_args(&cifar), &loader()).is_ok(), "the set as written is scored");
    std::fs::remove_file(run_dir.join("corruption.json")).unwrap();
    let path = cifar.join("fog.npy");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() - 100;
    bytes[mid] = bytes[mid].wrapping_add(1);
    std::fs::write(&path, &bytes).unwrap();
    let err = evaluate(&run_dir, &from_args(&cifar), &loader()).unwrap_err();
    assert!(matches!(err, lcr_verify::Error::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("fog.npy"), "{err}");
    assert!(!run_dir.join("corruption.json").exists(), "nothing scored, nothing written");
}
