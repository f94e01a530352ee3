//! Credentials: the values of Authorization and Proxy-Authorization.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::message::span::Span;

use super::{
    AuthParseError, DigestAlgorithm, Fields, ParamWriter, Qop, Value, find_param, is_digest_scheme, parse_nc,
    parse_params, split_scheme,
};

/// Credentials: the value of Authorization (RFC 3261 §20.7) or Proxy-Authorization
/// (§20.28). `Digest` credentials (RFC 3261 §25 `digest-response`, RFC 7616 §3.4) must
/// carry `username`, `realm`, `nonce`, `uri` and `response`; credentials of any other
/// scheme parse as an opaque value whose [`is_digest`](Credentials::is_digest) is false.
///
/// `==` compares the text; [`Display`](fmt::Display) gives the value as written, or the
/// canonical form for a built one.
///
/// ```
/// use sip_core::message::{Credentials, DigestAlgorithm, Qop};
/// let c = Credentials::parse(
///     r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1""#,
/// )
/// .unwrap();
/// assert_eq!(c.username(), "bob");
/// assert_eq!(c.uri(), "sip:bob@biloxi.com");
/// assert_eq!((c.qop(), c.nc()), (Some(Qop::Auth), Some(1)));
/// assert_eq!(c.algorithm(), Some(DigestAlgorithm::Md5));
///
/// let built = Credentials::builder("bob", "biloxi.com", "dcd98b", "sip:bob@biloxi.com", "6629fae4")
///     .qop(Qop::Auth)
///     .nc(1)
///     .cnonce("0a4f113b")
///     .build()
///     .unwrap();
/// assert_eq!(
///     built.to_string(),
///     r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", response="6629fae4", cnonce="0a4f113b", qop=auth, nc=00000001"#
/// );
/// ```
#[derive(Clone)]
pub struct Credentials {
    /// The value without surrounding white space.
    text: ByteString,
    scheme: Span,
    /// Everything after the scheme.
    params: Span,
    digest: Option<Box<DigestCredentials>>,
}

/// The fields of `Digest` credentials.
#[derive(Clone)]
struct DigestCredentials {
    username: Value,
    realm: Value,
    nonce: Value,
    uri: Value,
    response: Value,
    algorithm: Option<Value>,
    cnonce: Option<Value>,
    opaque: Option<Value>,
    qop: Option<Value>,
    nc: Option<u32>,
    userhash: bool,
}

impl Credentials {
    /// Parses credentials, copying them.
    pub fn parse(s: &str) -> Result<Credentials, AuthParseError> {
        Credentials::parse_shared(ByteString::from(s))
    }

    /// Parses credentials held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<Credentials, AuthParseError> {
        let (text, scheme, params) = split_scheme(text)?;
        if !is_digest_scheme(scheme.get(&text)) {
            return Ok(Credentials {
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
        let nc = match fields.optional("nc")? {
            None => None,
            Some(nc) => Some(parse_nc(nc.get(&text)).ok_or(AuthParseError::Invalid("nc"))?),
        };
        let digest = DigestCredentials {
            username: fields.required("username")?,
            realm: fields.required("realm")?,
            nonce: fields.required("nonce")?,
            uri: fields.required("uri")?,
            response: fields.required("response")?,
            algorithm: fields.optional("algorithm")?,
            cnonce: fields.optional("cnonce")?,
            opaque: fields.optional("opaque")?,
            qop: fields.optional("qop")?,
            nc,
            userhash: fields.flag("userhash")?,
        };
        Ok(Credentials {
            text,
            scheme,
            params,
            digest: Some(Box::new(digest)),
        })
    }

    /// A builder for `Digest` credentials from the five parameters every one carries.
    pub fn builder<'a>(
        username: &'a str,
        realm: &'a str,
        nonce: &'a str,
        uri: &'a str,
        response: &'a str,
    ) -> CredentialsBuilder<'a> {
        CredentialsBuilder {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm: None,
            cnonce: None,
            opaque: None,
            qop: None,
            nc: None,
            userhash: false,
        }
    }

    /// The scheme as written (`Digest`).
    pub fn scheme(&self) -> &str {
        self.scheme.get(&self.text)
    }

    /// True for `Digest` credentials (the scheme compares case-insensitively).
    pub fn is_digest(&self) -> bool {
        self.digest.is_some()
    }

    /// The `username`, unquoted (with `userhash=true`, its hash; RFC 7616 §3.4.4).
    /// Empty when the scheme is not Digest.
    pub fn username(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.username.get(&self.text))
    }

    /// The `realm`, unquoted. Empty when the scheme is not Digest.
    pub fn realm(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.realm.get(&self.text))
    }

    /// The `nonce`, unquoted. Empty when the scheme is not Digest.
    pub fn nonce(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.nonce.get(&self.text))
    }

    /// The `uri` (RFC 3261 §25 `digest-uri`), unquoted: the Request-URI the response
    /// was computed over. Empty when the scheme is not Digest.
    pub fn uri(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.uri.get(&self.text))
    }

    /// The `response`, unquoted: the request digest, in hex. Empty when the scheme is
    /// not Digest.
    pub fn response(&self) -> &str {
        self.digest.as_ref().map_or("", |d| d.response.get(&self.text))
    }

    /// The algorithm: [`DigestAlgorithm::Md5`] when the parameter is absent, `None` when
    /// it names one this crate does not know or the scheme is not Digest.
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

    /// The `cnonce`, unquoted (present whenever `qop` is).
    pub fn cnonce(&self) -> Option<&str> {
        self.digest_value(|d| d.cnonce.as_ref())
    }

    /// The `opaque`, unquoted, echoed from the challenge.
    pub fn opaque(&self) -> Option<&str> {
        self.digest_value(|d| d.opaque.as_ref())
    }

    /// The `qop`, when it is one this crate knows.
    pub fn qop(&self) -> Option<Qop> {
        self.qop_str().and_then(Qop::parse)
    }

    /// The `qop` parameter as written, unquoted.
    pub fn qop_str(&self) -> Option<&str> {
        self.digest_value(|d| d.qop.as_ref())
    }

    /// The nonce count `nc` (RFC 7616 §3.4: 8 hex digits): how many requests these
    /// credentials' nonce has been used for, this one included.
    pub fn nc(&self) -> Option<u32> {
        self.digest.as_ref().and_then(|d| d.nc)
    }

    /// `userhash=true`: [`username`](Self::username) is `H(username ":" realm)`.
    pub fn userhash(&self) -> bool {
        self.digest.as_ref().is_some_and(|d| d.userhash)
    }

    /// Any parameter by name (case-insensitive), unquoted. `None` when absent, or when
    /// the parameters of a non-Digest scheme are not `name=value` pairs.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        find_param(&self.text, self.params, name)
    }

    /// The value as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn digest_value(&self, field: impl FnOnce(&DigestCredentials) -> Option<&Value>) -> Option<&str> {
        self.digest.as_deref().and_then(field).map(|v| v.get(&self.text))
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Credentials {}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?})", &*self.text)
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Builds `Digest` credentials; see [`Credentials::builder`]. Parameters are written in
/// the order username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc,
/// userhash.
#[derive(Debug, Clone)]
#[must_use]
pub struct CredentialsBuilder<'a> {
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    uri: &'a str,
    response: &'a str,
    algorithm: Option<DigestAlgorithm>,
    cnonce: Option<&'a str>,
    opaque: Option<&'a str>,
    qop: Option<Qop>,
    nc: Option<u32>,
    userhash: bool,
}

impl<'a> CredentialsBuilder<'a> {
    /// The `algorithm`. Without it the credentials mean MD5.
    pub fn algorithm(mut self, algorithm: DigestAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The client nonce `cnonce`.
    pub fn cnonce(mut self, cnonce: &'a str) -> Self {
        self.cnonce = Some(cnonce);
        self
    }

    /// The `opaque` echoed from the challenge.
    pub fn opaque(mut self, opaque: &'a str) -> Self {
        self.opaque = Some(opaque);
        self
    }

    /// The `qop`.
    pub fn qop(mut self, qop: Qop) -> Self {
        self.qop = Some(qop);
        self
    }

    /// The nonce count, written as 8 hex digits.
    pub fn nc(mut self, nc: u32) -> Self {
        self.nc = Some(nc);
        self
    }

    /// `userhash=true` when `userhash` (the username given is then its hash).
    pub fn userhash(mut self, userhash: bool) -> Self {
        self.userhash = userhash;
        self
    }

    /// The credentials. Fails with [`AuthParseError::Invalid`] when a value holds a
    /// control character other than a tab.
    pub fn build(self) -> Result<Credentials, AuthParseError> {
        let mut text = String::with_capacity(
            128 + self.username.len() + self.realm.len() + self.nonce.len() + self.uri.len(),
        );
        text.push_str("Digest ");
        let mut out = ParamWriter {
            text: &mut text,
            first: true,
        };
        out.quoted("username", self.username);
        out.quoted("realm", self.realm);
        out.quoted("nonce", self.nonce);
        out.quoted("uri", self.uri);
        out.quoted("response", self.response);
        if let Some(algorithm) = self.algorithm {
            out.plain("algorithm", algorithm.as_str());
        }
        if let Some(cnonce) = self.cnonce {
            out.quoted("cnonce", cnonce);
        }
        if let Some(opaque) = self.opaque {
            out.quoted("opaque", opaque);
        }
        if let Some(qop) = self.qop {
            out.plain("qop", qop.as_str());
        }
        if let Some(nc) = self.nc {
            out.plain("nc", &format!("{nc:08x}"));
        }
        if self.userhash {
            out.plain("userhash", "true");
        }
        Credentials::parse_shared(ByteString::from(text))
    }
}
