//! Challenges: the values of WWW-Authenticate and Proxy-Authenticate.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::message::span::Span;

use super::{
    AuthParseError, DigestAlgorithm, Fields, ParamWriter, Qop, Value, find_param, is_digest_scheme,
    parse_params, split_scheme,
};

/// A challenge: the value of WWW-Authenticate (RFC 3261 §20.44) or Proxy-Authenticate
/// (§20.27). A `Digest` challenge (RFC 3261 §25 `digest-cln`, RFC 7616 §3.3) must carry
/// `realm` and `nonce`; a challenge of any other scheme parses as an opaque value whose
/// [`is_digest`](Challenge::is_digest) is false and whose digest fields are empty.
///
/// `==` compares the text; [`Display`](fmt::Display) gives the value as written, or the
/// canonical form for a built one.
///
/// ```
/// use sip_core::message::{Challenge, DigestAlgorithm, Qop};
/// let c = Challenge::parse(
///     r#"Digest realm="atlanta.com", qop="auth,auth-int", nonce="84a4cc6f3082121f32b42a2187831a9e", algorithm=SHA-256, stale=TRUE"#,
/// )
/// .unwrap();
/// assert!(c.is_digest());
/// assert_eq!(c.realm(), "atlanta.com");
/// assert_eq!(c.algorithm(), Some(DigestAlgorithm::Sha256));
/// assert_eq!(c.qop_options().collect::<Vec<_>>(), [Qop::Auth, Qop::AuthInt]);
/// assert!(c.stale());
///
/// let built = Challenge::builder("atlanta.com", "84a4cc6f")
///     .algorithm(DigestAlgorithm::Md5)
///     .qop(Qop::Auth)
///     .build()
///     .unwrap();
/// assert_eq!(built.to_string(), r#"Digest realm="atlanta.com", nonce="84a4cc6f", algorithm=MD5, qop="auth""#);
///
/// let basic = Challenge::parse("Basic realm=\"x\"").unwrap();
/// assert!(!basic.is_digest());
/// ```
#[derive(Clone)]
pub struct Challenge {
    /// The value without surrounding white space.
    text: ByteString,
    scheme: Span,
    /// Everything after the scheme.
    params: Span,
    digest: Option<Box<DigestChallenge>>,
}

/// The fields of a `Digest` challenge.
#[derive(Clone)]
struct DigestChallenge {
    realm: Value,
    nonce: Value,
    domain: Option<Value>,
    opaque: Option<Value>,
    stale: bool,
    algorithm: Option<Value>,
    qop: Option<Value>,
    userhash: bool,
}

impl Challenge {
    /// Parses a challenge, copying it.
    pub fn parse(s: &str) -> Result<Challenge, AuthParseError> {
        Challenge::parse_shared(ByteString::from(s))
    }

    /// Parses a challenge held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<Challenge, AuthParseError> {
        let (text, scheme, params) = split_scheme(text)?;
        if !is_digest_scheme(scheme.get(&text)) {
            return Ok(Challenge {
                text,
                scheme,
                params,
                digest: None,
            });
        }
        let list = parse_params(&text, params)?;
        let fields = Fields {
            text: &text,
            list: &list,
        };
        let digest = DigestChallenge {
            realm: fields.required("realm")?,
            nonce: fields.required("nonce")?,
            domain: fields.optional("domain")?,
            opaque: fields.optional("opaque")?,
            stale: fields.flag("stale")?,
            algorithm: fields.optional("algorithm")?,
            qop: fields.optional("qop")?,
            userhash: fields.flag("userhash")?,
        };
        Ok(Challenge {
            text,
            scheme,
            params,
            digest: Some(Box::new(digest)),
        })
    }

    /// A builder for a `Digest` challenge with `realm` and `nonce`.
    pub fn builder<'a>(realm: &'a str, nonce: &'a str) -> ChallengeBuilder<'a> {
        ChallengeBuilder {
            realm,
            nonce,
            domain: None,
            opaque: None,
            stale: false,
            algorithm: None,
            qop: Vec::new(),
            userhash: false,
        }
    }

    /// The scheme as written (`Digest`).
    pub fn scheme(&self) -> &str {
        self.scheme.get(&self.text)
    }

    /// True for a `Digest` challenge (the scheme compares case-insensitively).
    pub fn is_digest(&self) -> bool {
        self.digest.is_some()
    }

    /// The `realm`, unquoted: the protection space, and usually the domain of the
    /// server (RFC 3261 §22.1). Empty when the scheme is not Digest.
    pub fn realm(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.realm.get(&self.text))
    }

    /// The `nonce`, unquoted. Empty when the scheme is not Digest.
    pub fn nonce(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.nonce.get(&self.text))
    }

    /// The `domain`, unquoted: a space-separated list of URIs of the protection space.
    pub fn domain(&self) -> Option<&str> {
        self.digest_value(|d| d.domain.as_ref())
    }

    /// The `opaque`, unquoted, which credentials must echo (RFC 7616 §3.3).
    pub fn opaque(&self) -> Option<&str> {
        self.digest_value(|d| d.opaque.as_ref())
    }

    /// `stale=true`: the credentials were right but the nonce had expired; the client
    /// should retry with the new nonce without asking the user again (RFC 7616 §3.3).
    pub fn stale(&self) -> bool {
        self.digest.as_ref().is_some_and(|d| d.stale)
    }

    /// The algorithm: [`DigestAlgorithm::Md5`] when the parameter is absent (RFC 7616
    /// §3.3), `None` when it names one this crate does not know (see
    /// [`algorithm_str`](Self::algorithm_str)) or the scheme is not Digest.
    pub fn algorithm(&self) -> Option<DigestAlgorithm> {
        self.digest.as_ref()?;
        match self.algorithm_str() {
            None => Some(DigestAlgorithm::Md5),
            Some(name) => DigestAlgorithm::parse(name),
        }
    }

    /// The `algorithm` parameter as written, unquoted.
    pub fn algorithm_str(&self) -> Option<&str> {
        self.digest_value(|d| d.algorithm.as_ref())
    }

    /// True when the challenge carries a `qop` parameter. Without one the server speaks
    /// RFC 2069 digest: credentials carry no `qop`, `nc` or `cnonce`.
    pub fn offers_qop(&self) -> bool {
        self.digest.as_ref().is_some_and(|d| d.qop.is_some())
    }

    /// The qop options this crate knows, in the order offered, each once; unknown ones
    /// are skipped (RFC 7616 §3.3: "Unrecognized options MUST be ignored").
    pub fn qop_options(&self) -> impl Iterator<Item = Qop> + '_ {
        let mut seen = [false; 2];
        self.digest_value(|d| d.qop.as_ref())
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter_map(Qop::parse)
            .filter(move |qop| {
                let first = match qop {
                    Qop::Auth => &mut seen[0],
                    Qop::AuthInt => &mut seen[1],
                };
                !std::mem::replace(first, true)
            })
    }

    /// `userhash=true`: the server accepts a hashed username (RFC 7616 §3.4.4). Kept
    /// for those who need it; this crate's client sends the username in clear.
    pub fn userhash(&self) -> bool {
        self.digest.as_ref().is_some_and(|d| d.userhash)
    }

    /// Any parameter by name (case-insensitive), unquoted: also the ones without a
    /// getter (`charset`, extensions). `None` when absent, or when the parameters of a
    /// non-Digest scheme are not `name=value` pairs.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        find_param(&self.text, self.params, name)
    }

    /// The value as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn digest_value(&self, field: impl FnOnce(&DigestChallenge) -> Option<&Value>) -> Option<&str> {
        self.digest.as_deref().and_then(field).map(|v| v.get(&self.text))
    }
}

impl PartialEq for Challenge {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Challenge {}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Challenge({:?})", &*self.text)
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Builds a `Digest` challenge; see [`Challenge::builder`]. Parameters are written in
/// the order realm, domain, nonce, opaque, stale, algorithm, qop, userhash.
#[derive(Debug, Clone)]
#[must_use]
pub struct ChallengeBuilder<'a> {
    realm: &'a str,
    nonce: &'a str,
    domain: Option<&'a str>,
    opaque: Option<&'a str>,
    stale: bool,
    algorithm: Option<DigestAlgorithm>,
    qop: Vec<Qop>,
    userhash: bool,
}

impl<'a> ChallengeBuilder<'a> {
    /// The `domain`: space-separated URIs of the protection space.
    pub fn domain(mut self, domain: &'a str) -> Self {
        self.domain = Some(domain);
        self
    }

    /// The `opaque` string the client must echo.
    pub fn opaque(mut self, opaque: &'a str) -> Self {
        self.opaque = Some(opaque);
        self
    }

    /// `stale=true` when `stale`; nothing otherwise (false is the default).
    pub fn stale(mut self, stale: bool) -> Self {
        self.stale = stale;
        self
    }

    /// The `algorithm`. Without it the challenge means MD5.
    pub fn algorithm(mut self, algorithm: DigestAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Adds a qop option (given twice, it is listed once).
    pub fn qop(mut self, qop: Qop) -> Self {
        if !self.qop.contains(&qop) {
            self.qop.push(qop);
        }
        self
    }

    /// `userhash=true` when `userhash`.
    pub fn userhash(mut self, userhash: bool) -> Self {
        self.userhash = userhash;
        self
    }

    /// The challenge. Fails with [`AuthParseError::Invalid`] when a value holds a control
    /// character other than a tab.
    pub fn build(self) -> Result<Challenge, AuthParseError> {
        let mut text = String::with_capacity(64 + self.realm.len() + self.nonce.len());
        text.push_str("Digest ");
        let mut out = ParamWriter {
            text: &mut text,
            first: true,
        };
        out.quoted("realm", self.realm);
        if let Some(domain) = self.domain {
            out.quoted("domain", domain);
        }
        out.quoted("nonce", self.nonce);
        if let Some(opaque) = self.opaque {
            out.quoted("opaque", opaque);
        }
        if self.stale {
            out.plain("stale", "true");
        }
        if let Some(algorithm) = self.algorithm {
            out.plain("algorithm", algorithm.as_str());
        }
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.as_str()).collect();
            out.quoted("qop", &list.join(","));
        }
        if self.userhash {
            out.plain("userhash", "true");
        }
        // Parsing what was written gives the spans; a value it refuses (a control
        // character) is refused here too.
        Challenge::parse_shared(ByteString::from(text))
    }
}
