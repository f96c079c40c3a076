//! Reading baseline entropy-coded data (ITU-T T.81 F.2.2, decoding tables of Figure F.16): the bit reader that
//! undoes byte stuffing and stops at the first marker, the Huffman decoders, and the decoding of one block's
//! DC difference and AC coefficients.
//!
//! Speed without changing a result. The reader keeps up to 64 bits in a register. It takes bytes in the order
//! and at the moments the byte-by-byte definition would (a refill takes bytes while at most 56 bits are held),
//! but eight at a time when none of the next eight bytes is 0xFF (a marker or a stuffed 0xFF 0x00 needs the
//! byte-by-byte path). Before a block's DC difference and before each AC coefficient the reader tops up to more
//! than [`FAST_BITS`] bits where the data allows (a code of at most 16 bits and at most 16 extra bits), so the
//! common case makes no check per bit, and a lookup is used only when the bits it reads are held. The refills
//! happen at these moments and no others: where the reader stands when a restart marker or the end of the scan is
//! checked (stray bytes before a marker are loaded or not) depends on them, so they are part of what a damaged
//! file gives. Codes of up to [`LOOKUP_BITS`] bits take one table lookup; longer codes, and the last bits before
//! a marker, take the bit-by-bit path of Figure F.16. Every path reads the same bits as that definition: a valid
//! scan gives the same coefficients, and a damaged one the same error kinds.

use super::jpeg_huffman::HuffTable;
use super::jpeg_tables::{BLOCK, ZIGZAG};

/// Bits looked up at once when decoding: codes this short (most of them) take one table lookup, and so do AC
/// coefficients whose code and extra bits together are this short (11 rather than 9 bits: input decoding of
/// the 224-px photographs 312 → 286 µs per image, `cargo run --release --example cli_parts`).
const LOOKUP_BITS: u32 = 11;

/// Bits below which the reader refills before a block's DC difference and before each AC coefficient: a code
/// (at most 16 bits) and its extra bits (at most 16).
const FAST_BITS: u32 = 32;

/// A decoding table (T.81 Figure F.16): the largest code of each length and where its symbols start, and a
/// lookup of `(length, symbol)` by the next [`LOOKUP_BITS`] bits for the codes that short (length 0: longer).
/// For AC tables, `ac` looks up whole coefficients: when a code and its extra bits (the symbol's low nibble
/// says how many) fit in the next [`LOOKUP_BITS`] bits, the entry holds the bits used (bits 0–7, 0 when they
/// do not fit), the symbol (bits 8–15) and the extended value (bits 16–31, as `i16`).
#[derive(Clone, Debug)]
pub struct Decoder {
    maxcode: [i32; 17],
    offset: [i32; 17],
    vals: Vec<u8>,
    lookup: Box<[(u8, u8); 1 << LOOKUP_BITS]>,
    ac: Box<[u32; 1 << LOOKUP_BITS]>,
}

impl Decoder {
    /// Builds the decoder of a table.
    pub fn new(t: &HuffTable) -> Decoder {
        let (mut maxcode, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0i32);
        for l in 1..=16 {
            let n = i32::from(t.bits[l - 1]);
            if n > 0 {
                offset[l] = k - code;
                code += n;
                k += n;
                maxcode[l] = code - 1;
            }
            code <<= 1;
        }
        let mut lookup = Box::new([(0u8, 0u8); 1 << LOOKUP_BITS]);
        let mut ac = Box::new([0u32; 1 << LOOKUP_BITS]);
        for (&sym, (code, len)) in t.vals.iter().zip(t.codes()) {
            let len32 = u32::from(len);
            if len32 <= LOOKUP_BITS {
                let first = usize::from(code) << (LOOKUP_BITS - len32);
                let last = first + (1 << (LOOKUP_BITS - len32));
                lookup[first..last].fill((len, sym));
                let size = u32::from(sym & 15);
                if len32 + size <= LOOKUP_BITS {
                    for (i, e) in ac[first..last].iter_mut().enumerate() {
                        let extra = (i >> (LOOKUP_BITS - len32 - size)) as i32 & ((1 << size) - 1);
                        let value = if size > 0 { extend(extra, size) } else { 0 };
                        *e = (len32 + size) | (u32::from(sym) << 8) | (u32::from(value as i16 as u16) << 16);
                    }
                }
            }
        }
        Decoder { maxcode, offset, vals: t.vals.clone(), lookup, ac }
    }
}

/// Why entropy-coded data could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The data ran into a marker (or the end of the file) before the scan was complete.
    Truncated,
    /// A bit pattern that is no code of the table.
    BadCode,
}

/// Why a block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The bits could not be read.
    Scan(ScanError),
    /// A DC difference category above 11 (more than an 8-bit baseline difference needs).
    DcCategory(u8),
    /// An AC coefficient past the 64th, or with more than 10 bits.
    AcPastEnd,
}

impl From<ScanError> for BlockError {
    fn from(e: ScanError) -> BlockError {
        BlockError::Scan(e)
    }
}

/// Whether one of the eight bytes of `w` is 0xFF (a zero byte of `!w`; the test has no false positives).
#[inline(always)]
fn has_ff(w: u64) -> bool {
    let v = !w;
    v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080 != 0
}

/// `EXTEND` (T.81 F.2.2.1) of a `len`-bit magnitude, `len` ≥ 1, without a branch: values below `2^(len−1)`
/// are negative.
#[inline(always)]
fn extend(v: i32, len: u32) -> i32 {
    v - (((v - (1 << (len - 1))) >> 31) & ((1 << len) - 1))
}

/// Reads bits of one entropy-coded segment, undoing byte stuffing; stops at the first marker.
#[derive(Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next byte to read.
    pub pos: usize,
    /// The `n` bits held, at the top in reading order, zeros below them.
    acc: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    /// Reads from `data[pos..]`.
    pub fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader { data, pos, acc: 0, n: 0 }
    }

    /// Consumes the next `len` bits (0…32, at most the `n` held) and returns them as an unsigned number: the
    /// bits held sit at the top of `acc`, in reading order, with zeros below them.
    #[inline(always)]
    fn take(&mut self, len: u32) -> u64 {
        debug_assert!(len <= 32 && len <= self.n);
        let v = (self.acc >> 1) >> (63 - len);
        self.acc <<= len;
        self.n -= len;
        v
    }

    /// Takes bytes while at most 56 bits are held, up to the first marker or the end of the data: eight bytes
    /// in one load when none of them is 0xFF, byte by byte otherwise. `Err` when nothing is held at a marker.
    #[inline]
    fn fill(&mut self) -> Result<(), ScanError> {
        if self.n <= 56 && self.fill_eight() {
            return Ok(());
        }
        self.fill_bytes()
    }

    /// The eight-byte case of [`BitReader::fill`] (at most 56 bits held): when none of the next eight bytes is
    /// 0xFF, takes the k bytes the byte-by-byte loop would take (until more than 56 bits are held), placed just
    /// below the bits held, and returns `true`; otherwise takes nothing.
    #[inline(always)]
    fn fill_eight(&mut self) -> bool {
        debug_assert!(self.n <= 56);
        if let Some(b) = self.data.get(self.pos..self.pos + 8) {
            let w = u64::from_be_bytes(b.try_into().expect("eight bytes"));
            if !has_ff(w) {
                let k = (64 - self.n) / 8;
                self.acc |= if k == 8 { w } else { (w >> (64 - 8 * k)) << (64 - self.n - 8 * k) };
                self.n += 8 * k;
                self.pos += k as usize;
                return true;
            }
        }
        false
    }

    fn fill_bytes(&mut self) -> Result<(), ScanError> {
        while self.n <= 56 {
            match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.acc |= 0xFF << (56 - self.n);
                    self.pos += 2;
                }
                Some(0xFF) | None => {
                    return if self.n > 0 { Ok(()) } else { Err(ScanError::Truncated) };
                }
                Some(&b) => {
                    self.acc |= u64::from(b) << (56 - self.n);
                    self.pos += 1;
                }
            }
            self.n += 8;
        }
        Ok(())
    }

    /// The next `len` bits (0…16) as an unsigned number.
    #[inline]
    pub fn bits(&mut self, len: u8) -> Result<u32, ScanError> {
        let len = u32::from(len);
        if self.n < len {
            self.fill()?;
            if self.n < len {
                return Err(ScanError::Truncated);
            }
        }
        Ok(self.take(len) as u32)
    }

    /// The next Huffman-coded symbol.
    #[inline]
    pub fn symbol(&mut self, d: &Decoder) -> Result<u8, ScanError> {
        if self.n < LOOKUP_BITS {
            // Near a marker fewer bits may be left: the bit-by-bit path below reports a real shortage.
            let _ = self.fill();
        }
        if self.n >= LOOKUP_BITS {
            let (len, sym) = d.lookup[(self.acc >> (64 - LOOKUP_BITS)) as usize];
            if len > 0 {
                self.take(u32::from(len));
                return Ok(sym);
            }
        }
        self.symbol_bitwise(d)
    }

    /// A symbol read bit by bit (Figure F.16's `DECODE`).
    #[cold]
    fn symbol_bitwise(&mut self, d: &Decoder) -> Result<u8, ScanError> {
        let mut code = self.bits(1)? as i32;
        for l in 1..=16 {
            if code <= d.maxcode[l] {
                let at = usize::try_from(code + d.offset[l]).map_err(|_| ScanError::BadCode)?;
                return d.vals.get(at).copied().ok_or(ScanError::BadCode);
            }
            if l < 16 {
                code = (code << 1) | self.bits(1)? as i32;
            }
        }
        Err(ScanError::BadCode)
    }

    /// A `len`-bit magnitude extended to its signed value (T.81 F.2.2.1, `EXTEND`).
    #[inline]
    pub fn signed(&mut self, len: u8) -> Result<i32, ScanError> {
        let v = self.bits(len)? as i32;
        Ok(if len > 0 { extend(v, u32::from(len)) } else { 0 })
    }

    /// Runs `f` on a copy of the reader and takes the copy's state back. The block loop calls its out-of-line
    /// paths (the bit-by-bit decoding, the byte-by-byte refill) through this, so that the reader itself never
    /// has its address taken and its fields can stay in registers through the loop.
    #[inline(always)]
    fn detour<T>(&mut self, f: impl FnOnce(&mut BitReader<'a>) -> T) -> T {
        let mut copy = BitReader { data: self.data, pos: self.pos, acc: self.acc, n: self.n };
        let v = f(&mut copy);
        (self.pos, self.acc, self.n) = (copy.pos, copy.acc, copy.n);
        v
    }

    /// [`BitReader::fill`] (called with fewer than [`FAST_BITS`] bits held) with its eight-byte case inline and
    /// the byte-by-byte case through [`BitReader::detour`]; it takes the same bytes.
    #[inline(always)]
    fn fill_inline(&mut self) {
        if !self.fill_eight() {
            let _ = self.detour(|r| r.fill_bytes());
        }
    }

    /// Decodes one block (T.81 F.2.2): the DC difference, added to `pred` (the component's previous DC), and
    /// the AC coefficients, written in natural order into `block`, whose other entries must be zero.
    #[inline(always)]
    pub fn block(
        &mut self,
        dc: &Decoder,
        ac: &Decoder,
        pred: &mut i32,
        block: &mut [i16; BLOCK],
    ) -> Result<(), BlockError> {
        if self.n < FAST_BITS {
            self.fill_inline();
        }
        // The DC category by one lookup when its code is short and held, else bit by bit; then its extra bits.
        let (len, s) = dc.lookup[(self.acc >> (64 - LOOKUP_BITS)) as usize];
        let s = if len > 0 && u32::from(len) <= self.n {
            self.take(u32::from(len));
            s
        } else {
            self.detour(|r| r.symbol(dc))?
        };
        if s > 11 {
            return Err(BlockError::DcCategory(s));
        }
        let diff = if u32::from(s) <= self.n {
            let v = self.take(u32::from(s)) as i32;
            if s > 0 { extend(v, u32::from(s)) } else { 0 }
        } else {
            self.detour(|r| r.signed(s))?
        };
        *pred = pred.wrapping_add(diff);
        block[0] = *pred as i16;
        let mut z = 1;
        while z < BLOCK {
            if self.n < FAST_BITS {
                self.fill_inline();
            }
            // A whole coefficient in one lookup when its code and extra bits are short and held, else the
            // symbol first.
            let e = ac.ac[(self.acc >> (64 - LOOKUP_BITS)) as usize];
            let used = e & 0xFF;
            let (rs, value) = if used != 0 && used <= self.n {
                self.take(used);
                ((e >> 8) as u8, Some((e >> 16) as u16 as i16))
            } else {
                (self.detour(|r| r.symbol(ac))?, None)
            };
            let (run, size) = (usize::from(rs >> 4), rs & 15);
            if size == 0 {
                if run != 15 {
                    break;
                }
                z += 16;
                continue;
            }
            z += run;
            if z >= BLOCK || size > 10 {
                return Err(BlockError::AcPastEnd);
            }
            let v = match value {
                Some(v) => v,
                None => {
                    let size32 = u32::from(size);
                    if self.n >= size32 {
                        extend(self.take(size32) as i32, size32) as i16
                    } else {
                        self.detour(|r| r.signed(size))? as i16
                    }
                }
            };
            block[ZIGZAG[z]] = v;
            z += 1;
        }
        Ok(())
    }

    /// Drops the bits left in the current byte (the padding before a restart marker); the reader then stands
    /// on the marker.
    pub fn reset(&mut self) {
        self.n = 0;
        self.acc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::jpeg_huffman::BitWriter;

    #[test]
    fn the_ff_test_finds_exactly_the_ff_bytes() {
        use rand::{RngCore, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(99);
        for _ in 0..100_000 {
            let s = r.next_u64();
            // Bytes biased towards 0xFE, 0xFF and 0x00.
            let w = u64::from_le_bytes(std::array::from_fn(|i| match (s >> (8 * i)) & 7 {
                0 => 0xFF,
                1 => 0xFE,
                2 => 0,
                _ => (s >> (8 * i + 3)) as u8,
            }));
            assert_eq!(has_ff(w), w.to_le_bytes().contains(&0xFF), "{w:016x}");
        }
    }

    #[test]
    fn extension_matches_the_definition() {
        for len in 1..=16u32 {
            for v in 0..1i32 << len {
                let want = if v < 1 << (len - 1) { v - (1 << len) + 1 } else { v };
                assert_eq!(extend(v, len), want);
            }
        }
    }

    #[test]
    fn stuffed_bytes_and_markers_read_as_the_byte_by_byte_definition() {
        // Random bits with 0xFF bytes (stuffed) at random places, ending at a marker: reading any sequence of
        // widths gives the bits written, and the reader then stands on the marker.
        let mut next = crate::corrupt::test_stream(5);
        for _ in 0..200 {
            let mut w = BitWriter::default();
            let mut fields = Vec::new();
            for _ in 0..(next() % 300) {
                let len = (next() % 17) as u8;
                let v = if next().is_multiple_of(4) {
                    (1u32 << len) - 1
                } else {
                    next() as u32 & ((1 << len) - 1)
                };
                w.put(v, len);
                fields.push((v, len));
            }
            let mut bytes = w.finish();
            let end = bytes.len();
            bytes.extend([0xFF, 0xD9]);
            let mut r = BitReader::new(&bytes, 0);
            for &(v, len) in &fields {
                assert_eq!(r.bits(len), Ok(v));
            }
            // Only the padding (one bits up to the byte's end) is left before the marker.
            let total: usize = fields.iter().map(|&(_, l)| usize::from(l)).sum();
            let pad = (8 - total % 8) % 8;
            assert_eq!(r.bits(pad as u8 + 1), Err(ScanError::Truncated));
            r.reset();
            assert_eq!(r.pos, end);
        }
    }
}
