//! Answering an offer (RFC 3264 §6): one answer stream per offered stream, in order; each
//! accepted stream lists the formats both sides support, in the offer's order and with the
//! offer's payload type numbers (§6.1), telephone-event's events narrowed to those both
//! sides know (RFC 4733); a stream we share nothing on is rejected with port 0.

use std::fmt;

use super::{Direction, Line, Media, SessionDescription, Slot, place};

/// Why [`SessionDescription::answer_for`] accepted no stream: the offer has active streams
/// but none shares a media format with our description (RFC 3264 §6). A UAS refuses such
/// an INVITE, re-INVITE or UPDATE with 488 Not Acceptable Here (RFC 3261 §13.3.1.3,
/// §21.4.26; RFC 3311 §5.2).
///
/// Where an answer must be sent all the same — an offer in a 2xx is answered in the ACK,
/// which cannot be refused (RFC 3261 §13.2.2.4) — [`rejecting_answer`](Self::rejecting_answer)
/// is a valid one: every offered stream rejected with port 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the offer shares no media format with our session description")]
pub struct NoCommonFormat {
    rejecting: Box<SessionDescription>,
}

impl NoCommonFormat {
    /// The answer rejecting every offered stream (port 0, RFC 3264 §6), built from our
    /// description's session level like any answer.
    pub fn rejecting_answer(&self) -> &SessionDescription {
        &self.rejecting
    }

    /// The answer rejecting every offered stream, to send.
    pub fn into_rejecting_answer(self) -> SessionDescription {
        *self.rejecting
    }
}

impl SessionDescription {
    /// Our answer to `offer`, built from `self` as our local template (RFC 3264 §6).
    ///
    /// - The answer has one `m=` line per offered one, in the same order (RFC 3264 §6).
    ///   An offered stream is accepted with the first unused template stream of the same
    ///   media type and transport protocol that shares a format with it; otherwise — also
    ///   when the offer itself disabled it with port 0 (§8.2) — it is rejected: port 0,
    ///   the offer's first format (the line needs one, §6), nothing else.
    /// - An accepted stream lists the formats both sides support, in the offer's order
    ///   and with the offer's payload type numbers (§6.1: the answerer must use the
    ///   offerer's numbering, and an answer lists only offered formats). RTP payload types
    ///   are compared by their `a=rtpmap` encoding (name, clock rate, channels), static
    ///   ones without an `a=rtpmap` by the RFC 3551 §6 table or by number; other
    ///   transports' formats by their text. Our `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines
    ///   follow the renumbering, those of formats left out go, and the template's other
    ///   lines (`a=ptime`, `a=maxptime`, `a=rtcp`, ...) stay.
    /// - telephone-event (RFC 4733) is answered with the events both sides list in
    ///   `a=fmtp` (0-15 when a side lists none, RFC 4733 §7.1.1), and left out when they
    ///   share none. It and comfort noise (RFC 3389) only ride along with a codec: a stream
    ///   sharing nothing else is rejected.
    /// - Its port, connection and other lines are the template stream's; its direction is
    ///   [`Direction::answer`] of the offer's
    ///   [effective direction](SessionDescription::effective_direction) and what we
    ///   want: the template stream's direction, with receiving dropped when
    ///   `hold_locally` (§8.4). So `sendonly` is answered `recvonly` (or `inactive` when
    ///   we hold), `inactive` with `inactive`, `sendrecv` with the template's direction
    ///   (`sendonly` when we hold), and `recvonly` with `sendonly` (§6.1).
    /// - The session level is the template's, with its direction attribute moved to the
    ///   streams. The origin is the template's as it is: call
    ///   [`bump_version`](SessionDescription::bump_version) on the template when this
    ///   answer differs from the previous description we sent (RFC 3264 §8).
    ///
    /// Fails with [`NoCommonFormat`] when the offer has an active stream and we accept
    /// none: the application should refuse the offer with 488 (RFC 3261 §21.4.26). An
    /// offer without active streams is answered with every stream rejected.
    ///
    /// ```
    /// use sip_core::sdp::SessionDescription;
    ///
    /// let ours = SessionDescription::simple_audio("alice", 1, "192.0.2.10".parse()?, 4000, &[0, 8, 101]);
    /// // The peer offers PCMU and its own number for telephone-event, with events 0-15.
    /// let offer = SessionDescription::parse(
    ///     b"v=0\r\no=bob 7 7 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
    ///       m=audio 49172 RTP/AVP 0 96\r\n\
    ///       a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n",
    /// )?;
    /// let answer = ours.answer_for(&offer, false)?;
    /// // Only what was offered, in the offer's numbering; PCMA is left out.
    /// assert_eq!(answer.media()[0].formats, ["0", "96"]);
    /// let text = answer.to_string();
    /// assert!(text.contains("a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"));
    /// assert!(!text.contains("PCMA"));
    ///
    /// // An offer of G.729 alone shares nothing with us: refuse it with 488.
    /// let g729 = SessionDescription::parse(
    ///     b"v=0\r\no=bob 7 8 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
    ///       m=audio 49172 RTP/AVP 18\r\n",
    /// )?;
    /// let refused = ours.answer_for(&g729, false).unwrap_err();
    /// assert!(refused.rejecting_answer().media()[0].is_rejected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn answer_for(
        &self,
        offer: &SessionDescription,
        hold_locally: bool,
    ) -> Result<SessionDescription, NoCommonFormat> {
        let mut lines = self.lines.clone();
        place(&mut lines, Slot::Direction, false);
        let mut answer = SessionDescription {
            origin: self.origin.clone(),
            name: self.name.clone(),
            connection: self.connection.clone(),
            direction: None,
            lines,
            media: Vec::with_capacity(offer.media.len()),
        };
        let mut used = vec![false; self.media.len()];
        let (mut active, mut accepted_any) = (false, false);
        for offered in &offer.media {
            active |= !offered.is_rejected();
            let accepted = if offered.is_rejected() {
                None
            } else {
                self.media
                    .iter()
                    .zip(used.iter_mut())
                    .filter(|(ours, used)| {
                        !**used
                            && !ours.is_rejected()
                            && ours.kind.eq_ignore_ascii_case(&offered.kind)
                            && ours.protocol.eq_ignore_ascii_case(&offered.protocol)
                    })
                    .find_map(|(ours, used)| {
                        let pairs = common_formats(offered, ours)?;
                        *used = true;
                        Some((ours, pairs))
                    })
            };
            let media = match accepted {
                Some((ours, pairs)) => {
                    accepted_any = true;
                    let mut wanted = self.attribute_direction(ours);
                    if hold_locally {
                        wanted = wanted.on_hold();
                    }
                    let mut media = Media {
                        formats: pairs.iter().map(|pair| pair.offered.to_owned()).collect(),
                        lines: answer_lines(ours, &pairs),
                        ..ours.clone()
                    };
                    // RFC 3264 §6.1: sendonly ↔ recvonly, inactive stays inactive, sendrecv
                    // gets what we want.
                    media.set_direction(Some(Direction::answer(offer.effective(offered), wanted)));
                    media
                }
                None => {
                    let mut media = Media::rejecting(offered);
                    // RFC 8866 §5.7: without a session-level c=, every m= needs its own.
                    if answer.connection.is_none() {
                        let ours = self.media.iter().find_map(|ours| ours.connection.clone());
                        media.set_connection(ours);
                    }
                    media
                }
            };
            answer.media.push(media);
        }
        if active && !accepted_any {
            return Err(NoCommonFormat {
                rejecting: Box::new(answer),
            });
        }
        Ok(answer)
    }
}

/// One format of an accepted stream: the offer's number for it, ours, and for
/// telephone-event the events both sides support.
#[derive(Debug)]
struct Pair<'a> {
    offered: &'a str,
    ours: &'a str,
    events: Option<Events>,
}

/// The formats `offered` and `ours` share, in the offer's order (RFC 3264 §6.1), each of
/// ours used once; `None` when they share no format that carries media by itself.
fn common_formats<'a>(offered: &'a Media, ours: &'a Media) -> Option<Vec<Pair<'a>>> {
    let rtp = is_rtp(&offered.protocol);
    let mut pairs: Vec<Pair<'a>> = Vec::new();
    let mut carries_media = false;
    for theirs in &offered.formats {
        if pairs.iter().any(|pair| pair.offered == theirs) {
            continue;
        }
        let ours_format = ours.formats.iter().find(|ours_format| {
            !pairs.iter().any(|pair| pair.ours == ours_format.as_str())
                && same_format(rtp, offered, theirs, ours, ours_format)
        });
        let Some(ours_format) = ours_format else {
            continue;
        };
        let encoding = if rtp { encoding(ours, ours_format) } else { None };
        let events = match encoding {
            Some(encoding) if encoding.is_telephone_event() => {
                // RFC 4733 §7.1.1: without an events list, 0-15 (the DTMF tones).
                let events = |media: &Media, format: &str| {
                    fmtp(media, format)
                        .and_then(Events::parse)
                        .unwrap_or(Events::DTMF)
                };
                let both = events(offered, theirs).intersect(events(ours, ours_format));
                if both.is_empty() {
                    continue;
                }
                Some(both)
            }
            _ => None,
        };
        carries_media |= !encoding.is_some_and(Encoding::is_auxiliary);
        pairs.push(Pair {
            offered: theirs,
            ours: ours_format,
            events,
        });
    }
    carries_media.then_some(pairs)
}

/// Our stream's lines for the answer: the format attributes (`a=rtpmap`, `a=fmtp`,
/// `a=rtcp-fb`) of the formats kept, renumbered as the offer numbers them, those of the
/// formats left out dropped, and every other line as it is. telephone-event's `a=fmtp`
/// follows its `a=rtpmap` with the events both sides support.
fn answer_lines(ours: &Media, pairs: &[Pair<'_>]) -> Vec<Line> {
    let mut lines = Vec::with_capacity(ours.lines.len());
    for line in &ours.lines {
        let Some((name, format, rest)) = format_attribute(line) else {
            lines.push(line.clone());
            continue;
        };
        // `a=rtcp-fb:* ...` applies to every format (RFC 4585 §4.2).
        if name == "rtcp-fb" && format == "*" {
            lines.push(line.clone());
            continue;
        }
        let Some(pair) = pairs.iter().find(|pair| pair.ours == format) else {
            continue;
        };
        match (name, pair.events) {
            ("fmtp", Some(_)) => {}
            ("rtpmap", Some(events)) => {
                lines.push(Line::Raw(format!("a=rtpmap:{}{rest}", pair.offered)));
                lines.push(Line::Raw(format!("a=fmtp:{} {events}", pair.offered)));
            }
            _ => lines.push(Line::Raw(format!("a={name}:{}{rest}", pair.offered))),
        }
    }
    lines
}

/// A format-specific attribute line: `(name, format, the rest from the space on)` for
/// `a=rtpmap`, `a=fmtp` and `a=rtcp-fb`.
fn format_attribute(line: &Line) -> Option<(&str, &str, &str)> {
    let Line::Raw(text) = line else {
        return None;
    };
    let (name, value) = text.strip_prefix("a=")?.split_once(':')?;
    if !matches!(name, "rtpmap" | "fmtp" | "rtcp-fb") {
        return None;
    }
    let at = value.find(' ').unwrap_or(value.len());
    let (format, rest) = value.split_at(at);
    Some((name, format, rest))
}

/// Whether formats on this transport are RTP payload types (RFC 8866 §5.14): `RTP/AVP`,
/// `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`...
fn is_rtp(protocol: &str) -> bool {
    protocol.split('/').any(|part| part.eq_ignore_ascii_case("RTP"))
}

/// Whether the offer's format `theirs` and our `ours` are the same media format.
fn same_format(rtp: bool, offered: &Media, theirs: &str, ours: &Media, ours_format: &str) -> bool {
    if !rtp {
        return theirs == ours_format;
    }
    match (encoding(offered, theirs), encoding(ours, ours_format)) {
        (Some(a), Some(b)) => a.same_as(b),
        // Neither side says what it is: a static payload type means the same on both
        // (RFC 3551 §6); a dynamic one without an rtpmap means nothing (RFC 8866 §6.6).
        (None, None) => theirs == ours_format && theirs.parse::<u8>().is_ok_and(|pt| pt < 96),
        _ => false,
    }
}

/// What an RTP payload type carries: `<encoding name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, Copy)]
struct Encoding<'a> {
    name: &'a str,
    clock: u32,
    channels: u32,
}

impl Encoding<'_> {
    /// Encoding names are media subtypes, compared without regard to case (RFC 4855 §3).
    fn same_as(self, other: Encoding<'_>) -> bool {
        self.name.eq_ignore_ascii_case(other.name)
            && self.clock == other.clock
            && self.channels == other.channels
    }

    fn is_telephone_event(self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// Formats that only accompany a codec: telephone events (RFC 4733) and comfort
    /// noise (RFC 3389).
    fn is_auxiliary(self) -> bool {
        self.is_telephone_event() || self.name.eq_ignore_ascii_case("CN")
    }
}

/// The encoding of `format` in `media`: its `a=rtpmap` (RFC 8866 §6.6), else the static
/// payload type table (RFC 3551 §6).
fn encoding<'a>(media: &'a Media, format: &str) -> Option<Encoding<'a>> {
    let rtpmap = media.attributes().find_map(|attribute| match attribute {
        ("rtpmap", Some(value)) => {
            let (pt, value) = value.split_once(' ')?;
            (pt == format).then_some(value.trim())
        }
        _ => None,
    });
    match rtpmap {
        Some(value) => {
            let mut parts = value.split('/');
            let name = parts.next().filter(|name| !name.is_empty())?;
            let clock = parts.next()?.parse().ok()?;
            let channels = match parts.next() {
                Some(channels) => channels.parse().ok()?,
                None => 1,
            };
            Some(Encoding {
                name,
                clock,
                channels,
            })
        }
        None => static_encoding(format.parse().ok()?),
    }
}

/// The static RTP payload types of RFC 3551 §6 (Tables 4 and 5).
fn static_encoding(pt: u8) -> Option<Encoding<'static>> {
    let (name, clock, channels) = match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    };
    Some(Encoding {
        name,
        clock,
        channels,
    })
}

/// The `a=fmtp` parameters of `format` in `media`.
fn fmtp<'a>(media: &'a Media, format: &str) -> Option<&'a str> {
    media.attributes().find_map(|attribute| match attribute {
        ("fmtp", Some(value)) => {
            let (pt, parameters) = value.split_once(' ')?;
            (pt == format).then_some(parameters.trim())
        }
        _ => None,
    })
}

/// A set of telephone event codes, 0-255 (RFC 4733 §7.1.1's `events` list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Events([u128; 2]);

impl Events {
    /// The DTMF tones 0-15, assumed when a side lists no events (RFC 4733 §7.1.1).
    const DTMF: Events = Events([0xffff, 0]);

    /// Parses a comma-separated list of codes and `low-high` ranges, such as `0-15,66`.
    /// `None` if it is not one.
    fn parse(list: &str) -> Option<Events> {
        let mut events = Events([0, 0]);
        for element in list.split(',') {
            let (low, high) = match element.trim().split_once('-') {
                Some((low, high)) => (low.parse::<u8>().ok()?, high.parse::<u8>().ok()?),
                None => {
                    let code = element.trim().parse::<u8>().ok()?;
                    (code, code)
                }
            };
            if low > high {
                return None;
            }
            for code in low..=high {
                events.insert(code);
            }
        }
        Some(events)
    }

    fn insert(&mut self, code: u8) {
        let [low, high] = &mut self.0;
        match code {
            0..128 => *low |= 1 << code,
            _ => *high |= 1 << (code - 128),
        }
    }

    fn contains(self, code: u8) -> bool {
        let [low, high] = self.0;
        match code {
            0..128 => low & (1 << code) != 0,
            _ => high & (1 << (code - 128)) != 0,
        }
    }

    fn intersect(self, other: Events) -> Events {
        let ([a, b], [c, d]) = (self.0, other.0);
        Events([a & c, b & d])
    }

    fn is_empty(self) -> bool {
        self.0 == [0, 0]
    }
}

impl fmt::Display for Events {
    /// The list as ranges in increasing order: `0-15`, `0-11,16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        let mut write = |f: &mut fmt::Formatter<'_>, (low, high): (u8, u8)| {
            let result = match low == high {
                true => write!(f, "{separator}{low}"),
                false => write!(f, "{separator}{low}-{high}"),
            };
            separator = ",";
            result
        };
        let mut run = None;
        for code in 0..=u8::MAX {
            if self.contains(code) {
                run = Some(run.map_or((code, code), |(low, _)| (low, code)));
            } else if let Some(range) = run.take() {
                write(f, range)?;
            }
        }
        match run {
            Some(range) => write(f, range),
            None => Ok(()),
        }
    }
}
