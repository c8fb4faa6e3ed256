//! Seeded randomness for components.
//!
//! DESIGN.md: every component that needs chance gets its own [`ChaCha8Rng`], derived from the
//! run's seed and a stable component name, so adding a component never shifts another's stream
//! and the same seed always gives the same run.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a, 64 bits: a stable hash (unlike `std`'s, which may change between releases).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The random stream of the component `name` in a run seeded with `seed`.
///
/// The 256-bit ChaCha key is the seed and two independent hashes of the name, so distinct
/// (seed, name) pairs give distinct streams.
pub fn component_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stable_hash(name.as_bytes()).to_le_bytes());
    let mut salted = b"flotilla/".to_vec();
    salted.extend_from_slice(name.as_bytes());
    key[16..24].copy_from_slice(&stable_hash(&salted).to_le_bytes());
    key[24..32].copy_from_slice(&(name.len() as u64).to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_depend_on_seed_and_name_only() {
        let a: u64 = component_rng(7, "scheduler").random();
        let b: u64 = component_rng(7, "scheduler").random();
        let c: u64 = component_rng(7, "store").random();
        let d: u64 = component_rng(8, "scheduler").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
