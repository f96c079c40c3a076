//! The command-line front end: one subcommand per stage, each parsed, then checked, then run.

mod attack;
mod bound;
mod certify;
mod choice;
mod corrupt;
mod eval;
mod export;
mod import;
mod latent_bn;
mod merge;
mod number;
mod report;
mod robustness;
mod run;
mod train;

use std::path::Path;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::lock::RunLock;

/// Train binary neural networks with the LCR regulariser and verify how robust they are.
#[derive(Debug, Parser)]
#[command(name = "lcr-verify", version, about, long_about = None)]
pub struct Cli {
    /// The stage to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The stages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole study on the shipped default data (MNIST): train the baseline and LCR models, bound, certify,
    /// attack (with the audit) and evaluate them under corruptions.
    Run(run::RunArgs),
    /// Train a binary network, with or without the LCR regulariser, into a run directory.
    Train(train::TrainArgs),
    /// Accuracy of a run's deployed (binarised, eval-mode) network on the test split.
    Eval(eval::EvalArgs),
    /// Refit a run's BatchNorm statistics for the latent function (latent weights, hardtanh) on training images,
    /// so that its bounds and radii are about a network that classifies; later stages use them.
    LatentBn(latent_bn::LatentBnArgs),
    /// Lipschitz bounds of a run's network: spectral, retention-matrix, LP and exact, with their soundness.
    Bound(bound::BoundArgs),
    /// Certified robustness radii per test sample: margin radii (surrogate, latent), sign stability, bound
    /// propagation and exact radii (deployed).
    Certify(certify::CertifyArgs),
    /// Adversarial attacks (FGSM, PGD, decision-based, minimal perturbation) on every function, and the audit of
    /// the certificates against them.
    Attack(attack::AttackArgs),
    /// Write ImageNet-C / CIFAR-10-C / MNIST-C style corrupted sets, or a preview grid.
    Corrupt(corrupt::CorruptArgs),
    /// Evaluate a run's deployed network under corruptions: error per corruption and severity, CE, mCE, mPC.
    Robustness(robustness::RobustnessArgs),
    /// Tables and plots over run directories (seeds grouped by configuration): Markdown, CSV, JSON, LaTeX, one
    /// self-contained HTML page, and SVG.
    Report(report::ReportArgs),
    /// A run's network as an ONNX graph (one function, double precision), and optionally VNN-LIB local-robustness
    /// properties for other verifiers.
    Export(export::ExportArgs),
    /// A network trained elsewhere (a safetensors file with PyTorch's key names and a TOML spec of its layers),
    /// checked tensor by tensor and written as a run directory that every stage reads.
    Import(import::ImportArgs),
    /// Join the partial files that `bound`, `certify`, `attack` and `robustness` write with `--shard i/N` into
    /// the file an unsharded run writes.
    Merge(merge::MergeArgs),
}

/// What a command concluded, mapped to the exit status by `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything ran and every check passed (exit 0).
    Success,
    /// Everything ran but a check failed, e.g. a soundness audit (exit 1).
    CheckFailed,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::LatentBn(args) => latent_bn::run(&args),
        Command::Bound(args) => bound::run(&args),
        Command::Certify(args) => certify::run(&args),
        Command::Attack(args) => attack::run(&args),
        Command::Corrupt(args) => corrupt::run(&args).map(|()| Outcome::Success),
        Command::Robustness(args) => robustness::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Merge(args) => merge::run(&args),
    }
}

/// Takes the lock of the directory `dir` that this command writes (see [`crate::lock`]), creating `dir` when
/// `create`; what taking it did (a stale lock taken over, leftovers removed) is noted on standard error. Held
/// until the returned value is dropped, at the end of the command.
pub(crate) fn lock(dir: &Path, create: bool) -> Result<RunLock> {
    let mut args = std::env::args();
    args.next();
    let command = std::iter::once("lcr-verify".to_string()).chain(args).collect::<Vec<_>>().join(" ");
    let lock = RunLock::acquire(dir, &command, create)?;
    for n in lock.notes() {
        eprintln!("note: {n}");
    }
    Ok(lock)
}

/// A progress callback for the library's stages: each message on standard error, after the seconds since the
/// callback was made; nothing when `quiet`.
pub(crate) fn progress_lines(quiet: bool) -> impl Fn(&str) + Sync {
    let started = std::time::Instant::now();
    move |msg: &str| {
        if !quiet {
            eprintln!("[{:>7.1} s] {msg}", started.elapsed().as_secs_f64());
        }
    }
}

/// The outcome of a stage that audits certificates: a failed check (exit status 1) when any certificate was
/// contradicted, with each contradicted sample and its record named on standard error.
pub(crate) fn audit_outcome(records: &[String]) -> Outcome {
    if records.is_empty() {
        return Outcome::Success;
    }
    eprintln!("error: the audit found {} contradicted certificate(s), which is a bug:", records.len());
    for r in records {
        let v = crate::fsio::read(std::path::Path::new(r))
            .ok()
            .and_then(|b| serde_json::from_slice::<crate::audit::Violation>(&b).ok());
        match v {
            Some(v) => eprintln!(
                "  sample {} ({} {}): certified radius {} ({}) but {} at distance {} changes the label {} -> {}; see {r}",
                v.sample,
                v.function.name(),
                v.norm.name(),
                v.certified_radius,
                v.method,
                v.source,
                v.distance,
                v.clean_prediction,
                v.perturbed_prediction
            ),
            None => eprintln!("  {r}"),
        }
    }
    Outcome::CheckFailed
}

/// Writes one line to standard output; a closed pipe becomes an [`Error::Io`](crate::Error::Io) that `main`
/// treats as a normal end.
pub(crate) fn emit(line: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}").map_err(|e| crate::Error::io("writing", "<stdout>", e))
}
