//! Shards: one stage's work split over N processes (`--shard i/N`), each writing a partial file into the run
//! directory, and [`merge::merge_run`], which joins the partial files into the very file an unsharded run writes.
//!
//! ```text
//! lcr-verify certify RUN --shard 0/3  ─> RUN/certificates.shard-0-of-3.json ─┐
//! lcr-verify certify RUN --shard 1/3  ─> RUN/certificates.shard-1-of-3.json ─┼─ lcr-verify merge RUN ─> RUN/certificates.json
//! lcr-verify certify RUN --shard 2/3  ─> RUN/certificates.shard-2-of-3.json ─┘
//! ```
//!
//! **Numbering.** Shards count from 0: `i/N` with 0 ≤ i < N, so that a Slurm job array `--array=0-(N-1)` passes
//! `$SLURM_ARRAY_TASK_ID/N` unchanged.
//!
//! **The split.** A stage lists its work as items 0, 1, …, n − 1 (class pairs of the LP for `bound`, blocks of
//! test samples for `certify`, test samples for `attack`, corruption cells for `robustness`); shard i takes the
//! items k with k mod N = i (round robin, so that costly neighbours spread over the shards). Nothing computed
//! for an item depends on the shard that computes it: seeds are keyed by the item (the test-set index, the
//! corruption and severity), never by a position in a loop, so the merged file is the unsharded one.
//!
//! **Partial files** ([`partial::Partial`]) hold the shard, the stage's request, the digests of its inputs and
//! the per-item results; [`merge::merge_run`] refuses partial files that do not belong together.

pub mod merge;
pub mod partial;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0 ≤ index < count), as given by `--shard index/count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards the work is split into; ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`; `None` unless 0 ≤ index < count.
    pub fn new(index: usize, count: usize) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// Whether item `k` belongs to this shard (k mod count = index).
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }

    /// The items of `0..n` that belong to this shard, in increasing order.
    pub fn items(self, n: usize) -> Vec<usize> {
        (self.index..n).step_by(self.count).collect()
    }

    /// The partial file's name for a stage whose output is `STEM.json`: `STEM.shard-I-of-N.json`.
    pub fn file_name(self, stem: &str) -> String {
        format!("{stem}.shard-{}-of-{}.json", self.index, self.count)
    }

    /// The shard a partial file's name `STEM.shard-I-of-N.json` speaks of, when the name has that form.
    pub fn from_file_name(name: &str, stem: &str) -> Option<Shard> {
        let rest = name.strip_prefix(stem)?.strip_prefix(".shard-")?.strip_suffix(".json")?;
        let (i, n) = rest.split_once("-of-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return None;
        }
        Shard::new(i.parse().ok()?, n.parse().ok()?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/N` in decimal, 0 ≤ i < N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let usage = "expected i/N with 0 ≤ i < N, shards counted from 0 (e.g. 0/4 … 3/4)";
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}`: {usage}"))?;
        let number = |t: &str, what: &str| -> Result<usize, String> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{s}`: {what} `{t}` is not a whole number; {usage}"));
            }
            t.parse::<usize>().map_err(|_| format!("`{s}`: {what} `{t}` is too large"))
        };
        let (i, n) = (number(i, "the shard")?, number(n, "the count")?);
        if n == 0 {
            return Err(format!("`{s}`: the count of shards must be at least 1"));
        }
        Shard::new(i, n).ok_or_else(|| {
            format!(
                "`{s}`: shard {i} does not exist among {n} (shards are counted from 0: 0/{n} … {}/{n})",
                n - 1
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_splits() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard { index: 0, count: 1 }));
        for bad in [
            "4/4",
            "1/0",
            "0/0",
            "-1/4",
            "a/4",
            "1",
            "1/4/2",
            "",
            "/",
            "1/",
            "+1/4",
            "99999999999999999999999/3",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} was accepted");
        }
        // Every item in exactly one shard.
        for n in 0..20 {
            for count in 1..6 {
                let mut all: Vec<usize> =
                    (0..count).flat_map(|i| Shard::new(i, count).unwrap().items(n)).collect();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
        let s = Shard::new(1, 3).unwrap();
        assert_eq!(s.file_name("bounds"), "bounds.shard-1-of-3.json");
        assert_eq!(Shard::from_file_name("bounds.shard-1-of-3.json", "bounds"), Some(s));
        assert_eq!(Shard::from_file_name("bounds.shard-3-of-3.json", "bounds"), None);
        assert_eq!(Shard::from_file_name("bounds.shard--1-of-3.json", "bounds"), None);
        assert_eq!(Shard::from_file_name("certificates.shard-1-of-3.json", "bounds"), None);
    }
}
