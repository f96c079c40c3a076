//! `lcr-verify merge RUN_DIR`: every stage's partial files in the run directory joined into its output file.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::run_dir::RunDir;

/// What one stage's merge wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The stage (`bound`, `certify`, `attack`, `robustness`).
    pub stage: &'static str,
    /// The file written.
    pub written: PathBuf,
    /// The partial files it was made from (removed once it is written).
    pub partials: Vec<PathBuf>,
    /// Violation records the merged stage wrote (its audit found contradicted certificates).
    pub violation_records: Vec<String>,
}

/// Merges the partial files of every stage that has any, in the stages' order (bound, certify, attack,
/// robustness), each into the file an unsharded run writes, and removes them once it is written. A set that
/// does not belong together (another request, count or inputs, a shard missing) is refused before anything of
/// that stage is written; no partial file at all is an error.
pub fn merge_run(run: &RunDir) -> Result<Vec<Merged>> {
    if !crate::fsio::exists(run.root())? {
        return Err(Error::format(run.root(), "no such run directory"));
    }
    let mut done = Vec::new();
    if let Some((_, partials)) = crate::bounds::shard::merge(run)? {
        done.push(Merged { stage: "bound", written: run.bounds(), partials, violation_records: Vec::new() });
    }
    if let Some((_, partials)) = crate::certify::shard::merge(run)? {
        done.push(Merged {
            stage: "certify",
            written: run.certificates(),
            partials,
            violation_records: Vec::new(),
        });
    }
    if let Some((file, partials)) = crate::attack::shard::merge(run)? {
        let violation_records = file.violation_records.clone();
        done.push(Merged { stage: "attack", written: run.empirical(), partials, violation_records });
    }
    if let Some((report, partials)) = crate::robustness::shard::merge(run, &crate::robustness::load_deployed)?
    {
        let violation_records = report.audit.as_ref().map_or(Vec::new(), |a| a.records().to_vec());
        done.push(Merged { stage: "robustness", written: run.corruption(), partials, violation_records });
    }
    if done.is_empty() {
        return Err(Error::format(
            run.root(),
            "holds no partial file (STAGE.shard-I-of-N.json): run a stage with --shard I/N first",
        ));
    }
    for m in &done {
        for p in &m.partials {
            std::fs::remove_file(p).map_err(|e| Error::io("removing", p, e))?;
        }
    }
    Ok(done)
}
