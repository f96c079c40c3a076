//! `lcr-verify train`: mini-batch training of a binary network with the optional LCR regulariser.
//!
//! Determinism: the seed fixes initialisation (stream 0 of a `ChaCha8Rng`) and the data order of epoch e (stream
//! e + 1), so an epoch's result depends only on the state at its start. Checkpoints hold that state, and a
//! resumed run reaches bit-identical final weights.

pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod optim;

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use config::{RawConfig, TrainConfig};
pub use metrics::{EpochMetrics, FinalMetrics, Metrics};
pub use optim::{Optimizer, OptimizerKind, Schedule};

use crate::data::{self, Dataset};
use crate::error::{CandleContext, Error, Result};
use crate::eval;
use crate::fsio;
use crate::lcr::{Lcr, LcrVariant};
use crate::model::binarize::{self, Ste, WeightScaling};
use crate::model::io::{ModelMeta, save_model};
use crate::model::{Ctx, Model, SteKind};
use crate::run_dir::RunDir;

/// How a training call behaves (as opposed to what it trains).
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue from `RUN_DIR/checkpoint.safetensors`.
    pub resume: bool,
    /// Stop (as if interrupted) after this many completed epochs; for tests of resumption.
    pub stop_after: Option<usize>,
    /// Draw progress bars on standard error.
    pub progress: bool,
    /// Written before every progress line (e.g. `[baseline-s1] `), for trainings that run side by side.
    pub label: String,
}

/// What a training call produced.
pub struct TrainOutcome {
    /// The metrics written to `metrics.json`.
    pub metrics: Metrics,
    /// Whether every epoch is done and `model.safetensors` written.
    pub finished: bool,
}

/// The regulariser's value for one batch: layer variant on the model's own features, stage variant against the
/// teacher (or the model's latent counterpart).
fn lcr_value(
    model: &Model,
    teacher: Option<&Model>,
    lcr: &Lcr,
    x: &Tensor,
    fwd: &model::Forward,
    ctx: &Ctx,
) -> Result<Tensor> {
    match lcr.variant {
        LcrVariant::Layer => lcr.layer_loss(fwd, ctx),
        LcrVariant::Stage => {
            let teacher_ctx = Ctx { train: false, binarize: false, ..*ctx };
            let t = match teacher {
                Some(t) => t.forward(x, &teacher_ctx)?,
                None => model.forward(x, &teacher_ctx)?,
            };
            lcr.stage_loss(fwd, &t)
        }
    }
}

use crate::model;

/// What one optimisation step does besides its data.
pub struct StepSpec<'a> {
    /// Forward context (train mode, estimator state).
    pub ctx: &'a Ctx,
    /// The regulariser and its coefficient λ, or `None` for the plain baseline.
    pub lcr: Option<(&'a Lcr, f64)>,
    /// Learning rate.
    pub lr: f64,
    /// Clip binary latent weights to [−1, 1] after the update (BinaryConnect, with the clipped identity).
    pub clip: bool,
}

/// What one step measured.
pub struct StepResult {
    /// Mean cross-entropy of the batch.
    pub ce: f64,
    /// LCR term of the batch, when computed.
    pub lcr: Option<f64>,
    /// Correct predictions on the batch (train mode).
    pub correct: usize,
}

/// One training step on the batch (x, y): forward, loss = CE + λ·LCR, backward, update.
pub fn train_step(
    model: &Model,
    teacher: Option<&Model>,
    optimizer: &mut Optimizer,
    x: &Tensor,
    y: &Tensor,
    spec: &StepSpec,
) -> Result<StepResult> {
    let fwd = model.forward(x, spec.ctx)?;
    let ce = candle_nn::loss::cross_entropy(&fwd.logits, y)?;
    let mut loss = ce.clone();
    let mut lcr_value_seen = None;
    if let Some((lcr, lambda)) = spec.lcr {
        let reg = lcr_value(model, teacher, lcr, x, &fwd, spec.ctx)?;
        lcr_value_seen = Some(reg.to_dtype(DType::F64)?.to_scalar::<f64>()?);
        loss = (loss + (reg * lambda)?)?;
    }
    let ce_value = ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let correct = fwd.logits.argmax(1)?.eq(y)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize;
    let grads = loss.backward().context("backward pass")?;
    optimizer.step(&grads, spec.lr)?;
    if spec.clip {
        for (_, var) in model.binary_weights() {
            var.set(&var.as_tensor().clamp(-1.0, 1.0)?)?;
        }
    }
    Ok(StepResult { ce: ce_value, lcr: lcr_value_seen, correct })
}

/// Signs of the effective binary weights, for flip ratios.
fn weight_signs(model: &Model) -> Result<Vec<(String, Tensor)>> {
    let ctx = Ctx::deployed(model.spec.sign_zero);
    model
        .binary_weights()
        .into_iter()
        .map(|(name, var)| {
            let w =
                binarize::binary_weight(var.as_tensor(), model.spec.weight_scaling, ctx.sign_zero, &ctx.ste)?;
            Ok((name, binarize::sign(&w, ctx.sign_zero)?))
        })
        .collect()
}

fn flip_ratios(
    before: &[(String, Tensor)],
    model: &Model,
) -> Result<std::collections::BTreeMap<String, f64>> {
    let after = weight_signs(model)?;
    before
        .iter()
        .zip(after)
        .map(|((name, a), (_, b))| {
            let changed = a.ne(&b)?.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()?;
            Ok((name.clone(), changed))
        })
        .collect()
}

fn progress_bar(enabled: bool, label: &str, len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len as u64),
        if enabled { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{label}epoch {epoch}/{epochs}"));
    bar
}

/// Refuses to overwrite a finished or unfinished run unless resuming.
fn preflight(run: &RunDir, opts: &TrainOptions) -> Result<()> {
    if opts.resume {
        if !fsio::exists(&run.checkpoint())? && !fsio::exists(&run.model())? {
            return Err(Error::Missing { path: run.checkpoint(), what: "checkpoint to resume from" });
        }
        return Ok(());
    }
    for (path, what) in [(run.model(), "a trained model"), (run.checkpoint(), "an unfinished run")] {
        if fsio::exists(&path)? {
            return Err(Error::config(
                "out",
                format!(
                    "{} already holds {what}; pass --resume or choose another directory",
                    run.root().display()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a teacher whose stage outputs cannot be compared with the student's (one forward pass on two
/// training images, before anything is written).
fn check_teacher(student: &Model, teacher: &Model, cfg: &TrainConfig, dataset: &Dataset) -> Result<()> {
    let x = dataset.normalization.tensor(&dataset.train, &[0, 1], &Device::Cpu)?;
    let ctx = Ctx { train: false, binarize: false, ..Ctx::deployed(cfg.sign_zero) };
    let (s, t) = (student.forward(&x, &ctx)?, teacher.forward(&x, &ctx)?);
    let shapes = |f: &model::Forward| -> Vec<Vec<usize>> {
        f.stages.iter().map(|&i| f.points[i].dims().to_vec()).collect()
    };
    let (ss, ts) = (shapes(&s), shapes(&t));
    if ss.len() != ts.len() || ss.iter().zip(&ts).any(|(a, b)| a[1..] != b[1..]) {
        return Err(Error::config(
            "lcr_teacher",
            format!(
                "{}: the teacher's stage outputs {ts:?} do not match the student's {ss:?} (the stage variant needs \
                 the same number of stages and the same stage widths)",
                cfg.lcr_teacher.display()
            ),
        ));
    }
    Ok(())
}

/// Whether the run directory's `config.toml` holds exactly `config_text` (a checked configuration written out);
/// `None` when the file is missing.
pub fn recorded_config_matches(run: &RunDir, config_text: &str) -> Result<Option<bool>> {
    if !fsio::exists(&run.config())? {
        return Ok(None);
    }
    Ok(Some(fsio::read(&run.config())? == config_text.as_bytes()))
}

/// Refuses a finished run whose model file was trained with another configuration than `config_text` (which
/// its `config.toml` holds): the two files would be from different runs.
fn check_finished_run(run: &RunDir, config_text: &str) -> Result<()> {
    let (_, meta) = model::io::load_model(&run.model(), &Device::Cpu, DType::F32)?;
    if meta.config != config_text {
        return Err(Error::format(
            run.model(),
            format!(
                "was trained with another configuration than {} records (the two files come from different runs)",
                run.config().display()
            ),
        ));
    }
    Ok(())
}

/// Trains `cfg` into the run directory `out`.
///
/// Writes `config.toml` first, then per epoch the checkpoint and `metrics.json`, at the end `model.safetensors`
/// (which carries the configuration), then the final `metrics.json` (which carries the model's SHA-256), and
/// removes the checkpoint. Readers check that the three agree ([`RunDir::load_dataset`]). The caller owns the
/// directory ([`crate::lock::RunLock`]); the command line takes the lock.
pub fn train(cfg: &TrainConfig, out: &Path, opts: &TrainOptions) -> Result<TrainOutcome> {
    let run = RunDir::new(out);
    preflight(&run, opts)?;
    let config_text = cfg.to_toml()?;
    if opts.resume && fsio::exists(&run.model())? && !fsio::exists(&run.checkpoint())? {
        // A finished run: nothing to do, provided it was trained with this very configuration.
        match recorded_config_matches(&run, &config_text)? {
            None => {
                return Err(Error::Missing { path: run.config(), what: "configuration of the finished run" });
            }
            Some(true) => {}
            Some(false) => {
                return Err(Error::config(
                    "resume",
                    format!(
                        "{} already holds a model trained with a different configuration ({}); choose another directory",
                        run.root().display(),
                        run.config().display()
                    ),
                ));
            }
        }
        check_finished_run(&run, &config_text)?;
        let text = String::from_utf8_lossy(&fsio::read(&run.metrics())?).into_owned();
        let metrics: Metrics =
            serde_json::from_str(&text).map_err(|e| Error::format(run.metrics(), e.to_string()))?;
        crate::format::check_writer(&run.metrics(), "the metrics file", &metrics.version)?;
        let sha = fsio::file_sha256(&run.model())?;
        if metrics.model_sha256.as_ref().is_some_and(|m| *m != sha) {
            return Err(Error::format(
                run.metrics(),
                format!("is about another model file than {} (sha256 {sha})", run.model().display()),
            ));
        }
        return Ok(TrainOutcome { metrics, finished: true });
    }
    let device = Device::Cpu;
    let dataset = data::load(cfg.dataset, cfg.data_dir())?;
    dataset.check_geometry(cfg.model_spec().input, "the input of the model this configuration trains")?;
    let teacher = match cfg.teacher() {
        Some(dir) => {
            let (t, meta) = model::io::load_model(&RunDir::new(dir).model(), &device, DType::F32)?;
            if meta.spec.binary {
                return Err(Error::config(
                    "lcr_teacher",
                    format!("{} holds a binary network; the teacher must be full precision", dir.display()),
                ));
            }
            Some(t)
        }
        None => None,
    };
    let model = Model::new(&cfg.model_spec(), &device, cfg.seed)?;
    if let Some(t) = &teacher {
        check_teacher(&model, t, cfg, &dataset)?;
    }
    fsio::ensure_dir(out)?;
    let mut optimizer = Optimizer::new(cfg.optimizer, &model.store, cfg.momentum, cfg.weight_decay)?;
    let mut history = Vec::new();
    if opts.resume && fsio::exists(&run.checkpoint())? {
        let ckpt = checkpoint::load(&run.checkpoint(), &device)?;
        if ckpt.meta.config != config_text {
            return Err(Error::config(
                "resume",
                format!("the configuration differs from the one {} was started with", run.root().display()),
            ));
        }
        model.store.assign(&ckpt.model)?;
        optimizer.restore(&ckpt.optimizer, ckpt.meta.step)?;
        history = ckpt.meta.metrics;
    }
    fsio::write_atomic(&run.config(), config_text.as_bytes())?;
    Trainer {
        cfg,
        run: &run,
        dataset: &dataset,
        model: &model,
        teacher: teacher.as_ref(),
        opts,
        config_text: &config_text,
    }
    .run(&mut optimizer, history)
}

struct Trainer<'a> {
    cfg: &'a TrainConfig,
    run: &'a RunDir,
    dataset: &'a Dataset,
    model: &'a Model,
    teacher: Option<&'a Model>,
    opts: &'a TrainOptions,
    config_text: &'a str,
}

impl Trainer<'_> {
    fn metrics(&self, epochs: Vec<EpochMetrics>, final_: Option<FinalMetrics>) -> Metrics {
        Metrics {
            version: env!("CARGO_PKG_VERSION").to_string(),
            dataset: self.dataset.kind.name().to_string(),
            dataset_checksum: self.dataset.checksum.clone(),
            seed: self.cfg.seed,
            function: "deployed".to_string(),
            epochs,
            final_,
            model_sha256: None,
        }
    }

    fn run(&self, optimizer: &mut Optimizer, mut history: Vec<EpochMetrics>) -> Result<TrainOutcome> {
        let cfg = self.cfg;
        let device = self.model.store.device().clone();
        let train = &self.dataset.train;
        let norm = &self.dataset.normalization;
        let x_all = norm.tensor_all(train, &device)?;
        let y_all = Tensor::from_vec(
            train.labels.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            train.len(),
            &device,
        )?;
        let batches = train.len().div_ceil(cfg.batch_size);
        let total_steps = batches * cfg.epochs;
        let warmup = batches * cfg.warmup_epochs;
        let lcr = cfg.lcr();
        let clip = cfg.ste == SteKind::Clipped && cfg.weight_scaling != WeightScaling::Irnet;
        for epoch in history.len()..cfg.epochs {
            if self.opts.stop_after.is_some_and(|n| history.len() >= n) {
                return Ok(TrainOutcome { metrics: self.metrics(history, None), finished: false });
            }
            let started = Instant::now();
            let ctx = Ctx {
                train: true,
                binarize: true,
                sign_zero: cfg.sign_zero,
                ste: Ste::for_epoch(cfg.ste, epoch, cfg.epochs, cfg.ede_t_min, cfg.ede_t_max),
            };
            let signs_before = weight_signs(self.model)?;
            let mut order: Vec<u32> = (0..train.len() as u32).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
            rng.set_stream(epoch as u64 + 1);
            order.shuffle(&mut rng);
            let bar = progress_bar(self.opts.progress, &self.opts.label, batches, epoch + 1, cfg.epochs);
            let (mut ce_sum, mut lcr_sum, mut correct, mut lr) = (0.0, 0.0, 0usize, cfg.lr);
            for chunk in order.chunks(cfg.batch_size) {
                let idx = Tensor::new(chunk, &device)?;
                let x = x_all.index_select(&idx, 0)?;
                let y = y_all.index_select(&idx, 0)?;
                lr = optim::learning_rate(cfg.lr, cfg.schedule, optimizer.step, total_steps, warmup);
                let step = StepSpec {
                    ctx: &ctx,
                    lcr: (cfg.lcr_weight > 0.0).then_some((&lcr, cfg.lcr_weight)),
                    lr,
                    clip,
                };
                let r = train_step(self.model, self.teacher, optimizer, &x, &y, &step)?;
                if !r.ce.is_finite() {
                    return Err(Error::NonFinite {
                        context: format!("training loss at epoch {}", epoch + 1),
                    });
                }
                ce_sum += r.ce * chunk.len() as f64;
                lcr_sum += r.lcr.unwrap_or(0.0) * chunk.len() as f64;
                correct += r.correct;
                bar.inc(1);
                let done = bar.position() as usize;
                let seen = (done * cfg.batch_size).min(train.len()) as f64;
                let message = format!("ce {:.4} acc {:.2}%", ce_sum / seen, 100.0 * correct as f64 / seen);
                if self.opts.progress
                    && bar.is_hidden()
                    && done < batches
                    && done.is_multiple_of(batches.div_ceil(4))
                {
                    // Not a terminal: a plain line at each quarter of the epoch instead of a bar.
                    eprintln!(
                        "{}epoch {}/{}: {done}/{batches} batches, {message}",
                        self.opts.label,
                        epoch + 1,
                        cfg.epochs
                    );
                }
                bar.set_message(message);
            }
            bar.finish_and_clear();
            let train_seconds = started.elapsed().as_secs_f64();
            let flip_ratio = flip_ratios(&signs_before, self.model)?;
            let (test, lcr_eval) = self.evaluate(&lcr)?;
            let n = train.len() as f64;
            let m = EpochMetrics {
                epoch: epoch + 1,
                ce: ce_sum / n,
                lcr: (cfg.lcr_weight > 0.0).then_some(lcr_sum / n),
                lcr_eval,
                train_accuracy: correct as f64 / n,
                test_accuracy: test.accuracy,
                flip_ratio,
                lr,
                train_seconds,
                seconds: started.elapsed().as_secs_f64(),
            };
            if self.opts.progress {
                eprintln!(
                    "{}epoch {}/{}: ce {:.4}, lcr {}, train {:.2}%, test {:.2}% ({:.1} s)",
                    self.opts.label,
                    m.epoch,
                    cfg.epochs,
                    m.ce,
                    m.lcr.map_or("-".to_string(), |v| format!("{v:.4e}")),
                    100.0 * m.train_accuracy,
                    100.0 * m.test_accuracy,
                    m.seconds
                );
            }
            history.push(m);
            self.save_checkpoint(optimizer, &history)?;
            fsio::write_json_atomic(&self.run.metrics(), &self.metrics(history.clone(), None))?;
        }
        self.finish(history)
    }

    /// Test accuracy of the deployed network and the LCR term on the first test batch, both in `f64`.
    fn evaluate(&self, lcr: &Lcr) -> Result<(eval::Accuracy, f64)> {
        let model64 = self.model.converted(DType::F64)?;
        let test = &self.dataset.test;
        let norm = &self.dataset.normalization;
        let acc = eval::accuracy(&model64, test, norm, self.cfg.eval_batch_size)?;
        let first: Vec<usize> = (0..test.len().min(self.cfg.eval_batch_size)).collect();
        let x = norm.tensor(test, &first, model64.store.device())?.to_dtype(DType::F64)?;
        let ctx = Ctx::deployed(self.cfg.sign_zero);
        let fwd = model64.forward(&x, &ctx)?;
        let teacher64 = match self.teacher {
            Some(t) => Some(t.converted(DType::F64)?),
            None => None,
        };
        let value = lcr_value(&model64, teacher64.as_ref(), lcr, &x, &fwd, &ctx)?.to_scalar::<f64>()?;
        Ok((acc, value))
    }

    fn save_checkpoint(&self, optimizer: &Optimizer, history: &[EpochMetrics]) -> Result<()> {
        let meta = checkpoint::CheckpointMeta {
            kind: "checkpoint".into(),
            format: checkpoint::CHECKPOINT_FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            config: self.config_text.to_string(),
            epochs_done: history.len(),
            step: optimizer.step,
            metrics: history.to_vec(),
        };
        checkpoint::save(&self.run.checkpoint(), &meta, &self.model.store.tensors(), &optimizer.state()?)
    }

    fn finish(&self, history: Vec<EpochMetrics>) -> Result<TrainOutcome> {
        let last = history.last().expect("at least one epoch");
        let total = self.dataset.test.len();
        let correct = (last.test_accuracy * total as f64).round() as usize;
        let final_ = FinalMetrics {
            test_accuracy: last.test_accuracy,
            test_correct: correct,
            test_total: total,
            seconds: history.iter().map(|m| m.seconds).sum(),
        };
        let meta = ModelMeta {
            kind: "model".into(),
            format: model::io::MODEL_FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            spec: self.model.spec.clone(),
            dataset: self.dataset.kind,
            dataset_checksum: self.dataset.checksum.clone(),
            normalization: self.dataset.normalization.clone(),
            seed: self.cfg.seed,
            config: self.config_text.to_string(),
        };
        save_model(&self.run.model(), self.model, &meta)?;
        let metrics = Metrics {
            model_sha256: Some(fsio::file_sha256(&self.run.model())?),
            ..self.metrics(history, Some(final_))
        };
        fsio::write_json_atomic(&self.run.metrics(), &metrics)?;
        let ckpt = self.run.checkpoint();
        std::fs::remove_file(&ckpt).map_err(|e| Error::io("removing", &ckpt, e))?;
        Ok(TrainOutcome { metrics, finished: true })
    }
}
