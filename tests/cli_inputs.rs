//! Regression tests of issue 9 ("every input checked against what it claims") through the command line: each
//! bad input gives exit status 2, names its file on standard error, never panics, never hangs, and writes
//! nothing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use candle_core::Device;
use common::{bin, gzip, idx_images, refresh_sums, write_mnist_like};
use lcr_verify::model::io::{ModelMeta, read_tensors, write_tensors};

/// How long a command may take on a bad input before it counts as hung (a tiny run finishes in seconds).
const PROMPT: Duration = Duration::from_secs(60);

/// Runs the command, killing it (and failing) if it has not finished within [`PROMPT`].
fn run(args: &[&str]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PROMPT {
            child.kill().unwrap();
            panic!("`lcr-verify {}` still running after {PROMPT:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_exit_2(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stdout: {} stderr: {err}", String::from_utf8_lossy(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

/// Trains a one-epoch 16-16 MLP from generated 28×28 data into `root/run`; returns (data dir, run dir).
fn tiny_run(root: &Path) -> (PathBuf, PathBuf) {
    let data = write_mnist_like(&root.join("data"), 60, 20, 31);
    let out = root.join("run");
    let o = run(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--widths",
        "16,16",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (data, out)
}

/// A copy of the run directory `good` named `name`, whose model metadata is `edit`ed.
fn with_meta(good: &Path, name: &str, edit: impl Fn(&mut ModelMeta)) -> PathBuf {
    let dir = good.parent().unwrap().join(name);
    fs::create_dir(&dir).unwrap();
    fs::copy(good.join("config.toml"), dir.join("config.toml")).unwrap();
    let (mut meta, tensors): (ModelMeta, _) =
        read_tensors(&good.join("model.safetensors"), &Device::Cpu).unwrap();
    edit(&mut meta);
    write_tensors(&dir.join("model.safetensors"), &tensors, &meta).unwrap();
    dir
}

/// A copy of the data directory `data` whose test images are 56×14 (the same 784 bytes per image).
fn wide_test_images(data: &Path, name: &str) -> PathBuf {
    let dir = data.parent().unwrap().join(name);
    fs::create_dir(&dir).unwrap();
    for entry in fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let images = vec![vec![7u8; 784]; 20];
    fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gzip(&idx_images(56, 14, &images))).unwrap();
    refresh_sums(&dir);
    dir
}

/// Issue 9, item 1: test images whose IDX header says 56×14 were evaluated by a 28×28 model, a 28×28 training
/// split with a 56×14 test split trained, and a model whose metadata says `[1, 56, 14]` (or a shape whose size
/// wraps around to 784) was accepted; only the number of values was compared.
#[test]
fn image_geometry_is_compared_dimension_by_dimension() {
    let root = tempfile::tempdir().unwrap();
    let (data, good) = tiny_run(root.path());
    let wide = wide_test_images(&data, "wide");

    // eval with the wide test images named on the command line.
    let o = run(&["eval", good.to_str().unwrap(), "--data-dir", wide.to_str().unwrap()]);
    assert_exit_2(&o, &["t10k-images-idx3-ubyte", "height 56 instead of 28", "width 14 instead of 28"]);

    // A config.toml edited to name the wide data is not the run's own configuration: refused before any data.
    let pointed = root.path().join("pointed");
    fs::create_dir(&pointed).unwrap();
    fs::copy(good.join("model.safetensors"), pointed.join("model.safetensors")).unwrap();
    let config = fs::read_to_string(good.join("config.toml")).unwrap();
    let config = config.replace(data.to_str().unwrap(), wide.to_str().unwrap());
    assert!(config.contains(wide.to_str().unwrap()), "config.toml names its data directory");
    fs::write(pointed.join("config.toml"), config).unwrap();
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, pointed.to_str().unwrap()]), &["config.toml", "different runs"]);
    }

    // eval, bound and robustness of a run whose own data directory now holds the wide test images (with their
    // digests, so only the geometry can catch them).
    let kept = root.path().join("data-kept");
    fs::create_dir(&kept).unwrap();
    for entry in fs::read_dir(&wide).unwrap() {
        let name = entry.unwrap().file_name();
        fs::copy(data.join(&name), kept.join(&name)).unwrap();
        fs::copy(wide.join(&name), data.join(&name)).unwrap();
    }
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, good.to_str().unwrap()]), &["t10k-images-idx3-ubyte", "height 56"]);
        assert!(!good.join("bounds.json").exists() && !good.join("corruption.json").exists());
    }
    for entry in fs::read_dir(&kept).unwrap() {
        let name = entry.unwrap().file_name();
        fs::copy(kept.join(&name), data.join(&name)).unwrap();
    }

    // Training on 28×28 training images with 56×14 test images.
    let out = root.path().join("mixed-run");
    let o = run(&["train", "--data-dir", wide.to_str().unwrap(), "--epochs", "1", "--quiet", "--out"]
        .into_iter()
        .chain([out.to_str().unwrap()])
        .collect::<Vec<_>>());
    assert_exit_2(&o, &["t10k-images-idx3-ubyte", "training images", "height 56 instead of 28"]);
    assert!(!out.join("model.safetensors").exists());

    // Model metadata that claims another input shape, or one whose size wraps around to 784 values.
    let tall = with_meta(&good, "tall", |m| m.spec.input = [1, 56, 14]);
    let wraps = with_meta(&good, "wraps", |m| m.spec.input = [1, (1 << 60) + 49, 16]);
    assert_eq!(1usize.wrapping_mul((1 << 60) + 49).wrapping_mul(16), 784, "the product wraps to 28·28");
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, tall.to_str().unwrap()]), &["model.safetensors", "[1, 56, 14]"]);
        assert_exit_2(&run(&[command, wraps.to_str().unwrap()]), &["model.safetensors", "overflows"]);
    }
    // The untouched run still evaluates.
    assert!(run(&["eval", good.to_str().unwrap()]).status.success());
}

/// Issue 9, item 4: a model whose metadata claims a later format, or a later lcr-verify, was read without a word.
#[test]
fn models_of_a_later_format_or_version_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (_, good) = tiny_run(root.path());
    let later_format = with_meta(&good, "later-format", |m| m.format = 2);
    let later_version = with_meta(&good, "later-version", |m| m.version = "99.0.0".into());
    let no_version = with_meta(&good, "no-version", |m| m.version = "soon".into());
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, later_format.to_str().unwrap()]), &["model.safetensors", "format 2"]);
        assert_exit_2(&run(&[command, later_version.to_str().unwrap()]), &["model.safetensors", "99.0.0"]);
        assert_exit_2(
            &run(&[command, no_version.to_str().unwrap()]),
            &["model.safetensors", "not a version"],
        );
    }
    // A model without the `format` field (written before it existed) reads as format 1.
    let (meta, _): (ModelMeta, _) = read_tensors(&good.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(meta.format, 1);
}

/// Issue 9, item 5: an IDX header whose dimensions multiply past `usize`, wrapping around to the real file
/// size, panicked with "capacity overflow".
#[test]
fn idx_dimensions_that_wrap_around_exit_2() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 20, 4, 32);
    // 4 · 2^31 · 2^31 = 2^64 ≡ 0: with wrapping arithmetic the header alone is the whole expected file.
    let mut header = vec![0, 0, 8, 3];
    for d in [4u32, 1 << 31, 1 << 31] {
        header.extend(d.to_be_bytes());
    }
    fs::write(data.join("t10k-images-idx3-ubyte.gz"), gzip(&header)).unwrap();
    refresh_sums(&data);
    let out = root.path().join("run");
    let o = run(&["train", "--data-dir", data.to_str().unwrap(), "--epochs", "1", "--quiet", "--out"]
        .into_iter()
        .chain([out.to_str().unwrap()])
        .collect::<Vec<_>>());
    assert_exit_2(&o, &["t10k-images-idx3-ubyte", "more bytes than a file can hold"]);
}

/// Issue 9, item 6: a run directory whose `model.safetensors` is a named pipe blocked `eval` forever.
#[cfg(unix)]
#[test]
fn a_named_pipe_instead_of_a_model_is_refused_promptly() {
    let root = tempfile::tempdir().unwrap();
    let (_, good) = tiny_run(root.path());
    let piped = root.path().join("piped");
    fs::create_dir(&piped).unwrap();
    fs::copy(good.join("config.toml"), piped.join("config.toml")).unwrap();
    let status = std::process::Command::new("mkfifo").arg(piped.join("model.safetensors")).status().unwrap();
    assert!(status.success(), "mkfifo");
    for command in ["eval", "bound", "certify", "attack", "robustness"] {
        let start = Instant::now();
        let o = run(&[command, piped.to_str().unwrap()]);
        assert_exit_2(&o, &["model.safetensors", "named pipe"]);
        assert!(start.elapsed() < PROMPT, "{command} took {:?}", start.elapsed());
    }
}
