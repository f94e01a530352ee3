//! `sip-mio` drives a [`sip_core::Endpoint`] from a [`mio`] poll loop: no async, no threads,
//! no hidden clock. It is the proof that the sans-IO core embeds in any event loop.
//!
//! A [`Driver`] owns the Endpoint, a UDP socket and optionally a TCP listener with the
//! connections it accepts or opens. Register it with your own [`mio::Poll`]
//! ([`Driver::register`]), hand it the readiness events for its tokens
//! ([`Driver::handle`]), sleep at most [`Driver::timeout`] and call [`Driver::on_timeout`];
//! or let [`Driver::run_once`] do one such turn. Every input is followed by the core's
//! draining rule: datagrams and stream bytes are written, connections opened or closed, and
//! the core's events queued for [`Driver::next_event`]. Commands (`invite`, `answer`,
//! `bye`, …) go to [`Driver::endpoint_mut`] and are followed by [`Driver::flush`].
//!
//! The driver has no resolver: a request to a host name (RFC 3263) fails at once, unless
//! the application answers the core's DNS questions itself from its own loop
//! ([`Driver::answer_dns_yourself`], [`Driver::next_dns_query`],
//! [`Driver::handle_dns_response`]).
//!
//! # Example: a call between two drivers on loopback
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mio::{Events, Poll, Token};
//! use sip_core::call::CallEvent;
//! use sip_core::endpoint::Event;
//! use sip_core::message::Uri;
//! use sip_core::sdp::SessionDescription;
//! use sip_mio::{Driver, Listen};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let loopback = "127.0.0.1:0".parse()?;
//! let mut alice = Driver::bind(loopback, Listen::Udp)?;
//! let mut bob = Driver::bind(loopback, Listen::Udp)?;
//! let (mut alice_poll, mut bob_poll) = (Poll::new()?, Poll::new()?);
//! alice.register(alice_poll.registry(), Token(0))?;
//! bob.register(bob_poll.registry(), Token(0))?;
//! let mut events = Events::with_capacity(64);
//!
//! // Alice calls Bob with a small audio offer.
//! let ip = alice.local_addr().ip();
//! let offer = SessionDescription::simple_audio("alice", 1, ip, 40_000, &[0]);
//! let target = Uri::parse(&format!("sip:bob@{}", bob.local_addr()))?;
//! let call = alice.endpoint_mut().invite(Instant::now(), target, offer.to_bytes(), None)?;
//! alice.flush(Instant::now());
//!
//! let deadline = Instant::now() + Duration::from_secs(5);
//! let mut answered = false;
//! while !answered && Instant::now() < deadline {
//!     let slice = Some(Duration::from_millis(5));
//!     alice.run_once(&mut alice_poll, &mut events, slice)?;
//!     bob.run_once(&mut bob_poll, &mut events, slice)?;
//!     while let Some(event) = bob.next_event() {
//!         if let Event::Call { call, event: CallEvent::Incoming { request, .. } } = event {
//!             let ours = SessionDescription::simple_audio("bob", 2, ip, 40_002, &[0]);
//!             let answer = ours.answer_for(&SessionDescription::parse(&request.body)?, false)?;
//!             bob.endpoint_mut().answer(Instant::now(), call, answer.to_bytes(), None)?;
//!             bob.flush(Instant::now());
//!         }
//!     }
//!     while let Some(event) = alice.next_event() {
//!         answered |= matches!(event, Event::Call { event: CallEvent::Answered { .. }, .. });
//!     }
//! }
//! assert!(answered);
//! alice.endpoint_mut().bye(Instant::now(), call)?;
//! alice.flush(Instant::now());
//! # Ok(())
//! # }
//! ```
//!
//! [`serve`] is a whole auto-answering user agent built on the driver (the `mio_answer`
//! example runs it), and [`place_call`] a whole calling one: one call, answered, held,
//! hung up (the `mio_call` example runs it).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod place;
mod serve;

pub use driver::{Driver, DriverStats, Error, Listen};
pub use place::{CallOptions, CallOutcome, place_call};
pub use serve::{ServeOptions, ServeReport, serve};
