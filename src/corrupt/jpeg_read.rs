//! Reading the coefficients of a JPEG file: the sequential Huffman files libjpeg writes by default (SOF0/SOF1,
//! 8-bit samples, gray or YCbCr with luma sampled 1×1, 2×1 or 2×2, all components in one scan, restart
//! intervals allowed). Anything else valid is reported as [`Read::Unsupported`] before any block is allocated,
//! so that the caller can fall back to a general decoder; damaged data (a scan that runs out, an invalid code,
//! a segment past the end of the file) is an error.

use super::jpeg_codec::{Coefficients, Component};
use super::jpeg_huffman::HuffTable;
use super::jpeg_scan::{BitReader, BlockError, Decoder, ScanError};
use super::jpeg_tables::{BLOCK, ZIGZAG};

/// What reading a file gave.
#[derive(Debug)]
pub enum Read {
    /// The coefficients of a file this reader takes.
    Coefficients(Coefficients),
    /// A valid kind of JPEG this reader does not take (named), for a general decoder.
    Unsupported(String),
}

/// Reads the coefficients of a JPEG file. `claim(width, height, channels)` may refuse the size the frame header
/// declares before anything is allocated. Errors are messages about the file (the caller names it).
pub fn read(bytes: &[u8], claim: &dyn Fn(usize, usize, usize) -> Result<(), String>) -> Result<Read, String> {
    let mut p = Parser::default();
    let mut pos = 2;
    loop {
        let (marker, body, next) = next_segment(bytes, pos)?;
        match marker {
            0xC0 | 0xC1 => {
                if let Some(why) = p.frame(body, claim)? {
                    return Ok(Read::Unsupported(why));
                }
            }
            m if is_sof(m) => {
                return Ok(Read::Unsupported(format!("SOF{} (not sequential Huffman)", m - 0xC0)));
            }
            0xC4 => p.huffman(body)?,
            0xDB => p.quant(body)?,
            0xDD => p.restart = usize::from(u16::from_be_bytes(get(body, 0, 2)?.try_into().unwrap())),
            0xEE if body.starts_with(b"Adobe") && body.get(11) == Some(&0) => p.adobe_rgb = true,
            0xDA => {
                if p.scanned {
                    return Ok(Read::Unsupported("more than one scan".into()));
                }
                match p.scan(bytes, body, next)? {
                    Ok(end) => pos = end,
                    Err(why) => return Ok(Read::Unsupported(why)),
                }
                p.scanned = true;
                continue;
            }
            0xD9 => break,
            _ => {}
        }
        pos = next;
    }
    let frame = p.frame.ok_or("no frame header (SOF) before the end of the image")?;
    if !p.scanned {
        return Err("no scan (SOS) before the end of the image".into());
    }
    Ok(Read::Coefficients(frame))
}

/// The size and channels (1 for one component, 3 otherwise) the first frame header (any SOF) of a JPEG file
/// declares, without reading any scan: for listing a folder before decoding it. Errors are messages about the
/// file (the caller names it).
pub fn frame_size(bytes: &[u8]) -> Result<(usize, usize, usize), String> {
    let mut pos = 2;
    loop {
        let (marker, body, next) = next_segment(bytes, pos)?;
        match marker {
            m if is_sof(m) => {
                let (_, height, width, n) = sof_fields(body)?;
                return Ok((height, width, if n == 1 { 1 } else { 3 }));
            }
            0xD9 | 0xDA => return Err("no frame header (SOF) before the scan or the end of the image".into()),
            _ => pos = next,
        }
    }
}

/// Whether `marker` starts a frame header: SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// The first fields of a frame header (any SOF): sample precision, height, width and number of components.
fn sof_fields(body: &[u8]) -> Result<(u8, usize, usize, usize), String> {
    let h = get(body, 0, 6)?;
    Ok((
        h[0],
        usize::from(u16::from_be_bytes([h[1], h[2]])),
        usize::from(u16::from_be_bytes([h[3], h[4]])),
        usize::from(h[5]),
    ))
}

fn get(body: &[u8], at: usize, len: usize) -> Result<&[u8], String> {
    body.get(at..at + len).ok_or_else(|| "a marker segment is shorter than its contents".to_string())
}

/// The marker at `pos` (fill bytes 0xFF skipped), its segment body (empty for markers without one) and the
/// position after it.
fn next_segment(bytes: &[u8], mut pos: usize) -> Result<(u8, &[u8], usize), String> {
    if bytes.get(pos) != Some(&0xFF) {
        return Err(format!("expected a marker at byte {pos}"));
    }
    while bytes.get(pos) == Some(&0xFF) {
        pos += 1;
    }
    let marker = *bytes.get(pos).ok_or("the file ends inside a marker")?;
    pos += 1;
    if matches!(marker, 0xD0..=0xD9 | 0x01) {
        return Ok((marker, &[], pos));
    }
    let len = usize::from(u16::from_be_bytes(
        bytes.get(pos..pos + 2).ok_or("the file ends inside a segment length")?.try_into().unwrap(),
    ));
    let body =
        bytes.get(pos + 2..pos + len).filter(|_| len >= 2).ok_or("a marker segment runs past the file")?;
    Ok((marker, body, pos + len))
}

#[derive(Default)]
struct Parser {
    frame: Option<Coefficients>,
    ids: Vec<u8>,
    tq: Vec<usize>,
    quant: [Option<[u16; BLOCK]>; 4],
    dc: [Option<Decoder>; 4],
    ac: [Option<Decoder>; 4],
    restart: usize,
    adobe_rgb: bool,
    scanned: bool,
}

impl Parser {
    /// Reads the frame header and allocates the blocks; `Ok(Some(why))` for a kind of frame this reader does not
    /// take (found before anything is allocated).
    fn frame(
        &mut self,
        b: &[u8],
        claim: &dyn Fn(usize, usize, usize) -> Result<(), String>,
    ) -> Result<Option<String>, String> {
        if self.frame.is_some() {
            return Err("two frame headers".into());
        }
        let (precision, height, width, n) = sof_fields(b)?;
        if precision != 8 {
            return Err(format!("{precision}-bit samples (8-bit JPEGs are read)"));
        }
        if height == 0 {
            return Err("a frame height of 0 (defined later by a DNL marker) is not supported".into());
        }
        claim(width, height, if n == 1 { 1 } else { 3 })?;
        let mut components = Vec::new();
        for i in 0..n {
            let c = get(b, 6 + 3 * i, 3)?;
            let (hs, vs) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            if !(1..=4).contains(&hs) || !(1..=4).contains(&vs) || c[2] > 3 {
                return Err(format!("component {} has sampling {hs}x{vs} or table {}", c[0], c[2]));
            }
            self.ids.push(c[0]);
            self.tq.push(usize::from(c[2]));
            components.push(Component {
                h: hs,
                v: vs,
                table: [0; BLOCK],
                blocks_w: 0,
                blocks_h: 0,
                blocks: vec![],
            });
        }
        let sampling: Vec<(usize, usize)> = components.iter().map(|k| (k.h, k.v)).collect();
        let supported = match n {
            1 => true,
            3 => sampling[1..] == [(1, 1), (1, 1)] && matches!(sampling[0], (1, 1) | (2, 1) | (2, 2)),
            _ => false,
        };
        if !supported {
            return Ok(Some(format!("{n} components with sampling {sampling:?}")));
        }
        let hmax = components.iter().map(|k| k.h).max().unwrap_or(1);
        let vmax = components.iter().map(|k| k.v).max().unwrap_or(1);
        let (mx, my) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
        for k in &mut components {
            // Storage for the whole MCU grid (a one-component scan uses only the part the image covers).
            (k.blocks_w, k.blocks_h) = (mx * k.h, my * k.v);
            k.blocks = vec![[0; BLOCK]; k.blocks_w * k.blocks_h];
        }
        self.frame = Some(Coefficients { width, height, components });
        Ok(None)
    }

    fn quant(&mut self, mut b: &[u8]) -> Result<(), String> {
        while !b.is_empty() {
            let (pq, tq) = (b[0] >> 4, usize::from(b[0] & 15));
            let wide = pq == 1;
            let len = if wide { 128 } else { 64 };
            let v = get(b, 1, len)?;
            if pq > 1 || tq > 3 {
                return Err(format!("quantisation table with precision {pq} or id {tq}"));
            }
            let mut t = [0u16; BLOCK];
            for (k, &z) in ZIGZAG.iter().enumerate() {
                t[z] = if wide { u16::from_be_bytes([v[2 * k], v[2 * k + 1]]) } else { u16::from(v[k]) };
            }
            self.quant[tq] = Some(t);
            b = &b[1 + len..];
        }
        Ok(())
    }

    fn huffman(&mut self, mut b: &[u8]) -> Result<(), String> {
        while !b.is_empty() {
            let (class, id) = (b[0] >> 4, usize::from(b[0] & 15));
            let bits: [u8; 16] = get(b, 1, 16)?.try_into().unwrap();
            let n: usize = bits.iter().map(|&x| usize::from(x)).sum();
            let table = HuffTable { bits, vals: get(b, 17, n)?.to_vec() };
            if class > 1 || id > 3 || !table.is_valid() {
                return Err(format!("invalid Huffman table (class {class}, id {id})"));
            }
            let slot = if class == 0 { &mut self.dc[id] } else { &mut self.ac[id] };
            *slot = Some(Decoder::new(&table));
            b = &b[17 + n..];
        }
        Ok(())
    }

    /// Decodes the scan whose header is `b` and whose data starts at `start`: `Ok(Ok(end))` with the position
    /// after its data, `Ok(Err(why))` for a kind of scan this reader does not take, `Err` for damaged data.
    fn scan(&mut self, bytes: &[u8], b: &[u8], start: usize) -> Result<Result<usize, String>, String> {
        let frame = self.frame.as_mut().ok_or("a scan before the frame header")?;
        let n = frame.components.len();
        let ns = usize::from(*get(b, 0, 1)?.first().unwrap_or(&0));
        let spec = get(b, 1 + 2 * ns, 3)?;
        if spec != [0, 63, 0] {
            return Err(format!("a sequential scan with spectral/approximation parameters {spec:?}"));
        }
        if ns != n {
            return Ok(Err(format!("{ns} of {n} components in a scan (components in separate scans)")));
        }
        if n == 3 && (self.adobe_rgb || self.ids == [b'R', b'G', b'B']) {
            return Ok(Err("RGB-coded (not YCbCr) colour".into()));
        }
        let mut tables = Vec::new();
        for i in 0..ns {
            let c = get(b, 1 + 2 * i, 2)?;
            if c[0] != self.ids[i] {
                return Err(format!("scan component {} is not frame component {}", c[0], self.ids[i]));
            }
            let (td, ta) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            let dc = self
                .dc
                .get(td)
                .and_then(|t| t.as_ref())
                .ok_or(format!("DC Huffman table {td} not defined"))?;
            let ac = self
                .ac
                .get(ta)
                .and_then(|t| t.as_ref())
                .ok_or(format!("AC Huffman table {ta} not defined"))?;
            let q = self.quant[self.tq[i]].ok_or(format!("quantisation table {} not defined", self.tq[i]))?;
            frame.components[i].table = q;
            tables.push((dc, ac));
        }
        // The MCUs in coding order: one block each in raster order for one component, else each component's
        // `h × v` blocks (T.81 A.2); the grid is that of `scan_order`, walked without listing it.
        let (mcus_w, mcus_h) = if n == 1 {
            (frame.width.div_ceil(8), frame.height.div_ceil(8))
        } else {
            let hmax = frame.components.iter().map(|k| k.h).max().unwrap_or(1);
            let vmax = frame.components.iter().map(|k| k.v).max().unwrap_or(1);
            (frame.width.div_ceil(8 * hmax), frame.height.div_ceil(8 * vmax))
        };
        let mut r = BitReader::new(bytes, start);
        let mut pred = [0i32; 4];
        let bad = |e: BlockError| match e {
            BlockError::Scan(ScanError::Truncated) => {
                "the scan data ends early (truncated, or a marker inside it)".to_string()
            }
            BlockError::Scan(ScanError::BadCode) => "the scan data holds an invalid Huffman code".to_string(),
            BlockError::DcCategory(s) => format!("DC difference category {s}"),
            BlockError::AcPastEnd => "an AC coefficient past the end of its block".to_string(),
        };
        let mut m = 0;
        for row in 0..mcus_h {
            for col in 0..mcus_w {
                if self.restart > 0 && m > 0 && m % self.restart == 0 {
                    r.reset();
                    let want = 0xD0 + ((m / self.restart - 1) % 8) as u8;
                    if bytes.get(r.pos..r.pos + 2) != Some(&[0xFF, want]) {
                        return Err(format!("restart marker RST{} missing at byte {}", want - 0xD0, r.pos));
                    }
                    r.pos += 2;
                    pred = [0; 4];
                }
                m += 1;
                for (ci, k) in frame.components.iter_mut().enumerate() {
                    let (dc, ac) = tables[ci];
                    let (kv, kh) = if n == 1 { (1, 1) } else { (k.v, k.h) };
                    for v in 0..kv {
                        for h in 0..kh {
                            let at = (row * kv + v) * k.blocks_w + col * kh + h;
                            r.block(dc, ac, &mut pred[ci], &mut k.blocks[at]).map_err(bad)?;
                        }
                    }
                }
            }
        }
        r.reset();
        Ok(Ok(r.pos))
    }
}
