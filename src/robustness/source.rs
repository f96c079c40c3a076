//! Where corrupted images come from: generated on the fly from a clean set, or read from a benchmark layout.

use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use super::Cell;
use crate::corrupt::layout::{self, CifarC, Layout};
use crate::corrupt::{Corruption, Corruptor, Suite};
use crate::data::ImageSet;
use crate::error::{Error, Result};

/// A supply of corrupted images, cut into cells (one corruption at one severity).
pub trait Source: Sync {
    /// One line saying what this is (recorded in the output).
    fn describe(&self) -> String;
    /// The cells, in evaluation order.
    fn cells(&self) -> Vec<Cell>;
    /// The clean set this source holds, if any (MNIST-C's `identity`).
    fn clean(&self) -> Result<Option<ImageSet>> {
        Ok(None)
    }
    /// Images `range` of `cell`.
    fn chunk(&self, cell: &Cell, range: Range<usize>) -> Result<ImageSet>;
}

fn slice(set: &ImageSet, range: Range<usize>) -> Result<ImageSet> {
    let per = set.image_len();
    ImageSet::new(
        set.height,
        set.width,
        set.channels,
        set.pixels[range.start * per..range.end * per].to_vec(),
        set.labels[range].to_vec(),
    )
}

/// Corruptions generated from a clean set with a seed.
#[derive(Debug)]
pub struct Generated {
    /// The clean images.
    pub clean: ImageSet,
    /// The suite (and so the table).
    pub suite: Suite,
    /// Corruption → severities, in order.
    pub plan: Vec<(Corruption, Vec<u8>)>,
    /// The seed.
    pub seed: u64,
    corruptor: Corruptor,
}

impl Generated {
    /// Plans `corruptions` (default: the suite's) at `severities` (default: the suite's) over `clean`.
    pub fn new(
        clean: ImageSet,
        suite: Suite,
        corruptions: Option<&[Corruption]>,
        severities: Option<&[u8]>,
        seed: u64,
    ) -> Result<Generated> {
        let list = corruptions.map_or_else(|| suite.corruptions(), <[_]>::to_vec);
        let mut plan = Vec::new();
        for c in list {
            if !suite.contains(c) {
                return Err(Error::config("corruptions", format!("{c} is not part of the {suite} suite")));
            }
            let sev = match (severities, suite) {
                (Some(_), Suite::MnistC) => {
                    return Err(Error::config(
                        "severities",
                        "MNIST-C uses one fixed severity per corruption",
                    ));
                }
                (Some(s), _) => s.to_vec(),
                (None, _) => suite.severities(c),
            };
            plan.push((c, sev));
        }
        Ok(Generated { clean, suite, plan, seed, corruptor: Corruptor::new(suite.table()) })
    }

    /// Uses `corruptor` (e.g. one with another frost directory).
    pub fn with_corruptor(mut self, corruptor: Corruptor) -> Generated {
        self.corruptor = corruptor;
        self
    }
}

impl Source for Generated {
    fn describe(&self) -> String {
        format!("generated {} ({} table, seed {})", self.suite, self.suite.table(), self.seed)
    }

    fn cells(&self) -> Vec<Cell> {
        self.plan
            .iter()
            .flat_map(|(c, sev)| {
                sev.iter().map(|&s| Cell {
                    corruption: c.as_str().to_string(),
                    severity: s,
                    images: self.clean.len(),
                })
            })
            .collect()
    }

    fn chunk(&self, cell: &Cell, range: Range<usize>) -> Result<ImageSet> {
        let c: Corruption = cell.corruption.parse()?;
        let part = slice(&self.clean, range.clone())?;
        self.corruptor.corrupt_set(&part, c, cell.severity, self.seed, range.start, &|| {})
    }
}

/// The last corruption file read: its name and its severity blocks.
type CachedFile = (String, Vec<(u8, ImageSet)>);

/// A benchmark layout on disk.
#[derive(Debug)]
pub struct OnDisk {
    layout: Layout,
    cache: Mutex<Option<CachedFile>>,
    shape: std::sync::OnceLock<(usize, usize, usize)>,
}

impl OnDisk {
    /// Opens `dir` (see [`layout::open`]).
    pub fn open(dir: &std::path::Path) -> Result<OnDisk> {
        Ok(OnDisk { layout: layout::open(dir)?, cache: Mutex::new(None), shape: std::sync::OnceLock::new() })
    }

    /// The layout read.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The suite the set declares (manifest), or the one its layout implies.
    pub fn suite(&self) -> Option<Suite> {
        match &self.layout {
            Layout::CifarC(c) => c.manifest.as_ref().map(|m| m.suite).or(Some(Suite::CifarC)),
            Layout::MnistC(m) => m.manifest.as_ref().map(|m| m.suite).or(Some(Suite::MnistC)),
            Layout::ImagenetC(i) => i.manifest.as_ref().map(|m| m.suite).or(Some(Suite::ImagenetC)),
        }
    }

    /// The corruption names the set holds (MNIST-C's clean `identity` left out).
    pub fn corruption_names(&self) -> Vec<String> {
        match &self.layout {
            Layout::CifarC(c) => c.files.keys().cloned().collect(),
            Layout::MnistC(m) => m.corruptions.keys().filter(|n| *n != "identity").cloned().collect(),
            Layout::ImagenetC(i) => i.corruptions.keys().cloned().collect(),
        }
    }

    /// `(height, width, channels)` of the set's images (for ImageNet-C: of the first image, decoded once; every
    /// chunk read later must have the same size).
    pub fn image_shape(&self) -> Result<(usize, usize, usize)> {
        if let Some(&shape) = self.shape.get() {
            return Ok(shape);
        }
        let shape = self.read_image_shape()?;
        Ok(*self.shape.get_or_init(|| shape))
    }

    fn read_image_shape(&self) -> Result<(usize, usize, usize)> {
        match &self.layout {
            Layout::CifarC(c) => Ok(c.shape),
            Layout::MnistC(m) => Ok(m.shape),
            Layout::ImagenetC(i) => {
                let first = i.corruptions.iter().find_map(|(name, sev)| {
                    let s = *sev.first()?;
                    i.files(name, s).ok()?.into_iter().next()
                });
                let Some(file) = first else {
                    return Err(Error::Missing { path: i.dir.clone(), what: "ImageNet-C image" });
                };
                let set = i.read_sized(std::slice::from_ref(&file), None)?;
                Ok((set.height, set.width, set.channels))
            }
        }
    }

    /// Refuses a label that a model with `classes` classes cannot predict, naming the labels file.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        let check = |path: &Path, labels: &[u8]| match labels.iter().position(|&l| usize::from(l) >= classes)
        {
            Some(i) => Err(Error::format(
                path,
                format!(
                    "label {i} is {}, but the model has {classes} classes (0 to {})",
                    labels[i],
                    classes.saturating_sub(1)
                ),
            )),
            None => Ok(()),
        };
        match &self.layout {
            Layout::CifarC(c) => check(&c.dir.join(layout::LABELS), &c.labels),
            Layout::MnistC(m) => {
                for name in m.corruptions.keys() {
                    let (path, labels) = m.labels(name)?;
                    check(&path, &labels)?;
                }
                Ok(())
            }
            Layout::ImagenetC(i) if i.classes.len() > classes => Err(Error::format(
                &i.dir,
                format!("{} class folders, but the model has {classes} classes", i.classes.len()),
            )),
            Layout::ImagenetC(_) => Ok(()),
        }
    }

    fn cifar_block(&self, c: &CifarC, cell: &Cell) -> Result<ImageSet> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.as_ref().is_none_or(|(name, _)| *name != cell.corruption) {
            *cache = Some((cell.corruption.clone(), c.read(&cell.corruption)?));
        }
        let (_, blocks) = cache.as_ref().expect("filled above");
        blocks.iter().find(|(s, _)| *s == cell.severity).map(|(_, set)| set.clone()).ok_or_else(|| {
            Error::format(&c.dir, format!("no severity {} in {}", cell.severity, cell.corruption))
        })
    }
}

impl Source for OnDisk {
    fn describe(&self) -> String {
        match &self.layout {
            Layout::CifarC(c) => format!("{} (CIFAR-10-C layout)", c.dir.display()),
            Layout::MnistC(m) => format!("{} (MNIST-C layout)", m.dir.display()),
            Layout::ImagenetC(i) if i.checked() => format!(
                "{} (ImageNet-C layout, {} classes; every file checked against the digest in manifest.json)",
                i.dir.display(),
                i.classes.len()
            ),
            Layout::ImagenetC(i) => format!(
                "{} (ImageNet-C layout, {} classes; no manifest.json, as in the released set: file contents not \
                 checked against checksums, only decoded strictly)",
                i.dir.display(),
                i.classes.len()
            ),
        }
    }

    fn cells(&self) -> Vec<Cell> {
        match &self.layout {
            Layout::CifarC(c) => c
                .files
                .keys()
                .flat_map(|name| {
                    c.severities.iter().map(|&s| Cell {
                        corruption: name.clone(),
                        severity: s,
                        images: c.images,
                    })
                })
                .collect(),
            Layout::MnistC(m) => m
                .corruptions
                .keys()
                .filter(|n| *n != "identity")
                .map(|name| {
                    let severity = name.parse::<Corruption>().map_or(1, crate::corrupt::mnist_c_severity);
                    let images = m.images.get(name).copied().unwrap_or(0);
                    Cell { corruption: name.clone(), severity, images }
                })
                .collect(),
            Layout::ImagenetC(i) => i
                .corruptions
                .iter()
                .flat_map(|(name, sev)| {
                    sev.iter().map(|&s| Cell {
                        corruption: name.clone(),
                        severity: s,
                        images: i.files(name, s).map_or(0, |f| f.len()),
                    })
                })
                .collect(),
        }
    }

    fn clean(&self) -> Result<Option<ImageSet>> {
        match &self.layout {
            Layout::MnistC(m) if m.corruptions.contains_key("identity") => m.read("identity").map(Some),
            _ => Ok(None),
        }
    }

    fn chunk(&self, cell: &Cell, range: Range<usize>) -> Result<ImageSet> {
        match &self.layout {
            Layout::CifarC(c) => slice(&self.cifar_block(c, cell)?, range),
            Layout::MnistC(m) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.as_ref().is_none_or(|(name, _)| *name != cell.corruption) {
                    *cache =
                        Some((cell.corruption.clone(), vec![(cell.severity, m.read(&cell.corruption)?)]));
                }
                slice(&cache.as_ref().expect("filled above").1[0].1, range)
            }
            Layout::ImagenetC(i) => {
                let files = i.files(&cell.corruption, cell.severity)?;
                let (h, w, _) = self.image_shape()?;
                i.read_sized(&files[range], Some((h, w)))
            }
        }
    }
}
