//! BatchNorm refitted for the latent function: the moments of every affine layer's input under the latent forward,
//! checked against a forward written here, and the refitted net.
mod common;

use common::*;
use lcr_verify::ir::{ConvGeometry, Function, Layer, Net, affine_count, conv2d};
use rand::Rng;

/// Agreement of moments summed in another order.
const MOMENTS: f64 = 1e-9;

const L: Function = Function::Latent;

fn samples(r: &mut rand_chacha::ChaCha8Rng, n: usize, d: usize) -> Vec<Vec<f64>> {
    (0..n).map(|_| (0..d).map(|_| 2.0 * r.random::<f64>() - 1.0).collect()).collect()
}

/// Per-channel mean and population variance of `rows` (each a flat CHW or feature vector) with `per` values per
/// channel.
fn moments(rows: &[Vec<f64>], per: usize) -> (Vec<f64>, Vec<f64>) {
    let c = rows[0].len() / per;
    let n = (rows.len() * per) as f64;
    let mut mean = vec![0.0; c];
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            mean[i / per] += v / n;
        }
    }
    let mut var = vec![0.0; c];
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            var[i / per] += (v - mean[i / per]).powi(2) / n;
        }
    }
    (mean, var)
}

fn close(a: &[f64], b: &[f64], what: &str) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= MOMENTS * (1.0 + y.abs()), "{what}: {a:?} vs {b:?}");
    }
}

/// The standardising map of theorem-free BatchNorm with γ = 1, β = 0: scale 1/√(var + ε), shift −mean·scale.
fn standardise(mean: &[f64], var: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let s: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-5f64).sqrt()).collect();
    let t = mean.iter().zip(&s).map(|(m, s)| -m * s).collect();
    (s, t)
}

#[test]
fn mlp_moments_match_a_forward_written_here() {
    let mut r = rng(61);
    let net = random_mlp(&mut r, &[6, 9, 7, 3], ActKind::Sign, true);
    let x = samples(&mut r, 300, 6);
    assert_eq!(affine_count(&net.layers), 2);
    let mut fitted = Vec::new();
    // The forward of the latent MLP written out: dense (latent weights) → affine → clamp, layer by layer.
    let mut h = x.clone();
    let mut affines = 0;
    for layer in &net.layers {
        match layer {
            Layer::Dense { .. } => {
                let w = layer.dense_weight(L).unwrap();
                let b = match layer {
                    Layer::Dense { bias, .. } => bias.clone(),
                    _ => None,
                };
                h = h
                    .iter()
                    .map(|v| {
                        let y = w * nalgebra::DVector::from_column_slice(v);
                        let y = match &b {
                            Some(b) => y + b,
                            None => y,
                        };
                        y.iter().copied().collect()
                    })
                    .collect();
            }
            Layer::Affine { .. } => {
                let (mean, var) = moments(&h, 1);
                let m = net.affine_input_moments(L, &fitted, affines, &x).unwrap();
                close(&m.mean, &mean, "mean");
                close(&m.var, &var, "variance");
                let (s, t) = standardise(&m.mean, &m.var);
                h = h.iter().map(|v| v.iter().enumerate().map(|(i, z)| s[i] * z + t[i]).collect()).collect();
                // After the refitted map the layer's output is standardised.
                let (om, ov) = moments(&h, 1);
                assert!(om.iter().all(|m| m.abs() < 1e-9), "{om:?}");
                assert!(ov.iter().zip(&var).all(|(o, v)| (o - v / (v + 1e-5)).abs() < 1e-9), "{ov:?}");
                fitted.push((s, t));
                affines += 1;
            }
            Layer::Sign | Layer::HardTanh => {
                h = h.iter().map(|v| v.iter().map(|z| z.clamp(-1.0, 1.0)).collect()).collect();
            }
            _ => {}
        }
    }
    // The refitted net computes what the forward above computed.
    let refit = net.with_affine_maps(&fitted).unwrap();
    for (xi, hi) in x.iter().zip(&h) {
        close(&refit.forward(xi, L).unwrap(), hi, "refitted forward");
    }
}

#[test]
fn residual_body_comes_before_its_shortcut() {
    let net = tiny_resnet(5);
    let mut r = rng(62);
    let x = samples(&mut r, 120, 64);
    assert_eq!(affine_count(&net.layers), 4);
    let mut fitted: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    for k in 0..4 {
        let m = net.affine_input_moments(L, &fitted, k, &x).unwrap();
        fitted.push(standardise(&m.mean, &m.var));
    }
    // Written out: stem conv → affine 0 → clamp → residual 1 (body: clamp, conv, affine 1; identity) → clamp →
    // residual 2 (body: clamp, conv, affine 2; shortcut: conv, affine 3).
    let conv = |layer: &Layer, v: &[f64]| -> Vec<f64> {
        let Layer::Conv2d { stride, padding, in_shape, .. } = layer else { panic!() };
        let k = layer.conv_kernel(L).unwrap();
        conv2d(k, &ConvGeometry::new(k, *in_shape, *stride, *padding), v)
    };
    let aff = |(s, t): &(Vec<f64>, Vec<f64>), v: &[f64]| -> Vec<f64> {
        let per = v.len() / s.len();
        v.iter().enumerate().map(|(i, z)| s[i / per] * z + t[i / per]).collect()
    };
    let clamp = |v: &[f64]| -> Vec<f64> { v.iter().map(|z| z.clamp(-1.0, 1.0)).collect() };
    let (Layer::Residual { body: b1, .. }, Layer::Residual { body: b2, shortcut: s2 }) =
        (&net.layers[3], &net.layers[5])
    else {
        panic!()
    };
    let (mut into_body, mut into_shortcut) = (Vec::new(), Vec::new());
    for v in &x {
        let h = clamp(&aff(&fitted[0], &conv(&net.layers[0], v)));
        let body = aff(&fitted[1], &conv(&b1[1], &clamp(&h)));
        let h: Vec<f64> = clamp(&body.iter().zip(&h).map(|(a, b)| a + b).collect::<Vec<_>>());
        into_body.push(conv(&b2[1], &clamp(&h)));
        into_shortcut.push(conv(&s2[0], &h));
    }
    let per = into_body[0].len() / 4;
    let (mb, vb) = moments(&into_body, per);
    let (ms, vs) = moments(&into_shortcut, per);
    close(&fitted[2].1.iter().zip(&fitted[2].0).map(|(t, s)| -t / s).collect::<Vec<_>>(), &mb, "body mean");
    close(
        &ms,
        &fitted[3].1.iter().zip(&fitted[3].0).map(|(t, s)| -t / s).collect::<Vec<_>>(),
        "shortcut mean",
    );
    let var =
        |(s, _): &(Vec<f64>, Vec<f64>)| -> Vec<f64> { s.iter().map(|s| 1.0 / (s * s) - 1e-5).collect() };
    close(&var(&fitted[2]), &vb, "body variance");
    close(&var(&fitted[3]), &vs, "shortcut variance");
}

#[test]
fn maps_that_do_not_fit_are_refused() {
    let net: Net = tiny_resnet(5);
    let good: Vec<(Vec<f64>, Vec<f64>)> =
        [2, 2, 4, 4].iter().map(|&c| (vec![1.0; c], vec![0.0; c])).collect();
    assert!(net.with_affine_maps(&good).is_ok());
    assert!(net.with_affine_maps(&good[..3]).is_err(), "too few maps");
    let mut extra = good.clone();
    extra.push((vec![1.0], vec![0.0]));
    assert!(net.with_affine_maps(&extra).is_err(), "too many maps");
    let mut wrong = good.clone();
    wrong[2] = (vec![1.0; 3], vec![0.0; 3]);
    assert!(net.with_affine_maps(&wrong).is_err(), "wrong width");
    assert!(net.affine_input_moments(L, &good, 4, &samples(&mut rng(1), 2, 64)).is_err(), "no layer 4");
    assert!(net.affine_input_moments(L, &[], 1, &samples(&mut rng(1), 2, 64)).is_err(), "layer 0 not fitted");
    assert!(net.affine_input_moments(L, &[], 0, &[]).is_err(), "no samples");
    assert!(net.affine_input_moments(L, &[], 0, &[vec![0.0; 3]]).is_err(), "wrong input length");
}

fn cli(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn exit_2(o: &std::process::Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

fn json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The corruption audit's counts about the latent function, of every suite in a `corruption.json`.
fn latent_checks(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(checks)) = m.get("checks") {
                    out.extend(checks.iter().filter(|c| c["function"] == "latent").cloned());
                }
                stack.extend(m.values());
            }
            serde_json::Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    out
}

#[test]
fn refitted_latent_net_runs_through_the_stages_and_stale_files_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 120, 40, 7);
    let dir = root.path().join("run");
    let d = dir.to_str().unwrap();
    ok(&cli(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--widths",
        "8,8",
        "--quiet",
        "--out",
        d,
    ]));
    exit_2(&cli(&["latent-bn", d, "--images", "0"]), &["images"]);
    assert!(!dir.join("latent_bn.json").exists());
    ok(&cli(&["latent-bn", d, "--images", "100", "--quiet"]));
    let f = json(&dir.join("latent_bn.json"));
    assert_eq!(f["train_images"], 100);
    assert_eq!(f["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        f["model_sha256"].as_str().unwrap(),
        lcr_verify::fsio::file_sha256(&dir.join("model.safetensors")).unwrap()
    );
    let acc = f["accuracy"]["refitted"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    ok(&cli(&["bound", d, "--methods", "spectral,lp", "--quiet"]));
    let b = json(&dir.join("bounds.json"));
    assert_eq!(b["meta"]["latent_function"]["test_accuracy"].as_f64(), Some(acc));
    ok(&cli(&["certify", d, "--functions", "surrogate,latent", "--samples", "10", "--quiet"]));
    ok(&cli(&["attack", d, "--functions", "surrogate,latent", "--samples", "10", "--steps", "5", "--quiet"]));
    let emp = json(&dir.join("empirical.json"));
    let latent_audits: Vec<&serde_json::Value> =
        emp["audit"].as_array().unwrap().iter().filter(|a| a["function"] == "latent").collect();
    assert!(!latent_audits.is_empty());
    assert!(latent_audits.iter().all(|a| a["violations"] == 0), "{latent_audits:?}");
    // The corruption audit reads the latent certificates on the refitted net too: saturate leaves a gray image
    // as it is, so every certified image is checked at distance 0.
    let robustness =
        ["robustness", d, "--suite", "cifar-c", "--corruptions", "saturate", "--severities", "1", "--quiet"];
    ok(&cli(&robustness));
    let checks = latent_checks(&json(&dir.join("corruption.json")));
    assert!(checks.iter().any(|c| c["checked"].as_u64() > Some(0)), "{checks:?}");
    assert!(checks.iter().all(|c| c["violations"] == 0), "{checks:?}");
    // A new refit makes the bounds (and the certificates) about another latent net: refused, files kept.
    ok(&cli(&["latent-bn", d, "--images", "60", "--quiet"]));
    let before = std::fs::read(dir.join("certificates.json")).unwrap();
    exit_2(
        &cli(&["certify", d, "--functions", "latent", "--quiet"]),
        &["bounds.json", "latent", "re-run `lcr-verify bound`"],
    );
    exit_2(
        &cli(&["attack", d, "--functions", "latent", "--samples", "5", "--quiet"]),
        &["certificates.json", "latent"],
    );
    exit_2(&cli(&robustness), &["certificates.json", "latent"]);
    assert_eq!(std::fs::read(dir.join("certificates.json")).unwrap(), before);
    ok(&cli(&["bound", d, "--methods", "spectral,lp", "--quiet"]));
    ok(&cli(&["certify", d, "--functions", "surrogate,latent", "--samples", "10", "--quiet"]));
    // A damaged file, or one about another model, is refused naming it.
    let good = std::fs::read(dir.join("latent_bn.json")).unwrap();
    std::fs::write(dir.join("latent_bn.json"), b"{ not json").unwrap();
    exit_2(&cli(&["bound", d, "--quiet"]), &["latent_bn.json"]);
    let mut other = f.clone();
    other["model_sha256"] = serde_json::Value::from("0".repeat(64));
    std::fs::write(dir.join("latent_bn.json"), serde_json::to_vec(&other).unwrap()).unwrap();
    exit_2(
        &cli(&["certify", d, "--functions", "latent", "--quiet"]),
        &["latent_bn.json", "another model file"],
    );
    let mut short = serde_json::from_slice::<serde_json::Value>(&good).unwrap();
    short["layers"].as_array_mut().unwrap().pop();
    std::fs::write(dir.join("latent_bn.json"), serde_json::to_vec(&short).unwrap()).unwrap();
    exit_2(
        &cli(&["attack", d, "--functions", "latent", "--samples", "5", "--quiet"]),
        &["latent_bn.json", "BatchNorm layers"],
    );
}
