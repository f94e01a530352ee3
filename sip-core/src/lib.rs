//! `sip-core` is a deterministic, sans-IO implementation of SIP (RFC 3261): it does no
//! networking, reads no clock and draws no randomness it was not given.
//!
//! You feed it bytes (and, in the layers above the message layer, the current time); it
//! hands back parsed messages, bytes to send and deadlines. The same code therefore runs
//! under tokio, mio, a game loop or a simulator, identically on every run.
//!
//! - [`message`]: a zero-copy parser, typed header views, builders and a serializer, stream
//!   framing for TCP/TLS/WebSocket, message/sipfrag bodies and UAS request validation.
//! - [`transaction`]: the four RFC 3261 §17 machines (with RFC 6026), their timers and keys.
//! - [`endpoint`]: the [`Endpoint`] that owns transactions and
//!   connections — inputs `handle_*`, commands, outputs `poll_*`.
//! - [`auth`]: digest authentication (RFC 7616, RFC 8760): computations, a client that
//!   answers 401/407 challenges and a verifier for servers that challenge.
//! - [`sdp`]: just enough SDP for offer/answer bookkeeping and hold (RFC 8866, RFC 3264).
//! - `sim` (feature `sim`): a seeded virtual-time network of endpoints and a ladder renderer.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Determinism (see `clippy.toml`): no `for` over a hash map or set, whose order is arbitrary.
#![warn(clippy::iter_over_hash_type)]
// Unit tests may unwrap and index: a panic there is a failing test with a message.
// Unit tests may also read the clock, to have an instant to start from.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::disallowed_methods
    )
)]

pub mod auth;
pub(crate) mod budget;
pub mod call;
pub mod config;
pub(crate) mod connections;
pub mod dialog;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod ids;
pub(crate) mod local;
pub(crate) mod locate;
pub mod message;
pub(crate) mod owner;
pub mod pager;
pub mod registration;
pub(crate) mod rng;
pub mod sdp;
pub(crate) mod shared;
#[cfg(feature = "sim")]
pub mod sim;
pub(crate) mod sources;
pub mod subscription;
pub(crate) mod timer_queue;
pub mod transaction;
pub mod transport;
pub(crate) mod usage;

pub use endpoint::Endpoint;

/// The README's example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
