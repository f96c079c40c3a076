//! `lcr-verify import`: networks written with PyTorch's key names become run directories that compute what the
//! spec says (against a forward written here), equal a network trained here tensor for tensor, and every bad spec
//! or weights file is refused, naming the layer and the tensor, with nothing written.

mod common;
#[path = "import/reference.rs"]
mod reference;
#[path = "import/torch.rs"]
mod torch;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::Device;
use common::{bin, cifar_batch, write_mnist_like};
use lcr_verify::data::{self, DatasetKind, ImageSet};
use lcr_verify::eval::deployed_logits;
use lcr_verify::import::{NetSpec, arch, weights};
use lcr_verify::ir::Function;
use lcr_verify::model::io::{ModelMeta, read_tensors};
use lcr_verify::model::{Arch, WeightScaling};
use lcr_verify::run_dir::RunDir;
use lcr_verify::train::RawConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::Dtype;

/// Largest difference allowed between the imported network's logits and the forward written here, relative to
/// max(1, |logit|): both sum the same `f32` weights in `f64`, in different orders.
const LOGIT_TOL: f64 = 1e-9;

use reference::{Reference, batchnorm, conv, irnet, max_pool2, torch_sign, widen};
use torch::{Bn, StateDict, f32_bytes};

const MNIST_HEAD: &str = "dataset = \"mnist\"\ninput = [1, 28, 28]\nclasses = 10\n\
                          normalization = { mean = [0.1307], std = [0.3081] }\n";

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn import(spec: &Path, weights: &Path, out: &Path, data: &Path) -> Output {
    let p = |p: &Path| p.to_str().unwrap().to_string();
    bin()
        .args([
            "import",
            "--spec",
            &p(spec),
            "--weights",
            &p(weights),
            "--out",
            &p(out),
            "--data-dir",
            &p(data),
        ])
        .output()
        .unwrap()
}

fn normalised(set: &ImageSet, i: usize) -> Vec<f64> {
    set.image(i).iter().map(|&p| f64::from((p as f32 / 255.0 - 0.1307) / 0.3081)).collect()
}

// ---- the forward of the spec, written out -------------------------------------------------------------------

/// A small IR-Net-style ResNet with PyTorch's names: a real stem, one unit per stage, a real 1×1 stride-2
/// projection shortcut, global pooling, BatchNorm1d and a real classifier.
struct TinyResNet {
    stem: Vec<f32>,
    bn1: Bn,
    unit1: (Vec<f32>, Bn),
    unit2: (Vec<f32>, Bn),
    short: (Vec<f32>, Bn),
    bn2: Bn,
    linear: (Vec<f32>, Vec<f32>),
}

const RESNET_SPEC: &str = r#"sign_zero = "zero"
ignore = ["*.num_batches_tracked"]

[[layers]]
kind = "conv"
name = "conv1"
out = 4
kernel = 3
padding = 1
bias = false

[[layers]]
kind = "batchnorm"
name = "bn1"

[[layers]]
kind = "hardtanh"

[[layers]]
kind = "residual"
body = [
  { kind = "sign" },
  { kind = "conv", name = "layer1.0.conv1", out = 4, kernel = 3, padding = 1, bias = false, binary = "irnet" },
  { kind = "batchnorm", name = "layer1.0.bn1" },
]

[[layers]]
kind = "hardtanh"

[[layers]]
kind = "residual"
body = [
  { kind = "sign" },
  { kind = "conv", name = "layer2.0.conv1", out = 8, kernel = 3, stride = 2, padding = 1, bias = false, binary = "irnet" },
  { kind = "batchnorm", name = "layer2.0.bn1" },
]
shortcut = [
  { kind = "conv", name = "layer2.0.shortcut.0", out = 8, kernel = 1, stride = 2, bias = false },
  { kind = "batchnorm", name = "layer2.0.shortcut.1" },
]

[[layers]]
kind = "hardtanh"

[[layers]]
kind = "global-avgpool"

[[layers]]
kind = "flatten"

[[layers]]
kind = "batchnorm"
name = "bn2"

[[layers]]
kind = "dense"
name = "linear"
out = 10
"#;

impl TinyResNet {
    fn new(sd: &mut StateDict, seed: u64) -> TinyResNet {
        let rng = &mut ChaCha8Rng::seed_from_u64(seed);
        TinyResNet {
            stem: sd.random("conv1.weight", &[4, 1, 3, 3], -0.6, 0.6, rng),
            bn1: sd.batchnorm("bn1", 4, rng),
            unit1: (
                sd.random("layer1.0.conv1.weight", &[4, 4, 3, 3], -1.0, 1.0, rng),
                sd.batchnorm("layer1.0.bn1", 4, rng),
            ),
            unit2: (
                sd.random("layer2.0.conv1.weight", &[8, 4, 3, 3], -1.0, 1.0, rng),
                sd.batchnorm("layer2.0.bn1", 8, rng),
            ),
            short: (
                sd.random("layer2.0.shortcut.0.weight", &[8, 4, 1, 1], -1.0, 1.0, rng),
                sd.batchnorm("layer2.0.shortcut.1", 8, rng),
            ),
            bn2: sd.batchnorm("bn2", 8, rng),
            linear: (
                sd.random("linear.weight", &[10, 8], -1.0, 1.0, rng),
                sd.random("linear.bias", &[10], -0.3, 0.3, rng),
            ),
        }
    }

    fn forward(&self, x: &[f64]) -> Vec<f64> {
        let clamp = |v: &mut [f64]| v.iter_mut().for_each(|a| *a = a.clamp(-1.0, 1.0));
        let (mut h, _, _) = conv(x, (1, 28, 28), &widen(&self.stem), 4, 3, 1);
        batchnorm(&mut h, 28 * 28, &self.bn1);
        clamp(&mut h);
        let signs: Vec<f64> = h.iter().map(|v| torch_sign(*v)).collect();
        let (mut body, _, _) = conv(&signs, (4, 28, 28), &irnet(&self.unit1.0, 4), 4, 3, 1);
        batchnorm(&mut body, 28 * 28, &self.unit1.1);
        let mut h: Vec<f64> = body.iter().zip(&h).map(|(a, b)| a + b).collect();
        clamp(&mut h);
        let signs: Vec<f64> = h.iter().map(|v| torch_sign(*v)).collect();
        let (mut body, h2, w2) = conv(&signs, (4, 28, 28), &irnet(&self.unit2.0, 8), 8, 3, 2);
        batchnorm(&mut body, h2 * w2, &self.unit2.1);
        let (mut side, _, _) = conv(&h, (4, 28, 28), &widen(&self.short.0), 8, 1, 2);
        batchnorm(&mut side, h2 * w2, &self.short.1);
        let mut h: Vec<f64> = body.iter().zip(&side).map(|(a, b)| a + b).collect();
        clamp(&mut h);
        let mut pooled: Vec<f64> =
            h.chunks(h2 * w2).map(|c| c.iter().sum::<f64>() / (h2 * w2) as f64).collect();
        batchnorm(&mut pooled, 1, &self.bn2);
        let (w, b) = (&self.linear.0, &self.linear.1);
        (0..10).map(|o| b[o] as f64 + (0..8).map(|i| w[o * 8 + i] as f64 * pooled[i]).sum::<f64>()).collect()
    }
}

#[test]
fn an_imported_resnet_computes_the_forward_its_spec_describes() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 40, 30, 41);
    let mut sd = StateDict::default();
    let net = TinyResNet::new(&mut sd, 7);
    let (spec, weights, out) =
        (root.path().join("net.toml"), root.path().join("net.safetensors"), root.path().join("run"));
    fs::write(&spec, format!("{MNIST_HEAD}{RESNET_SPEC}")).unwrap();
    sd.save(&weights);
    let o = import(&spec, &weights, &out, &data);
    assert!(o.status.success(), "{}", stderr(&o));

    let run = RunDir::new(&out);
    let (model, meta) = run.load_model(&Device::Cpu).unwrap();
    assert_eq!((meta.spec.arch, meta.spec.widths.clone(), meta.spec.blocks), (Arch::Resnet, vec![4, 8], 1));
    assert_eq!(meta.spec.weight_scaling, WeightScaling::Irnet);
    let dataset = data::load(DatasetKind::Mnist, Some(&data)).unwrap();
    let indices: Vec<usize> = (0..dataset.test.len()).collect();
    let logits = deployed_logits(&model, &dataset.test, &meta.normalization, &indices)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let ir = lcr_verify::export::export(&model).unwrap();
    for (i, got) in logits.iter().enumerate() {
        let x = normalised(&dataset.test, i);
        let want = net.forward(&x);
        let through_ir = ir.forward(&x, Function::Deployed).unwrap();
        for k in 0..10 {
            let tol = LOGIT_TOL * want[k].abs().max(1.0);
            assert!(
                (got[k] - want[k]).abs() <= tol,
                "image {i} logit {k}: imported {} vs spec {}",
                got[k],
                want[k]
            );
            assert!(
                (through_ir[k] - want[k]).abs() <= tol,
                "image {i} logit {k}: IR {} vs spec {}",
                through_ir[k],
                want[k]
            );
        }
    }
    // The run directory says where the network came from, and the accuracy is the one eval reports.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("import.json")).unwrap()).unwrap();
    assert_eq!(record["tensors"]["layer2.0.shortcut.1.weight"], "s1.u0.down.bn.gamma");
    assert_eq!(record["ignored"].as_array().unwrap().len(), 5);
    let digest = |p: &Path| lcr_verify::fsio::sha256_hex(&fs::read(p).unwrap());
    assert_eq!(
        (record["spec_sha256"].as_str(), record["weights_sha256"].as_str()),
        (Some(&*digest(&spec)), Some(&*digest(&weights)))
    );
    let eval = run_eval(&out);
    let metrics: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(eval["accuracy"], metrics["final"]["test_accuracy"]);
    assert_eq!(eval["dataset_matches_model"], true);
}

fn run_eval(dir: &Path) -> serde_json::Value {
    let o = run(&["eval", dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A small binary CNN with `nn.Sequential` names: XNOR-Net scaling (`mean`), sign(0) = +1, max pooling and a
/// BatchNorm without affine parameters.
const CNN_SPEC: &str = r#"sign_zero = "plus-one"
ignore = ["*.num_batches_tracked"]

[[layers]]
kind = "conv"
name = "features.0"
out = 4
kernel = 3
padding = 1
bias = false
[[layers]]
kind = "maxpool"
kernel = 2
[[layers]]
kind = "batchnorm"
name = "features.2"
affine = false
[[layers]]
kind = "sign"
[[layers]]
kind = "conv"
name = "features.4"
out = 6
kernel = 3
padding = 1
bias = false
binary = "mean"
[[layers]]
kind = "maxpool"
kernel = 2
stride = 2
[[layers]]
kind = "batchnorm"
name = "features.6"
[[layers]]
kind = "flatten"
[[layers]]
kind = "sign"
[[layers]]
kind = "dense"
name = "classifier"
out = 10
"#;

#[test]
fn an_imported_cnn_with_mean_scaling_computes_the_forward_its_spec_describes() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 40, 30, 44);
    let rng = &mut ChaCha8Rng::seed_from_u64(11);
    let mut sd = StateDict::default();
    let stem = sd.random("features.0.weight", &[4, 1, 3, 3], -0.6, 0.6, rng);
    let bn0 = Bn {
        gamma: vec![1.0; 4],
        beta: vec![0.0; 4],
        mean: sd.random("features.2.running_mean", &[4], -0.3, 0.3, rng),
        var: sd.random("features.2.running_var", &[4], 0.5, 2.0, rng),
    };
    let latent = sd.random("features.4.weight", &[6, 4, 3, 3], -1.0, 1.0, rng);
    let bn1 = sd.batchnorm("features.6", 6, rng);
    let head = sd.random("classifier.weight", &[10, 294], -0.2, 0.2, rng);
    let bias = sd.random("classifier.bias", &[10], -0.2, 0.2, rng);
    let (spec, weights, out) =
        (root.path().join("cnn.toml"), root.path().join("cnn.safetensors"), root.path().join("run"));
    fs::write(&spec, format!("{MNIST_HEAD}{CNN_SPEC}")).unwrap();
    sd.save(&weights);
    let o = import(&spec, &weights, &out, &data);
    assert!(o.status.success(), "{}", stderr(&o));

    let (model, meta) = RunDir::new(&out).load_model(&Device::Cpu).unwrap();
    assert_eq!((meta.spec.arch, meta.spec.widths.clone()), (Arch::Cnn, vec![4, 6]));
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("import.json")).unwrap()).unwrap();
    assert_eq!(record["constants"], serde_json::json!(["bn0.gamma", "bn0.beta"]));
    // XNOR-Net's binary weight: mean |w| of the output channel times sign(w).
    let binary: Vec<f64> = latent
        .chunks(36)
        .flat_map(|row| {
            let alpha = row.iter().map(|v| v.abs() as f64).sum::<f64>() / 36.0;
            row.iter().map(move |&v| if v >= 0.0 { alpha } else { -alpha })
        })
        .collect();
    let sign = |v: &f64| if *v >= 0.0 { 1.0 } else { -1.0 };
    let dataset = data::load(DatasetKind::Mnist, Some(&data)).unwrap();
    let indices: Vec<usize> = (0..dataset.test.len()).collect();
    let logits = deployed_logits(&model, &dataset.test, &meta.normalization, &indices)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    for (i, got) in logits.iter().enumerate() {
        let (h, _, _) = conv(&normalised(&dataset.test, i), (1, 28, 28), &widen(&stem), 4, 3, 1);
        let mut h = max_pool2(&h, 4, 28, 28);
        batchnorm(&mut h, 14 * 14, &bn0);
        let signs: Vec<f64> = h.iter().map(sign).collect();
        let (h, _, _) = conv(&signs, (4, 14, 14), &binary, 6, 3, 1);
        let mut h = max_pool2(&h, 6, 14, 14);
        batchnorm(&mut h, 7 * 7, &bn1);
        let signs: Vec<f64> = h.iter().map(sign).collect();
        for k in 0..10 {
            let want = bias[k] as f64 + (0..294).map(|j| head[k * 294 + j] as f64 * signs[j]).sum::<f64>();
            assert!(
                (got[k] - want).abs() <= LOGIT_TOL * want.abs().max(1.0),
                "image {i} logit {k}: {} vs {want}",
                got[k]
            );
        }
    }
}

// ---- a network trained here, re-keyed as PyTorch would name it ----------------------------------------------

/// The MLP 784-8-8-10 as an `nn.Sequential` (flatten is not a module, so the linear layer is `net.0`).
const MLP_SPEC: &str = r#"sign_zero = "plus-one"
ignore = ["*.num_batches_tracked"]

[[layers]]
kind = "flatten"
[[layers]]
kind = "dense"
name = "net.0"
out = 8
bias = false
[[layers]]
kind = "batchnorm"
name = "net.1"
[[layers]]
kind = "sign"
[[layers]]
kind = "dense"
name = "net.3"
out = 8
bias = false
binary = "plain"
[[layers]]
kind = "batchnorm"
name = "net.4"
[[layers]]
kind = "sign"
[[layers]]
kind = "dense"
name = "net.6"
out = 10
"#;

/// lcr-verify's key → the `nn.Sequential` key.
fn torch_key(key: &str) -> String {
    let (layer, field) = key.split_once('.').unwrap();
    let index = match layer {
        "fc0" => 0,
        "bn0" => 1,
        "fc1" => 3,
        "bn1" => 4,
        "head" => 6,
        other => panic!("unexpected tensor {other}"),
    };
    let field = match field {
        "gamma" => "weight",
        "beta" => "bias",
        f => f,
    };
    format!("net.{index}.{field}")
}

fn bound_values(dir: &Path) -> BTreeMap<String, f64> {
    let o = run(&[
        "bound",
        dir.to_str().unwrap(),
        "--methods",
        "spectral,lp",
        "--samples",
        "16",
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (format!("{} {} {}", b["method"], b["function"], b["norm"]), b["value"].as_f64().unwrap()))
        .collect()
}

#[test]
fn a_network_trained_here_and_renamed_imports_as_the_same_network() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 100, 30, 42);
    let trained = root.path().join("trained");
    let d = data.to_str().unwrap();
    let args =
        ["train", "--data-dir", d, "--epochs", "1", "--batch-size", "20", "--widths", "8,8", "--quiet"];
    let o = bin().args(args).args(["--out", trained.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, tensors): (ModelMeta, _) = read_tensors(&RunDir::new(&trained).model(), &Device::Cpu).unwrap();
    let mut sd = StateDict::default();
    for (key, t) in &tensors {
        sd.f32(&torch_key(key), t.dims(), &t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
    for bn in ["net.1", "net.4"] {
        sd.0.push((format!("{bn}.num_batches_tracked"), Dtype::I64, vec![], 5i64.to_le_bytes().to_vec()));
    }
    let (spec, weights, out) =
        (root.path().join("mlp.toml"), root.path().join("mlp.safetensors"), root.path().join("imported"));
    fs::write(&spec, format!("{MNIST_HEAD}{MLP_SPEC}")).unwrap();
    sd.save(&weights);
    let o = import(&spec, &weights, &out, &data);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same tensors under the same keys.
    let (_, imported): (ModelMeta, _) = read_tensors(&RunDir::new(&out).model(), &Device::Cpu).unwrap();
    assert_eq!(imported.keys().collect::<Vec<_>>(), tensors.keys().collect::<Vec<_>>());
    for (key, t) in &tensors {
        let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, imported[key].flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{key}");
    }
    // The same logits, bounds, accuracy.
    let dataset = data::load(DatasetKind::Mnist, Some(&data)).unwrap();
    let indices: Vec<usize> = (0..dataset.test.len()).collect();
    let logits = |dir: &Path| {
        let (model, meta) = RunDir::new(dir).load_model(&Device::Cpu).unwrap();
        deployed_logits(&model, &dataset.test, &meta.normalization, &indices)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap()
    };
    assert_eq!(logits(&trained), logits(&out));
    let (a, b) = (bound_values(&trained), bound_values(&out));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(run_eval(&trained)["accuracy"], run_eval(&out)["accuracy"]);

    // The other stages read the imported run unchanged.
    for args in [
        vec!["certify", "--samples", "5", "--quiet"],
        vec!["attack", "--samples", "3", "--steps", "5", "--quiet"],
        vec!["robustness", "--suite", "cifar-c", "--corruptions", "fog", "--severities", "1", "--quiet"],
    ] {
        let o = bin().arg(args[0]).arg(&out).args(&args[1..]).output().unwrap();
        assert!(o.status.success(), "{}: {}", args[0], stderr(&o));
    }
    let o = bin().args(["report"]).arg(&out).arg("--out").arg(root.path().join("report")).output().unwrap();
    assert!(o.status.success(), "report: {}", stderr(&o));
}

// ---- refusals ------------------------------------------------------------------------------------------------

/// Random weights for [`MLP_SPEC`] with PyTorch's keys.
fn random_mlp() -> StateDict {
    let rng = &mut ChaCha8Rng::seed_from_u64(3);
    let mut sd = StateDict::default();
    sd.random("net.0.weight", &[8, 784], -0.1, 0.1, rng);
    sd.batchnorm("net.1", 8, rng);
    sd.random("net.3.weight", &[8, 8], -1.0, 1.0, rng);
    sd.batchnorm("net.4", 8, rng);
    sd.random("net.6.weight", &[10, 8], -1.0, 1.0, rng);
    sd.random("net.6.bias", &[10], -1.0, 1.0, rng);
    sd
}

#[test]
fn bad_specs_and_mismatched_weights_are_refused_naming_the_layer_and_tensor() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 20, 10, 43);
    let good = random_mlp();
    let spec_text = format!("{MNIST_HEAD}{MLP_SPEC}");
    let mut nan = vec![0.5f32; 80];
    nan[3] = f32::NAN;
    let cases: Vec<(&str, String, StateDict, Vec<&str>)> = vec![
        (
            "missing",
            spec_text.clone(),
            good.without("net.4.running_var"),
            vec!["layer 5 `net.4` (batchnorm)", "`net.4.running_var`", "missing"],
        ),
        (
            "extra",
            spec_text.clone(),
            good.replaced("net.7.weight", Dtype::F32, &[2], f32_bytes(&[1.0, 2.0])),
            vec!["`net.7.weight`", "ignore"],
        ),
        (
            "not-ignored",
            spec_text.replace("ignore = [\"*.num_batches_tracked\"]\n", ""),
            good.clone(),
            vec!["layer 2 `net.1` (batchnorm)", "`net.1.num_batches_tracked`", "ignore"],
        ),
        (
            "shape",
            spec_text.clone(),
            good.replaced("net.3.weight", Dtype::F32, &[4, 16], f32_bytes(&[0.5; 64])),
            vec!["layer 4 `net.3` (dense)", "`net.3.weight`", "[4, 16]", "[8, 8]"],
        ),
        (
            "dtype",
            spec_text.clone(),
            good.replaced("net.0.weight", Dtype::F16, &[8, 784], vec![0; 8 * 784 * 2]),
            vec!["layer 1 `net.0` (dense)", "`net.0.weight`", "F16"],
        ),
        (
            "f64",
            spec_text.clone(),
            good.replaced(
                "net.6.bias",
                Dtype::F64,
                &[10],
                [0.1f64; 10].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            vec!["`net.6.bias`", "F64"],
        ),
        (
            "nan",
            spec_text.clone(),
            good.replaced("net.6.weight", Dtype::F32, &[10, 8], f32_bytes(&nan)),
            vec!["layer 7 `net.6` (dense)", "`net.6.weight`", "non-finite", "index 3"],
        ),
        (
            "variance",
            spec_text.clone(),
            good.replaced("net.1.running_var", Dtype::F32, &[8], f32_bytes(&[-1.0; 8])),
            vec!["`net.1.running_var`", "negative"],
        ),
        (
            "kind",
            spec_text.replacen("kind = \"sign\"", "kind = \"prelu\"\nname = \"act\"", 1),
            good.clone(),
            vec!["layer 3 `act`", "unknown layer kind `prelu`"],
        ),
        (
            "relu",
            spec_text.replacen("kind = \"sign\"", "kind = \"relu\"", 1),
            good.clone(),
            vec!["layer 3 (relu)", "none of them"],
        ),
        (
            "arch",
            spec_text.replacen("[[layers]]\nkind = \"sign\"\n", "", 1),
            good.clone(),
            vec!["layer 3 `net.3` (dense)", "{ kind = \"sign\" }"],
        ),
        (
            "duplicate",
            spec_text.replacen("name = \"net.3\"", "name = \"net.0\"", 1),
            good.clone(),
            vec!["layer 4 `net.0` (dense)", "`net.0.weight`", "layer 1 `net.0` (dense)", "distinct names"],
        ),
        (
            "input",
            spec_text.replace("input = [1, 28, 28]", "input = [1, 32, 32]"),
            good.clone(),
            vec!["key `input`", "[1, 28, 28]"],
        ),
        ("sign-zero", spec_text.replace("sign_zero = \"plus-one\"\n", ""), good.clone(), vec!["sign_zero"]),
        (
            "scaling",
            spec_text.replace("binary = \"plain\"", "binary = \"ternary\""),
            good.clone(),
            vec!["layer 4 `net.3` (dense)", "ternary"],
        ),
    ];
    for (name, spec_text, sd, needles) in cases {
        let (spec, weights, out) = (
            root.path().join(format!("{name}.toml")),
            root.path().join(format!("{name}.safetensors")),
            root.path().join(name),
        );
        fs::write(&spec, &spec_text).unwrap();
        sd.save(&weights);
        let o = import(&spec, &weights, &out, &data);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        for n in needles {
            assert!(err.contains(n), "{name}: `{n}` not in: {err}");
        }
        assert!(!out.exists(), "{name}: {} was written", out.display());
    }
    // The good pair imports; a directory that holds anything is refused and left as it was.
    let (spec, weights) = (root.path().join("good.toml"), root.path().join("good.safetensors"));
    fs::write(&spec, &spec_text).unwrap();
    good.save(&weights);
    let busy = root.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("notes.txt"), "mine").unwrap();
    let o = import(&spec, &weights, &busy, &data);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert_eq!(fs::read_dir(&busy).unwrap().count(), 1);
    let o = import(&spec, &weights, &root.path().join("fine"), &data);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Mutated specs and weights files (bytes changed, lines dropped or doubled) are refused or read, never a panic,
/// and every refusal names its file.
#[test]
fn mutated_specs_and_weights_never_panic() {
    use rand::Rng;
    let root = tempfile::tempdir().unwrap();
    let rng = &mut ChaCha8Rng::seed_from_u64(5);
    let text = format!("{MNIST_HEAD}{MLP_SPEC}");
    let lines: Vec<&str> = text.lines().collect();
    let path = root.path().join("net.toml");
    for _ in 0..400 {
        let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..mutated.len());
            match rng.random_range(0..3) {
                0 => drop(mutated.remove(i)),
                1 => mutated.insert(i, mutated[i].clone()),
                _ => {
                    let mut bytes = mutated[i].clone().into_bytes();
                    if !bytes.is_empty() {
                        let j = rng.random_range(0..bytes.len());
                        let chars = b"0123456789-=[]{}\",.\" abz_*";
                        bytes[j] = chars[rng.random_range(0..chars.len())];
                    }
                    mutated[i] = String::from_utf8_lossy(&bytes).into_owned();
                }
            }
        }
        let outcome = NetSpec::from_text(&path, &mutated.join("\n")).and_then(|spec| {
            weights::expected(&spec)?;
            arch::map(&spec)
        });
        if let Err(e) = outcome {
            assert!(e.to_string().contains("net.toml"), "{e}");
        }
    }
    let spec = NetSpec::from_text(&path, &text).unwrap();
    let expected = weights::expected(&spec).unwrap();
    let file = root.path().join("w.safetensors");
    random_mlp().save(&file);
    let good = fs::read(&file).unwrap();
    for _ in 0..400 {
        let mut bytes = good.clone();
        for _ in 0..rng.random_range(1..4) {
            // Mostly the header, where a change means something.
            let end = if rng.random_bool(0.8) { 600.min(bytes.len()) } else { bytes.len() };
            let i = rng.random_range(0..end);
            bytes[i] = rng.random();
        }
        if rng.random_bool(0.1) {
            bytes.truncate(rng.random_range(0..bytes.len()));
        }
        fs::write(&file, &bytes).unwrap();
        if let Err(e) = weights::read(&file, &expected, &spec.ignore) {
            assert!(e.to_string().contains("w.safetensors"), "{e}");
        }
    }
}

// ---- the example specs ---------------------------------------------------------------------------------------

fn example(name: &str) -> NetSpec {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/import").join(name);
    NetSpec::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_example_specs_read_as_the_architectures_they_describe() {
    for (name, arch) in [("mlp.toml", Arch::Mlp), ("cnn.toml", Arch::Cnn), ("resnet.toml", Arch::Resnet)] {
        let spec = example(name);
        weights::expected(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = arch::map(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        let default = RawConfig { arch: Some(arch), ..RawConfig::default() }.check().unwrap().model_spec();
        assert_eq!(m.model, default, "{name} is the default {arch:?}");
    }
    let spec = example("irnet-resnet20.toml");
    let expected = weights::expected(&spec).unwrap();
    let m = arch::map(&spec).unwrap();
    assert_eq!((m.model.arch, m.model.widths.clone(), m.model.blocks), (Arch::Resnet, vec![16, 32, 64], 6));
    assert_eq!(m.model.weight_scaling, WeightScaling::Irnet);
    // Every tensor the spec needs is renamed, and nothing else.
    let mut needed: Vec<&str> = expected.iter().map(|e| e.key.as_str()).collect();
    let mut renamed: Vec<&str> = m.renames.iter().map(|(from, _)| from.as_str()).collect();
    needed.sort();
    renamed.sort();
    assert_eq!(needed, renamed);
    assert!(m.renames.contains(&("layer3.2.bn2.running_var".into(), "s2.u5.bn.running_var".into())));
}

#[test]
fn the_irnet_resnet20_example_imports_and_computes_the_forward_its_spec_describes() {
    let root = tempfile::tempdir().unwrap();
    let cifar = root.path().join("cifar");
    fs::create_dir(&cifar).unwrap();
    for i in 1..=5u8 {
        fs::write(cifar.join(format!("data_batch_{i}.bin")), cifar_batch(&[i, 3])).unwrap();
    }
    fs::write(cifar.join("test_batch.bin"), cifar_batch(&[0, 1, 2, 3, 4, 5])).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/import/irnet-resnet20.toml");
    let spec = NetSpec::from_file(&path).unwrap();
    // Random weights under IR-Net's keys, as its state_dict() holds them.
    let rng = &mut ChaCha8Rng::seed_from_u64(20);
    let mut sd = StateDict::default();
    let mut values = BTreeMap::new();
    for e in weights::expected(&spec).unwrap() {
        let batchnorm_scale = e.layer.ends_with("(batchnorm)") && e.key.ends_with(".weight");
        let (lo, hi) = match () {
            _ if e.key.ends_with(".running_var") => (0.5, 2.0),
            _ if batchnorm_scale => (0.5, 1.5),
            _ => (-0.5, 0.5),
        };
        values.insert(e.key.clone(), sd.random(&e.key, &e.shape, lo, hi, rng));
        if let Some(prefix) = e.key.strip_suffix(".running_var") {
            sd.0.push((
                format!("{prefix}.num_batches_tracked"),
                Dtype::I64,
                vec![],
                1i64.to_le_bytes().to_vec(),
            ));
        }
    }
    let (weights, out) = (root.path().join("irnet20.safetensors"), root.path().join("run"));
    sd.save(&weights);
    let o = import(&path, &weights, &out, &cifar);
    assert!(o.status.success(), "{}", stderr(&o));

    let (model, meta) = RunDir::new(&out).load_model(&Device::Cpu).unwrap();
    assert_eq!((meta.spec.arch, meta.spec.blocks), (Arch::Resnet, 6));
    let dataset = data::load(DatasetKind::Cifar10, Some(&cifar)).unwrap();
    let indices: Vec<usize> = (0..dataset.test.len()).collect();
    let logits = deployed_logits(&model, &dataset.test, &meta.normalization, &indices)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let reference = Reference { tensors: &values, sign_zero: spec.sign_zero };
    let n = &spec.normalization;
    for (i, got) in logits.iter().enumerate() {
        let img = dataset.test.image(i);
        let mut x = vec![0.0; 3 * 32 * 32];
        for (p, &v) in img.iter().enumerate() {
            let (pixel, ch) = (p / 3, p % 3);
            x[ch * 1024 + pixel] = f64::from((v as f32 / 255.0 - n.mean[ch]) / n.std[ch]);
        }
        let (want, shape) = reference.forward(&spec.layers, x, vec![3, 32, 32]);
        assert_eq!(shape, [10]);
        for k in 0..10 {
            let tol = LOGIT_TOL * want[k].abs().max(1.0);
            assert!(
                (got[k] - want[k]).abs() <= tol,
                "image {i} logit {k}: imported {} vs spec {}",
                got[k],
                want[k]
            );
        }
    }
}
