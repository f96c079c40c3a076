//! A shard's partial file, `RUN_DIR/STEM.shard-I-of-N.json`, and the checks that decide whether a set of them
//! belongs together.
//!
//! A partial file records what its results are about: the stage, the shard, the stage's request, the digests of
//! the inputs the stage read (model file, bounds or certificates, dataset checksum), how many items the work
//! has and which of them it covers. [`collect`] accepts a set only when every shard 0 … N − 1 of one N is there
//! once, each about the same request and inputs, each covering exactly its own items; anything else is refused
//! with an error that names the file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Shard;
use crate::error::{Error, Result};

/// Version of the partial-file layout.
pub const PARTIAL_FORMAT: u32 = 1;

/// The contents of a partial file; `T` is the stage's per-item results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial<T> {
    /// [`PARTIAL_FORMAT`].
    pub format: u32,
    /// lcr-verify version that wrote it: partial files of different versions are not merged.
    pub version: String,
    /// The stage: `bound`, `certify`, `attack` or `robustness`.
    pub stage: String,
    /// Which shard of how many.
    pub shard: Shard,
    /// The stage's request, as recorded in its output file.
    pub request: serde_json::Value,
    /// Digests of what the stage read (model file, earlier stages' files, dataset checksum).
    pub inputs: serde_json::Value,
    /// How many items the whole work has (class pairs, sample blocks, samples or cells).
    pub items: usize,
    /// The items this shard computed: those k with k mod N = i.
    pub covered: Vec<usize>,
    /// Seconds the shard spent.
    pub seconds: f64,
    /// The per-item results.
    pub result: T,
}

impl<T: Serialize> Partial<T> {
    /// A partial file of this version.
    pub fn new(
        stage: &str,
        shard: Shard,
        request: &impl Serialize,
        inputs: serde_json::Value,
        items: usize,
        seconds: f64,
        result: T,
    ) -> Self {
        Partial {
            format: PARTIAL_FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            stage: stage.to_string(),
            shard,
            request: serde_json::to_value(request).expect("requests serialise"),
            inputs,
            items,
            covered: shard.items(items),
            seconds,
            result,
        }
    }

    /// Writes the file `DIR/STEM.shard-I-of-N.json` atomically and returns its path.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<PathBuf> {
        let path = dir.join(self.shard.file_name(stem));
        crate::fsio::write_json_atomic(&path, self)?;
        Ok(path)
    }
}

/// A checked set of partial files, in shard order, each with its path.
pub type Parts<T> = Vec<(PathBuf, Partial<T>)>;

/// The partial files of `STEM` in `dir`, sorted by name; a name that starts like one but is not
/// `STEM.shard-I-of-N.json` is an error.
pub fn list(dir: &Path, stem: &str) -> Result<Vec<(Shard, PathBuf)>> {
    let prefix = format!("{stem}.shard-");
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let shard = Shard::from_file_name(&name, stem).ok_or_else(|| {
            Error::format(
                &path,
                format!("not a partial file name: expected {stem}.shard-I-of-N.json, 0 ≤ I < N"),
            )
        })?;
        found.push((shard, path));
    }
    found.sort();
    Ok(found)
}

/// Reads and checks every partial file of `STEM` in `dir` for `stage` (see the module documentation); `None`
/// when there is none. The result is in shard order, with the path of each file.
pub fn collect<T: DeserializeOwned>(dir: &Path, stem: &str, stage: &str) -> Result<Option<Parts<T>>> {
    let files = list(dir, stem)?;
    let Some((first, first_path)) = files.first().cloned() else { return Ok(None) };
    if let Some((s, p)) = files.iter().find(|(s, _)| s.count != first.count) {
        return Err(Error::format(
            p,
            format!(
                "a partial file of {} shards beside {} of {} shards: the shards of one split have one count (remove \
                 the files of the other split)",
                s.count,
                first_path.display(),
                first.count
            ),
        ));
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|i| !files.iter().any(|(s, _)| s.index == *i))
        .map(|i| dir.join(Shard { index: i, count: first.count }.file_name(stem)).display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::format(
            dir,
            format!(
                "missing partial file(s) {}: run the missing shard(s) with --shard I/{} before merging",
                missing.join(", "),
                first.count
            ),
        ));
    }
    let mut out: Vec<(PathBuf, Partial<T>)> = Vec::new();
    let mut head: Option<(PathBuf, Partial<serde_json::Value>)> = None;
    for (shard, path) in files {
        let bytes = crate::fsio::read(&path)?;
        let meta: Partial<serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(&path, format!("not a partial file: {e}")))?;
        if meta.format != PARTIAL_FORMAT {
            return Err(Error::format(
                &path,
                format!("partial-file format {}, this lcr-verify reads {PARTIAL_FORMAT}", meta.format),
            ));
        }
        if meta.stage != stage {
            return Err(Error::format(&path, format!("holds `{}` results, not `{stage}` ones", meta.stage)));
        }
        if meta.shard != shard {
            return Err(Error::format(
                &path,
                format!("its name says shard {shard}, its contents shard {} (a renamed file?)", meta.shard),
            ));
        }
        if meta.covered != shard.items(meta.items) {
            return Err(Error::format(
                &path,
                format!(
                    "covers items {:?}, not those of shard {shard} among {} items",
                    meta.covered, meta.items
                ),
            ));
        }
        if let Some((hp, h)) = &head {
            let differs = [
                (h.version != meta.version, "lcr-verify version"),
                (h.request != meta.request, "request (flags)"),
                (h.inputs != meta.inputs, "inputs (model file, earlier stages' files or dataset)"),
                (h.items != meta.items, "number of items"),
            ];
            if let Some((_, what)) = differs.iter().find(|(d, _)| *d) {
                return Err(Error::format(
                    &path,
                    format!(
                        "another {what} than {}: the shards of one merge must come from one command with one \
                         --shard count on unchanged inputs",
                        hp.display()
                    ),
                ));
            }
        }
        let typed: Partial<T> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(&path, format!("not a partial `{stage}` file: {e}")))?;
        if head.is_none() {
            head = Some((path.clone(), meta));
        }
        out.push((path, typed));
    }
    Ok(Some(out))
}

/// Refuses partial files whose recorded inputs are not those the run directory holds now (`current`): the model
/// file or an earlier stage's file changed after the shards ran.
pub fn check_inputs<T>(parts: &[(PathBuf, Partial<T>)], current: &serde_json::Value) -> Result<()> {
    match parts.first() {
        Some((path, p)) if &p.inputs != current => Err(Error::format(
            path,
            format!(
                "computed from other inputs than the run directory holds now (recorded {}, now {}): re-run the shards",
                p.inputs, current
            ),
        )),
        _ => Ok(()),
    }
}

/// The sum of the shards' seconds (what a merged file records where an unsharded run records its wall time).
pub fn total_seconds<T>(parts: &[(PathBuf, Partial<T>)]) -> f64 {
    parts.iter().map(|(_, p)| p.seconds).sum()
}

/// Interleaves per-item vectors of the shards back into item order: shard i's j-th entry is item i + j·N.
/// `Err(k)` names the first shard whose vector has the wrong length for its items.
pub fn interleave<V>(per_shard: Vec<Vec<V>>, items: usize) -> std::result::Result<Vec<V>, usize> {
    let count = per_shard.len();
    for (i, v) in per_shard.iter().enumerate() {
        if v.len() != (Shard { index: i, count }).items(items).len() {
            return Err(i);
        }
    }
    let mut iters: Vec<_> = per_shard.into_iter().map(Vec::into_iter).collect();
    Ok((0..items).map(|k| iters[k % count].next().expect("lengths checked")).collect())
}

/// Serde for per-sample radii that may be +∞ (JSON has no infinity): +∞ is written as `null`, as in the
/// stages' own files.
pub mod radii {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `v` with +∞ as `null`.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|r| r.is_finite().then_some(*r)).collect::<Vec<Option<f64>>>().serialize(s)
    }

    /// Reads `null` as +∞.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|r| r.unwrap_or(f64::INFINITY)).collect())
    }
}
