//! `lcr-verify merge RUN_DIR`: the partial files of sharded stages joined into the stages' output files.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::error::Result;
use crate::run_dir::RunDir;

/// Flags of `lcr-verify merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run directory holding the partial files (`bounds.shard-0-of-4.json`, …) of `--shard` runs.
    pub run_dir: PathBuf,
}

/// Runs `lcr-verify merge`: merges, names each file written; exit status 1 when a merged audit found
/// contradicted certificates (as the unsharded stage would).
pub fn run(args: &MergeArgs) -> Result<Outcome> {
    let run = RunDir::new(&args.run_dir);
    let _lock = super::lock(&args.run_dir, false)?;
    let merged = crate::shard::merge::merge_run(&run)?;
    let mut records = Vec::new();
    for m in &merged {
        super::emit(format!(
            "{}: {} partial files merged into {}",
            m.stage,
            m.partials.len(),
            m.written.display()
        ))?;
        records.extend(m.violation_records.iter().cloned());
    }
    Ok(super::audit_outcome(&records))
}
