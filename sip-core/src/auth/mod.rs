//! Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) as pure code: the
//! computations, a client that answers challenges, and a verifier for applications that
//! challenge.
//!
//! - [`digest`]: HA1, HA2 and the request digest for MD5, SHA-256 and SHA-512/256, with
//!   and without `qop`, `-sess` variants and `auth-int`.
//! - [`client`]: [`DigestClient`] answers the challenges of a 401 or 407 with
//!   Authorization or Proxy-Authorization values, counts `nc` per nonce, pre-authorizes
//!   later requests, and says when to give up.
//! - [`server`]: [`DigestVerifier`] issues challenges with stateless, keyed nonces and
//!   checks credentials, with expiry (stale) and replay detection.
//!
//! The header types they read and write live in [`message`](crate::message):
//! [`Challenge`], [`Credentials`], [`DigestAlgorithm`], [`Qop`]. Like the rest of the
//! core, nothing here reads a clock or draws randomness of its own: time and random
//! numbers are arguments.

pub mod client;
pub mod digest;
pub mod server;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod server_tests;

pub use client::{Authorization, DigestClient, DigestError, RequestParts, replace_authorizations};
pub use server::{DigestVerifier, Verdict, VerifierConfig};

pub use crate::message::{Challenge, Credentials, DigestAlgorithm, Qop};
