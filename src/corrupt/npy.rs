//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), as CIFAR-10-C and MNIST-C store their arrays.
//!
//! Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length (`u16` little-endian for
//! version 1, `u32` for 2 and 3), then an ASCII (UTF-8 for 3) Python dict literal such as
//! `{'descr': '|u1', 'fortran_order': False, 'shape': (50000, 32, 32, 3), }` padded with spaces to a multiple
//! of 64 bytes and ended by `\n`, then the raw data in C order.
//!
//! Only C-order arrays of integer dtypes are read (`|u1`, `<i8`, …; bool `|b1`, floats and structured types are
//! refused). Images must be `uint8`; labels may be any integer type (MNIST-C stores `int64`) and are checked to
//! fit a byte. The data size the header announces is computed with checked arithmetic and compared with the
//! file's size before anything is allocated.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::digest::{DigestKind, Hasher};
use crate::error::{Error, Result};
use crate::fsio;

const MAGIC: &[u8] = b"\x93NUMPY";

/// An integer element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// Bytes per element: 1, 2, 4 or 8.
    pub size: usize,
    /// Signed integer.
    pub signed: bool,
    /// Big-endian byte order.
    pub big_endian: bool,
}

impl Dtype {
    /// `uint8`.
    pub const U8: Dtype = Dtype { size: 1, signed: false, big_endian: false };

    fn parse(path: &Path, descr: &str) -> Result<Dtype> {
        let bad =
            || Error::format(path, format!("dtype `{descr}` is not an integer type this reader supports"));
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        let signed = match rest.chars().next() {
            Some('u') => false,
            Some('i') => true,
            // NumPy's bool is one byte per element too, but a 0/1 mask read as uint8 pixels would be a nearly
            // black image scored without a word.
            Some('b') if rest == "b1" => {
                return Err(Error::format(
                    path,
                    format!(
                        "dtype `{descr}` is bool, not an integer type: images must be uint8 (|u1) and labels an \
                         integer type"
                    ),
                ));
            }
            _ => return Err(bad()),
        };
        let size: usize = rest[1..].parse().map_err(|_| bad())?;
        if ![1, 2, 4, 8].contains(&size) {
            return Err(bad());
        }
        Ok(Dtype { size, signed, big_endian: order == '>' && size > 1 })
    }

    fn descr(&self) -> String {
        let order = if self.size == 1 {
            '|'
        } else if self.big_endian {
            '>'
        } else {
            '<'
        };
        format!("{order}{}{}", if self.signed { 'i' } else { 'u' }, self.size)
    }
}

/// A parsed `.npy` array: shape, element type and the raw data bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Array {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Dtype,
    /// `product(shape) · dtype.size` bytes in C order.
    pub data: Vec<u8>,
}

impl Array {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as bytes, for `uint8` arrays only (`path` names the file in errors).
    pub fn into_u8(self, path: &Path) -> Result<Vec<u8>> {
        if self.dtype != Dtype::U8 {
            return Err(Error::format(
                path,
                format!("expected dtype uint8 (|u1), found {}", self.dtype.descr()),
            ));
        }
        Ok(self.data)
    }

    /// The elements as class labels: any integer type whose values lie in `0..=255`.
    pub fn labels(&self, path: &Path) -> Result<Vec<u8>> {
        let s = self.dtype.size;
        let mut out = Vec::with_capacity(self.len());
        for (i, chunk) in self.data.chunks_exact(s).enumerate() {
            let mut buf = [0u8; 8];
            if self.dtype.big_endian {
                buf[8 - s..].copy_from_slice(chunk);
                buf.reverse();
            } else {
                buf[..s].copy_from_slice(chunk);
            }
            let raw = u64::from_le_bytes(buf);
            let value: i128 = if self.dtype.signed {
                let shift = 64 - 8 * s as u32;
                i128::from(((raw << shift) as i64) >> shift)
            } else {
                i128::from(raw)
            };
            if !(0..=255).contains(&value) {
                return Err(Error::format(path, format!("label {i} is {value}, outside 0..=255")));
            }
            out.push(value as u8);
        }
        Ok(out)
    }
}

/// The header of a `.npy` file: shape, element type and where the data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Dtype,
    /// Byte offset of the data.
    pub data_offset: usize,
}

impl Header {
    /// Bytes of data the header promises.
    pub fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size
    }
}

/// Parses the header at the start of `bytes` (which may hold only a prefix of the file).
pub fn parse_header_bytes(path: &Path, bytes: &[u8]) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(Error::format(path, "not a .npy file (bad magic)"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(Error::format(path, "truncated .npy header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(Error::format(path, format!("unsupported .npy format version {v}"))),
    };
    let end = start + header_len;
    if bytes.len() < end {
        return Err(Error::format(path, "truncated .npy header"));
    }
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| Error::format(path, "header is not text"))?;
    let (descr, fortran, shape) = parse_header(path, header)?;
    if fortran {
        return Err(Error::format(path, "Fortran-order arrays are not supported (save with C order)"));
    }
    let dtype = Dtype::parse(path, &descr)?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count.and_then(|n| n.checked_mul(dtype.size)).is_none() {
        return Err(Error::format(path, format!("shape {shape:?} is too large")));
    }
    Ok(Header { shape, dtype, data_offset: end })
}

/// Reads only the header of a `.npy` file and checks that the file size matches it.
pub fn read_header(path: &Path) -> Result<Header> {
    use std::io::Read;
    let (mut file, size) = fsio::open_regular(path)?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut prefix = Vec::new();
    Read::by_ref(&mut file)
        .take(65_536 + 12)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io("reading", path, e))?;
    let header = parse_header_bytes(path, &prefix)?;
    check_size(path, &header, size - header.data_offset.min(size))?;
    Ok(header)
}

fn check_size(path: &Path, header: &Header, found: usize) -> Result<()> {
    let want = header.data_len();
    if found != want {
        return Err(Error::format(
            path,
            format!(
                "shape {:?} of {} needs {want} data bytes, found {found} (truncated or padded)",
                header.shape,
                header.dtype.descr()
            ),
        ));
    }
    Ok(())
}

/// Parses `.npy` bytes (`path` only names the file in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Array> {
    let header = parse_header_bytes(path, bytes)?;
    let data = &bytes[header.data_offset..];
    check_size(path, &header, data.len())?;
    Ok(Array { shape: header.shape, dtype: header.dtype, data: data.to_vec() })
}

/// Reads and parses a `.npy` file.
pub fn read(path: &Path) -> Result<Array> {
    parse(path, &fsio::read(path)?)
}

fn parse_header(path: &Path, header: &str) -> Result<(String, bool, Vec<usize>)> {
    let bad =
        |what: &str| Error::format(path, format!("malformed .npy header ({what}): {}", header.trim_end()));
    let h = header.trim();
    if !h.starts_with('{') || !h.ends_with('}') {
        return Err(bad("not a dict"));
    }
    let value_of = |key: &str| -> Option<&str> {
        let k1 = format!("'{key}'");
        let k2 = format!("\"{key}\"");
        let pos = h.find(&k1).map(|p| p + k1.len()).or_else(|| h.find(&k2).map(|p| p + k2.len()))?;
        let rest = h[pos..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr_raw = value_of("descr").ok_or_else(|| bad("no 'descr'"))?;
    let quote = descr_raw.chars().next().ok_or_else(|| bad("empty 'descr'"))?;
    if quote != '\'' && quote != '"' {
        return Err(bad("'descr' is not a string (structured dtypes are not supported)"));
    }
    let descr = descr_raw[1..].split(quote).next().ok_or_else(|| bad("unterminated 'descr'"))?.to_string();
    let fortran_raw = value_of("fortran_order").ok_or_else(|| bad("no 'fortran_order'"))?;
    let fortran = if fortran_raw.starts_with("True") {
        true
    } else if fortran_raw.starts_with("False") {
        false
    } else {
        return Err(bad("'fortran_order' is not True or False"));
    };
    let shape_raw = value_of("shape").ok_or_else(|| bad("no 'shape'"))?;
    let inner = shape_raw
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("'shape' is not a tuple"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let part = part.trim_end_matches('L');
        shape.push(part.parse::<usize>().map_err(|_| bad("'shape' has a non-integer"))?);
    }
    Ok((descr, fortran, shape))
}

/// The header bytes (version 1.0, or 2.0 when the dict is too long) for a `dtype` array of `shape`.
pub fn header(shape: &[usize], dtype: Dtype) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}", dtype.descr());
    let v1 = 10 + dict.len() < u16::MAX as usize;
    let pre = if v1 { 10 } else { 12 };
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    while pre + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = MAGIC.to_vec();
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Serialises a `uint8` array.
pub fn to_bytes_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = header(shape, Dtype::U8);
    out.extend_from_slice(data);
    out
}

/// Writes a `uint8` array atomically.
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::Shape {
            context: format!("{}", path.display()),
            expected: shape.to_vec(),
            found: vec![data.len()],
        });
    }
    fsio::write_atomic(path, &to_bytes_u8(shape, data))
}

/// Streams a `uint8` array of known shape to a temporary file; [`NpyWriter::finish`] checks the element count
/// and renames it into place. Dropped unfinished, or when finishing fails, it removes the temporary, so no
/// half-written file is left.
#[derive(Debug)]
pub struct NpyWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    expected: usize,
    written: usize,
    digest: Hasher,
}

impl NpyWriter {
    /// Starts writing `path` with the given shape; [`NpyWriter::finish`] returns the file's digest by `digest`.
    pub fn create(path: &Path, shape: &[usize], digest: DigestKind) -> Result<Self> {
        let tmp = fsio::temp_sibling(path);
        let file =
            File::create(&tmp).map_err(|e| Error::io("writing", path, fsio::via_temporary(e, &tmp)))?;
        let head = header(shape, Dtype::U8);
        let expected: usize = shape.iter().product();
        let mut file = BufWriter::new(file);
        let started = fsio::reserve(file.get_ref(), path, (head.len() + expected) as u64).and_then(|()| {
            file.write_all(&head).map_err(|e| Error::io("writing", path, fsio::via_temporary(e, &tmp)))
        });
        if let Err(e) = started {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let mut digest = Hasher::new(digest);
        digest.update(&head);
        Ok(NpyWriter { path: path.to_path_buf(), tmp, file: Some(file), expected, written: 0, digest })
    }

    /// Appends elements in C order.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.written + data.len() > self.expected {
            return Err(Error::format(&self.path, "more data than the declared shape"));
        }
        let file = self.file.as_mut().expect("writer is open until finish");
        file.write_all(data)
            .map_err(|e| Error::io("writing", &self.path, fsio::via_temporary(e, &self.tmp)))?;
        self.digest.update(data);
        self.written += data.len();
        Ok(())
    }

    /// Flushes, syncs and renames into place; returns the file's digest (lowercase hex).
    pub fn finish(mut self) -> Result<String> {
        if self.written != self.expected {
            return Err(Error::format(
                &self.path,
                format!("wrote {} of the {} declared elements", self.written, self.expected),
            ));
        }
        let file = self.file.take().expect("writer is open until finish");
        let (tmp, path) = (&self.tmp, &self.path);
        let done = (|| {
            let file = file
                .into_inner()
                .map_err(|e| Error::io("writing", path, fsio::via_temporary(e.into_error(), tmp)))?;
            file.sync_all().map_err(|e| Error::io("writing", path, fsio::via_temporary(e, tmp)))?;
            std::fs::rename(tmp, path).map_err(|e| Error::io("writing", path, fsio::via_temporary(e, tmp)))
        })();
        if done.is_err() {
            // The writer no longer holds the file, so `Drop` would not remove the temporary.
            let _ = std::fs::remove_file(tmp);
        }
        done?;
        // `Drop` forbids moving the state out of `self`: swap in a fresh one (a few words).
        let digest = std::mem::replace(&mut self.digest, Hasher::new(DigestKind::Sha256));
        Ok(digest.finish_hex())
    }
}

impl Drop for NpyWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
