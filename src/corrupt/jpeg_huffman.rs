//! Baseline JPEG entropy coding (ITU-T T.81 Annexes C, F.1.2, K.2): Huffman tables as a file stores them,
//! tables fitted to a scan's symbol counts, and the bit-level writer with byte stuffing (the reader is
//! [`super::jpeg_scan`]).
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
        // The symbols by code length, then by value.
        let mut by_len: Vec<(usize, u8)> =
            (0..256).filter(|&s| size[s] > 0).map(|s| (size[s], s as u8)).collect();
        by_len.sort_unstable();
        let mut vals: Vec<u8> = by_len.into_iter().map(|(_, s)| s).collect();
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
///
/// Bits gather in a 64-bit register and leave four bytes at a time: in one copy when none of them is 0xFF,
/// byte by byte (with the stuffed zeros) otherwise; the bytes are the same as one byte at a time.
#[derive(Debug, Default)]
pub struct BitWriter {
    /// The bytes written.
    pub out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the `len` (at most 32) low bits of `bits`.
    #[inline]
    pub fn put(&mut self, bits: u32, len: u8) {
        let len = u32::from(len);
        // At most 31 bits are held between calls, so 32 more fit.
        self.acc = (self.acc << len) | (u64::from(bits) & ((1u64 << len) - 1));
        self.n += len;
        if self.n >= 32 {
            self.n -= 32;
            self.emit((self.acc >> self.n) as u32);
        }
    }

    /// Writes the four bytes of `word` (big-endian), each 0xFF followed by a stuffed zero.
    #[inline]
    fn emit(&mut self, word: u32) {
        let bytes = word.to_be_bytes();
        let v = !word;
        if v.wrapping_sub(0x0101_0101) & !v & 0x8080_8080 == 0 {
            self.out.extend_from_slice(&bytes);
        } else {
            for b in bytes {
                self.out.push(b);
                if b == 0xFF {
                    self.out.push(0);
                }
            }
        }
    }

    /// Pads the last byte with one bits and returns the coded bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.n.is_multiple_of(8) {
            let pad = 8 - self.n % 8;
            self.put((1 << pad) - 1, pad as u8);
        }
        while self.n >= 8 {
            self.n -= 8;
            let b = (self.acc >> self.n) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::jpeg_scan::{BitReader, Decoder};

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
    fn the_writer_gives_the_bytes_of_the_bit_by_bit_definition() {
        let mut next = crate::corrupt::test_stream(3);
        for _ in 0..300 {
            let (mut w, mut bits) = (BitWriter::default(), Vec::new());
            for _ in 0..next() % 400 {
                let len = (next() % 32) as u8;
                // Many all-ones fields, for 0xFF bytes.
                let v = if next().is_multiple_of(3) { u32::MAX } else { next() as u32 };
                w.put(v, len);
                bits.extend((0..len).rev().map(|i| v >> i & 1 == 1));
            }
            while bits.len() % 8 > 0 {
                bits.push(true);
            }
            let mut want = Vec::new();
            for byte in bits.chunks(8) {
                let b = byte.iter().fold(0u8, |a, &x| a << 1 | u8::from(x));
                want.push(b);
                if b == 0xFF {
                    want.push(0);
                }
            }
            assert_eq!(w.finish(), want);
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
