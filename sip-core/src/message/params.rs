//! `;name=value` parameter lists, read lazily from the text they were parsed from.

use std::borrow::Cow;
use std::fmt;

use super::grammar::{find_top_level, is_lws, trim_lws, unquote};

/// A view of a parameter list such as `;branch=z9hG4bK1;rport;received=192.0.2.1`.
///
/// Nothing is parsed until asked: looking a parameter up scans the text, which for the
/// handful of parameters a SIP header carries is faster than building a map. Names compare
/// case-insensitively (RFC 3261 §7.3.1). Values are returned as written; quoted values keep
/// their quotes, use [`Params::get_unquoted`] to remove them.
///
/// ```
/// use sip_core::message::Params;
/// let p = Params::new(";branch=z9hG4bK1; rport ;Received=192.0.2.1");
/// assert_eq!(p.get("branch"), Some(Some("z9hG4bK1")));
/// assert_eq!(p.get("rport"), Some(None));
/// assert_eq!(p.get("received"), Some(Some("192.0.2.1")));
/// assert_eq!(p.get("maddr"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// A view of `raw`, which starts at the first `;` (or is empty).
    pub fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The parameters as written, including the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every parameter as `(name, value)`, in order. A flag parameter has no value.
    pub fn iter(&self) -> ParamsIter<'a> {
        ParamsIter { rest: self.raw }
    }

    /// The value of the first parameter called `name`: `Some(None)` for a flag such as `lr`.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of `name` with quotes and escapes removed.
    pub fn get_unquoted(&self, name: &str) -> Option<Cow<'a, str>> {
        self.get(name).flatten().map(unquote)
    }

    /// True when a parameter called `name` is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// True when every parameter has a non-empty name without white space, and every value
    /// is non-empty and either quoted or free of white space (RFC 3261 `generic-param`).
    pub(crate) fn is_well_formed(&self) -> bool {
        self.iter().all(|(name, value)| {
            let name_ok = !name.is_empty() && !name.bytes().any(|b| is_lws(b) || b == b'"');
            name_ok
                && value.is_none_or(|v| {
                    !v.is_empty() && (v.as_bytes().first() == Some(&b'"') || !v.bytes().any(is_lws))
                })
        })
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`Params`].
#[derive(Clone)]
pub struct ParamsIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamsIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = trim_lws(self.rest);
        let rest = rest.strip_prefix(';')?;
        let end = find_top_level(rest, b';').unwrap_or(rest.len());
        let (param, tail) = rest.split_at(end);
        self.rest = tail;
        Some(match memchr::memchr(b'=', param.as_bytes()) {
            Some(eq) => (
                trim_lws(param.get(..eq).unwrap_or("")),
                Some(trim_lws(param.get(eq + 1..).unwrap_or(""))),
            ),
            None => (trim_lws(param), None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_equals_is_ignored() {
        // RFC 4475 §3.1.1.1 (wsinv): `;   tag    = 1918181833n`
        let p = Params::new(" ;   tag    = 1918181833n");
        assert_eq!(p.get("tag"), Some(Some("1918181833n")));
    }

    #[test]
    fn quoted_values_may_hold_semicolons() {
        let p = Params::new(r#";a="x;y";b"#);
        assert_eq!(p.get("a"), Some(Some(r#""x;y""#)));
        assert_eq!(p.get_unquoted("a").as_deref(), Some("x;y"));
        assert!(p.contains("b"));
    }

    #[test]
    fn empty_parameters_are_not_well_formed() {
        // RFC 4475 §3.1.2.1 (badinv01)
        assert!(!Params::new(";;;;").is_well_formed());
        assert!(!Params::new(";tag=").is_well_formed());
        assert!(Params::new(";lr;q=0.5").is_well_formed());
        assert!(Params::new("").is_well_formed());
    }
}
