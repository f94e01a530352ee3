//! `sip-tokio` drives a [`sip_core::Endpoint`] with tokio: it owns the UDP socket, the TCP
//! listener and connections, and the clock, and turns them into the core's inputs. All SIP
//! logic stays in `sip-core`.
//!
//! One task owns the Endpoint (the *driver*). The [`UserAgent`] handle — cheap to clone —
//! sends it commands over a channel; each [`Call`] has its own bounded queue of
//! [`CallEvent`]s (see [`Call`] for what happens when a handle is not read).
//!
//! # What is answered for you
//!
//! The core answers every request nothing else handles, so this driver answers none on its
//! own: OPTIONS gets 200 with our Allow, Accept and Supported; a method no usage handles
//! gets 405 outside a dialog and 501 inside one; INFO and MESSAGE inside a call are
//! accepted with 200 by the core (a handle cannot answer them) and then reported as
//! [`CallEvent::Request`].
//!
//! # Host names
//!
//! A target may name a host (`sip:bob@example.com`): the core locates it by DNS (RFC
//! 3263: NAPTR, SRV, A/AAAA, then failover between the targets), and the driver answers
//! its questions with hickory-resolver, asking the nameservers of `/etc/resolv.conf` or
//! the one given to [`Builder::dns_server`]. This needs the crate's `dns` feature (on by
//! default); without it every lookup fails and only IP-address targets are reached.
//!
//! # Time
//!
//! The driver reads tokio's clock ([`tokio::time::Instant`]) and sleeps with tokio's timers,
//! never std's clock. An application's tests can therefore run whole calls under
//! `tokio::time::pause` (or `#[tokio::test(start_paused = true)]`, with tokio's
//! `test-util` feature): when every task waits, tokio moves the clock to the next timer, so
//! a 32-second Timer B takes no real time. Real sockets still work under a paused clock,
//! with one caveat from tokio: it moves the clock whenever the runtime is idle, even while
//! a datagram or a TCP connect is still on its way, so real I/O can look slow in virtual
//! time (a retransmission may go out before an answer is read). Scenarios whose outcome
//! hangs on timers — a peer that never answers, a shutdown's grace — are the robust ones.
//!
//! # Example: a call between two user agents on loopback
//!
//! ```
//! use bytes::Bytes;
//! use sip_tokio::{CallEvent, UserAgent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sip_tokio::Error> {
//! let bob = UserAgent::builder().bind("127.0.0.1:0".parse()?).start().await?;
//! let alice = UserAgent::builder().bind("127.0.0.1:0".parse()?).start().await?;
//! let mut incoming = bob.incoming().await?;
//!
//! let target = format!("sip:bob@{}", bob.local_addr());
//! let mut call = alice.call(&target, Bytes::new(), None).await?;
//! let mut answered = incoming.next().await.ok_or(sip_tokio::Error::Closed)?;
//! answered.answer(Bytes::new(), None).await?;
//!
//! while let Some(event) = call.next_event().await {
//!     if let CallEvent::Answered { .. } = event {
//!         break;
//!     }
//! }
//! call.hangup().await?;
//! while let Some(event) = answered.next_event().await {
//!     if let CallEvent::Terminated { .. } = event {
//!         break;
//!     }
//! }
//! alice.shutdown(std::time::Duration::from_secs(2)).await;
//! bob.shutdown(std::time::Duration::from_secs(2)).await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod call;
mod call_events;
pub mod demo;
mod dns;
mod driver;
pub mod listen;
mod pager;
pub mod registrar;
mod registration;
mod requests;
mod stats;
mod trace;
mod transfer;
mod transport;
mod user_agent;

pub use call::{Call, IncomingCall, IncomingCalls, OutgoingCall};
pub use pager::{IncomingMessage, IncomingMessages};
pub use registration::Registration;
pub use requests::{IncomingRequest, IncomingRequests};
pub use sip_core::pager::PagerError;
pub use sip_core::registration::{RegistrationError, RegistrationEvent};
pub use stats::AgentStats;
pub use trace::{Direction, MessageObserver, MessageTrace};
pub use transfer::{IncomingRefer, IncomingRefers, Transfer, TransferEvent};
pub use user_agent::{Builder, TransportOptions, UserAgent};

pub use sip_core::call::{CallError, CallEvent, CallState, EndReason, Side};
pub use sip_core::endpoint::EndpointLimits;
pub use sip_core::endpoint::{CallId, Transport};
pub use sip_core::message::{Replaces, StatusCode};
pub use sip_core::subscription::{SubscriptionError, SubscriptionId};
pub use sip_core::transaction::TimerConfig;

/// What can go wrong with a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call layer refused the command (wrong state, unknown call, …).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The transaction layer refused the request.
    #[error(transparent)]
    Send(#[from] sip_core::endpoint::SendError),
    /// The driver has stopped (after [`UserAgent::shutdown`], or it failed).
    #[error("the user agent has stopped")]
    Closed,
    /// The target is not a SIP or SIPS URI with a host (an IP address, or a name located by
    /// DNS, RFC 3263).
    #[error("bad target: {0}")]
    BadTarget(String),
    /// A socket could not be bound or used.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No final response came in time (Timer B or F fired).
    #[error("no response from the peer (timeout)")]
    Timeout,
    /// The transport could not deliver the request (connection refused or broken), or DNS
    /// led to no target for a host name (RFC 3263).
    #[error("the transport failed to deliver the request")]
    Transport,
    /// The call ended while something else was awaited.
    #[error("the call ended: {0:?}")]
    Ended(EndReason),
    /// A transfer command was refused (no such call or REFER, wrong state, …).
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// A registration command was refused (no such registration, a registrar that cannot
    /// be reached, …).
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// A MESSAGE could not be sent.
    #[error(transparent)]
    Pager(#[from] PagerError),
    /// The peer (a registrar, a recipient) refused the request with this status.
    #[error("refused: {} {}", .0.as_u16(), .0.canonical_reason())]
    Rejected(StatusCode),
    /// A transfer we asked for failed: the REFER was refused or the new call failed with
    /// this status, or the peer stopped reporting without a result (`None`).
    #[error("the transfer failed{}", .0.map(|s| format!(": {s}")).unwrap_or_default())]
    TransferFailed(Option<StatusCode>),
    /// An address did not parse.
    #[error("bad address: {0}")]
    BadAddress(#[from] std::net::AddrParseError),
    /// The identity given to [`Builder::identity`] is neither a URI nor a name-addr (see
    /// [`parse_identity`](sip_core::call::parse_identity)).
    #[error("bad identity: {0}")]
    BadIdentity(String),
}
