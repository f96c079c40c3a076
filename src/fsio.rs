//! File helpers shared by every stage: atomic writes, reads of regular files only, and SHA-256 digests.
//!
//! Outputs are written to a temporary file in the destination's directory and renamed over the destination only
//! once complete, so a crash or an error never leaves a half-written file behind.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{DigestKind, Hasher};
use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a sibling temporary file is written, synced and renamed into place.
///
/// Errors name `path`, the file the caller asked for; the temporary appears only as a detail of the cause.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_renamed(path, bytes, true)
}

/// [`write_atomic`] without the sync: the file appears whole under its name (or not at all), but its contents
/// may not be on disk yet. For the many files of one set, made durable together by [`sync_files`] before the
/// manifest that lists them is written: one sync of the file system instead of one per file (on Linux, where
/// a sync per small file costs about as much processor time as writing it).
pub fn write_renamed_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    write_renamed(path, bytes, false)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut file =
            fs::File::create(&tmp).map_err(|e| Error::io("writing", path, via_temporary(e, &tmp)))?;
        file.write_all(bytes).map_err(|e| Error::io("writing", path, via_temporary(e, &tmp)))?;
        if sync {
            file.sync_all().map_err(|e| Error::io("writing", path, via_temporary(e, &tmp)))?;
        }
        fs::rename(&tmp, path).map_err(|e| Error::io("writing", path, via_temporary(e, &tmp)))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reserves the `len` bytes a file being written will hold (Linux `fallocate`), so that the file system
/// allocates its blocks in one call rather than block by block as the writes arrive (streaming a 38 MB `.npy`
/// file: about a quarter less system time), and so that a disk too small for the whole file is an error
/// before any work rather than after. A file system that cannot reserve space is left to allocate as usual.
/// Errors name `path`, the file the caller asked for.
pub fn reserve(file: &fs::File, path: &Path, len: u64) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Err(e) if e == Errno::NOSPC || e == Errno::FBIG => Err(Error::io(
                "writing",
                path,
                std::io::Error::other(format!("no room for its {len} bytes: {}", std::io::Error::from(e))),
            )),
            _ => Ok(()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, path, len);
        Ok(())
    }
}

/// Makes the files written by [`write_renamed_unsynced`] under `dir` durable: on Linux one `syncfs` of the
/// file system holding `dir`, elsewhere a sync of every file in `files`.
pub fn sync_files(dir: &Path, files: &[PathBuf]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        let handle = fs::File::open(dir).map_err(|e| Error::io("syncing", dir, e))?;
        rustix::fs::syncfs(&handle).map_err(|e| Error::io("syncing", dir, e.into()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for path in files {
            let file = fs::File::open(path).map_err(|e| Error::io("syncing", path, e))?;
            file.sync_all().map_err(|e| Error::io("syncing", path, e))?;
        }
        Ok(())
    }
}

/// Serialises `value` as pretty JSON (with a trailing newline) and writes it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::format(path, format!("cannot serialise JSON: {e}")))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// `e`, of the same kind, with the temporary file it happened on as a detail: an error about writing a file
/// names the file the user asked for, and mentions the hidden temporary only in its cause.
pub fn via_temporary(e: std::io::Error, tmp: &Path) -> std::io::Error {
    let name =
        tmp.file_name().map_or_else(|| tmp.display().to_string(), |n| n.to_string_lossy().into_owned());
    std::io::Error::new(e.kind(), format!("{e} (on the temporary file {name} beside it)"))
}

/// The temporary name used while `path` is being written: `.NAME.tmp-PID` in the same directory. A stage that
/// takes the directory's lock removes those of processes that no longer run ([`crate::lock`]).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether `path` exists. Anything but a plain "not found" (permission denied on a directory on the way, an I/O
/// error) is an error naming the path, never a quiet "no": a run directory that cannot be read must not look
/// like one without the file.
pub fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|e| Error::io("looking for", path, e))
}

/// What kind of file system object `meta` describes, in words (for errors about non-regular files).
fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

fn not_regular(path: &Path, meta: &fs::Metadata) -> Error {
    Error::format(
        path,
        format!("{}, not a regular file: refused (reading it could block or never end)", kind_of(meta)),
    )
}

/// Opens `path` for reading only if it is a regular file (after following symbolic links), and returns it with
/// its size.
///
/// A named pipe, a device, a socket or a directory is refused with an error naming the file, without blocking:
/// the type is checked before opening, the open itself does not wait for a writer (`O_NONBLOCK` on Unix, which
/// changes nothing for regular files), and the opened handle's own metadata is checked again, so a file swapped
/// for a pipe in between is refused as well. Every file lcr-verify reads goes through here.
pub fn open_regular(path: &Path) -> Result<(fs::File, u64)> {
    let missing = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Missing { path: path.to_path_buf(), what: "file" },
        _ => Error::io("opening", path, e),
    };
    let before = fs::metadata(path).map_err(missing)?;
    if !before.is_file() {
        return Err(not_regular(path, &before));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(missing)?;
    let after = file.metadata().map_err(|e| Error::io("reading metadata of", path, e))?;
    if !after.is_file() {
        return Err(not_regular(path, &after));
    }
    Ok((file, after.len()))
}

/// Reads a whole regular file (see [`open_regular`]), naming it in the error. The buffer is sized from the
/// file's metadata, and a file that grows while being read is an error rather than an unbounded read.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_in_pieces(path, |_| {})
}

/// Reads a whole regular file like [`read`] and returns it with its SHA-256 (lowercase hex), hashing each piece
/// as it arrives so that the digest costs no second pass over the bytes.
pub fn read_with_sha256(path: &Path) -> Result<(Vec<u8>, String)> {
    read_with_digest(path, DigestKind::Sha256)
}

/// Reads a whole regular file like [`read`] and returns it with its digest by `kind` (lowercase hex), hashed
/// piece by piece as it arrives.
pub fn read_with_digest(path: &Path, kind: DigestKind) -> Result<(Vec<u8>, String)> {
    let mut digest = Hasher::new(kind);
    let out = read_in_pieces(path, |piece| digest.update(piece))?;
    Ok((out, digest.finish_hex()))
}

/// Reads a whole regular file in pieces of 1 MiB, handing each piece to `seen` as it arrives; the buffer is
/// sized from the metadata, and a file whose length changes while being read is refused.
fn read_in_pieces(path: &Path, mut seen: impl FnMut(&[u8])) -> Result<Vec<u8>> {
    const PIECE: u64 = 1 << 20;
    let (file, len) = open_regular(path)?;
    let len = usize::try_from(len)
        .map_err(|_| Error::format(path, format!("{len} bytes do not fit in memory on this machine")))?;
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| Error::format(path, format!("cannot allocate {len} bytes to read it")))?;
    let mut reader = file.take(len as u64 + 1);
    loop {
        let start = out.len();
        let got = Read::by_ref(&mut reader)
            .take(PIECE)
            .read_to_end(&mut out)
            .map_err(|e| Error::io("reading", path, e))?;
        seen(&out[start..]);
        if got == 0 {
            break;
        }
    }
    if out.len() != len {
        return Err(Error::format(
            path,
            format!("changed while being read: {len} bytes announced, {} read", out.len()),
        ));
    }
    Ok(out)
}

/// The largest decompressed size [`read_maybe_gz`] accepts (4 GiB, about eight times the largest IDX file of
/// the EMNIST sets): a gzip stream that inflates beyond it is refused instead of exhausting memory.
pub const MAX_GUNZIPPED: u64 = 4 << 30;

/// Reads a file that may be gzip-compressed (decided by its first two bytes, not its name).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = read(path)?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_GUNZIPPED + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        if out.len() as u64 > MAX_GUNZIPPED {
            return Err(Error::format(
                path,
                format!("gzip stream inflates beyond {MAX_GUNZIPPED} bytes (the largest accepted)"),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Lower-case hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    DigestKind::Sha256.hex(bytes)
}

/// SHA-256 of a file's bytes, as lowercase hex (the model digest recorded with derived results).
pub fn file_sha256(path: &Path) -> Result<String> {
    Ok(sha256_hex(&read(path)?))
}

/// Creates `dir` (and its parents) if needed.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_known_digest() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "left behind: {names:?}");
    }

    #[test]
    fn a_failed_write_names_the_file_asked_for_not_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("bounds.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        let Error::Io { path: named, source, .. } = &err else { panic!("{err}") };
        assert_eq!(named, &path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "the cause keeps its kind");
        let text = err.to_string();
        assert!(text.starts_with(&format!("writing {}", path.display())), "{text}");
        // A directory in the way: the rename fails, and the temporary is gone.
        let blocked = dir.path().join("blocked");
        fs::create_dir_all(blocked.join("inside")).unwrap();
        let err = write_atomic(&blocked, b"x").unwrap_err();
        assert!(matches!(&err, Error::Io { path: p, .. } if p == &blocked), "{err}");
        assert!(!temp_sibling(&blocked).exists());
    }

    /// Space is reserved up to the length asked (the file then has that size, as the writer will fill it), where
    /// the file system reserves space at all (Linux file systems with `fallocate`). On ext4 a length past its
    /// largest file (2⁶² bytes; ext4 stops at 16 TiB) is also an error naming the file, refused before any block
    /// is allocated; elsewhere that part is skipped, since a file system whose files may be that large (xfs,
    /// btrfs, an unlimited tmpfs) would start allocating.
    #[cfg(target_os = "linux")]
    #[test]
    fn reserving_space_sizes_the_file_and_refuses_what_no_disk_holds() {
        const EXT4_MAGIC: u64 = 0xEF53;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set.npy");
        let file = fs::File::create(&path).unwrap();
        reserve(&file, &path, 150_656).unwrap();
        let size = file.metadata().unwrap().len();
        if size == 0 {
            eprintln!("this file system reserves no space: nothing to check");
            return;
        }
        assert_eq!(size, 150_656);
        let on_ext4 = rustix::fs::fstatfs(&file).is_ok_and(|s| u64::try_from(s.f_type) == Ok(EXT4_MAGIC));
        if !on_ext4 {
            eprintln!("not ext4: the refusal of an impossible length is not checked here");
            return;
        }
        let err = reserve(&file, &path, 1 << 62).unwrap_err();
        assert!(matches!(&err, Error::Io { path: p, .. } if p == &path), "{err}");
        assert!(err.to_string().contains("no room for its 4611686018427387904 bytes"), "{err}");
    }

    #[test]
    fn gzip_is_detected_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.gz");
        fs::write(&path, b"not compressed").unwrap();
        assert_eq!(read_maybe_gz(&path).unwrap(), b"not compressed");
        let gz = dir.path().join("data");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello").unwrap();
        fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read_maybe_gz(&gz).unwrap(), b"hello");
    }
}
