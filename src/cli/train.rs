//! `lcr-verify train`.

use std::path::PathBuf;

use clap::Args;

use super::{Outcome, choice};
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::lcr::LcrVariant;
use crate::model::{Arch, SignZero, SteKind, WeightScaling};
use crate::run_dir::RunDir;
use crate::train::{self, OptimizerKind, RawConfig, TrainConfig, TrainOptions};

/// Flags of `lcr-verify train`; each overrides the same key of `--config`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML file with any of the keys below (flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory to write (model.safetensors, config.toml, metrics.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run in --out from its last completed epoch.
    #[arg(long)]
    pub resume: bool,
    /// Dataset.
    #[arg(long, value_parser = choice::parser::<DatasetKind>())]
    pub dataset: Option<DatasetKind>,
    /// Directory holding the dataset files (MNIST and Fashion-MNIST default to the shipped copy).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Architecture.
    #[arg(long, value_parser = choice::parser::<Arch>())]
    pub arch: Option<Arch>,
    /// Layer widths, comma-separated (MLP hidden widths; CNN stem and block channels; ResNet stage channels).
    #[arg(long, allow_hyphen_values = true, value_parser = super::number::positive, value_delimiter = ',', action = clap::ArgAction::Set)]
    pub widths: Option<Vec<usize>>,
    /// ResNet units per stage.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub blocks: Option<usize>,
    /// Epochs.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::positive)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real)]
    pub lr: Option<f64>,
    /// Optimiser.
    #[arg(long, value_parser = choice::parser::<OptimizerKind>())]
    pub optimizer: Option<OptimizerKind>,
    /// Weight decay on layer weights.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real)]
    pub weight_decay: Option<f64>,
    /// LCR coefficient λ (0 trains the plain BNN baseline).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::real)]
    pub lcr_weight: Option<f64>,
    /// LCR variant: per binary layer (the paper) or per stage (the released code).
    #[arg(long, value_parser = choice::parser::<LcrVariant>())]
    pub lcr_variant: Option<LcrVariant>,
    /// Full-precision teacher run directory for the stage variant.
    #[arg(long)]
    pub lcr_teacher: Option<PathBuf>,
    /// Seed.
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::seed)]
    pub seed: Option<u64>,
    /// Straight-through estimator.
    #[arg(long, value_parser = choice::parser::<SteKind>())]
    pub ste: Option<SteKind>,
    /// Binary weight scaling.
    #[arg(long, value_parser = choice::parser::<WeightScaling>())]
    pub weight_scaling: Option<WeightScaling>,
    /// sign(0) convention.
    #[arg(long, value_parser = choice::parser::<SignZero>())]
    pub sign_zero: Option<SignZero>,
    /// Train the full-precision counterpart (real weights, hardtanh), e.g. as a teacher.
    #[arg(long)]
    pub full_precision: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop after this many completed epochs, leaving a checkpoint to resume (for testing resumption).
    #[arg(long, allow_negative_numbers = true, value_parser = super::number::count, hide = true)]
    pub stop_after: Option<usize>,
}

impl TrainArgs {
    fn flags(&self) -> RawConfig {
        RawConfig {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            arch: self.arch,
            widths: self.widths.clone(),
            blocks: self.blocks,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            optimizer: self.optimizer,
            weight_decay: self.weight_decay,
            lcr_weight: self.lcr_weight,
            lcr_variant: self.lcr_variant,
            lcr_teacher: self.lcr_teacher.clone(),
            seed: self.seed,
            ste: self.ste,
            weight_scaling: self.weight_scaling,
            sign_zero: self.sign_zero,
            full_precision: self.full_precision.then_some(true),
            ..RawConfig::default()
        }
    }

    /// The checked configuration: the run's own `config.toml` when resuming, else `--config`, then the flags.
    pub fn config(&self) -> Result<TrainConfig> {
        let own = self.out.join("config.toml");
        let own_exists = self.resume && crate::fsio::exists(&own)?;
        let checkpoint_exists = self.resume && crate::fsio::exists(&RunDir::new(&self.out).checkpoint())?;
        let (base, file) = match (&self.config, self.resume) {
            (Some(path), _) => (RawConfig::from_file(path)?, Some(path.clone())),
            (None, true) if own_exists => (RawConfig::from_file(&own)?, Some(own)),
            (None, true) if checkpoint_exists => {
                return Err(Error::Missing { path: own, what: "configuration of the run to resume" });
            }
            _ => (RawConfig::default(), None),
        };
        let flags = self.flags();
        let set_by_flag = |key: &str| toml::Table::try_from(&flags).is_ok_and(|t| t.contains_key(key));
        base.merged(flags.clone()).check().map_err(|e| match (e, &file) {
            // A bad value that came from the file: name the file.
            (Error::Config { key, problem }, Some(path)) if !set_by_flag(&key) => {
                Error::Config { key: format!("{key}` in `{}", path.display()), problem }
            }
            (e, _) => e,
        })
    }
}

/// Runs `lcr-verify train`.
pub fn run(args: &TrainArgs) -> Result<Outcome> {
    let cfg = args.config()?;
    let _lock = super::lock(&args.out, true)?;
    let opts = TrainOptions {
        resume: args.resume,
        stop_after: args.stop_after,
        progress: !args.quiet,
        label: String::new(),
    };
    let outcome = train::train(&cfg, &args.out, &opts)?;
    if let Some(f) = &outcome.metrics.final_ {
        super::emit(format!(
            "{}: test accuracy {:.2}% ({}/{}) of the deployed network, {:.1} s",
            args.out.display(),
            100.0 * f.test_accuracy,
            f.test_correct,
            f.test_total,
            f.seconds
        ))?;
    } else {
        super::emit(format!(
            "{}: stopped after {} epochs; continue with --resume",
            args.out.display(),
            outcome.metrics.epochs.len()
        ))?;
    }
    Ok(Outcome::Success)
}
