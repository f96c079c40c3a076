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
    crate::wide::wide(ToYcc { px, y: ys, cb: cbs, cr: crs });
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

/// The colour conversion of [`jpeg_compress`], a type rather than a closure so that [`crate::wide::wide`]
/// compiles it with the wider instructions.
struct ToYcc<'a> {
    px: &'a [u8],
    y: &'a mut [u8],
    cb: &'a mut [u8],
    cr: &'a mut [u8],
}

impl pulp::NullaryFnOnce for ToYcc<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        jpeg_color::rgb_to_ycc_row(self.px, self.y, self.cb, self.cr);
    }
}

/// The last steps of [`Coefficients::decode`] for colour: chroma rows upsampled (h2v2) or taken as they are
/// (h1v1, or h2v1 already upsampled), then converted to RGB row by row; a type for [`crate::wide::wide`].
struct ToRgb<'a> {
    y: &'a Plane,
    cb: &'a Plane,
    cr: &'a Plane,
    /// `Some((dw, dh))`: `cb` and `cr` are `dw × dh` chroma samples to upsample h2v2.
    h2v2: Option<(usize, usize)>,
    width: usize,
    out: &'a mut [u8],
}

impl pulp::NullaryFnOnce for ToRgb<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let ToRgb { y, cb, cr, h2v2, width: w, out } = self;
        if w == 0 {
            return;
        }
        let mut sums = vec![0u16; cb.width];
        let (mut cb_row, mut cr_row) = (vec![0u8; w], vec![0u8; w]);
        for (r, row) in out.chunks_exact_mut(3 * w).enumerate() {
            let ys = &y.data[r * y.width..][..w];
            if let Some((dw, dh)) = h2v2 {
                jpeg_color::upsample_h2v2_row(cb, dw, dh, r, &mut sums, &mut cb_row);
                jpeg_color::upsample_h2v2_row(cr, dw, dh, r, &mut sums, &mut cr_row);
                jpeg_color::ycc_to_rgb_row(ys, &cb_row, &cr_row, row);
            } else {
                let (cbs, crs) = (&cb.data[r * cb.width..][..w], &cr.data[r * cr.width..][..w]);
                jpeg_color::ycc_to_rgb_row(ys, cbs, crs, row);
            }
        }
    }
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
    /// Dequantises and inverse-transforms one component into a plane of whole blocks.
    fn idct_plane(c: &Component) -> Plane {
        let (w, h) = (c.blocks_w * 8, c.blocks_h * 8);
        let mut data = vec![0u8; w * h];
        #[cfg(target_arch = "x86_64")]
        if let Some(s) = super::wide::v3() {
            jpeg_dct_lanes::inverse_plane(s, c, &mut data);
            return Plane { width: w, height: h, data };
        }
        for (i, block) in c.blocks.iter().enumerate() {
            let (by, bx) = (i / c.blocks_w, i % c.blocks_w);
            jpeg_dct::idct_islow(block, &c.table, &mut data[by * 8 * w + bx * 8..], w);
        }
        Plane { width: w, height: h, data }
    }

    /// Decodes to 8-bit HWC pixels as libjpeg-turbo does by default (islow IDCT, fancy upsampling): gray
    /// images give one channel, YCbCr images three (RGB).
    pub fn decode(&self) -> std::result::Result<Vec<u8>, Unsupported> {
        let (w, h) = (self.width, self.height);
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
                let p = Self::idct_plane(&self.components[0]);
                Ok((0..h).flat_map(|r| p.data[r * p.width..][..w].iter().copied()).collect())
            }
            3 => {
                let (hmax, vmax) = sampling[0];
                if sampling[1..] != [(1, 1), (1, 1)] || !matches!((hmax, vmax), (1, 1) | (2, 1) | (2, 2)) {
                    return Err(Unsupported::Sampling(sampling));
                }
                let y = Self::idct_plane(&self.components[0]);
                let (dw, dh) = self.components[1].sampled_size(w, h, hmax, vmax);
                let (mut cb, mut cr) =
                    (Self::idct_plane(&self.components[1]), Self::idct_plane(&self.components[2]));
                if (hmax, vmax) == (2, 1) {
                    cb = jpeg_color::upsample_h2v1(&cb, dw, w, h);
                    cr = jpeg_color::upsample_h2v1(&cr, dw, w, h);
                }
                let h2v2 = ((hmax, vmax) == (2, 2)).then_some((dw, dh));
                let mut out = vec![0u8; w * h * 3];
                crate::wide::wide(ToRgb { y: &y, cb: &cb, cr: &cr, h2v2, width: w, out: &mut out });
                Ok(out)
            }
            n => Err(Unsupported::Components(n)),
        }
    }
}

/// The JPEG round trip of PIL at `quality`: [`jpeg_compress`] then [`Coefficients::decode`]. Images that are
/// empty or have neither 1 nor 3 channels are returned unchanged.
pub fn jpeg_round_trip(px: &[u8], height: usize, width: usize, channels: usize, quality: u8) -> Vec<u8> {
    if height == 0 || width == 0 || !(channels == 1 || channels == 3) || px.len() != height * width * channels
    {
        return px.to_vec();
    }
    jpeg_compress(px, height, width, channels, quality).decode().unwrap_or_else(|_| px.to_vec())
}
