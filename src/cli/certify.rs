//! `lcr-verify certify RUN_DIR`: certified robustness radii per test sample.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use super::choice::parser;
use crate::certify::{self, CertifyRequest};
use crate::error::Result;
use crate::ir::{Function, InputNorm};
use crate::run_dir::RunDir;

/// Flags of `lcr-verify certify`.
#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// Run directory holding model.safetensors (and bounds.json for the surrogate and latent functions);
    /// certificates.json is written there.
    pub run_dir: PathBuf,
    /// Input norm (default: both).
    #[arg(long, value_parser = parser::<InputNorm>())]
    pub norm: Option<InputNorm>,
    /// Functions to certify, comma-separated (default: deployed,surrogate,latent).
    #[arg(long, value_parser = parser::<Function>(), value_delimiter = ',', action = clap::ArgAction::Set)]
    pub functions: Option<Vec<Function>>,
    /// Certify the first N test images (default: all of them).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub samples: Option<usize>,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Certify only this shard's samples (blocks of 256, block b to shard b mod N; counted from 0) and write
    /// certificates.shard-I-of-N.json; `lcr-verify merge` joins the shards.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Print certificates.json to standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CertifyArgs {
    /// The request the flags make: every flag left out keeps the [`CertifyRequest::default`] value.
    pub fn request(&self) -> CertifyRequest {
        let mut req = CertifyRequest {
            samples: self.samples,
            data_dir: self.data_dir.clone(),
            ..CertifyRequest::default()
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

/// Runs `lcr-verify certify`: computes, writes `RUN_DIR/certificates.json`, prints the table (or the file).
pub fn run(args: &CertifyArgs) -> Result<Outcome> {
    let run = RunDir::new(&args.run_dir);
    // The request is checked before the directory is taken, the stage checks it again.
    let req = args.request();
    req.check()?;
    if let Some(shard) = args.shard {
        // A shard writes only its own partial file: shards of one run directory run side by side, unlocked.
        let path = certify::shard::run_shard(&run, &req, shard, &super::progress_lines(args.quiet))?;
        super::emit(format!("shard {shard} written to {}", path.display()))?;
        return Ok(Outcome::Success);
    }
    let _lock = super::lock(&args.run_dir, false)?;
    let file = certify::run(&run, &req, &super::progress_lines(args.quiet))?;
    if args.json {
        super::emit(serde_json::to_string_pretty(&file).expect("serialisable"))?;
    } else {
        super::emit(certify::render_table(&file))?;
        super::emit(format!("written to {}", run.certificates().display()))?;
    }
    Ok(Outcome::Success)
}
