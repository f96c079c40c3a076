//! Reliability of the command line: a run directory owned by one process at a time, no leftovers, messages that
//! name the file and the problem, degenerate requests refused, and `bounds.json` keeping what it holds.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{bin, write_mnist_like};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "stdout: {} stderr: {}", String::from_utf8_lossy(&o.stdout), stderr(o));
}

fn assert_exit_2(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stdout: {} stderr: {err}", String::from_utf8_lossy(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The flags of a tiny training run from the generated data in `data` into `out`.
fn train_args<'a>(data: &'a Path, out: &'a Path, widths: &'a str, seed: &'a str) -> Vec<&'a str> {
    vec!["train", "--data-dir", s(data), "--widths", widths, "--seed", seed, "--quiet", "--out", s(out)]
}

fn train_tiny(data: &Path, out: &Path) {
    let mut args = train_args(data, out, "6,6", "1");
    args.extend(["--epochs", "1", "--batch-size", "20"]);
    assert_ok(&run(&args));
}

/// The id of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A lock file as lcr-verify writes it, for process `pid` on this host.
fn lock_text(pid: u32, command: &str) -> String {
    let mut h = lcr_verify::lock::Holder::this_process(command);
    h.pid = pid;
    h.process_start = None;
    toml::to_string(&h).unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The model file's recorded configuration and the SHA-256 of its bytes.
fn model_config_and_sha(dir: &Path) -> (String, String) {
    let (meta, _): (lcr_verify::model::io::ModelMeta, _) =
        lcr_verify::model::io::read_tensors(&dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    (meta.config, lcr_verify::fsio::file_sha256(&dir.join("model.safetensors")).unwrap())
}

// === 1. one process per run directory ===

#[test]
fn two_concurrent_trainings_into_one_directory_one_wins_the_other_names_it() {
    let root = tempfile::tempdir().unwrap();
    // Enough steps that a training lasts (about 2 s) well beyond the other process's start.
    let data = write_mnist_like(&root.path().join("data"), 3000, 200, 41);
    let out = root.path().join("run");
    let spawn = |widths: &str, seed: &str| {
        bin()
            .args(train_args(&data, &out, widths, seed))
            .args(["--epochs", "3", "--batch-size", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("64,64", "1"), spawn("32,32", "2"));
    let (pid_a, pid_b) = (a.id(), b.id());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (winner, loser, winner_pid) = match (oa.status.success(), ob.status.success()) {
        (true, false) => (&oa, &ob, pid_a),
        (false, true) => (&ob, &oa, pid_b),
        _ => panic!("exactly one must succeed:\nA: {}\nB: {}", stderr(&oa), stderr(&ob)),
    };
    assert_ok(winner);
    assert_exit_2(loser, &["in use by", &format!("pid {winner_pid}"), "lcr-verify train", ".lock", "since"]);
    // The directory holds one run: the model's configuration is config.toml, the metrics name the model.
    let (config, sha) = model_config_and_sha(&out);
    assert_eq!(fs::read_to_string(out.join("config.toml")).unwrap(), config);
    assert_eq!(json(&out.join("metrics.json"))["model_sha256"].as_str(), Some(sha.as_str()));
    assert!(!out.join(".lock").exists(), "the winner released its lock");
    // Readers refuse a mix: another run's config.toml beside the model.
    fs::write(out.join("config.toml"), config.replace("seed = ", "seed = 9")).unwrap();
    assert_exit_2(&run(&["eval", s(&out)]), &["config.toml", "different runs"]);
}

#[test]
fn a_live_holder_stops_every_writing_stage_before_it_writes() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 42);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    let before: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    // This test process is alive: its lock is not stale.
    fs::write(out.join(".lock"), lock_text(std::process::id(), "lcr-verify bound elsewhere")).unwrap();
    let pid = format!("pid {}", std::process::id());
    for args in [
        vec!["bound", s(&out), "--quiet"],
        vec!["certify", s(&out), "--quiet"],
        vec!["attack", s(&out), "--quiet"],
        vec!["robustness", s(&out), "--quiet"],
        train_args(&data, &out, "6,6", "1")
            .into_iter()
            .chain(["--epochs", "1", "--batch-size", "20", "--resume"])
            .collect(),
    ] {
        assert_exit_2(&run(&args), &[&pid, "lcr-verify bound elsewhere", "in use by"]);
    }
    let after: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len() + 1, after.len(), "nothing written besides the foreign lock: {after:?}");
    // `corrupt` into a directory another process writes, and the study into a run directory of it.
    let set = root.path().join("set");
    fs::create_dir(&set).unwrap();
    fs::write(set.join(".lock"), lock_text(std::process::id(), "lcr-verify corrupt")).unwrap();
    let o = run(&["corrupt", "--suite", "mnist-c", "--limit", "2", "--out", s(&set), "--quiet"]);
    assert_exit_2(&o, &[&pid, "lcr-verify corrupt"]);
    assert_eq!(fs::read_dir(&set).unwrap().count(), 1);
    let study = root.path().join("study");
    fs::create_dir_all(study.join("mnist/lcr-s1")).unwrap();
    fs::write(study.join("mnist/lcr-s1/.lock"), lock_text(std::process::id(), "lcr-verify train")).unwrap();
    assert_exit_2(&run(&["run", "--out", s(&study), "--quiet"]), &[&pid]);
    assert!(
        !study.join("mnist/baseline-s1").exists(),
        "the study's own lock is released and its directory removed"
    );
}

#[test]
fn a_stale_lock_and_leftover_temporaries_of_a_dead_process_are_cleared_with_a_note() {
    if lcr_verify::lock::process_alive(std::process::id()) != Some(true) {
        eprintln!("note: no /proc on this system, so a dead holder cannot be told; skipped");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 43);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    let dead = dead_pid();
    fs::write(out.join(".lock"), lock_text(dead, "lcr-verify bound killed")).unwrap();
    let leftover = out.join(format!(".bounds.json.tmp-{dead}"));
    fs::write(&leftover, b"{\"half").unwrap();
    let o = run(&["bound", s(&out), "--methods", "spectral", "--quiet"]);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(err.contains("stale lock") && err.contains(&format!("pid {dead}")), "{err}");
    assert!(err.contains(&format!(".bounds.json.tmp-{dead}")), "{err}");
    assert!(!leftover.exists() && !out.join(".lock").exists());
    assert!(out.join("bounds.json").exists());
}

// === 3. messages that name the problem ===

#[test]
fn every_numeric_option_refuses_a_negative_value_saying_what_it_takes() {
    let root = tempfile::tempdir().unwrap();
    let (out, o) = (root.path().join("never"), root.path().join("never"));
    let d = s(&o);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["bound", d, "--samples", "-5"], "--samples", "positive"),
        (vec!["bound", d, "--lp-max-nnz", "-1"], "--lp-max-nnz", "positive"),
        (vec!["certify", d, "--samples", "-5"], "--samples", "positive"),
        (vec!["attack", d, "--steps", "-2"], "--steps", "positive"),
        (vec!["attack", d, "--seed", "-2"], "--seed", "non-negative"),
        (vec!["robustness", d, "--chunk", "-2"], "--chunk", "positive"),
        (vec!["robustness", d, "--limit", "-2"], "--limit", "positive"),
        (
            vec!["corrupt", "--suite", "mnist-c", "--preview-index", "-1", "--out", d],
            "--preview-index",
            "non-negative",
        ),
        (vec!["train", "--out", d, "--epochs", "-3"], "--epochs", "positive"),
        (vec!["train", "--out", d, "--widths", "-3,16"], "--widths", "positive"),
        (vec!["train", "--out", d, "--widths", "16,-3"], "--widths", "positive"),
        (vec!["run", "--out", d, "--attack-samples", "-1"], "--attack-samples", "positive"),
    ];
    for (args, flag, what) in cases {
        let o = run(&args);
        assert_exit_2(&o, &[flag, what, "negative"]);
        assert!(!stderr(&o).contains("unexpected argument"), "{}", stderr(&o));
    }
    // Real values reach the request's check, which names the key.
    assert_exit_2(&run(&["train", "--out", s(&out), "--lcr-weight", "-0.5"]), &["lcr_weight", "-0.5"]);
    assert_exit_2(&run(&["train", "--out", s(&out), "--lr", "-1"]), &["lr", "-1"]);
    assert_exit_2(&run(&["bound", s(&out), "--lp-local-radius", "-1"]), &["lp_local_radius", "-1"]);
    assert!(!out.exists());
}

#[test]
fn a_config_value_of_the_wrong_type_names_the_file_the_key_and_the_type() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("c.toml");
    let out = root.path().join("never");
    fs::write(&cfg, "seed = 2\nepochs = \"three\"\n").unwrap();
    let o = run(&["train", "--config", s(&cfg), "--out", s(&out)]);
    assert_exit_2(&o, &["c.toml", "`epochs`", "whole number", "\"three\""]);
    fs::write(&cfg, "widths = [16, \"x\"]\n").unwrap();
    let o = run(&["train", "--config", s(&cfg), "--out", s(&out)]);
    assert_exit_2(&o, &["c.toml", "`widths`", "whole number"]);
    fs::write(&cfg, "seed = 2\nlr = = 1\n").unwrap();
    let o = run(&["train", "--config", s(&cfg), "--out", s(&out)]);
    assert_exit_2(&o, &["c.toml", "line 2"]);
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn an_unreadable_run_directory_is_reported_as_unreadable_not_missing() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 44);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    fs::set_permissions(&out, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read_dir(&out).is_ok() {
        fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!(
            "note: permission bits do not deny this user (root?); the mapping is checked in run_dir's unit tests"
        );
        return;
    }
    let outcomes = [run(&["eval", s(&out)]), run(&["bound", s(&out), "--quiet"])];
    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
    for o in &outcomes {
        assert_exit_2(o, &[s(&out), "ermission denied"]);
        assert!(!stderr(o).contains("not found"), "{}", stderr(o));
    }
}

#[test]
fn a_reference_model_of_another_dataset_is_refused_naming_it_and_both_datasets() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 45);
    let (model, reference) = (root.path().join("m"), root.path().join("fm"));
    train_tiny(&data, &model);
    let mut args = train_args(&data, &reference, "6,6", "1");
    args.extend(["--epochs", "1", "--batch-size", "20", "--dataset", "fashion-mnist"]);
    assert_ok(&run(&args));
    let o = run(&[
        "robustness",
        s(&model),
        "--reference",
        s(&reference),
        "--suite",
        "cifar-c",
        "--corruptions",
        "fog",
        "--severities",
        "1",
        "--quiet",
    ]);
    let named = reference.join("model.safetensors");
    assert_exit_2(&o, &[s(&named), "fashion-mnist", "mnist", "reference"]);
    assert!(!model.join("corruption.json").exists());
}

#[test]
fn images_of_another_size_than_the_model_takes_are_refused_naming_the_data_and_the_model() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 46);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    // The same files, but the test images 32×32.
    let big = root.path().join("data32");
    fs::create_dir(&big).unwrap();
    for e in fs::read_dir(&data).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), big.join(e.file_name())).unwrap();
    }
    let images: Vec<Vec<u8>> = (0..20).map(|i| vec![(i * 7) as u8; 32 * 32]).collect();
    fs::write(big.join("t10k-images-idx3-ubyte.gz"), common::gzip(&common::idx_images(32, 32, &images)))
        .unwrap();
    common::refresh_sums(&big);
    for args in [
        vec!["eval", s(&out), "--data-dir", s(&big)],
        vec!["bound", s(&out), "--data-dir", s(&big), "--quiet"],
    ] {
        let o = run(&args);
        assert_exit_2(&o, &[s(&big)]);
        assert!(!stderr(&o).contains("tensor operation"), "{}", stderr(&o));
    }
}

// === 4. degenerate requests ===

#[test]
fn a_local_radius_beyond_the_pixel_box_is_refused_and_local_never_exceeds_global() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 47);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    let o = run(&[
        "bound",
        s(&out),
        "--methods",
        "lp",
        "--norm",
        "linf",
        "--lp-local-radius",
        "1e308",
        "--quiet",
    ]);
    assert_exit_2(&o, &["lp_local_radius", "1e308", "extent", "3.24"]);
    assert!(!out.join("bounds.json").exists());
    // The largest radius allowed: the ball holds the whole box, where the global constant is as good as any.
    let o =
        run(&["bound", s(&out), "--methods", "lp", "--norm", "linf", "--lp-local-radius", "3.2", "--quiet"]);
    assert_ok(&o);
    let file = json(&out.join("bounds.json"));
    let entries = file["bounds"].as_array().unwrap();
    for f in ["surrogate", "latent"] {
        let find = |m: &str| entries.iter().find(|b| b["method"] == m && b["function"] == f).unwrap().clone();
        let (global, local) = (find("lp-global"), find("lp-local"));
        let value = |b: &serde_json::Value| b["value"].as_f64().unwrap();
        assert!(value(&local).is_finite() && value(&local) <= value(&global), "{f}: {local} vs {global}");
        for (l, g) in local["pairs"].as_array().unwrap().iter().zip(global["pairs"].as_array().unwrap()) {
            assert_eq!((&l["t"], &l["j"]), (&g["t"], &g["j"]));
            assert!(l["value"].as_f64().unwrap() <= g["value"].as_f64().unwrap(), "{l} vs {g}");
        }
        assert!(local["detail"]["mode"]["domain"].is_array(), "the box is intersected with the pixel domain");
    }
}

// === 5. bounds.json keeps what it holds ===

#[test]
fn bound_calls_with_other_options_add_to_bounds_json_and_a_repeat_replaces() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 48);
    let out = root.path().join("run");
    train_tiny(&data, &out);
    let bound = |norm: &str| {
        let o =
            run(&["bound", s(&out), "--methods", "spectral,lp", "--norm", norm, "--samples", "4", "--quiet"]);
        assert_ok(&o);
        json(&out.join("bounds.json"))
    };
    let entries = |f: &serde_json::Value| -> Vec<(String, String, String)> {
        f["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let s = |k: &str| b[k].as_str().unwrap().to_string();
                (s("method"), s("function"), s("norm"))
            })
            .collect()
    };
    let first = bound("linf");
    assert_eq!(first["format"], 3);
    assert_eq!(first["meta"]["methods"], serde_json::json!(["spectral", "lp"]));
    assert_eq!(first["meta"]["request"]["methods"], serde_json::json!(["spectral", "lp"]));
    let n_linf = entries(&first).len();
    let second = bound("l2");
    let all = entries(&second);
    for norm in ["linf-margin", "l2", "l2-margin"] {
        assert!(all.iter().any(|e| e.2 == norm), "no {norm} entry in {all:?}");
    }
    assert!(all.iter().any(|e| e.0 == "lp-global"), "the first call's LP entries are kept");
    for b in second["bounds"].as_array().unwrap() {
        let norms = b["request"]["norms"].as_str().unwrap();
        assert_eq!(norms == "l2", b["norm"] != "linf-margin", "each entry names the call that made it: {b}");
    }
    assert_eq!(second["meta"]["request"]["norms"], "l2", "meta describes the latest call");
    // A repeat replaces the entries it recomputes: no duplicates.
    let third = bound("linf");
    let mut keys = entries(&third);
    assert_eq!(keys.len(), all.len());
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all.len(), "no entry twice");
    assert!(n_linf < all.len());
    // Certificates use every certified constant of the model: both norms.
    let o = run(&["certify", s(&out), "--functions", "surrogate", "--samples", "4", "--quiet", "--json"]);
    assert_ok(&o);
    let cert: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let margins: Vec<&str> = cert["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["method"] == "margin")
        .map(|m| m["norm"].as_str().unwrap())
        .collect();
    assert!(margins.contains(&"l2") && margins.contains(&"linf"), "{margins:?}");
    // Bounds of another model file are replaced, with a note.
    let other = root.path().join("other");
    assert_ok(&run(&train_args(&data, &other, "5,5", "3")
        .into_iter()
        .chain(["--epochs", "1", "--batch-size", "20"])
        .collect::<Vec<_>>()));
    fs::copy(other.join("model.safetensors"), out.join("model.safetensors")).unwrap();
    fs::copy(other.join("config.toml"), out.join("config.toml")).unwrap();
    let o = run(&["bound", s(&out), "--methods", "spectral", "--norm", "l2", "--quiet"]);
    assert_ok(&o);
    assert!(stderr(&o).contains("another model file"), "{}", stderr(&o));
    let replaced = json(&out.join("bounds.json"));
    assert!(entries(&replaced).iter().all(|e| e.0 == "spectral-product" && e.2 != "linf-margin"));
}
