//! Character classes and small lexical helpers from the RFC 3261 §25 grammar, shared by
//! every parser in this module.

use std::borrow::Cow;

/// Bit flags per octet: which RFC 3261 character classes it belongs to.
const TOKEN: u8 = 1;
const WORD: u8 = 2;

// A `u8` index into a 256-entry table cannot be out of bounds.
#[allow(clippy::indexing_slicing)]
const fn build_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
        let token_mark = matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        );
        // word adds ( ) < > : \ DQUOTE / [ ] ? { }
        let word_extra = matches!(
            b,
            b'(' | b')' | b'<' | b'>' | b':' | b'\\' | b'"' | b'/' | b'[' | b']' | b'?' | b'{' | b'}'
        );
        let mut flags = 0;
        if alnum || token_mark {
            flags |= TOKEN | WORD;
        }
        if word_extra {
            flags |= WORD;
        }
        table[c] = flags;
        c += 1;
    }
    table
}

static CLASSES: [u8; 256] = build_classes();

/// `token` character (RFC 3261 §25.1).
#[inline]
#[allow(clippy::indexing_slicing)] // a u8 indexes a 256-entry table
pub(crate) fn is_token_char(b: u8) -> bool {
    CLASSES[b as usize] & TOKEN != 0
}

/// `word` character, as used by Call-ID (RFC 3261 §25.1).
#[inline]
#[allow(clippy::indexing_slicing)] // a u8 indexes a 256-entry table
pub(crate) fn is_word_char(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

/// True when `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// SP or HTAB.
#[inline]
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Linear white space after unfolding: SP, HTAB, and (defensively) CR/LF.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space from both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|&c| !is_lws(c)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&c| !is_lws(c))
        .map_or(start, |last| last + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    s.get(start..end).unwrap_or("")
}

/// Trims linear white space from the start.
#[inline]
pub(crate) fn trim_lws_start(s: &str) -> &str {
    let start = s.bytes().position(|c| !is_lws(c)).unwrap_or(s.len());
    s.get(start..).unwrap_or("")
}

/// Parses a decimal number of any length (leading zeros allowed, RFC 4475 §3.1.1.1),
/// refusing overflow (RFC 4475 §3.1.2.4) instead of wrapping.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u32, |acc, d| {
        let digit = d.is_ascii_digit().then(|| u32::from(d - b'0'))?;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Index of the first byte of `bytes` for which `stop` holds, or `bytes.len()`.
///
/// Four bytes per step: the runs a SIP parser scans (header names, host names, tokens) are
/// a few to a few dozen bytes, too short for SIMD to pay off, and unrolling halves the
/// per-byte loop bookkeeping of a plain `position`.
#[inline(always)]
pub(crate) fn position_of(bytes: &[u8], stop: impl Fn(u8) -> bool) -> usize {
    let mut chunks = bytes.chunks_exact(4);
    let mut base = 0;
    for chunk in &mut chunks {
        if let &[a, b, c, d] = chunk {
            if stop(a) {
                return base;
            }
            if stop(b) {
                return base + 1;
            }
            if stop(c) {
                return base + 2;
            }
            if stop(d) {
                return base + 3;
            }
        }
        base += 4;
    }
    let rest = chunks.remainder();
    base + rest.iter().position(|&b| stop(b)).unwrap_or(rest.len())
}

/// The first `needle` in `haystack`, like `memchr::memchr`. Header values are short, so on
/// x86-64 (which always has SSE2) the SSE2 searcher is used directly, without the run-time
/// CPU dispatch `memchr::memchr` goes through on every call.
#[inline]
pub(crate) fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return finder.find(haystack);
    }
    memchr::memchr(needle, haystack)
}

/// The first `a` or `b` in `haystack`, like `memchr::memchr2`, and like [`find_byte`] without
/// the run-time CPU dispatch on x86-64.
#[inline]
pub(crate) fn find_byte2(a: u8, b: u8, haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::Two::new(a, b) {
        return finder.find(haystack);
    }
    memchr::memchr2(a, b, haystack)
}

/// Finds the first `needle` byte that is outside a quoted string and outside `<...>`.
/// Jumps between interesting bytes with `memchr3`, so plain values cost one search.
pub(crate) fn find_top_level(s: &str, needle: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut at = 0;
    loop {
        let found = at + memchr::memchr3(needle, b'"', b'<', bytes.get(at..)?)?;
        match bytes.get(found) {
            Some(b'"') => at = found + 1 + closing_quote(bytes.get(found + 1..)?)? + 1,
            Some(b'<') if needle != b'<' => {
                at = found + 1 + memchr::memchr(b'>', bytes.get(found + 1..)?)? + 1
            }
            _ => return Some(found),
        }
    }
}

/// Index of the `"` that closes a quoted string whose opening quote came just before
/// `rest`, skipping quoted-pairs.
pub(crate) fn closing_quote(rest: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        i += find_byte2(b'"', b'\\', rest.get(i..)?)?;
        if rest.get(i) == Some(&b'"') {
            return Some(i);
        }
        i += 2;
    }
}

/// Splits `s` on `sep` where it is outside quotes and angle brackets, trimming LWS around
/// each piece. Empty input yields nothing; empty pieces between separators are yielded
/// as empty strings so callers can reject them (RFC 4475 §3.1.2.1).
pub(crate) fn split_top_level(s: &str, sep: u8) -> TopLevelSplit<'_> {
    TopLevelSplit {
        rest: Some(s),
        sep,
        after_separator: false,
    }
}

/// Iterator returned by [`split_top_level`].
pub(crate) struct TopLevelSplit<'a> {
    rest: Option<&'a str>,
    sep: u8,
    after_separator: bool,
}

impl<'a> Iterator for TopLevelSplit<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        // Most list headers hold one value per line: with no separator byte at all there is
        // nothing to split, and one SIMD search beats hopping over quotes and brackets.
        let found = if find_byte(self.sep, rest.as_bytes()).is_some() {
            find_top_level(rest, self.sep)
        } else {
            None
        };
        match found {
            Some(i) => {
                self.rest = Some(rest.get(i + 1..).unwrap_or(""));
                self.after_separator = true;
                Some(trim_lws(rest.get(..i).unwrap_or("")))
            }
            None => {
                self.rest = None;
                let piece = trim_lws(rest);
                // Empty input has no elements; a trailing separator leaves an empty one.
                (self.after_separator || !piece.is_empty()).then_some(piece)
            }
        }
    }
}

/// Removes the quotes and quoted-pair escapes of a `quoted-string`; other text is returned
/// as is (LWS-trimmed).
pub(crate) fn unquote(s: &str) -> Cow<'_, str> {
    let s = trim_lws(s);
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
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
    Cow::Owned(out)
}

/// Length of the `quoted-string` at the start of `s` (which must begin with `"`), including
/// both quotes, or `None` when it is unterminated (RFC 4475 §3.1.2.6).
pub(crate) fn quoted_string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        i += find_byte2(b'"', b'\\', bytes.get(i..)?)?;
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            // A quoted-pair: the escaped byte is skipped whatever it is.
            _ => i += 2,
        }
    }
}

/// Decodes `%HH` escapes (RFC 3261 §25.1 `escaped`). Only one level: `%2541` is `%41`, not `A`
/// (RFC 4475 §3.1.1.3). A `%` that does not start a valid escape is kept literally.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|h| (*h as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|h| (*h as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // Two hex digits make a value below 256.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

/// True for the octets an `hvalue` (and `hname`) of a URI's headers holds as they are
/// (RFC 3261 §25.1: `hnv-unreserved / unreserved`); every other octet is `escaped`.
pub(crate) fn is_hvalue_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            // mark
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            // hnv-unreserved
            | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$'
        )
}

/// Appends `value` to `out` as an RFC 3261 §25.1 `hvalue`: octets outside
/// [`is_hvalue_char`] (`;`, `=`, `@`, `%`, `&`, white space, non-ASCII, …) become `%HH`.
/// [`percent_decode`] gives `value` back.
pub(crate) fn push_hvalue_escaped(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if is_hvalue_char(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
            }
        }
    }
}

/// Validates `%` escapes: every `%` must be followed by two hex digits.
pub(crate) fn escapes_are_valid(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'%', bytes).all(|i| {
        matches!(
            (bytes.get(i + 1), bytes.get(i + 2)),
            (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
        )
    })
}

/// True when `s` needs quoting to be used as a display name (is not `*(token LWS)`).
pub(crate) fn needs_quotes(s: &str) -> bool {
    s.is_empty() || !s.bytes().all(|b| is_token_char(b) || b == b' ')
}

/// Writes `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_class_matches_rfc3261() {
        for c in "abcXYZ019-.!%*_+`'~".bytes() {
            assert!(is_token_char(c), "{}", c as char);
        }
        for c in " \t\"(),/:;<=>?@[\\]{}".bytes() {
            assert!(!is_token_char(c), "{}", c as char);
        }
    }

    #[test]
    fn parse_u32_accepts_leading_zeros_and_refuses_overflow() {
        assert_eq!(parse_u32("0068"), Some(68));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("36893488147419103232"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32(""), None);
    }

    #[test]
    fn split_top_level_ignores_commas_in_quotes_and_brackets() {
        let parts: Vec<_> = split_top_level(r#""a, \"b" <sip:x@y;p=1,2>;q=1 , <sip:z>"#, b',').collect();
        assert_eq!(parts, vec![r#""a, \"b" <sip:x@y;p=1,2>;q=1"#, "<sip:z>"]);
        let empties: Vec<_> = split_top_level("a,,b", b',').collect();
        assert_eq!(empties, vec!["a", "", "b"]);
        assert_eq!(split_top_level("  ", b',').count(), 0);
    }

    #[test]
    fn unquote_removes_escapes() {
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        assert_eq!(unquote("token"), "token");
    }

    #[test]
    fn hvalue_escaping_keeps_only_unreserved_octets() {
        let mut out = String::new();
        push_hvalue_escaped(&mut out, "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994");
        assert_eq!(
            out,
            "12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994"
        );
        let mut out = String::new();
        push_hvalue_escaped(&mut out, "a b%&<>\"[]/?:+$()é");
        assert_eq!(out, "a%20b%25%26%3C%3E%22[]/?:+$()%C3%A9");
        assert_eq!(&*percent_decode(&out), "a b%&<>\"[]/?:+$()é".as_bytes());
    }

    #[test]
    fn percent_decode_is_one_level_only() {
        assert_eq!(&*percent_decode("value%2541"), b"value%41");
        assert_eq!(&*percent_decode("null-%00-null"), b"null-\0-null");
        assert_eq!(&*percent_decode("%Z%45"), b"%ZE");
    }
}
