//! A fast, deterministic hasher for keys no adversary chooses: object keys, node names,
//! fingerprints of state.
//!
//! The mix is FxHash's (rustc's hasher): per 8-byte word, rotate left by 5, xor the word,
//! multiply by a constant. Every `write` adds its length first, so that zero padding and the
//! boundaries between parts cannot make two inputs alike ("ab" + "c" against "a" + "bc").
//! `finish` applies MurmurHash3's 64-bit finalizer: the multiplications leave the low bits,
//! which pick a hash table's bucket, depending on the low bits of the words alone (the same
//! for names like `pod-0001` and `pod-0002`), and the finalizer spreads every bit over the
//! whole word.
//!
//! Unlike the standard library's `RandomState`, it has no per-process key, so a map using it
//! is laid out alike in every run. No output may depend on a hash map's order all the same
//! (see the book's architecture chapter); what this buys is speed, and the same memory use run
//! to run.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's multiplier.
const K: u64 = 0x517c_c1b7_2722_0a95;

/// Where a hasher starts (FNV's offset basis, any value but zero would do): from zero, words
/// of zero would leave the state at zero, and an empty input would hash as no input.
const START: u64 = 0xcbf2_9ce4_8422_2325;

/// The hasher. See the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct FxHasher {
    hash: u64,
}

impl Default for FxHasher {
    fn default() -> FxHasher {
        FxHasher { hash: START }
    }
}

/// Builds [`FxHasher`]s, for `HashMap<K, V, BuildFxHasher>`.
pub type BuildFxHasher = BuildHasherDefault<FxHasher>;

impl FxHasher {
    /// A hasher whose state starts from `seed` (a discriminant hashed before the rest, such
    /// as an object's kind).
    pub fn with_seed(seed: u64) -> FxHasher {
        let mut h = FxHasher::default();
        h.mix(seed);
        h
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.mix(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ h >> 33
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(parts: &[&[u8]]) -> u64 {
        let mut h = FxHasher::default();
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    #[test]
    fn inputs_are_told_apart_by_length_and_boundaries() {
        assert_ne!(hash(&[b"a"]), hash(&[b"a\0"]));
        assert_ne!(hash(&[b"ab", b"c"]), hash(&[b"a", b"bc"]));
        assert_ne!(hash(&[b""]), hash(&[]));
        assert_eq!(hash(&[b"node-1"]), hash(&[b"node-1"]));
    }

    #[test]
    fn the_seed_separates_otherwise_equal_inputs() {
        let with = |seed| {
            let mut h = FxHasher::with_seed(seed);
            h.write(b"web");
            h.finish()
        };
        assert_ne!(with(1), with(2));
    }

    /// The low bits pick a hash table's bucket: similar names must spread over them (about 63%
    /// of 4,096 buckets are hit by 4,096 random hashes).
    #[test]
    fn similar_names_spread_over_the_low_bits() {
        let buckets: std::collections::HashSet<u64> = (0..4096)
            .map(|i| hash(&[format!("node-{i:05}").as_bytes()]) & 4095)
            .collect();
        assert!(buckets.len() > 2400, "{} buckets", buckets.len());
    }
}
