//! `lcr-verify attack RUN_DIR`: adversarial attacks on every function, the empirical radius of each sample,
//! and the audit of the run's certificates against them.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use super::choice::parser;
use crate::attack::{self, AttackChoice, AttackRequest};
use crate::error::Result;
use crate::ir::{Function, InputNorm};
use crate::run_dir::RunDir;

/// Flags of `lcr-verify attack`.
#[derive(Debug, Args)]
pub struct AttackArgs {
    /// Run directory holding model.safetensors (and certificates.json for the audit); empirical.json is written
    /// there.
    pub run_dir: PathBuf,
    /// The attack (default: min, the minimal-perturbation search over every attack).
    #[arg(long, value_parser = parser::<AttackChoice>())]
    pub attack: Option<AttackChoice>,
    /// Input norm (default: both).
    #[arg(long, value_parser = parser::<InputNorm>())]
    pub norm: Option<InputNorm>,
    /// Functions to attack, comma-separated (default: deployed,surrogate,latent).
    #[arg(long, value_parser = parser::<Function>(), value_delimiter = ',', action = clap::ArgAction::Set)]
    pub functions: Option<Vec<Function>>,
    /// Budgets ε in pixel units (p/255), comma-separated, for the success rates (default: ℓ2 0.1,0.3,0.5,1,1.58,2;
    /// ℓ∞ 0.01,0.03,0.1,0.2,0.3).
    #[arg(long, allow_hyphen_values = true, value_parser = super::number::real, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub eps: Option<Vec<f64>>,
    /// PGD steps per run.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = attack::DEFAULT_STEPS)]
    pub steps: usize,
    /// PGD runs per budget (the first from FGSM's point, the others from random points of the ball).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = attack::DEFAULT_RESTARTS)]
    pub restarts: usize,
    /// Attack the first N test images.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = attack::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Seed of every random choice.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed, default_value_t = 0)]
    pub seed: u64,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Attack only this shard's samples (sample k to shard k mod N; counted from 0) and write
    /// empirical.shard-I-of-N.json; `lcr-verify merge` joins the shards and audits.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Print empirical.json to standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl AttackArgs {
    /// The request the flags make.
    pub fn request(&self) -> AttackRequest {
        let mut req = AttackRequest {
            attack: self.attack.unwrap_or_default(),
            eps: self.eps.clone(),
            steps: self.steps,
            restarts: self.restarts,
            samples: self.samples,
            seed: self.seed,
            data_dir: self.data_dir.clone(),
            ..AttackRequest::default()
        };
        if let Some(n) = self.norm {
            req.norms = vec![n];
        }
        if let Some(f) = &self.functions {
            req.functions = f.clone();
        }
        req
    }
}

/// Runs `lcr-verify attack`: attacks, audits, writes `RUN_DIR/empirical.json`, prints the table (or the file);
/// a certificate contradicted by an attack makes the outcome a failed check (exit status 1).
pub fn run(args: &AttackArgs) -> Result<Outcome> {
    let run = RunDir::new(&args.run_dir);
    // The request is checked before the directory is taken, the stage checks it again.
    let req = args.request();
    req.check()?;
    if let Some(shard) = args.shard {
        // A shard writes only its own partial file: shards of one run directory run side by side, unlocked.
        let path = attack::shard::run_shard(&run, &req, shard, &super::progress_lines(args.quiet))?;
        super::emit(format!("shard {shard} written to {}", path.display()))?;
        return Ok(Outcome::Success);
    }
    let _lock = super::lock(&args.run_dir, false)?;
    let file = attack::run(&run, &req, &super::progress_lines(args.quiet))?;
    if args.json {
        super::emit(serde_json::to_string_pretty(&file).expect("serialisable"))?;
    } else {
        super::emit(attack::render_table(&file))?;
        super::emit(format!("written to {}", run.empirical().display()))?;
    }
    Ok(super::audit_outcome(&file.violation_records))
}
