//! `robustness --shard i/N` and its merge: the suite's cells (corruption × severity, in the source's order),
//! cell k evaluated by shard k mod N; the merge joins the error tables and the audit's cells and writes exactly
//! the report (and violation records) of an unsharded run into `corruption.json`, its `seconds` the sum of the
//! shards'.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::stage::{Prepared, prepare};
use super::{
    ErrorTable, EvalOptions, ModelLoader, RobustnessRequest, SuiteReport, evaluate_cells, score_suite,
    suite_clean,
};
use crate::audit::corruption::AuditPart;
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::shard::Shard;
use crate::shard::partial::{self, Partial};

/// The file stem of the stage's output and partial files.
pub const STEM: &str = "corruption";
const STAGE: &str = "robustness";

/// What a shard's cells gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellsPart {
    /// The model's table, then the reference model's (its cells only; the clean error in each).
    pub tables: Vec<ErrorTable>,
    /// The audit of its cells, when the audit runs.
    pub audit: Option<AuditPart>,
}

/// Evaluates the cells of `shard` and writes `RUN_DIR/corruption.shard-I-of-N.json`; returns its path. No
/// violation record is written: the merge audits.
pub fn run_shard(
    run: &RunDir,
    req: &RobustnessRequest,
    loader: &dyn ModelLoader,
    options: &EvalOptions,
    shard: Shard,
) -> Result<PathBuf> {
    req.check()?;
    let started = Instant::now();
    let p = prepare(run, req, loader)?;
    let cells = p.source().cells().len();
    let mine = shard.items(cells);
    let suite = p.suite_run(options);
    let mut models = vec![suite.model];
    models.extend(suite.reference);
    let clean = suite_clean(&suite)?;
    let mut audit = p.new_audit()?;
    let tables = evaluate_cells(&models, suite.source, clean.as_ref(), options, audit.as_mut(), Some(&mine))?;
    let part = CellsPart { tables, audit: audit.map(|a| a.part()) };
    let seconds = started.elapsed().as_secs_f64();
    Partial::new(STAGE, shard, req, p.inputs(run, req)?, cells, seconds, part).write(run.root(), STEM)
}

/// The shards' tables joined: every cell's error from the shard that evaluated it, the clean error of shard 0.
fn join_tables(parts: &[(PathBuf, Partial<CellsPart>)]) -> Result<Vec<ErrorTable>> {
    let (head_path, head) = &parts[0];
    let mut tables = head.result.tables.clone();
    for (path, p) in &parts[1..] {
        if p.result.tables.len() != tables.len() {
            return Err(Error::format(
                path,
                format!("holds another number of models than {}", head_path.display()),
            ));
        }
        for (t, theirs) in tables.iter_mut().zip(&p.result.tables) {
            for (c, sev) in &theirs.errors {
                t.errors.entry(c.clone()).or_default().extend(sev.iter().map(|(s, e)| (*s, *e)));
            }
        }
    }
    Ok(tables)
}

fn join_audit(
    p: &Prepared,
    parts: &[(PathBuf, Partial<CellsPart>)],
    audit: &mut crate::audit::corruption::CorruptionAudit<'_>,
) -> Result<()> {
    let cells = p.source().cells();
    let rank = |c: &str, s: u8| {
        cells.iter().position(|x| x.corruption == c && x.severity == s).unwrap_or(usize::MAX)
    };
    let mut pieces = Vec::new();
    for (path, part) in parts {
        pieces.push(part.result.audit.clone().ok_or_else(|| {
            Error::format(path, "holds no audit, while the run directory's certificates call for one")
        })?);
    }
    audit
        .resume(pieces, &rank)
        .map_err(|k| Error::format(&parts[k].0, "its audit covers another number of samples"))
}

/// Merges the partial files of `robustness` in the run directory into `corruption.json`; `None` when there
/// are none.
pub fn merge(run: &RunDir, loader: &dyn ModelLoader) -> Result<Option<(SuiteReport, Vec<PathBuf>)>> {
    let Some(parts) = partial::collect::<CellsPart>(run.root(), STEM, STAGE)? else { return Ok(None) };
    let (path, head) = &parts[0];
    let req: RobustnessRequest = serde_json::from_value(head.request.clone())
        .map_err(|e| Error::format(path, format!("its request is not a robustness request: {e}")))?;
    let p = prepare(run, &req, loader)?;
    partial::check_inputs(&parts, &p.inputs(run, &req)?)?;
    let cells = p.source().cells().len();
    if head.items != cells {
        return Err(Error::format(path, format!("split {} cells, the request has {cells}", head.items)));
    }
    let tables = join_tables(&parts)?;
    let mut audit = p.new_audit()?;
    if let Some(a) = audit.as_mut() {
        join_audit(&p, &parts, a)?;
    }
    let options = EvalOptions::default();
    let report = score_suite(&p.suite_run(&options), &tables, partial::total_seconds(&parts));
    let report = p.finish(run, &req, report, audit)?;
    Ok(Some((report, parts.into_iter().map(|p| p.0).collect())))
}
