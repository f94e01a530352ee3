//! Byte ranges into a shared text, so parsed values point into the received message
//! instead of copying it.

/// A byte range `start..end` into some text. `u32` keeps parsed values small; messages are
/// far below 4 GiB (the parser enforces a maximum size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    /// The span of `part`, which must be a sub-slice of `whole`. When it is not (only an
    /// empty literal can be, by construction) the span is empty rather than out of bounds.
    pub(crate) fn of(whole: &str, part: &str) -> Span {
        let base = whole.as_ptr() as usize;
        let start = (part.as_ptr() as usize).wrapping_sub(base);
        if start > whole.len() || start + part.len() > whole.len() {
            return Span::default();
        }
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    /// A span from explicit offsets.
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The text this span covers in `whole`; empty if the span does not fit (never panics).
    #[inline]
    pub(crate) fn get(self, whole: &str) -> &str {
        whole.get(self.start as usize..self.end as usize).unwrap_or("")
    }
}
