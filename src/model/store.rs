//! [`ParamStore`]: the named tensors of a model, created from a seeded generator or loaded from a file.
//!
//! Trainable parameters and buffers (BatchNorm running statistics) live in separate ordered maps, so that the
//! optimiser never sees buffers and iteration order (hence every result) is deterministic. candle's own random
//! initialisers cannot be seeded, so initial values are drawn here from a `ChaCha8Rng`.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{Error, Result};

/// How a new tensor is initialised.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// Every entry equals the constant.
    Const(f32),
    /// Kaiming (He) normal: N(0, 2/fan_in).
    KaimingNormal {
        /// Inputs per output unit.
        fan_in: usize,
    },
    /// Uniform on [−b, b].
    Uniform(f32),
}

/// Named parameters and buffers of one model.
pub struct ParamStore {
    params: BTreeMap<String, Var>,
    buffers: BTreeMap<String, Var>,
    decay: BTreeSet<String>,
    loaded: Option<BTreeMap<String, Tensor>>,
    used: BTreeSet<String>,
    device: Device,
    dtype: DType,
}

impl ParamStore {
    /// An empty store whose tensors will be drawn fresh (in `f32`, the training type).
    pub fn new(device: &Device) -> Self {
        ParamStore {
            params: BTreeMap::new(),
            buffers: BTreeMap::new(),
            decay: BTreeSet::new(),
            loaded: None,
            used: BTreeSet::new(),
            device: device.clone(),
            dtype: DType::F32,
        }
    }

    /// A store whose tensors come from `tensors` (a loaded model), converted to `dtype`; every request must be
    /// found there. Evaluation uses `F64`, so that candle's deployed forward and the verification IR agree.
    pub fn from_tensors(tensors: BTreeMap<String, Tensor>, device: &Device, dtype: DType) -> Self {
        let mut store = ParamStore::new(device);
        store.loaded = Some(tensors);
        store.dtype = dtype;
        store
    }

    /// The element type of the tensors.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn make(&mut self, name: &str, shape: &[usize], init: Init, rng: &mut ChaCha8Rng) -> Result<Var> {
        self.used.insert(name.to_string());
        let tensor = match &self.loaded {
            Some(map) => {
                let t = map.get(name).ok_or_else(|| Error::Config {
                    key: name.to_string(),
                    problem: "tensor missing from the model file".into(),
                })?;
                if t.dims() != shape {
                    return Err(Error::Shape {
                        context: format!("tensor `{name}`"),
                        expected: shape.to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                t.to_dtype(self.dtype)?.to_device(&self.device)?
            }
            None => {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Const(c) => vec![c; n],
                    Init::KaimingNormal { fan_in } => {
                        let normal = Normal::new(0.0f32, (2.0 / fan_in.max(1) as f32).sqrt())
                            .expect("positive standard deviation");
                        (0..n).map(|_| normal.sample(rng)).collect()
                    }
                    Init::Uniform(b) => (0..n).map(|_| rng.random_range(-b..=b)).collect(),
                };
                Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?
            }
        };
        Ok(Var::from_tensor(&tensor.contiguous()?)?)
    }

    /// A trainable parameter; `decay` marks it for weight decay.
    pub fn param(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
        decay: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<Var> {
        let var = self.make(name, shape, init, rng)?;
        self.params.insert(name.to_string(), var.clone());
        if decay {
            self.decay.insert(name.to_string());
        }
        Ok(var)
    }

    /// A non-trainable buffer (running statistics).
    pub fn buffer(&mut self, name: &str, shape: &[usize], init: Init, rng: &mut ChaCha8Rng) -> Result<Var> {
        let var = self.make(name, shape, init, rng)?;
        self.buffers.insert(name.to_string(), var.clone());
        Ok(var)
    }

    /// Names in a loaded file that the architecture did not ask for.
    pub fn unused(&self) -> Vec<String> {
        match &self.loaded {
            Some(map) => map.keys().filter(|k| !self.used.contains(*k)).cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Trainable parameters in name order.
    pub fn params(&self) -> &BTreeMap<String, Var> {
        &self.params
    }

    /// Whether `name` takes weight decay.
    pub fn decays(&self, name: &str) -> bool {
        self.decay.contains(name)
    }

    /// Every tensor (parameters and buffers), by name, for saving.
    pub fn tensors(&self) -> BTreeMap<String, Tensor> {
        self.params
            .iter()
            .chain(self.buffers.iter())
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every parameter and buffer with the tensors in `map` (a checkpoint of the same model).
    pub fn assign(&self, map: &BTreeMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.params.iter().chain(self.buffers.iter()) {
            let t = map.get(name).ok_or_else(|| Error::Config {
                key: name.clone(),
                problem: "tensor missing from the checkpoint".into(),
            })?;
            if t.dims() != var.dims() {
                return Err(Error::Shape {
                    context: format!("checkpoint tensor `{name}`"),
                    expected: var.dims().to_vec(),
                    found: t.dims().to_vec(),
                });
            }
            var.set(&t.to_dtype(self.dtype)?.to_device(&self.device)?)?;
        }
        Ok(())
    }
}
