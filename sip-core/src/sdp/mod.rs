//! Just enough SDP (RFC 8866, formerly RFC 4566) for offer/answer bookkeeping and hold
//! (RFC 3264 §5, §6, §8.4; RFC 6337 §5.3).
//!
//! A [`SessionDescription`] models the lines a SIP user agent must reason about — `v=`,
//! `o=`, `s=`, `c=`, `m=` and the direction attributes — and keeps every other line
//! (`t=`, `b=`, `a=rtpmap`, `a=fmtp`, unknown attributes...) as text, in order, at its
//! session or media level. Parsing then serializing a well-formed description gives the
//! same bytes back, so an SDP we only adjust (direction, version) is otherwise untouched.
//!
//! Answers ([`SessionDescription::answer_for`]) list the formats both sides support, in
//! the offer's numbering (RFC 3264 §6.1), and narrow telephone-event's events (RFC 4733);
//! codec parameters other than those events are not negotiated (our `a=fmtp` lines are
//! answered as they are). Deliberately left out: ICE, bundling, multicast offer/answer
//! (RFC 3264 §6.2) and validation of the unmodelled lines.
//! The parser is lenient where it costs nothing (LF-only line ends, empty lines, runs of
//! spaces between fields, missing `t=` or `c=`) and strict where a misreading would change
//! what we answer (a second direction attribute at one level is an error).

mod answer;
mod direction;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

pub use answer::NoCommonFormat;
pub use direction::Direction;
pub use parse::SdpError;

/// The `o=` line (RFC 8866 §5.2): who made the session and which version of its
/// description this is.
///
/// The fields are written out as they are: they must not hold spaces or line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The user's login on the originating host, or `-`.
    pub username: String,
    /// A numeric string identifying the session, constant for its lifetime.
    pub session_id: String,
    /// The description's version, incremented by one for each new offer or answer
    /// (RFC 3264 §8).
    pub version: u64,
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The originating host's address or name.
    pub address: String,
}

impl fmt::Display for Origin {
    /// The value of the line, without `o=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username, self.session_id, self.version, self.net_type, self.addr_type, self.address
        )
    }
}

/// A `c=` line (RFC 8866 §5.7): where the media is to be sent.
///
/// The fields are written out as they are: they must not hold spaces or line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address (possibly with a multicast `/ttl`), or a host name.
    pub address: String,
}

impl Connection {
    /// An `IN IP4` or `IN IP6` connection to `address`.
    pub fn new(address: IpAddr) -> Connection {
        Connection {
            net_type: "IN".into(),
            addr_type: addr_type(address).into(),
            address: address.to_string(),
        }
    }

    /// Whether this is the RFC 2543 hold address `0.0.0.0`, meaning "send me neither RTP
    /// nor RTCP" (RFC 3264 §8.4, which says an agent MUST understand it). The IPv6
    /// unspecified address `::` is read the same way: nothing can be sent to it either.
    pub fn is_hold_address(&self) -> bool {
        matches!(self.address.as_str(), "0.0.0.0" | "::")
    }
}

impl fmt::Display for Connection {
    /// The value of the line, without `c=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

fn addr_type(address: IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// A modelled line's position among the raw ones, so serialization keeps the order it
/// was parsed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Version,
    Origin,
    Name,
    Connection,
    Direction,
}

/// One line of a session or media section, without its line break.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Line {
    /// Written from the typed field.
    Slot(Slot),
    /// Kept as received (`t=0 0`, `a=rtpmap:0 PCMU/8000`, ...).
    Raw(String),
}

impl Line {
    /// The line type letter, used to find where an added line belongs.
    fn kind(&self) -> u8 {
        match self {
            Line::Slot(Slot::Version) => b'v',
            Line::Slot(Slot::Origin) => b'o',
            Line::Slot(Slot::Name) => b's',
            Line::Slot(Slot::Connection) => b'c',
            Line::Slot(Slot::Direction) => b'a',
            Line::Raw(text) => text.as_bytes().first().copied().unwrap_or(b'a'),
        }
    }
}

/// Adds or removes `slot` in `lines` so it is there exactly when `present`.
///
/// An added `c=` goes before the first line RFC 8866 §5 orders after it (`b=`, `t=`,
/// `r=`, `z=`, `k=`, `a=`); an added direction goes last, after the other attributes.
fn place(lines: &mut Vec<Line>, slot: Slot, present: bool) {
    let at = lines.iter().position(|line| *line == Line::Slot(slot));
    match (at, present) {
        (Some(at), false) => {
            lines.remove(at);
        }
        (None, true) => {
            let at = match slot {
                Slot::Connection => lines.iter().position(|line| b"btrzka".contains(&line.kind())),
                _ => None,
            };
            lines.insert(at.unwrap_or(lines.len()), Line::Slot(slot));
        }
        _ => {}
    }
}

/// The attributes kept as text, as `(name, value)`.
fn raw_attributes(lines: &[Line]) -> impl Iterator<Item = (&str, Option<&str>)> {
    lines.iter().filter_map(|line| match line {
        Line::Raw(text) => {
            let attribute = text.strip_prefix("a=")?;
            Some(match attribute.split_once(':') {
                Some((name, value)) => (name, Some(value)),
                None => (attribute, None),
            })
        }
        Line::Slot(_) => None,
    })
}

/// A media description: the `m=` line and the lines after it up to the next `m=`
/// (RFC 8866 §5.14).
///
/// The `m=` fields are written out as they are: they must not hold spaces or line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Media {
    /// The media type: `audio`, `video`, `text`, `application`, `message`...
    pub kind: String,
    /// The transport port; 0 marks a rejected or removed stream (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    /// The transport protocol, such as `RTP/AVP`.
    pub protocol: String,
    /// The media formats (RTP payload types for RTP), in preference order.
    pub formats: Vec<String>,
    connection: Option<Connection>,
    direction: Option<Direction>,
    lines: Vec<Line>,
}

impl Media {
    /// The media-level `c=` (the first one if there are several), which overrides the
    /// session-level one.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// Sets or removes the media-level `c=`.
    pub fn set_connection(&mut self, connection: Option<Connection>) {
        place(&mut self.lines, Slot::Connection, connection.is_some());
        self.connection = connection;
    }

    /// The media-level direction attribute, if present. See
    /// [`SessionDescription::media_direction`] for the direction in force.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// Sets or removes the media-level direction attribute.
    pub fn set_direction(&mut self, direction: Option<Direction>) {
        place(&mut self.lines, Slot::Direction, direction.is_some());
        self.direction = direction;
    }

    /// Whether the stream is rejected or removed (port 0, RFC 3264 §6 and §8.2).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The media-level attributes this module does not model, as `(name, value)`:
    /// `("rtpmap", Some("0 PCMU/8000"))`, `("rtcp-mux", None)`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        raw_attributes(&self.lines)
    }

    /// The `m=` line of an answer refusing `offered` (RFC 3264 §6): same media type and
    /// transport, port 0, the first offered format (the line needs one, and an answer
    /// lists only offered formats), and nothing else.
    fn rejecting(offered: &Media) -> Media {
        Media {
            kind: offered.kind.clone(),
            port: 0,
            port_count: None,
            protocol: offered.protocol.clone(),
            formats: offered.formats.iter().take(1).cloned().collect(),
            connection: None,
            direction: None,
            lines: Vec::new(),
        }
    }
}

impl fmt::Display for Media {
    /// The media description's lines, `m=` first, each ending in CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", self.protocol)?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        f.write_str("\r\n")?;
        for line in &self.lines {
            match line {
                Line::Raw(text) => write!(f, "{text}\r\n")?,
                Line::Slot(Slot::Connection) => {
                    if let Some(connection) = &self.connection {
                        write!(f, "c={connection}\r\n")?;
                    }
                }
                Line::Slot(Slot::Direction) => {
                    if let Some(direction) = self.direction {
                        write!(f, "a={direction}\r\n")?;
                    }
                }
                // Never placed at media level.
                Line::Slot(Slot::Version | Slot::Origin | Slot::Name) => {}
            }
        }
        Ok(())
    }
}

/// A session description (RFC 8866): the session-level lines, then the media
/// descriptions.
///
/// ```
/// use sip_core::sdp::{Direction, SessionDescription};
///
/// let offer = SessionDescription::parse(
///     b"v=0\r\n\
///       o=bob 2808844564 2808844564 IN IP4 198.51.100.7\r\n\
///       s=-\r\n\
///       c=IN IP4 198.51.100.7\r\n\
///       t=0 0\r\n\
///       m=audio 49172 RTP/AVP 0\r\n\
///       a=rtpmap:0 PCMU/8000\r\n\
///       a=sendonly\r\n",
/// )?;
/// // Bob puts us on hold (RFC 3264 §8.4)...
/// assert!(offer.is_hold_offer());
///
/// // ...and we answer recvonly, from our own template (RFC 3264 §6.1).
/// let ours = SessionDescription::simple_audio("alice", 1, "192.0.2.10".parse()?, 4000, &[0]);
/// let answer = ours.answer_for(&offer, false)?;
/// assert_eq!(answer.media_direction(0), Some(Direction::RecvOnly));
/// assert!(answer.to_string().contains("a=recvonly\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    origin: Origin,
    name: String,
    connection: Option<Connection>,
    direction: Option<Direction>,
    /// The session-level lines in order, `v=` included.
    lines: Vec<Line>,
    media: Vec<Media>,
}

impl SessionDescription {
    /// Parses a session description. Lines may end in CRLF or LF; empty lines are
    /// skipped. Lines other than `v=`, `o=`, `s=`, `c=`, `m=` and the direction
    /// attributes are kept as text without being checked beyond `<type>=<value>`.
    pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
        parse::parse(input)
    }

    /// The description as bytes, each line ending in CRLF (RFC 8866 §5).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_string())
    }

    /// A small audio offer, for tests and demos: `v=`, `o=`, `s=-`, `c=`, `t=0 0`, an
    /// `m=audio <rtp_port> RTP/AVP <formats>` line, `a=rtpmap` (and `a=fmtp`) for the
    /// formats among 0 (PCMU), 8 (PCMA), 9 (G722) and 101 (telephone-event, RFC 4733),
    /// `a=ptime:20` and `a=sendrecv`.
    ///
    /// The version starts equal to `session_id`, as many user agents do. A `username`
    /// that is empty or holds whitespace or control characters is replaced by `-`
    /// (RFC 8866 §5.2's "no user id").
    pub fn simple_audio(
        username: &str,
        session_id: u64,
        address: IpAddr,
        rtp_port: u16,
        formats: &[u8],
    ) -> SessionDescription {
        let username = if username.is_empty() || username.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            "-"
        } else {
            username
        };
        let lines = vec![
            Line::Slot(Slot::Version),
            Line::Slot(Slot::Origin),
            Line::Slot(Slot::Name),
            Line::Slot(Slot::Connection),
            Line::Raw("t=0 0".into()),
        ];
        let mut media_lines = Vec::new();
        for format in formats {
            let rtpmap = match format {
                0 => "PCMU/8000",
                8 => "PCMA/8000",
                9 => "G722/8000",
                101 => "telephone-event/8000",
                _ => continue,
            };
            media_lines.push(Line::Raw(format!("a=rtpmap:{format} {rtpmap}")));
            if *format == 101 {
                // DTMF events 0-15 (digits, *, #, A-D) and flash (RFC 4733 §3.2).
                media_lines.push(Line::Raw("a=fmtp:101 0-16".into()));
            }
        }
        media_lines.push(Line::Raw("a=ptime:20".into()));
        media_lines.push(Line::Slot(Slot::Direction));
        SessionDescription {
            origin: Origin {
                username: username.into(),
                session_id: session_id.to_string(),
                version: session_id,
                net_type: "IN".into(),
                addr_type: addr_type(address).into(),
                address: address.to_string(),
            },
            name: "-".into(),
            connection: Some(Connection::new(address)),
            direction: None,
            lines,
            media: vec![Media {
                kind: "audio".into(),
                port: rtp_port,
                port_count: None,
                protocol: "RTP/AVP".into(),
                formats: formats.iter().map(u8::to_string).collect(),
                connection: None,
                direction: Some(Direction::SendRecv),
                lines: media_lines,
            }],
        }
    }

    /// The `o=` line.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The `o=` line, to change.
    pub fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    /// The session name (`s=`).
    pub fn session_name(&self) -> &str {
        &self.name
    }

    /// The session-level `c=`, used by every media description without its own.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// Sets or removes the session-level `c=`.
    pub fn set_connection(&mut self, connection: Option<Connection>) {
        place(&mut self.lines, Slot::Connection, connection.is_some());
        self.connection = connection;
    }

    /// The session-level direction attribute, if present.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// The session-level attributes this module does not model, as `(name, value)`.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        raw_attributes(&self.lines)
    }

    /// The media descriptions, in order.
    pub fn media(&self) -> &[Media] {
        &self.media
    }

    /// The media descriptions, to change. Their number is fixed: RFC 3264 §8 lets a
    /// later offer add streams but never remove an `m=` line.
    pub fn media_mut(&mut self) -> &mut [Media] {
        &mut self.media
    }

    /// The direction of media `index` as its attributes say: the media-level attribute,
    /// else the session-level one, else `sendrecv` (RFC 3264 §5.1). `None` if there is
    /// no such media.
    pub fn media_direction(&self, index: usize) -> Option<Direction> {
        self.media.get(index).map(|media| self.attribute_direction(media))
    }

    /// The direction of media `index` once an RFC 2543-style hold is taken into account:
    /// a `c=` of `0.0.0.0` means the author wants nothing sent to it (RFC 3264 §8.4), so
    /// it does not receive whatever its attributes say. This is the direction to answer
    /// and to detect hold with. `None` if there is no such media.
    pub fn effective_direction(&self, index: usize) -> Option<Direction> {
        self.media.get(index).map(|media| self.effective(media))
    }

    fn attribute_direction(&self, media: &Media) -> Direction {
        media.direction.or(self.direction).unwrap_or_default()
    }

    fn effective(&self, media: &Media) -> Direction {
        let direction = self.attribute_direction(media);
        match media.connection.as_ref().or(self.connection.as_ref()) {
            Some(connection) if connection.is_hold_address() => direction.on_hold(),
            _ => direction,
        }
    }

    /// Sets `direction` on every media description, replacing their direction
    /// attributes, and removes the session-level one so the two cannot disagree.
    pub fn set_direction(&mut self, direction: Direction) {
        place(&mut self.lines, Slot::Direction, false);
        self.direction = None;
        for media in &mut self.media {
            media.set_direction(Some(direction));
        }
    }

    /// Whether this is "held SDP" (RFC 3264 §8.4): there is at least one active stream
    /// (port ≠ 0) and no active stream asks to receive — each is `sendonly` or
    /// `inactive`, or addressed to `0.0.0.0`.
    pub fn is_hold_offer(&self) -> bool {
        let mut active = self.media.iter().filter(|media| !media.is_rejected()).peekable();
        active.peek().is_some() && active.all(|media| !self.effective(media).receives())
    }

    /// Increments the `o=` version and returns the new one. RFC 3264 §8 wants each new
    /// description in a session to be exactly one higher than the previous one; at
    /// `u64::MAX` the version wraps to 0, which no peer reads as "unchanged" (staying put
    /// would make the peer ignore the new description).
    pub fn bump_version(&mut self) -> u64 {
        self.origin.version = self.origin.version.wrapping_add(1);
        self.origin.version
    }
}

impl fmt::Display for SessionDescription {
    /// The description's lines, each ending in CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            match line {
                Line::Raw(text) => write!(f, "{text}\r\n")?,
                Line::Slot(Slot::Version) => f.write_str("v=0\r\n")?,
                Line::Slot(Slot::Origin) => write!(f, "o={}\r\n", self.origin)?,
                Line::Slot(Slot::Name) => write!(f, "s={}\r\n", self.name)?,
                Line::Slot(Slot::Connection) => {
                    if let Some(connection) = &self.connection {
                        write!(f, "c={connection}\r\n")?;
                    }
                }
                Line::Slot(Slot::Direction) => {
                    if let Some(direction) = self.direction {
                        write!(f, "a={direction}\r\n")?;
                    }
                }
            }
        }
        for media in &self.media {
            write!(f, "{media}")?;
        }
        Ok(())
    }
}
