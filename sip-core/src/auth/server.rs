//! The server side of digest authentication (RFC 3261 §22.1, §22.4; RFC 7616 §3.3,
//! §3.5, §5.5): challenges with nonces that need no table to check, and a verifier for
//! the credentials that answer them, with expiry and replay detection.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::message::{AuthParseError, Challenge, Credentials, DigestAlgorithm, Method, Qop};

use super::digest::{DigestInput, QopParams, to_hex};

/// What a [`DigestVerifier`] offers and remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// How long a nonce is accepted after it was issued; older ones are
    /// [`Verdict::Stale`]. Default 300 s.
    pub nonce_lifetime: Duration,
    /// The algorithms offered, preferred first: [`DigestVerifier::challenges`] issues one
    /// challenge per algorithm in this order (RFC 8760 §2.4), and credentials with
    /// another one are [`Verdict::Malformed`]. Default SHA-256 then MD5, since many SIP
    /// clients still know only MD5. An empty list counts as MD5 alone.
    pub algorithms: Vec<DigestAlgorithm>,
    /// The qop options offered. Default `auth` only. An empty list counts as `auth`
    /// alone: credentials without qop (RFC 2069) carry no nonce count, so they could
    /// be replayed, and are never accepted.
    pub qop: Vec<Qop>,
    /// How many nonces the replay table remembers the highest nonce count of. Past it,
    /// the oldest nonce is dropped, and credentials with it are answered
    /// [`Verdict::Stale`] from then on. Default 4096.
    pub max_tracked_nonces: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            qop: vec![Qop::Auth],
            max_tracked_nonces: 4096,
        }
    }
}

/// The outcome of [`DigestVerifier::verify`], and what to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The credentials are good: serve the request.
    Ok,
    /// The response is right but the nonce expired, was issued by another verifier (an
    /// earlier run, another instance), or was dropped from the replay table: challenge
    /// again with `stale=true`, and the client retries without asking its user (RFC 7616
    /// §3.3).
    Stale,
    /// Unknown user or wrong password (the response does not match): challenge again
    /// without `stale`, or answer 403.
    Wrong,
    /// The nonce count did not increase for this nonce: a replayed or duplicated request
    /// (RFC 7616 §3.4, §5.5). Challenge again.
    Replay,
    /// Not credentials this verifier could have asked for: another scheme, an algorithm or
    /// qop not offered, no qop (RFC 2069), no `nc` or `cnonce`. Answer 400 (RFC 7616
    /// §3.4: a malformed Authorization).
    Malformed,
}

/// Challenges clients and checks their credentials, for applications that authenticate
/// requests: a registrar, a PBX, a proxy (RFC 3261 §22.1, §22.3).
///
/// **Nonces** are stateless to check: each is the hex of the time it was issued (seconds
/// since the verifier's reference instant), a serial number, and a keyed hash
/// (HMAC-SHA-256, truncated to 128 bits) of both and the realm under a 256-bit secret drawn
/// from the caller's random source at construction. A nonce this verifier did not issue
/// for the realm, or issued longer ago than [`VerifierConfig::nonce_lifetime`], is
/// refused as stale without any table. The serial number keeps two challenges issued in
/// the same second apart, so that two clients never share a nonce count.
///
/// **Replays** are caught with a bounded table of the highest nonce count seen per
/// nonce; see [`VerifierConfig::max_tracked_nonces`]. Only credentials with a right
/// response reach the table, so no one who lacks a password can fill it.
///
/// **Time** is an argument, an [`Instant`], as everywhere in this crate: the verifier
/// keeps the instant it was made at and measures nonce ages from it. That keeps the core
/// free of wall clocks (and of their jumps), at one cost: nonces do not outlive the
/// verifier — after a restart clients get [`Verdict::Stale`] once and retry silently.
/// Verifiers sharing a secret ([`with_secret`](Self::with_secret)) accept each other's
/// nonces only if their reference instants agree.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sip_core::auth::{DigestClient, DigestVerifier, Verdict, VerifierConfig};
/// use sip_core::message::{HeaderName, Method, RequestBuilder, StatusCode, Uri, response_to};
///
/// let start = Instant::now();
/// let mut counter = 0u64;
/// let mut random = move || {
///     counter += 1;
///     counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)
/// };
/// let mut registrar = DigestVerifier::new(start, VerifierConfig::default(), &mut random);
///
/// // A REGISTER without credentials gets a 401 with a challenge…
/// let mut register = RequestBuilder::new(Method::Register, Uri::parse("sip:example.com").unwrap())
///     .via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
///     .from("<sip:alice@example.com>;tag=1")
///     .to("<sip:alice@example.com>")
///     .call_id("c1")
///     .cseq(1)
///     .build()
///     .unwrap();
/// let mut unauthorized = response_to(&register, StatusCode::UNAUTHORIZED, None, Some("r1"));
/// for challenge in registrar.challenges(start, "example.com", false).unwrap() {
///     unauthorized.headers.push(HeaderName::WwwAuthenticate, challenge.as_str());
/// }
///
/// // …which the client answers…
/// let mut client = DigestClient::new();
/// client.add_credentials("example.com", "alice", "secret");
/// let answer = client.authorize(&register, &unauthorized, &mut random).unwrap();
/// sip_core::auth::client::replace_authorizations(&mut register.headers, &answer);
///
/// // …and the registrar checks.
/// let passwords = |user: &str, realm: &str| (user, realm) == ("alice", "example.com");
/// let credentials = register.headers.authorization().next().unwrap().unwrap();
/// let now = start + Duration::from_secs(1);
/// let lookup = |user: &str, realm: &str| passwords(user, realm).then_some("secret");
/// assert_eq!(registrar.verify(now, &credentials, &Method::Register, b"", lookup), Verdict::Ok);
/// // The same credentials again are a replay.
/// assert_eq!(registrar.verify(now, &credentials, &Method::Register, b"", lookup), Verdict::Replay);
/// ```
pub struct DigestVerifier {
    secret: [u8; 32],
    /// The instant nonce times count from.
    epoch: Instant,
    config: VerifierConfig,
    /// The serial number of the next nonce.
    next_serial: u64,
    /// The nonces used so far and not dropped: serial → (issue time, highest nc).
    seen: BTreeMap<u64, Seen>,
    /// Every nonce with a lower serial that is not in `seen` was dropped from it (or never
    /// used before its elders were): it is refused as stale, never trusted afresh.
    dropped_below: u64,
}

/// What the replay table knows of a nonce.
#[derive(Debug, Clone, Copy)]
struct Seen {
    issued: u64,
    nc: u32,
}

/// A nonce's content: 8 bytes of issue time, 8 of serial number, 16 of keyed hash.
const NONCE_BYTES: usize = 32;

impl DigestVerifier {
    /// A verifier whose nonce ages count from `now`, with a secret of four draws of
    /// `random` (the seeded generator of the application; two verifiers seeded alike
    /// issue the same nonces, as determinism asks).
    pub fn new(now: Instant, config: VerifierConfig, random: &mut impl FnMut() -> u64) -> DigestVerifier {
        let mut secret = [0u8; 32];
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&random().to_be_bytes());
        }
        DigestVerifier::with_secret(now, config, secret)
    }

    /// A verifier with a given secret, for instances that must accept each other's
    /// nonces (given the same reference instant `now`).
    pub fn with_secret(now: Instant, config: VerifierConfig, secret: [u8; 32]) -> DigestVerifier {
        DigestVerifier {
            secret,
            epoch: now,
            config,
            next_serial: 0,
            seen: BTreeMap::new(),
            dropped_below: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// A challenge for `realm` with a fresh nonce and the preferred algorithm, `stale=true`
    /// when `stale` (to answer [`Verdict::Stale`]). Put it in a WWW-Authenticate of a 401
    /// (a UAS, a registrar) or a Proxy-Authenticate of a 407 (a proxy). Fails only for a
    /// realm holding a control character.
    pub fn challenge(&mut self, now: Instant, realm: &str, stale: bool) -> Result<Challenge, AuthParseError> {
        let nonce = self.new_nonce(now, realm);
        self.build_challenge(realm, &nonce, self.algorithms().first().copied(), stale)
    }

    /// One challenge per offered algorithm, preferred first, all with the same fresh
    /// nonce (RFC 8760 §2.4: a client picks one; the nonce is not tied to an algorithm).
    /// Put them all in the response, in this order.
    pub fn challenges(
        &mut self,
        now: Instant,
        realm: &str,
        stale: bool,
    ) -> Result<Vec<Challenge>, AuthParseError> {
        let nonce = self.new_nonce(now, realm);
        self.algorithms()
            .iter()
            .map(|&algorithm| self.build_challenge(realm, &nonce, Some(algorithm), stale))
            .collect()
    }

    /// Checks `credentials` sent with a request of `method` and `body` (`body` counts for
    /// `qop=auth-int` only). `password` gives the password of a username in a realm, or
    /// `None` for a user it does not know (with `userhash=true` the username is its hash,
    /// RFC 7616 §3.4.4, and `password` must recognise it).
    ///
    /// The checks, in order: the form of the credentials ([`Verdict::Malformed`]); the
    /// user and the response ([`Verdict::Wrong`]); the nonce's origin and age
    /// ([`Verdict::Stale`], only for a right response, as RFC 7616 §3.3 wants of `stale`);
    /// its nonce count ([`Verdict::Replay`]). Only a [`Verdict::Ok`] counts the nonce
    /// count as used.
    ///
    /// The `uri` of the credentials is what the response covers; RFC 7616 §3.4.6 asks
    /// the server to check that it names the request's target. SIP proxies may rewrite
    /// the Request-URI, so that comparison is left to the caller ([`Credentials::uri`]).
    pub fn verify<P: AsRef<str>>(
        &mut self,
        now: Instant,
        credentials: &Credentials,
        method: &Method,
        body: &[u8],
        password: impl FnOnce(&str, &str) -> Option<P>,
    ) -> Verdict {
        let Some(form) = self.form(credentials) else {
            return Verdict::Malformed;
        };
        let Some(password) = password(credentials.username(), credentials.realm()) else {
            return Verdict::Wrong;
        };
        let expected = DigestInput {
            algorithm: form.algorithm,
            username: credentials.username(),
            realm: credentials.realm(),
            password: password.as_ref(),
            nonce: credentials.nonce(),
            method: method.as_str(),
            uri: credentials.uri(),
            body,
            qop: Some(form.qop),
        }
        .response();
        if !constant_time_eq(
            expected.as_bytes(),
            credentials.response().to_ascii_lowercase().as_bytes(),
        ) {
            return Verdict::Wrong;
        }
        let Some((issued, serial)) = self.check_nonce(credentials.nonce(), credentials.realm()) else {
            return Verdict::Stale;
        };
        let age = self.seconds(now).saturating_sub(issued);
        if Duration::from_secs(age) > self.config.nonce_lifetime {
            return Verdict::Stale;
        }
        self.count(now, serial, issued, form.qop.nc)
    }

    /// The algorithms offered: the configured ones, or MD5.
    fn algorithms(&self) -> &[DigestAlgorithm] {
        if self.config.algorithms.is_empty() {
            &[DigestAlgorithm::Md5]
        } else {
            &self.config.algorithms
        }
    }

    /// The qop options offered: the configured ones, or `auth`.
    fn qops(&self) -> &[Qop] {
        if self.config.qop.is_empty() {
            &[Qop::Auth]
        } else {
            &self.config.qop
        }
    }

    fn build_challenge(
        &self,
        realm: &str,
        nonce: &str,
        algorithm: Option<DigestAlgorithm>,
        stale: bool,
    ) -> Result<Challenge, AuthParseError> {
        let mut builder = Challenge::builder(realm, nonce).stale(stale);
        if let Some(algorithm) = algorithm {
            builder = builder.algorithm(algorithm);
        }
        for &qop in self.qops() {
            builder = builder.qop(qop);
        }
        builder.build()
    }

    /// Seconds from the reference instant to `now` (0 before it).
    fn seconds(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// A new nonce for `realm`: hex of issue time, serial number and their keyed hash.
    fn new_nonce(&mut self, now: Instant, realm: &str) -> String {
        let issued = self.seconds(now);
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let mut nonce = [0u8; NONCE_BYTES];
        let (head, tag) = nonce.split_at_mut(16);
        let (time, number) = head.split_at_mut(8);
        time.copy_from_slice(&issued.to_be_bytes());
        number.copy_from_slice(&serial.to_be_bytes());
        let mac = self.mac(issued, serial, realm);
        for (out, byte) in tag.iter_mut().zip(mac) {
            *out = byte;
        }
        to_hex(&nonce)
    }

    /// The issue time and serial number of `nonce`, when this verifier issued it for
    /// `realm`.
    fn check_nonce(&self, nonce: &str, realm: &str) -> Option<(u64, u64)> {
        let bytes = from_hex::<NONCE_BYTES>(nonce)?;
        let (head, tag) = bytes.split_at(16);
        let (time, number) = head.split_at(8);
        let issued = u64::from_be_bytes(time.try_into().ok()?);
        let serial = u64::from_be_bytes(number.try_into().ok()?);
        let mac = self.mac(issued, serial, realm);
        constant_time_eq(tag, mac.get(..16)?).then_some((issued, serial))
    }

    /// HMAC-SHA-256 (RFC 2104) of issue time, serial number and realm under the secret.
    fn mac(&self, issued: u64, serial: u64, realm: &str) -> [u8; 32] {
        hmac_sha256(
            &self.secret,
            &[&issued.to_be_bytes(), &serial.to_be_bytes(), realm.as_bytes()],
        )
    }

    /// The algorithm and qop parameters of well-formed credentials for this verifier.
    fn form<'c>(&self, credentials: &'c Credentials) -> Option<Form<'c>> {
        let algorithm = credentials.algorithm()?;
        let qop = credentials.qop()?;
        let nc = credentials.nc().filter(|&nc| nc > 0)?;
        let cnonce = credentials.cnonce()?;
        (self.algorithms().contains(&algorithm) && self.qops().contains(&qop)).then_some(Form {
            algorithm,
            qop: QopParams { qop, nc, cnonce },
        })
    }

    /// Records nonce count `nc` for the nonce `serial`, if it is higher than any before.
    fn count(&mut self, now: Instant, serial: u64, issued: u64, nc: u32) -> Verdict {
        self.drop_expired(now);
        if let Some(seen) = self.seen.get_mut(&serial) {
            if nc <= seen.nc {
                return Verdict::Replay;
            }
            seen.nc = nc;
            return Verdict::Ok;
        }
        // Not in the table: new, unless it was dropped (its highest count is unknown).
        if serial < self.dropped_below {
            return Verdict::Stale;
        }
        self.seen.insert(serial, Seen { issued, nc });
        while self.seen.len() > self.config.max_tracked_nonces.max(1) {
            self.drop_oldest();
        }
        Verdict::Ok
    }

    /// Drops the nonces that have expired, oldest serial first: they are refused as stale
    /// by their age anyway.
    fn drop_expired(&mut self, now: Instant) {
        let now = self.seconds(now);
        while let Some((_, seen)) = self.seen.first_key_value() {
            if Duration::from_secs(now.saturating_sub(seen.issued)) <= self.config.nonce_lifetime {
                break;
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((serial, _)) = self.seen.pop_first() {
            self.dropped_below = self.dropped_below.max(serial.saturating_add(1));
        }
    }
}

impl fmt::Debug for DigestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("DigestVerifier")
            .field("config", &self.config)
            .field("next_serial", &self.next_serial)
            .field("tracked_nonces", &self.seen.len())
            .finish_non_exhaustive()
    }
}

/// The algorithm and qop parameters of credentials.
struct Form<'c> {
    algorithm: DigestAlgorithm,
    qop: QopParams<'c>,
}

/// HMAC (RFC 2104) with SHA-256, of the concatenation of `parts`, for a key of at most
/// one block (64 bytes).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(outer.finalize()) {
        *o = b;
    }
    out
}

/// Equality that takes as long whatever the first difference, so that timing does not
/// tell how much of a guessed response or forged nonce was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `N` bytes written in `hex` (either case), if it is exactly that.
fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        let (high, low) = match pair {
            &[h, l] => (digit(h)?, digit(l)?),
            _ => return None,
        };
        // Two hex digits make a value below 256.
        *byte = (high * 16 + low) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231() {
        // RFC 4231 §4.3, test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_decoding_refuses_anything_but_exact_hex() {
        assert_eq!(from_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        for bad in ["", "0a", "0aff00", "0g00", "é00", "+1ff"] {
            assert_eq!(from_hex::<2>(bad), None, "{bad}");
        }
    }
}
