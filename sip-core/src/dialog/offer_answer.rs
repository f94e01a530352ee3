//! The offer/answer state of one session (RFC 3264 §4, RFC 6337 §2–3): at most one offer
//! is outstanding at a time, in either direction.

/// Where the session's offer/answer exchange stands.
///
/// ```
/// use sip_core::dialog::{OfferAnswer, OfferAnswerError};
/// let mut oa = OfferAnswer::Stable;
/// oa.send_offer().unwrap();
/// // The peer's offer crossing ours is glare (RFC 3261 §14.2: 491).
/// assert_eq!(oa.receive_offer(), Err(OfferAnswerError::OfferPending));
/// oa.receive_answer().unwrap();
/// assert_eq!(oa, OfferAnswer::Stable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OfferAnswer {
    /// No offer outstanding: either side may make one.
    #[default]
    Stable,
    /// We sent an offer and wait for its answer.
    LocalOffer,
    /// The peer sent an offer we have not answered yet.
    RemoteOffer,
}

/// A step the offer/answer rules forbid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferAnswerError {
    /// An offer is outstanding (ours or the peer's): no new offer until it is answered
    /// (RFC 3264 §4; on the UAS side this is a 491, RFC 3261 §14.2, RFC 3311 §5.2).
    #[error("an offer is already outstanding")]
    OfferPending,
    /// There is no offer to answer.
    #[error("no offer to answer")]
    NoOffer,
}

impl OfferAnswer {
    /// We send an offer.
    pub fn send_offer(&mut self) -> Result<(), OfferAnswerError> {
        match self {
            OfferAnswer::Stable => {
                *self = OfferAnswer::LocalOffer;
                Ok(())
            }
            _ => Err(OfferAnswerError::OfferPending),
        }
    }

    /// An offer arrives.
    pub fn receive_offer(&mut self) -> Result<(), OfferAnswerError> {
        match self {
            OfferAnswer::Stable => {
                *self = OfferAnswer::RemoteOffer;
                Ok(())
            }
            _ => Err(OfferAnswerError::OfferPending),
        }
    }

    /// We answer the peer's offer.
    pub fn send_answer(&mut self) -> Result<(), OfferAnswerError> {
        match self {
            OfferAnswer::RemoteOffer => {
                *self = OfferAnswer::Stable;
                Ok(())
            }
            _ => Err(OfferAnswerError::NoOffer),
        }
    }

    /// The answer to our offer arrives.
    pub fn receive_answer(&mut self) -> Result<(), OfferAnswerError> {
        match self {
            OfferAnswer::LocalOffer => {
                *self = OfferAnswer::Stable;
                Ok(())
            }
            _ => Err(OfferAnswerError::NoOffer),
        }
    }

    /// The request carrying the outstanding offer failed (a non-2xx to a re-INVITE or
    /// UPDATE): the session goes back to what was agreed before (RFC 3261 §14.1, RFC 6337
    /// §3.4).
    pub fn rollback(&mut self) {
        *self = OfferAnswer::Stable;
    }

    /// True when no offer is outstanding.
    pub fn is_stable(self) -> bool {
        self == OfferAnswer::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_follow_offers_from_the_other_side() {
        let mut oa = OfferAnswer::Stable;
        assert_eq!(oa.send_answer(), Err(OfferAnswerError::NoOffer));
        oa.receive_offer().unwrap();
        assert_eq!(oa.send_offer(), Err(OfferAnswerError::OfferPending));
        assert_eq!(oa.receive_answer(), Err(OfferAnswerError::NoOffer));
        oa.send_answer().unwrap();
        assert!(oa.is_stable());
    }

    #[test]
    fn a_failed_offer_rolls_back_to_stable() {
        let mut oa = OfferAnswer::Stable;
        oa.send_offer().unwrap();
        oa.rollback();
        assert!(oa.is_stable());
        oa.send_offer().unwrap();
    }
}
