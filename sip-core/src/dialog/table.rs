//! The dialog table: every dialog of the Endpoint by id, with the usages that share it
//! (RFC 5057). An INVITE session, a subscription and REFER's implicit subscription can live
//! in one dialog; each ends on its own, and the dialog ends when its last usage does
//! (RFC 5057 §5), not when one of them — the call, say — does.

use std::collections::HashMap;

use foldhash::quality::FixedState;

use crate::ids::{CallId, DialogId, SubscriptionId};

use super::index::DialogIndex;
use super::{Dialog, DialogKey};

/// A usage of a dialog (RFC 5057 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    /// An INVITE session: the call of this id.
    Invite(CallId),
    /// A subscription (RFC 6665), REFER's implicit ones included.
    Subscription(SubscriptionId),
}

/// Every live dialog, and the index from a message's dialog key to it.
#[derive(Debug)]
pub(crate) struct DialogTable {
    /// Lookup only: dialog key → dialog.
    index: DialogIndex,
    /// Dialogs by id (lookup only; our own counter values, so the fast hasher suffices).
    /// Boxed: a dialog is a few hundred bytes, and the map moves its values when it grows.
    entries: HashMap<DialogId, Box<Entry>, foldhash::fast::FixedState>,
}

/// One dialog and its usages.
#[derive(Debug)]
struct Entry {
    dialog: Dialog,
    /// The INVITE session in this dialog, if any (at most one: RFC 5057 §4).
    invite: Option<CallId>,
    /// Its subscriptions, oldest first (each told apart by its Event type and id).
    subscriptions: Vec<SubscriptionId>,
    /// Whether we have sent a REFER in it: the first one's NOTIFYs may omit `id` (RFC
    /// 3515 §2.4.6).
    referred: bool,
}

impl Entry {
    fn has_usages(&self) -> bool {
        self.invite.is_some() || !self.subscriptions.is_empty()
    }

    fn add(&mut self, usage: Usage) {
        match usage {
            Usage::Invite(call) => self.invite = Some(call),
            Usage::Subscription(subscription) => self.subscriptions.push(subscription),
        }
    }
}

impl DialogTable {
    /// An empty table whose index hashes with `hasher` (seeded by the Endpoint: peers
    /// cannot aim collisions at it).
    pub(crate) fn new(hasher: FixedState) -> Self {
        DialogTable {
            index: DialogIndex::new(hasher),
            entries: HashMap::default(),
        }
    }

    /// Adds `dialog` with its first usage under the fresh id `id`.
    pub(crate) fn insert(&mut self, id: DialogId, dialog: Dialog, usage: Usage) {
        self.index.insert(&dialog.key(), id);
        let mut entry = Box::new(Entry {
            dialog,
            invite: None,
            subscriptions: Vec::new(),
            referred: false,
        });
        entry.add(usage);
        self.entries.insert(id, entry);
    }

    /// Adds `usage` to dialog `id` (a subscription in a call's dialog, say). False when
    /// there is no such dialog.
    pub(crate) fn add_usage(&mut self, id: DialogId, usage: Usage) -> bool {
        match self.entries.get_mut(&id) {
            Some(entry) => {
                entry.add(usage);
                true
            }
            None => false,
        }
    }

    /// Notes that we send a REFER in dialog `id`; true when it is the first.
    pub(crate) fn note_refer(&mut self, id: DialogId) -> bool {
        self.entries
            .get_mut(&id)
            .is_some_and(|entry| !std::mem::replace(&mut entry.referred, true))
    }

    /// The subscriptions in dialog `id`, oldest first.
    pub(crate) fn subscriptions(&self, id: DialogId) -> &[SubscriptionId] {
        self.entries
            .get(&id)
            .map_or(&[][..], |entry| entry.subscriptions.as_slice())
    }

    /// The dialog `key` names, if we have it.
    pub(crate) fn find(&self, key: &DialogKey) -> Option<DialogId> {
        let id = self.index.get(key)?;
        // The index keys by a hash: confirm the dialog really has this key.
        self.entries
            .get(&id)
            .filter(|entry| entry.dialog.has_key(key))
            .map(|_| id)
    }

    /// A live dialog.
    pub(crate) fn get(&self, id: DialogId) -> Option<&Dialog> {
        self.entries.get(&id).map(|entry| &entry.dialog)
    }

    /// A live dialog, to update (target refresh, CSeq, confirmation, requests sent in it).
    pub(crate) fn get_mut(&mut self, id: DialogId) -> Option<&mut Dialog> {
        self.entries.get_mut(&id).map(|entry| &mut entry.dialog)
    }

    /// The INVITE session in dialog `id`.
    pub(crate) fn invite_session(&self, id: DialogId) -> Option<CallId> {
        self.entries.get(&id).and_then(|entry| entry.invite)
    }

    /// `usage` of dialog `id` is over. The dialog goes when it was the last usage (RFC
    /// 5057 §5); true when it did.
    pub(crate) fn end_usage(&mut self, id: DialogId, usage: Usage) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        match usage {
            Usage::Invite(call) if entry.invite == Some(call) => entry.invite = None,
            Usage::Invite(_) => {}
            Usage::Subscription(subscription) => entry.subscriptions.retain(|&s| s != subscription),
        }
        if entry.has_usages() {
            return false;
        }
        if let Some(entry) = self.entries.remove(&id) {
            self.index.remove(&entry.dialog.key(), id);
        }
        crate::shared::shrink_when_sparse(&mut self.entries);
        true
    }

    /// Live dialogs, early ones included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
