//! `lcr-verify robustness RUN_DIR`: evaluate a run's deployed model under corruptions and write
//! `RUN_DIR/corruption.json` (the stage itself is [`crate::robustness::run`]).

use std::path::PathBuf;

use super::Outcome;
use super::choice;
use crate::corrupt::Suite;
use crate::error::{Error, Result};
use crate::robustness::{self, EvalOptions, RobustnessRequest, load_deployed, summary};
use crate::run_dir::RunDir;

/// Arguments of `lcr-verify robustness`.
#[derive(clap::Args, Debug, Clone)]
pub struct RobustnessArgs {
    /// The run directory whose deployed model is evaluated.
    pub run_dir: PathBuf,
    /// Benchmark suite (default: the one a --from directory declares, else mnist-c for 28×28 gray data,
    /// cifar-c up to 64 px, imagenet-c above).
    #[arg(long, value_parser = choice::parser::<Suite>())]
    pub suite: Option<Suite>,
    /// Read corrupted images from a CIFAR-10-C, MNIST-C or ImageNet-C directory instead of generating them.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Normalise CE by this run's model, evaluated on the same corrupted images.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Evaluate only this shard's cells (corruption × severity; cell k to shard k mod N; counted from 0) and
    /// write corruption.shard-I-of-N.json; `lcr-verify merge` joins the shards and audits.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Print the report as JSON on standard output (the table then goes to standard error).
    #[arg(long)]
    pub json: bool,
    /// Comma-separated corruption names (generated sets only; default: all of the suite's).
    #[arg(long)]
    pub corruptions: Option<String>,
    /// Severities such as `1,3,5` or `1-5` (generated sets only).
    #[arg(long)]
    pub severities: Option<String>,
    /// Seed of the generated corruptions.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N test images (generated sets only).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub limit: Option<usize>,
    /// Normalise CE by AlexNet's ImageNet-C errors (the ImageNet-C protocol; imagenet-c suite only). The default
    /// when --from names an ImageNet-C tree and no --reference is given.
    #[arg(long)]
    pub alexnet: bool,
    /// Images per batch.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = 2000)]
    pub chunk: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl RobustnessArgs {
    /// The request the flags make.
    pub fn request(&self) -> RobustnessRequest {
        RobustnessRequest {
            suite: self.suite,
            from: self.from.clone(),
            reference: self.reference.clone(),
            corruptions: self.corruptions.clone(),
            severities: self.severities.clone(),
            seed: self.seed,
            limit: self.limit,
            alexnet: self.alexnet,
        }
    }
}

/// Runs `lcr-verify robustness`: evaluates, writes `RUN_DIR/corruption.json`, prints a summary table (or, with
/// `--json`, the report as JSON on stdout and the table on stderr), and returns the report.
pub fn run(args: &RobustnessArgs) -> Result<Outcome> {
    let run = RunDir::new(&args.run_dir);
    // The request is checked before the directory is taken, the stage checks it again.
    let req = args.request();
    req.check()?;
    let options = EvalOptions { chunk: args.chunk, progress: !args.quiet };
    if let Some(shard) = args.shard {
        // A shard writes only its own partial file: shards of one run directory run side by side, unlocked.
        let path = robustness::shard::run_shard(&run, &req, &load_deployed, &options, shard)?;
        super::emit(format!("shard {shard} written to {}", path.display()))?;
        return Ok(Outcome::Success);
    }
    let _lock = super::lock(&args.run_dir, false)?;
    let report = robustness::run(&run, &req, &load_deployed, &options)?;
    if args.json {
        // Machine-readable output alone on stdout; the table goes to stderr.
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::format(run.corruption(), format!("cannot serialise: {e}")))?;
        if !args.quiet {
            eprint!("{}", summary(&report));
        }
        super::emit(text)?;
    } else {
        super::emit(summary(&report).trim_end())?;
    }
    Ok(super::audit_outcome(report.audit.as_ref().map_or(&[], |a| a.records())))
}
