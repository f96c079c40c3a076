//! Property-based fuzzing of every input parser (issue 9, item 7): random bytes and mutations of small valid
//! seeds (bit flips, truncations, header fields set to extreme values, overwrites, extensions) fed to the IDX,
//! CIFAR-10, `.npy`, safetensors-model, manifest, configuration and image readers.
//!
//! For every input, each parser must
//! - not panic (proptest reports a panic as a failure and shrinks it),
//! - return `Ok` or an `Err` whose message names the file,
//! - allocate no single block larger than its bound: the input's own size for the byte formats, twice that for a
//!   model (its `f32` weights are widened to `f64`), and the decoder's stated expansion limit for compressed
//!   images. A counting allocator measures the largest block requested while the parser runs.
//!
//! The seeds live in `tests/fixtures/fuzz/` and are rebuilt by this file's generators
//! (`LCR_BLESS=1 cargo test --release --test fuzz` rewrites them; without it a test checks they still match).
//! Case counts are small so that the whole file runs in seconds.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use candle_core::Device;
use lcr_verify::corrupt::decode::{EXPANSION_FLOOR, MAX_EXPANSION};
use lcr_verify::corrupt::layout::{CifarC, LayoutKind, Manifest, SetWriter};
use lcr_verify::corrupt::{Suite, Table, npy};
use lcr_verify::data::{parse_cifar_batch, parse_idx_images, parse_idx_labels};
use lcr_verify::model::io::{ModelMeta, load_model, save_model};
use lcr_verify::model::{Arch, Model, ModelSpec, SignZero, WeightScaling};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------------------------
// The counting allocator.

/// Passes every request to the system allocator and, while measuring, records the largest block asked for.
struct Counting;

static MEASURING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time: tests in this file run on parallel threads.
static MEASURE: Mutex<()> = Mutex::new(());

fn note(size: usize) {
    if MEASURING.load(Ordering::Relaxed) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only touches atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Blocks any parser may allocate whatever its input (buffered readers, decoder tables, error messages).
const SLACK: usize = 1 << 20;

/// Runs `f` and returns its result with the largest single block allocated meanwhile (by any thread).
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _one = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    MEASURING.store(true, Ordering::SeqCst);
    let out = f();
    MEASURING.store(false, Ordering::SeqCst);
    (out, LARGEST.load(Ordering::Relaxed))
}

/// The checks every parser's outcome must pass: an error names `path`, and no block exceeded `bound`.
fn judge<T>(path: &Path, outcome: (lcr_verify::Result<T>, usize), bound: usize) -> Result<(), TestCaseError> {
    let (result, largest) = outcome;
    if let Err(e) = &result {
        let text = e.to_string();
        let name = path.to_string_lossy();
        prop_assert!(text.contains(name.as_ref()), "error does not name {}: {text}", path.display());
    }
    prop_assert!(largest <= bound + SLACK, "allocated {largest} bytes, bound {bound} (+{SLACK})");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations.

/// One edit of a seed; positions are taken modulo the current length.
#[derive(Clone, Debug)]
enum Op {
    /// Flip bit `bit` of byte `at`.
    Flip { at: usize, bit: u8 },
    /// Keep the first `len` bytes.
    Truncate { len: usize },
    /// Write a big-endian `u32` header field at a multiple of 4 (IDX, PNG and npy lengths sit there).
    Field { at: usize, value: u32 },
    /// Write a little-endian `u64` (safetensors' header length, npy shapes in binary).
    Field64 { at: usize, value: u64 },
    /// Overwrite bytes from `at`.
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Append bytes.
    Extend { bytes: Vec<u8> },
    /// Replace a decimal number in a text header by another (npy shapes, JSON and TOML values).
    Number { nth: usize, value: String },
}

fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(1 << 31),
        Just((1 << 31) - 1),
        Just(1 << 16),
        Just(65_535),
        any::<u32>(),
    ]
}

fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(u64::MAX), Just(1 << 63), Just(u64::from(u32::MAX) + 1), any::<u64>()]
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("4294967296".to_string()),
        Just("9223372036854775808".to_string()),
        Just("1e308".to_string()),
        Just("NaN".to_string()),
        (0u64..100_000).prop_map(|v| v.to_string()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        2 => any::<usize>().prop_map(|len| Op::Truncate { len }),
        2 => (any::<usize>(), extreme_u32()).prop_map(|(at, value)| Op::Field { at, value }),
        1 => (any::<usize>(), extreme_u64()).prop_map(|(at, value)| Op::Field64 { at, value }),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Op::Overwrite { at, bytes }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Op::Extend { bytes }),
        2 => (any::<usize>(), number_text()).prop_map(|(nth, value)| Op::Number { nth, value }),
    ]
}

/// Edits aimed at text formats (JSON, TOML): mostly numbers replaced by extreme ones.
fn text_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), number_text()).prop_map(|(nth, value)| Op::Number { nth, value }),
        1 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        1 => any::<usize>().prop_map(|len| Op::Truncate { len }),
    ]
}

fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let n = b.len().max(1);
        match op {
            Op::Flip { at, bit } if !b.is_empty() => b[at % n] ^= 1 << bit,
            Op::Truncate { len } => b.truncate(len % (b.len() + 1)),
            Op::Field { at, value } if b.len() >= 4 => {
                let at = (at % (b.len() / 4)) * 4;
                b[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            Op::Field64 { at, value } if b.len() >= 8 => {
                let at = at % (b.len() - 7);
                b[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            Op::Overwrite { at, bytes } if !b.is_empty() => {
                for (k, v) in bytes.iter().enumerate() {
                    let i = (at + k) % n;
                    b[i] = *v;
                }
            }
            Op::Extend { bytes } => b.extend_from_slice(bytes),
            Op::Number { nth, value } => {
                let runs: Vec<(usize, usize)> = digit_runs(&b);
                if !runs.is_empty() {
                    let (s, e) = runs[nth % runs.len()];
                    b.splice(s..e, value.bytes());
                }
            }
            _ => {}
        }
    }
    b
}

/// Byte ranges of the decimal numbers in `b` (maximal runs of ASCII digits).
fn digit_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in b.iter().chain([&b' ']).enumerate() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A mutated seed: 1 to 4 edits.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(op(), 1..5).prop_map(move |ops| apply(&seed, &ops))
}

/// Mutations of `seed`, or (one case in eight) bytes that owe it nothing.
fn input(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![7 => mutated(seed), 1 => prop::collection::vec(any::<u8>(), 0..512)]
}

// ---------------------------------------------------------------------------------------------------------------
// Seeds.

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz")
}

/// Reads a seed from `tests/fixtures/fuzz`.
fn seed(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("tests/fixtures/fuzz/{name}: {e}"))
}

/// The seeds, by file name, as the generators make them.
fn generated_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let images: Vec<Vec<u8>> = (0..3u8).map(|i| (0..20).map(|p| i * 40 + p).collect()).collect();
    let mut out = vec![
        ("images.idx3", common::idx_images(5, 4, &images)),
        ("labels.idx1", common::idx_labels(&[0, 7, 9])),
        ("batch.bin", common::cifar_batch(&[3])),
        ("images.npy", npy::to_bytes_u8(&[2, 3, 2, 1], &[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110])),
    ];
    let mut labels = npy::header(&[2], npy::Dtype { size: 8, signed: true, big_endian: false });
    labels.extend(3i64.to_le_bytes());
    labels.extend(8i64.to_le_bytes());
    out.push(("labels.npy", labels));
    let config = "dataset = \"mnist\"\narch = \"mlp\"\nwidths = [8, 8]\nepochs = 2\nbatch_size = 16\nlr = 0.005\n\
                  seed = 7\nlcr_weight = 0.0\n";
    out.push(("config.toml", config.as_bytes().to_vec()));
    let img = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([(x * 30) as u8, (y * 40) as u8, 128]));
    let mut jpg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
    out.push(("image.jpg", jpg.into_inner()));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    out.push(("image.png", png.into_inner()));
    let dir = tempfile::tempdir().unwrap();
    write_cifar_c(dir.path());
    for name in ["manifest.json", "fog.npy", "labels.npy"] {
        let key = match name {
            "manifest.json" => "cifar_c/manifest.json",
            "fog.npy" => "cifar_c/fog.npy",
            _ => "cifar_c/labels.npy",
        };
        out.push((key, std::fs::read(dir.path().join(name)).unwrap()));
    }
    out
}

/// A two-image CIFAR-10-C set of 28×28 gray images (one severity, MNIST's shape) with its manifest.
fn write_cifar_c(dir: &Path) {
    let manifest = Manifest {
        format: lcr_verify::corrupt::layout::MANIFEST_FORMAT,
        layout: LayoutKind::CifarC,
        generator: "lcr-verify 0.1.0".into(),
        suite: Suite::CifarC,
        table: Table::Cifar,
        seed: 1,
        dataset: "synthetic".into(),
        dataset_checksum: "0".repeat(64),
        split: "test".into(),
        images: 2,
        height: 28,
        width: 28,
        channels: 1,
        corruptions: Default::default(),
        digest: lcr_verify::digest::DigestKind::WRITTEN,
        files: Default::default(),
    };
    let mut w = SetWriter::create(dir, manifest, vec![1, 2]).unwrap();
    let pixels: Vec<u8> = (0..2 * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
    w.write_corruption("fog", &[1], |_, sink| sink(&pixels)).unwrap();
    w.finish().unwrap();
}

/// The allocation bound is not vacuous: the counting allocator sees a block of the size asked for.
#[test]
fn the_counting_allocator_sees_large_blocks() {
    let (v, largest) = measured(|| vec![1u8; 3 << 20]);
    assert!(largest >= v.len(), "{largest}");
    let ((), none) = measured(|| ());
    assert!(none < (3 << 20));
}

#[test]
fn the_seed_corpus_is_what_the_generators_make() {
    let bless = std::env::var("LCR_BLESS").is_ok_and(|v| v == "1");
    for (name, bytes) in generated_seeds() {
        let path = fixture_dir().join(name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(seed(name), bytes, "tests/fixtures/fuzz/{name} (LCR_BLESS=1 rewrites the corpus)");
    }
}

/// A tiny MLP model file (1×28×28 MNIST input, widths 2-2): the seed of the model parser, built here rather
/// than stored (its first layer alone is 6 KiB).
fn model_seed() -> Vec<u8> {
    let spec = ModelSpec {
        arch: Arch::Mlp,
        input: [1, 28, 28],
        classes: 10,
        widths: vec![2, 2],
        blocks: 1,
        real_first: true,
        real_last: true,
        binary: true,
        weight_scaling: WeightScaling::Mean,
        sign_zero: SignZero::PlusOne,
    };
    let model = Model::new(&spec, &Device::Cpu, 3).unwrap();
    let meta = ModelMeta {
        kind: "model".into(),
        format: lcr_verify::model::io::MODEL_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        spec,
        dataset: lcr_verify::data::DatasetKind::Mnist,
        dataset_checksum: "0".repeat(64),
        normalization: lcr_verify::data::Normalization::for_kind(lcr_verify::data::DatasetKind::Mnist),
        seed: 3,
        config: String::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_model(&path, &model, &meta).unwrap();
    std::fs::read(path).unwrap()
}

/// Writes `bytes` to a fresh file called `name` and runs `read` on it.
fn on_file<T>(name: &str, bytes: &[u8], read: impl FnOnce(&Path) -> T) -> (PathBuf, T, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = read(&path);
    (path, out, dir)
}

// ---------------------------------------------------------------------------------------------------------------
// The parsers.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn idx_images(bytes in input(seed("images.idx3"))) {
        let p = Path::new("train-images-idx3-ubyte");
        judge(p, measured(|| parse_idx_images(p, &bytes)), bytes.len())?;
    }

    #[test]
    fn idx_labels(bytes in input(seed("labels.idx1"))) {
        let p = Path::new("train-labels-idx1-ubyte");
        judge(p, measured(|| parse_idx_labels(p, &bytes, 10)), bytes.len())?;
    }

    #[test]
    fn cifar_batches(bytes in input(seed("batch.bin"))) {
        let p = Path::new("data_batch_1.bin");
        judge(p, measured(|| parse_cifar_batch(p, &bytes)), bytes.len())?;
    }

    #[test]
    fn npy_images(bytes in input(seed("images.npy"))) {
        let p = Path::new("fog.npy");
        judge(p, measured(|| npy::parse(p, &bytes).and_then(|a| a.into_u8(p))), bytes.len())?;
        let (path, outcome, _dir) = on_file("fog.npy", &bytes, |path| measured(|| npy::read_header(path)));
        judge(&path, outcome, bytes.len())?;
    }

    #[test]
    fn npy_labels(bytes in input(seed("labels.npy"))) {
        let p = Path::new("labels.npy");
        judge(p, measured(|| npy::parse(p, &bytes).and_then(|a| a.labels(p))), bytes.len())?;
    }

    #[test]
    fn configs(bytes in input(seed("config.toml"))) {
        let (path, outcome, _dir) = on_file("config.toml", &bytes, |path| {
            measured(|| lcr_verify::train::TrainConfig::from_file(path))
        });
        judge(&path, outcome, bytes.len())?;
    }

    #[test]
    fn images(bytes in prop_oneof![input(seed("image.jpg")), input(seed("image.png"))]) {
        let p = Path::new("n01440764_1.JPEG");
        let bound = bytes.len().saturating_mul(MAX_EXPANSION).max(EXPANSION_FLOOR);
        judge(p, measured(|| lcr_verify::corrupt::decode::decode(p, &bytes)), bound)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_files(bytes in input(model_seed())) {
        let (path, outcome, _dir) = on_file("model.safetensors", &bytes, |path| {
            measured(|| load_model(path, &Device::Cpu, candle_core::DType::F64))
        });
        judge(&path, outcome, 2 * bytes.len())?;
    }

    /// The model's metadata document (architecture, shapes, normalisation, versions) mutated as text and put
    /// back into an otherwise valid file, so that the mutations reach the checks behind the container's.
    #[test]
    fn model_metadata(ops in prop::collection::vec(text_op(), 1..4)) {
        let seed = model_seed();
        let st = safetensors::SafeTensors::deserialize(&seed).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&seed).unwrap();
        let meta = header.metadata().as_ref().unwrap()[lcr_verify::model::io::META_KEY].clone();
        let mutated = String::from_utf8_lossy(&apply(meta.as_bytes(), &ops)).into_owned();
        let info = std::collections::HashMap::from([(lcr_verify::model::io::META_KEY.to_string(), mutated)]);
        let bytes = safetensors::serialize(st.tensors(), Some(info)).unwrap();
        let (path, outcome, _dir) = on_file("model.safetensors", &bytes, |path| {
            measured(|| load_model(path, &Device::Cpu, candle_core::DType::F64))
        });
        judge(&path, outcome, 2 * bytes.len())?;
    }

    #[test]
    fn corruption_manifests(
        which in 0usize..3,
        ops in prop::collection::vec(op(), 1..5),
    ) {
        let names = ["manifest.json", "fog.npy", "labels.npy"];
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), seed(&format!("cifar_c/{name}"))).unwrap();
        }
        let target = dir.path().join(names[which]);
        let bytes = apply(&std::fs::read(&target).unwrap(), &ops);
        std::fs::write(&target, &bytes).unwrap();
        let largest_file = names.iter().map(|n| std::fs::metadata(dir.path().join(n)).unwrap().len() as usize).max().unwrap();
        let outcome = measured(|| CifarC::open(dir.path()).and_then(|c| c.read("fog")));
        // Any change to a listed file is caught by its digest, and the error names that file; a changed
        // manifest may still describe the set, and an error it causes names the manifest or the file whose
        // recorded digest it changed (so only the directory is required).
        if which > 0 && bytes != seed(&format!("cifar_c/{}", names[which])) {
            prop_assert!(outcome.0.is_err(), "{} changed but read", names[which]);
        }
        let named = if which == 0 { dir.path().to_path_buf() } else { target };
        judge(&named, outcome, largest_file)?;
    }

    #[test]
    fn image_folders(bytes in prop_oneof![input(seed("image.jpg")), input(seed("image.png"))]) {
        let dir = tempfile::tempdir().unwrap();
        for (class, name) in [("cat", "0.jpg"), ("dog", "0.png")] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            std::fs::write(dir.path().join(class).join(name), seed(&format!("image.{}", &name[2..]))).unwrap();
        }
        let target = dir.path().join("dog/1.png");
        std::fs::write(&target, &bytes).unwrap();
        let bound = bytes.len().saturating_mul(MAX_EXPANSION).max(EXPANSION_FLOOR);
        let outcome = measured(|| lcr_verify::corrupt::folder::load_image_folder(dir.path(), None));
        judge(&target, outcome, bound)?;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The command line: a mutated file gives exit status 0 (a mutation can leave a valid file) or 2 naming it, and a
// truncated one always 2; never a panic.

fn cli_outcome(args: &[&str], file: &Path, must_fail: bool) -> Result<(), TestCaseError> {
    let o = common::bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    prop_assert!(!err.contains("panicked"), "{err}");
    let name = file.to_string_lossy();
    match o.status.code() {
        Some(0) if !must_fail => {}
        Some(2) => prop_assert!(err.contains(name.as_ref()), "exit 2 without naming {name}: {err}"),
        other => prop_assert!(false, "exit {other:?} for {}: {err}", file.display()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cli_robustness_from_a_mutated_set(which in 0usize..3, ops in prop::collection::vec(op(), 1..4)) {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("model.safetensors"), model_seed()).unwrap();
        let set = root.path().join("set");
        std::fs::create_dir(&set).unwrap();
        let names = ["manifest.json", "fog.npy", "labels.npy"];
        for name in names {
            std::fs::write(set.join(name), seed(&format!("cifar_c/{name}"))).unwrap();
        }
        let target = set.join(names[which]);
        let original = std::fs::read(&target).unwrap();
        let bytes = apply(&original, &ops);
        std::fs::write(&target, &bytes).unwrap();
        let args = ["robustness", run.to_str().unwrap(), "--from", set.to_str().unwrap(), "--quiet"];
        // A changed `.npy` must never be scored; a changed manifest may still describe the set.
        let must_fail = which > 0 && bytes != original;
        let named = if which == 0 { set.clone() } else { target };
        cli_outcome(&args, &named, must_fail)?;
        let o = std::fs::exists(run.join("corruption.json")).unwrap();
        prop_assert!(!(must_fail && o), "a report was written for a changed set");
    }

    #[test]
    fn cli_corrupt_from_a_mutated_image_folder(bytes in input(seed("image.png")), truncate in any::<bool>()) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("photos");
        for class in ["cat", "dog"] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            std::fs::write(dir.join(class).join("0.png"), seed("image.png")).unwrap();
        }
        let seed_png = seed("image.png");
        let (bytes, must_fail) = if truncate {
            let n = bytes.len() % seed_png.len();
            (seed_png[..n].to_vec(), true)
        } else {
            (bytes, false)
        };
        let target = dir.join("dog/1.png");
        std::fs::write(&target, &bytes).unwrap();
        let out = root.path().join("out");
        let args = ["corrupt", "--suite", "cifar-c", "--dataset", dir.to_str().unwrap(), "--corruptions",
            "contrast", "--severities", "1", "--out", out.to_str().unwrap()];
        cli_outcome(&args, &target, must_fail)?;
    }

    #[test]
    fn cli_eval_of_a_mutated_model(ops in prop::collection::vec(op(), 1..4), cut in any::<bool>()) {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let seed = model_seed();
        let bytes = if cut { seed[..seed.len() / 3].to_vec() } else { apply(&seed, &ops) };
        let target = run.join("model.safetensors");
        std::fs::write(&target, &bytes).unwrap();
        cli_outcome(&["eval", run.to_str().unwrap()], &target, cut)?;
    }
}
