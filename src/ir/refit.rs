//! The input statistics of every affine (folded BatchNorm) layer under one function, for refitting BatchNorm to
//! that function.
//!
//! Affine layers are visited depth first (a residual block's body before its shortcut), the order in which
//! [`crate::export`] creates them. Layer k's statistics are taken with layers 0..k already replaced by their
//! refitted maps, as BatchNorm's own statistics are taken in training: each layer normalises what the refitted
//! layers before it produce.

use rayon::prelude::*;

use super::forward::apply;
use super::{Function, Layer, Net, layer_path};
use crate::error::{Error, Result};

/// Per-channel mean and (population) variance of one affine layer's input.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelMoments {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Variance per channel (mean of squares minus squared mean, never below 0).
    pub var: Vec<f64>,
}

/// Sums over the samples of one chunk.
#[derive(Clone, Debug, Default)]
struct Sums {
    sum: Vec<f64>,
    squares: Vec<f64>,
    count: usize,
}

impl Sums {
    fn add(&mut self, x: &[f64], shape: &[usize]) {
        let per = if shape.len() == 3 { shape[1] * shape[2] } else { 1 };
        let channels = x.len() / per;
        if self.sum.is_empty() {
            (self.sum, self.squares) = (vec![0.0; channels], vec![0.0; channels]);
        }
        for (i, &v) in x.iter().enumerate() {
            self.sum[i / per] += v;
            self.squares[i / per] += v * v;
        }
        self.count += per;
    }

    fn merge(mut self, other: Sums) -> Sums {
        if self.sum.is_empty() {
            return other;
        }
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.squares.iter_mut().zip(&other.squares) {
            *a += b;
        }
        self.count += other.count;
        self
    }
}

/// Walks the layers of one sample, replacing the affine layers before `target` by `fitted` and stopping at the
/// input of affine layer `target`.
struct Walk<'a> {
    function: Function,
    net: &'a Net,
    fitted: &'a [(Vec<f64>, Vec<f64>)],
    target: usize,
    seen: usize,
}

impl Walk<'_> {
    /// `None` once the target's input has been added to `sums`.
    fn run(
        &mut self,
        prefix: &str,
        layers: &[Layer],
        mut x: Vec<f64>,
        mut shape: Vec<usize>,
        sums: &mut Sums,
    ) -> Result<Option<(Vec<f64>, Vec<usize>)>> {
        for (i, layer) in layers.iter().enumerate() {
            let path = layer_path(prefix, i);
            match layer {
                Layer::Affine { .. } if self.seen == self.target => {
                    sums.add(&x, &shape);
                    return Ok(None);
                }
                Layer::Affine { .. } => {
                    let (scale, shift) = &self.fitted[self.seen];
                    self.seen += 1;
                    let refitted = Layer::Affine { scale: scale.clone(), shift: shift.clone() };
                    (x, shape) = apply(&path, &refitted, self.function, self.net.sign_zero, x, &shape)?;
                }
                Layer::Residual { body, shortcut } => {
                    let Some((b, out)) =
                        self.run(&format!("{path}.body"), body, x.clone(), shape.clone(), sums)?
                    else {
                        return Ok(None);
                    };
                    let Some((s, _)) = self.run(&format!("{path}.shortcut"), shortcut, x, shape, sums)?
                    else {
                        return Ok(None);
                    };
                    x = b.iter().zip(&s).map(|(u, v)| u + v).collect();
                    shape = out;
                }
                _ => (x, shape) = apply(&path, layer, self.function, self.net.sign_zero, x, &shape)?,
            }
        }
        Ok(Some((x, shape)))
    }
}

/// The number of affine layers of `layers`, at any depth.
pub fn affine_count(layers: &[Layer]) -> usize {
    layers
        .iter()
        .map(|l| match l {
            Layer::Affine { .. } => 1,
            Layer::Residual { body, shortcut } => affine_count(body) + affine_count(shortcut),
            _ => 0,
        })
        .sum()
}

impl Net {
    /// The input moments of affine layer `target` (depth-first order) under `function` over the samples `x`
    /// (each flat, of the net's input length), with the affine layers before it replaced by `fitted`
    /// (`fitted.len() ≥ target`). Deterministic: samples are summed in fixed chunks, chunks in order.
    pub fn affine_input_moments(
        &self,
        function: Function,
        fitted: &[(Vec<f64>, Vec<f64>)],
        target: usize,
        x: &[Vec<f64>],
    ) -> Result<ChannelMoments> {
        if target >= affine_count(&self.layers) || fitted.len() < target {
            return Err(Error::config(
                "affine refit",
                format!(
                    "affine layer {target} of {} with {} fitted",
                    affine_count(&self.layers),
                    fitted.len()
                ),
            ));
        }
        if x.is_empty() {
            return Err(Error::config("affine refit", "no samples to take statistics over"));
        }
        const CHUNK: usize = 64;
        let parts: Vec<Sums> = x
            .par_chunks(CHUNK)
            .map(|chunk| -> Result<Sums> {
                let mut sums = Sums::default();
                for v in chunk {
                    self.check_input_len(v)?;
                    let mut walk = Walk { function, net: self, fitted, target, seen: 0 };
                    walk.run("", &self.layers, v.clone(), self.input_shape.clone(), &mut sums)?;
                }
                Ok(sums)
            })
            .collect::<Result<_>>()?;
        let total = parts.into_iter().fold(Sums::default(), Sums::merge);
        let n = total.count as f64;
        let mean: Vec<f64> = total.sum.iter().map(|s| s / n).collect();
        let var = total.squares.iter().zip(&mean).map(|(q, m)| (q / n - m * m).max(0.0)).collect();
        Ok(ChannelMoments { mean, var })
    }

    fn check_input_len(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.input_len() {
            return Err(Error::Shape {
                context: "refit sample".into(),
                expected: self.input_shape.clone(),
                found: vec![x.len()],
            });
        }
        Ok(())
    }

    /// The net with its affine layers (depth-first order) replaced by `maps` as (scale, shift); each map must
    /// have the length of the layer it replaces.
    pub fn with_affine_maps(&self, maps: &[(Vec<f64>, Vec<f64>)]) -> Result<Net> {
        fn replace(layers: &mut [Layer], maps: &[(Vec<f64>, Vec<f64>)], next: &mut usize) -> Result<()> {
            for layer in layers {
                match layer {
                    Layer::Affine { scale, shift } => {
                        let (s, t) = maps.get(*next).ok_or_else(|| {
                            Error::config(
                                "affine maps",
                                format!("only {} maps for more affine layers", maps.len()),
                            )
                        })?;
                        if s.len() != scale.len() || t.len() != shift.len() {
                            return Err(Error::config(
                                "affine maps",
                                format!("map {next} has {} channels, the layer {}", s.len(), scale.len()),
                            ));
                        }
                        (*scale, *shift) = (s.clone(), t.clone());
                        *next += 1;
                    }
                    Layer::Residual { body, shortcut } => {
                        replace(body, maps, next)?;
                        replace(shortcut, maps, next)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        let mut net = self.clone();
        let mut next = 0;
        replace(&mut net.layers, maps, &mut next)?;
        if next != maps.len() {
            return Err(Error::config(
                "affine maps",
                format!("{} maps for {next} affine layers", maps.len()),
            ));
        }
        net.validate()?;
        Ok(net)
    }
}
