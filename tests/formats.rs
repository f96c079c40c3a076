//! Format versions (issue 9, item 4): every versioned file lcr-verify reads refuses a format newer than this
//! build knows, naming the file; `src/format.rs` holds the rule, this file checks each reader.

use std::path::Path;

use lcr_verify::attack::EmpiricalFile;
use lcr_verify::bounds::BoundsFile;
use lcr_verify::certify::CertificatesFile;
use lcr_verify::robustness::{CORRUPTION_FORMAT, CorruptionFile};

fn write(dir: &Path, name: &str, json: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

fn assert_refused(result: lcr_verify::Result<()>, path: &Path, needle: &str) {
    let err = result.unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains(needle), "{err}");
}

#[test]
fn later_formats_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let later = |name: &str| {
        write(dir.path(), name, r#"{"format": 99, "version": "0.1.0", "generator": "lcr-verify 0.1.0"}"#)
    };
    let p = later("certificates.json");
    assert_refused(CertificatesFile::read(&p).map(|_| ()), &p, "written by a later lcr-verify");
    let p = later("empirical.json");
    assert_refused(EmpiricalFile::read(&p).map(|_| ()), &p, "written by a later lcr-verify");
    let p = later("bounds.json");
    assert_refused(BoundsFile::read(&p).map(|_| ()), &p, "a later");
    let p = later("corruption.json");
    assert_refused(CorruptionFile::read(&p).map(|_| ()), &p, "format 99");
}

#[test]
fn corruption_reports_check_format_and_writer() {
    let dir = tempfile::tempdir().unwrap();
    // The current format and version read; a file without `format` predates it and reads as format 1.
    let ok = write(dir.path(), "a.json", r#"{"format": 1, "generator": "lcr-verify 0.1.0", "suites": {}}"#);
    assert_eq!(CorruptionFile::read(&ok).unwrap().format, CORRUPTION_FORMAT);
    let old = write(dir.path(), "b.json", r#"{"generator": "lcr-verify 0.1.0", "suites": {}}"#);
    assert_eq!(CorruptionFile::read(&old).unwrap().format, 1);
    let newer = write(dir.path(), "c.json", r#"{"generator": "lcr-verify 7.0.0", "suites": {}}"#);
    assert_refused(CorruptionFile::read(&newer).map(|_| ()), &newer, "7.0.0");
    let broken = write(dir.path(), "d.json", r#"{"format": "one"}"#);
    assert_refused(CorruptionFile::read(&broken).map(|_| ()), &broken, "not a corruption report");
}
