//! A PyTorch-style state dict, written as `safetensors.torch.save_file` writes it.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};

/// A PyTorch-style state dict: (key, type, shape, little-endian bytes), written as `save_file` writes it.
#[derive(Clone, Default)]
pub struct StateDict(pub Vec<(String, Dtype, Vec<usize>, Vec<u8>)>);

impl StateDict {
    pub fn f32(&mut self, key: &str, shape: &[usize], values: &[f32]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.push((key.into(), Dtype::F32, shape.to_vec(), bytes));
    }

    pub fn random(&mut self, key: &str, shape: &[usize], lo: f32, hi: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.random_range(lo..hi)).collect();
        self.f32(key, shape, &values);
        values
    }

    /// A BatchNorm layer's tensors with `num_batches_tracked`.
    pub fn batchnorm(&mut self, name: &str, n: usize, rng: &mut ChaCha8Rng) -> Bn {
        let bn = Bn {
            gamma: self.random(&format!("{name}.weight"), &[n], 0.5, 1.5, rng),
            beta: self.random(&format!("{name}.bias"), &[n], -0.5, 0.5, rng),
            mean: self.random(&format!("{name}.running_mean"), &[n], -0.5, 0.5, rng),
            var: self.random(&format!("{name}.running_var"), &[n], 0.5, 2.0, rng),
        };
        self.0.push((
            format!("{name}.num_batches_tracked"),
            Dtype::I64,
            vec![],
            17i64.to_le_bytes().to_vec(),
        ));
        bn
    }

    pub fn without(&self, key: &str) -> StateDict {
        StateDict(self.0.iter().filter(|t| t.0 != key).cloned().collect())
    }

    pub fn replaced(&self, key: &str, dtype: Dtype, shape: &[usize], bytes: Vec<u8>) -> StateDict {
        let mut out = self.without(key);
        out.0.push((key.into(), dtype, shape.to_vec(), bytes));
        out
    }

    pub fn save(&self, path: &Path) {
        let views: Vec<(String, TensorView<'_>)> = self
            .0
            .iter()
            .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
    }
}

pub struct Bn {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
