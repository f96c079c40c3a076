//! Resampling: bilinear sampling with a border mode, SciPy's order-1 `zoom`, OpenCV's `INTER_LINEAR` resize,
//! PIL's resampling filters (box and bilinear, with their 8-bit rounding) and general inverse-mapped warps.

use super::filter::Border;
use super::image::{Image, floor_i};
#[cfg(target_arch = "x86_64")]
use super::resample_lanes::RowPlan;

/// Bilinear interpolation of a plane at real coordinates `(y, x)` (pixel centres at integers), reading outside
/// the plane through `border` — the same as interpolating the border-extended signal.
#[inline]
pub fn bilinear(src: &[f32], h: usize, w: usize, y: f32, x: f32, border: Border) -> f32 {
    let (y0, x0) = (floor_i(y), floor_i(x));
    let (fy, fx) = (y - y0 as f32, x - x0 as f32);
    if y0 >= 0 && x0 >= 0 && (y0 as usize) + 1 < h && (x0 as usize) + 1 < w {
        let i = y0 as usize * w + x0 as usize;
        let top = src[i] + (src[i + 1] - src[i]) * fx;
        let bottom = src[i + w] + (src[i + w + 1] - src[i + w]) * fx;
        return top + (bottom - top) * fy;
    }
    let get = |yy: isize, xx: isize| -> f32 {
        match (border.index(yy, h), border.index(xx, w)) {
            (Some(a), Some(b)) => src[a * w + b],
            _ => 0.0,
        }
    };
    let top = get(y0, x0) * (1.0 - fx) + get(y0, x0 + 1) * fx;
    let bottom = get(y0 + 1, x0) * (1.0 - fx) + get(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Linear interpolation weights along one axis for SciPy's `zoom(order=1)` from `n_in` to `n_out` samples:
/// output `i` reads input coordinate `i · (n_in − 1)/(n_out − 1)`.
fn scipy_axis(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = if n_out > 1 { (n_in as f64 - 1.0) / (n_out as f64 - 1.0) } else { 0.0 };
    (0..n_out)
        .map(|i| {
            let c = i as f64 * scale;
            let i0 = (c.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, (c - i0 as f64) as f32)
        })
        .collect()
}

/// SciPy's `ndimage.zoom(plane, …, order=1)` to an `out_h × out_w` grid (corner-aligned linear interpolation).
pub fn scipy_zoom_plane(src: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    let ys = scipy_axis(h, out_h);
    let xs = scipy_axis(w, out_w);
    let mut out = Vec::with_capacity(out_h * out_w);
    for &(y0, y1, fy) in &ys {
        let (r0, r1) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, fx) in &xs {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
            out.push(top + (bottom - top) * fy);
        }
    }
    out
}

/// The reference `clipped_zoom`: take the centred `⌈h/z⌉ × ⌈w/z⌉` crop, zoom it by `z` with
/// [`scipy_zoom_plane`] (output size `round(z · crop)`), and trim the centre back to `h × w`.
pub fn clipped_zoom_plane(src: &[f32], h: usize, w: usize, z: f64) -> Vec<f32> {
    let ch = ((h as f64 / z).ceil() as usize).clamp(1, h);
    let cw = ((w as f64 / z).ceil() as usize).clamp(1, w);
    let (top, left) = ((h - ch) / 2, (w - cw) / 2);
    let mut crop = Vec::with_capacity(ch * cw);
    for y in top..top + ch {
        crop.extend_from_slice(&src[y * w + left..y * w + left + cw]);
    }
    let (zh, zw) = (round_half_even(ch as f64 * z).max(h), round_half_even(cw as f64 * z).max(w));
    let zoomed = scipy_zoom_plane(&crop, ch, cw, zh, zw);
    let (ty, tx) = ((zh - h) / 2, (zw - w) / 2);
    let mut out = Vec::with_capacity(h * w);
    for y in ty..ty + h {
        out.extend_from_slice(&zoomed[y * zw + tx..y * zw + tx + w]);
    }
    out
}

/// The axis map of [`clipped_zoom_plane`] folded into one table: for each of the `n` output positions, the two
/// source indices (in the uncropped image) and the weight of the second.
pub fn clipped_zoom_axis(n: usize, z: f64) -> Vec<(usize, usize, f32)> {
    let crop = ((n as f64 / z).ceil() as usize).clamp(1, n);
    let start = (n - crop) / 2;
    let zoomed = round_half_even(crop as f64 * z).max(n);
    let trim = (zoomed - n) / 2;
    scipy_axis(crop, zoomed)[trim..trim + n].iter().map(|&(a, b, f)| (start + a, start + b, f)).collect()
}

/// Python's `round` (ties to even), as SciPy uses for zoom output shapes.
fn round_half_even(v: f64) -> usize {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 { r - v.signum() } else { r };
    r.max(0.0) as usize
}

/// [`clipped_zoom_plane`] on every channel.
pub fn clipped_zoom(img: &Image, z: f64) -> Image {
    img.map_planes(|p| clipped_zoom_plane(p, img.height, img.width, z))
}

/// OpenCV's `resize(…, INTER_LINEAR)` to an explicit size: half-pixel-centred bilinear, edge replicated, no
/// antialiasing; each axis maps by input size / output size.
pub fn cv_resize_linear(img: &Image, out_h: usize, out_w: usize) -> Image {
    let (sy, sx) = (img.height as f64 / out_h as f64, img.width as f64 / out_w as f64);
    cv_resize_linear_mapped(img, out_h, out_w, sy, sx)
}

/// OpenCV's `resize(src, (0, 0), fx = f, fy = f, INTER_LINEAR)`: the output size is the input size times f,
/// rounded, but the coordinates map by exactly 1/f (OpenCV keeps the factor it was given), not by the ratio of
/// the rounded sizes: output pixel i reads input coordinate (i + 0.5)/f − 0.5.
pub fn cv_resize_linear_by(img: &Image, f: f64) -> Image {
    let out_h = ((img.height as f64 * f).round() as usize).max(1);
    let out_w = ((img.width as f64 * f).round() as usize).max(1);
    cv_resize_linear_mapped(img, out_h, out_w, 1.0 / f, 1.0 / f)
}

/// Bilinear resampling where output pixel (y, x) reads input coordinates ((y + 0.5)·sy − 0.5, (x + 0.5)·sx − 0.5),
/// clamped to the image.
fn cv_resize_linear_mapped(img: &Image, out_h: usize, out_w: usize, sy: f64, sx: f64) -> Image {
    let axis = |n_in: usize, n_out: usize, scale: f64| -> Vec<(usize, usize, f32)> {
        (0..n_out)
            .map(|i| {
                let c = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (c.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                (i0, i1, (c - i0 as f64) as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(img.height, out_h, sy), axis(img.width, out_w, sx));
    let mut out = Image::zeros(out_h, out_w, img.channels);
    let (w, c) = (img.width, img.channels);
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            for ch in 0..c {
                let g = |y: usize, x: usize| img.data[(y * w + x) * c + ch];
                let top = g(y0, x0) + (g(y0, x1) - g(y0, x0)) * fx;
                let bottom = g(y1, x0) + (g(y1, x1) - g(y1, x0)) * fx;
                out.data[(oy * out_w + ox) * c + ch] = top + (bottom - top) * fy;
            }
        }
    }
    out
}

/// PIL's resampling filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PilFilter {
    /// `Image.BOX`: each output pixel averages the input pixels whose centres fall in its footprint.
    Box,
    /// `Image.BILINEAR`: a triangle filter widened by the scale when shrinking (antialiased).
    Bilinear,
}

/// Fixed-point bits of PIL's resampling coefficients (`PRECISION_BITS = 32 − 8 − 2`).
const PIL_PRECISION_BITS: u32 = 22;

/// PIL's coefficients of one axis (`precompute_coeffs` in `Resample.c`) for a range of outputs: for each, the
/// first input index and the normalised weights in PIL's fixed point (`⌊k · 2²² + ½⌋`, sign-symmetric), with
/// the zero weights at either end left out (they add nothing to PIL's sums), stored at a fixed stride.
struct Taps {
    /// First input index of each output.
    first: Vec<usize>,
    /// Number of weights of each output.
    len: Vec<usize>,
    /// `stride` weights per output, the first `len` of them used.
    weights: Vec<i32>,
    stride: usize,
    /// The AVX2 layouts of the horizontal pass for gray and RGB rows, built when first used.
    #[cfg(target_arch = "x86_64")]
    lanes: [std::cell::OnceCell<Option<RowPlan>>; 2],
}

/// Key of a memoised [`Taps`]: input and output sizes, the outputs kept, the filter.
type TapsKey = (usize, usize, std::ops::Range<usize>, PilFilter);

/// How many coefficient tables each thread keeps (a command resizes thousands of images between a few sizes).
const TAPS_CACHE: usize = 8;

thread_local! {
    static TAPS: std::cell::RefCell<Vec<(TapsKey, std::rc::Rc<Taps>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Taps {
    /// [`Taps::new`], memoised per thread: the same arguments give the same table, computed once.
    fn cached(
        n_in: usize,
        n_out: usize,
        outputs: std::ops::Range<usize>,
        filter: PilFilter,
    ) -> std::rc::Rc<Taps> {
        let key = (n_in, n_out, outputs, filter);
        TAPS.with(|cell| {
            let mut cache = cell.borrow_mut();
            if let Some((_, t)) = cache.iter().find(|(k, _)| *k == key) {
                return t.clone();
            }
            let t = std::rc::Rc::new(Taps::new(key.0, key.1, key.2.clone(), key.3));
            if cache.len() == TAPS_CACHE {
                cache.remove(0);
            }
            cache.push((key, t.clone()));
            t
        })
    }

    fn new(n_in: usize, n_out: usize, outputs: std::ops::Range<usize>, filter: PilFilter) -> Taps {
        let scale = n_in as f64 / n_out as f64;
        let filterscale = scale.max(1.0);
        let (support, f): (f64, fn(f64) -> f64) = match filter {
            PilFilter::Box => (0.5, |x| if x > -0.5 && x <= 0.5 { 1.0 } else { 0.0 }),
            PilFilter::Bilinear => (1.0, |x: f64| (1.0 - x.abs()).max(0.0)),
        };
        let support = support * filterscale;
        let one = f64::from(1u32 << PIL_PRECISION_BITS);
        let stride = (2.0 * support + 2.0).ceil() as usize;
        let n = outputs.len();
        let mut taps = Taps {
            first: Vec::with_capacity(n),
            len: Vec::with_capacity(n),
            weights: vec![0; n * stride],
            stride,
            #[cfg(target_arch = "x86_64")]
            lanes: Default::default(),
        };
        // Buffers reused from one output to the next.
        let (mut k, mut fixed): (Vec<f64>, Vec<i32>) =
            (Vec::with_capacity(stride), Vec::with_capacity(stride));
        for (o, i) in outputs.enumerate() {
            let center = (i as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5).floor().max(0.0)) as usize;
            let xmax = ((center + support + 0.5).floor() as usize).min(n_in);
            k.clear();
            k.extend((xmin..xmax).map(|x| f((x as f64 - center + 0.5) / filterscale)));
            let sum: f64 = k.iter().sum();
            if sum != 0.0 {
                k.iter_mut().for_each(|v| *v /= sum);
            }
            fixed.clear();
            fixed.extend(k.iter().map(|&v| (v * one + if v < 0.0 { -0.5 } else { 0.5 }) as i32));
            let lead = fixed.iter().take_while(|&&v| v == 0).count();
            let used = fixed.len() - lead - fixed[lead..].iter().rev().take_while(|&&v| v == 0).count();
            taps.first.push(xmin + lead);
            taps.len.push(used);
            taps.weights[o * stride..o * stride + used].copy_from_slice(&fixed[lead..lead + used]);
        }
        taps
    }

    /// The inputs read with a nonzero weight by any output of the table: from the first one's first tap to the
    /// end of the last one's.
    fn input_span(&self) -> std::ops::Range<usize> {
        let lo = self.first.iter().copied().min().unwrap_or(0);
        let hi = self.first.iter().zip(&self.len).map(|(f, l)| f + l).max().unwrap_or(0);
        lo..hi.max(lo)
    }

    /// The weights of output `o`.
    #[inline]
    fn of(&self, o: usize) -> &[i32] {
        &self.weights[o * self.stride..o * self.stride + self.len[o]]
    }

    /// The AVX2 layout of the horizontal pass for `c`-channel rows (gray or RGB), when there is one.
    #[cfg(target_arch = "x86_64")]
    fn lanes(&self, c: usize) -> Option<&RowPlan> {
        let slot = match c {
            1 => &self.lanes[0],
            3 => &self.lanes[1],
            _ => return None,
        };
        slot.get_or_init(|| RowPlan::new(c, self.first.len(), |o| self.first[o], |o| self.of(o))).as_ref()
    }

    /// Whether output `o` copies one input (a single weight of one).
    #[inline]
    fn is_copy(&self, o: usize) -> bool {
        self.len[o] == 1 && self.weights[o * self.stride] == 1 << PIL_PRECISION_BITS
    }
}

/// PIL's `Image.resize((out_w, out_h), filter)` on 8-bit HWC pixels, in PIL's integer arithmetic: horizontal
/// pass, rounding to 8 bits, then vertical pass, rounding again.
pub fn pil_resize(
    px: &[u8],
    h: usize,
    w: usize,
    c: usize,
    out_h: usize,
    out_w: usize,
    filter: PilFilter,
) -> Vec<u8> {
    let mut out = vec![0u8; out_h * out_w * c];
    pil_resize_into(px, [h, w, c], [out_h, out_w], filter, &mut out);
    out
}

/// The rows `rows` and columns `cols` of [`pil_resize`] to `out_h × out_w` (a crop of the resized image),
/// computed without the rest of it: the horizontal pass runs only on the input rows the vertical pass reads
/// and only for the columns kept. Every kept pixel has the value the full resize gives it.
pub fn pil_resize_window(
    px: &[u8],
    [h, w, c]: [usize; 3],
    [out_h, out_w]: [usize; 2],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    filter: PilFilter,
) -> Vec<u8> {
    let mut out = vec![0u8; rows.len() * cols.len() * c];
    pil_resize_window_into(px, [h, w, c], [out_h, out_w], rows, cols, filter, &mut out);
    out
}

/// The input rows and columns that [`pil_resize_window`] reads with a nonzero weight for the window `rows ×
/// cols` of a resize of `h × w` to `out_h × out_w`: its result depends on no other input pixel (others are
/// read, if at all, only with weight 0, which in PIL's integer arithmetic adds exactly 0), so an image whose
/// pixels are right only inside this span resizes to the same window.
pub fn pil_window_span(
    [h, w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    filter: PilFilter,
) -> [std::ops::Range<usize>; 2] {
    let span = |n_in: usize, n_out: usize, kept: std::ops::Range<usize>| {
        if n_in == n_out || kept.is_empty() {
            return kept;
        }
        Taps::cached(n_in, n_out, kept, filter).input_span()
    };
    [span(h, out_h, rows), span(w, out_w, cols)]
}

/// [`pil_resize_window`] written into `out` (`rows.len() · cols.len() · c` bytes), which needs no buffer of
/// its own for the result.
pub fn pil_resize_window_into(
    px: &[u8],
    [h, w, c]: [usize; 3],
    [out_h, out_w]: [usize; 2],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    filter: PilFilter,
    out: &mut [u8],
) {
    debug_assert_eq!(px.len(), h * w * c);
    assert_eq!(out.len(), rows.len() * cols.len() * c, "the output holds the window");
    super::wide::wide(
        #[inline(always)]
        || resize_window(px, [h, w, c], [out_h, out_w], rows, cols, filter, out),
    )
}

/// [`pil_resize`] written into `out` (`out_h · out_w · c` bytes).
pub fn pil_resize_into(
    px: &[u8],
    [h, w, c]: [usize; 3],
    [out_h, out_w]: [usize; 2],
    filter: PilFilter,
    out: &mut [u8],
) {
    pil_resize_window_into(px, [h, w, c], [out_h, out_w], 0..out_h, 0..out_w, filter, out)
}

/// [`pil_resize_window_into`]'s body, inlined into its vectorised versions.
#[inline(always)]
fn resize_window(
    px: &[u8],
    [h, w, c]: [usize; 3],
    [out_h, out_w]: [usize; 2],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    filter: PilFilter,
    out: &mut [u8],
) {
    let vertical = (out_h != h).then(|| Taps::cached(h, out_h, rows.clone(), filter));
    // The input rows the vertical pass reads (or the kept rows themselves when there is none).
    let std::ops::Range { start: r0, end: r1 } = match &vertical {
        Some(t) => t.input_span(),
        None => rows.clone(),
    };
    let row_len = cols.len() * c;
    let band = &px[r0 * w * c..r1 * w * c];
    match vertical {
        Some(t) => {
            let mut horizontal = vec![0u8; (r1 - r0) * row_len];
            let source = if out_w != w {
                pil_pass_rows(band, w, c, &Taps::cached(w, out_w, cols, filter), &mut horizontal);
                &horizontal[..]
            } else if cols.len() == w {
                band
            } else {
                copy_cols(band, w * c, cols.start * c..cols.end * c, &mut horizontal);
                &horizontal[..]
            };
            pil_pass_cols(source, r0, row_len, &t, out);
        }
        None if out_w != w => pil_pass_rows(band, w, c, &Taps::cached(w, out_w, cols, filter), out),
        None => copy_cols(band, w * c, cols.start * c..cols.end * c, out),
    }
}

/// The bytes `cols` of every row (`row_len` bytes) of `px`, one after the other, into `out`.
#[inline(always)]
fn copy_cols(px: &[u8], row_len: usize, cols: std::ops::Range<usize>, out: &mut [u8]) {
    for (src, dst) in px.chunks_exact(row_len).zip(out.chunks_exact_mut(cols.len())) {
        dst.copy_from_slice(&src[cols.clone()]);
    }
}

/// PIL's `clip8`: the accumulator (which starts at ½ in fixed point) shifted down and clamped to a byte.
#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PIL_PRECISION_BITS).clamp(0, 255) as u8
}

/// The horizontal pass over whole rows of `w` pixels of `c` channels, into `out` (one row of the outputs of
/// `taps` per input row).
#[inline(always)]
fn pil_pass_rows(px: &[u8], w: usize, c: usize, taps: &Taps, out: &mut [u8]) {
    debug_assert_eq!(out.len(), px.len() / (w * c) * taps.first.len() * c);
    #[cfg(target_arch = "x86_64")]
    if let (Some(s), Some(plan)) = (super::wide::v3(), taps.lanes(c)) {
        return super::resample_lanes::rows(s, plan, px, w * c, out);
    }
    pass_rows_scalar(px, w, c, taps, out)
}

/// [`pil_pass_rows`] without vector instructions of its own (the reference the AVX2 pass is tested against).
#[inline(always)]
fn pass_rows_scalar(px: &[u8], w: usize, c: usize, taps: &Taps, out: &mut [u8]) {
    let widest = taps.len.iter().copied().max().unwrap_or(0);
    if c == 3 && w >= 4 {
        match widest {
            0..=2 => return rows_rgb_fixed::<2>(px, w, taps, out),
            3 => return rows_rgb_fixed::<3>(px, w, taps, out),
            4 => return rows_rgb_fixed::<4>(px, w, taps, out),
            _ => {}
        }
    }
    let half = 1i32 << (PIL_PRECISION_BITS - 1);
    let n_out = taps.first.len();
    for (row, orow) in px.chunks_exact(w * c).zip(out.chunks_exact_mut(n_out * c)) {
        for (o, dst) in orow.chunks_exact_mut(c).enumerate() {
            let x0 = taps.first[o];
            let k = taps.of(o);
            let src = &row[x0 * c..(x0 + k.len()) * c];
            for (ch, d) in dst.iter_mut().enumerate() {
                let acc =
                    k.iter().zip(src.chunks_exact(c)).fold(half, |a, (&kv, p)| a + kv * i32::from(p[ch]));
                *d = clip8(acc);
            }
        }
    }
}

/// [`pil_pass_rows`] on RGB rows when no output has more than `K` weights (`K ≤ w`): every output reads `K`
/// pixels from a start moved left where needed to stay inside the row, its weights shifted to match and padded
/// with zeros, so that the inner loop has a fixed length (a zero weight adds nothing: the same sums).
#[inline(always)]
fn rows_rgb_fixed<const K: usize>(px: &[u8], w: usize, taps: &Taps, out: &mut [u8]) {
    let half = 1i32 << (PIL_PRECISION_BITS - 1);
    let n_out = taps.first.len();
    let (starts, weights): (Vec<usize>, Vec<[i32; K]>) = (0..n_out)
        .map(|o| {
            let start = taps.first[o].min(w - K);
            let shift = taps.first[o] - start;
            let mut k = [0i32; K];
            k[shift..shift + taps.len[o]].copy_from_slice(taps.of(o));
            (start, k)
        })
        .unzip();
    for (row, orow) in px.chunks_exact(w * 3).zip(out.chunks_exact_mut(n_out * 3)) {
        for ((&x0, k), dst) in starts.iter().zip(&weights).zip(orow.chunks_exact_mut(3)) {
            let src = &row[x0 * 3..x0 * 3 + 3 * K];
            let mut acc = [half; 3];
            for (t, &kv) in k.iter().enumerate() {
                for (ch, a) in acc.iter_mut().enumerate() {
                    *a += kv * i32::from(src[t * 3 + ch]);
                }
            }
            dst.copy_from_slice(&acc.map(clip8));
        }
    }
}

/// The vertical pass: output row `o` (of `out`) from the rows `taps.first[o]…` of `px`, whose first row is
/// input row `first_row`; rows are `row_len` values long.
#[inline(always)]
fn pil_pass_cols(px: &[u8], first_row: usize, row_len: usize, taps: &Taps, out: &mut [u8]) {
    let half = 1i32 << (PIL_PRECISION_BITS - 1);
    let mut acc = vec![0i32; row_len];
    for (o, orow) in out.chunks_exact_mut(row_len).enumerate() {
        let y0 = taps.first[o] - first_row;
        if taps.is_copy(o) {
            orow.copy_from_slice(&px[y0 * row_len..(y0 + 1) * row_len]);
            continue;
        }
        let k = taps.of(o);
        match k.len() {
            // One or two weights (bilinear upscaling): both rows in one pass, no accumulator in memory.
            1 => {
                let (k0, r0) = (k[0], &px[y0 * row_len..(y0 + 1) * row_len]);
                orow.iter_mut().zip(r0).for_each(|(d, &a)| *d = clip8(half + k0 * i32::from(a)));
            }
            2 => {
                let (k0, k1) = (k[0], k[1]);
                let (r0, r1) = px[y0 * row_len..(y0 + 2) * row_len].split_at(row_len);
                for ((d, &a), &b) in orow.iter_mut().zip(r0).zip(r1) {
                    *d = clip8(half + k0 * i32::from(a) + k1 * i32::from(b));
                }
            }
            3 => cols_fused::<3>(orow, &px[y0 * row_len..(y0 + 3) * row_len], k),
            4 => cols_fused::<4>(orow, &px[y0 * row_len..(y0 + 4) * row_len], k),
            _ => {
                acc.iter_mut().for_each(|a| *a = half);
                for (j, &kv) in k.iter().enumerate() {
                    let src = &px[(y0 + j) * row_len..(y0 + j + 1) * row_len];
                    acc.iter_mut().zip(src).for_each(|(a, &v)| *a += kv * i32::from(v));
                }
                orow.iter_mut().zip(&acc).for_each(|(d, &a)| *d = clip8(a));
            }
        }
    }
}

/// One output row of the vertical pass from the `K` consecutive rows in `rows` and their weights `k`, all
/// weights per value in one pass (the same sums as accumulating row by row).
#[inline(always)]
fn cols_fused<const K: usize>(orow: &mut [u8], rows: &[u8], k: &[i32]) {
    let half = 1i32 << (PIL_PRECISION_BITS - 1);
    let n = orow.len();
    let r: [&[u8]; K] = std::array::from_fn(|j| &rows[j * n..(j + 1) * n]);
    let k: [i32; K] = std::array::from_fn(|j| k[j]);
    for (i, d) in orow.iter_mut().enumerate() {
        let mut a = half;
        for j in 0..K {
            a += k[j] * i32::from(r[j][i]);
        }
        *d = clip8(a);
    }
}

/// A 2×3 affine map `(x, y) ↦ (a·x + b·y + c, d·x + e·y + f)`, in pixel coordinates (x = column).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [f64; 6]);

impl Affine {
    /// Applies the map to `(x, y)`.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// The inverse map, or `None` when the linear part is singular.
    pub fn inverse(&self) -> Option<Affine> {
        let m = &self.0;
        let det = m[0] * m[4] - m[1] * m[3];
        if det.abs() < 1e-12 {
            return None;
        }
        let (a, b, d, e) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
        Some(Affine([a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])]))
    }

    /// The map sending the three points `src` onto `dst` (OpenCV's `getAffineTransform`), or `None` when the
    /// source points are collinear.
    pub fn from_points(src: [(f64, f64); 3], dst: [(f64, f64); 3]) -> Option<Affine> {
        // Solve [x y 1] · [a d; b e; c f] = [x' y'] for the three points (Cramer's rule).
        let det3 = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let base = [[src[0].0, src[0].1, 1.0], [src[1].0, src[1].1, 1.0], [src[2].0, src[2].1, 1.0]];
        let d = det3(base);
        if d.abs() < 1e-12 {
            return None;
        }
        let solve = |rhs: [f64; 3]| -> [f64; 3] {
            let mut out = [0.0; 3];
            for (k, o) in out.iter_mut().enumerate() {
                let mut m = base;
                for r in 0..3 {
                    m[r][k] = rhs[r];
                }
                *o = det3(m) / d;
            }
            out
        };
        let xs = solve([dst[0].0, dst[1].0, dst[2].0]);
        let ys = solve([dst[0].1, dst[1].1, dst[2].1]);
        Some(Affine([xs[0], xs[1], xs[2], ys[0], ys[1], ys[2]]))
    }
}

/// Samples every channel of `img` bilinearly at `(y, x)` into `out` (length `channels`), reading outside
/// through `border`.
#[inline]
pub fn bilinear_pixel(img: &Image, y: f32, x: f32, border: Border, out: &mut [f32]) {
    let (h, w, c) = (img.height, img.width, img.channels);
    let (y0, x0) = (floor_i(y), floor_i(x));
    let (fy, fx) = (y - y0 as f32, x - x0 as f32);
    let weights = [(1.0 - fy) * (1.0 - fx), (1.0 - fy) * fx, fy * (1.0 - fx), fy * fx];
    out.iter_mut().for_each(|o| *o = 0.0);
    if y0 >= 0 && x0 >= 0 && (y0 as usize) + 1 < h && (x0 as usize) + 1 < w {
        let i = (y0 as usize * w + x0 as usize) * c;
        let starts = [i, i + c, i + w * c, i + w * c + c];
        for (wt, s) in weights.iter().zip(starts) {
            for (o, v) in out.iter_mut().zip(&img.data[s..s + c]) {
                *o += wt * v;
            }
        }
        return;
    }
    let corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)];
    for (wt, (yy, xx)) in weights.iter().zip(corners) {
        if let (Some(a), Some(b)) = (border.index(yy, h), border.index(xx, w)) {
            let s = (a * w + b) * c;
            for (o, v) in out.iter_mut().zip(&img.data[s..s + c]) {
                *o += wt * v;
            }
        }
    }
}

/// Resamples `img`: output pixel `(x, y)` takes the bilinear value of the input at `at(x, y)` (as `(x, y)`).
pub fn remap(img: &Image, border: Border, mut at: impl FnMut(usize, usize) -> (f32, f32)) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut out = Image::zeros(h, w, c);
    for y in 0..h {
        for (x, px) in out.data[y * w * c..(y + 1) * w * c].chunks_exact_mut(c).enumerate() {
            let (sx, sy) = at(x, y);
            bilinear_pixel(img, sy, sx, border, px);
        }
    }
    out
}

/// Warps every channel: output pixel `(x, y)` takes the bilinear value of the input at `inverse(x, y)`.
pub fn warp(img: &Image, inverse: &Affine, border: Border) -> Image {
    remap(img, border, |x, y| {
        let (sx, sy) = inverse.apply(x as f64, y as f64);
        (sx as f32, sy as f32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scipy_zoom_keeps_corners() {
        let src: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let out = scipy_zoom_plane(&src, 3, 3, 5, 5);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[4], 2.0);
        assert_eq!(out[24], 8.0);
        assert_eq!(out[2], 1.0);
    }

    #[test]
    fn folded_zoom_axis_matches_crop_zoom_trim() {
        let src: Vec<f32> = (0..29 * 31).map(|i| ((i * 7919) % 101) as f32).collect();
        for z in [1.0, 1.06, 1.25, 1.2500000000000002, 1.31] {
            let plane = clipped_zoom_plane(&src, 29, 31, z);
            let (ys, xs) = (clipped_zoom_axis(29, z), clipped_zoom_axis(31, z));
            for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
                for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
                    let g = |a: usize, b: usize| src[a * 31 + b];
                    let top = g(y0, x0) + (g(y0, x1) - g(y0, x0)) * fx;
                    let bottom = g(y1, x0) + (g(y1, x1) - g(y1, x0)) * fx;
                    assert!((top + (bottom - top) * fy - plane[y * 31 + x]).abs() < 1e-4, "z={z} ({y},{x})");
                }
            }
        }
    }

    #[test]
    fn pil_box_halving_averages_blocks() {
        let px: Vec<u8> = vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150];
        let out = pil_resize(&px, 4, 4, 1, 2, 2, PilFilter::Box);
        // Block means: (0+10+40+50)/4 = 25, (20+30+60+70)/4 = 45, ...
        assert_eq!(out, vec![25, 45, 105, 125]);
    }

    #[test]
    fn a_resize_window_is_the_crop_of_the_whole_resize() {
        let (h, w) = (37, 53);
        for c in [1, 3] {
            let px: Vec<u8> = (0..h * w * c).map(|i| ((i * 7919) % 251) as u8).collect();
            for filter in [PilFilter::Box, PilFilter::Bilinear] {
                for (oh, ow) in [(43, 61), (37, 20), (11, 53), (37, 53), (64, 64)] {
                    let full = pil_resize(&px, h, w, c, oh, ow, filter);
                    for (rows, cols) in [(0..oh, 0..ow), (3..oh - 2, 1..ow - 4), (oh / 2..oh / 2 + 1, 0..1)] {
                        let win =
                            pil_resize_window(&px, [h, w, c], [oh, ow], rows.clone(), cols.clone(), filter);
                        let crop: Vec<u8> = rows
                            .clone()
                            .flat_map(|y| full[(y * ow + cols.start) * c..(y * ow + cols.end) * c].to_vec())
                            .collect();
                        assert_eq!(win, crop, "{filter:?} c={c} {oh}x{ow} {rows:?} {cols:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_lane_pass_gives_the_scalar_bytes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for c in [1, 3] {
            for w in [4, 5, 9, 17, 31, 89, 224, 256] {
                let rows = 3;
                let px: Vec<u8> = (0..rows * w * c).map(|_| next() as u8).collect();
                for n_out in [1, 2, 3, 7, 8, 11, w / 2, w * 2 / 5, w * 8 / 7, w + 3, 2 * w, 5 * w, w / 6] {
                    for filter in [PilFilter::Box, PilFilter::Bilinear] {
                        if n_out == 0 {
                            continue;
                        }
                        let lo = (next() as usize) % n_out;
                        for cols in [0..n_out, lo..n_out] {
                            let taps = Taps::new(w, n_out, cols.clone(), filter);
                            let len = rows * cols.len() * c;
                            let (mut want, mut got) = (vec![0u8; len], vec![1u8; len]);
                            pass_rows_scalar(&px, w, c, &taps, &mut want);
                            pil_pass_rows(&px, w, c, &taps, &mut got);
                            assert_eq!(got, want, "c={c} w={w} n_out={n_out} {cols:?} {filter:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn affine_from_points_inverts() {
        let src = [(1.0, 2.0), (5.0, 2.0), (1.0, 7.0)];
        let m = Affine([1.1, 0.2, 3.0, -0.1, 0.9, -2.0]);
        let dst = src.map(|(x, y)| m.apply(x, y));
        let fit = Affine::from_points(src, dst).unwrap();
        for (a, b) in fit.0.iter().zip(m.0) {
            assert!((a - b).abs() < 1e-9);
        }
        let (x, y) = fit.inverse().unwrap().apply(m.apply(3.0, 4.0).0, m.apply(3.0, 4.0).1);
        assert!((x - 3.0).abs() < 1e-9 && (y - 4.0).abs() < 1e-9);
    }
}
