//! `SHA256SUMS` files: `<hex digest>  <file name>` per line, as `sha256sum` writes them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsio;

/// Digests by file name.
pub type DigestList = BTreeMap<String, String>;

/// Parses the text of a `SHA256SUMS` file; `path` only names the file in errors.
pub fn parse_sha256sums(path: &Path, text: &str) -> Result<DigestList> {
    let mut out = DigestList::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (digest, name) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::format(path, format!("line {}: expected `<sha256>  <file>`", n + 1)))?;
        let name = name.trim_start().trim_start_matches('*');
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::format(path, format!("line {}: `{digest}` is not a SHA-256 digest", n + 1)));
        }
        out.insert(name.to_string(), digest.to_ascii_lowercase());
    }
    Ok(out)
}

/// Reads `dir/SHA256SUMS` if it exists.
pub fn read_sha256sums(dir: &Path) -> Result<Option<DigestList>> {
    let path = dir.join("SHA256SUMS");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = fsio::read(&path)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::format(&path, "not UTF-8 text"))?;
    parse_sha256sums(&path, &text).map(Some)
}

/// Checks `content` (the uncompressed bytes of the file called `name`, read from `path`) against `expected`.
pub fn verify(path: &Path, name: &str, content: &[u8], expected: &DigestList) -> Result<String> {
    let found = fsio::sha256_hex(content);
    match expected.get(name) {
        Some(want) if *want == found => Ok(found),
        Some(want) => Err(Error::Checksum {
            path: path.to_path_buf(),
            function: crate::digest::DigestKind::Sha256.name(),
            expected: want.clone(),
            found,
        }),
        None => Err(Error::format(path, format!("no digest for `{name}` in the SHA256SUMS list"))),
    }
}

/// The dataset checksum: SHA-256 over `"<digest>  <name>\n"` lines in name order.
pub fn combined(digests: &DigestList) -> String {
    let text: String = digests.iter().map(|(name, d)| format!("{d}  {name}\n")).collect();
    fsio::sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sha256sum_output_and_rejects_garbage() {
        let p = Path::new("SUMS");
        let d = "ab".repeat(32);
        let list = parse_sha256sums(p, &format!("{d}  a.bin\n{d} *b.bin\n")).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list["b.bin"], d);
        let err = parse_sha256sums(p, "xyz a.bin\n").unwrap_err().to_string();
        assert!(err.contains("SUMS") && err.contains("line 1"), "{err}");
    }
}
