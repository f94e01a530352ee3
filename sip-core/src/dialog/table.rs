//! The dialog table: every dialog of the Endpoint by id, with the usages that share it
//! (RFC 5057). An INVITE session, a subscription and REFER's implicit subscription can live
//! in one dialog; each ends on its own, and the dialog ends when its last usage does
//! (RFC 5057 §5), not when one of them — the call, say — does.

use std::collections::HashMap;

use foldhash::quality::FixedState;

use crate::ids::{CallId, DialogId, SubscriptionId};
use crate::message::Response;

use super::{DialogState, DialogTransition};

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
    /// Whether dialog state changes are recorded (`CallConfig::dialog_events`).
    record: bool,
    /// Changes not yet reported: the dialog, its call, from (`None`: created) and to. The
    /// Endpoint drains it after each dispatch, stamps the time and reports them.
    changes: Vec<(DialogId, Option<CallId>, Option<DialogState>, DialogState)>,
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
    /// Its state changes with their times, when recorded (boxed: 8 bytes for every
    /// dialog that records nothing, not a vector's 24).
    #[allow(clippy::box_collection)]
    history: Option<Box<Vec<DialogTransition>>>,
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
            record: false,
            changes: Vec::new(),
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
            history: None,
        });
        entry.add(usage);
        if self.record {
            self.changes.push((id, entry.invite, None, entry.dialog.state()));
        }
        self.entries.insert(id, entry);
    }

    /// Records (or not) dialog state changes from now on.
    pub(crate) fn set_recording(&mut self, on: bool) {
        self.record = on;
    }

    /// Confirms dialog `id` with `response`, a 2xx (§12.1.2).
    pub(crate) fn confirm(&mut self, id: DialogId, response: &Response) {
        self.change(id, |dialog| dialog.confirm(response));
    }

    /// Confirms dialog `id` once our 2xx is out (§12.1.1).
    pub(crate) fn mark_confirmed(&mut self, id: DialogId) {
        self.change(id, Dialog::mark_confirmed);
    }

    /// Marks dialog `id` terminated (it stays until its last usage ends).
    pub(crate) fn terminate(&mut self, id: DialogId) {
        self.change(id, Dialog::terminate);
    }

    /// Applies `f` to dialog `id` and records a change of its state.
    fn change(&mut self, id: DialogId, f: impl FnOnce(&mut Dialog)) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let before = entry.dialog.state();
        f(&mut entry.dialog);
        let after = entry.dialog.state();
        if self.record && before != after {
            self.changes.push((id, entry.invite, Some(before), after));
        }
    }

    /// The state changes not yet reported, oldest first.
    pub(crate) fn take_changes(
        &mut self,
    ) -> Vec<(DialogId, Option<CallId>, Option<DialogState>, DialogState)> {
        std::mem::take(&mut self.changes)
    }

    /// Whether changes wait to be reported.
    pub(crate) fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Adds a reported change to dialog `id`'s history (if it still lives).
    pub(crate) fn note_history(&mut self, id: DialogId, transition: DialogTransition) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.history.get_or_insert_with(Box::default).push(transition);
        }
    }

    /// Dialog `id`'s state changes so far (empty unless recorded).
    pub(crate) fn history(&self, id: DialogId) -> Option<&[DialogTransition]> {
        self.entries
            .get(&id)
            .map(|entry| entry.history.as_deref().map_or(&[][..], Vec::as_slice))
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
            // Its last usage ended it, whatever its state was (RFC 5057 §5).
            let state = entry.dialog.state();
            if self.record && state != DialogState::Terminated {
                let call = match usage {
                    Usage::Invite(call) => Some(call),
                    Usage::Subscription(_) => None,
                };
                self.changes
                    .push((id, call, Some(state), DialogState::Terminated));
            }
        }
        crate::shared::shrink_when_sparse(&mut self.entries);
        true
    }

    /// Live dialogs, early ones included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
