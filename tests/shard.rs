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

/// A trained 8-8 MLP on generated MNIST-like data with `tests` test images, in `root/run`.
fn trained(root: &Path, tests: usize) -> PathBuf {
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
        "8,8",
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
fn certify_merged_equals_unsharded() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path(), 600);
    let d = dir.to_str().unwrap();
    ok(&run(&["bound", d, "--methods", "spectral,lp", "--quiet"]));
    // 600 samples are 3 blocks of 256: shards of 2 (blocks 0, 2 and 1) and of 4 (one shard without samples).
    merged_equals_unsharded(root.path(), &dir, "c2", "certify", &[], 2);
    merged_equals_unsharded(root.path(), &dir, "c4", "certify", &["--norm", "linf"], 4);
}
