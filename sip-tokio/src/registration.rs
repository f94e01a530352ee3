//! Registration handles (RFC 3261 §10): [`Registration`], from [`UserAgent::register`].
//! The refreshes, 423 retries and backoff are the core's; the handle carries commands to
//! the driver and the registration's events back.

use sip_core::registration::{RegistrationEvent, RegistrationId};
use tokio::sync::mpsc;

use crate::driver::Command;
use crate::{Error, UserAgent};

/// Events one registration may leave unread before newer ones are dropped (a slot is kept
/// for [`RegistrationEvent::Unregistered`], its last). A registration reports an event per
/// refresh or failure, so a handle that reads now and then never loses one.
pub(crate) const REGISTRATION_EVENT_QUEUE: usize = 16;

/// A registration at a registrar, kept fresh by the agent until
/// [`unregister`](Registration::unregister) — or the agent's
/// [`shutdown`](UserAgent::shutdown), which unregisters every registration first. Dropping
/// the handle does not unregister.
#[derive(Debug)]
pub struct Registration {
    id: RegistrationId,
    agent: UserAgent,
    events: mpsc::Receiver<RegistrationEvent>,
}

impl Registration {
    pub(crate) fn new(
        id: RegistrationId,
        agent: UserAgent,
        events: mpsc::Receiver<RegistrationEvent>,
    ) -> Self {
        Registration { id, agent, events }
    }

    /// The registration's id in the Endpoint.
    pub fn id(&self) -> RegistrationId {
        self.id
    }

    /// The next event (each refresh's `Registered`, a failure, the end); `None` after
    /// [`RegistrationEvent::Unregistered`] or when the agent stopped.
    pub async fn next_event(&mut self) -> Option<RegistrationEvent> {
        self.events.recv().await
    }

    /// Waits for the outcome of the REGISTER in flight: the seconds granted, or the
    /// failure ([`Error::Rejected`] with the registrar's status, [`Error::Timeout`] when it
    /// never answered). The registration goes on trying after a failure; call again to
    /// wait for the next attempt.
    pub async fn registered(&mut self) -> Result<u32, Error> {
        while let Some(event) = self.next_event().await {
            match event {
                RegistrationEvent::Registered { expires, .. } => return Ok(expires),
                RegistrationEvent::Failed { status, .. } => {
                    return Err(status.map_or(Error::Timeout, Error::Rejected));
                }
                RegistrationEvent::Unregistered => return Err(Error::Closed),
                _ => {}
            }
        }
        Err(Error::Closed)
    }

    /// Unregisters (`Expires: 0`) and waits until the registrar confirmed it or the
    /// registration gave up.
    pub async fn unregister(mut self) -> Result<(), Error> {
        let id = self.id;
        self.agent
            .request(|reply| Command::Unregister { id, reply })
            .await??;
        while let Some(event) = self.next_event().await {
            if event == RegistrationEvent::Unregistered {
                return Ok(());
            }
        }
        Ok(())
    }
}
