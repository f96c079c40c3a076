//! `lcr-verify report` on synthetic run directories (`tests/common/report_runs.rs`: two configurations, two seeds
//! each, every stage file written through the library's types): golden files of every format, figures
//! re-derived from the raw JSON and found in the report, byte-identical re-runs, and bad input.
//!
//! The golden files live in `tests/golden/report/`; `LCR_BLESS=1 cargo test --release --test report` rewrites
//! them (review the diff).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use lcr_verify::report::{ReportRequest, run};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report")
}

/// The synthetic study and its report (all formats) under a fresh temporary directory.
fn study() -> (tempfile::TempDir, Vec<PathBuf>, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let out = root.path().join("report");
    run(&ReportRequest { runs: runs.clone(), formats: vec![], out: Some(out.clone()) }).unwrap();
    (root, runs, out)
}

/// The first line where `got` and `want` differ, framed.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let k = g.iter().zip(&w).take_while(|(a, b)| a == b).count();
    format!(
        "line {}:\n--- golden\n{}\n--- got\n{}\n---",
        k + 1,
        w.get(k).copied().unwrap_or("<end>"),
        g.get(k).copied().unwrap_or("<end>")
    )
}

#[test]
fn every_format_matches_its_golden_file() {
    let (_root, _runs, out) = study();
    let bless = std::env::var("LCR_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for name in ["report.md", "report.csv", "report.json", "report.tex", "report.html"] {
        let got = fs::read_to_string(out.join(name)).unwrap();
        let path = golden_dir().join(name);
        if bless {
            fs::create_dir_all(golden_dir()).unwrap();
            fs::write(&path, &got).unwrap();
            eprintln!("blessed {}", path.display());
            continue;
        }
        let want = fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing (run with LCR_BLESS=1 to create)", path.display()));
        if got != want {
            failures.push(format!("{name} differs from its golden file, {}", first_difference(&got, &want)));
        }
    }
    // The plots: one SVG per chart, the same ones the HTML page inlines.
    let mut plots: Vec<String> = fs::read_dir(out.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    plots.sort();
    let list = plots.join("\n") + "\n";
    let path = golden_dir().join("plots.txt");
    if bless {
        fs::write(&path, &list).unwrap();
    } else if fs::read_to_string(&path).ok().as_deref() != Some(list.as_str()) {
        failures.push(format!("the plot files differ from {}:\n{list}", path.display()));
    }
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    for p in &plots {
        let svg = fs::read_to_string(out.join("plots").join(p)).unwrap();
        let id = p.trim_end_matches(".svg");
        let inline = svg.replacen("<svg ", &format!("<svg data-plot=\"{id}\" "), 1);
        assert!(html.contains(&inline), "{p} is not inlined in report.html as written to plots/");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn latex_is_ascii_and_csv_lines_have_every_field() {
    let (_root, _runs, out) = study();
    let tex = fs::read_to_string(out.join("report.tex")).unwrap();
    if let Some((i, c)) = tex.char_indices().find(|(_, c)| !c.is_ascii()) {
        panic!("report.tex holds {c:?} at byte {i}, which pdfLaTeX's utf8 input cannot typeset");
    }
    assert!(tex.contains("\\toprule") && tex.contains("\\midrule") && tex.contains("\\bottomrule"));
    let csv = fs::read_to_string(out.join("report.csv")).unwrap();
    let header_fields = csv.lines().next().unwrap().split(',').count();
    for line in csv.lines() {
        assert_eq!(csv_fields(line).len(), header_fields, "{line}");
    }
}

#[test]
fn latex_compiles_where_pdflatex_is_installed() {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("pdflatex").is_file()));
    if !found {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "note: pdflatex is not installed; report.tex was not compiled");
        return;
    }
    let (_root, _runs, out) = study();
    let o = std::process::Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "report.tex"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(out.join("report.pdf").is_file());
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The cell of `report.json`'s table `table` in the row whose text cells start with `key` (and whose numbers
/// are about `function`, when given), under the column `column`.
fn cell(report: &Value, table: &str, key: &[&str], function: Option<&str>, column: &str) -> Value {
    let t = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap().iter())
        .find(|t| t["id"] == table)
        .unwrap_or_else(|| panic!("no table {table}"));
    let col = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            let cells = r.as_array().unwrap();
            key.iter().enumerate().all(|(i, k)| cells[i]["text"] == *k)
                && function.is_none_or(|f| cells[col]["function"] == f)
        })
        .unwrap_or_else(|| panic!("no row {key:?} ({function:?}) in {table}"));
    row[col].clone()
}

/// The per-seed values of a number cell, in seed order.
fn seed_values(c: &Value) -> Vec<(u64, f64)> {
    c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["seed"].as_u64().unwrap(), v["value"].as_f64().unwrap()))
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn run_dir(runs: &[PathBuf], name: &str) -> PathBuf {
    runs.iter().find(|r| r.ends_with(name)).unwrap().clone()
}

/// Median as the textbook defines it.
fn textbook_median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

const TOL: f64 = 1e-12;

#[test]
fn figures_rederived_from_the_run_files_are_the_reports() {
    let (_root, runs, out) = study();
    let report = read_json(&out.join("report.json"));
    let md = fs::read_to_string(out.join("report.md")).unwrap();

    // Certified accuracy of the surrogate's best certificate at ℓ2 ε = 0.1, LCR runs: the fraction of all
    // certified images whose best pixel-unit radius exceeds 0.1.
    let c = cell(
        &report,
        "certified-accuracy-l2",
        &["lcr_weight=0.001", "best"],
        Some("surrogate"),
        "ε = 0.1 (%)",
    );
    assert_eq!(c["soundness"], "certified");
    for (seed, value) in seed_values(&c) {
        let certs = read_json(&run_dir(&runs, &format!("lcr-s{seed}")).join("certificates.json"));
        let samples = certs["samples"].as_array().unwrap();
        let above =
            samples.iter().filter(|s| s["best_pixel"]["surrogate"]["l2"].as_f64().unwrap() > 0.1).count();
        assert!((value - above as f64 / samples.len() as f64).abs() < TOL, "seed {seed}: {value} vs {above}");
    }

    // Median certified and empirical radius and their median ratio, deployed ℓ2, baseline: over the attacked
    // images the function classifies correctly.
    let key = ["lcr_weight=0.0", "l2"];
    let ratio = cell(&report, "radii", &key, Some("deployed"), "median certified / empirical");
    let certified = cell(&report, "radii", &key, Some("deployed"), "median certified radius");
    assert_eq!(
        (ratio["soundness"].as_str(), certified["soundness"].as_str()),
        (Some("estimate"), Some("certified"))
    );
    assert_eq!(certified["rounding"], "down");
    for (seed, value) in seed_values(&ratio) {
        let dir = run_dir(&runs, &format!("baseline-s{seed}"));
        let (certs, emp) =
            (read_json(&dir.join("certificates.json")), read_json(&dir.join("empirical.json")));
        let mut ratios = Vec::new();
        let mut cert_radii = Vec::new();
        for s in emp["samples"].as_array().unwrap() {
            if s["prediction"]["deployed"] != s["label"] {
                continue;
            }
            let k = s["index"].as_u64().unwrap() as usize;
            let c = certs["samples"][k]["best_pixel"]["deployed"]["l2"].as_f64().unwrap();
            let e = s["radius_pixel"]["deployed"]["l2"].as_f64().unwrap();
            cert_radii.push(c);
            if c > 0.0 {
                ratios.push(c / e);
            }
        }
        assert!((value - textbook_median(ratios)).abs() < TOL, "seed {seed}");
        let reported = seed_values(&certified).into_iter().find(|v| v.0 == seed).unwrap().1;
        assert!((reported - textbook_median(cert_radii)).abs() < TOL, "seed {seed}");
    }

    // mCE of the LCR runs on cifar-c: the mean over the benchmark corruptions present of
    // Σ_s error / Σ_s the reference's error.
    let c = cell(&report, "corruption-cifar-c-summary", &["lcr_weight=0.001"], None, "mCE (%)");
    for (seed, value) in seed_values(&c) {
        let file = read_json(&run_dir(&runs, &format!("lcr-s{seed}")).join("corruption.json"));
        let s = &file["suites"]["cifar-c"];
        let mut ces = Vec::new();
        for name in ["gaussian_noise", "fog", "contrast"] {
            let ours: f64 = s["corruptions"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
                ["errors"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            let theirs: f64 = s["reference_errors"]["errors"][name]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            ces.push(ours / theirs);
        }
        let mce = ces.iter().sum::<f64>() / ces.len() as f64;
        assert!((value - mce).abs() < TOL, "seed {seed}: {value} vs {mce}");
    }
    assert!(md.contains(
        "| reference: baseline-s1 (mlp on mnist, deployed); baseline-s2 (mlp on mnist, deployed) |"
    ));

    // Mean ± sample sd over the two seeds of the baseline's clean accuracy (0.97 and 0.98).
    let c = cell(&report, "training", &["lcr_weight=0.0"], None, "clean accuracy (%)");
    let values: Vec<f64> = ["baseline-s1", "baseline-s2"]
        .iter()
        .map(|n| {
            read_json(&run_dir(&runs, n).join("metrics.json"))["final"]["test_accuracy"].as_f64().unwrap()
        })
        .collect();
    let mean = (values[0] + values[1]) / 2.0;
    let sd = ((values[0] - mean).powi(2) + (values[1] - mean).powi(2)).sqrt();
    assert!((c["mean"].as_f64().unwrap() - mean).abs() < TOL);
    assert!((c["sd"].as_f64().unwrap() - sd).abs() < TOL);
    assert_eq!(c["text"], "97.50 ± 0.71 (97.00, 98.00)");
    assert!(md.contains("| 97.50 ± 0.71 (97.00, 98.00) |"));

    // The difference LCR − baseline, paired by seed: (0.96 − 0.97, 0.98 − 0.98).
    let c = cell(&report, "compare", &["clean accuracy (%)"], None, "difference");
    assert_eq!(c["paired"], true);
    assert!((c["difference"].as_f64().unwrap() + 0.005).abs() < TOL);
    assert_eq!(c["verdict"], "within");
}

#[test]
fn certified_figures_are_printed_on_their_safe_side() {
    let (_root, runs, out) = study();
    let report = read_json(&out.join("report.json"));
    // The surrogate's certified LP bound is rounded up, the sampled lower bound down (4 significant digits).
    let lp = cell(
        &report,
        "bounds",
        &["lcr_weight=0.0", "lp-global", "linf-margin", "network"],
        Some("surrogate"),
        "value",
    );
    let file = read_json(&run_dir(&runs, "baseline-s1").join("bounds.json"));
    let exact =
        file["bounds"].as_array().unwrap().iter().find(|b| b["method"] == "lp-global").unwrap()["value"]
            .as_f64()
            .unwrap();
    assert_eq!(exact, 3012.5);
    assert_eq!(lp["rounding"], "up");
    // Seeds give 3012.5 and 3025: the mean 3018.75 and the first seed's value print rounded up.
    assert_eq!(lp["text"], "3019 ± 8.839 (3013, 3025)");
    let lower = cell(
        &report,
        "bounds",
        &["lcr_weight=0.0", "sampled-gradient", "l2", "network"],
        Some("latent"),
        "value",
    );
    assert_eq!(lower["rounding"], "down");
    // Seeds give 1.375 and 1.5; their mean 1.4375 prints as 1.437 rounded down.
    assert!(lower["text"].as_str().unwrap().starts_with("1.437 ± "), "{}", lower["text"]);
}

#[test]
fn a_rerun_writes_the_same_bytes_whatever_the_order_of_the_runs() {
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let mut reversed = runs.clone();
    reversed.reverse();
    let mut outs = Vec::new();
    for (k, order) in [runs, reversed].iter().enumerate() {
        let out = root.path().join(format!("report-{k}"));
        let mut cmd = bin();
        cmd.arg("report").args(order).arg("--out").arg(&out);
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(out);
    }
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = Vec::new();
        for sub in [d.to_path_buf(), d.join("plots")] {
            for e in fs::read_dir(&sub).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    v.push((p.strip_prefix(d).unwrap().display().to_string(), fs::read(&p).unwrap()));
                }
            }
        }
        v.sort();
        v
    };
    let (a, b) = (files(&outs[0]), files(&outs[1]));
    assert_eq!(a.len(), 5 + fs::read_dir(outs[0].join("plots")).unwrap().count());
    assert_eq!(a.iter().map(|x| &x.0).collect::<Vec<_>>(), b.iter().map(|x| &x.0).collect::<Vec<_>>());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between the two runs");
    }
}

#[test]
fn formats_are_chosen_and_the_default_directory_is_beside_the_first_run() {
    let root = tempfile::tempdir().unwrap();
    let runs = write_study(root.path());
    let o = bin().arg("report").args(&runs).args(["--format", "md,json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = root.path().join("runs/report");
    let mut names: Vec<String> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    // The Markdown's plots come with it.
    assert_eq!(names, ["plots", "report.json", "report.md"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.md"));
    let o = bin().arg("report").args(&runs).args(["--format", "pdf"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn stages_that_did_not_run_say_so() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    write_training(&a, Spec { lambda: 0.0, seed: 1 });
    write_training(&b, Spec { lambda: 1e-3, seed: 1 });
    write_bounds(&b, Spec { lambda: 1e-3, seed: 1 });
    let out = root.path().join("out");
    run(&ReportRequest { runs: vec![a, b], formats: vec![], out: Some(out.clone()) }).unwrap();
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "not run: no run directory holds a current certificates.json or empirical.json",
        "not run: no run directory holds a current empirical.json",
        "not run: no run directory holds a current corruption.json",
        "Runs without a current bounds.json are left out of these figures: ../a (not run).",
        "| lcr_weight=0.0 | 1 | ../a | mnist mlp [16, 16] | 0 | 3 epochs | not run | not run | not run | not run |",
    ] {
        assert!(md.contains(needle), "`{needle}` not in the report:\n{md}");
    }
    // The HTML page still draws its (training and retention) plots.
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<figure id=\"plot-training-test-accuracy\">"));
}

#[test]
fn stage_files_about_another_model_are_left_out() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    write_full_run(&dir, Spec { lambda: 0.0, seed: 1 });
    fs::write(dir.join("model.safetensors"), b"retrained since").unwrap();
    let out = root.path().join("out");
    run(&ReportRequest { runs: vec![dir], formats: vec![], out: Some(out.clone()) }).unwrap();
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| 3 epochs | stale | stale | stale | stale |"), "{md}");
    assert!(md.contains("not run: no run directory holds a current bounds.json"));
    assert!(md.contains("LCR minus baseline\n\nnot run"));
}

fn assert_exit_2(o: &std::process::Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn bad_input_exits_2_naming_the_directory_or_file() {
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good");
    write_full_run(&good, Spec { lambda: 0.0, seed: 1 });
    let empty = root.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let out = root.path().join("out");
    let report = |dirs: &[&Path]| bin().arg("report").args(dirs).arg("--out").arg(&out).output().unwrap();

    let o = report(&[&good, &empty]);
    assert_exit_2(&o, &[&empty.display().to_string(), "not a run directory", "config.toml"]);
    let o = report(&[&root.path().join("nowhere")]);
    assert_exit_2(&o, &["nowhere", "not a run directory"]);
    assert!(!out.exists(), "nothing is written when an input is refused");

    // The same configuration and seed twice.
    let twin = root.path().join("twin");
    write_full_run(&twin, Spec { lambda: 0.0, seed: 1 });
    let o = report(&[&good, &twin]);
    assert_exit_2(&o, &["same configuration and seed 1"]);

    // A malformed stage file is named.
    fs::write(twin.join("bounds.json"), b"{ \"format\": 2, \"bounds\": [").unwrap();
    let o = report(&[&twin]);
    assert_exit_2(&o, &[&twin.join("bounds.json").display().to_string()]);
    fs::write(twin.join("metrics.json"), b"[]").unwrap();
    let o = report(&[&twin]);
    assert_exit_2(&o, &[&twin.join("metrics.json").display().to_string(), "not training metrics"]);
    assert!(!out.exists());
}
