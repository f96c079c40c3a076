//! Baseline JPEG files: written from quantised coefficients (here), and read back to them
//! (`jpeg_read.rs`, re-exported here).
//!
//! The writer emits a JFIF baseline file (SOF0, 8-bit tables, one interleaved scan, Huffman tables fitted to
//! the image as PIL's `optimize=True` does); any JPEG decoder reads it, and libjpeg-turbo (PIL) decodes it to
//! the same pixels as [`Coefficients::decode`], since the coefficients are those libjpeg would have
//! quantised. The reader takes the sequential Huffman files libjpeg writes by default (SOF0/SOF1, 8-bit
//! samples, all components in one scan, restart intervals allowed) and reports anything else as
//! [`Read::Unsupported`], so that the caller can fall back to a general decoder.

pub use super::jpeg_read::{Read, read};

use super::jpeg_codec::Coefficients;
use super::jpeg_huffman::{BitWriter, HuffTable, category};
use super::jpeg_tables::{BLOCK, ZIGZAG};

/// MCU geometry of an image: MCUs across and down, and the maximum sampling factors.
fn mcus(c: &Coefficients) -> (usize, usize, usize, usize) {
    let hmax = c.components.iter().map(|k| k.h).max().unwrap_or(1);
    let vmax = c.components.iter().map(|k| k.v).max().unwrap_or(1);
    (c.width.div_ceil(8 * hmax), c.height.div_ceil(8 * vmax), hmax, vmax)
}

/// The blocks of a scan in coding order, as `(component, block row, block column)`: raster order for one
/// component, MCU by MCU (each component's `h × v` blocks) for several. Positions past a component's blocks are
/// padding blocks of the MCU grid.
pub(super) fn scan_order(c: &Coefficients) -> Vec<(usize, usize, usize)> {
    if c.components.len() == 1 {
        let k = &c.components[0];
        let (bw, bh) = (c.width.div_ceil(8), c.height.div_ceil(8));
        debug_assert!(bw <= k.blocks_w && bh <= k.blocks_h);
        return (0..bh).flat_map(|r| (0..bw).map(move |col| (0, r, col))).collect();
    }
    let (mx, my, _, _) = mcus(c);
    let mut out = Vec::new();
    for r in 0..my {
        for col in 0..mx {
            for (ci, k) in c.components.iter().enumerate() {
                for v in 0..k.v {
                    for h in 0..k.h {
                        out.push((ci, r * k.v + v, col * k.h + h));
                    }
                }
            }
        }
    }
    out
}

/// One coded symbol, packed: the table (0 DC / 1 AC, then the component's table id) in bits 24–25, the symbol
/// in bits 16–23 and its extra bits in bits 0–15, zero above their number. The number of extra bits is the
/// symbol itself for a DC table and its low nibble for an AC table ([`extra_len`]); a baseline coefficient
/// needs at most 11 (15 for a DC difference), so they fit.
type Token = u32;

/// The symbol counts of the four tables (DC and AC of luma and chroma) of a list of tokens.
type Counts = [[u32; 256]; 4];

/// Appends the token of symbol `sym` of table `table` whose value `v` has magnitude category `s`, and counts the
/// symbol: the extra bits are `v` for `v ≥ 0` and `v − 1` otherwise, both kept to their low `s` bits (T.81
/// F.1.2.1–2).
#[inline(always)]
fn push(out: &mut Vec<Token>, counts: &mut Counts, table: usize, sym: u8, v: i32, s: u8) {
    let extra = (if v < 0 { v - 1 } else { v }) as u32 & ((1u32 << s) - 1);
    out.push(((table as u32) << 24) | (u32::from(sym) << 16) | extra);
    counts[table][usize::from(sym)] += 1;
}

/// The number of extra bits that follow symbol `sym` of table `table` (T.81 F.1.2.1–2).
fn extra_len(table: usize, sym: u8) -> u8 {
    if table.is_multiple_of(2) { sym } else { sym & 0x0F }
}

/// `ZIGZAG_BITS[r][m]`: for the nonzero pattern `m` of row `r` of a block (bit `j` for column `j`), the same
/// coefficients as bits at their zig-zag positions. Eight lookups turn a block's natural-order nonzero mask
/// into its zig-zag-order mask.
static ZIGZAG_BITS: [[u64; 256]; 8] = zigzag_bits();

const fn zigzag_bits() -> [[u64; 256]; 8] {
    let mut position = [0usize; 64];
    let mut k = 0;
    while k < 64 {
        position[ZIGZAG[k]] = k;
        k += 1;
    }
    let mut table = [[0u64; 256]; 8];
    let mut r = 0;
    while r < 8 {
        let mut m = 0;
        while m < 256 {
            let mut j = 0;
            while j < 8 {
                if (m >> j) & 1 == 1 {
                    table[r][m] |= 1 << position[r * 8 + j];
                }
                j += 1;
            }
            m += 1;
        }
        r += 1;
    }
    table
}

/// The AVX2 token when the work runs with AVX2 (x86-64 only).
#[cfg(target_arch = "x86_64")]
type Simd = Option<pulp::x86::V3>;
#[cfg(not(target_arch = "x86_64"))]
type Simd = Option<()>;

/// The nonzero coefficients of a block as a mask: bit `j` for natural-order index `j`.
#[inline(always)]
fn nonzero(b: &[i16; BLOCK], v3: Simd) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = v3 {
        use core::arch::x86_64::__m256i;
        let a = s.avx2;
        let zero = s.avx._mm256_setzero_si256();
        let mut mask = 0u64;
        for (h, half) in b.chunks_exact(32).enumerate() {
            let lo: [i16; 16] = half[..16].try_into().expect("16 coefficients");
            let hi: [i16; 16] = half[16..].try_into().expect("16 coefficients");
            let (lo, hi) = (pulp::cast::<_, __m256i>(lo), pulp::cast::<_, __m256i>(hi));
            // Bytes 0 or −1 per coefficient: packs interleaves 64-bit quarters (lo 0‥7, hi 0‥7, lo 8‥15,
            // hi 8‥15), which the permutation puts back in order.
            let packed = a._mm256_packs_epi16(a._mm256_cmpeq_epi16(lo, zero), a._mm256_cmpeq_epi16(hi, zero));
            let ordered = a._mm256_permute4x64_epi64::<0b11_01_10_00>(packed);
            let zeros = a._mm256_movemask_epi8(ordered) as u32;
            mask |= u64::from(!zeros) << (32 * h);
        }
        return mask;
    }
    let _ = v3;
    b.iter().enumerate().fold(0, |m, (j, &v)| m | (u64::from(v != 0) << j))
}

/// The symbols of every block (T.81 F.1.2): DC differences by category, AC run/size pairs with ZRL and EOB.
/// Padding blocks repeat the previous DC of their component, with no AC. The AC coefficients are visited
/// through a 63-bit mask of the nonzero ones in zigzag order, so runs of zeros cost one `trailing_zeros`.
fn tokens(c: &Coefficients) -> (Vec<Token>, Box<Counts>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = super::wide::v3() {
        return s.vectorize(Tokens { c, v3: Some(s) });
    }
    pulp::NullaryFnOnce::call(Tokens { c, v3: None })
}

/// [`tokens`]' work, a type rather than a closure so that it is compiled inside the AVX2 function.
struct Tokens<'a> {
    c: &'a Coefficients,
    v3: Simd,
}

impl pulp::NullaryFnOnce for Tokens<'_> {
    type Output = (Vec<Token>, Box<Counts>);

    #[inline(always)]
    fn call(self) -> (Vec<Token>, Box<Counts>) {
        let c = self.c;
        let mut out = Vec::with_capacity(c.components.iter().map(|k| k.blocks.len() * 8).sum());
        let mut counts = Box::new([[0u32; 256]; 4]);
        let mut pred = vec![0i32; c.components.len()];
        for (ci, r, col) in scan_order(c) {
            let k = &c.components[ci];
            let t = usize::from(ci > 0);
            let block = (r < k.blocks_h && col < k.blocks_w).then(|| &k.blocks[r * k.blocks_w + col]);
            let dc = block.map_or(pred[ci], |b| i32::from(b[0]));
            let diff = dc - pred[ci];
            pred[ci] = dc;
            let s = category(diff);
            push(&mut out, &mut counts, 2 * t, s, diff, s);
            let Some(b) = block else {
                push(&mut out, &mut counts, 2 * t + 1, 0x00, 0, 0);
                continue;
            };
            let natural = nonzero(b, self.v3);
            let mut mask = 0u64;
            for (r, row) in ZIGZAG_BITS.iter().enumerate() {
                mask |= row[((natural >> (8 * r)) & 0xFF) as usize];
            }
            mask &= !1;
            let mut next = 1u32;
            while mask != 0 {
                let i = mask.trailing_zeros();
                mask &= mask - 1;
                let mut run = i - next;
                while run >= 16 {
                    push(&mut out, &mut counts, 2 * t + 1, 0xF0, 0, 0);
                    run -= 16;
                }
                let v = i32::from(b[ZIGZAG[i as usize]]);
                let s = category(v);
                let sym = ((run as u8) << 4) | s;
                push(&mut out, &mut counts, 2 * t + 1, sym, v, s);
                next = i + 1;
            }
            if next < 64 {
                push(&mut out, &mut counts, 2 * t + 1, 0x00, 0, 0);
            }
        }
        (out, counts)
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend([0xFF, marker]);
    out.extend(((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// Writes `c` as a baseline JFIF file. Components are numbered 1, 2, 3; luma uses quantisation and Huffman
/// tables 0, chroma tables 1. Both sides must be 1…65535 and every quantisation entry at most 255.
pub fn write(c: &Coefficients) -> Vec<u8> {
    debug_assert!((1..=65535).contains(&c.width) && (1..=65535).contains(&c.height));
    let mut out = vec![0xFF, 0xD8];
    segment(&mut out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    let tables = if c.components.len() == 1 { 1 } else { 2 };
    for (id, k) in c.components.iter().take(tables).enumerate() {
        let mut body = vec![id as u8];
        body.extend(ZIGZAG.iter().map(|&z| k.table[z] as u8));
        segment(&mut out, 0xDB, &body);
    }
    let mut sof = vec![8];
    sof.extend((c.height as u16).to_be_bytes());
    sof.extend((c.width as u16).to_be_bytes());
    sof.push(c.components.len() as u8);
    for (i, k) in c.components.iter().enumerate() {
        sof.extend([i as u8 + 1, ((k.h as u8) << 4) | k.v as u8, u8::from(i > 0)]);
    }
    segment(&mut out, 0xC0, &sof);
    let (toks, counts) = tokens(c);
    // Per table and symbol: the code shifted past its extra bits, and the length of both together.
    let mut codes = Box::new([[(0u32, 0u8); 256]; 4]);
    for (t, cnt) in counts.iter().enumerate().take(2 * tables) {
        let table = HuffTable::fitted(cnt);
        let mut body = vec![(((t % 2) as u8) << 4) | (t / 2) as u8];
        body.extend(table.bits);
        body.extend(&table.vals);
        segment(&mut out, 0xC4, &body);
        for (&v, (code, size)) in table.vals.iter().zip(table.codes()) {
            let len = extra_len(t, v);
            codes[t][usize::from(v)] = (u32::from(code) << len, size + len);
        }
    }
    let mut sos = vec![c.components.len() as u8];
    for i in 0..c.components.len() {
        let t = u8::from(i > 0);
        sos.extend([i as u8 + 1, (t << 4) | t]);
    }
    sos.extend([0, 63, 0]);
    segment(&mut out, 0xDA, &sos);
    let mut w = BitWriter::default();
    w.out.reserve(toks.len() * 2);
    for tok in toks {
        let (code, len) = codes[(tok >> 24) as usize & 3][((tok >> 16) & 0xFF) as usize];
        // A code is at most 16 bits and its extra bits at most 15: one put of up to 31 bits.
        w.put(code | (tok & 0xFFFF), len);
    }
    out.extend(w.finish());
    out.extend([0xFF, 0xD9]);
    out
}
