//! The digest computations (RFC 7616 §3.4.1–§3.4.3 and §3.4.4; RFC 2617 §3.2.2;
//! RFC 3261 §22.4; RFC 8760 §2.2): HA1, HA2, the request digest and the hashed username,
//! written in lower-case hex, for MD5, SHA-256 and SHA-512/256.
//!
//! Every function is pure. [`DigestInput::response`] is the one a client or server
//! usually wants; the others are its steps, public for servers that store HA1 instead of
//! passwords and for tests against the RFCs' intermediate values.
//!
//! ```
//! use sip_core::auth::digest::{DigestInput, QopParams};
//! use sip_core::message::{DigestAlgorithm, Qop};
//! // RFC 7616 §3.9.1, SHA-256.
//! let input = DigestInput {
//!     algorithm: DigestAlgorithm::Sha256,
//!     username: "Mufasa",
//!     realm: "http-auth@example.org",
//!     password: "Circle of Life",
//!     nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
//!     method: "GET",
//!     uri: "/dir/index.html",
//!     body: b"",
//!     qop: Some(QopParams { qop: Qop::Auth, nc: 1, cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" }),
//! };
//! assert_eq!(input.response(), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
//! ```

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use crate::message::{DigestAlgorithm, Qop};

/// Everything a request digest is computed from.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// The username, in clear (also with `userhash`: the digest covers the real name).
    pub username: &'a str,
    /// The realm of the challenge.
    pub realm: &'a str,
    /// The password.
    pub password: &'a str,
    /// The nonce of the challenge.
    pub nonce: &'a str,
    /// The request's method (`INVITE`; for an ACK or CANCEL, see RFC 3261 §22.1).
    pub method: &'a str,
    /// The `uri` of the credentials: the Request-URI as written in the request line.
    pub uri: &'a str,
    /// The body, which only `auth-int` covers.
    pub body: &'a [u8],
    /// The qop with its nonce count and client nonce; `None` for an RFC 2069 challenge
    /// without `qop`.
    pub qop: Option<QopParams<'a>>,
}

/// The qop of credentials with the two values that come with it (RFC 7616 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopParams<'a> {
    /// The qop.
    pub qop: Qop,
    /// The nonce count: 1 for the first request with this nonce.
    pub nc: u32,
    /// The client nonce.
    pub cnonce: &'a str,
}

impl DigestInput<'_> {
    /// The request digest, the `response` parameter of the credentials.
    pub fn response(&self) -> String {
        let cnonce = self.qop.map_or("", |q| q.cnonce);
        let ha1 = ha1(
            self.algorithm,
            self.username,
            self.realm,
            self.password,
            self.nonce,
            cnonce,
        );
        let ha2 = ha2(
            self.algorithm,
            self.qop.map(|q| q.qop),
            self.method,
            self.uri,
            self.body,
        );
        request_digest(self.algorithm, &ha1, self.nonce, self.qop.as_ref(), &ha2)
    }
}

/// `H(data)` in lower-case hex.
pub fn hash_hex(algorithm: DigestAlgorithm, data: &[u8]) -> String {
    hash_joined(algorithm, &[data])
}

/// HA1 = `H(A1)` (RFC 7616 §3.4.2): `A1 = username ":" realm ":" password`, and for the
/// `-sess` variants `A1 = H(username ":" realm ":" password) ":" nonce ":" cnonce`. The
/// nonce and cnonce are used only by the `-sess` variants.
pub fn ha1(
    algorithm: DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
) -> String {
    let base = hash_joined(
        algorithm,
        &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
    );
    if algorithm.is_session() {
        hash_joined(algorithm, &[base.as_bytes(), nonce.as_bytes(), cnonce.as_bytes()])
    } else {
        base
    }
}

/// HA2 = `H(A2)` (RFC 7616 §3.4.3): `A2 = method ":" uri`, and for `auth-int`
/// `A2 = method ":" uri ":" H(body)`.
pub fn ha2(algorithm: DigestAlgorithm, qop: Option<Qop>, method: &str, uri: &str, body: &[u8]) -> String {
    match qop {
        Some(Qop::AuthInt) => {
            let body_hash = hash_hex(algorithm, body);
            hash_joined(
                algorithm,
                &[method.as_bytes(), uri.as_bytes(), body_hash.as_bytes()],
            )
        }
        _ => hash_joined(algorithm, &[method.as_bytes(), uri.as_bytes()]),
    }
}

/// The request digest (RFC 7616 §3.4.1): `H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":"
/// HA2)`, or without qop the RFC 2069 form `H(HA1 ":" nonce ":" HA2)` (RFC 2617
/// §3.2.2.1, kept by RFC 3261 §22.4 for compatibility).
pub fn request_digest(
    algorithm: DigestAlgorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<&QopParams<'_>>,
    ha2: &str,
) -> String {
    match qop {
        Some(q) => {
            let nc = format_nc(q.nc);
            hash_joined(
                algorithm,
                &[
                    ha1.as_bytes(),
                    nonce.as_bytes(),
                    nc.as_bytes(),
                    q.cnonce.as_bytes(),
                    q.qop.as_str().as_bytes(),
                    ha2.as_bytes(),
                ],
            )
        }
        None => hash_joined(algorithm, &[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// The hashed username of RFC 7616 §3.4.4: `H(username ":" realm)`.
pub fn userhash(algorithm: DigestAlgorithm, username: &str, realm: &str) -> String {
    hash_joined(algorithm, &[username.as_bytes(), realm.as_bytes()])
}

/// A nonce count as RFC 7616 §3.4 writes it: 8 lower-case hex digits.
pub fn format_nc(nc: u32) -> String {
    format!("{nc:08x}")
}

/// `H(parts[0] ":" parts[1] ":" …)` in lower-case hex, without building the joined text.
fn hash_joined(algorithm: DigestAlgorithm, parts: &[&[u8]]) -> String {
    let mut hasher = Hasher::new(algorithm);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    hasher.finish_hex()
}

/// The hash function of an algorithm.
enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512_256(Sha512_256),
}

impl Hasher {
    fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm.strength() {
            0 => Hasher::Md5(Md5::new()),
            1 => Hasher::Sha256(Sha256::new()),
            _ => Hasher::Sha512_256(Sha512_256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512_256(h) => h.update(data),
        }
    }

    fn finish_hex(self) -> String {
        match self {
            Hasher::Md5(h) => to_hex(&h.finalize()),
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::Sha512_256(h) => to_hex(&h.finalize()),
        }
    }
}

/// Lower-case hex (RFC 7616 §3.4: "LHEX").
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MUFASA_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const MUFASA_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn mufasa(algorithm: DigestAlgorithm) -> DigestInput<'static> {
        DigestInput {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            nonce: MUFASA_NONCE,
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            qop: Some(QopParams {
                qop: Qop::Auth,
                nc: 1,
                cnonce: MUFASA_CNONCE,
            }),
        }
    }

    #[test]
    fn rfc7616_md5_example() {
        // RFC 7616 §3.9.1. (The HA1 printed there is a known erratum; the response is right.)
        let input = mufasa(DigestAlgorithm::Md5);
        let ha1 = ha1(input.algorithm, "Mufasa", input.realm, input.password, "", "");
        assert_eq!(ha1, "3d78807defe7de2157e2b0b6573a855f");
        assert_eq!(
            ha2(input.algorithm, Some(Qop::Auth), "GET", input.uri, b""),
            "39aff3a2bab6126f332b942af96d3366"
        );
        assert_eq!(input.response(), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_example() {
        // RFC 7616 §3.9.1.
        assert_eq!(
            mufasa(DigestAlgorithm::Sha256).response(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc7616_sha512_256_userhash_example() {
        // RFC 7616 §3.9.2 with erratum 4897: the username hash and response printed in the
        // RFC came from a draft SHA-512/256; these are the ones of its inputs.
        let username = "J\u{e4}s\u{f8}n Doe";
        assert_eq!(
            userhash(DigestAlgorithm::Sha512_256, username, "api@example.org"),
            "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
        );
        let input = DigestInput {
            algorithm: DigestAlgorithm::Sha512_256,
            username,
            realm: "api@example.org",
            password: "Secret, or not?",
            nonce: "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
            method: "GET",
            uri: "/doe.json",
            body: b"",
            qop: Some(QopParams {
                qop: Qop::Auth,
                nc: 1,
                cnonce: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
            }),
        };
        assert_eq!(
            input.response(),
            "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
        );
    }

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5 (note "Circle Of Life", capital O, in this one).
        let input = DigestInput {
            algorithm: DigestAlgorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            qop: Some(QopParams {
                qop: Qop::Auth,
                nc: 1,
                cnonce: "0a4f113b",
            }),
        };
        assert_eq!(input.response(), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc2069_form_without_qop() {
        // RFC 2069 §2.1.2: response = H(H(A1) ":" nonce ":" H(A2)), the same inputs as
        // RFC 2617 §3.5 without qop; computed by hand from the definition.
        let input = DigestInput {
            qop: None,
            ..mufasa(DigestAlgorithm::Md5)
        };
        let ha1 = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            input.realm,
            input.password,
            "",
            "",
        );
        let ha2 = hash_hex(DigestAlgorithm::Md5, b"GET:/dir/index.html");
        let expected = hash_hex(
            DigestAlgorithm::Md5,
            format!("{ha1}:{MUFASA_NONCE}:{ha2}").as_bytes(),
        );
        assert_eq!(input.response(), expected);
        assert_ne!(input.response(), mufasa(DigestAlgorithm::Md5).response());
    }

    #[test]
    fn session_variants_hash_the_nonce_and_cnonce_into_ha1() {
        let plain = ha1(DigestAlgorithm::Md5, "u", "r", "p", "n", "c");
        let session = ha1(DigestAlgorithm::Md5Sess, "u", "r", "p", "n", "c");
        let expected = hash_hex(DigestAlgorithm::Md5, format!("{plain}:n:c").as_bytes());
        assert_eq!(session, expected);
        assert_ne!(session, ha1(DigestAlgorithm::Md5Sess, "u", "r", "p", "n", "d"));
    }

    #[test]
    fn auth_int_covers_the_body() {
        let body_hash = hash_hex(DigestAlgorithm::Sha256, b"v=0\r\n");
        assert_eq!(
            ha2(
                DigestAlgorithm::Sha256,
                Some(Qop::AuthInt),
                "INVITE",
                "sip:bob@b",
                b"v=0\r\n"
            ),
            hash_hex(
                DigestAlgorithm::Sha256,
                format!("INVITE:sip:bob@b:{body_hash}").as_bytes()
            )
        );
        let with = |body: &'static [u8]| {
            DigestInput {
                body,
                qop: Some(QopParams {
                    qop: Qop::AuthInt,
                    nc: 1,
                    cnonce: "c",
                }),
                ..mufasa(DigestAlgorithm::Sha256)
            }
            .response()
        };
        assert_ne!(with(b"a"), with(b"b"));
    }

    #[test]
    fn hashes_are_lower_case_hex_of_the_right_length() {
        for (algorithm, len) in [
            (DigestAlgorithm::Md5, 32),
            (DigestAlgorithm::Sha256Sess, 64),
            (DigestAlgorithm::Sha512_256, 64),
        ] {
            let h = hash_hex(algorithm, b"abc");
            assert_eq!(h.len(), len);
            assert!(
                h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        // FIPS 180-4 examples for "abc".
        assert_eq!(
            hash_hex(DigestAlgorithm::Md5, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hash_hex(DigestAlgorithm::Sha512_256, b"abc"),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        assert_eq!(format_nc(1), "00000001");
        assert_eq!(format_nc(0xabcdef12), "abcdef12");
    }
}
