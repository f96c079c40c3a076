//! BatchNorm, an optional residual addition and hardtanh as one CPU operation:
//! out = clamp(BN(z) + s, −1, 1), the end of every ResNet unit (and, without s, of its stem).
//!
//! Composed from [`Normalize`], an addition and [`HardTanh`](super::clamp_op::HardTanh), the unit costs three
//! activation-sized outputs forward, and backward candle sums the gradient of each of them into a fresh tensor
//! of zeros (all such sums together were a sixth of a ResNet step). Here the forward pass is one sweep, and the
//! backward pass one sweep for g′ = g·h′(BN(z) + s) (the gradient of s) followed by [`NormalizeGrad`] on g′.
//! The arithmetic is the composition's, operation for operation (the same rounding to `T` after the affine
//! map, the same addition, the same kinks of h′), so values and gradients are the composition's bit for bit; a
//! test holds them equal. γ and β come in as one tensor `[γ; β]`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::bn_op::{Normalize, NormalizeGrad, affine, float_params, geometry};
use super::clamp_op::{clamp, slope};
use super::kernel::{contiguous, float_op1, float_op2, zeros};

const RESIDUAL: &str = "batchnorm-residual-hardtanh";
const PLAIN: &str = "batchnorm-hardtanh";
const RESIDUAL_GRAD: &str = "batchnorm-residual-hardtanh-grad";
const PLAIN_GRAD: &str = "batchnorm-hardtanh-grad";

/// clamp(BN(z) + s, −1, 1) for `(z, s, [γ; β])`, or clamp(BN(z), −1, 1) for `(z, [γ; β])`.
pub struct NormalizeClamp(pub Normalize);

/// out = f(k_c, a, b, s) plane by plane (k_c the coefficients of the plane's channel, s the shortcut's plane if
/// any), images in parallel.
fn map_planes<T: WithDType>(
    (_, c, s): (usize, usize, usize),
    k: &[(f64, f64, f64)],
    (a, b, shortcut): (&[T], &[T], Option<&[T]>),
    f: impl Fn((f64, f64, f64), &[T], &[T], Option<&[T]>, &mut [T]) + Sync,
) -> Vec<T> {
    let (image, plane) = ((c * s).max(1), s.max(1));
    let mut out = zeros(a.len(), T::zero());
    out.par_chunks_mut(image).zip(a.par_chunks(image).zip(b.par_chunks(image))).enumerate().for_each(
        |(n, (out, (a, b)))| {
            let planes = out.chunks_exact_mut(plane).zip(a.chunks_exact(plane).zip(b.chunks_exact(plane)));
            for (ch, (out, (a, b))) in planes.enumerate() {
                let sp = shortcut.map(|sc| &sc[n * image + ch * plane..n * image + (ch + 1) * plane]);
                f(k[ch], a, b, sp, out);
            }
        },
    );
    out
}

impl NormalizeClamp {
    /// (μ, γ·r, β) per channel from the packed `[γ; β]`.
    fn coefficients(&self, gb: &[f64]) -> Vec<(f64, f64, f64)> {
        let c = gb.len() / 2;
        self.0.coefficients(&gb[..c], &gb[c..])
    }

    /// The values before the clamp, BN(z) (+ s), as the composition rounds them.
    #[inline(always)]
    fn pre<T: WithDType>(z: T, s: Option<T>, k: (f64, f64, f64)) -> T {
        let y = affine(z, k);
        match s {
            Some(s) => y + s,
            None => y,
        }
    }

    fn forward<T: WithDType>(
        &self,
        z: &[T],
        s: Option<&[T]>,
        gb: &[f64],
        g: (usize, usize, usize),
    ) -> Vec<T> {
        map_planes(g, &self.coefficients(gb), (z, z, s), |k, z, _, s, out| match s {
            Some(s) => {
                for ((o, &z), &s) in out.iter_mut().zip(z).zip(s) {
                    *o = clamp(Self::pre(z, Some(s), k));
                }
            }
            None => {
                for (o, &z) in out.iter_mut().zip(z) {
                    *o = clamp(Self::pre(z, None, k));
                }
            }
        })
    }

    /// (dz, ds, d[γ; β]) from the output gradient.
    fn backward(
        &self,
        z: &Tensor,
        s: Option<&Tensor>,
        gb: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let z = z.contiguous()?;
        let gb_values = gb.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        let op = ClampGrad { k: self.coefficients(&gb_values) };
        let grad = grad.contiguous()?;
        let g_pre = match s {
            Some(s) => grad.apply_op3_no_bwd(&z, &s.contiguous()?, &op)?,
            None => grad.apply_op2_no_bwd(&z, &op)?,
        };
        let c = gb_values.len() / 2;
        let norm = &self.0;
        let op = NormalizeGrad {
            mean: &norm.mean,
            inv_std: &norm.inv_std,
            batch: norm.batch,
            gamma: &gb_values[..c],
        };
        let packed = z.apply_op2_no_bwd(&g_pre, &op)?;
        let n = z.elem_count();
        let dz = packed.narrow(0, 0, n)?.reshape(z.shape())?;
        Ok((dz, g_pre, packed.narrow(0, n, 2 * c)?))
    }
}

impl CustomOp3 for NormalizeClamp {
    fn name(&self) -> &'static str {
        RESIDUAL
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            candle_core::bail!("{}: input {:?} and shortcut {:?} differ", RESIDUAL, l1.dims(), l2.dims());
        }
        let (g, gb) = (geometry(l1)?, float_params(s3, l3, RESIDUAL)?);
        let out = float_op2!(RESIDUAL, (s1, l1), (s2, l2), |z, s| self.forward(z, Some(s), &gb, g));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        s: &Tensor,
        gb: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dz, ds, dgb) = self.backward(z, Some(s), gb, grad)?;
        Ok((Some(dz), Some(ds), Some(dgb)))
    }
}

impl CustomOp2 for NormalizeClamp {
    fn name(&self) -> &'static str {
        PLAIN
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, gb) = (geometry(l1)?, float_params(s2, l2, PLAIN)?);
        let out = float_op1!(PLAIN, s1, l1, |z| self.forward(z, None, &gb, g));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        gb: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (dz, _, dgb) = self.backward(z, None, gb, grad)?;
        Ok((Some(dz), Some(dgb)))
    }
}

/// g·h′(BN(z) + s) for `(g, z, s)`, or g·h′(BN(z)) for `(g, z)`.
struct ClampGrad {
    k: Vec<(f64, f64, f64)>,
}

impl ClampGrad {
    fn run<T: WithDType>(&self, g: &[T], z: &[T], s: Option<&[T]>, geo: (usize, usize, usize)) -> Vec<T> {
        map_planes(geo, &self.k, (g, z, s), |k, g, z, s, out| match s {
            Some(s) => {
                for (((o, &g), &z), &s) in out.iter_mut().zip(g).zip(z).zip(s) {
                    *o = g * slope(NormalizeClamp::pre(z, Some(s), k));
                }
            }
            None => {
                for ((o, &g), &z) in out.iter_mut().zip(g).zip(z) {
                    *o = g * slope(NormalizeClamp::pre(z, None, k));
                }
            }
        })
    }
}

impl CustomOp3 for ClampGrad {
    fn name(&self) -> &'static str {
        RESIDUAL_GRAD
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(l2)?;
        let name = RESIDUAL_GRAD;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(self.run(
                contiguous::<f32>(s1, l1, name)?,
                contiguous::<f32>(s2, l2, name)?,
                Some(contiguous::<f32>(s3, l3, name)?),
                g,
            )),
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(self.run(
                contiguous::<f64>(s1, l1, name)?,
                contiguous::<f64>(s2, l2, name)?,
                Some(contiguous::<f64>(s3, l3, name)?),
                g,
            )),
            _ => candle_core::bail!("{name}: operands must all be f32 or all f64"),
        };
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp2 for ClampGrad {
    fn name(&self) -> &'static str {
        PLAIN_GRAD
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(l2)?;
        let out = float_op2!(PLAIN_GRAD, (s1, l1), (s2, l2), |dy, z| self.run(dy, z, None, g));
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};
    use rand::SeedableRng;

    use super::super::batchnorm::BatchNorm;
    use super::super::binarize::hardtanh;
    use super::super::store::ParamStore;
    use super::*;

    #[test]
    fn values_and_gradients_equal_the_composition_bit_for_bit() {
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            for (train, residual) in [(true, true), (true, false), (false, true), (false, false)] {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
                // The layer's tensors in `dtype`, as a model converted to it has them.
                let vector = |v: [f64; 3]| Tensor::new(&v, &dev).unwrap().to_dtype(dtype).unwrap();
                let tensors = std::collections::BTreeMap::from([
                    ("bn.gamma".to_string(), vector([0.5, 2.0, -1.0])),
                    ("bn.beta".to_string(), vector([0.1, -0.3, 0.2])),
                    ("bn.running_mean".to_string(), vector([0.0, 0.2, -0.1])),
                    ("bn.running_var".to_string(), vector([0.5, 2.0, 3.0])),
                ]);
                let mut sa = ParamStore::from_tensors(tensors.clone(), &dev, dtype);
                let mut sb = ParamStore::from_tensors(tensors, &dev, dtype);
                let fused = BatchNorm::new(&mut sa, "bn", 3, &mut rng).unwrap();
                let plain = BatchNorm::new(&mut sb, "bn", 3, &mut rng).unwrap();
                let random = |std: f64| {
                    Var::from_tensor(
                        &Tensor::randn(0.3, std, (4, 3, 5, 6), &dev).unwrap().to_dtype(dtype).unwrap(),
                    )
                    .unwrap()
                };
                let (z, s) = (random(2.0), random(1.0));
                let probe = Tensor::randn(0.0, 1.0, (4, 3, 5, 6), &dev).unwrap().to_dtype(dtype).unwrap();
                let shortcut = residual.then_some(s.as_tensor());
                let a = fused.forward_clamped(z.as_tensor(), shortcut, train).unwrap();
                let y = plain.forward(z.as_tensor(), train).unwrap();
                let b = hardtanh(&if residual { (y + s.as_tensor()).unwrap() } else { y }).unwrap();
                let flat = |t: &Tensor| {
                    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
                };
                assert_eq!(flat(&a), flat(&b), "values, train {train}, residual {residual}");
                let ga = (&a * &probe).unwrap().sum_all().unwrap().backward().unwrap();
                let gb = (&b * &probe).unwrap().sum_all().unwrap().backward().unwrap();
                let mut pairs = vec![
                    (ga.get(z.as_tensor()).unwrap(), gb.get(z.as_tensor()).unwrap()),
                    (ga.get(fused.gamma.as_tensor()).unwrap(), gb.get(plain.gamma.as_tensor()).unwrap()),
                    (ga.get(fused.beta.as_tensor()).unwrap(), gb.get(plain.beta.as_tensor()).unwrap()),
                ];
                if residual {
                    pairs.push((ga.get(s.as_tensor()).unwrap(), gb.get(s.as_tensor()).unwrap()));
                }
                for (i, (u, v)) in pairs.into_iter().enumerate() {
                    assert_eq!(flat(u), flat(v), "gradient {i}, train {train}, residual {residual}");
                }
                for (u, v) in
                    [(&fused.running_mean, &plain.running_mean), (&fused.running_var, &plain.running_var)]
                {
                    assert_eq!(flat(u.as_tensor()), flat(v.as_tensor()));
                }
            }
        }
    }
}
