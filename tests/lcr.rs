//! The retention matrix and its spectral-norm proxies against nalgebra references, and the LCR loss.

use candle_core::{DType, Device, Tensor};
use lcr_verify::lcr::{Lcr, LcrVariant, PowerEstimate, retention_factors, retention_matrix};
use lcr_verify::model::binarize::{SignZero, Ste};
use lcr_verify::model::{Ctx, Forward};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Relative tolerance for f64 tensor arithmetic against nalgebra.
const REL_TOL: f64 = 1e-10;

fn random(rng: &mut ChaCha8Rng, dims: &[usize]) -> (Tensor, Vec<f64>) {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    (Tensor::from_vec(v.clone(), dims, &Device::Cpu).unwrap(), v)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    approx::relative_eq!(a, b, epsilon = tol, max_relative = tol)
}

#[test]
fn dense_retention_matrix_is_x_transpose_y_over_n() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (n, ci, co) in [(7, 3, 5), (32, 16, 8), (1, 4, 4)] {
        let (x, xv) = random(&mut rng, &[n, ci]);
        let (y, yv) = random(&mut rng, &[n, co]);
        let rm = retention_matrix(&x, &y).unwrap();
        assert_eq!(rm.dims(), [1, ci, co]);
        let want =
            DMatrix::from_row_slice(n, ci, &xv).transpose() * DMatrix::from_row_slice(n, co, &yv) / n as f64;
        let got = rm.squeeze(0).unwrap().to_vec2::<f64>().unwrap();
        for i in 0..ci {
            for j in 0..co {
                assert!(close(got[i][j], want[(i, j)], REL_TOL));
            }
        }
    }
}

#[test]
fn spatial_retention_matrix_pools_the_input_to_the_output_grid() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (b, ci, co, h, oh) = (3, 4, 6, 7, 3);
    let (x, xv) = random(&mut rng, &[b, ci, h, h]);
    let (y, yv) = random(&mut rng, &[b, co, oh, oh]);
    let rm = retention_matrix(&x, &y).unwrap().to_vec3::<f64>().unwrap();
    // Reference: adaptive average pooling with PyTorch's bins, then X_b Y_bᵀ / N.
    let bins = |i: usize| ((i * h) / oh, ((i + 1) * h).div_ceil(oh));
    for s in 0..b {
        let mut px = DMatrix::<f64>::zeros(ci, oh * oh);
        for c in 0..ci {
            for i in 0..oh {
                for j in 0..oh {
                    let ((y0, y1), (x0, x1)) = (bins(i), bins(j));
                    let mut acc = 0.0;
                    for yy in y0..y1 {
                        for xx in x0..x1 {
                            acc += xv[((s * ci + c) * h + yy) * h + xx];
                        }
                    }
                    px[(c, i * oh + j)] = acc / ((y1 - y0) * (x1 - x0)) as f64;
                }
            }
        }
        let ym = DMatrix::from_row_slice(co, oh * oh, &yv[s * co * oh * oh..(s + 1) * co * oh * oh]);
        let want = &px * ym.transpose() / (oh * oh) as f64;
        for i in 0..ci {
            for j in 0..co {
                assert!(close(rm[s][i][j], want[(i, j)], REL_TOL), "sample {s} ({i},{j})");
            }
        }
    }
}

fn nalgebra_released(rm: &DMatrix<f64>) -> f64 {
    let ones = DVector::from_element(rm.nrows(), 1.0);
    (rm * (rm.transpose() * ones)).norm().sqrt()
}

#[test]
fn released_proxy_is_sqrt_of_k_times_ones() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (ci, co) in [(5, 3), (12, 20), (1, 1)] {
        let (t, v) = random(&mut rng, &[1, ci, co]);
        let got = PowerEstimate::RELEASED.estimate(&t).unwrap().to_vec1::<f64>().unwrap()[0];
        let want = nalgebra_released(&DMatrix::from_row_slice(ci, co, &v));
        assert!(close(got, want, REL_TOL), "{got} vs {want}");
    }
}

#[test]
fn converged_proxy_reaches_the_top_singular_value_from_below() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for (ci, co) in [(6, 4), (16, 16), (30, 9)] {
        let (t, v) = random(&mut rng, &[1, ci, co]);
        let sigma = DMatrix::from_row_slice(ci, co, &v).singular_values().max();
        let mut last = 0.0;
        for steps in [1, 3, 10, 200] {
            let est = PowerEstimate::converged(steps).estimate(&t).unwrap().to_vec1::<f64>().unwrap()[0];
            assert!(est <= sigma * (1.0 + 1e-12), "a normalised proxy is a lower bound: {est} > {sigma}");
            assert!(est >= last * (1.0 - 1e-12), "more steps never lose ground here: {est} < {last}");
            last = est;
        }
        assert!(close(last, sigma, 1e-6), "{last} vs σ = {sigma}");
    }
}

#[test]
fn factored_and_explicit_estimates_agree() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (x, _) = random(&mut rng, &[4, 6, 8, 8]);
    let (y, _) = random(&mut rng, &[4, 10, 4, 4]);
    let (fx, fy) = retention_factors(&x, &y).unwrap();
    let rm = retention_matrix(&x, &y).unwrap();
    for est in
        [PowerEstimate::RELEASED, PowerEstimate { normalised: false, steps: 3 }, PowerEstimate::converged(20)]
    {
        let a = est.estimate(&rm).unwrap().to_vec1::<f64>().unwrap();
        let b = est.estimate_factored(&fx, &fy).unwrap().to_vec1::<f64>().unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert!(close(*a, *b, 1e-9), "{a} vs {b} ({est:?})");
        }
    }
}

fn forward_with(points: Vec<Tensor>) -> Forward {
    let n = points[0].dim(0).unwrap();
    let stages = (0..points.len()).collect();
    Forward { logits: Tensor::zeros((n, 10), DType::F64, &Device::Cpu).unwrap(), points, stages }
}

#[test]
fn lcr_vanishes_when_binary_and_real_features_coincide() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    // Features that are already ±1: their signs are themselves, so RM_B = RM_F.
    let pm1 = |rng: &mut ChaCha8Rng, dims: &[usize]| {
        let n: usize = dims.iter().product();
        let v: Vec<f64> = (0..n).map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 }).collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    };
    let ctx = Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: Ste::clipped() };
    for estimate in [PowerEstimate::RELEASED, PowerEstimate::converged(5)] {
        let lcr = Lcr { variant: LcrVariant::Layer, beta: 2.0, estimate };
        let dense =
            forward_with(vec![pm1(&mut rng, &[16, 8]), pm1(&mut rng, &[16, 12]), pm1(&mut rng, &[16, 4])]);
        assert_eq!(lcr.layer_loss(&dense, &ctx).unwrap().to_scalar::<f64>().unwrap(), 0.0);
        let conv = forward_with(vec![pm1(&mut rng, &[2, 3, 8, 8]), pm1(&mut rng, &[2, 5, 4, 4])]);
        assert_eq!(lcr.layer_loss(&conv, &ctx).unwrap().to_scalar::<f64>().unwrap(), 0.0);
        // With real-valued features the term is positive.
        let (a, _) = random(&mut rng, &[16, 8]);
        let (b, _) = random(&mut rng, &[16, 12]);
        assert!(lcr.layer_loss(&forward_with(vec![a, b]), &ctx).unwrap().to_scalar::<f64>().unwrap() > 0.0);
    }
}

#[test]
fn layer_terms_are_weighted_by_beta_to_the_depth() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let pts: Vec<Tensor> = (0..4).map(|_| random(&mut rng, &[10, 6]).0).collect();
    let fwd = forward_with(pts);
    let ctx = Ctx { train: true, binarize: true, sign_zero: SignZero::PlusOne, ste: Ste::clipped() };
    let lcr = Lcr { variant: LcrVariant::Layer, beta: 3.0, estimate: PowerEstimate::RELEASED };
    let terms: Vec<f64> =
        lcr.layer_terms(&fwd, &ctx).unwrap().iter().map(|t| t.to_scalar::<f64>().unwrap()).collect();
    let total = lcr.layer_loss(&fwd, &ctx).unwrap().to_scalar::<f64>().unwrap();
    let want = terms[0] / 9.0 + terms[1] / 3.0 + terms[2];
    assert!(close(total, want, REL_TOL), "{total} vs {want}");
    // The stage variant against itself is zero.
    let stage = Lcr { variant: LcrVariant::Stage, ..lcr };
    assert_eq!(stage.stage_loss(&fwd, &fwd).unwrap().to_scalar::<f64>().unwrap(), 0.0);
}
