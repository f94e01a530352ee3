//! The headers of digest authentication: challenges (WWW-Authenticate,
//! Proxy-Authenticate) and credentials (Authorization, Proxy-Authorization), RFC 3261
//! §20.7, §20.27, §20.28, §20.44 and §25, with the algorithms of RFC 7616 and RFC 8760.
//!
//! Parsing is lenient where peers commonly stray from the ABNF: parameter names in any
//! case, `algorithm`, `qop`, `nc` and `stale` quoted or not, white space around `=` and
//! commas, empty list elements, a missing comma after a value. Building is exact: the
//! parameters RFC 7616 §3.3 and §3.4 quote are quoted, `algorithm`, `qop`, `nc`, `stale`
//! and `userhash` are not.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{is_lws, is_token, is_token_char, push_quoted, quoted_string_len, trim_lws};
use crate::message::span::Span;

mod challenge;
mod credentials;
#[cfg(test)]
mod tests;

pub use challenge::{Challenge, ChallengeBuilder};
pub use credentials::{Credentials, CredentialsBuilder};

/// A digest algorithm (RFC 7616 §3.3 and §6.1; RFC 8760 §2.2 and §3): the hash function
/// and whether HA1 is computed once per session (`-sess`). Names compare
/// case-insensitively; an absent `algorithm` parameter means [`DigestAlgorithm::Md5`].
///
/// ```
/// use sip_core::message::DigestAlgorithm;
/// let a = DigestAlgorithm::parse("sha-512-256-SESS").unwrap();
/// assert_eq!(a, DigestAlgorithm::Sha512_256Sess);
/// assert!(a.is_session());
/// assert_eq!(a.to_string(), "SHA-512-256-sess");
/// assert_eq!(DigestAlgorithm::parse("SHA-1"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// `MD5` (RFC 2617, RFC 3261): the default, and the only one many peers know.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`: SHA-512/256 (FIPS 180-4), the strongest of the registered ones.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl DigestAlgorithm {
    /// Every algorithm, strongest last.
    pub const ALL: [DigestAlgorithm; 6] = [
        DigestAlgorithm::Md5,
        DigestAlgorithm::Md5Sess,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha256Sess,
        DigestAlgorithm::Sha512_256,
        DigestAlgorithm::Sha512_256Sess,
    ];

    /// The algorithm named `s`, ignoring case; `None` for a name this crate does not know.
    pub fn parse(s: &str) -> Option<DigestAlgorithm> {
        DigestAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The name as RFC 7616 §6.1 registers it (`MD5`, `SHA-256-sess`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
            DigestAlgorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// True for the `-sess` variants, whose HA1 also covers the nonce and cnonce
    /// (RFC 7616 §3.4.2).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            DigestAlgorithm::Md5Sess | DigestAlgorithm::Sha256Sess | DigestAlgorithm::Sha512_256Sess
        )
    }

    /// The strength of the hash function: 0 for MD5, 1 for SHA-256, 2 for SHA-512/256.
    /// A session variant is as strong as its plain one.
    pub fn strength(self) -> u8 {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => 0,
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => 1,
            DigestAlgorithm::Sha512_256 | DigestAlgorithm::Sha512_256Sess => 2,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quality of protection (RFC 7616 §3.3; RFC 3261 §25 `qop-value`). Extension values
/// are not represented: a challenge's unknown options are skipped, and credentials with
/// one report [`Credentials::qop`] as `None` (the text stays in [`Credentials::qop_str`]).
///
/// ```
/// use sip_core::message::Qop;
/// assert_eq!(Qop::parse("AUTH-INT"), Some(Qop::AuthInt));
/// assert_eq!(Qop::Auth.to_string(), "auth");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication of the request line.
    Auth,
    /// `auth-int`: authentication with integrity protection of the body.
    AuthInt,
}

impl Qop {
    /// The qop named `s`, ignoring case.
    pub fn parse(s: &str) -> Option<Qop> {
        if s.eq_ignore_ascii_case("auth") {
            Some(Qop::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }

    /// `auth` or `auth-int`.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a challenge or credentials value could not be read or built. The parameter names
/// are those of RFC 7616 (`"realm"`, `"nonce"`, `"nc"`, …), in lower case.
///
/// ```
/// use sip_core::message::{AuthParseError, Challenge};
/// assert_eq!(Challenge::parse("Digest nonce=\"1\"").unwrap_err(), AuthParseError::Missing("realm"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuthParseError {
    /// The value does not start with an authentication scheme (a token).
    #[error("no authentication scheme")]
    Scheme,
    /// The parameters are not `name=value` pairs separated by commas, or a quoted string
    /// is not closed.
    #[error("malformed authentication parameters")]
    Syntax,
    /// A parameter the digest scheme needs is absent: `realm` or `nonce` in a challenge;
    /// `username`, `realm`, `nonce`, `uri` or `response` in credentials.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A digest parameter appears twice, which would make the value ambiguous.
    #[error("parameter {0} appears more than once")]
    Duplicate(&'static str),
    /// A digest parameter's value is invalid: `nc` is not 8 hex digits, or a value holds
    /// a control character (which a header cannot carry).
    #[error("invalid value of parameter {0}")]
    Invalid(&'static str),
}

impl From<AuthParseError> for ParseError {
    fn from(_: AuthParseError) -> ParseError {
        ParseError::new(ParseErrorKind::HeaderValue)
    }
}

/// A parameter value: a span of the header text, or its unescaped copy when the quoted
/// string held quoted-pairs (`\"`).
#[derive(Clone)]
enum Value {
    At(Span),
    Unescaped(Box<str>),
}

impl Value {
    fn get<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Value::At(span) => span.get(text),
            Value::Unescaped(value) => value,
        }
    }
}

/// One `name=value` of an auth header, as found.
struct RawParam<'a> {
    name: &'a str,
    /// The value without its quotes.
    value: &'a str,
    /// True when the quoted value holds a quoted-pair.
    escaped: bool,
}

impl RawParam<'_> {
    fn value(&self, text: &str) -> Value {
        if self.escaped {
            Value::Unescaped(unescape(self.value).into())
        } else {
            Value::At(Span::of(text, self.value))
        }
    }
}

/// The digest parameters found in a header value.
struct Fields<'l, 'a> {
    /// The text the parameters point into.
    text: &'a str,
    list: &'l [RawParam<'a>],
}

impl Fields<'_, '_> {
    /// The parameter `name`, which may appear at most once.
    fn find(&self, name: &'static str) -> Result<Option<&RawParam<'_>>, AuthParseError> {
        let mut found = self.list.iter().filter(|p| p.name.eq_ignore_ascii_case(name));
        let first = found.next();
        if found.next().is_some() {
            return Err(AuthParseError::Duplicate(name));
        }
        Ok(first)
    }

    fn optional(&self, name: &'static str) -> Result<Option<Value>, AuthParseError> {
        Ok(self.find(name)?.map(|p| p.value(self.text)))
    }

    fn required(&self, name: &'static str) -> Result<Value, AuthParseError> {
        self.optional(name)?.ok_or(AuthParseError::Missing(name))
    }

    /// A `true`/`false` parameter (RFC 7616 §3.3 `stale`, §3.4 `userhash`), in any case,
    /// quoted or not; any other value counts as false, as RFC 7616 §3.3 says of `stale`.
    fn flag(&self, name: &'static str) -> Result<bool, AuthParseError> {
        Ok(self
            .find(name)?
            .is_some_and(|p| p.value.eq_ignore_ascii_case("true")))
    }
}

fn is_digest_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("Digest")
}

/// Splits a challenge or credentials value into the text without surrounding white
/// space, the scheme (a token) and what follows it.
fn split_scheme(text: ByteString) -> Result<(ByteString, Span, Span), AuthParseError> {
    let text = text.slice_ref(trim_lws(&text));
    let end = text.bytes().position(is_lws).unwrap_or(text.len());
    let scheme = text.get(..end).unwrap_or("");
    if !is_token(scheme) {
        return Err(AuthParseError::Scheme);
    }
    let (scheme, params) = (Span::new(0, end), Span::new(end, text.len()));
    Ok((text, scheme, params))
}

/// Reads the comma-separated `name=value` parameters of the span `params` of `text`
/// (RFC 3261 §25 `auth-param`, leniently): names are tokens; values are quoted strings or
/// runs of anything but white space, commas and quotes; white space may surround `=` and
/// commas, elements may be empty, and a comma missing between two parameters is
/// forgiven. A control character other than a tab is refused in a value.
fn parse_params(text: &str, params: Span) -> Result<Vec<RawParam<'_>>, AuthParseError> {
    let s = params.get(text);
    let bytes = s.as_bytes();
    let mut list = Vec::new();
    let mut i = 0;
    let skip = |mut i: usize, also_commas: bool| {
        while let Some(&b) = bytes.get(i) {
            if !(is_lws(b) || also_commas && b == b',') {
                break;
            }
            i += 1;
        }
        i
    };
    loop {
        i = skip(i, true);
        if i >= bytes.len() {
            return Ok(list);
        }
        let name_start = i;
        while bytes.get(i).copied().is_some_and(is_token_char) {
            i += 1;
        }
        let name = s.get(name_start..i).unwrap_or("");
        if name.is_empty() {
            return Err(AuthParseError::Syntax);
        }
        i = skip(i, false);
        if bytes.get(i) != Some(&b'=') {
            return Err(AuthParseError::Syntax);
        }
        i = skip(i + 1, false);
        let rest = s.get(i..).unwrap_or("");
        let (value, escaped) = if rest.starts_with('"') {
            let len = quoted_string_len(rest).ok_or(AuthParseError::Syntax)?;
            i += len;
            let inner = rest.get(1..len - 1).unwrap_or("");
            (inner, inner.contains('\\'))
        } else {
            let len = rest
                .bytes()
                .position(|b| is_lws(b) || b == b',' || b == b'"')
                .unwrap_or(rest.len());
            if len == 0 {
                return Err(AuthParseError::Syntax);
            }
            i += len;
            (rest.get(..len).unwrap_or(""), false)
        };
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(AuthParseError::Invalid(known_name(name)));
        }
        list.push(RawParam { name, value, escaped });
        // After a value: a comma, the end, or (forgiven) the next parameter's name.
        i = skip(i, false);
        match bytes.get(i) {
            None | Some(b',') => {}
            Some(&b) if is_token_char(b) => {}
            Some(_) => return Err(AuthParseError::Syntax),
        }
    }
}

/// The RFC 7616 name of a digest parameter `name` for an error, or `"auth-param"` for
/// one it does not define.
fn known_name(name: &str) -> &'static str {
    const KNOWN: [&str; 16] = [
        "realm",
        "domain",
        "nonce",
        "opaque",
        "stale",
        "algorithm",
        "qop",
        "charset",
        "userhash",
        "username",
        "uri",
        "response",
        "cnonce",
        "nc",
        "username*",
        "auth-param",
    ];
    KNOWN
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .unwrap_or("auth-param")
}

/// The parameter `name` of the span `params` of `text`, unquoted; `None` when absent or
/// when the parameters do not parse.
fn find_param<'a>(text: &'a str, params: Span, name: &str) -> Option<Cow<'a, str>> {
    let list = parse_params(text, params).ok()?;
    let found = list.into_iter().find(|p| p.name.eq_ignore_ascii_case(name))?;
    Some(if found.escaped {
        Cow::Owned(unescape(found.value))
    } else {
        Cow::Borrowed(found.value)
    })
}

/// The content of a quoted string (without its quotes) with its quoted-pairs resolved.
fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `nc-value = 8LHEX` (RFC 7616 §3.4); upper-case digits are accepted too.
fn parse_nc(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Writes `name=value` parameters after `Digest `, separated by `", "`.
struct ParamWriter<'a> {
    text: &'a mut String,
    first: bool,
}

impl ParamWriter<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.text.push_str(", ");
        }
    }

    /// `name="value"`, escaping `"` and `\`.
    fn quoted(&mut self, name: &str, value: &str) {
        self.separate();
        self.text.push_str(name);
        self.text.push('=');
        push_quoted(self.text, value);
    }

    /// `name=value`, for tokens.
    fn plain(&mut self, name: &str, value: &str) {
        self.separate();
        self.text.push_str(name);
        self.text.push('=');
        self.text.push_str(value);
    }
}
