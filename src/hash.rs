//! A fast, deterministic hasher for the compiler's internal maps (span maps, the pointer
//! interner), whose keys are short strings the compiler made itself.
//!
//! Consumes: bytes. Produces: a 64-bit hash (the multiply-rotate scheme of rustc's `FxHasher`).
//! Invariant: only lookup speed depends on it, never output (no map hashed with it is
//! iterated into output). It does not resist collision attacks, which a spec author could at
//! worst use to slow their own compile down; std's SipHash cost a large compile about a tenth
//! of its lowering time.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// `HashSet` with [`FastHasher`].
pub type FastSet<T> = std::collections::HashSet<T, BuildHasherDefault<FastHasher>>;

/// See the module documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::FastMap;

    #[test]
    fn strings_that_share_a_prefix_or_differ_in_the_padding_are_kept_apart() {
        let keys = [
            "",
            "a",
            "a\0",
            "/services/api",
            "/services/api/",
            "/services/apj",
            "12345678",
            "123456789",
        ];
        let map: FastMap<&str, usize> = keys.iter().enumerate().map(|(i, key)| (*key, i)).collect();
        assert_eq!(map.len(), keys.len());
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(map[key], i);
        }
    }
}
