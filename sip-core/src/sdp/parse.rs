//! The SDP line parser (RFC 8866 §5) and its error.

use super::{Connection, Direction, Line, Media, Origin, SessionDescription, Slot};

/// Why [`SessionDescription::parse`] refused its input. Line numbers count from 1 and
/// include empty lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// No bytes, or only line breaks.
    #[error("empty session description")]
    Empty,
    /// A line is not UTF-8 (RFC 8866 §5: text fields are UTF-8 by default).
    #[error("line {line}: not UTF-8")]
    Utf8 {
        /// The line.
        line: usize,
    },
    /// A line is not `<type>=<value>` with a one-letter type, or holds a NUL or a bare CR.
    #[error("line {line}: not a <type>=<value> line")]
    Syntax {
        /// The line.
        line: usize,
    },
    /// The first line is not `v=0` (RFC 8866 §5.1: the only version is 0).
    #[error("line {line}: a session description starts with v=0")]
    Version {
        /// The line.
        line: usize,
    },
    /// A modelled line (`o=`, `c=`, `m=`) does not follow its grammar.
    #[error("line {line}: malformed {field} line")]
    Invalid {
        /// The line.
        line: usize,
        /// The line type, such as `"o="`.
        field: &'static str,
    },
    /// A line that may appear once at its level appears again.
    #[error("line {line}: more than one {field}")]
    Duplicate {
        /// The line of the second occurrence.
        line: usize,
        /// What is repeated, such as `"o="` or `"direction attribute"`.
        field: &'static str,
    },
    /// A session-level line (`v=`, `o=`, `s=`) inside a media description.
    #[error("line {line}: {field} inside a media description")]
    Misplaced {
        /// The line.
        line: usize,
        /// The line type.
        field: &'static str,
    },
    /// A mandatory session-level line is missing (RFC 8866 §5: `o=` and `s=`).
    #[error("no {0} line")]
    Missing(&'static str),
}

impl SdpError {
    /// The line the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            SdpError::Utf8 { line }
            | SdpError::Syntax { line }
            | SdpError::Version { line }
            | SdpError::Invalid { line, .. }
            | SdpError::Duplicate { line, .. }
            | SdpError::Misplaced { line, .. } => Some(*line),
            SdpError::Empty | SdpError::Missing(_) => None,
        }
    }
}

/// The fields of a line, separated by single spaces in the grammar; runs of spaces are
/// tolerated (and normalised on output) since some stacks pad fields.
fn fields(value: &str) -> impl Iterator<Item = &str> {
    value.split(' ').filter(|f| !f.is_empty())
}

/// The direction, if the line (of type `kind`) is a direction attribute. Trailing blanks are
/// tolerated because misreading `a=sendonly ` as an unknown attribute would turn a hold into
/// `sendrecv` (the default).
fn direction_of(kind: u8, value: &str) -> Option<Direction> {
    if kind == b'a' {
        Direction::parse(value.trim_end_matches([' ', '\t']))
    } else {
        None
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 8866 §5.2). The session id is kept as text: it is only compared, and RFC 8866
/// does not bound its digits.
fn parse_origin(value: &str, line: usize) -> Result<Origin, SdpError> {
    let invalid = SdpError::Invalid { line, field: "o=" };
    let mut it = fields(value);
    let mut next = || it.next().map(str::to_owned).ok_or(invalid.clone());
    let username = next()?;
    let session_id = next()?;
    let version = next()?.parse::<u64>().map_err(|_| invalid.clone())?;
    let origin = Origin {
        username,
        session_id,
        version,
        net_type: next()?,
        addr_type: next()?,
        address: next()?,
    };
    if it.next().is_some() {
        return Err(invalid);
    }
    Ok(origin)
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
fn parse_connection(value: &str, line: usize) -> Result<Connection, SdpError> {
    let mut it = fields(value);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(net_type), Some(addr_type), Some(address), None) => Ok(Connection {
            net_type: net_type.to_owned(),
            addr_type: addr_type.to_owned(),
            address: address.to_owned(),
        }),
        _ => Err(SdpError::Invalid { line, field: "c=" }),
    }
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 8866 §5.14). An empty
/// format list is accepted: some stacks send one on rejected streams.
fn parse_media(value: &str, line: usize) -> Result<Media, SdpError> {
    let invalid = SdpError::Invalid { line, field: "m=" };
    let mut it = fields(value);
    let (Some(kind), Some(ports), Some(protocol)) = (it.next(), it.next(), it.next()) else {
        return Err(invalid);
    };
    let (port, port_count) = match ports.split_once('/') {
        Some((port, count)) => (port, Some(count.parse::<u16>().map_err(|_| invalid.clone())?)),
        None => (ports, None),
    };
    let port = port.parse::<u16>().map_err(|_| invalid.clone())?;
    Ok(Media {
        kind: kind.to_owned(),
        port,
        port_count,
        protocol: protocol.to_owned(),
        formats: it.map(str::to_owned).collect(),
        connection: None,
        direction: None,
        lines: Vec::new(),
    })
}

/// Splits `<type>=<value>`; the type is one ASCII letter (RFC 8866 §5).
fn split_line(text: &str) -> Option<(u8, &str)> {
    let (kind, value) = text.split_once('=')?;
    match kind.as_bytes() {
        [k] if k.is_ascii_alphabetic() => Some((*k, value)),
        _ => None,
    }
}

/// The session-level fields while they are being read.
#[derive(Default)]
struct Session {
    origin: Option<Origin>,
    name: Option<String>,
    connection: Option<Connection>,
    direction: Option<Direction>,
    lines: Vec<Line>,
}

impl Session {
    fn line(&mut self, kind: u8, value: &str, text: &str, line: usize) -> Result<(), SdpError> {
        let duplicate = |field| Err(SdpError::Duplicate { line, field });
        match (kind, direction_of(kind, value)) {
            (b'v', _) => return duplicate("v="),
            (b'o', _) => {
                if self.origin.is_some() {
                    return duplicate("o=");
                }
                self.origin = Some(parse_origin(value, line)?);
                self.lines.push(Line::Slot(Slot::Origin));
            }
            (b's', _) => {
                if self.name.is_some() {
                    return duplicate("s=");
                }
                self.name = Some(value.to_owned());
                self.lines.push(Line::Slot(Slot::Name));
            }
            // RFC 8866 §5.7: at most one session-level c=.
            (b'c', _) => {
                if self.connection.is_some() {
                    return duplicate("c=");
                }
                self.connection = Some(parse_connection(value, line)?);
                self.lines.push(Line::Slot(Slot::Connection));
            }
            (b'a', Some(direction)) => {
                // Two directions at one level contradict each other; guessing which one
                // the peer meant could answer a hold with sendrecv.
                if self.direction.is_some() {
                    return duplicate("direction attribute");
                }
                self.direction = Some(direction);
                self.lines.push(Line::Slot(Slot::Direction));
            }
            _ => self.lines.push(Line::Raw(text.to_owned())),
        }
        Ok(())
    }
}

impl Media {
    fn line(&mut self, kind: u8, value: &str, text: &str, line: usize) -> Result<(), SdpError> {
        match (kind, direction_of(kind, value)) {
            (b'v', _) => return Err(SdpError::Misplaced { line, field: "v=" }),
            (b'o', _) => return Err(SdpError::Misplaced { line, field: "o=" }),
            (b's', _) => return Err(SdpError::Misplaced { line, field: "s=" }),
            // RFC 8866 §5.7 allows several media-level c= (multicast groups); the first
            // is the one we model, any further ones are kept as they are.
            (b'c', _) if self.connection.is_none() => {
                self.connection = Some(parse_connection(value, line)?);
                self.lines.push(Line::Slot(Slot::Connection));
            }
            (b'a', Some(direction)) => {
                if self.direction.is_some() {
                    return Err(SdpError::Duplicate {
                        line,
                        field: "direction attribute",
                    });
                }
                self.direction = Some(direction);
                self.lines.push(Line::Slot(Slot::Direction));
            }
            _ => self.lines.push(Line::Raw(text.to_owned())),
        }
        Ok(())
    }
}

pub(super) fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
    let mut seen_version = false;
    let mut session = Session::default();
    let mut media: Vec<Media> = Vec::new();
    for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // RFC 8866 has no empty lines, but a trailing one (or a CRLF too many) is common.
        if raw.is_empty() {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|_| SdpError::Utf8 { line })?;
        // A bare CR would end the line for some readers and not for others; a NUL is
        // forbidden in every SDP field (RFC 8866 §9, byte-string).
        if text.bytes().any(|b| b == b'\r' || b == 0) {
            return Err(SdpError::Syntax { line });
        }
        let (kind, value) = split_line(text).ok_or(SdpError::Syntax { line })?;
        if !seen_version {
            if kind != b'v' || value != "0" {
                return Err(SdpError::Version { line });
            }
            seen_version = true;
            session.lines.push(Line::Slot(Slot::Version));
            continue;
        }
        if kind == b'm' {
            media.push(parse_media(value, line)?);
            continue;
        }
        match media.last_mut() {
            Some(current) => current.line(kind, value, text, line)?,
            None => session.line(kind, value, text, line)?,
        }
    }
    if !seen_version {
        return Err(SdpError::Empty);
    }
    Ok(SessionDescription {
        origin: session.origin.ok_or(SdpError::Missing("o="))?,
        name: session.name.ok_or(SdpError::Missing("s="))?,
        connection: session.connection,
        direction: session.direction,
        lines: session.lines,
        media,
    })
}
