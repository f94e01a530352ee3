//! The header section: an ordered multimap that keeps every header byte-exact.

use std::fmt;

use bytestring::ByteString;

use super::grammar::{is_token_char, split_top_level};
use super::name::HeaderName;
use super::span::Span;

/// The headers of a message, in the order they were received or added.
///
/// Parsed headers point into the received message (no copy). Each keeps its name as spelled
/// and its line as received, so an untouched header is serialized byte for byte (RFC 4475
/// §3.1.1.1 keeps `UnknownHeaderWithUnusualValue: ;;,,;;,;` intact). Values are returned
/// with folding unfolded (RFC 3261 §7.3.1) and surrounding white space trimmed.
///
/// Lookups accept a [`HeaderName`] or a `&str` (case-insensitive, compact forms included):
///
/// ```
/// use sip_core::message::{HeaderName, Headers};
/// let mut headers = Headers::new();
/// headers.push(HeaderName::Via, "SIP/2.0/UDP a.example.com;branch=z9hG4bK1");
/// headers.push_named("X-Trace", "42");
/// headers.push(HeaderName::Supported, "100rel, timer");
/// assert_eq!(headers.get("v"), Some("SIP/2.0/UDP a.example.com;branch=z9hG4bK1"));
/// assert_eq!(headers.get("x-trace"), Some("42"));
/// assert_eq!(headers.values(HeaderName::Supported).collect::<Vec<_>>(), ["100rel", "timer"]);
/// ```
#[derive(Clone)]
pub struct Headers {
    /// The text that parsed entries' spans index into: the received message head.
    source: ByteString,
    entries: Vec<Entry>,
    /// One bit per known [`HeaderName`] present, so a lookup of an absent header costs
    /// nothing and a lookup of one that appears once stops at the first match.
    seen: u64,
    /// One bit per known [`HeaderName`] present more than once.
    repeated: u64,
    /// For the headers looked up most, 1 + the index of the first entry (capped at 255:
    /// "at or after 254"), 0 when absent. Lookups start there instead of at the top.
    first: [u8; INDEXED],
    /// Likewise 1 + the index of the last entry (255: "at or after 254"), so a repeated
    /// header's lines are found without walking the headers after them.
    last: [u8; INDEXED],
}

/// How many header names [`Headers`] indexes by position.
const INDEXED: usize = 12;

/// The index slot of the headers a stack looks up on every message.
#[inline]
fn index_slot(name: HeaderName) -> Option<usize> {
    // One table load: this runs for every header line parsed.
    let slot = *INDEX_SLOTS.get(usize::from(name as u8))?;
    (slot != NO_SLOT).then_some(usize::from(slot))
}

/// [`index_slot`] by [`HeaderName`] discriminant (fewer than 64, checked by a test).
const NO_SLOT: u8 = u8::MAX;
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
static INDEX_SLOTS: [u8; 64] = {
    let mut slots = [NO_SLOT; 64];
    let indexed = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Contact,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::Require,
    ];
    assert!(indexed.len() == INDEXED);
    let mut slot = 0;
    while slot < indexed.len() {
        slots[indexed[slot] as usize] = slot as u8;
        slot += 1;
    }
    slots
};

/// The bit of a known name in [`Headers::seen`] (none for [`HeaderName::Other`]).
#[inline]
fn name_bit(name: HeaderName) -> u64 {
    if name == HeaderName::Other {
        0
    } else {
        // Fewer than 64 known names (checked by a test).
        1u64 << (name as u8 as u32 & 63)
    }
}

/// One header line. A parsed, untouched header is four small numbers pointing into the
/// source (24 bytes); anything built, modified or unfolded lives in a box of its own, so
/// the common case stays compact and is written with a single store.
#[derive(Clone)]
enum Entry {
    Parsed {
        name: HeaderName,
        /// The name is `line.start .. line.start + name_len`.
        name_len: u16,
        /// The whole line as received, for byte-exact output.
        line: Span,
        value: Span,
    },
    Owned(Box<OwnedEntry>),
}

#[derive(Clone)]
struct OwnedEntry {
    name: HeaderName,
    raw_name: ByteString,
    value: ByteString,
    /// The line(s) as received when this is a folded parsed header; `None` once built.
    raw_line: Option<Span>,
}

impl Entry {
    fn owned(name: HeaderName, raw_name: ByteString, value: ByteString) -> Entry {
        Entry::Owned(Box::new(OwnedEntry {
            name,
            raw_name,
            value,
            raw_line: None,
        }))
    }

    #[inline]
    fn name(&self) -> HeaderName {
        match self {
            Entry::Parsed { name, .. } => *name,
            Entry::Owned(owned) => owned.name,
        }
    }

    #[inline]
    fn raw_name<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            Entry::Parsed { name_len, line, .. } => {
                Span::new(line.start as usize, line.start as usize + usize::from(*name_len)).get(source)
            }
            Entry::Owned(owned) => &owned.raw_name,
        }
    }

    #[inline]
    fn value<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            Entry::Parsed { value, .. } => value.get(source),
            Entry::Owned(owned) => &owned.value,
        }
    }

    #[inline]
    fn raw_line<'a>(&self, source: &'a str) -> Option<&'a str> {
        self.raw_span().map(|line| line.get(source))
    }

    /// Where the line as received sits in the source, if it is kept.
    fn raw_span(&self) -> Option<Span> {
        match self {
            Entry::Parsed { line, .. } => Some(*line),
            Entry::Owned(owned) => owned.raw_line,
        }
    }
}

/// Writes a whole header section into one buffer: each header becomes a span of it, as if
/// parsed, so a built message costs one allocation for all its header text instead of one
/// per header, and serializes line by line as written.
pub(crate) struct HeaderWriter {
    text: String,
    lines: Vec<(HeaderName, Span, Span, usize)>,
}

impl HeaderWriter {
    /// A writer with room for about `bytes` of text and `headers` headers.
    pub(crate) fn with_capacity(bytes: usize, headers: usize) -> Self {
        HeaderWriter {
            text: String::with_capacity(bytes),
            lines: Vec::with_capacity(headers),
        }
    }

    /// Appends `name: value`. Line breaks in `value` become spaces.
    pub(crate) fn push(&mut self, name: HeaderName, value: &str) {
        self.push_parts(name, &[value]);
    }

    /// Appends `name: ` followed by the concatenation of `parts`.
    pub(crate) fn push_parts(&mut self, name: HeaderName, parts: &[&str]) {
        let start = self.text.len();
        self.text.push_str(name.as_str());
        let name_len = name.as_str().len();
        self.text.push_str(": ");
        let value_start = self.text.len();
        for part in parts {
            if memchr::memchr2(b'\r', b'\n', part.as_bytes()).is_some() {
                self.text.push_str(&part.replace(['\r', '\n'], " "));
            } else {
                self.text.push_str(part);
            }
        }
        self.end_line(name, start, value_start, name_len);
    }

    fn end_line(&mut self, name: HeaderName, start: usize, value_start: usize, name_len: usize) {
        let end = self.text.len();
        self.text.push_str("\r\n");
        self.lines
            .push((name, Span::new(start, end), Span::new(value_start, end), name_len));
    }

    /// Appends a header by its name as spelled (any token), `name: value`.
    pub(crate) fn push_named(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        self.text.push_str(": ");
        let value_start = self.text.len();
        self.text.push_str(value);
        let end = self.text.len();
        self.text.push_str("\r\n");
        self.lines.push((
            HeaderName::parse(name),
            Span::new(start, end),
            Span::new(value_start, end),
            name.len(),
        ));
    }

    /// The finished headers.
    pub(crate) fn finish(self) -> Headers {
        let mut headers = Headers::with_source(ByteString::from(self.text), self.lines.len());
        for (name, line, value, name_len) in self.lines {
            headers.push_parsed(
                name,
                Span::new(line.start as usize, line.start as usize + name_len),
                value,
                line,
            );
        }
        headers
    }
}

/// Something a header can be looked up by: a [`HeaderName`] or a name as `&str`.
pub trait HeaderKey {
    /// The known name, or [`HeaderName::Other`] with the spelling to compare.
    fn key(&self) -> (HeaderName, &str);
}

impl HeaderKey for HeaderName {
    fn key(&self) -> (HeaderName, &str) {
        (*self, self.as_str())
    }
}

impl HeaderKey for &str {
    fn key(&self) -> (HeaderName, &str) {
        (HeaderName::parse(self), self)
    }
}

impl HeaderKey for String {
    fn key(&self) -> (HeaderName, &str) {
        (HeaderName::parse(self), self)
    }
}

/// One header, borrowed from [`Headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// The header's name.
    pub name: HeaderName,
    /// The name as spelled in the message (`v`, `MaX-fOrWaRdS`, `X-Custom`).
    pub name_str: &'a str,
    /// The value, unfolded and trimmed.
    pub value: &'a str,
    /// The line as received (name, colon, value, folding), when the header is untouched.
    pub raw_line: Option<&'a str>,
}

impl Headers {
    /// An empty header section.
    pub fn new() -> Self {
        Headers::default()
    }

    /// An empty header section with room for `capacity` headers.
    pub fn with_capacity(capacity: usize) -> Self {
        Headers::with_source(ByteString::new(), capacity)
    }

    /// A header section over `source`, filled by the parser.
    pub(crate) fn with_source(source: ByteString, capacity: usize) -> Self {
        Headers {
            source,
            entries: Vec::with_capacity(capacity),
            seen: 0,
            repeated: 0,
            first: [0; INDEXED],
            last: [0; INDEXED],
        }
    }

    /// Records a parsed header; its spans index the source given to
    /// [`Headers::finish_parsed`].
    pub(crate) fn push_parsed(&mut self, name: HeaderName, raw_name: Span, value: Span, raw_line: Span) {
        self.note(name, self.entries.len());
        self.entries.push(Entry::Parsed {
            name,
            name_len: u16::try_from(raw_name.end - raw_name.start).unwrap_or(u16::MAX),
            line: raw_line,
            value,
        });
    }

    /// Sets the text parsed spans point into and, when some header was folded, replaces
    /// those values by their unfolded text (line breaks removed, RFC 3261 §7.3.1).
    pub(crate) fn finish_parsed(&mut self, source: ByteString, folded: bool) {
        self.source = source;
        if !folded {
            return;
        }
        for entry in &mut self.entries {
            if let Entry::Parsed {
                name, line, value, ..
            } = *entry
            {
                let text = value.get(&self.source);
                if text.contains('\n') {
                    let unfolded: String = text.split(['\r', '\n']).collect();
                    let raw_name = entry.raw_name(&self.source);
                    *entry = Entry::Owned(Box::new(OwnedEntry {
                        name,
                        raw_name: self.source.slice_ref(raw_name),
                        value: ByteString::from(unfolded.trim_matches([' ', '\t'])),
                        raw_line: Some(line),
                    }));
                }
            }
        }
    }

    /// Records in the index that entry `index` (the next one appended) is called `name`.
    #[inline]
    fn note(&mut self, name: HeaderName, index: usize) {
        let bit = name_bit(name);
        if bit == 0 {
            return;
        }
        if let Some(slot) = index_slot(name) {
            let position = u8::try_from(index.min(254) + 1).unwrap_or(u8::MAX);
            if self.seen & bit == 0 {
                if let Some(first) = self.first.get_mut(slot) {
                    *first = position;
                }
            }
            if let Some(last) = self.last.get_mut(slot) {
                *last = position;
            }
        }
        self.repeated |= self.seen & bit;
        self.seen |= bit;
    }

    /// Rebuilds the index after entries moved.
    fn reindex(&mut self) {
        self.seen = 0;
        self.repeated = 0;
        self.first = [0; INDEXED];
        self.last = [0; INDEXED];
        for i in 0..self.entries.len() {
            if let Some(name) = self.entries.get(i).map(Entry::name) {
                self.note(name, i);
            }
        }
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.entries.iter().map(|e| self.entry_ref(e))
    }

    fn entry_ref<'a>(&'a self, e: &'a Entry) -> HeaderRef<'a> {
        HeaderRef {
            name: e.name(),
            name_str: e.raw_name(&self.source),
            value: e.value(&self.source),
            raw_line: e.raw_line(&self.source),
        }
    }

    fn matches(&self, e: &Entry, name: HeaderName, spelled: &str) -> bool {
        e.name() == name
            && (name != HeaderName::Other || e.raw_name(&self.source).eq_ignore_ascii_case(spelled))
    }

    /// The value of the first header called `name` (the whole line; not split on commas).
    pub fn get(&self, name: impl HeaderKey) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The first value of `name` and whether another line follows it, for headers that must
    /// appear once. Known names are answered from the index (no walk past the first match).
    pub(crate) fn first_and_repeated(&self, name: HeaderName) -> Option<(&str, bool)> {
        if name == HeaderName::Other {
            let mut all = self.get_all(name);
            return all.next().map(|first| (first, all.next().is_some()));
        }
        let bit = name_bit(name);
        if self.seen & bit == 0 {
            return None;
        }
        let start = index_slot(name)
            .and_then(|slot| self.first.get(slot))
            .map_or(0, |&first| usize::from(first.saturating_sub(1)));
        let entry = self.entries.get(start..)?.iter().find(|e| e.name() == name)?;
        Some((entry.value(&self.source), self.repeated & bit != 0))
    }

    /// The value of the first header called `name`, sharing the message buffer.
    pub fn get_shared(&self, name: impl HeaderKey) -> Option<ByteString> {
        self.get(name).map(|v| self.share(v))
    }

    /// Every header line called `name`, in order.
    pub fn get_all(&self, name: impl HeaderKey) -> impl Iterator<Item = &str> + '_ {
        let (name, spelled) = name.key();
        let bit = name_bit(name);
        let (spelled, limit): (Box<str>, usize) = match name {
            HeaderName::Other => (spelled.into(), usize::MAX),
            _ if self.seen & bit == 0 => (Box::default(), 0),
            _ if self.repeated & bit == 0 => (Box::default(), 1),
            _ => (Box::default(), usize::MAX),
        };
        let (start, end) = match index_slot(name) {
            Some(slot) if name != HeaderName::Other => self.indexed_range(slot),
            _ => (0, self.entries.len()),
        };
        let entries = if limit == 0 {
            &[][..]
        } else {
            self.entries.get(start..end).unwrap_or_default()
        };
        entries
            .iter()
            .filter(move |e| self.matches(e, name, &spelled))
            .take(limit)
            .map(|e| e.value(&self.source))
    }

    /// The entries from the first to the last line of index slot `slot` (to the end when
    /// the last one sits at or after 254).
    fn indexed_range(&self, slot: usize) -> (usize, usize) {
        let first = self
            .first
            .get(slot)
            .map_or(0, |&first| usize::from(first.saturating_sub(1)));
        let end = match self.last.get(slot) {
            Some(&last) if last != u8::MAX => usize::from(last),
            _ => self.entries.len(),
        };
        (first, end)
    }

    /// [`Headers::get_all`] for a known name (never [`HeaderName::Other`], whose lines this
    /// does not find): the lines are picked from the indexed range by name alone.
    pub(crate) fn get_all_known(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        let bit = name_bit(name);
        let (start, end) = match index_slot(name) {
            _ if self.seen & bit == 0 => (0, 0),
            Some(slot) => self.indexed_range(slot),
            None => (0, self.entries.len()),
        };
        let limit = if self.repeated & bit == 0 { 1 } else { usize::MAX };
        self.entries
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter(move |e| e.name() == name)
            .take(limit)
            .map(|e| e.value(&self.source))
    }

    /// Every value of `name`: header lines are split on top-level commas (outside quotes and
    /// `<>`, RFC 3261 §7.3.1), so `Supported: a, b` and two `Supported` lines read the same.
    /// Empty elements are skipped. Use [`Headers::get_all`] for headers that are not lists.
    pub fn values(&self, name: impl HeaderKey) -> impl Iterator<Item = &str> + '_ {
        self.get_all(name)
            .flat_map(|line| split_top_level(line, b',').filter(|v| !v.is_empty()))
    }

    /// The number of header lines called `name`.
    pub fn count(&self, name: impl HeaderKey) -> usize {
        self.get_all(name).count()
    }

    /// True when at least one header called `name` is present.
    pub fn contains(&self, name: impl HeaderKey) -> bool {
        self.get(name).is_some()
    }

    /// Turns a value borrowed from these headers into a shared buffer without copying.
    /// Text from elsewhere is copied.
    #[inline]
    pub fn share(&self, value: &str) -> ByteString {
        let base = self.source.as_ptr() as usize;
        let at = (value.as_ptr() as usize).wrapping_sub(base);
        if at <= self.source.len() && at + value.len() <= self.source.len() {
            self.source.slice_ref(value)
        } else {
            self.share_owned(value)
        }
    }

    /// [`Headers::share`] for text outside the parsed source: an owned (built or unfolded)
    /// value, or text from elsewhere, which is copied.
    #[cold]
    fn share_owned(&self, value: &str) -> ByteString {
        self.entries
            .iter()
            .find_map(|e| match e {
                Entry::Owned(owned) if contains_slice(&owned.value, value) => {
                    Some(owned.value.slice_ref(value))
                }
                _ => None,
            })
            .unwrap_or_else(|| ByteString::from(value))
    }

    /// Appends a header with a known name. Line breaks in `value` become spaces, so a value
    /// can never inject a header or end the head.
    pub fn push(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        self.note(name, self.entries.len());
        self.entries.push(Entry::owned(
            name,
            ByteString::from_static(name.as_str()),
            without_line_breaks(value.into()),
        ));
    }

    /// Appends a header by name; known names (in any case, compact or not) become their
    /// [`HeaderName`], others keep the given spelling.
    pub fn push_named(&mut self, name: &str, value: impl Into<ByteString>) {
        let known = HeaderName::parse(name);
        self.note(known, self.entries.len());
        // A name is a token; anything else (white space, colon, line breaks) would corrupt
        // the line, so such characters are replaced.
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii() && is_token_char(c as u8) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        self.entries.push(Entry::owned(
            known,
            ByteString::from(name),
            without_line_breaks(value.into()),
        ));
    }

    /// Inserts a header before all others (as a proxy or UAC does with Via, RFC 3261 §8.1.1.7).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        self.entries.insert(
            0,
            Entry::owned(
                name,
                ByteString::from_static(name.as_str()),
                without_line_breaks(value.into()),
            ),
        );
        // Every indexed position moved down by one (a saturated slot already means "at or
        // after 254"); then the new first entry is noted. Cheaper than a full reindex, and
        // this runs for the Via of every request sent.
        for position in self.first.iter_mut().chain(self.last.iter_mut()) {
            if *position != 0 {
                *position = position.saturating_add(1);
            }
        }
        let bit = name_bit(name);
        if bit != 0 {
            if let Some(slot) = index_slot(name) {
                if let Some(first) = self.first.get_mut(slot) {
                    *first = 1;
                }
                // The only one of its name is also the last.
                if self.seen & bit == 0 {
                    if let Some(last) = self.last.get_mut(slot) {
                        *last = 1;
                    }
                }
            }
            self.repeated |= self.seen & bit;
            self.seen |= bit;
        }
    }

    /// Removes every header called `name`; returns how many were removed.
    pub fn remove(&mut self, name: impl HeaderKey) -> usize {
        let (name, spelled) = name.key();
        let before = self.entries.len();
        let source = &self.source;
        self.entries.retain(|e| {
            !(e.name() == name
                && (name != HeaderName::Other || e.raw_name(source).eq_ignore_ascii_case(spelled)))
        });
        self.reindex();
        before - self.entries.len()
    }

    /// Removes the first header called `name`, returning its value.
    pub fn remove_first(&mut self, name: impl HeaderKey) -> Option<ByteString> {
        let (name, spelled) = name.key();
        let index = self.entries.iter().position(|e| self.matches(e, name, spelled))?;
        let entry = self.entries.remove(index);
        self.reindex();
        Some(match entry {
            Entry::Parsed { value, .. } => self.source.slice_ref(value.get(&self.source)),
            Entry::Owned(owned) => owned.value,
        })
    }

    /// Removes the first value of list header `name` — the first element of its first line
    /// (the topmost Via, say) — keeping the line's other values. Returns it.
    pub fn remove_first_value(&mut self, name: HeaderName) -> Option<ByteString> {
        self.edit_first_value(name, None)
    }

    /// Replaces the first value of list header `name` (the topmost Via, say), keeping its
    /// position and the line's other values. Does nothing when there is none.
    pub fn replace_first_value(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        self.edit_first_value(name, Some(without_line_breaks(value.into())));
    }

    fn edit_first_value(&mut self, name: HeaderName, replacement: Option<ByteString>) -> Option<ByteString> {
        let index = self
            .entries
            .iter()
            .position(|e| e.name() == name && name != HeaderName::Other)?;
        let line = self.entries.get(index)?.value(&self.source);
        // The usual line holds one value: nothing to split or keep.
        if memchr::memchr(b',', line.as_bytes()).is_none() {
            let first = self.share(line);
            match replacement {
                None => {
                    self.entries.remove(index);
                    self.reindex();
                }
                // The same name at the same place: the index stays right.
                Some(text) => {
                    if let Some(slot) = self.entries.get_mut(index) {
                        *slot = Entry::owned(name, ByteString::from_static(name.as_str()), text);
                    }
                }
            }
            return Some(first);
        }
        let mut parts = split_top_level(line, b',');
        let first = self.share(parts.next().unwrap_or(""));
        let rest: Vec<&str> = parts.collect();
        let new_line = match (&replacement, rest.is_empty()) {
            (None, true) => None,
            (None, false) => Some(ByteString::from(rest.join(", "))),
            (Some(value), true) => Some(value.clone()),
            (Some(value), false) => Some(ByteString::from(format!("{value}, {}", rest.join(", ")))),
        };
        match new_line {
            None => {
                self.entries.remove(index);
            }
            Some(text) => {
                if let Some(slot) = self.entries.get_mut(index) {
                    *slot = Entry::owned(name, ByteString::from_static(name.as_str()), text);
                }
            }
        }
        self.reindex();
        Some(first)
    }

    /// Replaces every header called `name` with one header holding `value`, at the position
    /// of the first one (or at the end).
    pub fn set(&mut self, name: HeaderName, value: impl Into<ByteString>) {
        let position = self
            .entries
            .iter()
            .position(|e| e.name() == name && name != HeaderName::Other);
        let value = without_line_breaks(value.into());
        // The usual case, one header of that name: replaced where it stands, so the index
        // stays right (setting a body's Content-Length runs for every message with a body).
        let bit = name_bit(name);
        if self.repeated & bit == 0 {
            if let Some(slot) = position.and_then(|index| self.entries.get_mut(index)) {
                *slot = Entry::owned(name, ByteString::from_static(name.as_str()), value);
                return;
            }
        }
        match position {
            Some(index) => {
                self.remove(name);
                self.entries.insert(
                    index.min(self.entries.len()),
                    Entry::owned(name, ByteString::from_static(name.as_str()), value),
                );
                self.reindex();
            }
            None => self.push(name, value),
        }
    }

    /// Writes every header line, followed by CRLF. Untouched headers are written as received.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let source = self.source.as_bytes();
        // Lines that sit back to back in the source with CRLF between them (a parsed or
        // written header section, mostly) are copied as one run instead of line by line.
        let mut run: Option<(usize, usize)> = None;
        let flush = |run: &mut Option<(usize, usize)>, out: &mut Vec<u8>| {
            if let Some((start, end)) = run.take() {
                out.extend_from_slice(source.get(start..end).unwrap_or_default());
                out.extend_from_slice(b"\r\n");
            }
        };
        for e in &self.entries {
            match e.raw_span() {
                Some(line) => {
                    let (start, end) = (line.start as usize, line.end as usize);
                    match &mut run {
                        Some((_, run_end))
                            if start == *run_end + 2 && source.get(*run_end..start) == Some(b"\r\n") =>
                        {
                            *run_end = end;
                        }
                        _ => {
                            flush(&mut run, out);
                            run = Some((start, end));
                        }
                    }
                }
                None => {
                    flush(&mut run, out);
                    out.extend_from_slice(e.raw_name(&self.source).as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(e.value(&self.source).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        flush(&mut run, out);
    }

    /// An upper bound of the bytes [`Headers::write_to`] writes.
    pub(crate) fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| match e.raw_line(&self.source) {
                Some(line) => line.len() + 2,
                None => e.raw_name(&self.source).len() + e.value(&self.source).len() + 4,
            })
            .sum()
    }
}

/// `value` with CR and LF replaced by spaces (header injection is impossible through
/// [`Headers`]' setters).
fn without_line_breaks(value: ByteString) -> ByteString {
    if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_none() {
        return value;
    }
    ByteString::from(value.replace(['\r', '\n'], " "))
}

fn contains_slice(outer: &str, inner: &str) -> bool {
    let at = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    at <= outer.len() && at + inner.len() <= outer.len()
}

/// Headers are equal when they hold the same names and values in the same order; how a
/// header was spelled or folded does not matter.
impl Default for Headers {
    fn default() -> Self {
        Headers::with_source(ByteString::new(), 0)
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().zip(other.iter()).all(|(a, b)| {
                a.name == b.name
                    && a.value == b.value
                    && (a.name != HeaderName::Other || a.name_str.eq_ignore_ascii_case(b.name_str))
            })
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|h| (h.name_str, h.value)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_has_its_own_bit() {
        assert!((HeaderName::Other as u8) < 64);
    }

    #[test]
    fn lookups_stay_right_after_removals() {
        let mut h = Headers::new();
        h.push(HeaderName::Route, "<sip:a>");
        h.push(HeaderName::Route, "<sip:b>");
        assert_eq!(h.count(HeaderName::Route), 2);
        h.remove_first(HeaderName::Route);
        assert_eq!(h.get_all(HeaderName::Route).collect::<Vec<_>>(), ["<sip:b>"]);
        h.remove(HeaderName::Route);
        assert_eq!(h.get(HeaderName::Route), None);
        h.push(HeaderName::Route, "<sip:c>");
        assert_eq!(h.get(HeaderName::Route), Some("<sip:c>"));
    }

    #[test]
    fn set_replaces_all_and_keeps_position() {
        let mut h = Headers::new();
        h.push(HeaderName::From, "a");
        h.push(HeaderName::Contact, "<sip:1@x>");
        h.push(HeaderName::To, "b");
        h.push(HeaderName::Contact, "<sip:2@x>");
        h.set(HeaderName::Contact, "<sip:3@x>");
        let names: Vec<_> = h.iter().map(|x| x.value).collect();
        assert_eq!(names, ["a", "<sip:3@x>", "b"]);
    }

    #[test]
    fn other_names_match_case_insensitively_but_not_each_other() {
        let mut h = Headers::new();
        h.push_named("X-One", "1");
        h.push_named("X-Two", "2");
        assert_eq!(h.get("x-one"), Some("1"));
        assert_eq!(h.get("X-TWO"), Some("2"));
        assert_eq!(h.remove("x-one"), 1);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn lookups_find_headers_beyond_the_index_cap() {
        let mut h = Headers::new();
        for i in 0..300 {
            h.push_named("X-Filler", i.to_string());
        }
        h.push(HeaderName::Via, "SIP/2.0/UDP late");
        h.push(HeaderName::Via, "SIP/2.0/UDP later");
        assert_eq!(
            h.get_all(HeaderName::Via).collect::<Vec<_>>(),
            ["SIP/2.0/UDP late", "SIP/2.0/UDP later"]
        );
        h.push_front(HeaderName::Via, "SIP/2.0/UDP first");
        assert_eq!(h.get(HeaderName::Via), Some("SIP/2.0/UDP first"));
        assert_eq!(h.count(HeaderName::Via), 3);
    }

    #[test]
    fn first_value_of_a_list_can_be_replaced_or_removed() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a, SIP/2.0/UDP b");
        h.push(HeaderName::Via, "SIP/2.0/UDP c");
        h.replace_first_value(HeaderName::Via, "SIP/2.0/UDP z");
        assert_eq!(
            h.values(HeaderName::Via).collect::<Vec<_>>(),
            ["SIP/2.0/UDP z", "SIP/2.0/UDP b", "SIP/2.0/UDP c"]
        );
        assert_eq!(
            h.remove_first_value(HeaderName::Via).as_deref(),
            Some("SIP/2.0/UDP z")
        );
        assert_eq!(
            h.remove_first_value(HeaderName::Via).as_deref(),
            Some("SIP/2.0/UDP b")
        );
        assert_eq!(h.values(HeaderName::Via).collect::<Vec<_>>(), ["SIP/2.0/UDP c"]);
    }

    #[test]
    fn indexed_and_unindexed_names_are_found_wherever_they_are() {
        let mut h = Headers::new();
        h.push_named("X-A", "1");
        h.push(HeaderName::Supported, "timer");
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push(HeaderName::Accept, "application/sdp");
        h.push(HeaderName::Via, "SIP/2.0/UDP a");
        assert_eq!(h.get(HeaderName::Accept), Some("application/sdp"));
        assert_eq!(h.get(HeaderName::Supported), Some("timer"));
        assert_eq!(h.get(HeaderName::CSeq), Some("1 INVITE"));
        assert_eq!(h.get(HeaderName::Via), Some("SIP/2.0/UDP a"));
        assert_eq!(h.get("x-a"), Some("1"));
    }

    #[test]
    fn push_front_puts_via_first() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP b");
        h.push_front(HeaderName::Via, "SIP/2.0/UDP a");
        assert_eq!(h.get(HeaderName::Via), Some("SIP/2.0/UDP a"));
    }

    #[test]
    fn push_front_keeps_every_lookup_right() {
        let names = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
            HeaderName::Contact,
            HeaderName::MaxForwards,
            HeaderName::Route,
        ];
        let mut h = Headers::new();
        for (i, name) in names.iter().enumerate().skip(1) {
            h.push(*name, format!("v{i}"));
        }
        for (round, name) in names.iter().enumerate() {
            h.push_front(*name, format!("front{round}"));
            let mut rebuilt = h.clone();
            rebuilt.reindex();
            for name in names {
                let ours: Vec<&str> = h.get_all(name).collect();
                let fresh: Vec<&str> = rebuilt.get_all(name).collect();
                assert_eq!(ours, fresh, "{name:?} after round {round}");
            }
            assert_eq!(h.get(*name), Some(format!("front{round}").as_str()));
        }
    }

    #[test]
    fn share_returns_text_equal_to_the_value() {
        let mut h = Headers::new();
        h.push(HeaderName::CallId, "abc@host");
        let v = h.get(HeaderName::CallId).unwrap();
        assert_eq!(&*h.share(v), "abc@host");
        assert_eq!(&*h.share("elsewhere"), "elsewhere");
    }
}
