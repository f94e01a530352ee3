//! Message traces: what [`Builder::on_message`](crate::Builder::on_message) observers see.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sip_core::endpoint::Transport;

/// Whether a message was sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

/// One message seen by the driver, for [`Builder::on_message`](crate::Builder::on_message).
#[derive(Debug, Clone, Copy)]
pub struct MessageTrace<'a> {
    /// Sent or received.
    pub direction: Direction,
    /// Over what.
    pub transport: Transport,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The bytes. Over TCP a received chunk is what one read returned: part of a message
    /// or several (the core frames streams itself).
    pub payload: &'a [u8],
    /// When the driver saw it, on tokio's clock (virtual time under
    /// `tokio::time::pause`).
    pub at: Instant,
}

impl MessageTrace<'_> {
    /// The first line of the payload (the start line of a whole message), lossily
    /// decoded.
    pub fn start_line(&self) -> String {
        let end = self
            .payload
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(self.payload.len());
        String::from_utf8_lossy(self.payload.get(..end).unwrap_or_default()).into_owned()
    }
}

/// The observer type kept by the driver.
pub type MessageObserver = Arc<dyn Fn(&MessageTrace<'_>) + Send + Sync>;

impl MessageTrace<'_> {
    /// The whole message as a trace block: a line with the time since `since`, the
    /// direction, transport and peer, then the message as it went on the wire (lossy UTF-8).
    ///
    /// ```
    /// # use sip_tokio::{Direction, MessageTrace};
    /// # use sip_core::endpoint::Transport;
    /// let at = std::time::Instant::now();
    /// let trace = MessageTrace {
    ///     direction: Direction::Sent,
    ///     transport: Transport::Udp,
    ///     local: "127.0.0.1:5060".parse().unwrap(),
    ///     remote: "127.0.0.1:5070".parse().unwrap(),
    ///     payload: b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\r\n",
    ///     at,
    /// };
    /// assert!(trace.block(at).starts_with("0.000 s sent UDP to 127.0.0.1:5070\nOPTIONS sip:bob"));
    /// ```
    pub fn block(&self, since: Instant) -> String {
        let (verb, preposition) = match self.direction {
            Direction::Sent => ("sent", "to"),
            Direction::Received => ("received", "from"),
        };
        format!(
            "{:.3} s {verb} {} {preposition} {}\n{}",
            self.at.saturating_duration_since(since).as_secs_f64(),
            self.transport,
            self.remote,
            String::from_utf8_lossy(self.payload).trim_end()
        )
    }
}
