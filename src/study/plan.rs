//! The study's plan: what [`StudyRequest`] asks for, laid out as directories, seeds and the requests of every
//! stage ([`plan`], [`Plan`]), with the rules under which finished work is reused or cleared.

use std::fs;
use std::path::{Path, PathBuf};

use crate::attack::AttackRequest;
use crate::bounds::{BoundRequest, Method, Methods};
use crate::certify::CertifyRequest;
use crate::corrupt::{CorruptRequest, Split, Suite};
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::fsio;
use crate::lcr::LcrVariant;
use crate::robustness::RobustnessRequest;
use crate::run_dir::RunDir;
use crate::train::{self, RawConfig, TrainConfig};

/// The LCR coefficient of the study's regularised model when none is named.
pub const STUDY_LCR_WEIGHT: f64 = 1e-3;

/// The corrupted sets every model is scored on: MNIST-C, and the 15 × 5 table with the CIFAR parameters.
pub const SUITES: [Suite; 2] = [Suite::MnistC, Suite::CifarC];

/// The bound methods whose constants feed the certified radii, on every seed alike: the spectral products, the
/// sequential LipSDP bound (ℓ2), the global LP (ℓ∞) and the ℓ∞ constants converted from those ℓ2 bounds; each
/// class pair takes the smallest certified constant.
pub const CERTIFY_WITH: [Method; 4] =
    [Method::SpectralProduct, Method::LipSdpSequential, Method::LpGlobal, Method::NormConversion];

/// What the study is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyRequest {
    /// Directory of the whole study.
    pub out: PathBuf,
    /// Datasets, each with its own models and corrupted sets.
    pub datasets: Vec<DatasetKind>,
    /// Seeds 1..=N of every configuration (default 3; 2 with `quick`).
    pub seeds: Option<u64>,
    /// Epochs (default: the architecture's; 1 with `quick`).
    pub epochs: Option<usize>,
    /// MLP hidden widths (default: the architecture's, 384,384; 48,48 with `quick` (above the local LP's size limit, which would take minutes)).
    pub widths: Option<Vec<usize>>,
    /// Dataset directory (only with one dataset; default: the shipped copy).
    pub data_dir: Option<PathBuf>,
    /// λ of the regularised models, one model per value (default [`STUDY_LCR_WEIGHT`]); 0 is the baseline,
    /// always included.
    pub lcr_weights: Vec<f64>,
    /// The LCR variant (default: the configuration's, the paper's per-layer form).
    pub lcr_variant: Option<LcrVariant>,
    /// Test images attacked on the first seed (default 100; 10 with `quick`).
    pub attack_samples: Option<usize>,
    /// Fewer samples and epochs, a smaller network, the same stages.
    pub quick: bool,
}

impl Default for StudyRequest {
    fn default() -> Self {
        StudyRequest {
            out: PathBuf::from("runs/study"),
            datasets: vec![DatasetKind::Mnist],
            seeds: None,
            epochs: None,
            widths: None,
            data_dir: None,
            lcr_weights: vec![STUDY_LCR_WEIGHT],
            lcr_variant: None,
            attack_samples: None,
            quick: false,
        }
    }
}

/// The sizes of the study's stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizes {
    /// Seeds per configuration.
    pub seeds: u64,
    /// Test images certified per model (`None`: the whole test split).
    pub certify: Option<usize>,
    /// Test images in each shared corrupted set (the first N).
    pub corrupted: usize,
    /// Test images attacked per first-seed model.
    pub attack: usize,
    /// Test images of the data-dependent bounds (retention, sampled gradients).
    pub bound_samples: usize,
}

impl Sizes {
    fn of(req: &StudyRequest) -> Sizes {
        if req.quick {
            Sizes {
                seeds: req.seeds.unwrap_or(2),
                certify: Some(500),
                corrupted: 500,
                attack: req.attack_samples.unwrap_or(10),
                bound_samples: 64,
            }
        } else {
            Sizes {
                seeds: req.seeds.unwrap_or(3),
                certify: None,
                corrupted: 2000,
                attack: req.attack_samples.unwrap_or(100),
                bound_samples: 64,
            }
        }
    }
}

/// One model of the study.
#[derive(Clone, Debug)]
pub struct ModelPlan {
    /// Its dataset.
    pub dataset: DatasetKind,
    /// `baseline`, `lcr` or `lcr-<λ>`, then `-s<seed>`.
    pub name: String,
    /// Its seed.
    pub seed: u64,
    /// Its λ.
    pub lambda: f64,
    /// Its checked training configuration.
    pub config: TrainConfig,
    /// Its run directory.
    pub dir: PathBuf,
    /// The same seed's baseline, which CE is normalised by (`None` for a baseline).
    pub reference: Option<PathBuf>,
    /// Whether the expensive stage (the attack with its audit) runs on it: the first seed only.
    pub full: bool,
}

/// A shared corrupted set.
#[derive(Clone, Debug)]
pub struct SetPlan {
    /// Its dataset.
    pub dataset: DatasetKind,
    /// Its suite.
    pub suite: Suite,
    /// Its directory.
    pub dir: PathBuf,
}

/// What the study will do, checked before any work.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The request.
    pub request: StudyRequest,
    /// Stage sizes.
    pub sizes: Sizes,
    /// The models, baselines first within each dataset and seed.
    pub models: Vec<ModelPlan>,
    /// The corrupted sets.
    pub sets: Vec<SetPlan>,
    /// The report's directory.
    pub report: PathBuf,
}

/// Refuses what no study can do and lays out the directories, before any work: every configuration checked,
/// every run directory that already holds a model checked to hold one of the same configuration.
pub fn plan(req: &StudyRequest) -> Result<Plan> {
    if req.datasets.is_empty() {
        return Err(Error::config("dataset", "name at least one dataset"));
    }
    if req.data_dir.is_some() && req.datasets.len() > 1 {
        return Err(Error::config("data-dir", "applies to a study of one dataset only"));
    }
    if req.seeds == Some(0) {
        return Err(Error::config("seeds", "0 seeds leaves nothing to study; give at least 1"));
    }
    if req.attack_samples == Some(0) {
        return Err(Error::config("attack-samples", "must be at least 1"));
    }
    let mut weights: Vec<f64> = Vec::new();
    for &w in &req.lcr_weights {
        if !(w.is_finite() && w >= 0.0) {
            return Err(Error::config("lcr_weight", format!("{w} is not a finite λ ≥ 0")));
        }
        if w > 0.0 && !weights.contains(&w) {
            weights.push(w);
        }
    }
    let sizes = Sizes::of(req);
    let widths = req.widths.clone().or_else(|| req.quick.then(|| vec![48, 48]));
    let epochs = req.epochs.or(req.quick.then_some(1));
    let mut models = Vec::new();
    for &dataset in &req.datasets {
        let root = req.out.join(dataset.name());
        for seed in 1..=sizes.seeds {
            let base_dir = root.join(format!("baseline-s{seed}"));
            let lambdas = std::iter::once(0.0).chain(weights.iter().copied());
            for lambda in lambdas {
                let stem = match (lambda == 0.0, weights.len()) {
                    (true, _) => "baseline".to_string(),
                    (false, 1) => "lcr".to_string(),
                    (false, _) => format!("lcr-{lambda}"),
                };
                let config = RawConfig {
                    dataset: Some(dataset),
                    seed: Some(seed),
                    epochs,
                    lcr_weight: Some(lambda),
                    lcr_variant: req.lcr_variant,
                    widths: widths.clone(),
                    data_dir: req.data_dir.clone(),
                    ..RawConfig::default()
                }
                .check()?;
                let dir = root.join(format!("{stem}-s{seed}"));
                models.push(ModelPlan {
                    dataset,
                    name: format!("{stem}-s{seed}"),
                    seed,
                    lambda,
                    config,
                    reference: (lambda > 0.0).then(|| base_dir.clone()),
                    dir,
                    full: seed == 1,
                });
            }
        }
    }
    let sets = req
        .datasets
        .iter()
        .flat_map(|&dataset| {
            SUITES.map(|suite| SetPlan {
                dataset,
                suite,
                dir: req.out.join(dataset.name()).join("corrupted").join(suite.as_str()),
            })
        })
        .collect();
    Ok(Plan { request: req.clone(), sizes, models, sets, report: req.out.join("report") })
}

impl Plan {
    /// Every directory the study writes: the run directories, the corrupted sets, the report.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut d: Vec<PathBuf> = self.models.iter().map(|m| m.dir.clone()).collect();
        d.extend(self.sets.iter().map(|s| s.dir.clone()));
        d.push(self.report.clone());
        d
    }

    /// Empties every directory of the study but its lock file (`--fresh`: the directories stay owned while
    /// they are emptied).
    pub fn clear(&self) -> Result<()> {
        self.dirs().iter().try_for_each(|d| clear_except_lock(d))
    }

    /// Refuses to reuse a run directory that holds a model (or checkpoint) of another configuration, or of an
    /// unknown one.
    pub fn check_reusable(&self) -> Result<()> {
        for m in &self.models {
            let run = RunDir::new(&m.dir);
            if !(fsio::exists(&run.model())? || fsio::exists(&run.checkpoint())?) {
                continue;
            }
            let problem = match train::recorded_config_matches(&run, &m.config.to_toml()?)? {
                Some(true) => continue,
                Some(false) => format!("a run with another configuration ({})", run.config().display()),
                None => format!("a run without its configuration ({} is missing)", run.config().display()),
            };
            return Err(Error::config(
                "out",
                format!(
                    "{} holds {problem}; pass --fresh to start over or choose another --out",
                    m.dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// The bound call of every model: every method but LipSDP-Neuron and the gradient ascent for both Lipschitz
    /// functions (the global LP of the default MLP takes about a second per function; LipSDP-Neuron about a
    /// minute and the ascent about ten seconds per function and norm, so they are left to `bound`; the exact
    /// methods skip networks beyond their size, with the reason).
    pub(super) fn bound_request(&self) -> BoundRequest {
        BoundRequest {
            methods: Methods { lipsdp: false, ascent: false, ..Methods::default() },
            samples: self.sizes.bound_samples,
            ..BoundRequest::default()
        }
    }

    pub(super) fn certify_request(&self) -> CertifyRequest {
        CertifyRequest {
            samples: self.sizes.certify,
            bound_methods: Some(CERTIFY_WITH.to_vec()),
            ..CertifyRequest::default()
        }
    }

    pub(super) fn attack_request(&self) -> AttackRequest {
        AttackRequest { samples: self.sizes.attack, ..AttackRequest::default() }
    }

    pub(super) fn corrupt_request(&self, set: &SetPlan) -> CorruptRequest {
        CorruptRequest {
            dataset: set.dataset.name().to_string(),
            data_dir: self.request.data_dir.clone(),
            split: Split::Test,
            suite: set.suite,
            corruptions: None,
            severities: None,
            seed: RobustnessRequest::default().seed,
            limit: Some(self.sizes.corrupted),
            crop: None,
            out: Some(set.dir.clone()),
            layout: None,
            preview: None,
            preview_index: 0,
            frost_dir: None,
        }
    }
}

/// Removes everything in `dir` but its lock file; nothing when `dir` does not exist.
pub(super) fn clear_except_lock(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io("listing", dir, e))?;
        if e.file_name() == crate::lock::LOCK_FILE {
            continue;
        }
        let path = e.path();
        let removed = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io("removing", &path, e))?;
    }
    Ok(())
}
