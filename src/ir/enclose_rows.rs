//! The element-wise passes of an affine enclosure ([`super::enclose`]): the centre and radius of the input boxes,
//! and the outward-rounded output rows. Each is one loop over the batch run by [`crate::wide::wide`], so it
//! vectorises with the widest instructions the processor has; the operations per element are those of the
//! formulas (no fused multiply-add, no reordering), so every build gives the same bits.

/// Centre and radius of the input boxes [lo, hi] (F1), and the radius that also covers the rounding of the
/// centre's product (F2): m = lo + (hi − lo)/2, r = max(↑max(hi − m, m − lo), 0), v = ↑(r + ↑(γ·|m|)).
pub(super) struct Centre<'a> {
    pub(super) lo: &'a [f64],
    pub(super) hi: &'a [f64],
    /// γ_{n+1} of the product that follows.
    pub(super) gamma: f64,
    pub(super) m: &'a mut [f64],
    pub(super) v: &'a mut [f64],
}

impl pulp::NullaryFnOnce for Centre<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Centre { lo, hi, gamma, m, v } = self;
        let up = crate::float::up;
        for (((&l, &h), mi), vi) in lo.iter().zip(hi).zip(m.iter_mut()).zip(v.iter_mut()) {
            let c = l + (h - l) / 2.0;
            let r = up((h - c).max(c - l)).max(0.0);
            *mi = c;
            *vi = up(r + up(gamma * c.abs()));
        }
    }
}

/// The output rows of one affine map over a batch (F4, F5): on entry `lo` and `hi` hold fl(A·m) and `a` holds
/// fl(|A|·v), column-major with `rows` rows; on exit `lo` and `hi` are the enclosure, (−∞, +∞) where a column's
/// input is not finite (`known`) or a value overflowed.
pub(super) struct Outward<'a> {
    pub(super) rows: usize,
    pub(super) a: &'a [f64],
    pub(super) lo: &'a mut [f64],
    pub(super) hi: &'a mut [f64],
    /// Each row's offset b_i and the share ↑(γ_{n+1}|b_i|) of its radius.
    pub(super) bias: &'a [f64],
    pub(super) bias_rad: &'a [f64],
    /// n·η, ↓(1 − γ_n) and (n + 1)·η of the products' error bounds.
    pub(super) n_eta: f64,
    pub(super) one_minus: f64,
    pub(super) tail: f64,
    /// Per column: whether its input box is finite.
    pub(super) known: &'a [bool],
}

impl pulp::NullaryFnOnce for Outward<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Outward { rows, a, lo, hi, bias, bias_rad, n_eta, one_minus, tail, known } = self;
        let (up, dn) = (crate::float::up, crate::float::dn);
        if rows == 0 {
            return;
        }
        for (((a_k, lo_k), hi_k), &known) in
            a.chunks_exact(rows).zip(lo.chunks_exact_mut(rows)).zip(hi.chunks_exact_mut(rows)).zip(known)
        {
            for i in 0..rows {
                let s = up(up(a_k[i] + n_eta) / one_minus);
                let rad = up(up(s + bias_rad[i]) + tail);
                let ci = lo_k[i] + bias[i];
                // ci is fl(A m + b) computed with one more rounding, covered by the (n + 1)-term bound. A sum
                // that overflowed stays infinite (or NaN) to the end, so finite results mean F2 and F5 applied;
                // anything else is an unknown row, never a bound read off an overflowed sum.
                let ok = known && ci.is_finite() && rad.is_finite() && a_k[i].is_finite();
                lo_k[i] = if ok { dn(ci - rad) } else { f64::NEG_INFINITY };
                hi_k[i] = if ok { up(ci + rad) } else { f64::INFINITY };
            }
        }
    }
}

/// A per-row affine map y = s·x + t of boxes (a folded BatchNorm), products and sums rounded outward (F1):
/// [↓(↓min(s·lo, s·hi) + t), ↑(↑max(s·lo, s·hi) + t)], in place, column-major with `scale.len()` rows.
pub(super) struct AffineRows<'a> {
    pub(super) scale: &'a [f64],
    pub(super) shift: &'a [f64],
    pub(super) lo: &'a mut [f64],
    pub(super) hi: &'a mut [f64],
}

impl pulp::NullaryFnOnce for AffineRows<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let AffineRows { scale, shift, lo, hi } = self;
        let (up, dn) = (crate::float::up, crate::float::dn);
        let rows = scale.len();
        if rows == 0 {
            return;
        }
        for (lo_k, hi_k) in lo.chunks_exact_mut(rows).zip(hi.chunks_exact_mut(rows)) {
            for i in 0..rows {
                let (a, b) = (scale[i] * lo_k[i], scale[i] * hi_k[i]);
                lo_k[i] = dn(dn(a.min(b)) + shift[i]);
                hi_k[i] = up(up(a.max(b)) + shift[i]);
            }
        }
    }
}
