//! Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) as pure code.
//!
//! - [`digest`]: HA1, HA2 and the request digest for MD5, SHA-256 and SHA-512/256, with
//!   and without `qop`, `-sess` variants and `auth-int`.
//!
//! The header types they read and write live in [`message`](crate::message):
//! [`Challenge`], [`Credentials`], [`DigestAlgorithm`], [`Qop`]. Like the rest of the
//! core, nothing here reads a clock or draws randomness of its own: time and random
//! numbers are arguments.

pub mod digest;

pub use crate::message::{Challenge, Credentials, DigestAlgorithm, Qop};
