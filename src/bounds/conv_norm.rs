//! The spectral norm of a convolution on its real input shape, bracketed (theorems C1–C3, `proofs/conv.md`).
//!
//! **Upper (certified).** A zero-padded convolution with stride s on an h×w input equals
//! R ∘ S_s ∘ C_N ∘ Z: zero-embedding Z into an N_h×N_w torus with N ≥ h + 2p and s | N, circular correlation
//! C_N, subsampling S_s at multiples of s, restriction R to the output window. Z is an isometry and S_s, R are
//! coordinate projections, so ‖conv‖ ≤ ‖S_s C_N‖ (C1). By the polyphase split x_r[m] = x[s·m + r], S_s C_N is a
//! stride-1 circular correlation on the M = N/s torus with c_in·s² input channels and kernel W'[q] = W[s·q + r],
//! which the 2-D DFT block-diagonalises: ‖S_s C_N‖ = max_ω σ₁(K̂(ω)), K̂(ω) = Σ_q W'[q] e^{iω·q} over the M_h×M_w
//! frequency grid (Sedghi, Gupta & Long, ICLR 2019, for stride 1) (C2). Each σ₁ is bounded by certified Gram
//! iteration; K̂ is computed in floating point, and its error is added once (C3, assumption A-LIBM on sin/cos).
//! Frequencies are pruned: each one is squared only until its certified bound falls below the best refined
//! bound found so far, which leaves the maximum unchanged.
//!
//! **Lower (proven).** Power iteration on the operator itself, started from the windowed plane wave of the top
//! frequency (its singular vector times e^{iω·m}, times a sine window over the real input), with the rigorous
//! Rayleigh bound of [`super::power`].

use std::f64::consts::PI;

use nalgebra::DMatrix;

use super::float::{ETA, add_up, gamma, mul_up, norm2_up, sqrt_up, up};
use super::gram::{CMatrix, GramState};
use super::power::{ConvOp, power_lower};
use crate::ir::{ConvGeometry, Kernel};

/// Tuning of [`conv_bracket`].
#[derive(Clone, Debug, PartialEq)]
pub struct ConvOptions {
    /// Gram squarings given to every frequency before the pruned refinement.
    pub coarse_steps: usize,
    /// Relative tolerance of the refined Gram bound.
    pub gram_tol: f64,
    /// Cap on Gram squarings per frequency.
    pub gram_max_iter: usize,
    /// Relative tolerance of the power iteration.
    pub power_tol: f64,
    /// Cap on power iterations.
    pub power_max_iter: usize,
    /// Seed of the fallback random start.
    pub seed: u64,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            coarse_steps: 3,
            gram_tol: 1e-7,
            gram_max_iter: 40,
            power_tol: 1e-7,
            power_max_iter: 10,
            seed: 0,
        }
    }
}

/// The bracket lower ≤ ‖conv‖₂ ≤ upper.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvBracket {
    /// Certified upper bound.
    pub upper: f64,
    /// Proven lower bound.
    pub lower: f64,
    /// upper/lower − 1.
    pub gap: f64,
    /// Torus size N_h × N_w of the circular embedding.
    pub torus: [usize; 2],
    /// Frequencies bounded (after Hermitian symmetry).
    pub frequencies: usize,
    /// Frequencies refined to the Gram tolerance.
    pub refined: usize,
    /// Floating-point allowance added for the DFT of the kernel.
    pub dft_allowance: f64,
    /// Power iterations done for the lower bound.
    pub power_iterations: usize,
}

/// Bound on |computed − exact| of each twiddle component: angle reduction error ≤ 4πu plus the sin/cos error
/// allowed by assumption A-LIBM (2⁻⁵⁰ absolute on [−π, π]); 2⁻⁴⁷ covers both with a wide margin.
const TWIDDLE_ERR: f64 = 7.105_427_357_601_002e-15;

struct Polyphase {
    /// c_out × c_in' matrices, one per tap q = (qh, qw) of the reduced kernel.
    taps: Vec<(usize, usize, DMatrix<f64>)>,
    /// Σ_q |W'_q| entrywise.
    abs_sum: DMatrix<f64>,
    m: [usize; 2],
    s: usize,
}

fn polyphase(k: &Kernel, g: &ConvGeometry) -> Polyphase {
    let s = g.stride;
    let n = |ext: usize| (ext + 2 * g.padding).div_ceil(s) * s;
    let m = [n(g.h) / s, n(g.w) / s];
    let (kh, kw) = (k.kh.div_ceil(s), k.kw.div_ceil(s));
    let ci = k.c_in * s * s;
    let mut taps = Vec::new();
    let mut abs_sum = DMatrix::zeros(k.c_out, ci);
    for qh in 0..kh {
        for qw in 0..kw {
            let mut w = DMatrix::zeros(k.c_out, ci);
            for o in 0..k.c_out {
                for c in 0..k.c_in {
                    for rh in 0..s {
                        for rw in 0..s {
                            let (a, b) = (s * qh + rh, s * qw + rw);
                            if a < k.kh && b < k.kw {
                                let col = (c * s + rh) * s + rw;
                                w[(o, col)] = k.at(o, c, a, b);
                                abs_sum[(o, col)] = up(abs_sum[(o, col)] + w[(o, col)].abs());
                            }
                        }
                    }
                }
            }
            taps.push((qh, qw, w));
        }
    }
    Polyphase { taps, abs_sum, m, s }
}

impl Polyphase {
    /// K̂(ω) for ω = 2π(j₁/M_h, j₂/M_w), the phase reduced exactly to (−π, π].
    fn symbol(&self, j: [usize; 2]) -> CMatrix {
        let d = self.m[0] * self.m[1];
        let (r, c) = self.abs_sum.shape();
        let (mut re, mut im) = (DMatrix::zeros(r, c), DMatrix::zeros(r, c));
        for (qh, qw, w) in &self.taps {
            let mut ph = (j[0] * qh * self.m[1] + j[1] * qw * self.m[0]) % d;
            let neg = 2 * ph > d;
            if neg {
                ph = d - ph;
            }
            let theta = 2.0 * PI * ph as f64 / d as f64;
            let (sn, cs) = theta.sin_cos();
            let sn = if neg { -sn } else { sn };
            re.zip_apply(w, |a, b| *a += cs * b);
            im.zip_apply(w, |a, b| *a += sn * b);
        }
        CMatrix { re, im }
    }

    /// ‖K̂_float − K̂‖_F ≤ √2(ε_tw + γ_q(1 + ε_tw))‖Σ_q|W'_q|‖_F + √2·√(entries)·q·η (theorem C3; the last term
    /// is the underflow of q products per entry).
    fn dft_allowance(&self) -> f64 {
        let q = self.taps.len();
        let sqrt2 = std::f64::consts::SQRT_2.next_up();
        let per = add_up(TWIDDLE_ERR, mul_up(gamma(q), up(1.0 + TWIDDLE_ERR)));
        let relative = mul_up(mul_up(sqrt2, per), norm2_up(self.abs_sum.as_slice()));
        let entries = (self.abs_sum.nrows() * self.abs_sum.ncols()) as f64;
        add_up(relative, mul_up(mul_up(sqrt2, sqrt_up(entries)), mul_up(q as f64, ETA)))
    }

    /// One representative of each pair {ω, −ω} (K̂(−ω) is the conjugate of K̂(ω), with the same σ₁).
    fn frequencies(&self) -> Vec<[usize; 2]> {
        let [mh, mw] = self.m;
        let mut out = Vec::new();
        for j1 in 0..mh {
            for j2 in 0..mw {
                if (j1, j2) <= ((mh - j1) % mh, (mw - j2) % mw) {
                    out.push([j1, j2]);
                }
            }
        }
        out
    }

    /// The windowed plane-wave start vector on the real input, from the top singular direction at ω.
    fn start_vector(
        &self,
        g: &ConvGeometry,
        j: [usize; 2],
        state: &GramState<CMatrix>,
        symbol: &CMatrix,
    ) -> Vec<f64> {
        let cur = state.current();
        let best = (0..cur.re.ncols())
            .max_by(|&a, &b| {
                let n = |c: usize| cur.re.column(c).norm_squared() + cur.im.column(c).norm_squared();
                n(a).total_cmp(&n(b))
            })
            .unwrap_or(0);
        let (mut vr, mut vi) = (cur.re.column(best).into_owned(), cur.im.column(best).into_owned());
        if symbol.re.nrows() < symbol.re.ncols() {
            // The iterate lives on the output side: map u to v = K̂ᴴu.
            let (p, q) = (&symbol.re, &symbol.im);
            let (nr, ni) = (p.tr_mul(&vr) + q.tr_mul(&vi), p.tr_mul(&vi) - q.tr_mul(&vr));
            (vr, vi) = (nr, ni);
        }
        let s = self.s;
        let (w0, w1) = (2.0 * PI * j[0] as f64 / self.m[0] as f64, 2.0 * PI * j[1] as f64 / self.m[1] as f64);
        let mut x = vec![0.0; g.c_in * g.h * g.w];
        for c in 0..g.c_in {
            for i in 0..g.h {
                for jj in 0..g.w {
                    let (ti, tj) = (i + g.padding, jj + g.padding);
                    let col = (c * s + ti % s) * s + tj % s;
                    let phase = w0 * (ti / s) as f64 + w1 * (tj / s) as f64;
                    let win = (PI * (i + 1) as f64 / (g.h + 1) as f64).sin()
                        * (PI * (jj + 1) as f64 / (g.w + 1) as f64).sin();
                    x[(c * g.h + i) * g.w + jj] = win * (vr[col] * phase.cos() - vi[col] * phase.sin());
                }
            }
        }
        x
    }
}

/// Brackets the spectral norm of `kernel` (no bias) applied with geometry `g`: lower ≤ ‖conv‖₂ ≤ upper.
///
/// Theorems C1–C4 (proofs/conv.md), with S2 and S4; checked by
/// tests/spectral.rs::conv_bracket_contains_the_exact_norm.
pub fn conv_bracket(kernel: &Kernel, g: &ConvGeometry, opts: &ConvOptions) -> ConvBracket {
    let pp = polyphase(kernel, g);
    let freqs = pp.frequencies();
    // `coarse_steps` squarings (3 by default) for every frequency, then progressive refinement in decreasing
    // order of that bound.
    let mut states: Vec<(f64, [usize; 2], GramState<CMatrix>)> = freqs
        .iter()
        .map(|&j| {
            let mut st = GramState::new(pp.symbol(j));
            (0..opts.coarse_steps).for_each(|_| st.step());
            (st.bound(), j, st)
        })
        .collect();
    states.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut best, mut best_j, mut best_state, mut refined) = (0.0f64, None, None, 0);
    for (mut prev, j, mut st) in states {
        loop {
            if prev <= best {
                break; // pruned: this frequency cannot raise the maximum
            }
            st.step();
            let b = st.bound();
            let done = b >= prev || up(prev / b - 1.0) <= opts.gram_tol || st.steps() >= opts.gram_max_iter;
            prev = prev.min(b);
            if done {
                refined += 1;
                if prev > best {
                    (best, best_j, best_state) = (prev, Some(j), Some(st));
                }
                break;
            }
        }
    }
    let allowance = pp.dft_allowance();
    let upper = add_up(best, allowance);
    let op = ConvOp { kernel, geometry: *g };
    let start = match (best_j, &best_state) {
        (Some(j), Some(st)) => Some(pp.start_vector(g, j, st, &pp.symbol(j))),
        _ => None,
    };
    let pl = power_lower(&op, start, opts.power_tol, opts.power_max_iter, opts.seed);
    let gap = if pl.lower > 0.0 { upper / pl.lower - 1.0 } else { f64::INFINITY };
    ConvBracket {
        upper,
        lower: pl.lower,
        gap,
        torus: [pp.m[0] * pp.s, pp.m[1] * pp.s],
        frequencies: freqs.len(),
        refined,
        dft_allowance: allowance,
        power_iterations: pl.iterations,
    }
}
