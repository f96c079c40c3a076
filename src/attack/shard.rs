//! `attack --shard i/N` and its merge: sample k attacked by shard k mod N (each sample on its own, seeded by its
//! test-set index), the merge joins the samples in order and writes exactly the `empirical.json` (and the
//! violation records) of an unsharded run, its `seconds` the sum of the shards'.

use std::path::PathBuf;
use std::time::Instant;

use super::AttackRequest;
use super::file::EmpiricalFile;
use super::stage::{PerSample, Setup, assemble, setup};
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::shard::Shard;
use crate::shard::partial::{self, Partial};

/// The file stem of the stage's output and partial files.
pub const STEM: &str = "empirical";
const STAGE: &str = "attack";

/// Attacks the samples of `shard` and writes `RUN_DIR/empirical.shard-I-of-N.json`; returns its path. No
/// violation record is written: the merge audits.
pub fn run_shard(
    run: &RunDir,
    req: &AttackRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    run_inner(run, req, shard, progress).map_err(|e| e.about(run.model().display()))
}

fn run_inner(
    run: &RunDir,
    req: &AttackRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    req.check()?;
    let started = Instant::now();
    let s = setup(run, req)?;
    let n = s.samples();
    let mine = shard.items(n);
    progress(&format!("shard {shard}: {} of {n} samples", mine.len()));
    let (_, combos) = Setup::combos(req);
    let mut per = s.compute(req, &mine, progress)?;
    // Only an example that contradicts a certificate keeps its point (for the violation record).
    for (&i, (_, found)) in mine.iter().zip(per.iter_mut()) {
        for (f, &(function, norm)) in found.iter_mut().zip(&combos) {
            if let Some(a) = f.best.as_mut()
                && !s.contradicts(i, function, norm, a.distance)
            {
                a.point = Vec::new();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Partial::new(STAGE, shard, req, s.inputs(), n, seconds, per).write(run.root(), STEM)
}

/// Merges the partial files of `attack` in the run directory into `empirical.json` (with the audit's violation
/// records); `None` when there are none.
pub fn merge(run: &RunDir) -> Result<Option<(EmpiricalFile, Vec<PathBuf>)>> {
    let Some(parts) = partial::collect::<Vec<PerSample>>(run.root(), STEM, STAGE)? else { return Ok(None) };
    let (path, head) = &parts[0];
    let req: AttackRequest = serde_json::from_value(head.request.clone())
        .map_err(|e| Error::format(path, format!("its request is not an attack request: {e}")))?;
    let s = setup(run, &req)?;
    partial::check_inputs(&parts, &s.inputs())?;
    if head.items != s.samples() {
        return Err(Error::format(
            path,
            format!("split {} samples, the run's request has {}", head.items, s.samples()),
        ));
    }
    let seconds = partial::total_seconds(&parts);
    let paths: Vec<PathBuf> = parts.iter().map(|p| p.0.clone()).collect();
    let per_shard: Vec<Vec<PerSample>> = parts.into_iter().map(|p| p.1.result).collect();
    let per = partial::interleave(per_shard, s.samples()).map_err(|i| {
        Error::format(&paths[i], "holds results for another number of samples than its share")
    })?;
    let file = assemble(run, &req, &s, &per, seconds)?;
    file.write(&run.empirical())?;
    Ok(Some((file, paths)))
}
