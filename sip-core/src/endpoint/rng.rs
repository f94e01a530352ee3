//! The Endpoint's only source of randomness: a seeded generator for branches, tags and
//! Call-IDs, so identical inputs give byte-identical outputs.

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough for identifiers that
/// must be unique, not secret. Seeded from the configuration; never from the OS here.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A token of `len` characters from `[0-9a-z]`.
    pub(crate) fn token(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        self.push_token(&mut out, len);
        out
    }

    /// Appends a token of `len` characters from `[0-9a-z]` to `out`.
    pub(crate) fn push_token(&mut self, out: &mut String, len: usize) {
        const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut bits = self.next_u64();
        for i in 0..len {
            if i % 12 == 11 {
                bits = self.next_u64();
            }
            let index = (bits % 36) as usize;
            bits /= 36;
            out.push(char::from(*ALPHABET.get(index).unwrap_or(&b'0')));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tokens() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.token(16), b.token(16));
        assert_ne!(Rng::new(8).token(16), Rng::new(7).token(16));
    }
}
