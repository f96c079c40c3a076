//! JPEG compression as libjpeg(-turbo) with PIL's defaults does it, down to the quantised coefficients and
//! back: the lossy part of a baseline JPEG file, without the (lossless) entropy coding.
//!
//! Encoding (`jpeg_compress`): RGB → YCbCr; luma at full size, Cb and Cr downsampled 2×2 (4:2:0); each
//! plane padded to whole 8×8 blocks by repeating its last row and column in libjpeg's order (the full-size
//! chroma to an even size and to twice the block width, then the downsampled rows); the islow forward DCT and
//! libjpeg's rounding quantiser with the Annex K tables scaled by the quality. Gray images are one plane.
//!
//! Decoding (`Coefficients::decode`): dequantise + islow IDCT, fancy (triangular) upsampling of the chroma,
//! YCbCr → RGB. Together they give what `PIL.Image.save(buf, "JPEG", quality=q)` then `Image.open(buf)` gives,
//! which is how the reference scripts (`make_imagenet_c.py`, `make_cifar_c.py`) apply `jpeg_compression`;
//! `tests/jpeg_golden.rs` holds every pixel against PIL's output.

use super::jpeg_color::{self, Plane};
use super::jpeg_dct;
#[cfg(target_arch = "x86_64")]
use super::jpeg_dct_lanes;
use super::jpeg_tables::{self, BLOCK};
use std::ops::Range;

/// One component's quantised DCT blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Horizontal sampling factor (1 or 2).
    pub h: usize,
    /// Vertical sampling factor (1 or 2).
    pub v: usize,
    /// The quantisation table, natural order.
    pub table: [u16; BLOCK],
    /// Blocks per row: `⌈⌈W·h/hmax⌉ / 8⌉`.
    pub blocks_w: usize,
    /// Block rows: `⌈⌈H·v/vmax⌉ / 8⌉`.
    pub blocks_h: usize,
    /// `blocks_w · blocks_h` blocks, row-major, each in natural order.
    pub blocks: Vec<[i16; BLOCK]>,
}

impl Component {
    /// Samples the component covers horizontally and vertically (`⌈W·h/hmax⌉`, `⌈H·v/vmax⌉`).
    pub fn sampled_size(&self, width: usize, height: usize, hmax: usize, vmax: usize) -> (usize, usize) {
        ((width * self.h).div_ceil(hmax), (height * self.v).div_ceil(vmax))
    }
}

/// A JPEG image as quantised coefficients: what a baseline file stores, before entropy coding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coefficients {
    /// Image columns.
    pub width: usize,
    /// Image rows.
    pub height: usize,
    /// One (gray) or three (Y, Cb, Cr) components.
    pub components: Vec<Component>,
}

/// Blocks needed to cover `n` samples.
fn blocks(n: usize) -> usize {
    n.div_ceil(8)
}

/// Forward DCT and quantisation of every block of a plane already padded to whole blocks.
fn encode_plane(p: &Plane, h: usize, v: usize, table: [u16; BLOCK]) -> Component {
    let (bw, bh) = (p.width / 8, p.height / 8);
    let quantizer = jpeg_dct::Quantizer::new(&table);
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = super::wide::v3() {
        let blocks = jpeg_dct_lanes::forward_plane(s, p, &quantizer);
        return Component { h, v, table, blocks_w: bw, blocks_h: bh, blocks };
    }
    let mut blocks = Vec::with_capacity(bw * bh);
    let mut d = [0i32; BLOCK];
    for by in 0..bh {
        for bx in 0..bw {
            for r in 0..8 {
                let row = &p.data[(by * 8 + r) * p.width + bx * 8..][..8];
                for (k, &s) in row.iter().enumerate() {
                    d[r * 8 + k] = i32::from(s) - 128;
                }
            }
            jpeg_dct::fdct_islow(&mut d);
            let mut q = [0i16; BLOCK];
            quantizer.quantize(&d, &mut q);
            blocks.push(q);
        }
    }
    Component { h, v, table, blocks_w: bw, blocks_h: bh, blocks }
}

/// Compresses 8-bit HWC pixels (`channels` 1 or 3, both sides at least 1) at `quality` (1…100) as libjpeg does
/// with PIL's defaults: 4:2:0 for colour, one plane for gray.
pub fn jpeg_compress(px: &[u8], height: usize, width: usize, channels: usize, quality: u8) -> Coefficients {
    debug_assert!(channels == 1 || channels == 3);
    debug_assert_eq!(px.len(), height * width * channels);
    let luma_table = jpeg_tables::luma_table(quality);
    if channels == 1 {
        let p = Plane { width, height, data: px.to_vec() };
        let p = p.padded(blocks(width) * 8, blocks(height) * 8);
        return Coefficients { width, height, components: vec![encode_plane(&p, 1, 1, luma_table)] };
    }
    let mut planes = [0, 1, 2].map(|_| vec![0u8; width * height]);
    let [ys, cbs, crs] = &mut planes;
    jpeg_color::rgb_to_ycc_row(px, ys, cbs, crs);
    let [y, cb, cr] = planes.map(|data| Plane { width, height, data });
    let y = y.padded(blocks(width) * 8, blocks(height) * 8);
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let chroma_table = jpeg_tables::chroma_table(quality);
    let chroma = |p: Plane| {
        let small = jpeg_color::downsample_h2v2(&p.padded(blocks(cw) * 16, ch * 2));
        let (sw, sh) = (small.width, blocks(ch) * 8);
        encode_plane(&small.padded(sw, sh), 1, 1, chroma_table)
    };
    let components = vec![encode_plane(&y, 2, 2, luma_table), chroma(cb), chroma(cr)];
    Coefficients { width, height, components }
}

/// The last steps of [`Coefficients::decode_part`] for colour: chroma rows upsampled (h2v2) or taken as they
/// are (h1v1, or h2v1 already upsampled), then converted to RGB row by row, for the rows `rows` and the columns
/// `cols` of the output; a type for [`crate::wide::wide`].
struct ToRgb<'a> {
    y: &'a Plane,
    cb: &'a Plane,
    cr: &'a Plane,
    /// `Some((dw, dh, span))`: `cb` and `cr` are `dw × dh` chroma samples to upsample h2v2, only the chroma
    /// columns `span` of them when it is `Some` ([`h2v2_inner`] of `cols`).
    h2v2: Option<(usize, usize, Option<Range<usize>>)>,
    width: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &'a mut [u8],
}

impl pulp::NullaryFnOnce for ToRgb<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let ToRgb { y, cb, cr, h2v2, width: w, rows, cols, out } = self;
        if w == 0 {
            return;
        }
        let mut sums = vec![0u16; cb.width];
        let (mut cb_row, mut cr_row) = (vec![0u8; w], vec![0u8; w]);
        for r in rows {
            let row = &mut out[3 * w * r..][..3 * w];
            let ys = &y.data[r * y.width..][..w];
            let (cbs, crs): (&[u8], &[u8]) = match &h2v2 {
                Some((_, dh, Some(span))) => {
                    jpeg_color::upsample_h2v2_span(cb, *dh, r, span.clone(), &mut sums, &mut cb_row);
                    jpeg_color::upsample_h2v2_span(cr, *dh, r, span.clone(), &mut sums, &mut cr_row);
                    (&cb_row, &cr_row)
                }
                Some((dw, dh, None)) => {
                    jpeg_color::upsample_h2v2_row(cb, *dw, *dh, r, &mut sums, &mut cb_row);
                    jpeg_color::upsample_h2v2_row(cr, *dw, *dh, r, &mut sums, &mut cr_row);
                    (&cb_row, &cr_row)
                }
                None => (&cb.data[r * cb.width..][..w], &cr.data[r * cr.width..][..w]),
            };
            let c = cols.clone();
            jpeg_color::ycc_to_rgb_row(
                &ys[c.clone()],
                &cbs[c.clone()],
                &crs[c],
                &mut row[3 * cols.start..3 * cols.end],
            );
        }
    }
}

/// The chroma columns `[a − 1, b + 1)` that h2v2 fancy upsampling reads for the output columns `cols`, where
/// `[a, b)` are the chroma columns under `cols`, when those neighbours lie inside the `dw` columns the image
/// covers (`a ≥ 1`, `b + 1 ≤ dw`): every output column of `cols` is then an interior one of
/// [`jpeg_color::upsample_h2v2_row`]. `None` when `cols` starts before column 2 or ends after column
/// `2·dw − 2` (near an edge, or chroma at most two samples wide), where the whole row is upsampled.
fn h2v2_inner(cols: &Range<usize>, dw: usize) -> Option<Range<usize>> {
    let (a, b) = (cols.start / 2, cols.end.div_ceil(2));
    (!cols.is_empty() && a >= 1 && b < dw).then(|| a - 1..b + 1)
}

/// The block indices `[lo / 8, ⌈hi / 8⌉)` that hold the samples `lo..hi`.
fn block_span(samples: Range<usize>) -> Range<usize> {
    samples.start / 8..samples.end.div_ceil(8)
}

/// Why coefficients cannot be decoded here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// Not 1 or 3 components.
    Components(usize),
    /// Sampling factors other than luma 1×1, 2×1 or 2×2 with chroma 1×1.
    Sampling(Vec<(usize, usize)>),
    /// Fewer blocks than the image size needs.
    TooFewBlocks,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::Components(n) => write!(f, "{n} components (1 or 3 are read)"),
            Unsupported::Sampling(s) => {
                write!(f, "sampling factors {s:?} (luma 1x1, 2x1 or 2x2 with chroma 1x1 are read)")
            }
            Unsupported::TooFewBlocks => write!(f, "fewer DCT blocks than the image size needs"),
        }
    }
}

impl Coefficients {
    /// Dequantises and inverse-transforms the blocks `rows × cols` (block indices) of one component into a plane
    /// of whole blocks; the other samples are 0.
    fn idct_plane(c: &Component, rows: Range<usize>, cols: Range<usize>) -> Plane {
        let (w, h) = (c.blocks_w * 8, c.blocks_h * 8);
        let mut data = vec![0u8; w * h];
        let (r1, c1) = (rows.end.min(c.blocks_h), cols.end.min(c.blocks_w));
        let (rows, cols) = (rows.start.min(r1)..r1, cols.start.min(c1)..c1);
        #[cfg(target_arch = "x86_64")]
        if let Some(s) = super::wide::v3() {
            jpeg_dct_lanes::inverse_plane(s, c, rows, cols, &mut data);
            return Plane { width: w, height: h, data };
        }
        for by in rows {
            for bx in cols.clone() {
                let block = &c.blocks[by * c.blocks_w + bx];
                jpeg_dct::idct_islow(block, &c.table, &mut data[by * 8 * w + bx * 8..], w);
            }
        }
        Plane { width: w, height: h, data }
    }

    /// Decodes to 8-bit HWC pixels as libjpeg-turbo does by default (islow IDCT, fancy upsampling): gray
    /// images give one channel, YCbCr images three (RGB).
    pub fn decode(&self) -> std::result::Result<Vec<u8>, Unsupported> {
        self.decode_part(0..self.height, 0..self.width)
    }

    /// [`Coefficients::decode`] where only the pixels of the rows `rows` and the columns `cols` are needed:
    /// those have the values `decode` gives them; the other pixels are 0 or their `decode` values. Luma and
    /// chroma blocks are inverse-transformed, and pixels converted to RGB, only in the block rows the part
    /// needs; in the columns too, except for chroma sampled 2×1 (all columns), and for 2×2-sampled chroma when
    /// the part comes within two pixels of a left or right edge or the chroma is at most two samples wide (whole
    /// rows). `tests::a_part_has_the_pixels_of_the_whole` checks it on every sampling, many sizes and parts.
    pub fn decode_part(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> std::result::Result<Vec<u8>, Unsupported> {
        let channels = match self.components.len() {
            1 => 1,
            3 => 3,
            n => return Err(Unsupported::Components(n)),
        };
        let mut out = vec![0u8; self.width * self.height * channels];
        self.decode_part_into(rows, cols, &mut out)?;
        Ok(out)
    }

    /// [`Coefficients::decode_part`] into `out` (`width · height · channels` bytes, HWC): the pixels of the part
    /// are written, the others left as they are. With the whole image as the part every byte is written, so
    /// `out` need not be cleared first.
    pub fn decode_part_into(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
        out: &mut [u8],
    ) -> std::result::Result<(), Unsupported> {
        let (w, h) = (self.width, self.height);
        let (r1, c1) = (rows.end.min(h), cols.end.min(w));
        let (rows, cols) = (rows.start.min(r1)..r1, cols.start.min(c1)..c1);
        let sampling: Vec<(usize, usize)> = self.components.iter().map(|c| (c.h, c.v)).collect();
        for c in &self.components {
            let (sw, sh) = c.sampled_size(w, h, sampling[0].0, sampling[0].1);
            if c.blocks_w < blocks(sw) || c.blocks_h < blocks(sh) || c.blocks.len() != c.blocks_w * c.blocks_h
            {
                return Err(Unsupported::TooFewBlocks);
            }
        }
        match self.components.len() {
            1 => {
                let p =
                    Self::idct_plane(&self.components[0], block_span(rows.clone()), block_span(cols.clone()));
                let out = &mut out[..w * h];
                for r in rows {
                    out[r * w..][cols.clone()].copy_from_slice(&p.data[r * p.width..][cols.clone()]);
                }
                Ok(())
            }
            3 => {
                let (hmax, vmax) = sampling[0];
                if sampling[1..] != [(1, 1), (1, 1)] || !matches!((hmax, vmax), (1, 1) | (2, 1) | (2, 2)) {
                    return Err(Unsupported::Sampling(sampling));
                }
                let (dw, dh) = self.components[1].sampled_size(w, h, hmax, vmax);
                // The output columns converted, and the chroma samples they read; for h2v2 also the column span
                // upsampled (none: whole rows).
                let span = ((hmax, vmax) == (2, 2)).then(|| h2v2_inner(&cols, dw)).flatten();
                let (cols, chroma_rows, chroma_cols) = match (hmax, vmax) {
                    (1, 1) => (cols.clone(), rows.clone(), cols),
                    (2, 1) => (cols, rows.clone(), 0..dw.max(2)),
                    _ => {
                        let rows = if rows.is_empty() {
                            0..0
                        } else {
                            (rows.start / 2).saturating_sub(1)..((rows.end - 1) / 2 + 2).min(dh)
                        };
                        match &span {
                            Some(span) => (cols, rows, span.clone()),
                            None => (0..w, rows, 0..dw.max(2)),
                        }
                    }
                };
                let y =
                    Self::idct_plane(&self.components[0], block_span(rows.clone()), block_span(cols.clone()));
                let (chroma_rows, chroma_cols) = (block_span(chroma_rows), block_span(chroma_cols));
                let (mut cb, mut cr) = (
                    Self::idct_plane(&self.components[1], chroma_rows.clone(), chroma_cols.clone()),
                    Self::idct_plane(&self.components[2], chroma_rows, chroma_cols),
                );
                if (hmax, vmax) == (2, 1) {
                    cb = jpeg_color::upsample_h2v1(&cb, dw, w, h);
                    cr = jpeg_color::upsample_h2v1(&cr, dw, w, h);
                }
                let h2v2 = ((hmax, vmax) == (2, 2)).then_some((dw, dh, span));
                crate::wide::wide(ToRgb {
                    y: &y,
                    cb: &cb,
                    cr: &cr,
                    h2v2,
                    width: w,
                    rows,
                    cols,
                    out: &mut out[..w * h * 3],
                });
                Ok(())
            }
            n => Err(Unsupported::Components(n)),
        }
    }
}

/// The JPEG round trip of PIL at `quality`: [`jpeg_compress`] then [`Coefficients::decode`]. Images that are
/// empty or have neither 1 nor 3 channels are returned unchanged.
pub fn jpeg_round_trip(px: &[u8], height: usize, width: usize, channels: usize, quality: u8) -> Vec<u8> {
    let mut out = vec![0u8; px.len()];
    jpeg_round_trip_into(px, [height, width, channels], quality, &mut out);
    out
}

/// [`jpeg_round_trip`] into `out` (as long as `px`).
pub fn jpeg_round_trip_into(px: &[u8], [height, width, channels]: [usize; 3], quality: u8, out: &mut [u8]) {
    if height == 0 || width == 0 || !(channels == 1 || channels == 3) || px.len() != height * width * channels
    {
        out.copy_from_slice(px);
        return;
    }
    let whole =
        jpeg_compress(px, height, width, channels, quality).decode_part_into(0..height, 0..width, out);
    if whole.is_err() {
        out.copy_from_slice(px);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Coefficients of a `width × height` image with random blocks: one component, or Y, Cb, Cr with luma
    /// sampled `(hmax, vmax)` (chroma 1×1), with the blocks a baseline file of that size holds.
    fn random(width: usize, height: usize, sampling: Option<(usize, usize)>, seed: u64) -> Coefficients {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let factors = match sampling {
            None => vec![(1, 1)],
            Some(hv) => vec![hv, (1, 1), (1, 1)],
        };
        let (hmax, vmax) = factors[0];
        let components = factors
            .iter()
            .map(|&(h, v)| {
                // Whole MCUs, as a file holds them.
                let (blocks_w, blocks_h) = (width.div_ceil(8 * hmax) * h, height.div_ceil(8 * vmax) * v);
                let blocks = (0..blocks_w * blocks_h)
                    .map(|_| {
                        let mut b = [0i16; BLOCK];
                        b[0] = rng.random_range(-60..=60);
                        for _ in 0..6 {
                            b[rng.random_range(1..BLOCK)] = rng.random_range(-20..=20);
                        }
                        b
                    })
                    .collect();
                let table = std::array::from_fn(|i| 2 + (i % 7) as u16);
                Component { h, v, table, blocks_w, blocks_h, blocks }
            })
            .collect();
        Coefficients { width, height, components }
    }

    /// `decode_part` gives every pixel of its part the value `decode` gives it, and every other pixel 0 or that
    /// value, for gray and the three samplings read, many sizes (1 px to several blocks, odd and even) and
    /// random parts (empty, at the edges, inside).
    #[test]
    fn a_part_has_the_pixels_of_the_whole() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let samplings = [None, Some((1, 1)), Some((2, 1)), Some((2, 2))];
        let mut checked = 0;
        for (k, &sampling) in samplings.iter().cycle().take(4 * 24).enumerate() {
            let (w, h) = (rng.random_range(1..70), rng.random_range(1..60));
            let coef = random(w, h, sampling, k as u64);
            let whole = coef.decode().unwrap();
            let c = whole.len() / (w * h);
            for _ in 0..12 {
                let (r0, c0) = (rng.random_range(0..=h), rng.random_range(0..=w));
                let (r1, c1) = (rng.random_range(r0..=h), rng.random_range(c0..=w));
                let part = coef.decode_part(r0..r1, c0..c1).unwrap();
                assert_eq!(part.len(), whole.len());
                for (i, (&p, &q)) in part.iter().zip(&whole).enumerate() {
                    let (r, col) = (i / c / w, i / c % w);
                    if (r0..r1).contains(&r) && (c0..c1).contains(&col) {
                        assert_eq!(p, q, "{w}x{h} {sampling:?} part {r0}..{r1} x {c0}..{c1} at ({r}, {col})");
                        checked += 1;
                    } else {
                        assert!(
                            p == 0 || p == q,
                            "{w}x{h} {sampling:?}: pixel ({r}, {col}) outside the part"
                        );
                    }
                }
            }
        }
        assert!(checked > 100_000, "only {checked} pixels compared");
    }
}
