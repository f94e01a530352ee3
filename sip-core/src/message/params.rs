//! `;name=value` parameter lists, read lazily from the text they were parsed from.

use std::borrow::Cow;
use std::fmt;

use super::grammar::{closing_quote, find_top_level, is_lws, trim_lws, unquote};

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
        self.check() != ParamsCheck::Malformed
    }

    /// Like [`Params::is_well_formed`], telling apart text that cannot hold a list
    /// separator.
    pub(crate) fn check(&self) -> ParamsCheck {
        check_params(self.raw.as_bytes())
    }
}

/// What [`Params::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamsCheck {
    /// Not well formed.
    Malformed,
    /// Well formed.
    WellFormed,
    /// Well formed, without white space, and without a comma or '<' outside its quoted
    /// values: a splitter of comma lists ([`split_top_level`](super::grammar::split_top_level))
    /// finds no separator in it, so a header line ending in it holds no further value.
    Single,
}

/// One pass over `;name[=value]` parameters: every name is non-empty and has no white space
/// or quote, every value after `=` is non-empty and is either a quoted string or free of
/// white space. LWS around `;` and `=` is allowed (RFC 3261 §25.1 `SEMI`, `EQUAL`).
fn check_params(bytes: &[u8]) -> ParamsCheck {
    // Fast path for the usual text: runs of ordinary bytes (names, values) are skipped four
    // at a time; every `;` or `=` must be followed by an ordinary byte, a quoted value right
    // after `=` is jumped over whole, and white space or a stray quote or backslash sends
    // the text to the general parser. A comma or '<' is ordinary here but noted: it may be a
    // list separator (or hide one) to a reader of the whole line.
    let mut previous_separator = false;
    let mut single = true;
    let mut i = 0;
    loop {
        let run_end = skip_ordinary(bytes, i);
        if run_end > i {
            previous_separator = false;
            i = run_end;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match param_byte_class(b) {
            SEPARATOR if previous_separator => return ParamsCheck::Malformed,
            SEPARATOR => previous_separator = true,
            LIST => {
                single = false;
                previous_separator = false;
            }
            // A quoted value right after `=`: jump to its closing quote.
            QUOTE if i > 0 && bytes.get(i - 1) == Some(&b'=') => {
                let Some(close) = bytes.get(i + 1..).and_then(closing_quote) else {
                    return ParamsCheck::Malformed;
                };
                i += close + 1;
                previous_separator = false;
            }
            _ if well_formed_params_with_lws(bytes) => return ParamsCheck::WellFormed,
            _ => return ParamsCheck::Malformed,
        }
        i += 1;
    }
    if !bytes.is_empty() && (bytes.first() != Some(&b';') || previous_separator) {
        ParamsCheck::Malformed
    } else if single {
        ParamsCheck::Single
    } else {
        ParamsCheck::WellFormed
    }
}

/// Where the run of ordinary bytes starting at `bytes[from]` ends, four bytes a step. The
/// position stays an index into the whole text: the runs between separators are short, so
/// starting one must cost little.
#[inline(always)]
fn skip_ordinary(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(&[a, b, c, d]) = bytes.get(i..i + 4).and_then(<[u8]>::first_chunk::<4>) {
        if param_byte_class(a) != ORDINARY {
            return i;
        }
        if param_byte_class(b) != ORDINARY {
            return i + 1;
        }
        if param_byte_class(c) != ORDINARY {
            return i + 2;
        }
        if param_byte_class(d) != ORDINARY {
            return i + 3;
        }
        i += 4;
    }
    while bytes.get(i).is_some_and(|&b| param_byte_class(b) == ORDINARY) {
        i += 1;
    }
    i
}

const ORDINARY: u8 = 0;
const SEPARATOR: u8 = 1;
const SPECIAL: u8 = 2;
const QUOTE: u8 = 3;
const LIST: u8 = 4;

/// `;` and `=` separate; white space, quotes and backslashes need the general parser; commas
/// and '<' matter to list splitting.
// Constant indexes into a 256-entry table cannot be out of bounds.
#[allow(clippy::indexing_slicing)]
static PARAM_BYTE_CLASS: [u8; 256] = {
    let mut table = [ORDINARY; 256];
    table[b';' as usize] = SEPARATOR;
    table[b'=' as usize] = SEPARATOR;
    table[b'"' as usize] = QUOTE;
    table[b'\\' as usize] = SPECIAL;
    table[b' ' as usize] = SPECIAL;
    table[b'\t' as usize] = SPECIAL;
    table[b'\r' as usize] = SPECIAL;
    table[b'\n' as usize] = SPECIAL;
    table[b',' as usize] = LIST;
    table[b'<' as usize] = LIST;
    table
};

#[inline]
#[allow(clippy::indexing_slicing)] // a u8 indexes a 256-entry table
fn param_byte_class(b: u8) -> u8 {
    PARAM_BYTE_CLASS[b as usize]
}

/// The general case of [`is_well_formed_params`]: white space around separators, quoted
/// values.
fn well_formed_params_with_lws(bytes: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum State {
        /// Before a `;` (start, or after a complete parameter).
        BeforeSemi,
        /// After `;`, before the name.
        BeforeName,
        InName,
        /// After the name (white space), before `=` or `;`.
        AfterName,
        /// After `=`, before the value.
        BeforeValue,
        InValue,
        InQuoted,
    }
    let mut state = State::BeforeSemi;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let lws = is_lws(b);
        state = match state {
            State::BeforeSemi if lws => State::BeforeSemi,
            State::BeforeSemi | State::InName | State::AfterName | State::InValue if b == b';' => {
                State::BeforeName
            }
            State::BeforeSemi => return false,
            State::BeforeName if lws => State::BeforeName,
            State::BeforeName if b == b';' => return false,
            State::BeforeName | State::InName if b == b'"' || b == b'=' && state == State::BeforeName => {
                return false;
            }
            State::BeforeName => State::InName,
            State::InName | State::AfterName if b == b'=' => State::BeforeValue,
            State::InName if lws => State::AfterName,
            State::InName => State::InName,
            State::AfterName if lws => State::AfterName,
            State::AfterName => return false,
            State::BeforeValue if lws => State::BeforeValue,
            State::BeforeValue if b == b';' => return false,
            State::BeforeValue if b == b'"' => State::InQuoted,
            State::BeforeValue => State::InValue,
            State::InValue if lws => State::BeforeSemi,
            State::InValue => State::InValue,
            State::InQuoted if b == b'\\' => {
                i += 1;
                State::InQuoted
            }
            State::InQuoted if b == b'"' => State::BeforeSemi,
            State::InQuoted => State::InQuoted,
        };
        i += 1;
    }
    matches!(
        state,
        State::BeforeSemi | State::InName | State::AfterName | State::InValue
    )
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
        assert!(Params::new(" ;  tag  =  x ; lr ;q=\"a;b\"").is_well_formed());
        assert!(!Params::new(";a=b c").is_well_formed());
        assert!(!Params::new(";=b").is_well_formed());
        assert!(!Params::new(";a=").is_well_formed());
        assert!(!Params::new("x;a").is_well_formed());
        assert!(!Params::new(";a=\"open").is_well_formed());
        assert!(!Params::new(";a b").is_well_formed());
    }
}
