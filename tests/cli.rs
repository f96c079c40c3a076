//! The command line end to end: exit codes, messages, and nothing half-written on bad input.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use candle_core::{Device, Tensor};
use common::{bin, write_mnist_like};
use lcr_verify::model::io::{ModelMeta, read_tensors, write_tensors};

/// Relative size of the LP gap accepted: the backward pass (default) closes it to rounding and Clarabel's duals
/// are accurate to about 1e-8, so the certified value and the estimate of the optimum agree far closer than this.
const LP_GAP_TOL: f64 = 1e-3;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Trains a tiny model (one epoch; `extra` flags added) into `out` from generated data in `data`.
fn train_tiny(data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["train", "--data-dir", data.to_str().unwrap(), "--epochs", "1", "--batch-size", "20"];
    args.extend_from_slice(extra);
    args.extend(["--quiet", "--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// [`train_tiny`] with 16-16 hidden widths.
fn tiny_run(data: &Path, out: &Path) {
    train_tiny(data, out, &["--widths", "16,16"]);
}

#[test]
fn train_then_eval_reports_the_same_accuracy_as_json() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 100, 40, 21);
    let out = root.path().join("run");
    tiny_run(&data, &out);
    for f in ["model.safetensors", "config.toml", "metrics.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let o = run(&["eval", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(report["accuracy"], metrics["final"]["test_accuracy"]);
    assert_eq!(report["function"], "deployed");
    assert_eq!(report["total"], 40);
    assert_eq!(report["dataset_matches_model"], true);
}

fn assert_exit_2(o: &Output, needles: &[&str]) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
    let err = stderr(o);
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn impossible_values_are_refused_before_any_work() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("never");
    let o = run(&["train", "--batch-size", "0", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["--batch-size", "1 or more"]);
    let o = run(&["train", "--lcr-weight=-0.5", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["lcr_weight", "-0.5"]);
    let o = run(&["train", "--epochs", "0", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["epochs"]);
    let o = run(&["train", "--widths", "1000000000,16", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["widths", "65536"]);
    let o = run(&["train", "--widths", "16,16", "--widths", "8", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a repeated --widths is refused, not appended");
    // The study checks both configurations before training the baseline.
    let o = run(&["run", "--lcr-weight=-1", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["lcr_weight"]);
    assert!(!out.exists(), "nothing is written for a refused configuration");
}

#[test]
fn config_files_with_unknown_keys_or_bad_values_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("c.toml");
    let out = root.path().join("never");
    fs::write(&cfg, "epochs = 2\nlearning_rate = 0.1\n").unwrap();
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["c.toml", "learning_rate"]);
    fs::write(&cfg, "batch_size = 0\n").unwrap();
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["batch_size", "c.toml"]);
    // The same value given as a flag is the flag's fault, not the file's.
    let o = run(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--batch-size",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit_2(&o, &["--batch-size"]);
    assert!(!stderr(&o).contains("c.toml"), "{}", stderr(&o));
    fs::write(&cfg, "lcr_weight = -1.0\n").unwrap();
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["lcr_weight"]);
    let o = run(&["train", "--config", root.path().join("absent.toml").to_str().unwrap(), "--out", "x"]);
    assert_exit_2(&o, &["absent.toml", "not found"]);
    assert!(!out.exists());
}

#[test]
fn a_dataset_directory_without_files_names_the_missing_file() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = root.path().join("never");
    let o = run(&["train", "--data-dir", empty.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["train-images-idx3-ubyte", "not found"]);
    let o = run(&["train", "--dataset", "cifar10", "--data-dir", empty.to_str().unwrap(), "--out", "x"]);
    assert_exit_2(&o, &["data_batch_1.bin", "not found"]);
    assert!(!out.exists());
}

#[test]
fn bad_model_files_are_named_and_never_panic() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 22);
    let good = root.path().join("good");
    tiny_run(&data, &good);
    let o = run(&["eval", root.path().join("nothing").to_str().unwrap()]);
    assert_exit_2(&o, &["nothing", "not found"]);
    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_exit_2(&run(&["eval", empty.to_str().unwrap()]), &["model.safetensors", "not found"]);

    let bytes = fs::read(good.join("model.safetensors")).unwrap();
    let copy = |name: &str| {
        let dir = root.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::copy(good.join("config.toml"), dir.join("config.toml")).unwrap();
        dir
    };
    let truncated = copy("truncated");
    fs::write(truncated.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    for command in ["eval", "bound", "robustness"] {
        let o = run(&[command, truncated.to_str().unwrap()]);
        assert_exit_2(&o, &["model.safetensors", "not a valid safetensors"]);
    }

    let (meta, tensors): (ModelMeta, _) =
        read_tensors(&good.join("model.safetensors"), &Device::Cpu).unwrap();
    let nan = copy("nan");
    let mut t = tensors.clone();
    t.insert("fc1.weight".into(), (t["fc1.weight"].clone() * f64::NAN).unwrap());
    write_tensors(&nan.join("model.safetensors"), &t, &meta).unwrap();
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, nan.to_str().unwrap()]), &["fc1.weight", "non-finite"]);
    }

    let shape = copy("shape");
    let mut t = tensors.clone();
    t.insert("fc1.weight".into(), Tensor::zeros((3, 16), candle_core::DType::F32, &Device::Cpu).unwrap());
    write_tensors(&shape.join("model.safetensors"), &t, &meta).unwrap();
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, shape.to_str().unwrap()]), &["fc1.weight", "[16, 16]", "[3, 16]"]);
    }

    let mut zero_std = meta.clone();
    zero_std.normalization.std = vec![0.0];
    let dir = copy("zero-std");
    write_tensors(&dir.join("model.safetensors"), &tensors, &zero_std).unwrap();
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, dir.to_str().unwrap()]), &["model.safetensors", "deviation"]);
    }
    let var = tensors.keys().find(|k| k.ends_with(".running_var")).expect("the MLP has BatchNorm").clone();
    let dir = copy("negative-variance");
    let mut t = tensors.clone();
    t.insert(var.clone(), (t[&var].clone() * -1.0).unwrap());
    write_tensors(&dir.join("model.safetensors"), &t, &meta).unwrap();
    for command in ["eval", "bound", "robustness"] {
        assert_exit_2(&run(&[command, dir.to_str().unwrap()]), &[var.as_str(), "negative running variance"]);
    }

    let extra = copy("extra");
    let mut t = tensors;
    t.insert("stray".into(), Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap());
    write_tensors(&extra.join("model.safetensors"), &t, &meta).unwrap();
    assert_exit_2(&run(&["eval", extra.to_str().unwrap()]), &["stray"]);
}

#[test]
fn resume_without_a_checkpoint_and_overwrite_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    assert_exit_2(&run(&["train", "--resume", "--out", out.to_str().unwrap()]), &["checkpoint", "not found"]);
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 23);
    tiny_run(&data, &out);
    let before = fs::read(out.join("model.safetensors")).unwrap();
    let o = run(&["train", "--data-dir", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["already holds a trained model"]);
    assert_eq!(fs::read(out.join("model.safetensors")).unwrap(), before, "the earlier run is untouched");
    // Resuming a finished run is a no-op with its own configuration, and refused with another one.
    let o = run(&["train", "--resume", "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["train", "--resume", "--epochs", "3", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["different configuration"]);
    fs::remove_file(out.join("config.toml")).unwrap();
    let o = run(&["train", "--resume", "--out", out.to_str().unwrap()]);
    assert_exit_2(&o, &["config.toml", "not found"]);
    assert_eq!(fs::read(out.join("model.safetensors")).unwrap(), before, "the earlier run is untouched");
}

#[test]
fn a_teacher_must_be_full_precision_with_matching_stages() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 27);
    let (binary, wide) = (root.path().join("binary"), root.path().join("wide"));
    tiny_run(&data, &binary);
    train_tiny(&data, &wide, &["--widths", "32,32", "--full-precision"]);
    let out = root.path().join("never");
    let student = |teacher: &Path| {
        run(&[
            "train",
            "--data-dir",
            data.to_str().unwrap(),
            "--widths",
            "16,16",
            "--lcr-variant",
            "stage",
            "--lcr-weight",
            "0.001",
            "--lcr-teacher",
            teacher.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert_exit_2(&student(&binary), &["binary", "full precision"]);
    assert_exit_2(&student(&wide), &["wide", "stage"]);
    assert!(!out.exists(), "nothing is written for a refused teacher");
}

#[test]
fn stopped_runs_resume_from_the_command_line() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 24);
    let out = root.path().join("run");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "train",
            "--data-dir",
            data.to_str().unwrap(),
            "--widths",
            "8,8",
            "--epochs",
            "2",
            "--quiet",
        ];
        v.extend_from_slice(extra);
        v.extend(["--out", out.to_str().unwrap()]);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let o = bin().args(args(&["--stop-after", "1"])).output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("--resume"));
    // Resuming reads the run's own configuration; no flags needed.
    let o = run(&["train", "--resume", "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_slice(&fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["epochs"].as_array().unwrap().len(), 2);
}

#[test]
fn bound_writes_labelled_bounds_in_order_and_refuses_bad_runs() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 25);
    let out = root.path().join("run");
    train_tiny(&data, &out, &["--widths", "6,6"]);
    let o = run(&["bound", out.to_str().unwrap(), "--samples", "16", "--norm", "linf", "--json", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("bounds.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    let bounds = written["bounds"].as_array().unwrap();
    let space = &written["meta"]["input_space"];
    assert_eq!(
        (space["kind"].as_str(), space["std"][0].as_f64().map(|s| s as f32)),
        (Some("normalised"), Some(0.3081))
    );
    for b in bounds {
        for key in ["method", "function", "soundness", "norm", "value", "per_layer", "seconds", "detail"] {
            assert!(b.get(key).is_some(), "{key} missing in {b}");
        }
    }
    let value = |method: &str, function: &str| {
        bounds
            .iter()
            .find(|b| b["method"] == method && b["function"] == function && b["norm"] == "linf-margin")
            .unwrap_or_else(|| panic!("no {method} for {function}"))["value"]
            .as_f64()
            .unwrap()
    };
    for f in ["surrogate", "latent"] {
        let (lower, exact, lp, product) = (
            value("sampled-gradient", f),
            value("exact-patterns", f),
            value("lp-global", f),
            value("spectral-product", f),
        );
        assert!(lower <= exact && exact <= lp && lp <= product, "{f}: {lower} {exact} {lp} {product}");
    }
    // Every LP pair reports its solver status and the gap between the certified value and the solver's estimate.
    for b in bounds.iter().filter(|b| b["method"] == "lp-global") {
        for pair in b["detail"]["per_pair"].as_array().unwrap() {
            let lp = &pair["lp"];
            assert!(lp["multiplier_solve"]["status"].is_string(), "{lp}");
            // The certified value sits at or above the solver's estimate of the optimum, and close to it.
            let (gap, value) = (lp["gap"].as_f64().expect("gap"), pair["value"].as_f64().unwrap());
            let scale = value.abs().max(1.0);
            assert!(
                gap >= -LP_GAP_TOL * scale && gap <= LP_GAP_TOL * scale,
                "gap {gap} for value {value}: {lp}"
            );
        }
    }
    assert_exit_2(&run(&["bound", out.to_str().unwrap(), "--samples", "0"]), &["--samples", "1 or more"]);
    let o = run(&["bound", root.path().join("none").to_str().unwrap()]);
    assert_exit_2(&o, &["not found"]);
    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_exit_2(&run(&["bound", empty.to_str().unwrap()]), &["model.safetensors", "not found"]);
}

#[test]
fn bounds_are_reused_only_for_the_same_model_file_and_request() {
    use lcr_verify::bounds::{self, BoundRequest, BoundsFile, NormChoice};
    use lcr_verify::run_dir::RunDir;
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 29);
    let out = root.path().join("run");
    train_tiny(&data, &out, &["--widths", "4,4"]);
    let dir = RunDir::new(&out);
    let req = BoundRequest { norms: NormChoice::Linf, samples: 8, ..Default::default() };
    let written = bounds::run(&dir, &req, &|_| {}).unwrap();
    assert_eq!(written.meta["request"], serde_json::to_value(&req).unwrap());
    assert!(bounds::reusable(&dir, &req).unwrap().is_some(), "the same model and request");
    let other = BoundRequest { samples: 9, ..req.clone() };
    assert!(bounds::reusable(&dir, &other).unwrap().is_none(), "another request");
    // The same request from the command line.
    let o = run(&["bound", out.to_str().unwrap(), "--norm", "linf", "--samples", "8", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(bounds::reusable(&dir, &req).unwrap().is_some());
    // A file of the earlier format is not reused (and reading it says how to rewrite it).
    let mut old: serde_json::Value = serde_json::from_slice(&fs::read(dir.bounds()).unwrap()).unwrap();
    old["format"] = serde_json::json!(1);
    fs::write(dir.bounds(), serde_json::to_vec(&old).unwrap()).unwrap();
    assert!(bounds::reusable(&dir, &req).unwrap().is_none(), "format 1");
    let err = BoundsFile::read(&dir.bounds()).unwrap_err().to_string();
    assert!(err.contains("re-run `lcr-verify bound"), "{err}");
    // Another model file in the same place.
    bounds::run(&dir, &req, &|_| {}).unwrap();
    let mut bytes = fs::read(dir.model()).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    fs::write(dir.model(), bytes).unwrap();
    assert!(bounds::reusable(&dir, &req).unwrap().is_none(), "another model file");
}

#[test]
fn robustness_of_a_trained_run_against_a_reference() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 80, 30, 26);
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    tiny_run(&data, &a);
    train_tiny(&data, &b, &["--widths", "16,16", "--lcr-weight", "0.01"]);
    let args = [
        "robustness",
        b.to_str().unwrap(),
        "--suite",
        "cifar-c",
        "--corruptions",
        "fog,contrast",
        "--severities",
        "1,5",
        "--reference",
        a.to_str().unwrap(),
        "--json",
        "--quiet",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join("corruption.json")).unwrap()).unwrap();
    assert_eq!(file["suites"]["cifar-c"], report);
    assert_eq!(report["corruptions"].as_array().unwrap().len(), 2);
    // The clean error is the one `eval` reports for the same deployed network.
    let eval: serde_json::Value =
        serde_json::from_slice(&run(&["eval", b.to_str().unwrap(), "--json"]).stdout).unwrap();
    let clean = report["clean_error"].as_f64().unwrap();
    assert!((clean - (1.0 - eval["accuracy"].as_f64().unwrap())).abs() < 1e-12, "{clean} vs {eval}");
    assert_exit_2(&run(&["robustness", root.path().join("none").to_str().unwrap()]), &["not found"]);
}

#[test]
fn robustness_reports_are_reused_only_for_the_same_model_files_and_request() {
    use lcr_verify::robustness::{self, EvalOptions, RobustnessRequest, load_deployed};
    use lcr_verify::run_dir::RunDir;
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 30);
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    train_tiny(&data, &a, &["--widths", "4,4"]);
    train_tiny(&data, &b, &["--widths", "4,4", "--seed", "2"]);
    let dir = RunDir::new(&a);
    let req = RobustnessRequest {
        suite: Some(lcr_verify::corrupt::Suite::CifarC),
        corruptions: Some("fog".into()),
        severities: Some("1".into()),
        limit: Some(5),
        ..Default::default()
    };
    let options = EvalOptions { chunk: 5, progress: false };
    let report = robustness::run(&dir, &req, &load_deployed, &options).unwrap();
    assert_eq!(report.provenance["request"], serde_json::to_value(&req).unwrap());
    let earlier = robustness::reusable(&dir, &req).unwrap().expect("the same model and request");
    assert_eq!(earlier.provenance, report.provenance);
    let other = RobustnessRequest { limit: Some(4), ..req.clone() };
    assert!(robustness::reusable(&dir, &other).unwrap().is_none(), "another request");
    let against_b = RobustnessRequest { reference: Some(b.clone()), ..req.clone() };
    assert!(robustness::reusable(&dir, &against_b).unwrap().is_none(), "another reference");
    robustness::run(&dir, &against_b, &load_deployed, &options).unwrap();
    assert!(robustness::reusable(&dir, &against_b).unwrap().is_some());
    // The reference model file changes: the report against it no longer stands.
    fs::copy(a.join("model.safetensors"), b.join("model.safetensors")).unwrap();
    assert!(robustness::reusable(&dir, &against_b).unwrap().is_none(), "another reference model file");
}

#[test]
fn the_study_runs_end_to_end_and_reuses_only_matching_stages() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 28);
    let out = root.path().join("study");
    // Widths 4-4 keep the exact enumeration (8 units) quick.
    let study = |epochs: &str| {
        let mut args = vec!["run", "--out", out.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
        args.extend([
            "--widths",
            "4,4",
            "--epochs",
            epochs,
            "--seeds",
            "2",
            "--attack-samples",
            "5",
            "--quiet",
        ]);
        run(&args)
    };
    let o = study("1");
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    for row in ["| mnist | baseline-s1 | 0 |", "| mnist | lcr-s1 | 0.001 |", "| mnist | lcr-s2 | 0.001 |"] {
        assert!(printed.contains(row), "{row} in {printed}");
    }
    assert!(printed.contains("Certified vs empirical radii"), "{printed}");
    // Attacks and their audit on the first seed only: 2 models × 3 functions × 2 norms.
    assert_eq!(printed.matches("checked, 0 violations |").count(), 2 * 3 * 2, "{printed}");
    let mnist = out.join("mnist");
    assert!(mnist.join("lcr-s1/empirical.json").exists() && !mnist.join("lcr-s2/empirical.json").exists());
    assert!(out.join("report/report.md").exists());
    let files = ["model.safetensors", "bounds.json", "certificates.json", "corruption.json"];
    let snapshot = || -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for model in ["baseline-s1", "lcr-s1", "baseline-s2", "lcr-s2"] {
            for f in files {
                all.push(fs::read(mnist.join(model).join(f)).unwrap());
            }
        }
        all.push(fs::read(mnist.join("lcr-s1/empirical.json")).unwrap());
        all.push(fs::read(out.join("report/report.json")).unwrap());
        all
    };
    let first = snapshot();
    // The LP and the sequential LipSDP bound run on every seed, for both Lipschitz functions, and the radii come
    // from the same methods on every seed.
    for model in ["lcr-s1", "lcr-s2"] {
        let b: serde_json::Value =
            serde_json::from_slice(&fs::read(mnist.join(model).join("bounds.json")).unwrap()).unwrap();
        for function in ["surrogate", "latent"] {
            let has_lp = b["bounds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["method"] == "lp-global" && x["function"] == function);
            assert!(has_lp, "{model} {function}");
            let has_sequential = b["bounds"].as_array().unwrap().iter().any(|x| {
                x["method"] == "lipsdp-sequential" && x["function"] == function && x["norm"] == "l2-margin"
            });
            assert!(has_sequential, "{model} {function}");
        }
        let c: serde_json::Value =
            serde_json::from_slice(&fs::read(mnist.join(model).join("certificates.json")).unwrap()).unwrap();
        assert_eq!(
            c["provenance"]["request"]["bound_methods"],
            serde_json::json!(["spectral-product", "lipsdp-sequential", "lp-global", "norm-conversion"])
        );
        // The ℓ∞ constants converted from the ℓ2 ones are there for both functions, and the latent function was
        // refitted before its bounds.
        for function in ["surrogate", "latent"] {
            assert!(
                b["bounds"].as_array().unwrap().iter().any(|x| x["method"] == "norm-conversion"
                    && x["function"] == function
                    && x["norm"] == "linf-margin"),
                "{model} {function}"
            );
        }
        assert!(mnist.join(model).join("latent_bn.json").exists(), "{model}");
        assert!(b["meta"]["latent_function"]["test_accuracy"].is_number(), "{model}");
    }

    // A second run reuses every stage: the same files, byte for byte, and the same tables.
    let o = study("1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), printed);
    assert!(first == snapshot(), "a rerun rewrote a finished stage");

    // A report asked for differently (here: generated, 5 images) is not reused.
    let base = mnist.join("baseline-s1");
    let o = run(&["robustness", base.to_str().unwrap(), "--suite", "mnist-c", "--limit", "5", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = study("1");
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(base.join("corruption.json")).unwrap()).unwrap();
    assert!(
        report["suites"]["mnist-c"]["provenance"]["request"]["limit"].is_null(),
        "the study's own report is back"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), printed);

    // Another configuration in the same directory is refused, pointing to --fresh.
    let o = study("2");
    assert_exit_2(&o, &["another configuration", "--fresh"]);
    assert_eq!(
        fs::read(base.join("model.safetensors")).unwrap(),
        first[0],
        "the refused study left the model alone"
    );
    assert_exit_2(&run(&["run", "--out", out.to_str().unwrap(), "--seeds", "0"]), &["seeds"]);
    let o = run(&[
        "run",
        "--dataset",
        "all",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit_2(&o, &["data-dir"]);
}

/// A λ sweep with the released code's per-stage variant: one model per λ and seed, each compared with the
/// baseline of its seed in the report.
#[test]
fn a_lambda_sweep_trains_one_model_per_value_and_compares_each_with_the_baseline() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 28);
    let out = root.path().join("sweep");
    let o = run(&[
        "run",
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--widths",
        "4,4",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--attack-samples",
        "3",
        "--lcr-weights",
        "0.002,0.0005,0.002",
        "--lcr-variant",
        "stage",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    for row in [
        "| mnist | baseline-s1 | 0 |",
        "| mnist | lcr-0.002-s1 | 0.002 |",
        "| mnist | lcr-0.0005-s1 | 0.0005 |",
    ] {
        assert!(printed.contains(row), "{row} in {printed}");
    }
    let mnist = out.join("mnist");
    let names: Vec<String> = {
        let mut v: Vec<String> = fs::read_dir(&mnist)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names,
        ["baseline-s1", "corrupted", "lcr-0.0005-s1", "lcr-0.002-s1"],
        "a repeated λ trains once"
    );
    for (dir, lambda) in [("lcr-0.002-s1", 0.002), ("lcr-0.0005-s1", 0.0005)] {
        let config: toml::Value =
            toml::from_str(&fs::read_to_string(mnist.join(dir).join("config.toml")).unwrap()).unwrap();
        assert_eq!(config["lcr_weight"].as_float(), Some(lambda), "{dir}");
        assert_eq!(config["lcr_variant"].as_str(), Some("stage"), "{dir}");
    }
    let md = fs::read_to_string(out.join("report/report.md")).unwrap();
    for heading in ["### lcr_weight=0.0005 minus lcr_weight=0.0", "### lcr_weight=0.002 minus lcr_weight=0.0"]
    {
        assert!(md.contains(heading), "{heading} in the report");
    }
}

/// Every file of the report directory, by relative path.
fn report_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut all = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.insert(p.strip_prefix(dir).unwrap().display().to_string(), fs::read(&p).unwrap());
            }
        }
    }
    all
}

/// `run --quick` on the shipped MNIST, end to end, within its minute; then a second study killed twice at
/// different moments and started again ends with the same report, byte for byte.
#[test]
fn the_quick_study_ends_with_the_same_report_however_often_it_is_killed() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let started = std::time::Instant::now();
    let o = run(&["run", "--quick", "--quiet", "--out", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let took = started.elapsed().as_secs_f64();
    eprintln!("run --quick: {took:.1} s");
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(printed.contains("| mnist | lcr-s2 | 0.001 |"), "{printed}");
    assert_eq!(printed.matches("checked, 0 violations |").count(), 2 * 3 * 2, "{printed}");
    let want = report_files(&a.join("report"));
    assert!(want.contains_key("report.md") && want.contains_key("report.json"), "{:?}", want.keys());
    let md = String::from_utf8_lossy(&want["report.md"]).into_owned();
    assert!(!md.contains("training time (s)"), "wall-clock times are left out");

    // Killed early (training or the corrupted sets), then later (a later stage), then left to finish.
    for delay in [3.0, 0.45 * took] {
        let mut child = bin()
            .args(["run", "--quick", "--quiet", "--out", b.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs_f64(delay));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let o = run(&["run", "--quick", "--quiet", "--out", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).replace(b.to_str().unwrap(), "OUT"),
        printed.replace(a.to_str().unwrap(), "OUT")
    );
    let got = report_files(&b.join("report"));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    // The reports name the baselines CE is normalised by with the path they were given (OUT/...): the two
    // studies differ in OUT's last letter only, so the comparison swaps that one path and is otherwise exact.
    let (pa, pb) = (a.to_str().unwrap().as_bytes(), b.to_str().unwrap().as_bytes());
    for (name, bytes) in &want {
        let mut theirs = got[name].clone();
        for i in 0..theirs.len().saturating_sub(pb.len() - 1) {
            if &theirs[i..i + pb.len()] == pb {
                theirs[i..i + pb.len()].copy_from_slice(pa);
            }
        }
        assert!(theirs == *bytes, "{name} differs after the study was killed and restarted");
    }
}
