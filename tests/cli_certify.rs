//! `certify`, `attack` and the audits end to end on trained tiny models: the certificates hold against the
//! attacks and the corruptions, the order certified ≤ exact ≤ empirical holds per sample, a false certificate
//! is caught (exit 1, the pair written out), and bad input is refused (exit 2) without touching earlier files.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, write_mnist_like};
use serde_json::Value;

/// Slack for comparing two independently computed radii of the same sample: the exact bracket's two sides
/// differ by the solver's interior push (about 1e-7 absolute).
const EXACT_GAP: f64 = 1e-5;

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

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// A trained 8-8 MLP (eight units in its first sign layer: small enough for the exact and local LP methods) with
/// its bounds, in `root/run`.
fn trained(root: &Path) -> PathBuf {
    let data = write_mnist_like(&root.join("data"), 120, 40, 5);
    let out = root.join("run");
    let d = data.to_str().unwrap();
    let o = run(&[
        "train",
        "--data-dir",
        d,
        "--epochs",
        "3",
        "--batch-size",
        "20",
        "--widths",
        "8,8",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    ok(&run(&["bound", out.to_str().unwrap(), "--methods", "spectral,lp", "--domain-scope", "--quiet"]));
    out
}

fn radius(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::INFINITY)
}

#[test]
fn certificates_hold_against_attacks_and_corruptions() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path());
    let d = dir.to_str().unwrap();
    ok(&run(&["certify", d, "--quiet"]));
    let cert = json(&dir.join("certificates.json"));
    let methods: Vec<String> = cert["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}/{}",
                m["function"].as_str().unwrap(),
                m["norm"].as_str().unwrap(),
                m["method"].as_str().unwrap()
            )
        })
        .collect();
    for m in [
        "deployed/l2/sign-stability",
        "deployed/linf/bound-propagation",
        "deployed/l2/exact",
        "surrogate/l2/margin",
        "surrogate/linf/local-lp",
        "latent/linf/margin",
        "surrogate/linf/margin-domain",
        "latent/l2/margin-domain",
    ] {
        assert!(methods.iter().any(|x| x == m), "{m} missing from {methods:?}");
    }
    assert_eq!(cert["samples"].as_array().unwrap().len(), 40);
    // Domain constants are never above the network ones, so the domain radii never fall below the margin radii.
    for s in cert["samples"].as_array().unwrap() {
        for (f, norm) in [("surrogate", "linf"), ("latent", "l2")] {
            let r = &s["radius"][f][norm];
            assert!(radius(&r["margin-domain"]) >= radius(&r["margin"]), "{f} {norm}: {s}");
        }
    }
    // Per sample: bound propagation never below sign stability; every certificate of the deployed net at most the
    // exact minimal perturbation's upper side.
    let (mut positive, mut bracketed) = (0, 0);
    for s in cert["samples"].as_array().unwrap() {
        for norm in ["l2", "linf"] {
            let r = &s["radius"]["deployed"][norm];
            assert!(radius(&r["bound-propagation"]) >= radius(&r["sign-stability"]), "{s}");
            let upper = radius(&s["exact"][norm]["upper"]);
            for m in ["sign-stability", "bound-propagation", "exact"] {
                assert!(radius(&r[m]) <= upper + EXACT_GAP, "{m} above the exact radius: {s}");
            }
            positive += usize::from(radius(&r["sign-stability"]) > 0.0);
            bracketed += usize::from(upper.is_finite());
        }
    }
    // The comparisons above are not vacuous: correctly classified samples have a positive certificate, and the
    // exact radius is finite.
    assert!(positive >= 10 && bracketed >= 40, "positive {positive}, bracketed {bracketed} of 80");
    ok(&run(&["attack", d, "--samples", "20", "--steps", "10", "--quiet"]));
    let emp = json(&dir.join("empirical.json"));
    for a in emp["audit"].as_array().unwrap() {
        assert_eq!(a["violations"], 0, "{a}");
    }
    assert!(emp["audit"].as_array().unwrap().iter().any(|a| a["checked"].as_u64().unwrap() > 0));
    assert!(emp["violation_records"].as_array().unwrap().is_empty());
    // Per sample: exact lower side ≤ empirical radius (the attack cannot beat the exact value), in the same norm.
    let mut found = 0;
    for (s, e) in cert["samples"].as_array().unwrap().iter().zip(emp["samples"].as_array().unwrap()) {
        for norm in ["l2", "linf"] {
            let lower = radius(&s["exact"][norm]["lower"]);
            let empirical = radius(&e["radius"]["deployed"][norm]);
            assert!(lower <= empirical, "exact {lower} > empirical {empirical} at sample {}", e["index"]);
            found += usize::from(empirical.is_finite() && lower > 0.0);
        }
    }
    assert!(found >= 10, "only {found} of 40 comparisons had both sides");
    // Certified accuracy ≤ robust accuracy ≤ clean accuracy at every ε.
    for c in emp["curves"].as_array().unwrap() {
        let f = c["function"].as_str().unwrap();
        let clean = emp["accuracy"][f].as_f64().unwrap();
        let ca = c["certified_accuracy"].as_array().unwrap();
        for (k, ra) in c["robust_accuracy"].as_array().unwrap().iter().enumerate() {
            let (ra, ca) = (ra.as_f64().unwrap(), ca[k].as_f64().unwrap());
            assert!(ca <= ra && ra <= clean, "{f} {}: CA {ca} RA {ra} clean {clean}", c["norm"]);
        }
    }
    // The corruption audit runs with robustness and records its findings in corruption.json. Saturation leaves
    // gray images unchanged at severities 1–3, so those copies lie inside every positive certificate's ball and
    // are checked; the others lie far outside.
    let o = run(&[
        "robustness",
        d,
        "--suite",
        "cifar-c",
        "--corruptions",
        "brightness,contrast,gaussian_noise,saturate",
        "--severities",
        "1,5",
        "--quiet",
    ]);
    ok(&o);
    let report = json(&dir.join("corruption.json"));
    let audit = &report["suites"]["cifar-c"]["audit"]["ran"];
    assert_eq!(audit["samples"], 40, "{audit}");
    for c in audit["checks"].as_array().unwrap() {
        assert_eq!(c["violations"], 0, "{c}");
        assert!(c["checked"].as_u64().unwrap() > 0, "no image checked: {c}");
    }
    assert_eq!(audit["cells"].as_array().unwrap().len(), 4 * 2 * 6);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("corruption audit over 40 certified samples"), "{stdout}");
}

#[test]
fn fixed_budget_attacks_report_rising_success_and_json() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path());
    let d = dir.to_str().unwrap();
    let o = run(&["certify", d, "--json", "--quiet"]);
    ok(&o);
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, json(&dir.join("certificates.json")), "--json prints the file it writes");
    // Success rates against ε (pixel units): rising to 1 at a budget covering the whole pixel box, PGD ≥ FGSM.
    let rates = |attack: &str, function: &str| -> Vec<f64> {
        let o = run(&[
            "attack",
            d,
            "--attack",
            attack,
            "--norm",
            "linf",
            "--functions",
            function,
            "--eps",
            "0.01,0.1,0.3,1",
            "--samples",
            "20",
            "--steps",
            "10",
            "--restarts",
            "2",
            "--json",
            "--quiet",
        ]);
        ok(&o);
        let e: Value = serde_json::from_slice(&o.stdout).unwrap();
        e["success"][0]["success_rate"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let fgsm = rates("fgsm", "surrogate");
    let pgd = rates("pgd", "surrogate");
    for k in 0..4 {
        assert!(pgd[k] >= fgsm[k], "PGD {pgd:?} below FGSM {fgsm:?}");
        if k > 0 {
            assert!(pgd[k] >= pgd[k - 1], "PGD success falls with ε: {pgd:?}");
        }
    }
    assert_eq!(pgd[3], 1.0, "{pgd:?}");
    // The label-only attack finds examples for the sign network too; its success can only rise with ε (one
    // search per image, counted at every budget its distance fits).
    let decision = rates("decision", "deployed");
    assert!(decision.windows(2).all(|w| w[0] <= w[1]) && decision[3] > 0.5, "{decision:?}");
}

#[test]
fn a_false_certificate_is_caught_by_both_audits() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path());
    let d = dir.to_str().unwrap();
    ok(&run(&["certify", d, "--functions", "surrogate", "--norm", "l2", "--quiet"]));
    // Inflate sample 3's margin certificate a thousandfold: a wrong certificate the audits must catch.
    let path = dir.join("certificates.json");
    let mut cert = json(&path);
    let r = &mut cert["samples"][3]["radius"]["surrogate"]["l2"]["margin"];
    let inflated = r.as_f64().unwrap().max(1e-3) * 1000.0;
    *r = Value::from(inflated);
    fs::write(&path, serde_json::to_vec(&cert).unwrap()).unwrap();
    let o = run(&[
        "attack",
        d,
        "--functions",
        "surrogate",
        "--norm",
        "l2",
        "--samples",
        "5",
        "--steps",
        "10",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("adversarial-surrogate-l2-3-"), "{err}");
    let emp = json(&dir.join("empirical.json"));
    let record = json(Path::new(emp["violation_records"][0].as_str().unwrap()));
    assert_eq!(record["sample"], 3);
    assert_eq!(record["certified_radius"].as_f64().unwrap(), inflated);
    assert!(record["distance"].as_f64().unwrap() < inflated);
    assert_eq!(record["input"].as_array().unwrap().len(), 784);
    assert_eq!(record["perturbed"].as_array().unwrap().len(), 784);
    // The corruption audit: with a radius of 10⁶ for every sample, every corrupted image is inside its ball, and
    // the heaviest contrast loss and impulse noise change some labels.
    for s in cert["samples"].as_array_mut().unwrap() {
        s["radius"]["surrogate"]["l2"]["margin"] = Value::from(1e6);
    }
    fs::write(&path, serde_json::to_vec(&cert).unwrap()).unwrap();
    let o = run(&[
        "robustness",
        d,
        "--suite",
        "cifar-c",
        "--corruptions",
        "contrast,impulse_noise",
        "--severities",
        "5",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let report = json(&dir.join("corruption.json"));
    let checks = &report["suites"]["cifar-c"]["audit"]["ran"]["checks"][0];
    assert!(checks["violations"].as_u64().unwrap() > 0, "{checks}");
    assert!(
        fs::read_dir(dir.join("violations")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("corruption-surrogate-l2-"))
    );
}

#[test]
fn bad_requests_are_refused_and_stale_inputs_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = trained(root.path());
    let d = dir.to_str().unwrap();
    let refused = |args: &[&str], needle: &str| {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    refused(&["certify", d, "--samples", "0"], "samples");
    refused(&["attack", d, "--samples", "0"], "samples");
    refused(&["attack", d, "--eps", "0.1,-1"], "eps");
    refused(&["attack", d, "--attack", "nope"], "nope");
    refused(&["certify", root.path().join("missing").to_str().unwrap()], "missing");
    assert!(!dir.join("certificates.json").exists() && !dir.join("empirical.json").exists());
    // Bounds about another model: the certify stage names the file and the remedy.
    ok(&run(&["certify", d, "--quiet"]));
    let before = fs::read(dir.join("certificates.json")).unwrap();
    let other = root.path().join("other");
    let data = root.path().join("data");
    ok(&run(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--widths",
        "4,4",
        "--seed",
        "9",
        "--quiet",
        "--out",
        other.to_str().unwrap(),
    ]));
    fs::copy(dir.join("bounds.json"), other.join("bounds.json")).unwrap();
    refused(&["certify", other.to_str().unwrap()], "re-run `lcr-verify bound`");
    fs::copy(dir.join("certificates.json"), other.join("certificates.json")).unwrap();
    refused(&["attack", other.to_str().unwrap(), "--samples", "2"], "re-run `lcr-verify certify`");
    refused(
        &["robustness", other.to_str().unwrap(), "--suite", "cifar-c", "--limit", "2"],
        "re-run `lcr-verify certify`",
    );
    assert_eq!(fs::read(dir.join("certificates.json")).unwrap(), before);
    // A truncated certificates file is refused by the stages that read it.
    fs::write(dir.join("certificates.json"), &before[..before.len() / 2]).unwrap();
    refused(&["attack", d, "--samples", "2"], "certificates.json");
}
