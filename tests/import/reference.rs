//! The forward of a spec written out, as PyTorch computes it (in `f64`), independently of lcr-verify's model.

use std::collections::BTreeMap;

use lcr_verify::import::SpecLayer;
use lcr_verify::ir::SignZero;
use lcr_verify::model::WeightScaling;

use super::torch::Bn;

/// PyTorch's `nn.Conv2d` (no bias, padding k/2) on a `[c, h, w]` map: (output, h', w').
pub fn conv(
    x: &[f64],
    chw: (usize, usize, usize),
    k: &[f64],
    o: usize,
    ks: usize,
    s: usize,
) -> (Vec<f64>, usize, usize) {
    conv_padded(x, chw, k, (o, ks, s, ks / 2))
}

/// `nn.Conv2d` without bias, `(out channels, kernel, stride, padding)` = `ops`.
pub fn conv_padded(
    x: &[f64],
    (c, h, w): (usize, usize, usize),
    k: &[f64],
    (o, ks, s, p): (usize, usize, usize, usize),
) -> (Vec<f64>, usize, usize) {
    let (h2, w2) = ((h + 2 * p - ks) / s + 1, (w + 2 * p - ks) / s + 1);
    let mut y = vec![0.0; o * h2 * w2];
    for oc in 0..o {
        for i in 0..h2 {
            for j in 0..w2 {
                let mut acc = 0.0;
                for ic in 0..c {
                    for a in 0..ks {
                        for b in 0..ks {
                            let (r, q) =
                                ((s * i + a) as isize - p as isize, (s * j + b) as isize - p as isize);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                acc += k[((oc * c + ic) * ks + a) * ks + b]
                                    * x[(ic * h + r as usize) * w + q as usize];
                            }
                        }
                    }
                }
                y[(oc * h2 + i) * w2 + j] = acc;
            }
        }
    }
    (y, h2, w2)
}

/// Eval-mode BatchNorm over channels of `per` values each.
pub fn batchnorm(x: &mut [f64], per: usize, bn: &Bn) {
    for (i, v) in x.iter_mut().enumerate() {
        let c = i / per;
        let (g, b, m, var) = (bn.gamma[c] as f64, bn.beta[c] as f64, bn.mean[c] as f64, bn.var[c] as f64);
        *v = (*v - m) / (var + 1e-5).sqrt() * g + b;
    }
}

/// torch.sign.
pub fn torch_sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// IR-Net's binary weight per output channel: standardise, sign, times 2^round(log2 mean|ŵ|).
pub fn irnet(w: &[f32], out: usize) -> Vec<f64> {
    irnet_with(w, out, torch_sign)
}

/// [`irnet`] with the sign function `sign`.
pub fn irnet_with(w: &[f32], out: usize, sign: impl Fn(f64) -> f64) -> Vec<f64> {
    let n = w.len() / out;
    let mut b = Vec::with_capacity(w.len());
    for row in w.chunks(n) {
        let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / n as f64;
        let std = (row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let standard: Vec<f64> = row.iter().map(|v| (v - mean) / std).collect();
        let scale = 2f64.powf((standard.iter().map(|v| v.abs()).sum::<f64>() / n as f64).log2().round());
        b.extend(standard.iter().map(|v| sign(*v) * scale));
    }
    b
}

/// The values in `f64`.
pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// 2×2 max pooling at stride 2.
pub fn max_pool2(x: &[f64], c: usize, h: usize, w: usize) -> Vec<f64> {
    let (h2, w2) = (h / 2, w / 2);
    let mut y = vec![f64::NEG_INFINITY; c * h2 * w2];
    for ch in 0..c {
        for i in 0..h2 {
            for j in 0..w2 {
                for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let v = x[(ch * h + 2 * i + a) * w + 2 * j + b];
                    let t = &mut y[(ch * h2 + i) * w2 + j];
                    *t = t.max(v);
                }
            }
        }
    }
    y
}

/// The forward of a spec's layers on its tensors (key → values), as PyTorch computes it: eval-mode BatchNorm
/// with ε = 1e-5, binary weights from the stored latent ones, sign with the spec's sign(0).
pub struct Reference<'a> {
    /// The tensors by key.
    pub tensors: &'a BTreeMap<String, Vec<f32>>,
    /// sign(0).
    pub sign_zero: SignZero,
}

impl Reference<'_> {
    /// The output of `layers` on `x` of shape `shape`, with its shape.
    pub fn forward(
        &self,
        layers: &[SpecLayer],
        mut x: Vec<f64>,
        mut shape: Vec<usize>,
    ) -> (Vec<f64>, Vec<usize>) {
        for l in layers {
            (x, shape) = self.layer(l, x, shape);
        }
        (x, shape)
    }

    fn sign(&self, v: f64) -> f64 {
        match self.sign_zero {
            SignZero::Zero => torch_sign(v),
            SignZero::PlusOne => {
                if v >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }

    fn get(&self, key: String) -> &[f32] {
        self.tensors.get(&key).unwrap_or_else(|| panic!("no tensor {key}"))
    }

    fn weight(&self, name: &str, out: usize, binary: Option<WeightScaling>) -> Vec<f64> {
        let w = self.get(format!("{name}.weight"));
        let n = w.len() / out;
        match binary {
            None => widen(w),
            Some(WeightScaling::None) => w.iter().map(|v| self.sign(*v as f64)).collect(),
            Some(WeightScaling::Mean) => w
                .chunks(n)
                .flat_map(|row| {
                    let alpha = row.iter().map(|v| v.abs() as f64).sum::<f64>() / n as f64;
                    row.iter().map(move |v| alpha * self.sign(*v as f64))
                })
                .collect(),
            Some(WeightScaling::Irnet) => irnet_with(w, out, |v| self.sign(v)),
        }
    }

    fn layer(&self, l: &SpecLayer, x: Vec<f64>, shape: Vec<usize>) -> (Vec<f64>, Vec<usize>) {
        match l {
            SpecLayer::Dense { name, out, bias, binary } => {
                let (d, w) = (x.len(), self.weight(name, *out, *binary));
                let b = if *bias { widen(self.get(format!("{name}.bias"))) } else { vec![0.0; *out] };
                let y = (0..*out).map(|o| b[o] + (0..d).map(|i| w[o * d + i] * x[i]).sum::<f64>()).collect();
                (y, vec![*out])
            }
            SpecLayer::Conv { name, out, kernel, stride, padding, bias, binary } => {
                let w = self.weight(name, *out, *binary);
                let (mut y, h2, w2) =
                    conv_padded(&x, (shape[0], shape[1], shape[2]), &w, (*out, *kernel, *stride, *padding));
                if *bias {
                    let b = self.get(format!("{name}.bias"));
                    y.iter_mut().enumerate().for_each(|(i, v)| *v += b[i / (h2 * w2)] as f64);
                }
                (y, vec![*out, h2, w2])
            }
            SpecLayer::BatchNorm { name, affine } => {
                let c = shape[0];
                let bn = Bn {
                    gamma: if *affine { self.get(format!("{name}.weight")).to_vec() } else { vec![1.0; c] },
                    beta: if *affine { self.get(format!("{name}.bias")).to_vec() } else { vec![0.0; c] },
                    mean: self.get(format!("{name}.running_mean")).to_vec(),
                    var: self.get(format!("{name}.running_var")).to_vec(),
                };
                let mut x = x;
                batchnorm(&mut x, shape[1..].iter().product(), &bn);
                (x, shape)
            }
            SpecLayer::Sign => (x.iter().map(|v| self.sign(*v)).collect(), shape),
            SpecLayer::HardTanh => (x.iter().map(|v| v.clamp(-1.0, 1.0)).collect(), shape),
            SpecLayer::Relu => (x.iter().map(|v| v.max(0.0)).collect(), shape),
            SpecLayer::Residual { body, shortcut } => {
                let (a, out) = self.forward(body, x.clone(), shape.clone());
                let (b, _) = self.forward(shortcut, x, shape);
                (a.iter().zip(&b).map(|(a, b)| a + b).collect(), out)
            }
            SpecLayer::MaxPool { kernel, stride, padding } => {
                pool(&x, &shape, (*kernel, *stride, *padding), true)
            }
            SpecLayer::AvgPool { kernel, stride } => pool(&x, &shape, (*kernel, *stride, 0), false),
            SpecLayer::GlobalAvgPool => {
                let per = shape[1] * shape[2];
                (x.chunks(per).map(|c| c.iter().sum::<f64>() / per as f64).collect(), vec![shape[0]])
            }
            SpecLayer::Flatten => {
                let n = x.len();
                (x, vec![n])
            }
        }
    }
}

/// Max (with −∞ padding) or average pooling of a `[c, h, w]` map; `(kernel, stride, padding)` = `kps`.
fn pool(x: &[f64], shape: &[usize], (k, s, p): (usize, usize, usize), max: bool) -> (Vec<f64>, Vec<usize>) {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let (h2, w2) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let mut y = Vec::with_capacity(c * h2 * w2);
    for ch in 0..c {
        for i in 0..h2 {
            for j in 0..w2 {
                let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                for a in 0..k {
                    for b in 0..k {
                        let (r, q) = ((s * i + a) as isize - p as isize, (s * j + b) as isize - p as isize);
                        if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                            let v = x[(ch * h + r as usize) * w + q as usize];
                            acc = if max { acc.max(v) } else { acc + v };
                        }
                    }
                }
                y.push(if max { acc } else { acc / (k * k) as f64 });
            }
        }
    }
    (y, vec![c, h2, w2])
}
