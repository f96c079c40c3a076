//! The `.npy` reader and writer: round trips, the header variants NumPy writes, and malformed files.

use std::path::Path;

use lcr_verify::corrupt::npy::{self, Dtype, NpyWriter};
use lcr_verify::digest::DigestKind;

fn p() -> &'static Path {
    Path::new("test.npy")
}

/// A header as NumPy 1.x writes it for `descr` / `shape` (version 1.0, padded to 64 bytes).
fn numpy_header(descr: &str, fortran: bool, shape: &str) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A version 1.0 file whose header is exactly `dict` (plus the newline).
fn raw_header(dict: &str) -> Vec<u8> {
    let text = format!("{dict}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

#[test]
fn round_trip_and_alignment() {
    let data: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
    let bytes = npy::to_bytes_u8(&[2, 3, 4], &data);
    assert_eq!(npy::header(&[2, 3, 4], Dtype::U8).len() % 64, 0, "data starts 64-byte aligned");
    let a = npy::parse(p(), &bytes).unwrap();
    assert_eq!((a.shape.clone(), a.dtype, a.data.clone()), (vec![2, 3, 4], Dtype::U8, data));
    // 1-D shapes use the one-element tuple syntax.
    let one = npy::to_bytes_u8(&[5], &[1, 2, 3, 4, 5]);
    assert!(String::from_utf8_lossy(&one).contains("'shape': (5,)"));
    assert_eq!(npy::parse(p(), &one).unwrap().shape, vec![5]);
}

#[test]
fn reads_what_numpy_writes_including_int64_labels() {
    let mut bytes = numpy_header("<i8", false, "(3,)");
    for v in [7i64, 0, 255] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let a = npy::parse(p(), &bytes).unwrap();
    assert_eq!(a.labels(p()).unwrap(), vec![7, 0, 255]);
    let mut big = numpy_header(">u2", false, "(2,)");
    big.extend_from_slice(&[0, 3, 0, 9]);
    assert_eq!(npy::parse(p(), &big).unwrap().labels(p()).unwrap(), vec![3, 9]);
    let mut scalar_shape = numpy_header("|u1", false, "()");
    scalar_shape.push(42);
    assert_eq!(npy::parse(p(), &scalar_shape).unwrap().len(), 1);
}

#[test]
fn malformed_files_are_rejected_with_the_reason() {
    let good = npy::to_bytes_u8(&[2, 2], &[1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad magic", b"PK\x03\x04 not numpy at all".to_vec(), "bad magic"),
        ("empty", Vec::new(), "bad magic"),
        ("truncated header", good[..20].to_vec(), "truncated .npy header"),
        ("truncated data", good[..good.len() - 1].to_vec(), "truncated or padded"),
        ("padded data", [good.clone(), vec![0]].concat(), "truncated or padded"),
        ("version 9", [b"\x93NUMPY\x09\x00".to_vec(), good[8..].to_vec()].concat(), "version 9"),
        ("fortran order", [numpy_header("|u1", true, "(2, 2)"), vec![1, 2, 3, 4]].concat(), "Fortran"),
        ("float dtype", [numpy_header("<f4", false, "(1,)"), vec![0; 4]].concat(), "not an integer type"),
        (
            "structured dtype",
            raw_header("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }"),
            "not a string",
        ),
        ("no shape", raw_header("{'descr': '|u1', 'fortran_order': False}"), "no 'shape'"),
        (
            "bad fortran flag",
            raw_header("{'descr': '|u1', 'fortran_order': 0, 'shape': (1,)}"),
            "True or False",
        ),
        ("non-integer shape", [numpy_header("|u1", false, "(2, x)"), vec![0; 4]].concat(), "non-integer"),
        ("not a dict", [b"\x93NUMPY\x01\x00\x05\x00".to_vec(), b"hello".to_vec()].concat(), "not a dict"),
    ];
    for (what, bytes, needle) in cases {
        let err = npy::parse(p(), &bytes).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("test.npy") && err.contains(needle), "{what}: {err}");
    }
    let neg = [numpy_header("<i2", false, "(1,)"), (-3i16).to_le_bytes().to_vec()].concat();
    let err = npy::parse(p(), &neg).unwrap().labels(p()).unwrap_err().to_string();
    assert!(err.contains("-3"), "{err}");
    let err = npy::parse(p(), &[numpy_header("<u2", false, "(1,)"), vec![0, 1]].concat())
        .unwrap()
        .into_u8(p())
        .unwrap_err();
    assert!(err.to_string().contains("uint8"), "{err}");
}

#[test]
fn header_only_reads_check_the_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    npy::write_u8(&path, &[3, 4], &[0; 12]).unwrap();
    let h = npy::read_header(&path).unwrap();
    assert_eq!(h.shape, vec![3, 4]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
    assert!(npy::read_header(&path).unwrap_err().to_string().contains("truncated"));
    assert!(matches!(npy::read_header(&dir.path().join("none.npy")), Err(lcr_verify::Error::Missing { .. })));
    assert!(npy::write_u8(&path, &[3, 4], &[0; 11]).is_err(), "shape and data must agree");
}

#[test]
fn the_streaming_writer_never_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.npy");
    for kind in [DigestKind::Blake3, DigestKind::Sha256] {
        let mut w = NpyWriter::create(&path, &[2, 3], kind).unwrap();
        w.write(&[1, 2, 3]).unwrap();
        w.write(&[4, 5, 6]).unwrap();
        assert!(w.write(&[7]).is_err(), "past the declared shape");
        let digest = w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(digest, kind.hex(&bytes), "{}", kind.name());
        assert_eq!(npy::parse(&path, &bytes).unwrap().data, vec![1, 2, 3, 4, 5, 6]);
    }

    let other = dir.path().join("t.npy");
    let mut w = NpyWriter::create(&other, &[2, 3], DigestKind::WRITTEN).unwrap();
    w.write(&[1, 2, 3]).unwrap();
    assert!(w.finish().is_err(), "too little data");
    let w = NpyWriter::create(&other, &[1], DigestKind::WRITTEN).unwrap();
    drop(w);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("s.npy")], "no temporaries, no partial t.npy");
}

/// Regression (issue 9): a bool `.npy` was read as uint8, so a 0/1 mask became a nearly black image and was
/// scored. Bool is refused for images and labels alike, in a full read and a header-only read.
#[test]
fn bool_arrays_are_refused_not_read_as_uint8() {
    let bytes = [numpy_header("|b1", false, "(1, 2, 2)"), vec![1, 0, 1, 1]].concat();
    let err = npy::parse(p(), &bytes).unwrap_err().to_string();
    assert!(err.contains("test.npy") && err.contains("bool") && err.contains("uint8"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mask.npy");
    std::fs::write(&path, &bytes).unwrap();
    let err = npy::read_header(&path).unwrap_err().to_string();
    assert!(err.contains("mask.npy") && err.contains("bool"), "{err}");
    // The integer types stay readable.
    let ok = [numpy_header("|u1", false, "(1, 2, 2)"), vec![1, 0, 1, 1]].concat();
    assert_eq!(npy::parse(p(), &ok).unwrap().data, vec![1, 0, 1, 1]);
}

/// A header whose shape multiplies past `usize` is refused by name before anything is allocated.
#[test]
fn shapes_whose_size_overflows_are_refused() {
    let huge = format!("({}, {}, 3)", u64::MAX / 2, 5);
    let err = npy::parse(p(), &numpy_header("|u1", false, &huge)).unwrap_err().to_string();
    assert!(err.contains("test.npy") && err.contains("too large"), "{err}");
    // A product that wraps around to the real data size (2^63 · 2 = 2^64 ≡ 0 and 2^62 · 4 · 1 ≡ 0): still refused.
    let wraps = format!("({}, 2)", 1u64 << 63);
    let err = npy::parse(p(), &numpy_header("|u1", false, &wraps)).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
}
