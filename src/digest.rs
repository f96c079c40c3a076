//! The digests a corrupted set's manifest lists for its files: which function, and the streaming hasher.
//!
//! A manifest of format 1 lists SHA-256 digests (FIPS 180-4); from format 2 it names its function in `digest`,
//! and `corrupt` writes BLAKE3 (256-bit output, the reference specification of Aumasson, Neves, O'Connor and
//! Wilcox-O'Hearn, 2020). Both are cryptographic hashes: a file changed after the set was written is found by
//! either. BLAKE3 is chosen for what `corrupt` writes because its hash is a tree of 1 KiB chunks that SIMD
//! lanes process side by side: on the 2-core machine of the README's speed tables it hashes a 224-px image's
//! 150,528 bytes in about 26 µs against 84 µs for SHA-256 with the SHA instructions
//! (`cargo bench --bench corruptions -- digest`), a sixth of the per-image cost of `corrupt` in the `.npy`
//! layout before the change. Every other digest lcr-verify records (models, datasets, certificates) stays
//! SHA-256.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// A hash function a manifest may list its files' digests in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    /// SHA-256: every manifest of format 1.
    #[default]
    Sha256,
    /// BLAKE3 with its default 32-byte output: what `corrupt` writes from manifest format 2 on.
    Blake3,
}

impl DigestKind {
    /// The function `corrupt` writes.
    pub const WRITTEN: DigestKind = DigestKind::Blake3;

    /// Its name in manifests and messages.
    pub fn name(self) -> &'static str {
        match self {
            DigestKind::Sha256 => "sha256",
            DigestKind::Blake3 => "blake3",
        }
    }

    /// The digest of `bytes`, lowercase hexadecimal (64 characters).
    pub fn hex(self, bytes: &[u8]) -> String {
        let mut h = Hasher::new(self);
        h.update(bytes);
        h.finish_hex()
    }
}

/// A digest computed piece by piece.
#[derive(Clone, Debug)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// BLAKE3 state (boxed: it holds the chunk stack, about 1.9 KB).
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// A fresh state for `kind`.
    pub fn new(kind: DigestKind) -> Hasher {
        match kind {
            DigestKind::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestKind::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    /// Appends `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of everything appended, lowercase hexadecimal.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Blake3(h) => hex(h.finalize().as_bytes()),
        }
    }
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published digests of the empty input and of `abc` (FIPS 180-4 example B.1; the BLAKE3 reference
    /// implementation's `b3sum`).
    #[test]
    fn known_digests_of_short_inputs() {
        assert_eq!(
            DigestKind::Sha256.hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            DigestKind::Blake3.hex(b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            DigestKind::Blake3.hex(b"abc"),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    /// Hashing in pieces gives the digest of the whole, for pieces that straddle BLAKE3's 1 KiB chunks.
    #[test]
    fn pieces_hash_as_the_whole() {
        let bytes: Vec<u8> = (0..5_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for kind in [DigestKind::Sha256, DigestKind::Blake3] {
            let mut h = Hasher::new(kind);
            for piece in bytes.chunks(777) {
                h.update(piece);
            }
            assert_eq!(h.finish_hex(), kind.hex(&bytes), "{}", kind.name());
        }
    }

    #[test]
    fn names_are_the_manifest_spelling() {
        for kind in [DigestKind::Sha256, DigestKind::Blake3] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
