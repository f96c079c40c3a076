//! Pixel normalisation: the one place where `u8` pixels become network inputs.
//!
//! x = (p / 255 − mean_c) / std_c per channel c. The constants are the usual per-dataset training-set
//! statistics; the values used are stored in every model's metadata, so a model is always fed as it was trained.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{DatasetKind, ImageSet};
use crate::error::{CandleContext, Error, Result};

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
