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

    /// A token of `len` characters from `[0-9a-v]`.
    pub(crate) fn token(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        self.push_token(&mut out, len);
        out
    }

    /// Appends a token of `len` characters from `[0-9a-v]` to `out`: five random bits a
    /// character (a tag of 10 has 50, a branch's 20 have 100; RFC 3261 §19.3 asks for 32),
    /// a shift and a mask each instead of a division.
    pub(crate) fn push_token(&mut self, out: &mut String, len: usize) {
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
        out.reserve(len);
        let mut bits = self.next_u64();
        for i in 0..len {
            // Twelve characters (60 bits) a draw.
            if i % 12 == 11 {
                bits = self.next_u64();
            }
            // A 5-bit index into a 32-entry table cannot be out of bounds.
            let index = (bits & 31) as usize;
            bits >>= 5;
            out.push(char::from(*ALPHABET.get(index).unwrap_or(&b'0')));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_any_length_use_the_alphabet() {
        let mut rng = Rng::new(3);
        for len in [0, 1, 10, 11, 12, 20, 24, 25, 50] {
            let token = rng.token(len);
            assert_eq!(token.len(), len);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
            );
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.token(16), b.token(16));
        assert_ne!(Rng::new(8).token(16), Rng::new(7).token(16));
    }
}
