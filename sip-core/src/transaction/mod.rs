//! The four transaction machines of RFC 3261 §17 (with the RFC 6026 Accepted states), their
//! timers and their matching keys — and the transaction layer that keeps the live ones.
//!
//! Each machine is a pure function of `(input, now)`: it takes a message, a timer that
//! fired or a transport error, and appends [`Action`]s — bytes to send, timers to arm,
//! messages and outcomes for its user — to a caller-provided vector. It never reads a clock;
//! a whole retransmission schedule runs in virtual time.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sip_core::message::{Method, RequestBuilder, Uri};
//! use sip_core::transaction::{Action, ClientNonInvite, Timer, TimerConfig};
//!
//! let request = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@example.com").unwrap())
//!     .via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKabc")
//!     .from("<sip:alice@example.com>;tag=1").to("<sip:bob@example.com>")
//!     .call_id("c1").cseq(1).build().unwrap();
//! let start = Instant::now();
//! let mut actions = Vec::new();
//! let mut tx = ClientNonInvite::start(&request, false, TimerConfig::default(), start, &mut actions);
//! assert!(matches!(actions[0], Action::Transmit(_)));
//! assert!(actions.contains(&Action::SetTimer(Timer::E, start + Duration::from_millis(500))));
//! assert!(actions.contains(&Action::SetTimer(Timer::F, start + Duration::from_secs(32))));
//!
//! // No answer: Timer E fires and the request goes out again, E doubled.
//! actions.clear();
//! tx.on_timer(Timer::E, start + Duration::from_millis(500), &mut actions);
//! assert!(matches!(actions[0], Action::Transmit(_)));
//! assert!(actions.contains(&Action::SetTimer(Timer::E, start + Duration::from_millis(1500))));
//! ```

mod client_invite;
mod client_non_invite;
mod entries;
mod events;
mod key;
mod layer;
mod received;
mod server_invite;
mod server_non_invite;
mod timers;

use std::time::Instant;

use bytes::Bytes;

use crate::message::{Request, Response};

pub(crate) use client_invite::same_transaction_request;
pub use client_invite::{ClientInvite, ClientInviteState, ack_for};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub(crate) use events::{NewRequest, TransactionEvent};
pub use key::{ClientKey, ServerKey};
pub(crate) use layer::{NewCalls, TransactionLayer};
#[cfg(feature = "sim")]
pub(crate) use received::mark_received;
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use timers::{Timer, TimerConfig};

/// What a transaction asks of its owner after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send these bytes to the peer. A retransmission is the same `Bytes` again.
    Transmit(Bytes),
    /// Arm `timer` to fire at the instant (replacing an earlier arming of the same timer).
    SetTimer(Timer, Instant),
    /// Disarm `timer`: the state it guarded is left.
    CancelTimer(Timer),
    /// A response for the transaction user (client transactions).
    Response(Response),
    /// An ACK for a 2xx, received by an INVITE server transaction in the Accepted state,
    /// for the transaction user (RFC 6026 §8.7).
    Ack(Request),
    /// The transaction timed out: Timer B or F (no final response), or Timer H (no ACK).
    Timeout(Timer),
    /// The transport reported a failure to send (RFC 3261 §8.1.3.1, §17.1.4, §17.2.4).
    TransportError,
    /// The transaction is over; its owner can forget it and its timers.
    Terminated,
}
