//! `bound --shard i/N` and its merge. The items are the class pairs (t, j), t < j, in [`class_pairs`] order;
//! shard i solves the LP (global and local) of the pairs k with k mod N = i, the LP being the stage's dominant
//! cost and the one method whose pairs are separate problems. Every other method (products, retention, exact,
//! sampled, ascent, LipSDP) is computed whole by shard 0. The merge joins each LP entry's pairs
//! ([`join_pairs`]), then holds the local and the domain-scope LP to the global one as an unsharded run does, and writes exactly the
//! unsharded `bounds.json`, its `seconds` fields the sums of the shards'.

use std::path::PathBuf;
use std::time::Instant;

use super::bound::class_pairs;
use super::compute::Bounds;
use super::lp::join_pairs;
use super::stage::load;
use super::{BoundRequest, BoundsFile, Method, Methods, capped_by_global};
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::shard::Shard;
use crate::shard::partial::{self, Partial};

/// The file stem of the stage's output and partial files.
pub const STEM: &str = "bounds";
const STAGE: &str = "bound";

/// Computes the share of `shard` and writes `RUN_DIR/bounds.shard-I-of-N.json`; returns its path.
pub fn run_shard(
    run: &RunDir,
    req: &BoundRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    run_inner(run, req, shard, progress).map_err(|e| e.about(run.model().display()))
}

fn run_inner(
    run: &RunDir,
    req: &BoundRequest,
    shard: Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PathBuf> {
    req.check()?;
    let started = Instant::now();
    let loaded = load(run, req)?;
    let pairs = class_pairs(loaded.nets.net.classes);
    let mine: Vec<(usize, usize)> = shard.items(pairs.len()).into_iter().map(|k| pairs[k]).collect();
    let mut opts = loaded.options.clone();
    // The local LP is held to the global one only once all pairs are together (in the merge).
    opts.lp_cap_local = false;
    opts.methods.lp &= !mine.is_empty();
    opts.lp.pairs = Some(mine.clone());
    if shard.index != 0 {
        opts.methods = Methods { lp: opts.methods.lp, ..Methods::none() };
    }
    progress(&format!(
        "shard {shard}: LP of {} of {} class pairs{}",
        mine.len(),
        pairs.len(),
        if shard.index == 0 { ", every other method whole" } else { "" }
    ));
    let nothing = opts.methods == Methods::none();
    let result = if nothing { None } else { Some(loaded.compute(&opts, progress)?) };
    let seconds = started.elapsed().as_secs_f64();
    Partial::new(STAGE, shard, req, loaded.inputs(), pairs.len(), seconds, result).write(run.root(), STEM)
}

fn is_lp(m: Method) -> bool {
    matches!(m, Method::LpGlobal | Method::LpLocal)
}

/// Shard 0's bounds with each LP entry's pairs joined over the shards, then the local LP held to the global.
fn join(parts: &[(PathBuf, Partial<Option<Bounds>>)]) -> Result<Bounds> {
    let (head_path, head) = &parts[0];
    let mut out = head.result.clone().ok_or_else(|| Error::format(head_path, "shard 0 holds no bounds"))?;
    let key = |b: &super::Bound| (b.method, b.function, b.norm, b.scope);
    for (path, p) in &parts[1..] {
        for b in p.result.iter().flat_map(|r| &r.bounds) {
            if !is_lp(b.method) || !out.bounds.iter().any(|o| key(o) == key(b)) {
                return Err(Error::format(
                    path,
                    format!(
                        "holds a {} bound that shard 0 ({}) has not",
                        b.method.name(),
                        head_path.display()
                    ),
                ));
            }
        }
    }
    for o in out.bounds.iter_mut().filter(|b| is_lp(b.method)) {
        let all: Vec<super::Bound> = std::iter::once(o.clone())
            .chain(
                parts[1..]
                    .iter()
                    .flat_map(|(_, p)| p.result.iter().flat_map(|r| &r.bounds))
                    .filter(|b| key(b) == key(o))
                    .cloned(),
            )
            .collect();
        *o = join_pairs(&all).ok_or_else(|| {
            Error::format(head_path, format!("the shards' {} entries do not fit together", o.method.name()))
        })?;
    }
    let globals: Vec<super::Bound> = out
        .bounds
        .iter()
        .filter(|b| b.method == Method::LpGlobal && b.scope == super::Scope::Network)
        .cloned()
        .collect();
    let held = |b: &super::Bound| {
        b.method == Method::LpLocal || (b.method == Method::LpGlobal && b.scope == super::Scope::Domain)
    };
    for b in out.bounds.iter_mut().filter(|b| held(b)) {
        if let Some(g) = globals.iter().find(|g| (g.function, g.norm) == (b.function, b.norm)) {
            *b = capped_by_global(b.clone(), g);
        }
    }
    Ok(out)
}

/// Merges the partial files of `bound` in the run directory into `bounds.json`; `None` when there are none.
pub fn merge(run: &RunDir) -> Result<Option<(BoundsFile, Vec<PathBuf>)>> {
    let Some(parts) = partial::collect::<Option<Bounds>>(run.root(), STEM, STAGE)? else { return Ok(None) };
    let (path, head) = &parts[0];
    let req: BoundRequest = serde_json::from_value(head.request.clone())
        .map_err(|e| Error::format(path, format!("its request is not a bound request: {e}")))?;
    let loaded = load(run, &req)?;
    partial::check_inputs(&parts, &loaded.inputs())?;
    let pairs = class_pairs(loaded.nets.net.classes).len();
    if head.items != pairs {
        return Err(Error::format(path, format!("split {} class pairs, the model has {pairs}", head.items)));
    }
    let result = join(&parts)?;
    let file = loaded.write(run, &req, result, partial::total_seconds(&parts))?;
    Ok(Some((file, parts.into_iter().map(|p| p.0).collect())))
}
