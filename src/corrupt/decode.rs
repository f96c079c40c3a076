//! Strict decoding of image files (JPEG and PNG): a file cut short or damaged is an error naming it, never a
//! partly grey image.
//!
//! Decoders for the web fill what they cannot read (zune-jpeg, under the `image` crate, paints the rest of a JPEG
//! cut inside its scan data mid-grey and reports success), which is right for a browser and wrong for an
//! evaluation. Here:
//!
//! - the format is told from the first bytes, whatever the extension says;
//! - a JPEG must end with its end-of-image marker (`FF D9`, trailing zero padding allowed); the sequential
//!   Huffman JPEGs libjpeg writes by default (8-bit, gray or YCbCr with luma sampled 1×1, 2×1 or 2×2, one
//!   scan) are decoded as libjpeg-turbo decodes them, hence as PIL does (islow IDCT, fancy upsampling: see
//!   [`super::jpeg_codec`]), refusing a scan that runs out of data, meets an unexpected marker or holds an
//!   invalid code; any other JPEG (progressive, arithmetic-coded, 12-bit, CMYK, …) goes to zune-jpeg in strict
//!   mode, which refuses the same faults but whose pixels may differ from PIL's by a few levels;
//! - a PNG must end with its `IEND` chunk and is decoded by the `png` decoder (through `image`), which checks
//!   chunk CRCs and refuses image data that ends early;
//! - the size the header claims is checked before anything is allocated: each side at most [`MAX_SIDE`], and
//!   the decoded bytes at most [`MAX_EXPANSION`] times the file's size (or [`EXPANSION_FLOOR`] for small files),
//!   more than any encoder reaches on real images but far less than a forged header could ask for.

use std::io::Cursor;
use std::ops::Range;
use std::path::Path;

use super::jpeg_file::Read;
use crate::error::{Error, Result};

/// The longest image side accepted, in pixels.
pub const MAX_SIDE: usize = 16_384;
/// How many decoded bytes one file byte may become: deflate expands at most about 1032-fold and a baseline JPEG
/// at most 512-fold (two bits per 8×8 block), so real files stay below this.
pub const MAX_EXPANSION: usize = 2048;
/// Decoded bytes always allowed, whatever the file's size (a 4 Ki × 4 Ki RGB image): small files of images
/// with large flat areas (1-bit PNGs, for one) expand further than [`MAX_EXPANSION`].
pub const EXPANSION_FLOOR: usize = 64 << 20;

const JPEG_MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];
const JPEG_EOI: [u8; 2] = [0xFF, 0xD9];
const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
/// The whole `IEND` chunk: zero length, the type, its CRC.
const PNG_IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// A decoded image: `height × width` pixels of `channels` (1 gray, 3 RGB) `u8` values, row-major HWC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// `height · width · channels` values.
    pub pixels: Vec<u8>,
}

impl Decoded {
    /// The image in RGB (gray values repeated in the three channels).
    pub fn into_rgb(self) -> Decoded {
        if self.channels == 3 {
            return self;
        }
        let pixels = self.pixels.iter().flat_map(|&v| [v, v, v]).collect();
        Decoded { channels: 3, pixels, ..self }
    }
}

/// Decodes the JPEG or PNG file `bytes` (read from `path`, named in every error): gray files give one channel,
/// everything else (colour, with or without alpha, palette, CMYK) three.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded> {
    decode_part(path, bytes, 0..usize::MAX, 0..usize::MAX)
}

/// [`decode`] where only the pixels of the rows `rows` and the columns `cols` are needed: those have the values
/// `decode` gives them, the others are 0 or their `decode` values. Baseline JPEG files then skip the inverse
/// DCT and the colour conversion of the blocks the part does not read (every block is still read and checked,
/// so a damaged file is refused as by `decode`); other files are decoded whole.
pub fn decode_part(path: &Path, bytes: &[u8], rows: Range<usize>, cols: Range<usize>) -> Result<Decoded> {
    if bytes.starts_with(&JPEG_MAGIC) {
        decode_jpeg(path, bytes, rows, cols)
    } else if bytes.starts_with(&PNG_MAGIC) {
        decode_png(path, bytes)
    } else {
        Err(Error::format(path, "cannot decode image: not a JPEG or PNG file (judged by its first bytes)"))
    }
}

/// What a file's header declares, read without decoding: `(height, width, channels)` with the channels
/// [`decode`] gives (1 for a one-component JPEG or a gray PNG, with or without alpha; 3 otherwise), the size
/// checked against the limits (see the module docs). [`decode`] gives the same triple for an unchanged file.
pub fn header(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize)> {
    let (height, width, channels) = if bytes.starts_with(&JPEG_MAGIC) {
        check_jpeg_end(path, bytes)?;
        super::jpeg_read::frame_size(bytes)
            .map_err(|p| Error::format(path, format!("cannot decode JPEG: {p}")))?
    } else if bytes.starts_with(&PNG_MAGIC) {
        png_header(path, bytes)?
    } else {
        return Err(Error::format(
            path,
            "cannot decode image: not a JPEG or PNG file (judged by its first bytes)",
        ));
    };
    // The claim as `decode` checks it: a PNG against three channels whatever it holds.
    let claimed = if bytes.starts_with(&PNG_MAGIC) { 3 } else { channels };
    check_claim(path, bytes.len(), width, height, claimed)?;
    Ok((height, width, channels))
}

/// Refuses a JPEG that does not end with its end-of-image marker (trailing zero padding allowed).
fn check_jpeg_end(path: &Path, bytes: &[u8]) -> Result<()> {
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    if !bytes[..end].ends_with(&JPEG_EOI) {
        return Err(Error::format(
            path,
            "JPEG cut short: it does not end with the end-of-image marker FF D9 (truncated or damaged)",
        ));
    }
    Ok(())
}

/// `(height, width, channels)` from a PNG's IHDR chunk (the first, by the standard), after checking that the
/// file ends with its IEND chunk. Colour types 0 (gray) and 4 (gray with alpha) decode to gray, 2, 3 and 6 to
/// RGB.
fn png_header(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize)> {
    if !bytes.ends_with(&PNG_IEND) {
        return Err(Error::format(
            path,
            "PNG cut short: it does not end with its IEND chunk (truncated, damaged or with trailing data)",
        ));
    }
    // IHDR: length, type, then width and height (big-endian), bit depth, colour type.
    if bytes.len() < 33 || &bytes[12..16] != b"IHDR" {
        return Err(Error::format(path, "PNG without an IHDR chunk first"));
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    Ok((be(20), be(16), if matches!(bytes[25], 0 | 4) { 1 } else { 3 }))
}

/// Refuses a claimed size that exceeds the limits (see the module docs) before anything is decoded.
fn check_claim(path: &Path, file_len: usize, width: usize, height: usize, channels: usize) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::format(
            path,
            format!("header claims {width}×{height} pixels; sides from 1 to {MAX_SIDE} are accepted"),
        ));
    }
    let decoded = width * height * channels;
    let allowed = file_len.saturating_mul(MAX_EXPANSION).max(EXPANSION_FLOOR);
    if decoded > allowed {
        return Err(Error::format(
            path,
            format!(
                "header claims {width}×{height} pixels ({decoded} bytes decoded) from a file of {file_len} bytes: \
                 more than any real image compresses to; damaged or forged"
            ),
        ));
    }
    Ok(())
}

fn decode_jpeg(path: &Path, bytes: &[u8], rows: Range<usize>, cols: Range<usize>) -> Result<Decoded> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    check_jpeg_end(path, bytes)?;
    let claim = |w: usize, h: usize, c: usize| {
        check_claim(path, bytes.len(), w, h, c).map_err(|e| match e {
            Error::Format { problem, .. } => problem,
            other => other.to_string(),
        })
    };
    match super::jpeg_file::read(bytes, &claim) {
        Ok(Read::Coefficients(coef)) => {
            let channels = if coef.components.len() == 1 { 1 } else { 3 };
            if let Ok(pixels) = coef.decode_part(rows, cols) {
                return Ok(Decoded { height: coef.height, width: coef.width, channels, pixels });
            }
        }
        Ok(Read::Unsupported(_)) => {}
        Err(problem) => return Err(Error::format(path, format!("cannot decode JPEG: {problem}"))),
    }
    let options =
        DecoderOptions::default().set_strict_mode(true).set_max_width(MAX_SIDE).set_max_height(MAX_SIDE);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let bad = |e: zune_jpeg::errors::DecodeErrors| Error::format(path, format!("cannot decode JPEG: {e}"));
    decoder.decode_headers().map_err(bad)?;
    let (width, height) =
        decoder.dimensions().ok_or_else(|| Error::format(path, "cannot decode JPEG: no frame header"))?;
    let gray = matches!(decoder.input_colorspace(), Some(ColorSpace::Luma | ColorSpace::LumaA));
    let (space, channels) = if gray { (ColorSpace::Luma, 1) } else { (ColorSpace::RGB, 3) };
    check_claim(path, bytes.len(), width, height, channels)?;
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(space));
    let pixels = decoder.decode().map_err(bad)?;
    if pixels.len() != width * height * channels {
        return Err(Error::format(
            path,
            format!("JPEG decoded to {} values, not {width}×{height}×{channels}", pixels.len()),
        ));
    }
    Ok(Decoded { height, width, channels, pixels })
}

fn decode_png(path: &Path, bytes: &[u8]) -> Result<Decoded> {
    let (height, width, _) = png_header(path, bytes)?;
    check_claim(path, bytes.len(), width, height, 3)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE as u32);
    limits.max_image_height = Some(MAX_SIDE as u32);
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Png);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| Error::format(path, format!("cannot decode PNG: {e}")))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    if img.color().has_color() {
        Ok(Decoded { height, width, channels: 3, pixels: img.into_rgb8().into_raw() })
    } else {
        Ok(Decoded { height, width, channels: 1, pixels: img.into_luma8().into_raw() })
    }
}
