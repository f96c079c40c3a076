//! Fixture networks in the verification IR and named tolerances.

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

/// A Bi-Real-style ResNet fixture: stem conv, Affine, HardTanh, two residual units (the second downsamples),
/// HardTanh after each, global average pooling, dense head.
pub fn tiny_resnet(seed: u64) -> Net {
    let mut r = rng(seed);
    let conv = |r: &mut rand_chacha::ChaCha8Rng, o, c, k, s, p, hw: usize, binary: bool| {
        let w = random_kernel(r, o, c, k);
        let latent = binary.then(|| w.clone());
        let weight = if binary {
            Kernel { data: w.data.iter().map(|v| if *v >= 0.0 { 0.5 } else { -0.5 }).collect(), ..w }
        } else {
            w
        };
        Layer::Conv2d { weight, latent, bias: None, stride: s, padding: p, in_shape: [c, hw, hw] }
    };
    let aff = |n: usize| Layer::Affine { scale: vec![0.7; n], shift: vec![0.1; n] };
    Net {
        input_shape: vec![1, 8, 8],
        classes: 3,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            conv(&mut r, 2, 1, 3, 1, 1, 8, false),
            aff(2),
            Layer::HardTanh,
            Layer::Residual {
                body: vec![Layer::Sign, conv(&mut r, 2, 2, 3, 1, 1, 8, true), aff(2)],
                shortcut: vec![],
            },
            Layer::HardTanh,
            Layer::Residual {
                body: vec![Layer::Sign, conv(&mut r, 4, 2, 3, 2, 1, 8, true), aff(4)],
                shortcut: vec![conv(&mut r, 4, 2, 1, 2, 0, 8, false), aff(4)],
            },
            Layer::HardTanh,
            Layer::GlobalAvgPool,
            Layer::Dense { weight: uniform(&mut r, 3, 4), latent: None, bias: None },
        ],
    }
}

/// A small binary CNN: stem conv, Affine, Sign, binary conv, MaxPool 2, Affine, Sign, Flatten, Dense.
pub fn tiny_cnn(seed: u64) -> Net {
    let mut r = rng(seed);
    let stem = random_kernel(&mut r, 3, 1, 3);
    let lat = random_kernel(&mut r, 4, 3, 3);
    let bin = Kernel {
        data: lat.data.iter().map(|v| if *v >= 0.0 { 0.25 } else { -0.25 }).collect(),
        ..lat.clone()
    };
    Net {
        input_shape: vec![1, 6, 6],
        classes: 3,
        sign_zero: SignZero::PlusOne,
        layers: vec![
            Layer::Conv2d {
                weight: stem,
                latent: None,
                bias: Some(vec![0.1, -0.1, 0.0]),
                stride: 1,
                padding: 1,
                in_shape: [1, 6, 6],
            },
            Layer::Affine { scale: vec![0.9, 1.1, -0.8], shift: vec![0.0, 0.1, -0.1] },
            Layer::Sign,
            Layer::Conv2d {
                weight: bin,
                latent: Some(lat),
                bias: None,
                stride: 1,
                padding: 1,
                in_shape: [3, 6, 6],
            },
            Layer::MaxPool { kernel: 2, stride: 2, padding: 0 },
            Layer::Affine { scale: vec![1.2, 0.6, -1.0, 0.9], shift: vec![0.05; 4] },
            Layer::Sign,
            Layer::Flatten,
            Layer::Dense { weight: uniform(&mut r, 3, 36), latent: None, bias: None },
        ],
    }
}

/// Pushes every other unit of the first dense layer far beyond the kinks for inputs in [−m, m]ⁿ: its bias moves
/// by ±(4 + m·Σ|w|), so after an affine map with scale ≥ 0.5 and |shift| ≤ 0.5 (as [`random_mlp`] draws them) its
/// pre-activation stays above 1.25 or below −1.25 on the whole box.
pub fn saturate_first_layer(net: &mut Net, m: f64) {
    let Some(Layer::Dense { weight, bias, .. }) = net.layers.first_mut() else { panic!("dense first layer") };
    let b = bias.get_or_insert_with(|| DVector::zeros(weight.nrows()));
    for u in (0..weight.nrows()).step_by(2) {
        let reach = 4.0 + m * weight.row(u).iter().map(|w| w.abs()).sum::<f64>();
        b[u] += if u % 4 == 0 { reach } else { -reach };
    }
}
