//! The preview grid: one image under every corruption (rows) and severity (columns, after the clean image),
//! labelled with a built-in 5×7 pixel font, written as PNG.

use super::image::Image;
use super::{Corruption, Corruptor};
use crate::error::{Error, Result};
use crate::fsio;

/// 5×7 glyphs (bit 4 is the leftmost column) for `a`–`z`, `0`–`9`, `_`, `-` and space.
fn glyph(ch: char) -> [u8; 7] {
    match ch {
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        _ => [0; 7],
    }
}

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize, fill: u8) -> Self {
        Canvas { w, h, px: vec![fill; w * h * 3] }
    }

    fn text(&mut self, x0: usize, y0: usize, text: &str, scale: usize) {
        for (k, ch) in text.chars().enumerate() {
            let g = glyph(ch.to_ascii_lowercase());
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (x, y) = (x0 + (k * 6 + col) * scale + dx, y0 + row * scale + dy);
                            if x < self.w && y < self.h {
                                self.px[(y * self.w + x) * 3..][..3].copy_from_slice(&[20, 20, 20]);
                            }
                        }
                    }
                }
            }
        }
    }

    fn blit(&mut self, x0: usize, y0: usize, img: &Image, zoom: usize) {
        let bytes = img.to_u8();
        let c = img.channels;
        for y in 0..img.height * zoom {
            for x in 0..img.width * zoom {
                let s = ((y / zoom) * img.width + x / zoom) * c;
                let rgb = if c == 1 { [bytes[s]; 3] } else { [bytes[s], bytes[s + 1], bytes[s + 2]] };
                let (px, py) = (x0 + x, y0 + y);
                if px < self.w && py < self.h {
                    self.px[(py * self.w + px) * 3..][..3].copy_from_slice(&rgb);
                }
            }
        }
    }
}

/// Renders the grid: a header row (`clean`, then the severities), then one row per corruption with its name,
/// the clean image and the corrupted ones. When the rows use different severities (MNIST-C), the severity goes
/// into the row's label and the header says `corrupted`. Small images are enlarged by an integer factor (to
/// about 96 px). Returns `(width, height, RGB bytes)`.
pub fn render(
    clean: &Image,
    corruptor: &Corruptor,
    rows: &[(Corruption, Vec<u8>)],
    seed: u64,
    index: u64,
) -> Result<(usize, usize, Vec<u8>)> {
    let zoom = (96 / clean.height.max(clean.width)).max(1);
    let (cw, ch) = (clean.width * zoom, clean.height * zoom);
    let gap = 4;
    let scale = 2;
    let label_w = 21 * 6 * scale + gap;
    let header_h = 7 * scale + 2 * gap;
    let cols = 1 + rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let uniform = rows.windows(2).all(|w| w[0].1 == w[1].1);
    let (w, h) = (label_w + cols * (cw + gap), header_h + rows.len() * (ch + gap));
    let mut canvas = Canvas::new(w, h, 255);
    canvas.text(label_w, gap, "clean", scale);
    if uniform {
        for (j, s) in rows.first().map(|r| r.1.clone()).unwrap_or_default().iter().enumerate() {
            canvas.text(label_w + (j + 1) * (cw + gap), gap, &format!("s{s}"), scale);
        }
    } else {
        canvas.text(label_w + cw + gap, gap, "corrupted", scale);
    }
    for (k, (c, sevs)) in rows.iter().enumerate() {
        let y = header_h + k * (ch + gap);
        let label = if uniform {
            c.as_str().to_string()
        } else {
            let list: Vec<String> = sevs.iter().map(|s| format!("s{s}")).collect();
            format!("{} {}", c.as_str(), list.join(" "))
        };
        canvas.text(0, y + ch / 2 - 7 * scale / 2, &label, scale);
        canvas.blit(label_w, y, clean, zoom);
        for (j, &s) in sevs.iter().enumerate() {
            let out = corruptor.apply_seeded(*c, s, clean, seed, index)?;
            canvas.blit(label_w + (j + 1) * (cw + gap), y, &out, zoom);
        }
    }
    Ok((w, h, canvas.px))
}

/// Renders the grid and writes it as PNG (atomically).
pub fn write_png(
    path: &std::path::Path,
    clean: &Image,
    corruptor: &Corruptor,
    rows: &[(Corruption, Vec<u8>)],
    seed: u64,
    index: u64,
) -> Result<()> {
    use image::ImageEncoder;
    let (w, h, px) = render(clean, corruptor, rows, seed, index)?;
    let mut buf = Vec::new();
    image::codecs::png::PngEncoder::new(&mut buf)
        .write_image(&px, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::format(path, format!("cannot encode PNG: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsio::ensure_dir(dir)?;
    }
    fsio::write_atomic(path, &buf)
}
