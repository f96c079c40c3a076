//! [`NearestClassMean`]: a tiny, exact, deterministic classifier for tests, benchmarks and as a reference model.

use super::Classifier;
use crate::data::ImageSet;
use crate::error::{Error, Result};

/// Predicts the class whose mean training image is nearest in squared Euclidean distance (ties: lowest class).
#[derive(Clone, Debug, PartialEq)]
pub struct NearestClassMean {
    /// One mean image per class (`classes × pixels`, 0…255 scale).
    pub means: Vec<Vec<f32>>,
    /// Pixels per image the model expects.
    pub image_len: usize,
}

impl NearestClassMean {
    /// Fits the class means of `train` (classes are `0..=max label`; a class without images gets an all-zero
    /// mean).
    pub fn fit(train: &ImageSet) -> Result<NearestClassMean> {
        if train.is_empty() {
            return Err(Error::config("training set", "no images to fit class means on"));
        }
        let classes = usize::from(*train.labels.iter().max().expect("non-empty")) + 1;
        let len = train.image_len();
        let mut sums = vec![vec![0f64; len]; classes];
        let mut counts = vec![0usize; classes];
        for i in 0..train.len() {
            let k = usize::from(train.labels[i]);
            counts[k] += 1;
            sums[k].iter_mut().zip(train.image(i)).for_each(|(s, &p)| *s += f64::from(p));
        }
        let means = sums
            .into_iter()
            .zip(&counts)
            .map(|(s, &n)| s.into_iter().map(|v| if n > 0 { (v / n as f64) as f32 } else { 0.0 }).collect())
            .collect();
        Ok(NearestClassMean { means, image_len: len })
    }

    /// The class of one image.
    pub fn classify(&self, image: &[u8]) -> u8 {
        let mut best = (f32::INFINITY, 0usize);
        for (k, m) in self.means.iter().enumerate() {
            let d: f32 = m.iter().zip(image).map(|(a, &b)| (a - f32::from(b)).powi(2)).sum();
            if d < best.0 {
                best = (d, k);
            }
        }
        best.1 as u8
    }
}

impl Classifier for NearestClassMean {
    fn predict(&self, images: &ImageSet) -> Result<Vec<u8>> {
        use rayon::prelude::*;
        if images.image_len() != self.image_len {
            return Err(Error::Shape {
                context: "nearest-class-mean input".into(),
                expected: vec![self.image_len],
                found: vec![images.image_len()],
            });
        }
        Ok(images.pixels.par_chunks(self.image_len).map(|im| self.classify(im)).collect())
    }

    fn describe(&self) -> String {
        format!("nearest class mean ({} classes)", self.means.len())
    }

    fn classes(&self) -> usize {
        self.means.len()
    }
}
