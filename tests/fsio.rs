//! File helpers: reads of regular files only (never blocking on a pipe), reads that hash as they go.

use std::fs;

use lcr_verify::Error;
use lcr_verify::fsio::{self, open_regular, read, read_with_sha256, sha256_hex};

#[test]
fn regular_files_are_read_whole_and_hashed_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.bin");
    // Larger than one hashing piece (1 MiB), so that the digest spans several pieces.
    let bytes: Vec<u8> = (0..3_000_001u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&path, &bytes).unwrap();
    assert_eq!(read(&path).unwrap(), bytes);
    let (got, digest) = read_with_sha256(&path).unwrap();
    assert_eq!(got, bytes);
    assert_eq!(digest, sha256_hex(&bytes));
    let blake = lcr_verify::digest::DigestKind::Blake3;
    assert_eq!(fsio::read_with_digest(&path, blake).unwrap(), (bytes.clone(), blake.hex(&bytes)));
    let empty = dir.path().join("empty");
    fs::write(&empty, b"").unwrap();
    assert_eq!(read_with_sha256(&empty).unwrap(), (Vec::new(), sha256_hex(b"")));
    assert!(matches!(read(&dir.path().join("none")), Err(Error::Missing { .. })));
}

#[test]
fn directories_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = read(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&dir.path().display().to_string()) && err.contains("a directory"), "{err}");
}

/// Issue 9, item 6: a named pipe where a file is expected blocked every reader forever; it is now refused at
/// once, by name, by every read helper. A writer-less pipe would block a plain `open` indefinitely, so this test
/// finishing at all is part of what it checks.
#[cfg(unix)]
#[test]
fn named_pipes_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("model.safetensors");
    assert!(std::process::Command::new("mkfifo").arg(&pipe).status().unwrap().success());
    let start = std::time::Instant::now();
    for err in [
        open_regular(&pipe).map(|_| ()).unwrap_err(),
        read(&pipe).map(|_| ()).unwrap_err(),
        read_with_sha256(&pipe).map(|_| ()).unwrap_err(),
        fsio::read_maybe_gz(&pipe).map(|_| ()).unwrap_err(),
        fsio::file_sha256(&pipe).map(|_| ()).unwrap_err(),
        lcr_verify::corrupt::npy::read_header(&pipe).map(|_| ()).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(text.contains("model.safetensors") && text.contains("named pipe"), "{text}");
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // A character device that never ends.
    let err = read(std::path::Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(err.contains("/dev/zero") && err.contains("character device"), "{err}");
    // A symbolic link to a regular file is followed; one to a pipe is refused.
    let target = dir.path().join("real");
    fs::write(&target, b"ok").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(read(&link).unwrap(), b"ok");
    let to_pipe = dir.path().join("to-pipe");
    std::os::unix::fs::symlink(&pipe, &to_pipe).unwrap();
    assert!(read(&to_pipe).unwrap_err().to_string().contains("named pipe"));
}
