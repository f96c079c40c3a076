//! Pixel normalisation: the one place where `u8` pixels become network inputs.
//!
//! x = (p / 255 − mean_c) / std_c per channel c. The constants are the usual per-dataset training-set
//! statistics; the values used are stored in every model's metadata, so a model is always fed as it was trained.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{DatasetKind, ImageSet};
use crate::error::{CandleContext, Error, Result};
use crate::float::{dn, up};
use crate::ir::InputNorm;

/// Per-channel affine normalisation of pixels scaled to [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel mean of p/255.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of p/255.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The standard constants of each dataset.
    pub fn for_kind(kind: DatasetKind) -> Self {
        match kind {
            DatasetKind::Mnist => Normalization { mean: vec![0.1307], std: vec![0.3081] },
            DatasetKind::FashionMnist => Normalization { mean: vec![0.2860], std: vec![0.3530] },
            DatasetKind::Cifar10 => {
                Normalization { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2470, 0.2435, 0.2616] }
            }
        }
    }

    /// Normalises one pixel value of channel `c`.
    pub fn apply(&self, pixel: u8, c: usize) -> f32 {
        (pixel as f32 / 255.0 - self.mean[c]) / self.std[c]
    }

    /// Normalised NCHW `f32` values of the images `indices` of `set`.
    pub fn values(&self, set: &ImageSet, indices: &[usize]) -> Result<Vec<f32>> {
        if self.mean.len() != set.channels || self.std.len() != set.channels {
            return Err(Error::config(
                "normalization",
                format!("{} channel constants for {}-channel images", self.mean.len(), set.channels),
            ));
        }
        let (h, w, c) = (set.height, set.width, set.channels);
        let mut out = vec![0f32; indices.len() * c * h * w];
        for (k, &i) in indices.iter().enumerate() {
            let img = set.image(i);
            let dst = &mut out[k * c * h * w..(k + 1) * c * h * w];
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        dst[ch * h * w + y * w + x] = self.apply(img[(y * w + x) * c + ch], ch);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The images `indices` of `set` as a normalised `(n, c, h, w)` tensor.
    pub fn tensor(&self, set: &ImageSet, indices: &[usize], device: &Device) -> Result<Tensor> {
        let values = self.values(set, indices)?;
        Tensor::from_vec(values, (indices.len(), set.channels, set.height, set.width), device)
            .context("building the input tensor")
    }

    /// The valid input box in the network's input space, per coordinate in CHW order for `h`×`w` images: every
    /// pixel value p/255 ∈ [0, 1] of channel c, normalised. Each end is the outer of the `f64` value
    /// (0 − mean)/std (or (1 − mean)/std) and the `f32` value [`Normalization::apply`] gives pixel 0 (or 255), so
    /// the box contains every normalised image the network is fed.
    pub fn input_box(&self, h: usize, w: usize) -> (Vec<f64>, Vec<f64>) {
        let per = h * w;
        let (mut lo, mut hi) =
            (Vec::with_capacity(per * self.mean.len()), Vec::with_capacity(per * self.mean.len()));
        for c in 0..self.mean.len() {
            let (m, s) = (self.mean[c] as f64, self.std[c] as f64);
            let l = ((0.0 - m) / s).next_down().min(self.apply(0, c) as f64);
            let u = ((1.0 - m) / s).next_up().max(self.apply(255, c) as f64);
            lo.extend(std::iter::repeat_n(l, per));
            hi.extend(std::iter::repeat_n(u, per));
        }
        (lo, hi)
    }

    /// The smallest per-channel standard deviation: a normalised radius r covers every pixel-scale (p/255)
    /// perturbation of norm below r·min std, in ℓ2 and ℓ∞ alike.
    pub fn min_std(&self) -> f64 {
        self.std.iter().map(|&s| s as f64).fold(f64::INFINITY, f64::min)
    }

    /// An upper bound on how much the `f32` rounding of [`Normalization::apply`] can add to the distance between
    /// two normalised images of `n` coordinates, beyond the exact (p/255 − mean)/std: each fed value is within
    /// 4u(1 + |mean|)/std of the exact one (u = 2⁻²⁴: one rounding each for p/255, the subtraction and the
    /// division), so a difference is within twice that per coordinate; ×√n in ℓ2 (theorem V7).
    pub fn fed_rounding(&self, norm: InputNorm, n: usize) -> f64 {
        let u = f64::from(f32::EPSILON) / 2.0;
        let per = self
            .mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| up(up(4.0 * u * up(1.0 + f64::from(m).abs())) / f64::from(s)))
            .fold(0.0, f64::max);
        let coord = up(2.0 * per);
        match norm {
            InputNorm::Linf => coord,
            InputNorm::L2 => up(coord * up((n as f64).sqrt())),
        }
    }

    /// A certified normalised radius r in pixel units (p/255): every image whose pixel perturbation has norm below
    /// the result keeps the label, for images of `n` coordinates fed through [`Normalization::apply`] (theorem V7).
    /// +∞ stays +∞.
    pub fn pixel_radius(&self, r: f64, norm: InputNorm, n: usize) -> f64 {
        if !r.is_finite() {
            return r;
        }
        dn(dn(r - self.fed_rounding(norm, n)) * self.min_std()).max(0.0)
    }

    /// The whole set as a normalised tensor.
    pub fn tensor_all(&self, set: &ImageSet, device: &Device) -> Result<Tensor> {
        let all: Vec<usize> = (0..set.len()).collect();
        self.tensor(set, &all, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_planar_after_conversion() {
        // Two pixels of a 1x2 RGB image; channel-last in, channel-first out.
        let set = ImageSet::new(1, 2, 3, vec![0, 51, 102, 153, 204, 255], vec![0]).unwrap();
        let norm = Normalization { mean: vec![0.0; 3], std: vec![1.0; 3] };
        let v = norm.values(&set, &[0]).unwrap();
        let expect = [0.0, 0.6, 0.2, 0.8, 0.4, 1.0];
        for (a, b) in v.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn channel_count_mismatch_is_an_error() {
        let set = ImageSet::new(1, 1, 3, vec![1, 2, 3], vec![0]).unwrap();
        assert!(Normalization::for_kind(DatasetKind::Mnist).values(&set, &[0]).is_err());
    }
}
