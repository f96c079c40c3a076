//! Format versions of the files lcr-verify writes, and the rule every reader applies to them.
//!
//! A file records the format number of its layout (`format`) and the lcr-verify version that wrote it
//! (`version`, or `generator` as `lcr-verify <version>`). A reader refuses, naming the file:
//!
//! - a format number above the one this build writes: a later lcr-verify changed the layout, and reading it
//!   with today's meaning of each field could turn a number into another number without a word;
//! - a writer version above this build's own, or one that is not a version at all: a file cannot have been
//!   written by a release this build does not know yet.
//!
//! Files that predate the `format` field read as format 1, the layout they have.

use std::path::Path;

use crate::error::{Error, Result};

/// This build's version, `major.minor.patch`.
pub const THIS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `generator` string lcr-verify records: `lcr-verify <version>`.
pub const GENERATOR: &str = concat!("lcr-verify ", env!("CARGO_PKG_VERSION"));

/// The format of files that predate the `format` field (for `#[serde(default = "...")]`).
pub fn first_format() -> u32 {
    1
}

/// `major.minor.patch` as numbers; a pre-release or build suffix (`-rc.1`, `+abc`) is ignored.
pub fn parse_version(text: &str) -> Option<[u64; 3]> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let mut out = [0u64; 3];
    for slot in &mut out {
        *slot = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Refuses a `format` number above `known` (the one this build writes) in the file `path` (a `what`).
pub fn check_format(path: &Path, what: &str, found: u32, known: u32) -> Result<()> {
    if found == 0 || found > known {
        return Err(Error::format(
            path,
            format!(
                "{what} format {found} is unknown to this build of lcr-verify ({THIS_VERSION}), which reads formats \
                 1 to {known}: written by a later lcr-verify, or damaged; refusing to guess what its fields mean"
            ),
        ));
    }
    Ok(())
}

/// Refuses a writer version (`version`, with or without the `lcr-verify ` prefix) newer than this build, or one
/// that is not a version.
pub fn check_writer(path: &Path, what: &str, written: &str) -> Result<()> {
    let bare = written.strip_prefix("lcr-verify ").unwrap_or(written);
    let this = parse_version(THIS_VERSION).unwrap_or([0, 0, 0]);
    match parse_version(bare) {
        Some(v) if v <= this => Ok(()),
        Some(_) => Err(Error::format(
            path,
            format!(
                "{what} was written by lcr-verify {bare}, newer than this build ({THIS_VERSION}): its meaning may \
                 have changed; read it with that version or later"
            ),
        )),
        None => {
            Err(Error::format(path, format!("{what} names its writer `{written}`, which is not a version")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare_numerically() {
        assert_eq!(parse_version("0.1.0"), Some([0, 1, 0]));
        assert_eq!(parse_version("1.10.2-rc.1"), Some([1, 10, 2]));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("x.1.0"), None);
        assert!(parse_version("0.10.0") > parse_version("0.9.9"));
    }

    #[test]
    fn newer_formats_and_writers_are_refused_by_name() {
        let p = Path::new("some/file.json");
        assert!(check_format(p, "manifest", 1, 1).is_ok());
        let err = check_format(p, "manifest", 2, 1).unwrap_err().to_string();
        assert!(err.contains("some/file.json") && err.contains("format 2"), "{err}");
        assert!(check_format(p, "manifest", 0, 1).is_err());
        assert!(check_writer(p, "model", THIS_VERSION).is_ok());
        assert!(check_writer(p, "model", GENERATOR).is_ok());
        assert!(check_writer(p, "model", "0.0.1").is_ok());
        let err = check_writer(p, "model", "999.0.0").unwrap_err().to_string();
        assert!(err.contains("some/file.json") && err.contains("999.0.0"), "{err}");
        assert!(check_writer(p, "model", "lcr-verify banana").is_err());
    }
}
