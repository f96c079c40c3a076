//! Training configuration: parse (TOML file and flags), then check, then run.
//!
//! [`RawConfig`] holds what a user wrote, every key optional, unknown keys rejected. [`RawConfig::check`] fills
//! the architecture's defaults, validates every value and yields a [`TrainConfig`], the only type training
//! accepts. The checked configuration is written to `RUN_DIR/config.toml`, and reading that file back gives the
//! same configuration.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::optim::{OptimizerKind, Schedule};
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::fsio;
use crate::lcr::{Lcr, LcrVariant, PowerEstimate};
use crate::model::{Arch, ModelSpec, SignZero, SteKind, WeightScaling};

macro_rules! config_struct {
    ($(#[$doc:meta])* $( $field:ident : $ty:ty = $what:literal ),* $(,)?) => {
        /// A configuration as written by the user: every key optional, unknown keys rejected.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( #[doc = $what] #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }

        impl RawConfig {
            /// `self` with every key that `over` sets replaced by `over`'s value.
            pub fn merged(self, over: RawConfig) -> RawConfig {
                RawConfig { $( $field: over.$field.or(self.$field), )* }
            }
        }

        /// A checked configuration: every value present and valid.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct TrainConfig {
            $( #[doc = $what] pub $field: $ty, )*
        }

        impl TrainConfig {
            /// The same configuration with every key set, for comparisons and re-checks.
            pub fn to_raw(&self) -> RawConfig {
                RawConfig { $( $field: Some(self.$field.clone()), )* }
            }
        }
    };
}

config_struct! {
    dataset: DatasetKind = "Dataset to train on.",
    data_dir: PathBuf = "Directory with the dataset files (default: the shipped copy; MNIST and Fashion-MNIST).",
    arch: Arch = "Architecture.",
    widths: Vec<usize> = "Layer widths (MLP hidden widths; CNN stem and block channels; ResNet stage channels).",
    blocks: usize = "ResNet units per stage.",
    epochs: usize = "Training epochs.",
    batch_size: usize = "Mini-batch size.",
    eval_batch_size: usize = "Batch size for evaluation.",
    lr: f64 = "Base learning rate.",
    optimizer: OptimizerKind = "Optimiser.",
    momentum: f64 = "SGD momentum.",
    weight_decay: f64 = "Weight decay on layer weights (not BatchNorm or biases).",
    schedule: Schedule = "Learning-rate schedule.",
    warmup_epochs: usize = "Linear warm-up epochs.",
    lcr_weight: f64 = "LCR coefficient λ (0: the plain BNN baseline).",
    lcr_variant: LcrVariant = "LCR variant.",
    lcr_beta: f64 = "Depth weighting base β.",
    lcr_power_steps: usize = "Power-iteration steps of the spectral-norm proxy.",
    lcr_power_normalised: bool = "Normalise the power iterate (converged proxy) instead of the released unnormalised step.",
    lcr_teacher: PathBuf = "Run directory of a full-precision teacher for the stage variant (default: the latent counterpart).",
    seed: u64 = "Seed of initialisation, data order and everything random.",
    ste: SteKind = "Straight-through estimator.",
    ede_t_min: f64 = "EDE schedule start T_min.",
    ede_t_max: f64 = "EDE schedule end T_max.",
    weight_scaling: WeightScaling = "Binary weight scaling.",
    sign_zero: SignZero = "sign(0) convention.",
    real_first: bool = "Keep the first layer's weights real.",
    real_last: bool = "Keep the classifier's weights real.",
    full_precision: bool = "Train the full-precision counterpart instead (real weights, hardtanh), e.g. as a teacher.",
}

impl RawConfig {
    /// Reads a TOML configuration file. A value of the wrong type or an unknown key is refused naming the file,
    /// the key and what the key takes; a syntax error names the line and column.
    pub fn from_file(path: &Path) -> Result<RawConfig> {
        let bytes = fsio::read(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::format(path, "not UTF-8 text"))?;
        RawConfig::from_text(&text).map_err(|problem| Error::format(path, problem))
    }

    /// Parses configuration text; the error says what is wrong and where (key, or line and column).
    pub fn from_text(text: &str) -> std::result::Result<RawConfig, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_column(text, s.start)).unwrap_or_default();
            format!("invalid TOML{at}: {}", e.message().trim_end())
        })?;
        // Key by key first, so that a bad value is named by its key.
        for (key, value) in &table {
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            if let Err(e) = RawConfig::deserialize(one) {
                return Err(key_problem(key, e.message()));
            }
        }
        RawConfig::deserialize(table).map_err(|e| format!("invalid configuration: {}", e.message()))
    }

    /// Fills defaults and validates.
    pub fn check(self) -> Result<TrainConfig> {
        let arch = self.arch.unwrap_or(Arch::Mlp);
        let d = Defaults::for_arch(arch);
        let dataset = self.dataset.unwrap_or(DatasetKind::Mnist);
        let c = TrainConfig {
            dataset,
            data_dir: self.data_dir.unwrap_or_default(),
            arch,
            widths: self.widths.unwrap_or(d.widths),
            blocks: self.blocks.unwrap_or(d.blocks),
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(128),
            eval_batch_size: self.eval_batch_size.unwrap_or(1000),
            lr: self.lr.unwrap_or(d.lr),
            optimizer: self.optimizer.unwrap_or(OptimizerKind::Adamw),
            momentum: self.momentum.unwrap_or(0.9),
            weight_decay: self.weight_decay.unwrap_or(0.0),
            schedule: self.schedule.unwrap_or(Schedule::Cosine),
            warmup_epochs: self.warmup_epochs.unwrap_or(0),
            lcr_weight: self.lcr_weight.unwrap_or(0.0),
            lcr_variant: self.lcr_variant.unwrap_or(LcrVariant::Layer),
            lcr_beta: self.lcr_beta.unwrap_or(2.0),
            lcr_power_steps: self.lcr_power_steps.unwrap_or(1),
            lcr_power_normalised: self.lcr_power_normalised.unwrap_or(false),
            lcr_teacher: self.lcr_teacher.unwrap_or_default(),
            seed: self.seed.unwrap_or(1),
            ste: self.ste.unwrap_or(SteKind::Clipped),
            ede_t_min: self.ede_t_min.unwrap_or(1e-3),
            ede_t_max: self.ede_t_max.unwrap_or(10.0),
            weight_scaling: self.weight_scaling.unwrap_or(WeightScaling::None),
            sign_zero: self.sign_zero.unwrap_or(SignZero::PlusOne),
            real_first: self.real_first.unwrap_or(true),
            real_last: self.real_last.unwrap_or(true),
            full_precision: self.full_precision.unwrap_or(false),
        };
        c.validate()?;
        Ok(c)
    }
}

/// Per-architecture defaults.
struct Defaults {
    widths: Vec<usize>,
    blocks: usize,
    epochs: usize,
    lr: f64,
}

impl Defaults {
    fn for_arch(arch: Arch) -> Defaults {
        match arch {
            Arch::Mlp => Defaults { widths: vec![384, 384], blocks: 1, epochs: 5, lr: 5e-3 },
            Arch::Cnn => Defaults { widths: vec![32, 64, 128], blocks: 1, epochs: 6, lr: 5e-3 },
            Arch::Resnet => Defaults { widths: vec![16, 32, 64], blocks: 2, epochs: 6, lr: 5e-3 },
        }
    }
}

/// " at line L, column C" of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> String {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {column}")
}

/// What serde's name of a type means to a user.
fn type_in_words(expected: &str) -> String {
    let words = match expected.trim() {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number ≥ 0",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list, e.g. [256, 256]",
        other => return other.to_string(),
    };
    words.to_string()
}

/// A serde message about the value of `key` in words that name the key and the type it takes.
fn key_problem(key: &str, message: &str) -> String {
    let message = message.trim_end();
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) =
            message.strip_prefix(prefix).and_then(|m| m.rsplit_once(", expected "))
        {
            return format!("key `{key}` takes {}, found {found}", type_in_words(expected));
        }
    }
    format!("key `{key}`: {message}")
}

fn positive(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::config(key, format!("{v} must be a positive number")))
    }
}

fn non_negative(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(Error::config(key, format!("{v} must be ≥ 0"))) }
}

fn at_least_one(key: &str, v: usize) -> Result<()> {
    if v >= 1 { Ok(()) } else { Err(Error::config(key, "must be at least 1")) }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("eval_batch_size", self.eval_batch_size)?;
        at_least_one("lcr_power_steps", self.lcr_power_steps)?;
        positive("lr", self.lr)?;
        positive("lcr_beta", self.lcr_beta)?;
        positive("ede_t_min", self.ede_t_min)?;
        positive("ede_t_max", self.ede_t_max)?;
        non_negative("lcr_weight", self.lcr_weight)?;
        non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config("momentum", format!("{} must lie in [0, 1)", self.momentum)));
        }
        if self.ede_t_max < self.ede_t_min {
            return Err(Error::config("ede_t_max", "must not be below ede_t_min"));
        }
        if self.warmup_epochs >= self.epochs {
            return Err(Error::config("warmup_epochs", "must be fewer than the epochs"));
        }
        if self.full_precision && self.lcr_weight > 0.0 {
            return Err(Error::config(
                "lcr_weight",
                "the regulariser needs a binary network (full_precision is on)",
            ));
        }
        if !self.lcr_teacher.as_os_str().is_empty() && self.lcr_variant != LcrVariant::Stage {
            return Err(Error::config("lcr_teacher", "a teacher is used only by lcr_variant = \"stage\""));
        }
        self.model_spec().check()
    }

    /// The network this configuration trains.
    pub fn model_spec(&self) -> ModelSpec {
        let (c, h, w) = self.dataset.image_shape();
        ModelSpec {
            arch: self.arch,
            input: [c, h, w],
            classes: self.dataset.classes(),
            widths: self.widths.clone(),
            blocks: self.blocks,
            real_first: self.real_first,
            real_last: self.real_last,
            binary: !self.full_precision,
            weight_scaling: self.weight_scaling,
            sign_zero: self.sign_zero,
        }
    }

    /// The regulariser's settings.
    pub fn lcr(&self) -> Lcr {
        Lcr {
            variant: self.lcr_variant,
            beta: self.lcr_beta,
            estimate: PowerEstimate { normalised: self.lcr_power_normalised, steps: self.lcr_power_steps },
        }
    }

    /// The dataset directory, or `None` for the shipped copy.
    pub fn data_dir(&self) -> Option<&Path> {
        (!self.data_dir.as_os_str().is_empty()).then_some(self.data_dir.as_path())
    }

    /// The teacher's run directory, if one is named.
    pub fn teacher(&self) -> Option<&Path> {
        (!self.lcr_teacher.as_os_str().is_empty()).then_some(self.lcr_teacher.as_path())
    }

    /// The configuration as TOML text (every key present).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(&self.to_raw())
            .map_err(|e| Error::config("config", format!("cannot write TOML: {e}")))
    }

    /// Reads and re-checks a `config.toml` written by training.
    pub fn from_file(path: &Path) -> Result<TrainConfig> {
        RawConfig::from_file(path)?.check().map_err(|e| Error::format(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_the_wrong_type_names_the_key_and_the_type_it_takes() {
        let e = RawConfig::from_text("seed = 3\nepochs = \"three\"\n").unwrap_err();
        assert!(e.contains("`epochs`") && e.contains("whole number") && e.contains("\"three\""), "{e}");
        let e = RawConfig::from_text("lr = true\n").unwrap_err();
        assert!(e.contains("`lr`") && e.contains("a number"), "{e}");
        let e = RawConfig::from_text("widths = 16\n").unwrap_err();
        assert!(e.contains("`widths`") && e.contains("a list"), "{e}");
        let e = RawConfig::from_text("epochs = -3\n").unwrap_err();
        assert!(e.contains("`epochs`") && e.contains("-3"), "{e}");
        let e = RawConfig::from_text("learning_rate = 0.1\n").unwrap_err();
        assert!(e.contains("`learning_rate`") && e.contains("unknown field"), "{e}");
    }

    #[test]
    fn a_syntax_error_names_the_line_and_column() {
        let e = RawConfig::from_text("seed = 1\nepochs = = 2\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn good_text_parses_as_before() {
        let c = RawConfig::from_text("epochs = 2\nwidths = [8, 8]\nlr = 0.5\n").unwrap();
        assert_eq!((c.epochs, c.widths, c.lr), (Some(2), Some(vec![8, 8]), Some(0.5)));
    }
}
