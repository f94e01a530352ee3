//! Instant messages outside a dialog (MESSAGE, RFC 3428): [`UserAgent::message`] sends one,
//! [`UserAgent::incoming_messages`] hands over those that come.

use bytes::Bytes;
use tokio::sync::mpsc;

/// An instant message that came (answered 200 already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    /// The From header's value.
    pub from: String,
    /// The To header's value.
    pub to: String,
    /// Its Content-Type, if it had one.
    pub content_type: Option<String>,
    /// Its body.
    pub body: Bytes,
}

/// Incoming instant messages, in arrival order (from [`UserAgent::incoming_messages`](crate::UserAgent::incoming_messages)).
/// At most the agent's incoming queue wait unread; newer ones are answered (200) and
/// dropped past it.
#[derive(Debug)]
pub struct IncomingMessages {
    receiver: mpsc::Receiver<IncomingMessage>,
}

impl IncomingMessages {
    pub(crate) fn new(receiver: mpsc::Receiver<IncomingMessage>) -> Self {
        IncomingMessages { receiver }
    }

    /// The next message; `None` when the agent stopped or another
    /// [`incoming_messages`](crate::UserAgent::incoming_messages) took over.
    pub async fn next(&mut self) -> Option<IncomingMessage> {
        self.receiver.recv().await
    }
}
