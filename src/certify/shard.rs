//! `certify --shard i/N` and its merge: the samples in blocks of the stage's batch size ([`BLOCK`]), block b
//! computed by shard b mod N; the merge joins the per-sample results in sample order and writes exactly the
//! `certificates.json` of an unsharded run, its `seconds` fields summed over the shards.

use std::path::PathBuf;
use std::time::Instant;

use super::file::CertificatesFile;
use super::stage::{BLOCK, Outcome, load};
use super::{CertifyRequest, Coverage};
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::shard::Shard;
use crate::shard::partial::{self, Partial};

/// The file stem of the stage's output and partial files.
pub const STEM: &str = "certificates";
const STAGE: &str = "certify";

/// The samples of the blocks `blocks` of `n` samples.
fn samples_of(blocks: &[usize], n: usize) -> Vec<usize> {
    blocks.iter().flat_map(|&b| b * BLOCK..((b + 1) * BLOCK).min(n)).collect()
}

/// Certifies the samples of `shard` and writes `RUN_DIR/certificates.shard-I-of-N.json`; returns its path.
pub fn run_shard(
    run: &RunDir,
    req: &CertifyRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    run_inner(run, req, shard, progress).map_err(|e| e.about(run.model().display()))
}

fn run_inner(
    run: &RunDir,
    req: &CertifyRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    req.check()?;
    let started = Instant::now();
    let loaded = load(run, req)?;
    let n = loaded.samples();
    let blocks = n.div_ceil(BLOCK);
    let mine = samples_of(&shard.items(blocks), n);
    progress(&format!("shard {shard}: {} of {n} samples ({blocks} blocks of {BLOCK})", mine.len()));
    // A shard without samples computes nothing: its empty vectors would not tell which methods apply.
    let out = if mine.is_empty() { None } else { Some(loaded.compute(req, Some(&mine), progress)?) };
    let seconds = started.elapsed().as_secs_f64();
    Partial::new(STAGE, shard, req, loaded.inputs(), blocks, seconds, out).write(run.root(), STEM)
}

/// Joins `outcomes` (one per shard, in shard order, each over its blocks' samples) into the outcome of all `n`
/// samples. Shards must agree on everything but the per-sample values.
fn join(parts: &[(PathBuf, Partial<Option<Outcome>>)], n: usize) -> Result<Outcome> {
    let with: Vec<&(PathBuf, Partial<Option<Outcome>>)> =
        parts.iter().filter(|p| p.1.result.is_some()).collect();
    let Some((head_path, head)) = with.first().map(|p| (&p.0, p.1.result.as_ref().expect("filtered"))) else {
        return Err(Error::format(&parts[0].0, "no shard holds any sample"));
    };
    for (path, p) in &with {
        let o = p.result.as_ref().expect("filtered");
        let same_shape = o.skipped == head.skipped
            && o.predictions.iter().map(|p| p.0).eq(head.predictions.iter().map(|p| p.0))
            && o.exact.iter().map(|e| e.0).eq(head.exact.iter().map(|e| e.0))
            && o.radii
                .iter()
                .map(|r| (r.function, r.norm, &r.method))
                .eq(head.radii.iter().map(|r| (r.function, r.norm, &r.method)));
        if !same_shape {
            return Err(Error::format(
                path,
                format!("its methods (or skipped methods) differ from those of {}", head_path.display()),
            ));
        }
    }
    let mut out = head.clone();
    for (k, p) in out.predictions.iter_mut().enumerate() {
        p.1 = deal(parts, n, |o| o.predictions[k].1.clone())?;
    }
    for (k, e) in out.exact.iter_mut().enumerate() {
        e.1 = deal(parts, n, |o| o.exact[k].1.clone())?;
    }
    let outcomes: Vec<&Outcome> = with.iter().map(|p| p.1.result.as_ref().expect("filtered")).collect();
    for (k, r) in out.radii.iter_mut().enumerate() {
        r.radius = deal(parts, n, |o| o.radii[k].radius.clone())?;
        r.seconds = outcomes.iter().map(|o| o.radii[k].seconds).sum();
        if outcomes.iter().any(|o| o.radii[k].coverage == Coverage::Domain) {
            r.coverage = Coverage::Domain;
        }
    }
    Ok(out)
}

/// One per-sample vector of every shard (`get` of its outcome, over its blocks' samples) dealt back into sample
/// order.
fn deal<V>(
    parts: &[(PathBuf, Partial<Option<Outcome>>)],
    n: usize,
    get: impl Fn(&Outcome) -> Vec<V>,
) -> Result<Vec<V>> {
    let count = parts.len();
    let blocks = n.div_ceil(BLOCK);
    let mut per_block: Vec<Vec<V>> = (0..blocks).map(|_| Vec::new()).collect();
    for (i, (path, p)) in parts.iter().enumerate() {
        let mine = Shard { index: i, count }.items(blocks);
        let values = p.result.as_ref().map(&get).unwrap_or_default();
        if values.len() != samples_of(&mine, n).len() {
            return Err(Error::format(
                path,
                "holds results for another number of samples than its blocks have",
            ));
        }
        let mut it = values.into_iter();
        for b in mine {
            let len = ((b + 1) * BLOCK).min(n) - b * BLOCK;
            per_block[b] = it.by_ref().take(len).collect();
        }
    }
    Ok(per_block.into_iter().flatten().collect())
}

/// Merges the partial files of `certify` in the run directory into `certificates.json`; `None` when there are
/// none. Refuses partial files that do not belong together or are about other inputs than the directory's.
pub fn merge(run: &RunDir) -> Result<Option<(CertificatesFile, Vec<PathBuf>)>> {
    let Some(parts) = partial::collect::<Option<Outcome>>(run.root(), STEM, STAGE)? else { return Ok(None) };
    let (path, head) = &parts[0];
    let req: CertifyRequest = serde_json::from_value(head.request.clone())
        .map_err(|e| Error::format(path, format!("its request is not a certify request: {e}")))?;
    let loaded = load(run, &req)?;
    partial::check_inputs(&parts, &loaded.inputs())?;
    let n = loaded.samples();
    if head.items != n.div_ceil(BLOCK) {
        return Err(Error::format(
            path,
            format!("split {} blocks, the run's request has {}", head.items, n.div_ceil(BLOCK)),
        ));
    }
    let out = join(&parts, n)?;
    let file = loaded.file(run, &req, &out, partial::total_seconds(&parts))?;
    file.write(&run.certificates())?;
    Ok(Some((file, parts.into_iter().map(|p| p.0).collect())))
}
