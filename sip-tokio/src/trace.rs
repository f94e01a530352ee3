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
