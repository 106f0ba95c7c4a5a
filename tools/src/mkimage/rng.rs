//! A seeded pseudo-random generator: SplitMix64 (Steele, Lea, Flood, "Fast splittable
//! pseudorandom number generators", OOPSLA 2014), keyed by SHA-256 of the seed and a stream
//! label, so that every stream of an image is reproducible from `--seed` alone and independent
//! of the order in which streams are consumed.

use sha2::{Digest, Sha256};

/// SplitMix64's increment (the golden-ratio constant of the paper).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The generator of stream `stream` under seed `seed`: its state is the first 8 bytes
    /// (little-endian) of SHA-256("mkimage rng", NUL, seed, NUL, stream).
    pub fn keyed(seed: &str, stream: &str) -> SplitMix64 {
        let mut h = Sha256::new();
        h.update(b"mkimage rng\0");
        h.update(seed.as_bytes());
        h.update([0u8]);
        h.update(stream.as_bytes());
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        SplitMix64 {
            state: u64::from_le_bytes(first),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value in `0..n` (`0` when `n` is 0), by multiply-shift (bias below 2^-64 · n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// One element of a slice (`None` when it is empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference outputs of SplitMix64 from state 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64 { state: 0 };
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn streams_are_keyed_by_seed_and_label() {
        let a: Vec<u64> = (0..4)
            .scan(SplitMix64::keyed("s", "x"), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(SplitMix64::keyed("s", "x"), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(SplitMix64::keyed("s", "y").next_u64(), a[0]);
        assert_ne!(SplitMix64::keyed("t", "x").next_u64(), a[0]);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SplitMix64::keyed("s", "below");
        for n in [1u64, 2, 3, 7, 1000] {
            for _ in 0..200 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
    }
}
