//! `--shard i/N` and `lcr-verify merge` end to end on a trained tiny model: for `bound`, `certify`, `attack` and
//! `robustness`, the merged file equals the unsharded one byte for byte, except the values of the `"seconds"`
//! fields (wall-clock times, which differ between any two runs; the merged file records the sum of the shards'
//! times), which are blanked in both before the comparison. Refusals: bad `--shard` strings, a missing shard,
//! partial files of another request or count exit 2 and write nothing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, write_mnist_like};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn refused(o: &Output, says: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(says), "expected `{says}` in: {err}");
}

/// The file's bytes with the value of every `"seconds"` field replaced by 0 (the only wall-clock values in the
/// stages' files); everything else untouched.
fn without_times(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            match t.strip_prefix("\"seconds\": ") {
                Some(v) => {
                    let indent = &l[..l.len() - t.len()];
                    let comma = if v.ends_with(',') { "," } else { "" };
                    format!("{indent}\"seconds\": 0{comma}")
                }
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file in `dir` (recursively, hidden ones aside), by path relative to `dir`, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Copies the run directory `from` to `to` (flat files and one level of subdirectories).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
}

/// A trained MLP of hidden `widths` on generated MNIST-like data with `tests` test images, in `root/run`.
fn trained(root: &Path, tests: usize, widths: &str) -> PathBuf {
    let data = write_mnist_like(&root.join("data"), 120, tests, 5);
    let out = root.join("run");
    let o = run(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--widths",
        widths,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    out
}

/// Runs `stage args` unsharded in a copy of `base` and with `--shard i/count` for every i then `merge` in
/// another copy; checks that the two directories then hold the same files, equal up to the seconds fields,
/// and that the merge removed the partial files.
fn merged_equals_unsharded(root: &Path, base: &Path, name: &str, stage: &str, args: &[&str], count: usize) {
    let plain = root.join(format!("{name}-plain"));
    let sharded = root.join(format!("{name}-sharded"));
    copy_dir(base, &plain);
    copy_dir(base, &sharded);
    let with = |dir: &Path, extra: &[&str]| {
        let mut v: Vec<String> = vec![stage.into(), dir.to_str().unwrap().into()];
        v.extend(args.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push("--quiet".into());
        v
    };
    let a = with(&plain, &[]);
    ok(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    for i in 0..count {
        let s = format!("{i}/{count}");
        let a = with(&sharded, &["--shard", &s]);
        ok(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    ok(&run(&["merge", sharded.to_str().unwrap()]));
    let (p, s) = (tree(&plain), tree(&sharded));
    let names = |t: &[(PathBuf, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&p), names(&s), "{stage}: the same files");
    for (rel, bytes) in &p {
        let path_p = plain.join(rel);
        let path_s = sharded.join(rel);
        if bytes == &fs::read(&path_s).unwrap() {
            continue;
        }
        assert!(rel.extension().is_some_and(|e| e == "json"), "{stage}: {} differs", rel.display());
        // Run directories are recorded by path: name both the same before comparing.
        let a = without_times(&path_p).replace(plain.to_str().unwrap(), "RUN");
        let b = without_times(&path_s).replace(sharded.to_str().unwrap(), "RUN");
        assert!(a == b, "{stage}: {} differs beyond the seconds fields", rel.display());
    }
}

#[test]
fn merged_equals_unsharded_for_every_stage() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // 16 units in the first sign layer: certify lists its exact method as skipped (too many units).
    let dir = trained(r, 300, "16,16");
    let d = dir.to_str().unwrap();
    // bound: LP (global and local, whose merge caps it) split over the 45 class pairs, the rest on shard 0.
    let bound = ["--methods", "spectral,lp,sampled", "--lp-local-radius", "0.5", "--samples", "20"];
    merged_equals_unsharded(r, &dir, "bound", "bound", &bound, 4);
    ok(&run(&["bound", d, "--methods", "spectral,lp", "--quiet"]));
    // certify: 300 samples are 2 blocks of 256; 3 shards leave one without samples.
    let certify = ["--functions", "deployed,surrogate", "--norm", "l2"];
    merged_equals_unsharded(r, &dir, "certify", "certify", &certify, 3);
    ok(&run(&["certify", d, "--functions", "deployed,surrogate", "--norm", "l2", "--quiet"]));
    // attack (with its audit against the certificates): 30 samples over 4 shards.
    let attack = ["--samples", "30", "--norm", "l2", "--steps", "5"];
    merged_equals_unsharded(r, &dir, "attack", "attack", &attack, 4);
    // robustness (with the corruption audit): the suite's cells over 3 shards.
    merged_equals_unsharded(r, &dir, "robustness", "robustness", &["--limit", "40"], 3);
}

#[test]
fn bad_shards_and_mismatched_partials_are_refused_with_nothing_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path(), 40, "8,8");
    let d = dir.to_str().unwrap();
    let before = tree(&dir);
    for bad in ["4/4", "0/0", "-1/2", "a/2", "1", "1/2/3", "", "2/x"] {
        let o = run(&["attack", d, "--samples", "4", &format!("--shard={bad}"), "--quiet"]);
        assert_eq!(o.status.code(), Some(2), "--shard {bad}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"), "--shard {bad}");
    }
    refused(&run(&["merge", d]), "no partial file");
    assert_eq!(tree(&dir), before, "nothing written");
    let attack = |extra: &[&str]| {
        let mut a = vec!["attack", d, "--samples", "6", "--norm", "linf", "--steps", "2", "--quiet"];
        a.extend_from_slice(extra);
        ok(&run(&a));
    };
    // A missing shard.
    attack(&["--shard", "0/3"]);
    attack(&["--shard", "2/3"]);
    let partials = tree(&dir);
    refused(&run(&["merge", d]), "empirical.shard-1-of-3.json");
    // Another request for the missing shard.
    attack(&["--shard", "1/3", "--seed", "7"]);
    refused(&run(&["merge", d]), "another request");
    // Another count beside them.
    fs::remove_file(dir.join("empirical.shard-1-of-3.json")).unwrap();
    attack(&["--shard", "1/2"]);
    refused(&run(&["merge", d]), "one count");
    fs::remove_file(dir.join("empirical.shard-1-of-2.json")).unwrap();
    // A renamed file.
    fs::copy(dir.join("empirical.shard-0-of-3.json"), dir.join("empirical.shard-1-of-3.json")).unwrap();
    refused(&run(&["merge", d]), "its name says shard 1/3");
    fs::remove_file(dir.join("empirical.shard-1-of-3.json")).unwrap();
    assert_eq!(tree(&dir), partials, "refused merges write nothing and keep the partial files");
    // The model changed after the shards ran.
    attack(&["--shard", "1/3"]);
    let model = dir.join("model.safetensors");
    let bytes = fs::read(&model).unwrap();
    let mut other = bytes.clone();
    other.push(b' ');
    fs::write(&model, &other).unwrap();
    let o = run(&["merge", d]);
    assert_ne!(o.status.code(), Some(0));
    assert!(!dir.join("empirical.json").exists());
    fs::write(&model, &bytes).unwrap();
    ok(&run(&["merge", d]));
    assert!(dir.join("empirical.json").exists());
    assert!(!dir.join("empirical.shard-0-of-3.json").exists(), "merged partial files are removed");
}
