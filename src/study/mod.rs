//! The whole study as one library call: for each dataset and seed, the plain BNN baseline (λ = 0) and the LCR
//! model(s), each trained, evaluated, bounded, certified, attacked and scored under corruptions, then one report
//! over all of them.
//!
//! ```text
//! StudyRequest --plan--> Plan: OUT/<dataset>/<name>-s<seed>/  (name: baseline, lcr or lcr-<λ>)
//!                              OUT/<dataset>/corrupted/{mnist-c,cifar-c}/  (generated once, shared)
//!                              OUT/report/
//! Plan --run--> per model: train -> eval -> bound -> certify -> attack (first seed) -> robustness (both sets),
//!               the models of one dataset and seed side by side
//!           --> report (wall-clock columns left out, so a resumed study writes the same bytes)
//! ```
//!
//! Every stage reuses what is finished (its `reusable` rule; training resumes from its checkpoint; a corrupted
//! set whose manifest matches is kept), so a study stopped at any moment and started again ends with the same
//! report. The study takes no lock: the caller locks every directory of [`Plan::dirs`] first (the command line
//! does).

mod plan;
mod tables;

use std::path::PathBuf;

use self::plan::clear_except_lock;
pub use self::plan::{
    CERTIFY_WITH, ModelPlan, Plan, STUDY_LCR_WEIGHT, SUITES, SetPlan, Sizes, StudyRequest, plan,
};
pub use self::tables::summary;
use rayon::prelude::*;

use crate::attack::EmpiricalFile;
use crate::bounds::BoundsFile;
use crate::certify::CertificatesFile;
use crate::corrupt::{Split, layout::Manifest};
use crate::error::Result;
use crate::fsio;
use crate::report::ReportOutcome;
use crate::robustness::{EvalOptions, RobustnessRequest, SuiteReport, load_deployed};
use crate::run_dir::RunDir;
use crate::train::{self, TrainOptions};

/// What the study measured for one model.
#[derive(Clone, Debug)]
pub struct ModelResult {
    /// The model's plan.
    pub plan: ModelPlan,
    /// Deployed accuracy on the whole test split.
    pub accuracy: f64,
    /// Its `bounds.json`.
    pub bounds: BoundsFile,
    /// Its `certificates.json`.
    pub certificates: CertificatesFile,
    /// Its `empirical.json` (first seed only).
    pub empirical: Option<EmpiricalFile>,
    /// Its report on each suite of [`SUITES`], in order.
    pub suites: Vec<SuiteReport>,
}

impl ModelResult {
    /// Violation records of every audit of this model.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.empirical.as_ref().map(|e| e.violation_records.clone()).unwrap_or_default();
        for r in &self.suites {
            v.extend(r.audit.iter().flat_map(|a| a.records().iter().cloned()));
        }
        v
    }
}

/// What the study produced.
#[derive(Clone, Debug)]
pub struct StudyOutcome {
    /// Every model's results, in plan order.
    pub models: Vec<ModelResult>,
    /// The report's files.
    pub report: ReportOutcome,
}

impl StudyOutcome {
    /// Violation records of every audit of the study.
    pub fn violations(&self) -> Vec<String> {
        self.models.iter().flat_map(ModelResult::violations).collect()
    }
}

/// How the study shows progress.
pub struct Progress<'a> {
    /// One line per step.
    pub say: &'a (dyn Fn(&str) + Sync),
    /// Progress bars of the long stages on standard error.
    pub bars: bool,
}

/// Runs the planned study: shared corrupted sets first, then the models, then the report. The caller holds
/// the locks of [`Plan::dirs`] and has called [`Plan::check_reusable`] (and [`Plan::clear`] to start over).
///
/// The models of one dataset and seed (the baseline and its LCR models) run side by side, each on the shared
/// thread pool: every stage of a model reads only its own directory and the shared sets, and gives the same
/// bytes whatever runs beside it; only an LCR model's corruption tables wait for its baseline's, whose CE
/// normalises them. Each line of progress names its model.
pub fn run(plan: &Plan, progress: &Progress) -> Result<StudyOutcome> {
    for set in &plan.sets {
        corrupted_set(plan, set, progress)?;
    }
    let mut models = Vec::new();
    for group in plan.models.chunk_by(|a, b| a.dataset == b.dataset && a.seed == b.seed) {
        models.extend(study_group(plan, group, progress)?);
    }
    (progress.say)(&format!("== report -> {}", plan.report.display()));
    let dirs: Vec<PathBuf> = plan.models.iter().map(|m| m.dir.clone()).collect();
    let runs = crate::report::collect_named(&dirs, &plan.report)?;
    let report = crate::report::build(runs)?.without_wall_clock();
    let report = crate::report::write(&report, &[], &plan.report)?;
    Ok(StudyOutcome { models, report })
}

/// The models of one dataset and seed, side by side: each baseline (no reference) to its end, each LCR model up
/// to its corruption tables, which follow once every baseline of the group is done.
fn study_group(plan: &Plan, group: &[ModelPlan], progress: &Progress) -> Result<Vec<ModelResult>> {
    let labels: Vec<String> = group
        .iter()
        .map(|m| if group.len() > 1 { format!("[{}] ", m.name) } else { String::new() })
        .collect();
    let parts: Vec<Result<ModelResult>> = group
        .par_iter()
        .zip(&labels)
        .map(|(m, label)| {
            let say = |line: &str| (progress.say)(&format!("{label}{line}"));
            let labelled = Progress { say: &say, bars: progress.bars };
            let mut r = study_model(plan, m, &labelled, label)?;
            if m.reference.is_none() {
                r.suites = study_suites(plan, m, &labelled)?;
            }
            Ok(r)
        })
        .collect();
    let mut out = Vec::with_capacity(group.len());
    for ((part, m), label) in parts.into_iter().zip(group).zip(&labels) {
        let mut r = part?;
        if m.reference.is_some() {
            let say = |line: &str| (progress.say)(&format!("{label}{line}"));
            r.suites = study_suites(plan, m, &Progress { say: &say, bars: progress.bars })?;
        }
        out.push(r);
    }
    Ok(out)
}

/// The shared corrupted set `set`: kept when its manifest says it is the one asked for (a manifest is written
/// last, so a set with one is complete), generated afresh otherwise.
fn corrupted_set(plan: &Plan, set: &SetPlan, progress: &Progress) -> Result<()> {
    let req = plan.corrupt_request(set);
    if let Ok(Some(m)) = Manifest::read(&set.dir) {
        let clean = crate::data::load(set.dataset, req.data_dir.as_deref())?;
        let images = plan.sizes.corrupted.min(clean.test.len());
        if m.suite == set.suite
            && m.seed == req.seed
            && m.dataset == set.dataset.name()
            && m.dataset_checksum == clean.checksum
            && m.split == Split::Test.name()
            && m.images == images
        {
            return Ok(());
        }
    }
    (progress.say)(&format!(
        "== {} {}: corrupting the first {} test images -> {}",
        set.dataset.name(),
        set.suite.as_str(),
        plan.sizes.corrupted,
        set.dir.display()
    ));
    clear_except_lock(&set.dir)?;
    crate::corrupt::run(&req, progress.bars)?;
    Ok(())
}

/// One model from training to its attacks (the corruption tables are [`study_suites`]); `label` starts its
/// training's progress lines.
fn study_model(plan: &Plan, m: &ModelPlan, progress: &Progress, label: &str) -> Result<ModelResult> {
    let say = progress.say;
    let run = RunDir::new(&m.dir);
    let resume = fsio::exists(&run.model())? || fsio::exists(&run.checkpoint())?;
    say(&format!(
        "== {} {}: {} {:?}, λ = {} -> {}",
        m.dataset.name(),
        m.name,
        m.config.arch.name(),
        m.config.widths,
        m.lambda,
        m.dir.display()
    ));
    train::train(
        &m.config,
        &m.dir,
        &TrainOptions { resume, stop_after: None, progress: progress.bars, label: label.to_string() },
    )?;
    let accuracy = crate::eval::evaluate_run(&run, None)?.accuracy;
    // The latent function with BatchNorm statistics of its own, so that its bounds and radii are about a network
    // that classifies.
    crate::latent_bn::ensure(&run, crate::latent_bn::DEFAULT_IMAGES, None, say)?;

    let req = plan.bound_request();
    let bounds = match crate::bounds::reusable(&run, &req)? {
        Some(b) => b,
        None => {
            say(&format!("== {}: Lipschitz bounds", m.name));
            crate::bounds::run(&run, &req, say)?
        }
    };

    let req = plan.certify_request();
    let certificates = match crate::certify::reusable(&run, &req)? {
        Some(c) => c,
        None => {
            say(&format!("== {}: certified radii", m.name));
            crate::certify::run(&run, &req, say)?
        }
    };

    let empirical = if m.full {
        let req = plan.attack_request();
        Some(match crate::attack::reusable(&run, &req)? {
            Some(e) => e,
            None => {
                say(&format!("== {}: attacks on {} test images and the audit", m.name, req.samples));
                crate::attack::run(&run, &req, say)?
            }
        })
    } else {
        None
    };

    Ok(ModelResult { plan: m.clone(), accuracy, bounds, certificates, empirical, suites: Vec::new() })
}

/// The corruption tables of model `m` on each shared set of its dataset (an LCR model's CE is normalised by its
/// baseline's tables, which must exist).
fn study_suites(plan: &Plan, m: &ModelPlan, progress: &Progress) -> Result<Vec<SuiteReport>> {
    let run = RunDir::new(&m.dir);
    let mut suites = Vec::new();
    for set in plan.sets.iter().filter(|s| s.dataset == m.dataset) {
        let req = RobustnessRequest {
            suite: Some(set.suite),
            from: Some(set.dir.clone()),
            reference: m.reference.clone(),
            ..Default::default()
        };
        suites.push(match crate::robustness::reusable(&run, &req)? {
            Some(r) => r,
            None => {
                (progress.say)(&format!("== {}: {} with the corruption audit", m.name, set.suite.as_str()));
                let options = EvalOptions { chunk: 2000, progress: progress.bars };
                crate::robustness::run(&run, &req, &load_deployed, &options)?
            }
        });
    }
    Ok(suites)
}
