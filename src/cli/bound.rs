//! `lcr-verify bound RUN_DIR`: Lipschitz bounds of a trained network, three ways, with their provenance.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Outcome;
use crate::bounds::lp::LpBackend;
use crate::bounds::{self, BoundRequest, Methods, NormChoice};
use crate::error::Result;
use crate::ir::Function;
use crate::run_dir::RunDir;

/// A bounding method, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Certified products of exact layer norms (SVD / Gram iteration, conv brackets).
    Spectral,
    /// The paper's retention-matrix proxies (estimates) and their proven normalised lower bounds.
    Retention,
    /// Certified LipLP upper bounds (small feed-forward nets).
    Lp,
    /// Exact values by activation-pattern and region enumeration (tiny nets).
    Exact,
    /// Lower bounds from gradient norms at the sample points.
    Sampled,
    /// Lower bounds from gradient norms at points found by ascent on a smoothed gradient norm.
    Ascent,
    /// Certified LipSDP-Neuron ℓ2 bounds (an SDP solved in pure Rust, multipliers checked; MLPs up to ~1600
    /// input + hidden units after reduction).
    Lipsdp,
    /// Certified closed-form layer-by-layer LipSDP ℓ2 bounds (no solver; cheap).
    Sequential,
    /// Certified branch and bound on the LipLP relaxation with a witnessed lower bound (ℓ∞; up to 60 s per class
    /// pair; not in the default list).
    #[value(name = "bab", alias = "lp-bab")]
    Bab,
}

/// The input norm of the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NormArg {
    /// ℓ2: the whole logit map and the pairwise margins.
    L2,
    /// ℓ∞: the pairwise margins.
    Linf,
}

/// A function a bound can be about (the deployed sign network has no finite Lipschitz constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FunctionArg {
    /// Binary weights, hardtanh for sign.
    Surrogate,
    /// Real latent weights, hardtanh for sign.
    Latent,
}

/// The LP's source of multipliers, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LpBackendArg {
    /// Closed-form multipliers of the global LP (theorem L4), checked against their own primal point; Clarabel
    /// where that check fails and for the local LP.
    Backward,
    /// Clarabel's interior point.
    Clarabel,
    /// microlp's simplex on the dual LP (slow).
    MicrolpDual,
}

/// Flags of `lcr-verify bound`.
#[derive(Debug, Args)]
pub struct BoundArgs {
    /// Run directory holding model.safetensors; bounds.json is written there.
    pub run_dir: PathBuf,
    /// Methods to run, comma-separated (default: all but bab).
    #[arg(long, value_enum, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub methods: Option<Vec<MethodArg>>,
    /// Input norm (default: both).
    #[arg(long, value_enum)]
    pub norm: Option<NormArg>,
    /// Functions to bound, comma-separated (default: surrogate,latent).
    #[arg(long, value_enum, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub functions: Option<Vec<FunctionArg>>,
    /// Test images used by the data-dependent methods (retention matrices, sampled gradients, local LP); at least 1.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive, default_value_t = 256)]
    pub samples: usize,
    /// Also a local LP bound on the ℓ∞ ball of this radius (in normalised input units) around the first sample,
    /// within the pixel box; at most the box's extent (1/std: 3.2457 for MNIST). Capped by the global LP bound.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real)]
    pub lp_local_radius: Option<f64>,
    /// Raise the LP's size limit (nonzero coefficients); larger LPs take much longer.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub lp_max_nnz: Option<usize>,
    /// Where the LP's multipliers come from (default: backward).
    #[arg(long, value_enum)]
    pub lp_backend: Option<LpBackendArg>,
    /// Also bound over the input domain, the pixel box (entries of scope `domain` beside the `network` ones, for
    /// the methods that have one: the LP and the product with saturation pruning); `certify` then adds
    /// domain-coverage margin radii.
    #[arg(long)]
    pub domain_scope: bool,
    /// Time budget of the branch and bound (`--methods bab`) per class pair, in seconds (default 60); the value
    /// is certified whenever it stops.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real)]
    pub bab_seconds: Option<f64>,
    /// Node budget of the branch and bound per class pair (default 200000); with a large `--bab-seconds` the
    /// result no longer depends on the machine's speed.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub bab_nodes: Option<usize>,
    /// Dataset directory (default: the one the run was trained on).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Solve only this shard's class pairs of the LP (pair k to shard k mod N; counted from 0; shard 0 also
    /// runs every other method) and write bounds.shard-I-of-N.json; `lcr-verify merge` joins the shards.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Print bounds.json to standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl BoundArgs {
    /// The request the flags make: every flag left out keeps the [`BoundRequest::default`] value.
    pub fn request(&self) -> BoundRequest {
        let mut req = BoundRequest {
            samples: self.samples,
            lp_local_radius: self.lp_local_radius,
            lp_max_nnz: self.lp_max_nnz,
            lp_backend: self.lp_backend.map(|b| match b {
                LpBackendArg::Backward => LpBackend::Backward,
                LpBackendArg::Clarabel => LpBackend::Clarabel,
                LpBackendArg::MicrolpDual => LpBackend::MicrolpDual,
            }),
            bab_seconds: self.bab_seconds,
            bab_nodes: self.bab_nodes,
            data_dir: self.data_dir.clone(),
            domain_scope: self.domain_scope,
            ..BoundRequest::default()
        };
        if let Some(list) = &self.methods {
            let on = |m| list.contains(&m);
            req.methods = Methods {
                spectral: on(MethodArg::Spectral),
                retention: on(MethodArg::Retention),
                lp: on(MethodArg::Lp),
                exact: on(MethodArg::Exact),
                sampled: on(MethodArg::Sampled),
                ascent: on(MethodArg::Ascent),
                lipsdp: on(MethodArg::Lipsdp),
                sequential: on(MethodArg::Sequential),
                bab: on(MethodArg::Bab),
            };
        }
        req.norms = match self.norm {
            Some(NormArg::L2) => NormChoice::L2,
            Some(NormArg::Linf) => NormChoice::Linf,
            None => NormChoice::Both,
        };
        if let Some(fs) = &self.functions {
            req.functions = fs
                .iter()
                .map(|f| match f {
                    FunctionArg::Surrogate => Function::Surrogate,
                    FunctionArg::Latent => Function::Latent,
                })
                .collect();
        }
        req
    }
}

/// Runs `lcr-verify bound`: computes, writes `RUN_DIR/bounds.json` (keeping the entries of earlier calls about the
/// same model that this one does not recompute), prints the table of the whole file (or the file).
pub fn run(args: &BoundArgs) -> Result<Outcome> {
    let run = RunDir::new(&args.run_dir);
    // The request is checked before the directory is taken, the stage checks it again.
    let req = args.request();
    req.check()?;
    if let Some(shard) = args.shard {
        // A shard writes only its own partial file: shards of one run directory run side by side, unlocked.
        let path = bounds::shard::run_shard(&run, &req, shard, &super::progress_lines(args.quiet))?;
        super::emit(format!("shard {shard} written to {}", path.display()))?;
        return Ok(Outcome::Success);
    }
    let _lock = super::lock(&args.run_dir, false)?;
    let file = bounds::run(&run, &req, &super::progress_lines(args.quiet))?;
    if let Some(why) = file.meta["earlier"]["replaced"].as_str() {
        eprintln!("note: replaced the earlier {}: {why}", run.bounds().display());
    }
    if args.json {
        super::emit(serde_json::to_string_pretty(&file).expect("serialisable"))?;
    } else {
        super::emit(bounds::render_table(&file.bounds, &file.skipped))?;
        let latent = &file.meta["latent_function"];
        if file.bounds.iter().any(|b| b.function == Function::Latent) {
            super::emit(match latent["test_accuracy"].as_f64() {
                Some(a) => format!(
                    "latent function: BatchNorm {}; test accuracy {:.2}% ({:.2}% with the deployed statistics)",
                    latent["batchnorm"].as_str().unwrap_or("refitted"),
                    100.0 * a,
                    100.0 * latent["test_accuracy_with_deployed_statistics"].as_f64().unwrap_or(f64::NAN)
                ),
                None => format!(
                    "latent function: BatchNorm {}",
                    latent["batchnorm"].as_str().unwrap_or("as deployed")
                ),
            })?;
        }
        let kept = file.meta["earlier"]["kept_entries"].as_u64().unwrap_or(0);
        let kept = if kept > 0 {
            format!(" (with {kept} entries of earlier calls, each with its request)")
        } else {
            String::new()
        };
        super::emit(format!("written to {}{kept}", run.bounds().display()))?;
    }
    Ok(Outcome::Success)
}
