//! Fixture networks and named tolerances shared by the integration tests.
#![allow(dead_code)]

use lcr_verify::ir::{Kernel, Layer, Net, SignZero};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Relative tolerance for values that must agree up to floating-point rounding.
pub const ROUNDING: f64 = 1e-9;
/// Relative slack allowed by the certified outward rounding over an exact value.
pub const OUTWARD: f64 = 1e-9;

/// A seeded generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// |x| = relu(x) + relu(−x) as logits [|x|, 0]: every margin and the ℓ2 map have L = 1.
pub fn abs_net() -> Net {
    Net {
        input_shape: vec![1],
        classes: 2,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Dense { weight: DMatrix::from_row_slice(2, 1, &[1.0, -1.0]), latent: None, bias: None },
            Layer::Relu,
            Layer::Dense {
                weight: DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 0.0]),
                latent: None,
                bias: None,
            },
        ],
    }
}

/// A matrix with entries uniform in [−1, 1].
pub fn uniform(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.random::<f64>() * 2.0 - 1.0)
}

/// The activation layers a random net may use.
#[derive(Clone, Copy, Debug)]
pub enum ActKind {
    Relu,
    HardTanh,
    Sign,
}

impl ActKind {
    fn layer(self) -> Layer {
        match self {
            ActKind::Relu => Layer::Relu,
            ActKind::HardTanh => Layer::HardTanh,
            ActKind::Sign => Layer::Sign,
        }
    }
}

/// A binary-style MLP: dims = [d, h1, ..., classes]; first and last layers real, middle ones binary
/// (deployed = per-row scale · sign(latent)), each hidden layer followed by a per-feature affine map.
pub fn random_mlp(rng: &mut ChaCha8Rng, dims: &[usize], act: ActKind, with_affine: bool) -> Net {
    let mut layers = Vec::new();
    let n = dims.len() - 1;
    for k in 0..n {
        let (i, o) = (dims[k], dims[k + 1]);
        let latent = uniform(rng, o, i);
        let binary = k > 0 && k + 1 < n;
        let bias = Some(DVector::from_fn(o, |_, _| rng.random::<f64>() - 0.5));
        if binary {
            let scales: Vec<f64> =
                (0..o).map(|r| latent.row(r).iter().map(|v| v.abs()).sum::<f64>() / i as f64).collect();
            let weight =
                DMatrix::from_fn(o, i, |r, c| scales[r] * if latent[(r, c)] >= 0.0 { 1.0 } else { -1.0 });
            layers.push(Layer::Dense { weight, latent: Some(latent), bias: None });
        } else {
            layers.push(Layer::Dense { weight: latent, latent: None, bias });
        }
        if k + 1 < n {
            if with_affine {
                let scale = (0..o).map(|_| 0.5 + rng.random::<f64>()).collect();
                let shift = (0..o).map(|_| rng.random::<f64>() - 0.5).collect();
                layers.push(Layer::Affine { scale, shift });
            }
            layers.push(act.layer());
        }
    }
    Net { input_shape: vec![dims[0]], classes: dims[n], sign_zero: SignZero::PlusOne, layers }
}

/// A random kernel with entries uniform in [−1, 1].
pub fn random_kernel(rng: &mut ChaCha8Rng, c_out: usize, c_in: usize, k: usize) -> Kernel {
    let data = (0..c_out * c_in * k * k).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
    Kernel::new(c_out, c_in, k, k, data).unwrap()
}

/// Asserts a ≤ b·(1 + tol) with a message.
#[track_caller]
pub fn assert_le(a: f64, b: f64, tol: f64, what: &str) {
    assert!(a <= b * (1.0 + tol) + 1e-300, "{what}: {a} > {b}");
}
