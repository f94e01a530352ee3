//! The media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1, §6.1, §8.4).

use std::fmt;

/// The direction of a media stream, from the point of view of the SDP's author
/// (RFC 8866 §6.7.1–§6.7.4): `sendonly` means "I will send and do not want to receive".
///
/// A direction is a pair of flags, *sends* and *receives*; the combinators below are
/// plain operations on those flags, which keeps the offer/answer rules in one place.
///
/// ```
/// use sip_core::sdp::Direction;
/// // The peer puts us on hold; we answer recvonly (RFC 3264 §6.1)...
/// assert_eq!(Direction::answer(Direction::SendOnly, Direction::SendRecv), Direction::RecvOnly);
/// // ...unless we are holding them too: then nothing flows (RFC 6337 §5.3).
/// assert_eq!(Direction::answer(Direction::SendOnly, Direction::SendOnly), Direction::Inactive);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: send and receive. The default when no attribute is present
    /// (RFC 8866 §6.7.1, RFC 3264 §5.1).
    #[default]
    SendRecv,
    /// `a=sendonly`: send, do not receive.
    SendOnly,
    /// `a=recvonly`: receive, do not send.
    RecvOnly,
    /// `a=inactive`: neither send nor receive (RTCP still flows, RFC 3264 §5.1).
    Inactive,
}

impl Direction {
    /// The attribute name, as written after `a=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    ///
    /// Attribute names are case-sensitive (RFC 8866 §5.13), so `SENDONLY` is not a
    /// direction but an unknown attribute.
    pub fn parse(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Builds a direction from its two flags.
    pub const fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the author of the SDP will send media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the author of the SDP wants to receive media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: what one side sends, the other receives.
    ///
    /// This is also the most permissive answer to an offer (RFC 3264 §6.1): `sendonly`
    /// is answered `recvonly`, `recvonly` is answered `sendonly`, `inactive` and
    /// `sendrecv` stay as they are.
    pub const fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both directions allow: a flag is kept only when both have it
    /// (`sendrecv ∩ sendonly = sendonly`, `sendonly ∩ recvonly = inactive`).
    pub const fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(self.sends() && other.sends(), self.receives() && other.receives())
    }

    /// The direction to offer when putting this stream on hold (RFC 3264 §8.4): hold
    /// means "stop sending to me", so the *receive* flag is dropped — `sendrecv` becomes
    /// `sendonly` and `recvonly` becomes `inactive`.
    pub const fn on_hold(self) -> Direction {
        self.intersect(Direction::SendOnly)
    }

    /// The direction to answer `offer` with when we ourselves want `local_wants`.
    ///
    /// RFC 3264 §6.1 bounds the answer by the offer reversed (we may only send if the
    /// offerer receives, and only receive if it sends); within that bound we take what
    /// we want. So a UA that is holding the call (`local_wants = SendOnly`, §8.4) answers
    /// a `sendrecv` offer `sendonly` and a `sendonly` offer (the peer holds too)
    /// `inactive`, as RFC 6337 §5.3 describes for mutual hold; a UA not holding
    /// (`SendRecv`) gets exactly [`reversed`](Direction::reversed).
    pub const fn answer(offer: Direction, local_wants: Direction) -> Direction {
        offer.reversed().intersect(local_wants)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
