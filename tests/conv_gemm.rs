//! The training convolutions: values and both gradients equal candle's generic `conv2d` (within a stated
//! tolerance) for every stride, kernel and padding the models use and odd sizes, on both routes of the vector
//! kernels and on the portable path; the three results are each other's adjoints; and they are the same bytes
//! run after run and for 1, 2 or 3 threads.

use candle_core::{DType, Device, Tensor, Var};
use lcr_verify::model::conv_fast;
use lcr_verify::model::conv_gemm::{self, ConvShape};
use lcr_verify::model::conv_op::conv2d;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Largest difference from candle's result accepted in `f32`, relative to the largest magnitude of that result
/// (different summation orders over at most a few hundred terms).
const F32_TOL: f64 = 1e-5;
/// The same in `f64`.
const F64_TOL: f64 = 1e-13;

/// (batch, c_in, c_out, height, width, kernel, stride, padding).
type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

/// The models' shapes (3×3 stride 1 and 2 with padding 1, 1×1 stride 2 without), odd and non-square sizes,
/// padding 0, single-image and multi-image groups (7×7 maps group ten images, 28×28 maps one); between them they
/// take every route of the vector kernels (checked below).
const CASES: [Case; 13] = [
    (3, 2, 5, 7, 9, 3, 1, 1),
    (13, 3, 4, 7, 7, 3, 2, 1),
    (4, 3, 6, 8, 6, 1, 2, 0),
    (2, 2, 3, 6, 5, 3, 1, 0),
    (5, 4, 3, 9, 9, 3, 2, 0),
    (2, 1, 4, 28, 28, 3, 1, 1),
    (3, 2, 3, 5, 5, 1, 1, 0),
    (2, 2, 2, 4, 4, 3, 2, 1),
    (1, 2, 3, 5, 5, 3, 1, 1),
    (12, 6, 7, 14, 13, 3, 2, 1),
    (11, 5, 6, 13, 13, 3, 2, 1),
    (3, 3, 5, 20, 17, 3, 1, 0),
    (2, 3, 4, 16, 16, 3, 1, 1),
];

fn shape(case: Case) -> ConvShape {
    let (batch, c_in, c_out, height, width, kernel, stride, padding) = case;
    ConvShape { batch, c_in, height, width, c_out, kernel, stride, padding }
}

fn random(len: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// max |a − b| / max(1, max |b|).
fn relative_gap(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (
        a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f64, |m, v| m.max(v.abs()));
    a.iter().zip(&b).map(|(s, t)| (s - t).abs()).fold(0.0, f64::max) / scale
}

#[test]
fn values_and_gradients_equal_candles_generic_conv2d() {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut routes = std::collections::BTreeSet::new();
    for case in CASES {
        let g = shape(case);
        if g.stride > 1 && g.height != g.width {
            // candle's own gradient fails here: it pads both axes by the output padding of the height.
            continue;
        }
        routes.insert(conv_fast::route(&g));
        let dims_y = (g.batch, g.c_out, g.out_height(), g.out_width());
        let xs = random(g.batch * g.c_in * g.height * g.width, &mut rng);
        let ws = random(g.c_out * g.c_in * g.kernel * g.kernel, &mut rng);
        let probe = random(dims_y.0 * dims_y.1 * dims_y.2 * dims_y.3, &mut rng);
        for (dtype, tol) in [(DType::F32, F32_TOL), (DType::F64, F64_TOL)] {
            let tensor = |v: &[f64], dims: &[usize]| {
                Tensor::from_slice(v, dims, &dev).unwrap().to_dtype(dtype).unwrap()
            };
            let x = Var::from_tensor(&tensor(&xs, &[g.batch, g.c_in, g.height, g.width])).unwrap();
            let w = Var::from_tensor(&tensor(&ws, &[g.c_out, g.c_in, g.kernel, g.kernel])).unwrap();
            let probe = tensor(&probe, &[dims_y.0, dims_y.1, dims_y.2, dims_y.3]);
            let ours = conv2d(x.as_tensor(), w.as_tensor(), g.stride, g.padding, true).unwrap();
            let theirs = x.as_tensor().conv2d(w.as_tensor(), g.padding, g.stride, 1, 1).unwrap();
            let ga = (&ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (&theirs * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let pairs = [
                ("values", ours.clone(), theirs.clone()),
                (
                    "input gradient",
                    ga.get(x.as_tensor()).unwrap().clone(),
                    gb.get(x.as_tensor()).unwrap().clone(),
                ),
                (
                    "kernel gradient",
                    ga.get(w.as_tensor()).unwrap().clone(),
                    gb.get(w.as_tensor()).unwrap().clone(),
                ),
            ];
            for (what, a, b) in pairs {
                assert_eq!(a.dims(), b.dims(), "{what} of {g:?}");
                let gap = relative_gap(&a, &b);
                assert!(gap <= tol, "{what} of {g:?} in {dtype:?}: relative gap {gap:e} > {tol:e}");
            }
        }
    }
    // Every route of the vector kernels is exercised (or the portable path alone, without AVX2).
    let expected: Vec<&str> = if routes.contains("portable") {
        vec!["portable"]
    } else {
        vec!["columns", "direct", "direct, columns for the kernel gradient"]
    };
    assert_eq!(routes.into_iter().collect::<Vec<_>>(), expected);
}

/// The portable path (nalgebra's products), run directly, against the path the layers take.
#[test]
fn the_portable_path_equals_the_vector_kernels() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for case in CASES {
        let g = shape(case);
        let x = random(g.batch * g.c_in * g.height * g.width, &mut rng);
        let w = random(g.c_out * g.c_in * g.kernel * g.kernel, &mut rng);
        let dy = random(g.batch * g.c_out * g.out_height() * g.out_width(), &mut rng);
        let pairs = [
            (conv_gemm::forward(&g, &x, &w), conv_fast::forward(&g, &x, &w)),
            (conv_gemm::input_grad(&g, &dy, &w), conv_fast::input_grad(&g, &dy, &w)),
            (conv_gemm::weight_grad(&g, &x, &dy), conv_fast::weight_grad(&g, &x, &dy)),
        ];
        for (a, b) in pairs {
            assert_eq!(a.len(), b.len());
            let scale = b.iter().fold(1f64, |m, v| m.max(v.abs()));
            let gap = a.iter().zip(&b).map(|(s, t)| (s - t).abs()).fold(0.0, f64::max) / scale;
            assert!(gap <= F64_TOL, "{g:?}: relative gap {gap:e}");
        }
    }
}

#[test]
fn without_input_gradient_only_the_kernel_gets_one() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 1, 6, 6), &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 1, 3, 3), &dev).unwrap()).unwrap();
    let y = conv2d(x.as_tensor(), w.as_tensor(), 1, 1, false).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(x.as_tensor()).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
}

/// ⟨dy, conv(x, w)⟩ = ⟨input_grad(dy, w), x⟩ = ⟨weight_grad(x, dy), w⟩: the convolution is bilinear, and its
/// gradients are its adjoints in each argument.
#[test]
fn the_gradients_are_the_adjoints_of_the_forward_pass() {
    const TOL: f64 = 1e-12;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(s, t)| s * t).sum::<f64>();
    for case in CASES {
        let g = shape(case);
        let x = random(g.batch * g.c_in * g.height * g.width, &mut rng);
        let w = random(g.c_out * g.c_in * g.kernel * g.kernel, &mut rng);
        let dy = random(g.batch * g.c_out * g.out_height() * g.out_width(), &mut rng);
        let via_y = dot(&dy, &conv_fast::forward(&g, &x, &w));
        let via_x = dot(&conv_fast::input_grad(&g, &dy, &w), &x);
        let via_w = dot(&conv_fast::weight_grad(&g, &x, &dy), &w);
        let scale = 1.0 + via_y.abs();
        assert!((via_x - via_y).abs() <= TOL * scale, "{g:?}: {via_x} vs {via_y}");
        assert!((via_w - via_y).abs() <= TOL * scale, "{g:?}: {via_w} vs {via_y}");
    }
}

/// The three results of `g` in `f32` on a pool of `threads` threads, vector kernels then portable path, as bit
/// patterns.
fn bits(g: &ConvShape, threads: usize) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let f32s = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<f32>>();
    let x = f32s(random(g.batch * g.c_in * g.height * g.width, &mut rng));
    let w = f32s(random(g.c_out * g.c_in * g.kernel * g.kernel, &mut rng));
    let dy = f32s(random(g.batch * g.c_out * g.out_height() * g.out_width(), &mut rng));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        [
            conv_fast::forward(g, &x, &w),
            conv_fast::input_grad(g, &dy, &w),
            conv_fast::weight_grad(g, &x, &dy),
            conv_gemm::forward(g, &x, &w),
            conv_gemm::input_grad(g, &dy, &w),
            conv_gemm::weight_grad(g, &x, &dy),
        ]
        .into_iter()
        .map(|v| v.into_iter().map(f32::to_bits).collect())
        .collect()
    })
}

#[test]
fn results_are_the_same_bytes_run_after_run_and_for_any_thread_count() {
    // Columns route to 7×7 maps (groups of ten images, the last one partial); direct route on 28×28 maps
    // (kernel-gradient groups of eight images, the last one partial); direct on 7×7 maps with the kernel
    // gradient on the columns route.
    let cases = [(23, 8, 16, 14, 14, 3, 2, 1), (19, 4, 8, 28, 28, 3, 1, 1), (21, 8, 12, 7, 7, 3, 1, 1)];
    for g in cases.map(shape) {
        let one = bits(&g, 1);
        assert_eq!(one, bits(&g, 1), "{g:?}: two runs on one thread differ");
        for threads in [2, 3] {
            assert_eq!(one, bits(&g, threads), "{g:?}: {threads} threads differ from one");
        }
    }
}

/// A binary-input layer takes its signs inside the convolution: the same values and gradients as binarising
/// first, bit for bit, for both sign(0) conventions and both estimators.
#[test]
fn signs_inside_the_convolution_equal_binarising_first() {
    use lcr_verify::model::binarize::{SignZero, Ste, SteKind, binarize};
    use lcr_verify::model::conv_op::conv2d_signed;
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let estimators = [Ste::clipped(), Ste::for_epoch(SteKind::Ede, 3, 10, 0.1, 10.0)];
    for case in [(3, 4, 5, 9, 9, 3, 1, 1), (4, 3, 6, 10, 10, 3, 2, 1)] {
        let g = shape(case);
        // Exact zeros among the inputs, so that the sign(0) convention matters.
        let mut xs = random(g.batch * g.c_in * g.height * g.width, &mut rng);
        xs.iter_mut().step_by(7).for_each(|v| *v = 0.0);
        let ws = random(g.c_out * g.c_in * g.kernel * g.kernel, &mut rng);
        let probe = random(g.batch * g.c_out * g.out_height() * g.out_width(), &mut rng);
        for dtype in [DType::F32, DType::F64] {
            for zero in [SignZero::PlusOne, SignZero::Zero] {
                for ste in estimators {
                    let tensor = |v: &[f64], dims: &[usize]| {
                        Tensor::from_slice(v, dims, &dev).unwrap().to_dtype(dtype).unwrap()
                    };
                    let x = Var::from_tensor(&tensor(&xs, &[g.batch, g.c_in, g.height, g.width])).unwrap();
                    let w = Var::from_tensor(&tensor(&ws, &[g.c_out, g.c_in, g.kernel, g.kernel])).unwrap();
                    let probe = tensor(&probe, &[g.batch, g.c_out, g.out_height(), g.out_width()]);
                    let fused =
                        conv2d_signed(x.as_tensor(), w.as_tensor(), (g.stride, g.padding), zero, &ste);
                    let signed = binarize(x.as_tensor(), zero, &ste).unwrap();
                    let plain = conv2d(&signed, w.as_tensor(), g.stride, g.padding, true).unwrap();
                    let fused = fused.unwrap();
                    let flat = |t: &Tensor| {
                        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
                    };
                    assert_eq!(flat(&fused), flat(&plain), "{g:?} {dtype:?} {zero:?}");
                    let ga = (&fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
                    let gb = (&plain * &probe).unwrap().sum_all().unwrap().backward().unwrap();
                    for v in [x.as_tensor(), w.as_tensor()] {
                        assert_eq!(
                            flat(ga.get(v).unwrap()),
                            flat(gb.get(v).unwrap()),
                            "{g:?} {dtype:?} {zero:?}"
                        );
                    }
                }
            }
        }
    }
}
