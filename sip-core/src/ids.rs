//! Identifiers shared by every layer: transactions, calls, dialogs and connections of one
//! Endpoint. Each is a newtype over a counter that is never reset, so a stale id can never
//! reach a new object.

use std::fmt;
use std::num::NonZeroU64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        //
        // Never zero: an `Option` of an id costs no more than the id (calls and routes keep
        // several).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) NonZeroU64);

        impl $name {
            /// The raw number (never reused within one Endpoint, never 0).
            pub fn as_u64(self) -> u64 {
                self.0.get()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A transaction of one Endpoint. Ids come from a counter that is never reset, so a
    /// stale id can never reach a new transaction.
    TransactionId,
    "tx"
);
id_type!(
    /// A call (INVITE session) of one Endpoint — not the SIP `Call-ID` header, which is
    /// text. Never reused.
    CallId,
    "call"
);
id_type!(
    /// A connection (TCP, TLS, WebSocket) of one Endpoint.
    FlowId,
    "flow"
);

id_type!(
    /// A subscription (RFC 6665) of one Endpoint, ours or a peer's to us. Never reused.
    SubscriptionId,
    "sub"
);

id_type!(
    /// An instant message (MESSAGE, RFC 3428) we sent. Never reused.
    MessageId,
    "msg"
);

id_type!(
    /// A registration (RFC 3261 §10) of one Endpoint. Never reused.
    RegistrationId,
    "reg"
);

id_type!(
    /// A dialog in the Endpoint's dialog table (RFC 3261 §12, RFC 5057): not the SIP dialog
    /// identifier (Call-ID and tags), which is [`DialogKey`](crate::dialog::DialogKey).
    DialogId,
    "dialog"
);

id_type!(
    /// A DNS question the Endpoint asked (see
    /// [`Endpoint::poll_dns_query`](crate::Endpoint::poll_dns_query)). Never reused.
    DnsQueryId,
    "dns"
);

/// Hands out ids: one counter for every kind, so ids are unique across kinds too and their
/// order is the order of creation.
#[derive(Debug)]
pub(crate) struct IdCounter(NonZeroU64);

impl IdCounter {
    pub(crate) fn new() -> Self {
        IdCounter(NonZeroU64::MIN)
    }

    /// The next raw id: 1, 2, 3… (2⁶⁴ ids are never reached).
    pub(crate) fn next(&mut self) -> NonZeroU64 {
        let id = self.0;
        self.0 = self.0.saturating_add(1);
        id
    }
}
