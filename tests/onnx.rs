//! The ONNX export run in ONNX Runtime (from PyPI; `.ci/run` installs it): its logits equal the IR's forward
//! pass on every function, for dense, convolutional and residual nets, and the CLI writes VNN-LIB properties
//! whose boxes hold the test images. Without Python's `onnxruntime` the runtime checks are skipped with a note,
//! unless `LCR_VERIFY_REQUIRE_ONNXRUNTIME=1` (then they fail).
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use lcr_verify::ir::{Function, Layer, Net, SignZero};
use lcr_verify::onnx::to_onnx;
use rand::Rng;

/// Largest |ONNX − IR| allowed per logit, relative to 1 + |logit|: the same sums in another order.
const ONNX_REL_TOL: f64 = 1e-9;

/// Runs `model` on the rows of `x` (n × input) in ONNX Runtime after the ONNX checker's full check; `None`
/// when Python's onnxruntime is missing (and not required).
fn run_ort(dir: &Path, model: &[u8], x: &[f64], n: usize, shape: &[usize]) -> Option<Vec<f64>> {
    let probe = Command::new("python3").args(["-c", "import onnx, onnxruntime, numpy"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("LCR_VERIFY_REQUIRE_ONNXRUNTIME").as_deref() != Ok("1"),
            "LCR_VERIFY_REQUIRE_ONNXRUNTIME=1 but python3 cannot import onnx, onnxruntime and numpy"
        );
        eprintln!(
            "note: python3 with onnx, onnxruntime and numpy not found; the ONNX Runtime check is skipped"
        );
        return None;
    }
    let (m, xin, yout) = (dir.join("net.onnx"), dir.join("x.bin"), dir.join("y.bin"));
    fs::write(&m, model).unwrap();
    fs::write(&xin, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let dims: Vec<String> = std::iter::once(n).chain(shape.iter().copied()).map(|d| d.to_string()).collect();
    let script = format!(
        "import onnx, onnxruntime as ort, numpy as np\n\
         m = onnx.load(r'{m}'); onnx.checker.check_model(m, full_check=True)\n\
         s = ort.InferenceSession(r'{m}', providers=['CPUExecutionProvider'])\n\
         x = np.fromfile(r'{x}', dtype='<f8').reshape([{dims}])\n\
         (y,) = s.run(['logits'], {{'input': x}})\n\
         assert y.dtype == np.float64, y.dtype\n\
         y.astype('<f8').tofile(r'{y}')\n",
        m = m.display(),
        x = xin.display(),
        y = yout.display(),
        dims = dims.join(", ")
    );
    let o = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(o.status.success(), "onnxruntime failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let bytes = fs::read(&yout).unwrap();
    Some(bytes.chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
}

/// Parses `path` with the VNN-COMP reader (`read_vnnlib_simple` of the `vnnlib` package on PyPI, which
/// `.ci/run` installs) and checks that it finds one input box, equal to `lows`/`highs`, and one output
/// disjunction over the 9 other classes. Skipped with a note where the package is missing (unless
/// `LCR_VERIFY_REQUIRE_ONNXRUNTIME=1`, which requires it too).
fn read_with_the_standard_reader(path: &Path, lows: &[f64], highs: &[f64]) {
    let probe = Command::new("python3").args(["-c", "from vnnlib.compat import read_vnnlib_simple"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("LCR_VERIFY_REQUIRE_ONNXRUNTIME").as_deref() != Ok("1"),
            "LCR_VERIFY_REQUIRE_ONNXRUNTIME=1 but python3 cannot import vnnlib.compat"
        );
        eprintln!("note: python3 with the vnnlib package not found; the VNN-LIB reader check is skipped");
        return;
    }
    let script = format!(
        "from vnnlib.compat import read_vnnlib_simple\n\
         spec = read_vnnlib_simple(r'{p}', {n}, 10)\n\
         assert len(spec) == 1, len(spec)\n\
         box, outs = spec[0]\n\
         print(len(outs))\n\
         for lo, hi in box: print(repr(float(lo)), repr(float(hi)))\n",
        p = path.display(),
        n = lows.len()
    );
    let o = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(o.status.success(), "read_vnnlib_simple failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    // One disjunct per class the label could lose to.
    assert_eq!(lines.next(), Some("9"), "{text}");
    let parsed: Vec<(f64, f64)> = lines
        .map(|l| {
            let mut it = l.split(' ').map(|v| v.parse::<f64>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    assert_eq!(parsed.len(), lows.len());
    for (k, (lo, hi)) in parsed.iter().enumerate() {
        assert_eq!((*lo, *hi), (lows[k], highs[k]), "X_{k}");
    }
}

/// The exported graph of every function against the IR's forward pass on `n` random inputs (and, first, the
/// zero input, where a layer with zero rows feeds sign(0)).
fn agrees(net: &Net, n: usize, seed: u64) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(seed);
    let d = net.input_len();
    let mut x: Vec<f64> = vec![0.0; d];
    x.extend((0..(n - 1) * d).map(|_| r.random_range(-2.0..2.0)));
    for f in [Function::Deployed, Function::Surrogate, Function::Latent] {
        let bytes = to_onnx(net, f, &[]).unwrap();
        let Some(y) = run_ort(dir.path(), &bytes, &x, n, &net.input_shape) else { return false };
        assert_eq!(y.len(), n * net.classes);
        for k in 0..n {
            let want = net.forward(&x[k * d..(k + 1) * d], f).unwrap();
            for (c, (&got, &w)) in y[k * net.classes..(k + 1) * net.classes].iter().zip(&want).enumerate() {
                assert!(
                    (got - w).abs() <= ONNX_REL_TOL * (1.0 + w.abs()),
                    "{} input {k} class {c}: onnx {got} vs ir {w}",
                    f.name()
                );
            }
        }
    }
    true
}

/// An MLP whose first layer has a zero row, so the zero input puts a sign exactly at 0 (and the head turns
/// sign(0) = +1 and sign(0) = 0 into different logits).
fn mlp_with_a_zero_row(sign_zero: SignZero) -> Net {
    let mut net = random_mlp(&mut rng(5), &[7, 6, 4], ActKind::Sign, false);
    net.sign_zero = sign_zero;
    let Layer::Dense { weight, bias: Some(bias), .. } = &mut net.layers[0] else { unreachable!() };
    weight.row_mut(2).fill(0.0);
    bias[2] = 0.0;
    net
}

#[test]
fn mlp_logits_match_in_onnx_runtime_with_either_sign_convention() {
    for sz in [SignZero::PlusOne, SignZero::Zero] {
        let net = mlp_with_a_zero_row(sz);
        // The conventions differ at 0, and the graph follows each.
        let zero = vec![0.0; net.input_len()];
        assert_ne!(
            mlp_with_a_zero_row(SignZero::PlusOne).forward(&zero, Function::Deployed).unwrap(),
            mlp_with_a_zero_row(SignZero::Zero).forward(&zero, Function::Deployed).unwrap(),
            "the fixture exercises sign(0)"
        );
        if !agrees(&net, 64, 1) {
            return;
        }
    }
    // A deeper binary MLP with BatchNorm.
    agrees(&random_mlp(&mut rng(8), &[12, 10, 9, 8, 5], ActKind::Sign, true), 64, 7);
}

#[test]
fn convolutional_and_residual_logits_match_in_onnx_runtime() {
    for (net, seed) in [(tiny_cnn(3), 2u64), (tiny_resnet(4), 3)] {
        if !agrees(&net, 32, seed) {
            return;
        }
    }
}

#[test]
fn average_pooling_matches_in_onnx_runtime() {
    let mut net = tiny_cnn(6);
    // Replace the max pooling with average pooling of the same window.
    for l in &mut net.layers {
        if matches!(l, Layer::MaxPool { .. }) {
            *l = Layer::AvgPool { kernel: 2, stride: 2 };
        }
    }
    agrees(&net, 16, 4);
}

#[test]
fn export_writes_onnx_and_vnnlib_boxes_holding_the_test_images() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 40, 12, 28);
    let run_dir = root.path().join("run");
    let o = bin()
        .args(["train", "--out", run_dir.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
        .args(["--widths", "8,8", "--epochs", "1", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (onnx, props) = (root.path().join("net.onnx"), root.path().join("props"));
    let o = bin()
        .args(["export", run_dir.to_str().unwrap(), "--onnx", onnx.to_str().unwrap()])
        .args(["--vnnlib", props.to_str().unwrap(), "--eps", "0.01", "--samples", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = fs::read_to_string(props.join("instances.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    let text = fs::read_to_string(props.join("prop_0.vnnlib")).unwrap();
    assert_eq!(text.matches("(declare-const X_").count(), 784);
    assert_eq!(text.matches("(declare-const Y_").count(), 10);
    // Every box holds the image's own normalised value, and its width is 2·eps/std where the pixel box
    // does not cut it.
    let lows: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("(assert (>= X_"))
        .map(|l| l.split(' ').nth(1).unwrap().trim_end_matches("))").parse().unwrap())
        .collect();
    let highs: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("(assert (<= X_"))
        .map(|l| l.split(' ').nth(1).unwrap().trim_end_matches("))").parse().unwrap())
        .collect();
    assert_eq!((lows.len(), highs.len()), (784, 784));
    assert!(lows.iter().zip(&highs).all(|(l, h)| l < h));
    let width = 2.0 * 0.01 / f64::from(0.3081f32);
    let widest = lows.iter().zip(&highs).map(|(l, h)| h - l).fold(0.0, f64::max);
    assert!(widest <= width + 1e-9, "{widest} > {width}");
    read_with_the_standard_reader(&props.join("prop_0.vnnlib"), &lows, &highs);

    // Refused before anything is written: a radius without a directory, and a bad radius.
    let other = root.path().join("other.onnx");
    for args in [vec!["--eps", "0.1"], vec!["--vnnlib", "x", "--eps", "nan"], vec!["--vnnlib", "x"]] {
        let o = bin()
            .args(["export", run_dir.to_str().unwrap(), "--onnx", other.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!other.exists(), "{args:?} wrote the ONNX file");
    }
}
