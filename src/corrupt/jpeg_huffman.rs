//! Baseline JPEG entropy coding (ITU-T T.81 Annexes C, F.1.2, F.2.2, K.2): Huffman tables as a file stores
//! them, tables fitted to a scan's symbol counts, and the bit-level writer and reader with byte stuffing.
//!
//! The coded blocks are lossless: decoding a file recovers exactly the quantised coefficients that were
//! written, so the entropy stage never changes a pixel.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A Huffman table as DHT stores it: how many codes of each length 1…16, and the symbols in code order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HuffTable {
    /// `bits[l − 1]` codes of length `l`.
    pub bits: [u8; 16],
    /// The symbols, shortest codes first.
    pub vals: Vec<u8>,
}

impl HuffTable {
    /// The canonical codes (T.81 Annex C): `(code, length)` per symbol, in `vals` order.
    pub fn codes(&self) -> Vec<(u16, u8)> {
        let mut out = Vec::with_capacity(self.vals.len());
        let mut code = 0u32;
        for (l, &n) in self.bits.iter().enumerate() {
            for _ in 0..n {
                out.push((code as u16, l as u8 + 1));
                code += 1;
            }
            code <<= 1;
        }
        out
    }

    /// Whether the counts describe a prefix code that fits in 16 bits with no all-ones code (Kraft sum < 1)
    /// and the symbol list has one symbol per code.
    pub fn is_valid(&self) -> bool {
        let total: usize = self.bits.iter().map(|&b| usize::from(b)).sum();
        let kraft: u64 = self.bits.iter().enumerate().map(|(l, &b)| u64::from(b) << (15 - l)).sum();
        total == self.vals.len() && total > 0 && kraft < 1 << 16
    }

    /// A table fitted to symbol counts (T.81 Annex K.2): Huffman's construction with one reserved symbol so
    /// that no code is all ones, lengths above 16 folded back, symbols sorted by code length. Symbols with a
    /// zero count get no code; at least one symbol must be counted.
    pub fn fitted(counts: &[u32; 256]) -> HuffTable {
        // Index 256 is the reserved symbol.
        let mut freq: Vec<u64> = counts.iter().map(|&c| u64::from(c)).chain([1]).collect();
        let mut size = [0usize; 257];
        let mut next: [Option<usize>; 257] = [None; 257];
        // The live symbols by (frequency, larger index first): popping twice gives the two least frequent,
        // ties to the larger index, as Annex K's Figure K.1 reads (a heap instead of two scans per merge).
        let key = |f: u64, i: usize| Reverse((f, usize::MAX - i));
        let mut live: BinaryHeap<Reverse<(u64, usize)>> =
            (0..257).filter(|&i| freq[i] > 0).map(|i| key(freq[i], i)).collect();
        while live.len() >= 2 {
            let Some(Reverse((_, a))) = live.pop() else { break };
            let Some(Reverse((_, b))) = live.pop() else { break };
            let (c1, c2) = (usize::MAX - a, usize::MAX - b);
            freq[c1] += freq[c2];
            freq[c2] = 0;
            live.push(key(freq[c1], c1));
            // Every symbol of both merged trees gets one bit longer; the trees are chained.
            let mut i = c1;
            loop {
                size[i] += 1;
                match next[i] {
                    Some(j) => i = j,
                    None => break,
                }
            }
            next[i] = Some(c2);
            let mut j = c2;
            loop {
                size[j] += 1;
                match next[j] {
                    Some(k) => j = k,
                    None => break,
                }
            }
        }
        let mut bits = [0usize; 33];
        for &s in &size {
            if s > 0 {
                bits[s.min(32)] += 1;
            }
        }
        // Fold codes longer than 16 bits (Figure K.3): two codes of length i become one of length i − 1 and
        // lengthen one shorter code to make room.
        for i in (17..=32).rev() {
            while bits[i] > 0 {
                let mut j = i - 2;
                while bits[j] == 0 {
                    j -= 1;
                }
                bits[i] -= 2;
                bits[i - 1] += 1;
                bits[j + 1] += 2;
                bits[j] -= 1;
            }
        }
        // Drop the reserved symbol's code: the longest one.
        let mut i = 16;
        while bits[i] == 0 {
            i -= 1;
        }
        bits[i] -= 1;
        let mut vals = Vec::new();
        for len in 1..=32 {
            vals.extend((0..256).filter(|&s| size[s] == len).map(|s| s as u8));
        }
        let total: usize = bits[1..=16].iter().sum();
        vals.truncate(total);
        HuffTable { bits: std::array::from_fn(|l| bits[l + 1] as u8), vals }
    }
}

/// The number of bits of `|v|` (the JPEG "category"/"size" of a coefficient or difference).
#[inline]
pub fn category(v: i32) -> u8 {
    (32 - v.unsigned_abs().leading_zeros()) as u8
}

/// Writes bits most significant first, stuffing a zero byte after every 0xFF.
#[derive(Debug, Default)]
pub struct BitWriter {
    /// The bytes written.
    pub out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the `len` low bits of `bits`.
    #[inline]
    pub fn put(&mut self, bits: u32, len: u8) {
        let len = u32::from(len);
        self.acc = (self.acc << len) | u64::from(bits & ((1u64 << len) - 1) as u32);
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            let b = (self.acc >> self.n) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
    }

    /// Pads the last byte with one bits and returns the coded bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad as u8);
        }
        self.out
    }
}

/// Bits looked up at once when decoding: codes this short (most of them) take one table lookup.
const LOOKUP_BITS: u32 = 9;

/// A decoding table (T.81 Figure F.16): the largest code of each length and where its symbols start, and a
/// lookup of `(length, symbol)` by the next [`LOOKUP_BITS`] bits for the codes that short (length 0: longer).
#[derive(Clone, Debug)]
pub struct Decoder {
    maxcode: [i32; 17],
    offset: [i32; 17],
    vals: Vec<u8>,
    lookup: Vec<(u8, u8)>,
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
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        for (&sym, (code, len)) in t.vals.iter().zip(t.codes()) {
            let len32 = u32::from(len);
            if len32 <= LOOKUP_BITS {
                let first = usize::from(code) << (LOOKUP_BITS - len32);
                lookup[first..first + (1 << (LOOKUP_BITS - len32))].fill((len, sym));
            }
        }
        Decoder { maxcode, offset, vals: t.vals.clone(), lookup }
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

/// Reads bits of one entropy-coded segment, undoing byte stuffing; stops at the first marker.
#[derive(Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next byte to read.
    pub pos: usize,
    acc: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    /// Reads from `data[pos..]`.
    pub fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader { data, pos, acc: 0, n: 0 }
    }

    fn fill(&mut self) -> Result<(), ScanError> {
        while self.n <= 56 {
            match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.acc = (self.acc << 8) | 0xFF;
                    self.pos += 2;
                }
                Some(0xFF) | None => {
                    return if self.n > 0 { Ok(()) } else { Err(ScanError::Truncated) };
                }
                Some(&b) => {
                    self.acc = (self.acc << 8) | u64::from(b);
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
        if len == 0 {
            return Ok(0);
        }
        if self.n < len {
            self.fill()?;
            if self.n < len {
                return Err(ScanError::Truncated);
            }
        }
        self.n -= len;
        Ok(((self.acc >> self.n) & ((1 << len) - 1)) as u32)
    }

    /// The next Huffman-coded symbol.
    pub fn symbol(&mut self, d: &Decoder) -> Result<u8, ScanError> {
        if self.n < LOOKUP_BITS {
            // Near a marker fewer bits may be left: the bit-by-bit path below reports a real shortage.
            let _ = self.fill();
        }
        if self.n >= LOOKUP_BITS {
            let (len, sym) =
                d.lookup[((self.acc >> (self.n - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1)) as usize];
            if len > 0 {
                self.n -= u32::from(len);
                return Ok(sym);
            }
        }
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
        Ok(if len > 0 && v < 1 << (len - 1) { v - (1 << len) + 1 } else { v })
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

    #[test]
    fn fitted_tables_are_valid_prefix_codes_that_round_trip() {
        let mut counts = [0u32; 256];
        // A skewed distribution over many symbols forces lengths past 16 before folding.
        for (s, c) in counts.iter_mut().enumerate().take(200) {
            *c = 1 + (1u32 << (s % 24)) / 7;
        }
        let t = HuffTable::fitted(&counts);
        assert!(t.is_valid());
        assert_eq!(t.vals.len(), 200);
        let codes = t.codes();
        let mut w = BitWriter::default();
        let syms: Vec<usize> = (0..200).rev().collect();
        for &s in &syms {
            let k = t.vals.iter().position(|&v| usize::from(v) == s).unwrap();
            w.put(u32::from(codes[k].0), codes[k].1);
        }
        let bytes = w.finish();
        let d = Decoder::new(&t);
        let mut r = BitReader::new(&bytes, 0);
        for &s in &syms {
            assert_eq!(usize::from(r.symbol(&d).unwrap()), s);
        }
    }

    #[test]
    fn a_single_symbol_gets_a_one_bit_code() {
        let mut counts = [0u32; 256];
        counts[5] = 9;
        let t = HuffTable::fitted(&counts);
        assert_eq!((t.bits[0], t.vals.clone()), (1, vec![5]));
    }

    #[test]
    fn categories_and_extension_agree() {
        assert_eq!((category(0), category(1), category(-1), category(255), category(-256)), (0, 1, 1, 8, 9));
        let mut w = BitWriter::default();
        for v in [-5i32, 5, -1, 1] {
            let s = category(v);
            w.put(if v < 0 { (v - 1) as u32 } else { v as u32 }, s);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes, 0);
        for v in [-5i32, 5, -1, 1] {
            assert_eq!(r.signed(category(v)).unwrap(), v);
        }
    }
}
